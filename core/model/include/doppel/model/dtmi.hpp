// Digital Twin Model Identifiers: syntax and parts, as defined by the DTMI specification.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace doppel::model {

struct DtmiParts {
  std::vector<std::string_view> labels;  // path segments, views into the parsed text
  std::uint32_t major_version = 0;       // 0 when the DTMI has no version
  std::uint32_t minor_version = 0;
  std::string_view fragment;  // "#frag" including '#', or empty
  bool has_version = false;
  bool reserved = false;  // a segment or the fragment starts with '_' (a system DTMI)
};

// Parses `text` as a DTMI; nullopt when it is not one. Views refer into `text`.
std::optional<DtmiParts> parse_dtmi(std::string_view text);

inline bool is_dtmi(std::string_view text) {
  return parse_dtmi(text).has_value();
}

// The DTMI without its version ("dtmi:foo:bar;1#x" -> "dtmi:foo:bar#x").
std::string versionless_dtmi(std::string_view text);

}  // namespace doppel::model
