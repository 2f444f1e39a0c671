#include "cbor.hpp"

#include <bit>
#include <cmath>
#include <cstring>

namespace doppel::sim {
namespace {

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A major type with its argument in the shortest head.
void head(std::string& out, unsigned major, std::uint64_t arg) {
  const auto mt = static_cast<std::uint8_t>(major << 5);
  if (arg < 24) {
    out.push_back(static_cast<char>(mt | arg));
  } else if (arg <= 0xff) {
    out.push_back(static_cast<char>(mt | 24));
    put_be(out, arg, 1);
  } else if (arg <= 0xffff) {
    out.push_back(static_cast<char>(mt | 25));
    put_be(out, arg, 2);
  } else if (arg <= 0xffffffffULL) {
    out.push_back(static_cast<char>(mt | 26));
    put_be(out, arg, 4);
  } else {
    out.push_back(static_cast<char>(mt | 27));
    put_be(out, arg, 8);
  }
}

// The half-precision bits of `f` when the conversion is exact, else -1.
int exact_half(float f) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (bits >> 16) & 0x8000;
  const int exp = static_cast<int>((bits >> 23) & 0xff);
  const std::uint32_t mant = bits & 0x7fffff;
  if (exp == 0xff) {  // infinity or NaN (NaN: the canonical quiet NaN)
    if (mant == 0) return static_cast<int>(sign | 0x7c00);
    return 0x7e00;
  }
  if (exp == 0 && mant == 0) return static_cast<int>(sign);  // ±0
  const int e = exp - 127;                                   // unbiased
  if (e >= -14 && e <= 15) {                                 // normal half
    if ((mant & 0x1fff) != 0) return -1;                     // 13 bits would be lost
    return static_cast<int>(sign | static_cast<std::uint32_t>(e + 15) << 10 | mant >> 13);
  }
  if (e >= -24 && e < -14) {                     // subnormal half: value = m * 2^-24
    const std::uint32_t full = mant | 0x800000;  // 24-bit significand, value = full * 2^(e-23)
    const int shift = -e - 1;                    // full * 2^(e-23) = (full >> shift) * 2^-24
    if ((full & ((1u << shift) - 1)) != 0) return -1;
    return static_cast<int>(sign | (full >> shift));
  }
  return -1;
}

}  // namespace

void cbor_append_double(std::string& out, double value) {
  if (std::isnan(value)) {
    out.append("\xf9\x7e\x00", 3);
    return;
  }
  const auto f = static_cast<float>(value);
  if (static_cast<double>(f) == value || std::isinf(value)) {
    if (const int h = exact_half(f); h >= 0) {
      out.push_back(static_cast<char>(0xf9));
      put_be(out, static_cast<std::uint64_t>(h), 2);
      return;
    }
    out.push_back(static_cast<char>(0xfa));
    put_be(out, std::bit_cast<std::uint32_t>(f), 4);
    return;
  }
  out.push_back(static_cast<char>(0xfb));
  put_be(out, std::bit_cast<std::uint64_t>(value), 8);
}

namespace {

void encode(std::string& out, const nlohmann::json& v) {
  using T = nlohmann::json::value_t;
  switch (v.type()) {
    case T::null:
    case T::discarded:
      out.push_back(static_cast<char>(0xf6));
      break;
    case T::boolean:
      out.push_back(static_cast<char>(v.get<bool>() ? 0xf5 : 0xf4));
      break;
    case T::number_unsigned:
      head(out, 0, v.get<std::uint64_t>());
      break;
    case T::number_integer: {
      const auto i = v.get<std::int64_t>();
      if (i >= 0) {
        head(out, 0, static_cast<std::uint64_t>(i));
      } else {
        head(out, 1, static_cast<std::uint64_t>(-(i + 1)));
      }
      break;
    }
    case T::number_float:
      cbor_append_double(out, v.get<double>());
      break;
    case T::string: {
      const auto& s = v.get_ref<const std::string&>();
      head(out, 3, s.size());
      out += s;
      break;
    }
    case T::array:
      head(out, 4, v.size());
      for (const auto& e : v)
        encode(out, e);
      break;
    case T::object:
      head(out, 5, v.size());
      for (const auto& [k, e] : v.items()) {
        head(out, 3, k.size());
        out += k;
        encode(out, e);
      }
      break;
    case T::binary: {
      const auto& b = v.get_binary();
      head(out, 2, b.size());
      out.append(b.begin(), b.end());
      break;
    }
  }
}

}  // namespace

std::string cbor_encode(const nlohmann::json& value) {
  std::string out;
  encode(out, value);
  return out;
}

}  // namespace doppel::sim
