#include "coap_config.hpp"

#include <algorithm>
#include <charconv>
#include <initializer_list>

#include "doppel/sdk/config_values.hpp"

namespace doppel::plugins::coap {

using sdk::config_bool;
using sdk::config_duration;
using sdk::config_error;
using sdk::config_known_keys;
using sdk::config_string;
using sdk::ConfigNode;
using sdk::Status;
using Type = ConfigNode::Type;

const sdk::ConfigField kConfigFields[] = {
    {"listen", Type::kString, false, "",
     "UDP server host:port for devices that POST/PUT, e.g. 127.0.0.1:5683; absent: none"},
    {"dtls", Type::kMap, false, "",
     "coaps server with pre-shared keys: {listen, psk_file, require}"},
    {"ingest", Type::kList, false, "[]",
     "routes from URI paths (topic: \"twins/{twin}/telemetry\") to twins (the runtime's mapping)"},
    {"observe", Type::kList, false, "[]",
     "client mode: device resources to observe or poll: {uri, topic, mode, interval, "
     "reregister_after, identity}"},
    {"devices", Type::kList, false, "[]",
     "downlink: which device serves which twins: {twins: \"motor-*\", uri: coap://host:port, "
     "identity (coaps://)}"},
    {"desired", Type::kMap, false, "", "desired values down: {path, method, timeout}"},
    {"commands", Type::kMap, false, "", "commands down: {path, timeout}"},
    {"max_payload", Type::kString, false, "64KiB",
     "largest request body accepted (block-wise transfers are reassembled up to this)"},
    {"transmission", Type::kMap, false, "",
     "RFC 7252 transmission parameters for messages Doppel sends: {ack_timeout: 2s, "
     "max_retransmit: 4}"},
};
const std::size_t kConfigFieldCount = std::size(kConfigFields);

// ---- templates, endpoints, values ----------------------------------------------------------

std::string PathTemplate::expand(const std::map<std::string_view, std::string_view>& vars) const {
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

std::vector<std::string> PathTemplate::vars() const {
  std::vector<std::string> out;
  for (std::size_t i = text_.find('{'); i != std::string::npos; i = text_.find('{', i + 1)) {
    std::size_t close = text_.find('}', i);
    if (close == std::string::npos) {
      out.push_back(text_.substr(i));
      break;
    }
    out.push_back(text_.substr(i + 1, close - i - 1));
  }
  return out;
}

std::string Endpoint::text() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool parse_size(std::string_view text, std::size_t& out) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
    ++digits;
  if (digits == 0 || digits > 10) return false;
  std::uint64_t n = 0;
  std::from_chars(text.data(), text.data() + digits, n);
  std::string_view unit = text.substr(digits);
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "KiB" || unit == "K" || unit == "KB")
    scale = 1024;
  else if (unit == "MiB" || unit == "M" || unit == "MB")
    scale = 1024 * 1024;
  else
    return false;
  if (n == 0) return false;
  out = static_cast<std::size_t>(n * scale);
  return true;
}

bool parse_endpoint(std::string_view text, Endpoint& out) {
  std::string_view host = "127.0.0.1";
  std::string_view port = text;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else if (std::size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    if (text.find(':') != colon) return false;  // bare IPv6: needs brackets
    if (colon > 0) host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || p != port.data() + port.size() || value == 0 || value > 65535 ||
      host.empty())
    return false;
  out.host = std::string(host);
  out.port = static_cast<std::uint16_t>(value);
  return true;
}

sdk::Expected<std::vector<PskEntry>> parse_psk_text(std::string_view text, std::string_view file) {
  std::vector<PskEntry> out;
  std::size_t line_no = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t end = text.find('\n', i);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(i, end - i);
    i = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::vector<std::string_view> words;
    for (std::size_t w = 0; w < line.size();) {
      while (w < line.size() && (line[w] == ' ' || line[w] == '\t'))
        ++w;
      if (w >= line.size() || line[w] == '#') break;
      std::size_t e = w;
      while (e < line.size() && line[e] != ' ' && line[e] != '\t')
        ++e;
      words.push_back(line.substr(w, e - w));
      w = e;
    }
    if (words.empty()) continue;
    std::string where = std::string(file) + ":" + std::to_string(line_no);
    if (words.size() != 3)
      return sdk::invalid_argument(
          "a PSK line has three fields: identity, key (text or hex:...), twins "
          "(comma-separated, trailing * = prefix); this one has " +
              std::to_string(words.size()),
          where);
    PskEntry e{std::string(words[0]), {}, std::string(words[2])};
    std::string_view key = words[1];
    if (key.rfind("hex:", 0) == 0) {
      key.remove_prefix(4);
      auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      if (key.empty() || key.size() % 2)
        return sdk::invalid_argument("hex key must have an even, non-zero number of digits", where);
      for (std::size_t k = 0; k < key.size(); k += 2) {
        int hi = nibble(key[k]), lo = nibble(key[k + 1]);
        if (hi < 0 || lo < 0)
          return sdk::invalid_argument("hex key has a character that is not a hex digit", where);
        e.key += static_cast<char>(hi * 16 + lo);
      }
    } else {
      e.key = std::string(key);
    }
    if (e.identity.size() > 128 || e.key.size() > 64)
      return sdk::invalid_argument(
          "identity (at most 128 bytes) or key (at most 64 bytes) too long", where);
    for (const PskEntry& other : out)
      if (other.identity == e.identity)
        return sdk::invalid_argument("identity '" + e.identity + "' is listed twice", where);
    out.push_back(std::move(e));
  }
  return out;
}

namespace {

Status endpoint_of(const ConfigNode& node, std::string_view what, Endpoint& out) {
  if (node.type() == Type::kString && node.text().empty()) {
    out = Endpoint{};
    return {};
  }
  if ((node.type() != Type::kString && node.type() != Type::kInteger) ||
      !parse_endpoint(node.text(), out))
    return config_error(std::string(what) + " must be host:port such as 127.0.0.1:5683 (got '" +
                            std::string(node.text()) + "')",
                        node);
  return {};
}

Status path_of(const ConfigNode& node, std::string_view what,
               std::initializer_list<std::string_view> allowed, PathTemplate& out) {
  std::string text;
  if (Status s = config_string(node, what, text); !s) return s;
  if (text.front() == '/') text.erase(0, 1);
  if (text.find_first_of("?#") != std::string::npos)
    return config_error(std::string(what) + " '" + text + "' must be a path only (no ?query or #)",
                        node);
  PathTemplate t(text);
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

// Does `path` match the route template (levels "{var}" and "+" match one level, "#" the rest)?
bool route_matches(std::string_view route, std::string_view path) {
  while (true) {
    std::size_t re = route.find('/'), pe = path.find('/');
    std::string_view r = route.substr(0, re), p = path.substr(0, pe);
    if (r == "#") return true;
    bool var = r == "+" || (r.size() >= 2 && r.front() == '{' && r.back() == '}');
    if (var ? p.empty() : r != p) return false;
    if ((re == std::string_view::npos) != (pe == std::string_view::npos)) return false;
    if (re == std::string_view::npos) return true;
    route.remove_prefix(re + 1);
    path.remove_prefix(pe + 1);
  }
}

bool coap_uri(std::string_view uri) {
  return (uri.rfind("coap://", 0) == 0 && uri.size() > 7) ||
         (uri.rfind("coaps://", 0) == 0 && uri.size() > 8);
}

bool secure_uri(std::string_view uri) {
  return uri.rfind("coaps://", 0) == 0;
}

}  // namespace

sdk::Expected<Config> parse_config(const ConfigNode& c) {
  Config cfg;
  if (c.missing() || c.type() == Type::kNull) return cfg;
  if (c.type() != Type::kMap) return config_error("the coap config must be a map", c);
  std::vector<Status> errors;
  auto fail = [&](std::string message, const ConfigNode& node) {
    errors.push_back(config_error(std::move(message), node));
  };
  auto check = [&](Status s) {
    if (!s) errors.push_back(std::move(s));
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
      fail("unknown key '" + std::string(key) + "'; protocol-coap knows " + list, c.at(i));
    }
  }

  if (const ConfigNode& n = c.get("listen"); !n.missing())
    check(endpoint_of(n, "listen", cfg.listen));
  if (const ConfigNode& d = c.get("dtls"); !d.missing()) {
    check(config_known_keys(d, "dtls", {"listen", "psk_file", "require"}));
    if (const ConfigNode& n = d.get("listen"); !n.missing())
      check(endpoint_of(n, "dtls.listen", cfg.dtls.listen));
    else
      cfg.dtls.listen = Endpoint{"127.0.0.1", 5684};
    if (const ConfigNode& n = d.get("psk_file"); !n.missing())
      check(config_string(n, "dtls.psk_file", cfg.dtls.psk_file));
    else
      fail("dtls needs psk_file: the file with one 'identity key twins' line per device", d);
    if (const ConfigNode& n = d.get("require"); !n.missing())
      check(config_bool(n, "dtls.require", cfg.dtls.require));
    if (cfg.dtls.listen.enabled() && cfg.listen.enabled() &&
        cfg.dtls.listen.port == cfg.listen.port && cfg.dtls.listen.host == cfg.listen.host)
      fail("dtls.listen must differ from listen (" + cfg.listen.text() + ")", d);
  }
  if (const ConfigNode& n = c.get("max_payload"); !n.missing()) {
    if ((n.type() != Type::kString && n.type() != Type::kInteger) ||
        !parse_size(n.text(), cfg.max_payload) || cfg.max_payload > 16 * 1024 * 1024)
      fail("max_payload must be a size up to 16MiB such as 64KiB or 1500 (bytes) (got '" +
               std::string(n.text()) + "')",
           n);
  }
  if (const ConfigNode& t = c.get("transmission"); !t.missing()) {
    check(config_known_keys(t, "transmission", {"ack_timeout", "max_retransmit"}));
    if (const ConfigNode& n = t.get("ack_timeout"); !n.missing()) {
      check(config_duration(n, "transmission.ack_timeout", cfg.ack_timeout));
      // libcoap 4.3.1 ignores values under a second.
      if (cfg.ack_timeout < sdk::kSecond || cfg.ack_timeout > 60 * sdk::kSecond)
        fail("transmission.ack_timeout must be from 1s to 60s (RFC 7252's default is 2s)", n);
    }
    if (const ConfigNode& n = t.get("max_retransmit"); !n.missing()) {
      std::int64_t v = 0;
      if (n.type() != Type::kInteger || (v = n.as_integer()) < 1 || v > 20)
        fail(
            "transmission.max_retransmit must be an integer from 1 to 20 (RFC 7252's default "
            "is 4), not '" +
                std::string(n.text()) + "'",
            n);
      else
        cfg.max_retransmit = static_cast<std::uint16_t>(v);
    }
  }
  std::vector<std::string> routes;
  if (const ConfigNode& l = c.get("ingest"); !l.missing()) {
    if (l.type() != Type::kList)
      fail("ingest must be a list of routes, e.g. [{topic: \"twins/{twin}/telemetry\"}]", l);
    for (std::size_t i = 0; i < l.size(); ++i) {
      const ConfigNode& route = l.at(i);
      const ConfigNode& topic = route.type() == Type::kMap ? route.get("topic") : route;
      if (route.type() != Type::kMap || topic.type() != Type::kString || topic.text().empty())
        fail(
            "each ingest route needs a topic: the URI path template without the leading '/', "
            "e.g. topic: \"twins/{twin}/telemetry\"",
            route);
      else if (topic.text().front() == '/')
        fail("ingest topic '" + std::string(topic.text()) +
                 "' starts with '/': write the URI path without it, e.g. twins/{twin}/telemetry",
             topic);
      else
        routes.emplace_back(topic.text());
    }
  }
  if (const ConfigNode& l = c.get("observe"); !l.missing()) {
    if (l.type() != Type::kList)
      fail("observe must be a list of {uri, topic, mode, interval, reregister_after}", l);
    for (std::size_t i = 0; l.type() == Type::kList && i < l.size(); ++i) {
      const ConfigNode& o = l.at(i);
      if (Status s = config_known_keys(
              o, "observe[" + std::to_string(i) + "]",
              {"uri", "topic", "mode", "interval", "reregister_after", "identity"});
          !s) {
        errors.push_back(s);
        continue;
      }
      ObserveConfig oc;
      oc.where = o.where();
      if (const ConfigNode& n = o.get("uri"); n.missing())
        fail("observe entries need uri: coap://host:port/path", o);
      else if (Status s = config_string(n, "observe uri", oc.uri); !s)
        errors.push_back(s);
      else if (!coap_uri(oc.uri))
        fail("observe uri '" + oc.uri + "' must start with coap:// (or coaps://)", n);
      if (const ConfigNode& n = o.get("topic"); n.missing())
        fail(
            "observe entries need topic: the path the ingest routes map, e.g. "
            "twins/motor-1/telemetry",
            o);
      else
        check(config_string(n, "observe topic", oc.topic));
      if (!oc.topic.empty() && oc.topic.front() == '/') oc.topic.erase(0, 1);
      if (!oc.topic.empty() &&
          std::none_of(routes.begin(), routes.end(),
                       [&](const std::string& r) { return route_matches(r, oc.topic); }))
        fail("observe topic '" + oc.topic +
                 "' matches no ingest route, so every notification would be dead-lettered "
                 "(no-route); add a route such as topic: \"twins/{twin}/telemetry\"",
             o.get("topic"));
      if (const ConfigNode& n = o.get("mode"); !n.missing()) {
        if (n.text() == "observe")
          oc.mode = ObserveMode::kObserve;
        else if (n.text() == "poll")
          oc.mode = ObserveMode::kPoll;
        else
          fail("observe mode must be observe or poll (got '" + std::string(n.text()) + "')", n);
      }
      if (const ConfigNode& n = o.get("interval"); !n.missing())
        check(config_duration(n, "observe interval", oc.interval));
      if (const ConfigNode& n = o.get("identity"); !n.missing())
        check(config_string(n, "observe identity", oc.identity));
      if (secure_uri(oc.uri) != !oc.identity.empty())
        fail(
            "a coaps:// uri needs identity: (a line of dtls.psk_file), and identity: needs "
            "coaps://",
            o);
      if (const ConfigNode& n = o.get("reregister_after"); !n.missing()) {
        check(config_duration(n, "observe reregister_after", oc.reregister_after));
        if (oc.mode == ObserveMode::kPoll)
          fail("reregister_after is for mode: observe; a poll uses interval", n);
      }
      cfg.observe.push_back(std::move(oc));
    }
  }
  if (const ConfigNode& l = c.get("devices"); !l.missing()) {
    if (l.type() != Type::kList)
      fail("devices must be a list of {twins: \"motor-*\", uri: coap://host:port}", l);
    for (std::size_t i = 0; l.type() == Type::kList && i < l.size(); ++i) {
      const ConfigNode& o = l.at(i);
      if (Status s = config_known_keys(o, "devices[" + std::to_string(i) + "]",
                                       {"twins", "uri", "identity"});
          !s) {
        errors.push_back(s);
        continue;
      }
      DeviceConfig dc;
      dc.where = o.where();
      if (const ConfigNode& n = o.get("twins"); n.missing())
        fail("devices entries need twins: ids or prefixes (\"motor-*\")", o);
      else
        check(config_string(n, "devices twins", dc.twins));
      if (const ConfigNode& n = o.get("uri"); n.missing())
        fail("devices entries need uri: coap://host:port", o);
      else if (Status s = config_string(n, "devices uri", dc.uri); !s)
        errors.push_back(s);
      else if (!coap_uri(dc.uri) || dc.uri.find_first_of("?#") != std::string::npos)
        fail("devices uri '" + dc.uri + "' must be coap://host:port[/path-prefix] (or coaps://)",
             n);
      if (const ConfigNode& n = o.get("identity"); !n.missing())
        check(config_string(n, "devices identity", dc.identity));
      if (secure_uri(dc.uri) != !dc.identity.empty())
        fail(
            "a coaps:// uri needs identity: (a line of dtls.psk_file), and identity: needs "
            "coaps://",
            o);
      while (!dc.uri.empty() && dc.uri.back() == '/')
        dc.uri.pop_back();
      cfg.devices.push_back(std::move(dc));
    }
  }
  if (const ConfigNode& d = c.get("desired"); !d.missing()) {
    cfg.desired.enabled = true;
    if (d.type() != Type::kNull) {
      check(config_known_keys(d, "desired", {"path", "method", "timeout"}));
      if (const ConfigNode& n = d.get("path"); !n.missing())
        check(path_of(n, "desired.path", {"twin", "component", "name"}, cfg.desired.path));
      if (const ConfigNode& n = d.get("method"); !n.missing()) {
        if (n.text() == "PUT" || n.text() == "put")
          cfg.desired.post = false;
        else if (n.text() == "POST" || n.text() == "post")
          cfg.desired.post = true;
        else
          fail("desired.method must be PUT or POST (got '" + std::string(n.text()) + "')", n);
      }
      if (const ConfigNode& n = d.get("timeout"); !n.missing())
        check(config_duration(n, "desired.timeout", cfg.desired.timeout));
    }
  }
  if (const ConfigNode& d = c.get("commands"); !d.missing()) {
    cfg.commands.enabled = true;
    if (d.type() != Type::kNull) {
      check(config_known_keys(d, "commands", {"path", "timeout"}));
      if (const ConfigNode& n = d.get("path"); !n.missing())
        check(path_of(n, "commands.path", {"twin", "component", "name", "correlation"},
                      cfg.commands.path));
      if (const ConfigNode& n = d.get("timeout"); !n.missing())
        check(config_duration(n, "commands.timeout", cfg.commands.timeout));
    }
  }
  bool client_identity = false;
  for (const ObserveConfig& o : cfg.observe)
    client_identity |= !o.identity.empty();
  for (const DeviceConfig& d : cfg.devices)
    client_identity |= !d.identity.empty();
  if (client_identity && cfg.dtls.psk_file.empty())
    fail(
        "coaps:// devices need dtls: {psk_file: ...} for their identities' keys (add "
        "listen: \"\" to the dtls block if Doppel should not serve coaps itself)",
        c);
  if ((cfg.desired.enabled || cfg.commands.enabled) && cfg.devices.empty())
    fail(
        "desired/commands need devices: [{twins: \"motor-*\", uri: coap://host:port}] so Doppel "
        "knows where each twin's device is",
        c);
  if (!errors.empty()) {
    std::string more;
    for (std::size_t i = 1; i < errors.size(); ++i)
      more += "\n" + errors[i].to_string();
    return sdk::invalid_argument(errors[0].message() + more, errors[0].where());
  }
  return cfg;
}

}  // namespace doppel::plugins::coap
