// A twin's value: what a property or telemetry holds. Small (16 bytes + kind), copyable;
// strings and complex values (Object, Map, Array, geospatial: their JSON text) are heap-owned.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

namespace doppel::twin {

class Value {
 public:
  enum class Kind : std::uint8_t { kNull, kBool, kInteger, kDouble, kString, kJson };

  Value() noexcept : kind_(Kind::kNull) { u_.i = 0; }
  static Value boolean(bool b) noexcept {
    Value v;
    v.kind_ = Kind::kBool;
    v.u_.b = b;
    return v;
  }
  static Value integer(std::int64_t i) noexcept {
    Value v;
    v.kind_ = Kind::kInteger;
    v.u_.i = i;
    return v;
  }
  static Value number(double d) noexcept {
    Value v;
    v.kind_ = Kind::kDouble;
    v.u_.d = d;
    return v;
  }
  static Value string(std::string_view s) { return text(Kind::kString, s); }
  // A complex value, as its (validated) JSON text.
  static Value json(std::string_view s) { return text(Kind::kJson, s); }

  Value(const Value& o) : kind_(o.kind_) { copy_from(o); }
  Value(Value&& o) noexcept : kind_(o.kind_), u_(o.u_) { o.kind_ = Kind::kNull; }
  Value& operator=(const Value& o) {
    if (this != &o) {
      reset();
      kind_ = o.kind_;
      copy_from(o);
    }
    return *this;
  }
  Value& operator=(Value&& o) noexcept {
    if (this != &o) {
      reset();
      kind_ = o.kind_;
      u_ = o.u_;
      o.kind_ = Kind::kNull;
    }
    return *this;
  }
  ~Value() { reset(); }

  Kind kind() const noexcept { return kind_; }
  bool is_null() const noexcept { return kind_ == Kind::kNull; }
  bool is_number() const noexcept { return kind_ == Kind::kInteger || kind_ == Kind::kDouble; }
  bool as_bool() const noexcept { return kind_ == Kind::kBool && u_.b; }
  std::int64_t as_integer() const noexcept {
    return kind_ == Kind::kInteger  ? u_.i
           : kind_ == Kind::kDouble ? static_cast<std::int64_t>(u_.d)
                                    : 0;
  }
  double as_double() const noexcept {
    return kind_ == Kind::kDouble    ? u_.d
           : kind_ == Kind::kInteger ? static_cast<double>(u_.i)
                                     : 0.0;
  }
  // kString: the string; kJson: the JSON text; otherwise empty.
  std::string_view as_string() const noexcept {
    return (kind_ == Kind::kString || kind_ == Kind::kJson) ? std::string_view(*u_.s)
                                                            : std::string_view();
  }

  // Same kind and content (integers and doubles compare by numeric value).
  friend bool operator==(const Value& a, const Value& b) noexcept {
    if (a.is_number() && b.is_number())
      return a.kind_ == b.kind_ ? (a.kind_ == Kind::kInteger ? a.u_.i == b.u_.i : a.u_.d == b.u_.d)
                                : a.as_double() == b.as_double();
    if (a.kind_ != b.kind_) return false;
    switch (a.kind_) {
      case Kind::kNull:
        return true;
      case Kind::kBool:
        return a.u_.b == b.u_.b;
      default:
        return a.as_string() == b.as_string();
    }
  }

  // The value as JSON text (strings quoted and escaped).
  std::string to_json() const;

 private:
  static Value text(Kind k, std::string_view s) {
    Value v;
    v.kind_ = k;
    v.u_.s = new std::string(s);
    return v;
  }
  void copy_from(const Value& o) {
    if (o.kind_ == Kind::kString || o.kind_ == Kind::kJson)
      u_.s = new std::string(*o.u_.s);
    else
      u_ = o.u_;
  }
  void reset() noexcept {
    if (kind_ == Kind::kString || kind_ == Kind::kJson) delete u_.s;
    kind_ = Kind::kNull;
  }

  Kind kind_;
  union {
    bool b;
    std::int64_t i;
    double d;
    std::string* s;
  } u_;
};

}  // namespace doppel::twin
