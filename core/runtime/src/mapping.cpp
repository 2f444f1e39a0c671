#include "doppel/runtime/mapping.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <cstring>
#include <optional>

#include "doppel/model/payload.hpp"

namespace doppel::runtime {

namespace {

// ---- units --------------------------------------------------------------------------------------

struct UnitFactor {
  std::string_view unit;
  std::string_view type;
  double scale;  // to the type's base unit: base = value * scale + offset
  double offset;
};

constexpr UnitFactor kUnits[] = {
    {"degreeCelsius", "temperature", 1, 273.15},
    {"kelvin", "temperature", 1, 0},
    {"degreeFahrenheit", "temperature", 5.0 / 9.0, 273.15 - 32 * 5.0 / 9.0},
    {"metre", "length", 1, 0},
    {"centimetre", "length", 0.01, 0},
    {"millimetre", "length", 0.001, 0},
    {"kilometre", "length", 1000, 0},
    {"micrometre", "length", 1e-6, 0},
    {"nanometre", "length", 1e-9, 0},
    {"foot", "length", 0.3048, 0},
    {"inch", "length", 0.0254, 0},
    {"mile", "length", 1609.344, 0},
    {"nauticalMile", "length", 1852, 0},
    {"kilogram", "mass", 1, 0},
    {"gram", "mass", 0.001, 0},
    {"milligram", "mass", 1e-6, 0},
    {"microgram", "mass", 1e-9, 0},
    {"tonne", "mass", 1000, 0},
    {"slug", "mass", 14.59390294, 0},
    {"massPound", "mass", 0.45359237, 0},
    {"second", "time", 1, 0},
    {"millisecond", "time", 1e-3, 0},
    {"microsecond", "time", 1e-6, 0},
    {"nanosecond", "time", 1e-9, 0},
    {"minute", "time", 60, 0},
    {"hour", "time", 3600, 0},
    {"day", "time", 86400, 0},
    {"year", "time", 31536000, 0},
    {"metrePerSecond", "velocity", 1, 0},
    {"kilometrePerHour", "velocity", 1 / 3.6, 0},
    {"kilometrePerSecond", "velocity", 1000, 0},
    {"milePerHour", "velocity", 0.44704, 0},
    {"milePerSecond", "velocity", 1609.344, 0},
    {"knot", "velocity", 1852.0 / 3600.0, 0},
    {"centimetrePerSecond", "velocity", 0.01, 0},
    {"metrePerHour", "velocity", 1 / 3600.0, 0},
    {"pascal", "pressure", 1, 0},
    {"kilopascal", "pressure", 1000, 0},
    {"hectopascal", "pressure", 100, 0},
    {"bar", "pressure", 1e5, 0},
    {"millibar", "pressure", 100, 0},
    {"poundPerSquareInch", "pressure", 6894.757293168, 0},
    {"inchesOfMercury", "pressure", 3386.389, 0},
    {"millimetresOfMercury", "pressure", 133.322387415, 0},
    {"inchesOfWater", "pressure", 249.08891, 0},
    {"watt", "power", 1, 0},
    {"milliwatt", "power", 1e-3, 0},
    {"microwatt", "power", 1e-6, 0},
    {"kilowatt", "power", 1e3, 0},
    {"megawatt", "power", 1e6, 0},
    {"gigawatt", "power", 1e9, 0},
    {"horsepower", "power", 745.699872, 0},
    {"joule", "energy", 1, 0},
    {"kilojoule", "energy", 1e3, 0},
    {"megajoule", "energy", 1e6, 0},
    {"gigajoule", "energy", 1e9, 0},
    {"wattHour", "energy", 3600, 0},
    {"kilowattHour", "energy", 3.6e6, 0},
    {"megawattHour", "energy", 3.6e9, 0},
    {"ampere", "current", 1, 0},
    {"milliampere", "current", 1e-3, 0},
    {"microampere", "current", 1e-6, 0},
    {"kiloampere", "current", 1e3, 0},
    {"volt", "voltage", 1, 0},
    {"millivolt", "voltage", 1e-3, 0},
    {"microvolt", "voltage", 1e-6, 0},
    {"kilovolt", "voltage", 1e3, 0},
    {"megavolt", "voltage", 1e6, 0},
    {"hertz", "frequency", 1, 0},
    {"kilohertz", "frequency", 1e3, 0},
    {"megahertz", "frequency", 1e6, 0},
    {"gigahertz", "frequency", 1e9, 0},
    {"metrePerSecondSquared", "acceleration", 1, 0},
    {"centimetrePerSecondSquared", "acceleration", 0.01, 0},
    {"gForce", "acceleration", 9.80665, 0},
    {"radian", "angle", 1, 0},
    {"degreeOfArc", "angle", M_PI / 180, 0},
    {"turn", "angle", 2 * M_PI, 0},
    {"radianPerSecond", "angularVelocity", 1, 0},
    {"degreePerSecond", "angularVelocity", M_PI / 180, 0},
    {"revolutionPerSecond", "angularVelocity", 2 * M_PI, 0},
    {"revolutionPerMinute", "angularVelocity", 2 * M_PI / 60, 0},
    {"percent", "unitless", 0.01, 0},
    {"unity", "unitless", 1, 0},
    {"litre", "volume", 1e-3, 0},
    {"millilitre", "volume", 1e-6, 0},
    {"cubicMetre", "volume", 1, 0},
    {"gallon", "volume", 3.785411784e-3, 0},
    {"litrePerSecond", "volumeFlow", 1e-3, 0},
    {"litrePerHour", "volumeFlow", 1e-3 / 3600, 0},
    {"cubicMetrePerHour", "volumeFlow", 1 / 3600.0, 0},
    {"cubicMetrePerSecond", "volumeFlow", 1, 0},
};

const UnitFactor* find_unit(std::string_view u) {
  for (const UnitFactor& f : kUnits)
    if (f.unit == u) return &f;
  return nullptr;
}

// ---- JSON paths: "$", "$.a.b", "$.a[2].b", "$['a b']"
// --------------------------------------------

struct PathStep {
  bool index;
  std::string key;
  std::size_t position;
};

bool compile_path(std::string_view text, std::vector<PathStep>& steps) {
  if (text.empty() || text[0] != '$') return false;
  std::size_t i = 1;
  while (i < text.size()) {
    if (text[i] == '.') {
      std::size_t start = ++i;
      while (i < text.size() && text[i] != '.' && text[i] != '[')
        ++i;
      if (i == start) return false;
      steps.push_back({false, std::string(text.substr(start, i - start)), 0});
    } else if (text[i] == '[') {
      ++i;
      if (i < text.size() && (text[i] == '\'' || text[i] == '"')) {
        char q = text[i++];
        std::size_t start = i;
        while (i < text.size() && text[i] != q)
          ++i;
        if (i + 1 >= text.size() || text[i + 1] != ']') return false;
        steps.push_back({false, std::string(text.substr(start, i - start)), 0});
        i += 2;
      } else {
        std::size_t start = i, n = 0;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])))
          n = n * 10 + (text[i++] - '0');
        if (i == start || i >= text.size() || text[i] != ']') return false;
        steps.push_back({true, {}, n});
        ++i;
      }
    } else {
      return false;
    }
  }
  return true;
}

const rapidjson::Value* follow(const rapidjson::Value& root, const std::vector<PathStep>& steps) {
  const rapidjson::Value* v = &root;
  for (const PathStep& s : steps) {
    if (s.index) {
      if (!v->IsArray() || s.position >= v->Size()) return nullptr;
      v = &(*v)[static_cast<rapidjson::SizeType>(s.position)];
    } else {
      if (!v->IsObject()) return nullptr;
      auto it = v->FindMember(rapidjson::StringRef(s.key.data(), s.key.size()));
      if (it == v->MemberEnd()) return nullptr;
      v = &it->value;
    }
  }
  return v;
}

std::string to_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return {buf.GetString(), buf.GetSize()};
}

// ---- templates: "{line}-{twin}", "{$.device}"
// -----------------------------------------------------

struct TemplatePart {
  bool variable;
  std::string text;            // literal text, or variable name
  std::vector<PathStep> path;  // for {$...} payload references
};

bool compile_template(std::string_view t, std::vector<TemplatePart>& parts) {
  std::size_t i = 0;
  while (i < t.size()) {
    std::size_t open = t.find('{', i);
    if (open == std::string_view::npos) {
      parts.push_back({false, std::string(t.substr(i)), {}});
      break;
    }
    if (open > i) parts.push_back({false, std::string(t.substr(i, open - i)), {}});
    std::size_t close = t.find('}', open);
    if (close == std::string_view::npos || close == open + 1) return false;
    TemplatePart p{true, std::string(t.substr(open + 1, close - open - 1)), {}};
    if (p.text[0] == '$' && !compile_path(p.text, p.path)) return false;
    parts.push_back(std::move(p));
    i = close + 1;
  }
  return true;
}

struct ValueRule {
  std::string slot;  // twin slot path
  bool constant = false;
  std::string constant_json;  // the constant as JSON text
  std::vector<PathStep> path;
  std::string path_text;
  double scale = 1, offset = 0;
  std::string from_unit;
};

std::string config_json(const sdk::ConfigNode& n) {
  switch (n.type()) {
    case sdk::ConfigNode::Type::kString: {
      rapidjson::StringBuffer buf;
      rapidjson::Writer<rapidjson::StringBuffer> w(buf);
      std::string_view s = n.text();
      w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
      return buf.GetString();
    }
    case sdk::ConfigNode::Type::kNull:
    case sdk::ConfigNode::Type::kMissing:
      return "null";
    case sdk::ConfigNode::Type::kBool:
      return n.as_bool() ? "true" : "false";
    case sdk::ConfigNode::Type::kList: {
      std::string out = "[";
      for (std::size_t i = 0; i < n.size(); ++i)
        out += (i ? "," : "") + config_json(n.at(i));
      return out + "]";
    }
    case sdk::ConfigNode::Type::kMap: {
      std::string out = "{";
      for (std::size_t i = 0; i < n.size(); ++i) {
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        std::string_view k = n.key_at(i);
        w.String(k.data(), static_cast<rapidjson::SizeType>(k.size()));
        out += (i ? "," : "") + std::string(buf.GetString()) + ":" + config_json(n.at(i));
      }
      return out + "}";
    }
    default:
      return std::string(n.text());
  }
}

}  // namespace

struct Route::Impl {
  std::string name;
  std::string topic_template;
  std::string filter;
  std::vector<std::string> levels;  // template levels; "{x}" binds, "+" / "#" wildcards
  std::vector<TemplatePart> twin;
  PayloadKind kind = PayloadKind::kTelemetry;
  std::vector<PathStep> timestamp;
  bool has_timestamp = false;
  std::vector<PathStep> batch;
  bool has_batch = false;
  std::vector<ValueRule> values;

  // Topic variables of the last match live here only during map(); kept small and local.
  bool bind(std::string_view topic,
            std::vector<std::pair<std::string_view, std::string_view>>& vars) const {
    std::size_t level = 0, start = 0;
    while (true) {
      std::size_t slash = topic.find('/', start);
      std::string_view part = topic.substr(
          start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
      if (level >= levels.size()) return false;
      const std::string& t = levels[level];
      if (t == "#") return true;
      if (t.size() > 2 && t.front() == '{' && t.back() == '}') {
        if (part.empty()) return false;
        vars.emplace_back(std::string_view(t).substr(1, t.size() - 2), part);
      } else if (t != "+" && t != part) {
        return false;
      }
      ++level;
      if (slash == std::string_view::npos) break;
      start = slash + 1;
    }
    return level == levels.size();
  }
};

Route::Route() : impl_(std::make_unique<Impl>()) {}
Route::~Route() = default;
Route::Route(Route&&) noexcept = default;
Route& Route::operator=(Route&&) noexcept = default;

const std::string& Route::name() const {
  return impl_->name;
}
const std::string& Route::topic_filter() const {
  return impl_->filter;
}
const std::string& Route::topic_template() const {
  return impl_->topic_template;
}
PayloadKind Route::kind() const {
  return impl_->kind;
}

bool Route::matches(std::string_view topic) const {
  std::vector<std::pair<std::string_view, std::string_view>> vars;
  return impl_->bind(topic, vars);
}

class RouteCompiler {
 public:
  static sdk::Expected<Route> compile(const sdk::ConfigNode& n, std::size_t index) {
    Route route;
    Route::Impl& r = *route.impl_;
    auto err = [&](const sdk::ConfigNode& at, std::string msg) -> sdk::Status {
      return sdk::invalid_argument(std::move(msg), at.where());
    };
    if (n.type() != sdk::ConfigNode::Type::kMap)
      return err(n, "an ingest route must be a map with at least `topic`");
    static constexpr std::string_view kKeys[] = {"name",      "topic", "twin",  "kind",
                                                 "timestamp", "batch", "values"};
    for (std::size_t i = 0; i < n.size(); ++i) {
      std::string_view k = n.key_at(i);
      if (std::find(std::begin(kKeys), std::end(kKeys), k) == std::end(kKeys))
        return err(n.at(i), "unknown ingest key '" + std::string(k) +
                                "' (use name, topic, twin, kind, timestamp, batch, values)");
    }
    const sdk::ConfigNode& topic = n.get("topic");
    if (topic.type() != sdk::ConfigNode::Type::kString || topic.text().empty())
      return err(topic.missing() ? n : topic,
                 "an ingest route needs `topic`, a topic template such as plant/{twin}/telemetry");
    r.topic_template = std::string(topic.text());
    r.name = n.get("name").missing() ? "route" + std::to_string(index)
                                     : std::string(n.get("name").text());
    std::string_view t = r.topic_template;
    std::size_t start = 0;
    bool has_twin_var = false;
    while (true) {
      std::size_t slash = t.find('/', start);
      std::string level(t.substr(
          start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
      bool var = level.size() > 2 && level.front() == '{' && level.back() == '}';
      if (level.find_first_of("{}") != std::string::npos && !var)
        return err(topic, "a {variable} must fill a whole topic level: '" + level + "'");
      if (level == "#" && slash != std::string_view::npos)
        return err(topic, "'#' may only be the last topic level");
      if (level == "{twin}") has_twin_var = true;
      r.filter += (r.filter.empty() && start == 0 ? "" : "/") + std::string(var ? "+" : level);
      r.levels.push_back(level);
      if (slash == std::string_view::npos) break;
      start = slash + 1;
    }
    const sdk::ConfigNode& twin = n.get("twin");
    std::string twin_template = twin.missing() ? "{twin}" : std::string(twin.text());
    if (twin.missing() && !has_twin_var)
      return err(topic,
                 "the topic template has no {twin} level; add one, or say which twin with `twin:`");
    if (!compile_template(twin_template, r.twin))
      return err(twin, "`twin` must be text with {variables}: '" + twin_template + "'");
    for (const TemplatePart& p : r.twin)
      if (p.variable && p.text[0] != '$' &&
          std::find(r.levels.begin(), r.levels.end(), "{" + p.text + "}") == r.levels.end())
        return err(twin, "`twin` uses {" + p.text + "}, which the topic template does not bind");
    const sdk::ConfigNode& kind = n.get("kind");
    if (!kind.missing()) {
      if (kind.text() == "telemetry")
        r.kind = PayloadKind::kTelemetry;
      else if (kind.text() == "properties")
        r.kind = PayloadKind::kProperties;
      else
        return err(kind, "`kind` must be telemetry or properties");
    }
    if (const sdk::ConfigNode& ts = n.get("timestamp"); !ts.missing()) {
      if (!compile_path(ts.text(), r.timestamp))
        return err(ts, "`timestamp` must be a JSON path such as $.ts");
      r.has_timestamp = true;
    }
    if (const sdk::ConfigNode& b = n.get("batch"); !b.missing()) {
      if (!compile_path(b.text(), r.batch))
        return err(b, "`batch` must be a JSON path to an array, such as $.readings");
      r.has_batch = true;
    }
    const sdk::ConfigNode& values = n.get("values");
    if (!values.missing()) {
      if (values.type() != sdk::ConfigNode::Type::kMap || values.size() == 0)
        return err(values, "`values` must map twin property/telemetry names to JSON paths");
      for (std::size_t i = 0; i < values.size(); ++i) {
        ValueRule rule;
        rule.slot = std::string(values.key_at(i));
        const sdk::ConfigNode& v = values.at(i);
        if (v.type() == sdk::ConfigNode::Type::kString) {
          rule.path_text = std::string(v.text());
        } else if (v.type() == sdk::ConfigNode::Type::kMap) {
          static constexpr std::string_view kRuleKeys[] = {"path", "constant", "scale", "offset",
                                                           "from_unit"};
          for (std::size_t k = 0; k < v.size(); ++k)
            if (std::find(std::begin(kRuleKeys), std::end(kRuleKeys), v.key_at(k)) ==
                std::end(kRuleKeys))
              return err(v.at(k), "unknown key '" + std::string(v.key_at(k)) +
                                      "' (use path, constant, scale, offset, from_unit)");
          if (!v.get("constant").missing()) {
            rule.constant = true;
            rule.constant_json = config_json(v.get("constant"));
          } else {
            rule.path_text = std::string(v.get("path").text());
          }
          if (const auto& s = v.get("scale"); !s.missing()) rule.scale = s.as_number();
          if (const auto& o = v.get("offset"); !o.missing()) rule.offset = o.as_number();
          if (const auto& u = v.get("from_unit"); !u.missing()) {
            rule.from_unit = std::string(u.text());
            if (!find_unit(rule.from_unit)) return err(u, "unknown unit '" + rule.from_unit + "'");
          }
        } else {
          return err(
              v, "a value rule is a JSON path or a map with path/constant/scale/offset/from_unit");
        }
        if (!rule.constant && !compile_path(rule.path_text, rule.path))
          return err(v,
                     "'" + rule.path_text + "' is not a JSON path (such as $.temp or $.bearing.t)");
        r.values.push_back(std::move(rule));
      }
    }
    return route;
  }
};

sdk::Expected<std::vector<Route>> compile_routes(const sdk::ConfigNode& list) {
  std::vector<Route> routes;
  if (list.missing()) return routes;
  if (list.type() != sdk::ConfigNode::Type::kList)
    return sdk::invalid_argument("`ingest` must be a list of routes", list.where());
  std::string errors;
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto r = RouteCompiler::compile(list.at(i), i);
    if (!r)
      errors += (errors.empty() ? "" : "\n") + r.status().to_string();
    else
      routes.push_back(std::move(*r));
  }
  if (!errors.empty()) return sdk::invalid_argument(errors);
  return routes;
}

bool convert_unit(double value, std::string_view from, std::string_view to, double& out) {
  const UnitFactor* f = find_unit(from);
  const UnitFactor* t = find_unit(to);
  if (!f || !t || f->type != t->type) return false;
  double base = value * f->scale + f->offset;
  out = (base - t->offset) / t->scale;
  return true;
}

bool parse_event_time(std::string_view v, sdk::Timestamp& out) {
  if (v.size() >= 2 && v.front() == '"') {
    std::string_view s = v.substr(1, v.size() - 2);
    if (!model::is_rfc3339_date_time(s)) return false;
    std::tm tm{};
    tm.tm_year = std::atoi(std::string(s.substr(0, 4)).c_str()) - 1900;
    tm.tm_mon = std::atoi(std::string(s.substr(5, 2)).c_str()) - 1;
    tm.tm_mday = std::atoi(std::string(s.substr(8, 2)).c_str());
    tm.tm_hour = std::atoi(std::string(s.substr(11, 2)).c_str());
    tm.tm_min = std::atoi(std::string(s.substr(14, 2)).c_str());
    tm.tm_sec = std::atoi(std::string(s.substr(17, 2)).c_str());
    std::int64_t secs = timegm(&tm);
    std::size_t i = 19;
    std::int64_t nanos = 0;
    if (i < s.size() && s[i] == '.') {
      std::int64_t scale = 100'000'000;
      for (++i; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i, scale /= 10)
        nanos += (s[i] - '0') * scale;
    }
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      int sign = s[i] == '+' ? 1 : -1;
      int hh = std::atoi(std::string(s.substr(i + 1, 2)).c_str()),
          mm = std::atoi(std::string(s.substr(i + 4, 2)).c_str());
      secs -= sign * (hh * 3600 + mm * 60);
    }
    out = secs * 1'000'000'000 + nanos;
    return true;
  }
  char* end = nullptr;
  std::string text(v);
  double d = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0' || !std::isfinite(d) || d < 0) return false;
  if (d < 1e11)
    out = static_cast<sdk::Timestamp>(d * 1e9);
  else if (d < 1e14)
    out = static_cast<sdk::Timestamp>(d * 1e6);
  else if (d < 1e17)
    out = static_cast<sdk::Timestamp>(d * 1e3);
  else
    out = static_cast<sdk::Timestamp>(d);
  return true;
}

namespace {

twin::Value json_to_value(const rapidjson::Value& v) {
  if (v.IsBool()) return twin::Value::boolean(v.GetBool());
  if (v.IsInt64()) return twin::Value::integer(v.GetInt64());
  if (v.IsNumber()) return twin::Value::number(v.GetDouble());
  if (v.IsString())
    return twin::Value::string(std::string_view(v.GetString(), v.GetStringLength()));
  if (v.IsNull()) return {};
  return twin::Value::json(to_json(v));
}

std::string classify(const sdk::Status& s) {
  const std::string& m = s.message();
  if (m.find("enum") != std::string::npos) return "bad-enum";
  if (m.find("range") != std::string::npos) return "out-of-range";
  return "wrong-type";
}

}  // namespace

bool Route::map(std::string_view topic, std::string_view payload, sdk::Timestamp received_at,
                twin::TwinGraph& graph, std::vector<MappedUpdate>& out, MappingError& error) const {
  const Impl& r = *impl_;
  std::vector<std::pair<std::string_view, std::string_view>> vars;
  if (!r.bind(topic, vars)) {
    error = {"no-route", "topic '" + std::string(topic) + "' does not match " + r.topic_template};
    return false;
  }
  rapidjson::Document doc;
  doc.Parse(payload.data(), payload.size());
  if (doc.HasParseError()) {
    error = {"not-json", "payload on '" + std::string(topic) + "' is not JSON (offset " +
                             std::to_string(doc.GetErrorOffset()) + ")"};
    return false;
  }
  std::vector<const rapidjson::Value*> messages;
  if (r.has_batch) {
    const rapidjson::Value* arr = follow(doc, r.batch);
    if (!arr || !arr->IsArray()) {
      error = {"missing-field",
               "batched payload on '" + std::string(topic) + "' has no array at the batch path"};
      return false;
    }
    for (const auto& m : arr->GetArray())
      messages.push_back(&m);
  } else {
    messages.push_back(&doc);
  }
  out.clear();
  for (std::size_t mi = 0; mi < messages.size(); ++mi) {
    const rapidjson::Value& msg = *messages[mi];
    std::string where = r.has_batch ? "batch element " + std::to_string(mi) : "payload";
    if (!msg.IsObject()) {
      error = {"wrong-type", where + " on '" + std::string(topic) + "' must be a JSON object"};
      return false;
    }
    // Twin id.
    std::string twin_id;
    for (const TemplatePart& p : r.twin) {
      if (!p.variable) {
        twin_id += p.text;
      } else if (p.text[0] == '$') {
        const rapidjson::Value* v = follow(msg, p.path);
        if (!v || !(v->IsString() || v->IsNumber())) {
          error = {"missing-field", where + ": no twin id at " + p.text};
          return false;
        }
        twin_id += v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : to_json(*v);
      } else {
        for (const auto& [name, value] : vars)
          if (name == p.text) twin_id += value;
      }
    }
    const twin::TwinLayout* layout = nullptr;
    graph.read(twin_id, [&](const twin::TwinView& t) { layout = t.layout; });
    if (!layout) {
      error = {"unknown-twin",
               "no twin '" + twin_id + "' (from topic '" + std::string(topic) + "')"};
      return false;
    }
    sdk::Timestamp time = received_at;
    if (r.has_timestamp) {
      const rapidjson::Value* ts = follow(msg, r.timestamp);
      if (!ts || !parse_event_time(to_json(*ts), time)) {
        error = {"bad-timestamp",
                 where + ": no event time at the timestamp path (RFC 3339 text or epoch number)"};
        return false;
      }
    }
    MappedUpdate update;
    update.twin = std::move(twin_id);
    auto add = [&](std::string_view slot_path, twin::Value value, const std::string& at) -> bool {
      int i = layout->find(slot_path);
      bool want_property = r.kind == PayloadKind::kProperties;
      if (i < 0 || layout->slots()[static_cast<std::size_t>(i)].is_property() != want_property) {
        error = {"unknown-field", at + ": '" + std::string(slot_path) + "' is not a " +
                                      (want_property ? "property" : "telemetry") + " of " +
                                      layout->interface().id};
        return false;
      }
      const auto& info = layout->slots()[static_cast<std::size_t>(i)];
      if (sdk::Status s = graph.check_value(*layout, *info.content->schema, value); !s) {
        error = {classify(s), at + " (" + std::string(slot_path) + "): " + s.message()};
        return false;
      }
      update.writes.push_back({info.path, std::move(value), time});
      return true;
    };
    if (r.values.empty()) {
      // Members are named like the model's contents; objects named after components nest.
      for (auto& m : msg.GetObject()) {
        std::string_view name(m.name.GetString(), m.name.GetStringLength());
        if (r.has_timestamp && r.timestamp.size() == 1 && r.timestamp[0].key == name) continue;
        int direct = layout->find(name);
        if (direct < 0 && m.value.IsObject()) {
          bool component = false;
          for (const auto& s : layout->slots())
            if (s.component && s.component->name == name) component = true;
          if (component) {
            for (auto& inner : m.value.GetObject()) {
              std::string path = std::string(name) + "/" +
                                 std::string(inner.name.GetString(), inner.name.GetStringLength());
              if (!add(path, json_to_value(inner.value),
                       where + " $." + std::string(name) + "." + inner.name.GetString()))
                return false;
            }
            continue;
          }
        }
        if (!add(name, json_to_value(m.value), where + " $." + std::string(name))) return false;
      }
    } else {
      for (const ValueRule& rule : r.values) {
        twin::Value value;
        if (rule.constant) {
          rapidjson::Document c;
          c.Parse(rule.constant_json.c_str());
          value = json_to_value(c);
        } else {
          const rapidjson::Value* v = follow(msg, rule.path);
          if (!v) continue;  // absent fields are simply not updated
          value = json_to_value(*v);
          if (value.is_number() &&
              (rule.scale != 1 || rule.offset != 0 || !rule.from_unit.empty())) {
            double d = value.as_double() * rule.scale + rule.offset;
            if (!rule.from_unit.empty()) {
              int i = layout->find(rule.slot);
              std::string_view to =
                  i < 0 ? ""
                        : std::string_view(
                              layout->slots()[static_cast<std::size_t>(i)].content->unit_symbol);
              if (!to.empty() && !convert_unit(d, rule.from_unit, to, d)) {
                error = {"unit-mismatch",
                         where + ": cannot convert " + rule.from_unit + " to " + std::string(to)};
                return false;
              }
            }
            value = twin::Value::number(d);
          }
        }
        if (!add(rule.slot, std::move(value), where + " " + rule.path_text)) return false;
      }
    }
    if (!update.writes.empty()) out.push_back(std::move(update));
  }
  return true;
}

}  // namespace doppel::runtime
