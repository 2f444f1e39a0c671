// Reading typed values from a plugin's config block, the same way in every plugin: durations
// ("500ms", "10s", "5m", "1h", "7d"), and strings, durations and booleans with errors that name
// the node's place in the deployment file. Header-only: plugins include only SDK headers.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "doppel/sdk/clock.hpp"
#include "doppel/sdk/config.hpp"
#include "doppel/sdk/status.hpp"

namespace doppel::sdk {

// A positive whole number without leading zeros and one unit: ms, s, m, h or d. The grammar of
// the deployment file (`schemas/deployment.schema.json`, $defs/duration); nullopt for anything
// else, and for durations beyond 64-bit nanoseconds (about 106,751 days).
inline std::optional<Duration> parse_duration(std::string_view t) noexcept {
  std::size_t digits = 0;
  while (digits < t.size() && t[digits] >= '0' && t[digits] <= '9')
    ++digits;
  if (digits == 0 || digits == t.size() || t[0] == '0') return std::nullopt;
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + digits, n);
  if (ec != std::errc()) return std::nullopt;
  std::string_view unit = t.substr(digits);
  Duration scale;
  if (unit == "ms")
    scale = kMillisecond;
  else if (unit == "s")
    scale = kSecond;
  else if (unit == "m")
    scale = kMinute;
  else if (unit == "h")
    scale = 60 * kMinute;
  else if (unit == "d")
    scale = 24 * 60 * kMinute;
  else
    return std::nullopt;
  if (n > std::numeric_limits<Duration>::max() / scale) return std::nullopt;
  return n * scale;
}

// An invalid-argument Status located at `node` ("deploy.yaml:9:13 plugins[0].config.qos").
inline Status config_error(std::string message, const ConfigNode& node) {
  return invalid_argument(std::move(message), node.where());
}

// `what` names the key in messages ("desired.timeout").
inline Status config_string(const ConfigNode& node, std::string_view what, std::string& out,
                            bool allow_empty = false) {
  if (node.type() != ConfigNode::Type::kString)
    return config_error(std::string(what) + " must be a string (got " +
                            std::string(config_type_name(node.type())) + ")",
                        node);
  if (!allow_empty && node.text().empty())
    return config_error(std::string(what) + " must not be empty", node);
  out = std::string(node.text());
  return {};
}

inline Status config_duration(const ConfigNode& node, std::string_view what, Duration& out) {
  std::optional<Duration> d;
  if (node.type() == ConfigNode::Type::kString) d = parse_duration(node.text());
  if (!d)
    return config_error(std::string(what) +
                            " must be a duration such as 500ms, 10s, 5m or 1h (got '" +
                            std::string(node.text()) + "')",
                        node);
  out = *d;
  return {};
}

inline Status config_bool(const ConfigNode& node, std::string_view what, bool& out) {
  if (node.type() != ConfigNode::Type::kBool)
    return config_error(
        std::string(what) + " must be true or false (got '" + std::string(node.text()) + "')",
        node);
  out = node.as_bool();
  return {};
}

// A nested block (`block` names it, "desired") must be a map whose keys are all `known`; the
// first other key is an error at that key, listing the known ones.
inline Status config_known_keys(const ConfigNode& node, std::string_view block,
                                std::initializer_list<std::string_view> known) {
  if (node.type() != ConfigNode::Type::kMap)
    return config_error(std::string(block) + " must be a map", node);
  for (std::size_t i = 0; i < node.size(); ++i) {
    std::string_view key = node.key_at(i);
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string list;
      for (std::string_view k : known)
        list += (list.empty() ? "" : ", ") + std::string(k);
      return config_error("unknown key '" + std::string(key) + "' in " + std::string(block) +
                              "; known keys: " + list,
                          node.at(i));
    }
  }
  return {};
}

}  // namespace doppel::sdk
