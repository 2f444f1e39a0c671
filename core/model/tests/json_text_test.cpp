#include "doppel/model/json_text.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

namespace doppel::model {
namespace {

TEST(JsonText, EscapesWhatJsonRequiresAndKeepsUtf8) {
  EXPECT_EQ(json_string(""), "\"\"");
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_string("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
  EXPECT_EQ(json_string(std::string_view("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(json_string("80 °C"), "\"80 °C\"");
  std::string out = "x";
  append_json_string(out, "y");
  EXPECT_EQ(out, "x\"y\"");
}

TEST(JsonText, EveryByteRoundTripsThroughAJsonParser) {
  std::string all;
  for (int c = 1; c < 0x80; ++c)
    all += static_cast<char>(c);
  rapidjson::Document d;
  std::string text = json_string(all);
  d.Parse(text.c_str(), text.size());
  ASSERT_FALSE(d.HasParseError()) << text;
  ASSERT_TRUE(d.IsString());
  EXPECT_EQ(std::string(d.GetString(), d.GetStringLength()), all);
}

}  // namespace
}  // namespace doppel::model
