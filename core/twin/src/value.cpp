#include "doppel/twin/value.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "doppel/model/json_text.hpp"

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
    case Kind::kString:
      return model::json_string(*u_.s);
  }
  return "null";
}

}  // namespace doppel::twin
