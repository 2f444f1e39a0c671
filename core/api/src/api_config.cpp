#include "doppel/api/api_config.hpp"

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <vector>

namespace doppel::api {

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kReader:
      return "reader";
    case Role::kOperator:
      return "operator";
    case Role::kAdmin:
      return "admin";
  }
  return "?";
}

namespace {

using Type = sdk::ConfigNode::Type;

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

class Checker {
 public:
  explicit Checker(std::vector<ApiConfigIssue>* issues) : issues_(issues) {}
  void error(const sdk::ConfigNode& at, const std::string& message,
             std::string_view code = "badValue") {
    if (!errors_.empty()) errors_ += '\n';
    errors_ += at.where() + ": " + message;
    if (issues_) issues_->push_back({at.where(), std::string(code), message});
  }
  void known_keys(const sdk::ConfigNode& map, std::initializer_list<std::string_view> keys,
                  std::string_view what) {
    for (std::size_t i = 0; i < map.size(); ++i) {
      std::string_view key = map.key_at(i);
      if (std::find(keys.begin(), keys.end(), key) != keys.end()) continue;
      std::string_view best;
      std::size_t best_d = 3;
      for (std::string_view k : keys)
        if (std::size_t d = edit_distance(key, k); d < best_d) best_d = d, best = k;
      error(map.at(i),
            "unknown key '" + std::string(key) + "' in " + std::string(what) +
                (best.empty() ? std::string() : " (did you mean '" + std::string(best) + "'?)"),
            "unknownKey");
    }
  }
  bool is(const sdk::ConfigNode& n, Type type, std::string_view what) {
    if (n.type() == type || (type == Type::kNumber && n.type() == Type::kInteger)) return true;
    error(n,
          std::string(what) + " must be a " + std::string(sdk::config_type_name(type)) +
              ", not a " + std::string(sdk::config_type_name(n.type())),
          "wrongType");
    return false;
  }
  std::optional<std::size_t> positive(const sdk::ConfigNode& n, std::string_view what,
                                      std::int64_t max) {
    if (!is(n, Type::kInteger, what)) return std::nullopt;
    if (n.as_integer() < 1 || n.as_integer() > max) {
      error(n, std::string(what) + " must be between 1 and " + std::to_string(max));
      return std::nullopt;
    }
    return static_cast<std::size_t>(n.as_integer());
  }
  const std::string& errors() const { return errors_; }

 private:
  std::vector<ApiConfigIssue>* issues_;
  std::string errors_;
};

std::filesystem::path resolve(const std::filesystem::path& base, std::string_view p) {
  std::filesystem::path path(p);
  return path.is_absolute() ? path : base / path;
}

}  // namespace

sdk::Expected<ApiConfig> parse_api_config(const sdk::ConfigNode& api,
                                          const std::filesystem::path& base_dir,
                                          std::vector<ApiConfigIssue>* issues) {
  ApiConfig c;
  c.where = api.where();
  Checker ck(issues);
  if (!ck.is(api, Type::kMap, "api")) return sdk::invalid_argument(ck.errors());
  ck.known_keys(api,
                {"listen", "auth", "tokens_file", "tls", "max_body_bytes", "threads",
                 "max_event_subscribers", "event_queue"},
                "api");

  if (const auto& l = api.get("listen"); !l.missing() && ck.is(l, Type::kString, "api.listen")) {
    std::string_view text = l.text();
    std::size_t colon = text.rfind(':');
    int port = -1;
    if (colon != std::string_view::npos && colon > 0) {
      std::string_view digits = text.substr(colon + 1);
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
      if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) port = -1;
    }
    if (port < 0 || port > 65535) {
      ck.error(l,
               "api.listen must be host:port with a port from 0 to 65535, e.g. \"127.0.0.1:8080\"");
    } else {
      c.host = std::string(text.substr(0, colon));
      if (c.host.size() > 2 && c.host.front() == '[' && c.host.back() == ']')
        c.host = c.host.substr(1, c.host.size() - 2);  // [::1]:8080
      c.port = port;
    }
  }
  const auto& auth = api.get("auth");
  if (!auth.missing() && ck.is(auth, Type::kString, "api.auth")) {
    if (auth.text() == "none")
      c.auth = false;
    else if (auth.text() != "tokens")
      ck.error(auth, "api.auth must be 'tokens' or 'none', not '" + std::string(auth.text()) + "'");
  }
  if (const auto& t = api.get("tokens_file");
      !t.missing() && ck.is(t, Type::kString, "api.tokens_file")) {
    if (t.text().empty())
      ck.error(t, "api.tokens_file must name a file");
    else
      c.tokens_file = resolve(base_dir, t.text());
  }
  if (c.auth && api.get("tokens_file").missing() &&
      (auth.missing() || auth.type() == Type::kString))
    ck.error(api,
             "api needs tokens_file (lines of '<sha256-hex> <role> [<name>]'), or an explicit "
             "'auth: none' to serve without authentication",
             "missingKey");
  if (!c.auth && !c.tokens_file.empty())
    ck.error(api.get("tokens_file"), "api.tokens_file is set but auth is none: remove one of them");

  if (const auto& tls = api.get("tls"); !tls.missing() && ck.is(tls, Type::kMap, "api.tls")) {
    ck.known_keys(tls, {"cert", "key"}, "api.tls");
    TlsConfig t;
    for (auto [key, out] : {std::pair{"cert", &t.cert}, std::pair{"key", &t.key}}) {
      const auto& v = tls.get(key);
      if (v.missing())
        ck.error(tls, std::string("api.tls needs ") + key + " (a PEM file)", "missingKey");
      else if (!ck.is(v, Type::kString, std::string("api.tls.") + key))
        continue;
      else if (v.text().empty())
        ck.error(v, std::string("api.tls.") + key + " must name a PEM file");
      else
        *out = resolve(base_dir, v.text());
    }
    c.tls = t;
  }
  if (const auto& v = api.get("max_body_bytes"); !v.missing())
    if (auto n = ck.positive(v, "api.max_body_bytes", std::int64_t{1} << 30)) c.max_body_bytes = *n;
  if (const auto& v = api.get("threads"); !v.missing())
    if (auto n = ck.positive(v, "api.threads", 1024)) c.threads = *n;
  if (const auto& v = api.get("max_event_subscribers"); !v.missing())
    if (auto n = ck.positive(v, "api.max_event_subscribers", 4096)) c.max_event_subscribers = *n;
  if (const auto& v = api.get("event_queue"); !v.missing())
    if (auto n = ck.positive(v, "api.event_queue", 1 << 20)) c.event_queue = *n;

  if (!ck.errors().empty()) return sdk::invalid_argument(ck.errors(), c.where);
  return c;
}

}  // namespace doppel::api
