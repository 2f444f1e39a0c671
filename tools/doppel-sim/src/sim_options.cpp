#include "sim_options.hpp"

#include <fnmatch.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

namespace doppel::sim {

IntervalRange scope_interval(Scope scope) {
  switch (scope) {
    case Scope::kComponent:
      return {1, 10};
    case Scope::kAsset:
      return {60, 300};
    case Scope::kProcess:
      return {0.1, 1};
  }
  return {1, 10};
}

std::optional<Scope> parse_scope(std::string_view text) {
  if (text == "component") return Scope::kComponent;
  if (text == "asset") return Scope::kAsset;
  if (text == "process") return Scope::kProcess;
  return std::nullopt;
}

std::optional<SimOptions::Timestamps> SimOptions::parse_timestamps(std::string_view text) {
  if (text == "sim") return Timestamps::kSim;
  if (text == "wall") return Timestamps::kWall;
  if (text == "none") return Timestamps::kNone;
  return std::nullopt;
}

std::size_t SimOptions::effective_window() const {
  if (window > 0) return window;
  // QoS 1/2: mosquitto's default max_inflight_messages is 20, and with MQTT 5 more in flight
  // stalled the connection in our runs (Paho 1.3.12: acks seconds late) while 20 already
  // reaches the broker's QoS 1 ceiling on loopback. QoS 0: more than 100 only adds latency.
  return qos > 0 ? 20 : 100;
}

std::string SimOptions::effective_command_topic() const {
  if (!command_topic.empty()) return command_topic;
  // MQTT 3.1.1 has no correlation data: the id travels as a topic level.
  return protocol == 5 ? "devices/{twin}/commands/{name}"
                       : "devices/{twin}/commands/{name}/{correlation}";
}

namespace {

// Splits "[devices:]rest" where devices is a glob; the name part never contains ':'.
void split_devices(const std::string& left, std::string& devices, std::string& name) {
  const auto colon = left.rfind(':');
  if (colon == std::string::npos) {
    devices.clear();
    name = left;
  } else {
    devices = left.substr(0, colon);
    name = left.substr(colon + 1);
  }
}

std::string quoted(const std::string& option, const std::string& text) {
  return option + " '" + text + "'";
}

}  // namespace

std::variant<GenRule, ConfigError> parse_gen_option(const std::string& text) {
  const std::string where = quoted("--gen", text);
  const auto eq = text.find('=');
  if (eq == std::string::npos)
    return ConfigError{where, "expected [devices:]name=spec, e.g. temperature=sine:60,5,10m"};
  GenRule rule;
  split_devices(text.substr(0, eq), rule.devices, rule.name);
  if (rule.name.empty()) return ConfigError{where, "the value name is empty"};
  auto spec = parse_generator_spec(text.substr(eq + 1));
  if (auto* err = std::get_if<std::string>(&spec)) return ConfigError{where, *err};
  rule.spec = std::get<GeneratorSpec>(std::move(spec));
  rule.origin = where;
  return rule;
}

std::variant<RespondRule, ConfigError> parse_respond_option(const std::string& text,
                                                            bool no_respond) {
  RespondRule rule;
  if (no_respond) {
    rule.origin = quoted("--no-respond", text);
    split_devices(text, rule.devices, rule.command);
  } else {
    rule.origin = quoted("--respond", text);
    const auto eq = text.find('=');
    if (eq == std::string::npos)
      return ConfigError{rule.origin, "expected [devices:]command=<json>"};
    split_devices(text.substr(0, eq), rule.devices, rule.command);
    const std::string body = text.substr(eq + 1);
    auto parsed = nlohmann::json::parse(body, nullptr, false);
    if (parsed.is_discarded()) return ConfigError{rule.origin, "the response is not valid JSON"};
    rule.json = parsed.dump();
  }
  if (rule.command.empty()) return ConfigError{rule.origin, "the command name is empty"};
  return rule;
}

namespace {

std::string where_of(const std::string& file, const YAML::Node& node) {
  const auto m = node.Mark();
  if (m.is_null()) return file;
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

nlohmann::json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      auto o = nlohmann::json::object();
      for (const auto& kv : n)
        o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      auto a = nlohmann::json::array();
      for (const auto& e : n)
        a.push_back(yaml_to_json(e));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const auto& s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted: a string
      if (s == "true") return true;
      if (s == "false") return false;
      if (s == "null" || s == "~") return nullptr;
      auto num = nlohmann::json::parse(s, nullptr, false);
      if (!num.is_discarded() && num.is_number()) return num;
      return s;
    }
    default:
      return nullptr;
  }
}

class YamlReader {
 public:
  YamlReader(std::string file, std::vector<ConfigError>& errors)
      : file_(std::move(file)), errors_(errors) {}

  void error(const YAML::Node& n, std::string message) {
    errors_.push_back({where_of(file_, n), std::move(message)});
  }

  template <typename T>
  bool get(const YAML::Node& n, const std::string& key, T& out) {
    try {
      out = n.as<T>();
      return true;
    } catch (const YAML::Exception&) {
      error(n, "'" + key + "' has the wrong type");
      return false;
    }
  }

  bool get_duration(const YAML::Node& n, const std::string& key, double& out) {
    std::string text;
    if (!get(n, key, text)) return false;
    auto d = parse_duration_s(text);
    if (!d) {
      error(n, "'" + key + "': '" + text + "' is not a duration (e.g. 500ms, 5s, 2m, 1h)");
      return false;
    }
    out = *d;
    return true;
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<ConfigError>& errors_;
};

std::string normalize_key(std::string k) {
  for (auto& c : k)
    if (c == '_') c = '-';
  return k;
}

}  // namespace

std::vector<ConfigError> load_yaml_config(const std::string& path, SimOptions& o) {
  std::vector<ConfigError> errors;
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    errors.push_back({path, "cannot read the file"});
    return errors;
  } catch (const YAML::ParserException& e) {
    errors.push_back(
        {path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1),
         e.msg});
    return errors;
  }
  if (root.IsNull()) return errors;
  YamlReader r(path, errors);
  if (!root.IsMap()) {
    r.error(root, "expected a mapping of option names to values");
    return errors;
  }
  const auto base = std::filesystem::path(path).parent_path();
  for (const auto& kv : root) {
    const std::string key = normalize_key(kv.first.as<std::string>());
    const YAML::Node& v = kv.second;
    std::string s;
    double d = 0;
    if (key == "broker") {
      r.get(v, key, o.broker);
    } else if (key == "models") {
      std::vector<std::string> list;
      if (v.IsScalar()) {
        list.push_back(v.as<std::string>());
      } else if (!r.get(v, key, list)) {
        continue;
      }
      for (auto& m : list) {
        auto p = std::filesystem::path(m);
        o.models.push_back(p.is_absolute() ? m : (base / p).lexically_normal().string());
      }
    } else if (key == "model") {
      r.get(v, key, o.model);
    } else if (key == "count") {
      if (r.get(v, key, o.count) && o.count < 1) r.error(v, "'count' must be at least 1");
    } else if (key == "id") {
      r.get(v, key, o.id);
    } else if (key == "start") {
      r.get(v, key, o.start);
    } else if (key == "scope") {
      if (r.get(v, key, s)) {
        if (auto sc = parse_scope(s)) {
          o.scope = *sc;
        } else {
          r.error(v, "'scope' must be component, asset or process");
        }
      }
    } else if (key == "interval") {
      if (r.get_duration(v, key, d)) o.interval_s = d;
    } else if (key == "time-scale") {
      r.get(v, key, o.time_scale);
    } else if (key == "seed") {
      std::uint64_t seed = 0;
      if (r.get(v, key, seed)) o.seed = seed;
    } else if (key == "timestamps") {
      if (r.get(v, key, s)) {
        if (auto t = SimOptions::parse_timestamps(s)) {
          o.timestamps = *t;
        } else {
          r.error(v, "'timestamps' must be sim, wall or none");
        }
      }
    } else if (key == "protocol") {
      r.get(v, key, o.protocol);
    } else if (key == "qos") {
      r.get(v, key, o.qos);
    } else if (key == "client-id") {
      r.get(v, key, o.client_id);
    } else if (key == "telemetry-topic") {
      r.get(v, key, o.telemetry_topic);
    } else if (key == "reported-topic") {
      r.get(v, key, o.reported_topic);
    } else if (key == "desired-topic") {
      r.get(v, key, o.desired_topic);
    } else if (key == "ack-topic") {
      r.get(v, key, o.ack_topic);
    } else if (key == "command-topic") {
      r.get(v, key, o.command_topic);
    } else if (key == "response-topic") {
      r.get(v, key, o.response_topic);
    } else if (key == "report-interval") {
      r.get_duration(v, key, o.report_interval_s);
    } else if (key == "rate") {
      if (r.get(v, key, d)) o.rate = d;
    } else if (key == "duration") {
      if (r.get_duration(v, key, d)) o.duration_s = d;
    } else if (key == "messages") {
      std::uint64_t m = 0;
      if (r.get(v, key, m)) o.messages = m;
    } else if (key == "window") {
      r.get(v, key, o.window);
    } else if (key == "buffer") {
      r.get(v, key, o.buffer);
    } else if (key == "connect-retries") {
      r.get(v, key, o.connect_retries);
    } else if (key == "coap") {
      r.get(v, key, o.coap);
    } else if (key == "coap-listen") {
      r.get(v, key, o.coap_listen);
    } else if (key == "coap-type") {
      if (r.get(v, key, s)) {
        if (s == "con" || s == "non") {
          o.coap_con = s == "con";
        } else {
          r.error(v, "'coap-type' must be con or non");
        }
      }
    } else if (key == "coap-format") {
      if (r.get(v, key, s)) {
        if (s == "json" || s == "cbor") {
          o.coap_cbor = s == "cbor";
        } else {
          r.error(v, "'coap-format' must be json or cbor");
        }
      }
    } else if (key == "coap-telemetry-path") {
      r.get(v, key, o.coap_telemetry_path);
    } else if (key == "coap-properties-path") {
      r.get(v, key, o.coap_properties_path);
    } else if (key == "coap-desired-path") {
      r.get(v, key, o.coap_desired_path);
    } else if (key == "coap-command-path") {
      r.get(v, key, o.coap_command_path);
    } else if (key == "coap-silent-after") {
      if (r.get(v, key, s) && !parse_silent_after(s, o))
        r.error(v, "'coap-silent-after': '" + s +
                       "' is not [devices:]duration (e.g. 10s, motor-[1-3]:500ms)");
    } else if (key == "generators") {
      if (!v.IsSequence()) {
        r.error(v, "'generators' must be a list of {devices: PATTERN, values: {name: spec}}");
        continue;
      }
      for (const auto& entry : v) {
        if (!entry.IsMap()) {
          r.error(entry, "a generators entry must be a mapping with 'values' (and 'devices')");
          continue;
        }
        std::string devices;
        bool has_values = false;
        for (const auto& f : entry) {
          const auto fk = f.first.as<std::string>();
          if (fk == "devices") {
            r.get(f.second, "devices", devices);
          } else if (fk != "values") {
            r.error(f.first, "unknown key '" + fk + "' in a generators entry (devices, values)");
          }
        }
        for (const auto& f : entry) {
          if (f.first.as<std::string>() != "values") continue;
          has_values = true;
          if (!f.second.IsMap()) {
            r.error(f.second, "'values' must map value names to generator specs");
            continue;
          }
          for (const auto& g : f.second) {
            std::string spec_text;
            if (!r.get(g.second, "values", spec_text)) continue;
            auto spec = parse_generator_spec(spec_text);
            if (auto* err = std::get_if<std::string>(&spec)) {
              r.error(g.second, *err);
              continue;
            }
            o.generators.push_back({devices, g.first.as<std::string>(),
                                    std::get<GeneratorSpec>(std::move(spec)),
                                    where_of(r.file(), g.second)});
          }
        }
        if (!has_values) r.error(entry, "a generators entry needs 'values'");
      }
    } else if (key == "respond") {
      if (!v.IsMap()) {
        r.error(v, "'respond' must map command names to responses");
        continue;
      }
      for (const auto& c : v) {
        RespondRule rule;
        split_devices(c.first.as<std::string>(), rule.devices, rule.command);
        rule.json = yaml_to_json(c.second).dump();
        rule.origin = where_of(r.file(), c.second);
        o.responds.push_back(std::move(rule));
      }
    } else if (key == "no-respond") {
      std::vector<std::string> list;
      if (v.IsScalar()) {
        list.push_back(v.as<std::string>());
      } else if (!r.get(v, key, list)) {
        continue;
      }
      for (const auto& c : list) {
        RespondRule rule;
        split_devices(c, rule.devices, rule.command);
        rule.origin = where_of(r.file(), v);
        o.responds.push_back(std::move(rule));
      }
    } else {
      r.error(kv.first, "unknown key '" + kv.first.as<std::string>() + "'");
    }
  }
  return errors;
}

namespace {

bool has(const std::string& s, std::string_view what) {
  return s.find(what) != std::string::npos;
}

}  // namespace

std::vector<ConfigError> validate_options(const SimOptions& o) {
  std::vector<ConfigError> e;
  if (o.models.empty()) e.push_back({"--models", "required: model files or folders"});
  if (o.model.empty()) e.push_back({"--model", "required: the DTMI of the interface to simulate"});
  if (o.count < 1) e.push_back({"--count", "must be at least 1"});
  if (o.count > 1 && !has(o.id, "{i")) {
    e.push_back({"--id", "'" + o.id + "' has no {i}: " + std::to_string(o.count) +
                             " devices would share one id"});
  }
  if (o.protocol != 4 && o.protocol != 5) e.push_back({"--protocol", "must be 5 or 4 (3.1.1)"});
  if (o.qos < 0 || o.qos > 2) e.push_back({"--qos", "must be 0, 1 or 2"});
  if (o.time_scale <= 0) e.push_back({"--time-scale", "must be positive"});
  if (o.interval_s && *o.interval_s <= 0) e.push_back({"--interval", "must be positive"});
  if (o.rate && *o.rate < 0) e.push_back({"--rate", "must not be negative (0: unpaced)"});
  const struct {
    const char* option;
    const std::string& topic;
  } topics[] = {{"--telemetry-topic", o.telemetry_topic},
                {"--reported-topic", o.reported_topic},
                {"--desired-topic", o.desired_topic},
                {"--ack-topic", o.ack_topic}};
  for (const auto& t : topics) {
    if (!has(t.topic, "{twin}") && o.count > 1)
      e.push_back({t.option, "'" + t.topic + "' has no {twin}"});
    if (has(t.topic, "+") || has(t.topic, "#"))
      e.push_back({t.option, "'" + t.topic + "' must not contain wildcards"});
  }
  if (o.uses_coap()) {
    const struct {
      const char* option;
      const std::string& path;
    } paths[] = {{"--coap-telemetry-path", o.coap_telemetry_path},
                 {"--coap-properties-path", o.coap_properties_path},
                 {"--coap-desired-path", o.coap_desired_path},
                 {"--coap-command-path", o.coap_command_path}};
    for (const auto& p : paths) {
      if (!has(p.path, "{twin}") && o.count > 1)
        e.push_back({p.option, "'" + p.path + "' has no {twin}"});
    }
    if (!has(o.coap_command_path, "{name}"))
      e.push_back({"--coap-command-path", "'" + o.coap_command_path + "' has no {name}"});
    if (!o.coap.empty() && o.coap.rfind("coap://", 0) != 0)
      e.push_back({"--coap", "'" + o.coap + "' must be a coap:// URI"});
    if (!o.coap_listen.empty() && o.coap_listen.find(':') == std::string::npos)
      e.push_back({"--coap-listen", "'" + o.coap_listen + "' is not HOST:PORT"});
    if (o.coap_silent_after_s && o.coap_listen.empty())
      e.push_back({"--coap-silent-after", "needs --coap-listen (the device side)"});
    return e;  // the MQTT topics are not used
  }
  const std::string command = o.effective_command_topic();
  if (!has(command, "{twin}")) e.push_back({"--command-topic", "'" + command + "' has no {twin}"});
  if (!has(command, "{name}")) e.push_back({"--command-topic", "'" + command + "' has no {name}"});
  if (o.protocol == 4) {
    if (!has(command, "{correlation}"))
      e.push_back({"--command-topic",
                   "'" + command + "' has no {correlation}: MQTT 3.1.1 carries it in the topic"});
    if (!has(o.response_topic, "{correlation}"))
      e.push_back({"--response-topic", "'" + o.response_topic + "' has no {correlation}"});
  }
  return e;
}

bool parse_silent_after(const std::string& text, SimOptions& o) {
  const auto colon = text.rfind(':');
  const std::string devices = colon == std::string::npos ? "" : text.substr(0, colon);
  const auto d = parse_duration_s(colon == std::string::npos ? text : text.substr(colon + 1));
  if (!d) return false;
  o.coap_silent_after_s = *d;
  o.coap_silent_devices = devices;
  return true;
}

std::string expand_id(const std::string& pattern, int i) {
  std::string out;
  std::size_t pos = 0;
  while (pos < pattern.size()) {
    const auto open = pattern.find("{i", pos);
    if (open == std::string::npos) break;
    const auto close = pattern.find('}', open);
    if (close == std::string::npos) break;
    const std::string spec = pattern.substr(open + 2, close - open - 2);  // "" or ":03"
    std::string num = std::to_string(i);
    if (spec.size() >= 2 && spec[0] == ':' && spec[1] == '0') {
      const auto width = static_cast<std::size_t>(std::atoi(spec.c_str() + 2));
      if (num.size() < width) num.insert(0, width - num.size(), '0');
    } else if (!spec.empty()) {
      out += pattern.substr(pos, close + 1 - pos);  // not ours: keep it
      pos = close + 1;
      continue;
    }
    out += pattern.substr(pos, open - pos);
    out += num;
    pos = close + 1;
  }
  out += pattern.substr(pos);
  return out;
}

bool glob_match(const std::string& pattern, const std::string& text) {
  return pattern.empty() || ::fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

}  // namespace doppel::sim
