// The CBOR encoder against the examples of RFC 8949, Appendix A (those a JSON document can
// produce: no tags, byte strings, undefined or simple values).
#include "src/cbor.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace doppel::sim {
namespace {

using json = nlohmann::json;

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 0xf]);
  }
  return out;
}

struct Vector {
  json value;
  const char* encoded;
};

TEST(Cbor, Rfc8949AppendixAIntegers) {
  const Vector vectors[] = {
      {0, "00"},
      {1, "01"},
      {10, "0a"},
      {23, "17"},
      {24, "1818"},
      {25, "1819"},
      {100, "1864"},
      {1000, "1903e8"},
      {1000000, "1a000f4240"},
      {1000000000000, "1b000000e8d4a51000"},
      {json(std::numeric_limits<std::uint64_t>::max()), "1bffffffffffffffff"},
      {-1, "20"},
      {-10, "29"},
      {-100, "3863"},
      {-1000, "3903e7"},
      {json(std::numeric_limits<std::int64_t>::min()), "3b7fffffffffffffff"},
  };
  for (const auto& v : vectors)
    EXPECT_EQ(hex(cbor_encode(v.value)), v.encoded) << v.value.dump();
}

TEST(Cbor, Rfc8949AppendixAFloatsInTheShortestExactWidth) {
  const struct {
    double value;
    const char* encoded;
  } vectors[] = {
      {0.0, "f90000"},
      {-0.0, "f98000"},
      {1.0, "f93c00"},
      {1.1, "fb3ff199999999999a"},
      {1.5, "f93e00"},
      {65504.0, "f97bff"},
      {100000.0, "fa47c35000"},
      {3.4028234663852886e+38, "fa7f7fffff"},
      {1.0e+300, "fb7e37e43c8800759c"},
      {5.960464477539063e-8, "f90001"},
      {0.00006103515625, "f90400"},
      {-4.0, "f9c400"},
      {-4.1, "fbc010666666666666"},
      {std::numeric_limits<double>::infinity(), "f97c00"},
      {std::numeric_limits<double>::quiet_NaN(), "f97e00"},
      {-std::numeric_limits<double>::infinity(), "f9fc00"},
  };
  for (const auto& v : vectors) {
    std::string out;
    cbor_append_double(out, v.value);
    EXPECT_EQ(hex(out), v.encoded) << v.value;
    if (std::isfinite(v.value)) {
      EXPECT_EQ(hex(cbor_encode(json(v.value))), v.encoded) << v.value;
    }
  }
}

TEST(Cbor, Rfc8949AppendixASimpleStringsArraysMaps) {
  const Vector vectors[] = {
      {false, "f4"},
      {true, "f5"},
      {nullptr, "f6"},
      {"", "60"},
      {"a", "6161"},
      {"IETF", "6449455446"},
      {"\"\\", "62225c"},
      {"\u00fc", "62c3bc"},
      {"\u6c34", "63e6b0b4"},
      {json::array(), "80"},
      {json::array({1, 2, 3}), "83010203"},
      {json::parse("[1, [2, 3], [4, 5]]"), "8301820203820405"},
      {json::parse("[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25]"),
       "98190102030405060708090a0b0c0d0e0f101112131415161718181819"},
      {json::object(), "a0"},
      {json::parse(R"({"a": 1, "b": [2, 3]})"), "a26161016162820203"},
      {json::parse(R"(["a", {"b": "c"}])"), "826161a161626163"},
      {json::parse(R"({"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"})"),
       "a56161614161626142616361436164614461656145"},
  };
  for (const auto& v : vectors)
    EXPECT_EQ(hex(cbor_encode(v.value)), v.encoded) << v.value.dump();
}

TEST(Cbor, TelemetryDocumentRoundTripsThroughNlohmann) {
  const auto doc = json::parse(
      R"({"temperature": 41.2, "bearing": {"temperature": 38.5}, "running": true,
          "state": "ok", "ts": 1795599065448})");
  const std::string bytes = cbor_encode(doc);
  EXPECT_EQ(json::from_cbor(bytes), doc);
}

}  // namespace
}  // namespace doppel::sim
