#include "mqtt_config.hpp"

#include <algorithm>
#include <charconv>
#include <initializer_list>

#include "doppel/sdk/config_values.hpp"
#include "doppel/sdk/protocol.hpp"

namespace doppel::plugins::mqtt {

using sdk::config_bool;
using sdk::config_duration;
using sdk::config_error;
using sdk::config_known_keys;
using sdk::config_string;
using sdk::ConfigNode;
using sdk::Status;
using Type = ConfigNode::Type;

const sdk::ConfigField kConfigFields[] = {
    {"broker", Type::kString, false, "tcp://127.0.0.1:1883",
     "broker URI: tcp://host:port, or ssl://host:port for TLS"},
    {"client_id", Type::kString, false, "doppel-<instance name>",
     "MQTT client id; must differ between Doppel instances on one broker"},
    {"protocol", Type::kString, false, "5", "MQTT version: 5 or 3.1.1"},
    {"clean_session", Type::kBool, false, "true",
     "start without the broker-side session (false: keep subscriptions and queued messages)"},
    {"session_expiry", Type::kString, false, "1h (when clean_session is false)",
     "MQTT v5: how long the broker keeps the session after a disconnect"},
    {"username", Type::kString, false, "", "user name to authenticate with"},
    {"password_file", Type::kString, false, "",
     "file holding the password (first line); read at start, never logged"},
    {"tls", Type::kMap, false, "", "TLS: {ca, cert, key, verify_hostname}"},
    {"qos", Type::kInteger, false, "1", "QoS of subscriptions and publishes: 0, 1 or 2"},
    {"shared_group", Type::kString, false, "",
     "MQTT v5: subscribe to $share/<group>/<filter> so instances split the devices"},
    {"reconnect", Type::kMap, false, "{min_delay: 1s, max_delay: 30s}",
     "reconnect backoff (doubles from min_delay up to max_delay)"},
    {"connect_timeout", Type::kString, false, "5s", "how long one connection attempt may take"},
    {"keep_alive", Type::kString, false, "30s", "MQTT keep-alive interval"},
    {"outbox_limit", Type::kInteger, false, "1000",
     "outgoing messages kept while disconnected; more are dropped and counted"},
    {"ingest", Type::kList, false, "[]",
     "routes from topics to twins (see the runtime's mapping reference)"},
    {"desired", Type::kMap, false, "", "desired values down: {topic, ack_topic, qos, ack_timeout}"},
    {"commands", Type::kMap, false, "", "commands down: {topic, response_topic, qos, timeout}"},
};
const std::size_t kConfigFieldCount = std::size(kConfigFields);

// ---- topic templates ---------------------------------------------------------------------

TopicTemplate::TopicTemplate(std::string text) : text_(std::move(text)) {
  if (text_.empty()) return;
  std::size_t i = 0;
  while (true) {
    std::size_t end = text_.find('/', i);
    levels_.push_back(text_.substr(i, end == std::string::npos ? std::string::npos : end - i));
    if (end == std::string::npos) break;
    i = end + 1;
  }
}

static bool whole_var(std::string_view level) {
  return level.size() >= 2 && level.front() == '{' && level.back() == '}' &&
         level.find('{', 1) == std::string_view::npos;
}

std::string TopicTemplate::expand(const std::map<std::string_view, std::string_view>& vars) const {
  std::string out;
  out.reserve(text_.size() + 32);
  for (std::size_t i = 0; i < text_.size();) {
    if (text_[i] == '{') {
      std::size_t close = text_.find('}', i);
      if (close != std::string::npos) {
        auto it = vars.find(std::string_view(text_).substr(i + 1, close - i - 1));
        if (it != vars.end()) out += it->second;
        i = close + 1;
        continue;
      }
    }
    out += text_[i++];
  }
  return out;
}

std::string TopicTemplate::filter() const {
  char buf[512];
  std::size_t n = 0;
  sdk::topic_filter_of(text_, buf, sizeof buf, &n);
  if (n < sizeof buf) return std::string(buf, n);
  std::string big(n + 1, '\0');
  sdk::topic_filter_of(text_, big.data(), big.size(), &n);
  big.resize(n);
  return big;
}

bool TopicTemplate::match(std::string_view topic,
                          std::map<std::string, std::string_view>& vars) const {
  std::size_t i = 0;
  for (std::size_t l = 0; l < levels_.size(); ++l) {
    const std::string& level = levels_[l];
    if (level == "#") return true;
    if (i > topic.size()) return false;
    std::size_t end = topic.find('/', i);
    if (end == std::string_view::npos) end = topic.size();
    std::string_view got = topic.substr(i, end - i);
    if (whole_var(level))
      vars[level.substr(1, level.size() - 2)] = got;
    else if (level != "+" && level != got)
      return false;
    if (l + 1 == levels_.size()) return end == topic.size();
    if (end == topic.size()) return false;
    i = end + 1;
  }
  return false;
}

bool TopicTemplate::has_var(std::string_view name) const {
  return text_.find("{" + std::string(name) + "}") != std::string::npos;
}

std::vector<std::string> TopicTemplate::vars() const {
  std::vector<std::string> out;
  for (std::size_t i = text_.find('{'); i != std::string::npos; i = text_.find('{', i + 1)) {
    std::size_t close = text_.find('}', i);
    if (close == std::string::npos) {
      out.push_back(text_.substr(i));  // unterminated: reported as an unknown variable
      break;
    }
    out.push_back(text_.substr(i + 1, close - i - 1));
  }
  return out;
}

bool TopicTemplate::vars_are_whole_levels() const {
  for (const std::string& level : levels_)
    if (level.find('{') != std::string::npos && !whole_var(level)) return false;
  return true;
}

// ---- values ------------------------------------------------------------------------------

namespace {

Status qos_of(const ConfigNode& node, std::string_view what, int& out) {
  if (node.type() != Type::kInteger || node.as_integer() < 0 || node.as_integer() > 2)
    return config_error(
        std::string(what) + " must be 0, 1 or 2 (got '" + std::string(node.text()) + "')", node);
  out = static_cast<int>(node.as_integer());
  return {};
}

// Rejects keys of a nested block that are not in `known` (typos must not pass silently).
Status topic_of(const ConfigNode& node, std::string_view what,
                std::initializer_list<std::string_view> allowed, TopicTemplate& out,
                bool allow_empty = false) {
  if (node.type() == Type::kNull && allow_empty) {
    out = TopicTemplate();
    return {};
  }
  std::string text;
  if (Status s = config_string(node, what, text, allow_empty); !s) return s;
  if (text.find_first_of("+#") != std::string::npos)
    return config_error(
        std::string(what) + " '" + text +
            "' must not contain the wildcards + or #: it names one topic per message",
        node);
  TopicTemplate t(text);
  for (const std::string& v : t.vars())
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      std::string list;
      for (std::string_view k : allowed)
        list += (list.empty() ? "{" : ", {") + std::string(k) + "}";
      return config_error(std::string(what) + " '" + text + "' uses an unknown variable {" + v +
                              "}; it may use " + list,
                          node);
    }
  out = std::move(t);
  return {};
}

}  // namespace

sdk::Expected<Config> parse_config(const ConfigNode& c, std::string_view instance_name) {
  Config cfg;
  cfg.client_id = "doppel-" + std::string(instance_name);
  if (c.missing() || c.type() == Type::kNull) return cfg;
  if (c.type() != Type::kMap) return config_error("the mqtt config must be a map", c);
  // Every problem is collected, so one run lists them all (like the host's key checks).
  std::vector<Status> errors;
  auto fail = [&](std::string message, const ConfigNode& node) {
    errors.push_back(config_error(std::move(message), node));
  };
  for (std::size_t i = 0; i < c.size(); ++i) {
    std::string_view key = c.key_at(i);
    bool known = false;
    for (std::size_t f = 0; f < kConfigFieldCount; ++f)
      known |= key == kConfigFields[f].key;
    if (!known) {
      std::string list;
      for (std::size_t f = 0; f < kConfigFieldCount; ++f)
        list += (f ? ", " : "") + std::string(kConfigFields[f].key);
      fail("unknown key '" + std::string(key) + "'; protocol-mqtt knows " + list, c.at(i));
    }
  }

  if (const ConfigNode& n = c.get("broker"); !n.missing()) {
    if (Status s = config_string(n, "broker", cfg.broker); !s) errors.push_back(s);
    if (cfg.broker.rfind("tcp://", 0) != 0 && cfg.broker.rfind("ssl://", 0) != 0 &&
        cfg.broker.rfind("mqtt://", 0) != 0 && cfg.broker.rfind("mqtts://", 0) != 0)
      fail("broker '" + cfg.broker +
               "' must start with tcp:// (or ssl:// for TLS), e.g. tcp://127.0.0.1:1883",
           n);
    if (cfg.broker.rfind("mqtt://", 0) == 0) cfg.broker = "tcp://" + cfg.broker.substr(7);
    if (cfg.broker.rfind("mqtts://", 0) == 0) cfg.broker = "ssl://" + cfg.broker.substr(8);
  }
  if (const ConfigNode& n = c.get("client_id"); !n.missing())
    if (Status s = config_string(n, "client_id", cfg.client_id); !s) errors.push_back(s);
  if (const ConfigNode& n = c.get("protocol"); !n.missing()) {
    std::string_view v = n.text();
    if (v == "5" || v == "5.0")
      cfg.protocol = 5;
    else if (v == "3.1.1" || v == "4")
      cfg.protocol = 4;
    else
      fail("protocol must be 5 or 3.1.1 (got '" + std::string(v) + "')", n);
  }
  if (const ConfigNode& n = c.get("clean_session"); !n.missing())
    if (Status s = config_bool(n, "clean_session", cfg.clean_session); !s) errors.push_back(s);
  if (const ConfigNode& n = c.get("session_expiry"); !n.missing()) {
    if (cfg.protocol != 5)
      fail("session_expiry is an MQTT v5 setting; with protocol 3.1.1 remove it", n);
    if (Status s = config_duration(n, "session_expiry", cfg.session_expiry); !s)
      errors.push_back(s);
  } else if (!cfg.clean_session) {
    cfg.session_expiry = 60 * sdk::kMinute;
  }
  if (const ConfigNode& n = c.get("username"); !n.missing())
    if (Status s = config_string(n, "username", cfg.username); !s) errors.push_back(s);
  if (const ConfigNode& n = c.get("password_file"); !n.missing()) {
    if (Status s = config_string(n, "password_file", cfg.password_file); !s) errors.push_back(s);
    if (cfg.username.empty()) fail("password_file needs a username: add username: <name>", n);
  }
  cfg.tls.enabled = cfg.broker.rfind("ssl://", 0) == 0;
  if (const ConfigNode& t = c.get("tls"); !t.missing()) {
    if (Status s = config_known_keys(t, "tls", {"ca", "cert", "key", "verify_hostname"}); !s)
      errors.push_back(s);
    if (!cfg.tls.enabled)
      fail("tls is set but broker '" + cfg.broker + "' is not ssl://; use ssl://host:8883", t);
    if (const ConfigNode& n = t.get("ca"); !n.missing())
      if (Status s = config_string(n, "tls.ca", cfg.tls.ca); !s) errors.push_back(s);
    if (const ConfigNode& n = t.get("cert"); !n.missing())
      if (Status s = config_string(n, "tls.cert", cfg.tls.cert); !s) errors.push_back(s);
    if (const ConfigNode& n = t.get("key"); !n.missing())
      if (Status s = config_string(n, "tls.key", cfg.tls.key); !s) errors.push_back(s);
    if (const ConfigNode& n = t.get("verify_hostname"); !n.missing())
      if (Status s = config_bool(n, "tls.verify_hostname", cfg.tls.verify_hostname); !s)
        errors.push_back(s);
    if (cfg.tls.cert.empty() != cfg.tls.key.empty())
      fail("tls.cert and tls.key go together: give both (client certificate) or neither", t);
  }
  if (const ConfigNode& n = c.get("qos"); !n.missing())
    if (Status s = qos_of(n, "qos", cfg.qos); !s) errors.push_back(s);
  if (const ConfigNode& n = c.get("shared_group"); !n.missing()) {
    if (Status s = config_string(n, "shared_group", cfg.shared_group); !s) errors.push_back(s);
    if (cfg.protocol != 5)
      fail("shared_group needs MQTT v5 shared subscriptions; set protocol: 5", n);
    if (cfg.shared_group.find_first_of("/+#") != std::string::npos)
      fail("shared_group must not contain '/', '+' or '#'", n);
  }
  if (const ConfigNode& r = c.get("reconnect"); !r.missing()) {
    if (Status s = config_known_keys(r, "reconnect", {"min_delay", "max_delay"}); !s)
      errors.push_back(s);
    if (const ConfigNode& n = r.get("min_delay"); !n.missing())
      if (Status s = config_duration(n, "reconnect.min_delay", cfg.reconnect_min); !s)
        errors.push_back(s);
    if (const ConfigNode& n = r.get("max_delay"); !n.missing())
      if (Status s = config_duration(n, "reconnect.max_delay", cfg.reconnect_max); !s)
        errors.push_back(s);
    if (cfg.reconnect_max < cfg.reconnect_min)
      fail("reconnect.max_delay must not be below reconnect.min_delay", r);
    if (cfg.reconnect_min < sdk::kSecond)
      fail("reconnect.min_delay must be at least 1s (the MQTT client counts in seconds)",
           r.get("min_delay"));
  }
  if (const ConfigNode& n = c.get("connect_timeout"); !n.missing())
    if (Status s = config_duration(n, "connect_timeout", cfg.connect_timeout); !s)
      errors.push_back(s);
  if (const ConfigNode& n = c.get("keep_alive"); !n.missing())
    if (Status s = config_duration(n, "keep_alive", cfg.keep_alive); !s) errors.push_back(s);
  if (const ConfigNode& n = c.get("outbox_limit"); !n.missing()) {
    if (n.type() != Type::kInteger || n.as_integer() < 0 || n.as_integer() > 10'000'000)
      fail("outbox_limit must be an integer from 0 (no store-and-forward) to 10000000", n);
    cfg.outbox_limit = static_cast<int>(n.as_integer());
  }
  if (const ConfigNode& l = c.get("ingest"); !l.missing()) {
    if (l.type() != Type::kList)
      fail("ingest must be a list of routes, e.g. [{topic: \"devices/{twin}/telemetry\"}]", l);
    for (std::size_t i = 0; i < l.size(); ++i) {
      const ConfigNode& route = l.at(i);
      const ConfigNode& topic = route.type() == Type::kMap ? route.get("topic") : route;
      if (route.type() != Type::kMap || topic.type() != Type::kString || topic.text().empty())
        fail("each ingest route needs a topic: template, e.g. topic: \"devices/{twin}/data\"",
             route);
      TopicTemplate t{std::string(topic.text())};
      std::string f = t.filter();
      if (std::find(cfg.ingest_filters.begin(), cfg.ingest_filters.end(), f) ==
          cfg.ingest_filters.end())
        cfg.ingest_filters.push_back(std::move(f));
    }
  }
  if (const ConfigNode& d = c.get("desired"); !d.missing()) {
    cfg.desired.enabled = true;
    if (d.type() != Type::kNull) {
      if (Status s = config_known_keys(d, "desired", {"topic", "ack_topic", "qos", "ack_timeout"});
          !s)
        errors.push_back(s);
      if (const ConfigNode& n = d.get("topic"); !n.missing())
        if (Status s =
                topic_of(n, "desired.topic", {"twin", "component", "name"}, cfg.desired.topic);
            !s)
          errors.push_back(s);
      if (const ConfigNode& n = d.get("ack_topic"); !n.missing()) {
        if (Status s = topic_of(n, "desired.ack_topic", {"twin", "component", "name"},
                                cfg.desired.ack_topic, true);
            !s)
          errors.push_back(s);
        if (!cfg.desired.ack_topic.empty() && (!cfg.desired.ack_topic.has_var("twin") ||
                                               !cfg.desired.ack_topic.vars_are_whole_levels()))
          fail(
              "desired.ack_topic must contain {twin} as a whole topic level (e.g. "
              "devices/{twin}/desired/ack) so the acknowledging twin is known; "
              "use ack_topic: \"\" for no acknowledgements",
              n);
      }
      if (const ConfigNode& n = d.get("qos"); !n.missing())
        if (Status s = qos_of(n, "desired.qos", cfg.desired.qos); !s) errors.push_back(s);
      if (const ConfigNode& n = d.get("ack_timeout"); !n.missing())
        if (Status s = config_duration(n, "desired.ack_timeout", cfg.desired.ack_timeout); !s)
          errors.push_back(s);
    }
  }
  if (const ConfigNode& d = c.get("commands"); !d.missing()) {
    cfg.commands.enabled = true;
    if (d.type() != Type::kNull) {
      if (Status s =
              config_known_keys(d, "commands", {"topic", "response_topic", "qos", "timeout"});
          !s)
        errors.push_back(s);
      if (const ConfigNode& n = d.get("topic"); !n.missing())
        if (Status s = topic_of(n, "commands.topic", {"twin", "component", "name", "correlation"},
                                cfg.commands.topic);
            !s)
          errors.push_back(s);
      if (const ConfigNode& n = d.get("response_topic"); !n.missing()) {
        if (Status s =
                topic_of(n, "commands.response_topic", {"twin", "component", "name", "correlation"},
                         cfg.commands.response_topic);
            !s)
          errors.push_back(s);
        if (!cfg.commands.response_topic.vars_are_whole_levels())
          fail(
              "commands.response_topic variables must be whole topic levels "
              "(devices/{twin}/responses/{correlation})",
              n);
      }
      if (const ConfigNode& n = d.get("qos"); !n.missing())
        if (Status s = qos_of(n, "commands.qos", cfg.commands.qos); !s) errors.push_back(s);
      if (const ConfigNode& n = d.get("timeout"); !n.missing())
        if (Status s = config_duration(n, "commands.timeout", cfg.commands.default_timeout); !s)
          errors.push_back(s);
    }
    if (cfg.protocol != 5) {
      // MQTT 3.1.1 has no correlation data: the id must travel in the topics.
      const ConfigNode& where = d.type() == Type::kMap ? d : c;
      if (!cfg.commands.topic.has_var("correlation"))
        fail(
            "with protocol 3.1.1, commands.topic must contain {correlation} (e.g. "
            "devices/{twin}/commands/{name}/{correlation}): 3.1.1 has no correlation data",
            d.type() == Type::kMap && !d.get("topic").missing() ? d.get("topic") : where);
      if (!cfg.commands.response_topic.has_var("correlation"))
        fail(
            "with protocol 3.1.1, commands.response_topic must contain {correlation} "
            "(e.g. devices/{twin}/responses/{correlation})",
            d.type() == Type::kMap && !d.get("response_topic").missing() ? d.get("response_topic")
                                                                         : where);
    }
  }
  if (!errors.empty()) {
    std::string more;
    for (std::size_t i = 1; i < errors.size(); ++i)
      more += "\n" + errors[i].to_string();
    return sdk::invalid_argument(errors[0].message() + more, errors[0].where());
  }
  if (cfg.desired.qos < 0) cfg.desired.qos = cfg.qos;
  if (cfg.commands.qos < 0) cfg.commands.qos = cfg.qos;
  return cfg;
}

}  // namespace doppel::plugins::mqtt
