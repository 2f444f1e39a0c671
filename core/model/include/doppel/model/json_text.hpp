// JSON string literals: the one escaping routine every module writes JSON text with.
#pragma once

#include <string>
#include <string_view>

namespace doppel::model {

// Appends `s` as a JSON string literal (quotes included). Bytes are copied as they are (UTF-8
// stays UTF-8); quotes, backslashes and control characters are escaped.
void append_json_string(std::string& out, std::string_view s);
inline std::string json_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_json_string(out, s);
  return out;
}

}  // namespace doppel::model
