#include "doppel/twin/value.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace doppel::twin {

std::string Value::to_json() const {
  switch (kind_) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return u_.b ? "true" : "false";
    case Kind::kInteger:
      return std::to_string(u_.i);
    case Kind::kDouble: {
      if (!std::isfinite(u_.d)) return "null";
      char buf[32];
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, u_.d);
      std::string out(buf, p);
      if (out.find_first_of(".eE") == std::string::npos) out += ".0";
      return out;
    }
    case Kind::kJson:
      return *u_.s;
    case Kind::kString: {
      std::string out = "\"";
      for (char c : *u_.s) {
        switch (c) {
          case '"':
            out += "\\\"";
            break;
          case '\\':
            out += "\\\\";
            break;
          case '\n':
            out += "\\n";
            break;
          case '\r':
            out += "\\r";
            break;
          case '\t':
            out += "\\t";
            break;
          default:
            if (static_cast<unsigned char>(c) < 0x20) {
              char buf[8];
              std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
              out += buf;
            } else {
              out += c;
            }
        }
      }
      return out + "\"";
    }
  }
  return "null";
}

}  // namespace doppel::twin
