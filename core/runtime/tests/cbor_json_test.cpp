// CBOR payloads become JSON text for the mapping engine: the examples of RFC 8949 Appendix A
// (with the JSON forms the mapping reads), and malformed input refused with the byte offset.
#include "cbor_json.hpp"

#include <gtest/gtest.h>

#include <string>

namespace doppel::runtime {
namespace {

std::string bytes(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

std::string json(std::string_view hex) {
  std::string out, error;
  EXPECT_TRUE(cbor_to_json(bytes(hex), out, error)) << hex << ": " << error;
  return out;
}

std::string error_of(std::string_view hex) {
  std::string out = "kept", error;
  EXPECT_FALSE(cbor_to_json(bytes(hex), out, error)) << hex << " gave " << out;
  EXPECT_EQ(out, "kept") << "a failed conversion leaves the output as it was";
  return error;
}

TEST(CborJson, Rfc8949Integers) {
  EXPECT_EQ(json("00"), "0");
  EXPECT_EQ(json("17"), "23");
  EXPECT_EQ(json("1818"), "24");
  EXPECT_EQ(json("1903e8"), "1000");
  EXPECT_EQ(json("1a000f4240"), "1000000");
  EXPECT_EQ(json("1b000000e8d4a51000"), "1000000000000");
  EXPECT_EQ(json("1bffffffffffffffff"), "18446744073709551615");
  EXPECT_EQ(json("3bffffffffffffffff"), "-18446744073709551616");
  EXPECT_EQ(json("20"), "-1");
  EXPECT_EQ(json("3863"), "-100");
  EXPECT_EQ(json("3903e7"), "-1000");
}

TEST(CborJson, Rfc8949FloatsOfEveryWidth) {
  EXPECT_EQ(json("f90000"), "0");
  EXPECT_EQ(json("f98000"), "-0");
  EXPECT_EQ(json("f93c00"), "1");
  EXPECT_EQ(json("fb3ff199999999999a"), "1.1");
  EXPECT_EQ(json("f93e00"), "1.5");
  EXPECT_EQ(json("f97bff"), "65504");
  EXPECT_EQ(json("fa47c35000"), "1e+05");  // shortest form; JSON readers take it
  EXPECT_EQ(json("fa7f7fffff"), "3.4028234663852886e+38");
  EXPECT_EQ(json("fb7e37e43c8800759c"), "1e+300");
  EXPECT_EQ(json("f90001"), "5.960464477539063e-08");
  EXPECT_EQ(json("f90400"), "6.103515625e-05");
  EXPECT_EQ(json("f9c400"), "-4");
  EXPECT_EQ(json("fbc010666666666666"), "-4.1");
}

TEST(CborJson, Rfc8949SimpleValuesTagsAndStrings) {
  EXPECT_EQ(json("f4"), "false");
  EXPECT_EQ(json("f5"), "true");
  EXPECT_EQ(json("f6"), "null");
  EXPECT_EQ(json("f7"), "null");
  EXPECT_EQ(json("c074323031332d30332d32315432303a30343a30305a"), "\"2013-03-21T20:04:00Z\"");
  EXPECT_EQ(json("c11a514b67b0"), "1363896240");
  EXPECT_EQ(json("d74401020304"), "\"AQIDBA==\"");
  EXPECT_EQ(json("40"), "\"\"");
  EXPECT_EQ(json("4401020304"), "\"AQIDBA==\"");
  EXPECT_EQ(json("60"), "\"\"");
  EXPECT_EQ(json("6449455446"), "\"IETF\"");
  EXPECT_EQ(json("62225c"), "\"\\\"\\\\\"");
  EXPECT_EQ(json("62c3bc"), "\"\xc3\xbc\"");
  EXPECT_EQ(json("64f0908591"), "\"\xf0\x90\x85\x91\"");
}

TEST(CborJson, Rfc8949ArraysAndMapsDefiniteAndIndefinite) {
  EXPECT_EQ(json("80"), "[]");
  EXPECT_EQ(json("8301820203820405"), "[1,[2,3],[4,5]]");
  EXPECT_EQ(json("a0"), "{}");
  EXPECT_EQ(json("a201020304"), "{\"1\":2,\"3\":4}");
  EXPECT_EQ(json("a26161016162820203"), "{\"a\":1,\"b\":[2,3]}");
  EXPECT_EQ(json("826161a161626163"), "[\"a\",{\"b\":\"c\"}]");
  EXPECT_EQ(json("5f42010243030405ff"), "\"AQIDBAU=\"");
  EXPECT_EQ(json("7f657374726561646d696e67ff"), "\"streaming\"");
  EXPECT_EQ(json("9fff"), "[]");
  EXPECT_EQ(json("9f018202039f0405ffff"), "[1,[2,3],[4,5]]");
  EXPECT_EQ(json("83019f0203ff820405"), "[1,[2,3],[4,5]]");
  EXPECT_EQ(json("bf61610161629f0203ffff"), "{\"a\":1,\"b\":[2,3]}");
  EXPECT_EQ(json("bf6346756ef563416d7421ff"), "{\"Fun\":true,\"Amt\":-2}");
  EXPECT_EQ(json("9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff"),
            "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25]");
}

TEST(CborJson, TypicalDevicePayload) {
  // {"t": 71.5, "vib": {"rms": 0.2}, "ts": 1700000000}
  EXPECT_EQ(json("a36174f9447863766962a163726d73fb3fc999999999999a6274731a6553f100"),
            "{\"t\":4.46875,\"vib\":{\"rms\":0.2},\"ts\":1700000000}");
}

TEST(CborJson, MalformedInputIsRefusedWithTheOffset) {
  EXPECT_EQ(error_of(""), "CBOR: the payload is empty at byte 0");
  EXPECT_EQ(error_of("1903"), "CBOR: truncated input at byte 1");
  EXPECT_EQ(error_of("1c"), "CBOR: reserved additional information at byte 1");
  EXPECT_EQ(error_of("0000"), "CBOR: unexpected bytes after the first data item at byte 1");
  EXPECT_EQ(error_of("ff"), "CBOR: unexpected break at byte 0");
  EXPECT_EQ(error_of("61ff"), "CBOR: text string is not valid UTF-8 at byte 2");
  EXPECT_EQ(error_of("62c0af"), "CBOR: text string is not valid UTF-8 at byte 3");  // overlong
  EXPECT_EQ(error_of("a18000"), "CBOR: a map key is not text or an integer at byte 1");
  EXPECT_EQ(error_of("a1410000"), "CBOR: a map key is a byte string; use text keys at byte 3");
  EXPECT_EQ(error_of("7f4100ff"),
            "CBOR: an indefinite string chunk is not a definite string of the same type at byte 2");
  EXPECT_EQ(error_of("5bffffffffffffffff"), "CBOR: string longer than the payload at byte 9");
  EXPECT_EQ(error_of("9bffffffffffffffff"), "CBOR: array longer than the payload at byte 9");
  EXPECT_EQ(error_of("f97c00"), "CBOR: NaN or infinity has no JSON form at byte 3");
  EXPECT_EQ(error_of("f97e00"), "CBOR: NaN or infinity has no JSON form at byte 3");
  EXPECT_EQ(error_of("f0"), "CBOR: unsupported simple value at byte 1");
  EXPECT_EQ(error_of("9f01"), "CBOR: truncated input at byte 2");
  EXPECT_EQ(error_of("1f"), "CBOR: an integer cannot have indefinite length at byte 1");
  std::string deep(65, '\x81');
  deep += '\x00';
  std::string out, error;
  EXPECT_FALSE(cbor_to_json(deep, out, error));
  EXPECT_EQ(error, "CBOR: nesting deeper than 64 levels at byte 65");
  deep.erase(0, 1);  // 64 levels are fine
  EXPECT_TRUE(cbor_to_json(deep, out, error)) << error;
}

}  // namespace
}  // namespace doppel::runtime
