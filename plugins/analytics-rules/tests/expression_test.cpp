// The rule language on its own: parsing, checks against a model (names, types, units, located
// errors), and evaluation, including windows and related twins through fake sources.
#include "expression.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "units.hpp"

namespace doppel::plugins::rules {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

class FakeSchema final : public Schema {
 public:
  std::vector<sdk::ModelSlot> slots;
  std::map<std::string, const FakeSchema*, std::less<>> relationships;
  const sdk::ModelSlot* slot(std::string_view path) const override {
    for (const auto& s : slots)
      if (s.path == path) return &s;
    return nullptr;
  }
  const Schema* related(std::string_view name) const override {
    auto it = relationships.find(name);
    return it == relationships.end() ? nullptr : it->second;
  }
  std::string slot_names() const override {
    std::string out;
    for (const auto& s : slots)
      out += (out.empty() ? "" : ", ") + std::string(s.path);
    return out;
  }
  std::string relationship_names() const override { return "contains"; }
};

FakeSchema motor() {
  FakeSchema m;
  m.slots = {{"temperature", false, false, sdk::ValueType::kNumber, "degreeCelsius"},
             {"vibration", false, false, sdk::ValueType::kNumber, "gForce"},
             {"current", false, false, sdk::ValueType::kNumber, "ampere"},
             {"targetSpeed", true, true, sdk::ValueType::kNumber, ""},
             {"state", true, false, sdk::ValueType::kEnum, ""},
             {"running", true, false, sdk::ValueType::kBoolean, ""},
             {"spectrum", false, false, sdk::ValueType::kComplex, ""}};
  return m;
}

struct Fixture {
  FakeSchema schema = motor();
  FakeSchema line;
  SlotTable slots;
  std::vector<double> numbers;
  std::vector<std::string> texts;
  Fixture() {
    line.slots = {{"throughput", false, false, sdk::ValueType::kNumber, ""}};
    line.relationships["contains"] = &schema;
  }

  Program compile_ok(std::string_view text, const Schema* on = nullptr) {
    Program p;
    CompileError e;
    EXPECT_TRUE(compile(text, on ? *on : schema, slots, p, e)) << text << ": " << e.message;
    return p;
  }
  CompileError compile_error(std::string_view text) {
    Program p;
    CompileError e;
    EXPECT_FALSE(compile(text, schema, slots, p, e)) << text;
    return e;
  }
  void set(std::string_view name, double v) {
    int i = slots.intern(name);
    numbers.resize(slots.size(), kNaN);
    texts.resize(slots.size());
    numbers[static_cast<std::size_t>(i)] = v;
  }
  void set_text(std::string_view name, std::string v) {
    int i = slots.intern(name);
    numbers.resize(slots.size(), kNaN);
    texts.resize(slots.size());
    texts[static_cast<std::size_t>(i)] = std::move(v);
  }
  double eval(const Program& p, const EvalSources* sources = nullptr, Timestamp now = 0,
              Timestamp last = 0) {
    numbers.resize(slots.size(), kNaN);
    texts.resize(slots.size());
    EvalInput in;
    in.numbers = numbers.data();
    in.texts = texts.data();
    in.now = now;
    in.last_data = last;
    in.sources = sources;
    return evaluate(p, in);
  }
  bool check(std::string_view text) { return holds(eval(compile_ok(text))); }
};

TEST(RulesLanguage, ComparisonsArithmeticAndLogic) {
  Fixture f;
  f.set("temperature", 85);
  f.set("current", 10);
  f.set("vibration", 0.5);
  EXPECT_TRUE(f.check("temperature > 80"));
  EXPECT_FALSE(f.check("temperature < 80"));
  EXPECT_TRUE(f.check("temperature >= 85 and temperature <= 85"));
  EXPECT_TRUE(f.check("temperature == 85 && !(temperature != 85)"));
  EXPECT_TRUE(f.check("temperature - 5 * 2 == 75"));
  EXPECT_TRUE(f.check("(temperature - 5) * 2 == 160"));
  EXPECT_TRUE(f.check("temperature / current > 8 or vibration > 1"));
  EXPECT_TRUE(f.check("not (temperature < 0) and -temperature < 0"));
  EXPECT_TRUE(f.check("abs(20 - temperature) == 65"));
  EXPECT_TRUE(f.check("min(temperature, current, 50) == 10 and max(temperature, 100) == 100"));
  EXPECT_TRUE(f.check("true and not false"));
  EXPECT_FALSE(f.check("temperature / 0 > 1")) << "division by zero is unknown";
}

TEST(RulesLanguage, UnknownValuesMakeComparisonsFalse) {
  Fixture f;
  Program p = f.compile_ok("targetSpeed > 100");
  EXPECT_FALSE(holds(f.eval(p)));
  EXPECT_TRUE(f.check("not (targetSpeed > 100)"));
}

TEST(RulesLanguage, StringsEnumsAndBooleans) {
  Fixture f;
  f.set_text("state", "fault");
  f.set("running", 1);
  EXPECT_TRUE(f.check("state == 'fault'"));
  EXPECT_TRUE(f.check("\"fault\" == state"));
  EXPECT_FALSE(f.check("state != 'fault'"));
  EXPECT_TRUE(f.check("running == true and running"));
  f.set_text("state", "");
  EXPECT_FALSE(f.check("state == 'fault'")) << "unknown equals nothing";
  EXPECT_FALSE(f.check("state != 'fault'")) << "and differs from nothing";
}

TEST(RulesLanguage, UnitConstantsConvertToTheModelUnit) {
  Fixture f;
  f.set("temperature", 81);
  EXPECT_TRUE(f.check("temperature > 80 degC"));
  EXPECT_TRUE(f.check("temperature > 176 degF")) << "176 degF = 80 degC";
  EXPECT_FALSE(f.check("temperature > 178 degF")) << "178 degF = 81.1 degC";
  EXPECT_TRUE(f.check("temperature > 354 K"));
  EXPECT_TRUE(f.check("temperature > 80degreeCelsius"));
  EXPECT_TRUE(f.check("176 degF < temperature"));
  f.set("current", 0.5);
  EXPECT_TRUE(f.check("current < 600 mA"));
  Program p = f.compile_ok("temperature > 176 degF");
  ASSERT_EQ(p.code.size(), 3u);
  EXPECT_NEAR(p.code[1].k, 80.0, 1e-9);
  // A difference converts without the offset.
  Program d = f.compile_ok("rate(temperature, 10m) > 1.8 degF");
  EXPECT_NEAR(d.code[1].k, 1.0, 1e-9);
}

TEST(RulesLanguage, ErrorsNameTheColumnAndHelp) {
  Fixture f;
  CompileError e = f.compile_error("temprature > 80");
  EXPECT_EQ(e.column, 1u);
  EXPECT_NE(e.message.find("'temprature' is not a property or telemetry"), std::string::npos);
  EXPECT_NE(e.hint.find("temperature"), std::string::npos);
  e = f.compile_error("temperature > 80 kW");
  EXPECT_NE(e.message.find("cannot convert kilowatt to degreeCelsius"), std::string::npos)
      << e.message;
  e = f.compile_error("targetSpeed > 80 degC");
  EXPECT_NE(e.message.find("has no unit in the model"), std::string::npos) << e.message;
  e = f.compile_error("temperature > 80 furlongs");
  EXPECT_NE(e.message.find("unknown unit 'furlongs'"), std::string::npos) << e.message;
  EXPECT_EQ(e.column, 18u);
  e = f.compile_error("temperature + 1");
  EXPECT_NE(e.message.find("must be true or false"), std::string::npos);
  e = f.compile_error("state > 3");
  EXPECT_NE(e.message.find("comparison needs numbers"), std::string::npos) << e.message;
  e = f.compile_error("state == 3");
  EXPECT_NE(e.message.find("cannot compare a string"), std::string::npos) << e.message;
  e = f.compile_error("spectrum > 3");
  EXPECT_NE(e.message.find("object, array or map"), std::string::npos) << e.message;
  e = f.compile_error("temperature > 80 and");
  EXPECT_NE(e.message.find("ends too early"), std::string::npos) << e.message;
  e = f.compile_error("(temperature > 80");
  EXPECT_NE(e.message.find("expected ')'"), std::string::npos) << e.message;
  e = f.compile_error("1 < temperature < 3");
  EXPECT_NE(e.message.find("do not chain"), std::string::npos) << e.message;
  e = f.compile_error("any(feeds, temperature > 80)");
  EXPECT_NE(e.message.find("'feeds' is not a relationship"), std::string::npos) << e.message;
  e = f.compile_error("median(temperature, 5m) > 1");
  EXPECT_NE(e.message.find("unknown function 'median'"), std::string::npos) << e.message;
  e = f.compile_error("temperature > 'hot'");
  EXPECT_NE(e.message.find("comparison needs numbers"), std::string::npos) << e.message;
  e = f.compile_error("stale for 10");
  EXPECT_NE(e.message.find("expected a duration"), std::string::npos) << e.message;
}

class FakeSources final : public EvalSources {
 public:
  std::vector<std::pair<Timestamp, double>> samples;
  std::vector<std::map<std::string, double>> children;
  SlotTable* slots = nullptr;
  double window(const WindowRef& w, Timestamp now) const noexcept override {
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    int n = 0;
    double first = 0, last = 0;
    Timestamp t0 = 0, t1 = 0;
    for (auto [t, v] : samples) {
      if (t <= now - w.span || t > now) continue;
      if (n == 0) first = v, t0 = t;
      last = v, t1 = t;
      ++n, sum += v, lo = std::min(lo, v), hi = std::max(hi, v);
    }
    switch (w.fn) {
      case WindowFn::kAvg:
        return n ? sum / n : kNaN;
      case WindowFn::kMin:
        return lo;
      case WindowFn::kMax:
        return hi;
      case WindowFn::kCount:
        return n;
      case WindowFn::kRate:
        return n > 1 ? (last - first) / (static_cast<double>(t1 - t0) / 1e9) : kNaN;
    }
    return kNaN;
  }
  double related(const RelatedRef& r, const Program& sub) const noexcept override {
    int match = 0;
    for (const auto& child : children) {
      std::vector<double> nums(slots->size(), kNaN);
      std::vector<std::string> texts(slots->size());
      for (auto& [k, v] : child)
        nums[static_cast<std::size_t>(slots->find(k))] = v;
      EvalInput in;
      in.numbers = nums.data();
      in.texts = texts.data();
      if (holds(evaluate(sub, in))) ++match;
    }
    if (r.fn == RelatedFn::kAny) return match > 0;
    if (r.fn == RelatedFn::kAll) return !children.empty() && match == int(children.size());
    return match;
  }
};

TEST(RulesLanguage, WindowFunctionsAskTheirSource) {
  Fixture f;
  FakeSources s;
  const Timestamp m = sdk::kMinute;
  s.samples = {{1 * m, 70}, {2 * m, 80}, {3 * m, 90}, {4 * m, 100}};
  Program avg = f.compile_ok("avg(temperature, 10m) > 84");
  ASSERT_EQ(avg.windows.size(), 1u);
  EXPECT_EQ(avg.windows[0].span, 10 * m);
  EXPECT_TRUE(holds(f.eval(avg, &s, 4 * m)));   // 85
  EXPECT_FALSE(holds(f.eval(avg, &s, 3 * m)));  // 80
  EXPECT_TRUE(holds(f.eval(f.compile_ok("min(temperature, 2m) == 90"), &s, 4 * m)));
  EXPECT_TRUE(holds(f.eval(f.compile_ok("max(temperature, 5m) == 100"), &s, 4 * m)));
  EXPECT_TRUE(holds(f.eval(f.compile_ok("count(temperature, 90s) == 2"), &s, 4 * m)));
  // 30 degC over 3 minutes: 1/6 degC per second.
  EXPECT_TRUE(holds(f.eval(f.compile_ok("abs(rate(temperature, 1h) - 1/6) < 0.0001"), &s, 4 * m)));
  EXPECT_TRUE(holds(f.eval(f.compile_ok("avg(temperature, 1h30m) > 176 degF"), &s, 4 * m)));
}

TEST(RulesLanguage, StalenessCountsFromTheLastData) {
  Fixture f;
  Program p = f.compile_ok("stale for 10m");
  EXPECT_TRUE(p.uses_stale);
  EXPECT_FALSE(holds(f.eval(p, nullptr, 10 * sdk::kMinute - 1, 0)));
  EXPECT_TRUE(holds(f.eval(p, nullptr, 10 * sdk::kMinute, 0)));
}

TEST(RulesLanguage, RelatedTwinsAnyAllCount) {
  Fixture f;
  FakeSources s;
  s.slots = &f.slots;
  Program any = f.compile_ok("any(contains, temperature > 80)", &f.line);
  Program all = f.compile_ok("all(contains, temperature > 80 degC)", &f.line);
  Program count = f.compile_ok("count(contains, temperature > 176 degF) >= 2", &f.line);
  s.children = {{{"temperature", 70}}, {{"temperature", 85}}};
  EXPECT_TRUE(holds(f.eval(any, &s)));
  EXPECT_FALSE(holds(f.eval(all, &s)));
  EXPECT_FALSE(holds(f.eval(count, &s)));
  s.children.push_back({{"temperature", 90}});
  EXPECT_TRUE(holds(f.eval(count, &s)));
  s.children = {{{"temperature", 81}}};
  EXPECT_TRUE(holds(f.eval(all, &s)));
  Program p;
  CompileError e;
  EXPECT_FALSE(compile("any(contains, throughput > 1)", f.line, f.slots, p, e));
  EXPECT_NE(e.message.find("'throughput' is not a property"), std::string::npos) << e.message;
  EXPECT_EQ(e.column, 15u);
}

TEST(RulesLanguage, Durations) {
  Duration d;
  ASSERT_TRUE(parse_duration("5m", d));
  EXPECT_EQ(d, 5 * sdk::kMinute);
  ASSERT_TRUE(parse_duration("1h30m", d));
  EXPECT_EQ(d, 90 * sdk::kMinute);
  ASSERT_TRUE(parse_duration("500ms", d));
  EXPECT_EQ(d, 500 * sdk::kMillisecond);
  ASSERT_TRUE(parse_duration("1.5s", d));
  EXPECT_EQ(d, 1500 * sdk::kMillisecond);
  EXPECT_FALSE(parse_duration("5", d));
  EXPECT_FALSE(parse_duration("5 m", d));
  EXPECT_FALSE(parse_duration("5y", d));
}

TEST(RulesLanguage, Units) {
  const Unit* c = find_unit("degC");
  const Unit* fa = find_unit("°F");
  ASSERT_TRUE(c && fa);
  EXPECT_NEAR(*convert(100, *c, *fa, false), 212, 1e-9);
  EXPECT_NEAR(*convert(10, *c, *fa, true), 18, 1e-9);
  EXPECT_NEAR(*convert(7.5, *find_unit("kW"), *find_unit("watt"), false), 7500, 1e-9);
  EXPECT_FALSE(convert(1, *c, *find_unit("kW"), false));
  EXPECT_NEAR(*convert(50, *find_unit("%"), *find_unit("percent"), false), 50, 1e-9);
  EXPECT_EQ(find_unit("parsec"), nullptr);
}

}  // namespace
}  // namespace doppel::plugins::rules
