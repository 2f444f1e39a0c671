#include "device.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "doppel/model/payload.hpp"

namespace doppel::sim {

namespace json = nlohmann;
using model::ContentKind;
using model::SchemaKind;

Device::Device(std::string id, double interval_s, const model::PayloadValidator& validator)
    : id_(std::move(id)), interval_s_(interval_s), validator_(validator) {}

std::vector<std::string> Device::command_names() const {
  std::vector<std::string> names;
  for (const auto& [name, response] : commands_)
    names.push_back(name);
  return names;
}

void Device::set_command(const std::string& name, std::optional<std::string> response_json) {
  commands_[name] = std::move(response_json);
}

namespace {

json::json& slot_for(json::json& root, const Device::Value& v) {
  if (v.component == nullptr) return root[v.content->name];
  return root[v.component->name][v.content->name];
}

}  // namespace

std::string Device::telemetry_json(double t_s, std::optional<std::int64_t> ts_ms) {
  auto doc = json::json::object();
  {
    std::lock_guard lock(mu_);
    for (auto& v : telemetry_)
      slot_for(doc, v) = v.generator->next(t_s);
  }
  if (ts_ms) doc["ts"] = *ts_ms;
  return doc.dump();
}

std::optional<std::string> Device::reported_json(double t_s) {
  if (properties_.empty()) return std::nullopt;
  auto doc = json::json::object();
  std::lock_guard lock(mu_);
  for (auto& v : properties_)
    slot_for(doc, v) = v.generator->next(t_s);
  return doc.dump();
}

DesiredResult Device::apply_desired(std::string_view payload, double t_s) {
  DesiredResult r;
  auto msg = json::json::parse(payload, nullptr, false);
  if (msg.is_discarded() || !msg.is_object()) {
    r.error = "not a JSON object";
    return r;
  }
  if (!msg.contains("name") || !msg["name"].is_string()) {
    r.error = "no \"name\" string";
    return r;
  }
  if (!msg.contains("value")) {
    r.error = "no \"value\"";
    return r;
  }
  std::string path = msg["name"].get<std::string>();
  const bool has_component = msg.contains("component") && msg["component"].is_string() &&
                             !msg["component"].get<std::string>().empty();
  if (has_component) path = msg["component"].get<std::string>() + "/" + path;

  std::lock_guard lock(mu_);
  auto it = std::find_if(properties_.begin(), properties_.end(),
                         [&](const Value& v) { return v.path == path; });
  if (it == properties_.end()) {
    r.error = "no property '" + path + "'";
    return r;
  }
  if (!it->content->writable) {
    r.error = "property '" + path + "' is not writable";
    return r;
  }
  thread_local model::PayloadScratch scratch;
  const std::string value_text = msg["value"].dump();
  auto check = validator_.validate_value(value_text, *it->content->schema, scratch);
  if (!check.ok) {
    r.error = "value for '" + path + "': " + (check.error ? check.error->message : "invalid");
    return r;
  }
  it->generator = make_generator(ConstantSpec{msg["value"]}, 0);

  auto ack = json::json::object();
  ack["name"] = msg["name"];
  if (has_component) ack["component"] = msg["component"];
  if (msg.contains("version")) ack["version"] = msg["version"];
  r.ack_json = ack.dump();
  auto reported = json::json::object();
  slot_for(reported, *it) = it->generator->next(t_s);
  r.reported_json = reported.dump();
  r.ok = true;
  return r;
}

std::optional<std::string> Device::command_response(const std::string& name, bool& known) const {
  auto it = commands_.find(name);
  known = it != commands_.end();
  if (!known) return std::nullopt;
  return it->second;
}

namespace {

json::json default_value(const model::Schema& s, int depth = 0) {
  switch (s.kind) {
    case SchemaKind::kBoolean:
      return true;
    case SchemaKind::kDouble:
    case SchemaKind::kFloat:
      return 0.0;
    case SchemaKind::kInteger:
    case SchemaKind::kLong:
      return 0;
    case SchemaKind::kString:
      return "ok";
    case SchemaKind::kDate:
      return "2026-01-01";
    case SchemaKind::kDateTime:
      return "2026-01-01T00:00:00Z";
    case SchemaKind::kTime:
      return "00:00:00";
    case SchemaKind::kDuration:
      return "PT0S";
    case SchemaKind::kPoint:
      return {{"type", "Point"}, {"coordinates", {0.0, 0.0}}};
    case SchemaKind::kMultiPoint:
      return {{"type", "MultiPoint"}, {"coordinates", json::json::array({{0.0, 0.0}})}};
    case SchemaKind::kLineString:
      return {{"type", "LineString"}, {"coordinates", {{0.0, 0.0}, {1.0, 1.0}}}};
    case SchemaKind::kMultiLineString:
      return {{"type", "MultiLineString"},
              {"coordinates", json::json::array({{{0.0, 0.0}, {1.0, 1.0}}})}};
    case SchemaKind::kPolygon:
      return {
          {"type", "Polygon"},
          {"coordinates", json::json::array({{{0.0, 0.0}, {1.0, 0.0}, {1.0, 1.0}, {0.0, 0.0}}})}};
    case SchemaKind::kMultiPolygon:
      return {{"type", "MultiPolygon"},
              {"coordinates", json::json::array({json::json::array(
                                  {{{0.0, 0.0}, {1.0, 0.0}, {1.0, 1.0}, {0.0, 0.0}}})})}};
    case SchemaKind::kArray:
      return json::json::array();
    case SchemaKind::kMap:
      return json::json::object();
    case SchemaKind::kEnum:
      if (s.enum_values.empty()) return nullptr;
      if (s.enum_values.front().is_string) return s.enum_values.front().string_value;
      return s.enum_values.front().integer_value;
    case SchemaKind::kObject: {
      auto o = json::json::object();
      // DTDL limits nesting; the depth guard only protects against a malformed registry.
      if (depth < 8)
        for (const auto& f : s.fields)
          if (f.schema) o[f.name] = default_value(*f.schema, depth + 1);
      return o;
    }
  }
  return nullptr;
}

// What a value measures: its name and semantic types (Temperature, ...).
struct Quantity {
  std::string_view name;
  const std::vector<std::string>* semantic_types = nullptr;
};

bool has_semantic(const Quantity& c, std::string_view word) {
  if (c.semantic_types == nullptr) return false;
  for (const auto& t : *c.semantic_types)
    if (t.find(word) != std::string::npos) return true;
  return false;
}

bool name_has(const Quantity& c, std::string_view word) {
  std::string lower(c.name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return lower.find(word) != std::string::npos;
}

// A plausible operating range per kind of quantity: where a walk starts and how far it may go.
WalkSpec plausible_walk(const Quantity& c) {
  if (has_semantic(c, "Temperature") || name_has(c, "temp")) return {40, 0.2, 20, 60};
  if (has_semantic(c, "Acceleration") || name_has(c, "vibration")) return {0.5, 0.02, 0, 2};
  if (has_semantic(c, "Current") || name_has(c, "current")) return {10, 0.2, 0, 30};
  if (has_semantic(c, "Voltage") || name_has(c, "voltage")) return {400, 1, 380, 420};
  if (has_semantic(c, "Humidity") || name_has(c, "humidity")) return {45, 0.5, 0, 100};
  if (has_semantic(c, "Pressure") || name_has(c, "pressure")) return {101.3, 0.1, 90, 110};
  if (has_semantic(c, "Power") || name_has(c, "power")) return {7.5, 0.1, 0, 15};
  if (has_semantic(c, "Velocity") || name_has(c, "speed")) return {1500, 5, 0, 3000};
  return {50, 1, 0, 100};
}

std::string iso_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool is_numeric(model::SchemaKind k) {
  return k == SchemaKind::kDouble || k == SchemaKind::kFloat || k == SchemaKind::kInteger ||
         k == SchemaKind::kLong;
}

// Objects and arrays of numbers (a vibration spectrum, a set of readings): every number walks on
// its own, the rest keeps its default.
class CompositeGenerator final : public Generator {
 public:
  CompositeGenerator(const model::Schema& s, std::string_view name, Random& rng, std::uint64_t seed,
                     int depth)
      : is_object_(s.kind == SchemaKind::kObject) {
    constexpr std::size_t kArrayLength = 8;
    if (is_object_) {
      for (std::size_t i = 0; i < s.fields.size(); ++i) {
        const auto& f = s.fields[i];
        if (f.schema)
          parts_.push_back({f.name, make_part(*f.schema, f.name, rng, seed + i, depth)});
      }
    } else {
      for (std::size_t i = 0; i < kArrayLength; ++i)
        parts_.push_back({"", make_part(*s.element, name, rng, seed + i, depth)});
    }
  }
  nlohmann::json next(double t) override {
    auto out = is_object_ ? json::json::object() : json::json::array();
    for (auto& [name, g] : parts_) {
      if (is_object_) {
        out[name] = g->next(t);
      } else {
        out.push_back(g->next(t));
      }
    }
    return out;
  }

  static bool fits(const model::Schema& s) {
    if (s.kind == SchemaKind::kObject) return !s.fields.empty();
    return s.kind == SchemaKind::kArray && s.element && is_numeric(s.element->kind);
  }

 private:
  static std::unique_ptr<Generator> make_part(const model::Schema& s, std::string_view name,
                                              Random& rng, std::uint64_t seed, int depth) {
    if (is_numeric(s.kind)) {
      WalkSpec w = plausible_walk({name, nullptr});
      w.start = *w.min + (*w.max - *w.min) * rng.uniform(0.25, 0.75);
      const auto kind = (s.kind == SchemaKind::kInteger || s.kind == SchemaKind::kLong)
                            ? NumberKind::kInteger
                            : NumberKind::kReal;
      return make_generator(w, seed, kind);
    }
    if (depth < 4 && fits(s))
      return std::make_unique<CompositeGenerator>(s, name, rng, seed * 31, depth + 1);
    return make_generator(ConstantSpec{default_value(s)}, seed);
  }

  bool is_object_;
  std::vector<std::pair<std::string, std::unique_ptr<Generator>>> parts_;
};

}  // namespace

std::string default_json(const model::Schema& schema) {
  return default_value(schema).dump();
}

GeneratorSpec default_generator(const model::Content& c, const std::string& device_id,
                                Random& rng) {
  const model::Schema& s = *c.schema;
  const bool telemetry = c.kind == ContentKind::kTelemetry;
  switch (s.kind) {
    case SchemaKind::kDouble:
    case SchemaKind::kFloat:
    case SchemaKind::kInteger:
    case SchemaKind::kLong: {
      WalkSpec w = plausible_walk({c.name, &c.semantic_types});
      // Spread the fleet: each device starts somewhere in the middle half of the range.
      w.start = *w.min + (*w.max - *w.min) * rng.uniform(0.25, 0.75);
      if (telemetry) return w;
      return ConstantSpec{std::round(w.start * 10) / 10};
    }
    case SchemaKind::kBoolean:
      if (telemetry) return FlipSpec{0.01};
      return ConstantSpec{false};
    case SchemaKind::kEnum: {
      if (s.enum_values.empty()) return ConstantSpec{nullptr};
      const auto& e = s.enum_values[rng.below(s.enum_values.size())];
      return ConstantSpec{e.is_string ? json::json(e.string_value) : json::json(e.integer_value)};
    }
    case SchemaKind::kString:
      return ConstantSpec{device_id + "-" + c.name};
    case SchemaKind::kDateTime:
      return ConstantSpec{iso_now()};
    case SchemaKind::kDate:
      return ConstantSpec{iso_now().substr(0, 10)};
    default:
      return ConstantSpec{default_value(s)};
  }
}

namespace {

NumberKind number_kind(const model::Schema& s) {
  return (s.kind == SchemaKind::kInteger || s.kind == SchemaKind::kLong) ? NumberKind::kInteger
                                                                         : NumberKind::kReal;
}

bool is_number(const model::Schema& s) {
  return s.kind == SchemaKind::kDouble || s.kind == SchemaKind::kFloat ||
         s.kind == SchemaKind::kInteger || s.kind == SchemaKind::kLong;
}

struct Entry {
  std::string path;
  const model::Content* content;
  const model::Content* component;
};

// Telemetry, properties and commands at the top level and one level into components.
std::vector<Entry> entries_of(const model::Interface& iface) {
  std::vector<Entry> out;
  for (const auto* c : iface.contents) {
    if (c->kind == ContentKind::kComponent && c->component) {
      for (const auto* inner : c->component->contents)
        if (inner->kind != ContentKind::kComponent && inner->kind != ContentKind::kRelationship)
          out.push_back({c->name + "/" + inner->name, inner, c});
    } else if (c->kind != ContentKind::kRelationship) {
      out.push_back({c->name, c, nullptr});
    }
  }
  return out;
}

std::string names_of(const std::vector<Entry>& entries, bool commands) {
  std::string s;
  for (const auto& e : entries) {
    const bool is_command = e.content->kind == ContentKind::kCommand;
    if (is_command != commands) continue;
    if (!s.empty()) s += ", ";
    s += e.path;
  }
  return s.empty() ? "none" : s;
}

}  // namespace

std::variant<Fleet, std::vector<ConfigError>> build_fleet(const model::Interface& iface,
                                                          const SimOptions& o, std::uint64_t seed) {
  std::vector<ConfigError> errors, warnings;
  const auto entries = entries_of(iface);
  std::vector<std::string> ids;
  for (int i = 0; i < o.count; ++i)
    ids.push_back(expand_id(o.id, o.start + i));

  auto find_entry = [&](const std::string& path) -> const Entry* {
    for (const auto& e : entries)
      if (e.path == path) return &e;
    return nullptr;
  };
  auto matches_any = [&](const std::string& pattern) {
    return std::any_of(ids.begin(), ids.end(),
                       [&](const std::string& id) { return glob_match(pattern, id); });
  };

  for (const auto& rule : o.generators) {
    const Entry* e = find_entry(rule.name);
    if (e == nullptr || e->content->kind == ContentKind::kCommand) {
      errors.push_back({rule.origin, "'" + iface.id + "' has no telemetry or property '" +
                                         rule.name + "' (it has: " + names_of(entries, false) +
                                         ")"});
      continue;
    }
    const bool numeric_spec = !std::holds_alternative<ConstantSpec>(rule.spec) &&
                              !std::holds_alternative<FlipSpec>(rule.spec);
    if (numeric_spec && !is_number(*e->content->schema)) {
      errors.push_back(
          {rule.origin, "'" + rule.name + "' has schema " +
                            std::string(model::schema_kind_name(e->content->schema->kind)) +
                            ": only constant: fits (sine, walk and drift are numeric)"});
    }
    if (std::holds_alternative<FlipSpec>(rule.spec) &&
        e->content->schema->kind != SchemaKind::kBoolean) {
      errors.push_back({rule.origin, "'" + rule.name + "' is not a boolean: flip does not fit"});
    }
    if (!matches_any(rule.devices)) {
      warnings.push_back({rule.origin, "devices '" + rule.devices + "' match none of the " +
                                           std::to_string(ids.size()) + " simulated ids (" +
                                           ids.front() + " ...)"});
    }
  }

  Fleet fleet;
  fleet.validator = std::make_unique<model::PayloadValidator>(iface);
  model::PayloadScratch scratch;
  for (const auto& rule : o.responds) {
    const Entry* e = find_entry(rule.command);
    if (e == nullptr || e->content->kind != ContentKind::kCommand) {
      errors.push_back({rule.origin, "'" + iface.id + "' has no command '" + rule.command +
                                         "' (it has: " + names_of(entries, true) + ")"});
      continue;
    }
    if (rule.json && e->content->response && e->content->response->schema) {
      auto check =
          fleet.validator->validate_value(*rule.json, *e->content->response->schema, scratch);
      if (!check.ok) {
        errors.push_back(
            {rule.origin, "not valid for the response schema of '" + rule.command +
                              "': " + (check.error ? check.error->message : "invalid")});
      }
    }
    if (!matches_any(rule.devices)) {
      warnings.push_back({rule.origin, "devices '" + rule.devices + "' match none of the " +
                                           std::to_string(ids.size()) + " simulated ids"});
    }
  }
  if (!errors.empty()) return errors;

  const IntervalRange range = scope_interval(o.scope);
  for (const auto& id : ids) {
    Random rng(derive_seed(seed, id, "@interval"));
    const double interval = o.interval_s ? *o.interval_s : rng.uniform(range.min_s, range.max_s);
    auto dev = std::make_unique<Device>(id, interval, *fleet.validator);
    for (const auto& e : entries) {
      if (e.content->kind == ContentKind::kCommand) {
        std::optional<std::string> response = e.content->response && e.content->response->schema
                                                  ? default_json(*e.content->response->schema)
                                                  : std::string("null");
        for (const auto& rule : o.responds)  // the last matching rule wins
          if (rule.command == e.path && glob_match(rule.devices, id)) response = rule.json;
        dev->set_command(e.path, response);
        continue;
      }
      Device::Value v;
      v.path = e.path;
      v.content = e.content;
      v.component = e.component;
      v.numbers = number_kind(*e.content->schema);
      const GenRule* chosen = nullptr;
      for (const auto& rule : o.generators)
        if (rule.name == e.path && glob_match(rule.devices, id)) chosen = &rule;
      const std::uint64_t value_seed = derive_seed(seed, id, e.path);
      Random value_rng(value_seed ^ 0x5eed);
      v.from_rule = chosen != nullptr;
      if (chosen == nullptr && e.content->kind == ContentKind::kTelemetry &&
          CompositeGenerator::fits(*e.content->schema)) {
        v.generator = std::make_unique<CompositeGenerator>(*e.content->schema, e.content->name,
                                                           value_rng, value_seed, 0);
      } else {
        const GeneratorSpec spec =
            chosen ? chosen->spec : default_generator(*e.content, id, value_rng);
        v.generator = make_generator(spec, value_seed, v.numbers);
      }
      if (e.content->kind == ContentKind::kTelemetry) {
        dev->add_telemetry(std::move(v));
      } else {
        dev->add_property(std::move(v));
      }
    }
    fleet.devices.push_back(std::move(dev));
  }
  fleet.warnings = std::move(warnings);
  return fleet;
}

}  // namespace doppel::sim
