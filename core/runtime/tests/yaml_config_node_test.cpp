#include "yaml_config_node.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace doppel::runtime {
namespace {

using Type = sdk::ConfigNode::Type;

std::shared_ptr<const YamlDocument> parse(std::string_view text) {
  model::Diagnostic error;
  auto doc = YamlDocument::parse("deploy.yaml", text, error);
  EXPECT_NE(doc, nullptr) << error.message;
  return doc;
}

TEST(YamlConfigNode, ScalarsFollowTheYaml12CoreSchema) {
  auto doc = parse(
      "a: 12\nb: -7\nc: 0x1F\nd: 0o17\ne: 1.5\nf: 2e3\ng: .inf\nh: true\ni: False\nj: ~\n"
      "k: null\nl:\nm: \"12\"\nn: 'true'\no: yes\np: 1_000\nq: 99999999999999999999\nr: 010\n"
      "s: 10s\nt: !!str 5\n");
  const YamlConfigNode& r = doc->root();
  auto type = [&](const char* k) { return r.find(k).type(); };
  EXPECT_EQ(type("a"), Type::kInteger);
  EXPECT_EQ(r.find("a").as_integer(), 12);
  EXPECT_EQ(r.find("a").as_number(), 12.0);  // integers are numbers too
  EXPECT_EQ(r.find("b").as_integer(), -7);
  EXPECT_EQ(r.find("c").as_integer(), 31);
  EXPECT_EQ(r.find("d").as_integer(), 15);
  EXPECT_EQ(type("e"), Type::kNumber);
  EXPECT_EQ(r.find("e").as_number(), 1.5);
  EXPECT_EQ(r.find("f").as_number(), 2000.0);
  EXPECT_TRUE(std::isinf(r.find("g").as_number()));
  EXPECT_EQ(type("h"), Type::kBool);
  EXPECT_TRUE(r.find("h").as_bool());
  EXPECT_FALSE(r.find("i").as_bool());
  EXPECT_EQ(type("j"), Type::kNull);
  EXPECT_EQ(type("k"), Type::kNull);
  EXPECT_EQ(type("l"), Type::kNull);
  EXPECT_EQ(type("m"), Type::kString);  // quoted: always text
  EXPECT_EQ(r.find("m").text(), "12");
  EXPECT_EQ(type("n"), Type::kString);
  EXPECT_EQ(type("o"), Type::kString);  // YAML 1.1's yes is not a boolean in 1.2
  EXPECT_EQ(type("p"), Type::kString);
  EXPECT_EQ(type("q"), Type::kNumber);
  EXPECT_TRUE(r.find("q").integer_overflow());
  EXPECT_EQ(type("r"), Type::kInteger);  // 1.2: decimal 10, not octal
  EXPECT_EQ(r.find("r").as_integer(), 10);
  EXPECT_EQ(type("s"), Type::kString);
  EXPECT_EQ(type("t"), Type::kString);
}

TEST(YamlConfigNode, NodesKnowWhereTheyAre) {
  auto doc = parse(
      "plugins:\n  - name: a\n  - name: b\n    config:\n      qos: 1\n"
      "      topics: [x, y]\n");
  const YamlConfigNode& config = doc->root().find("plugins").child(1).find("config");
  EXPECT_EQ(config.where(), "deploy.yaml:5:7 plugins[1].config");
  EXPECT_EQ(config.get("qos").where(), "deploy.yaml:5:12 plugins[1].config.qos");
  EXPECT_EQ(config.get("topics").at(1).where(), "deploy.yaml:6:19 plugins[1].config.topics[1]");
  EXPECT_EQ(config.key_line(1), 6u);
  EXPECT_EQ(config.key_column(1), 7u);
  EXPECT_EQ(config.key_at(1), "topics");
  EXPECT_EQ(config.size(), 2u);
}

TEST(YamlConfigNode, MissingNodesPointToTheirParent) {
  auto doc = parse("plugins:\n  - name: a\n    config: {qos: 1}\n");
  const YamlConfigNode& config = doc->root().find("plugins").child(0).find("config");
  const sdk::ConfigNode& absent = config.get("retain");
  EXPECT_TRUE(absent.missing());
  EXPECT_EQ(absent.where(), "deploy.yaml:3:13 plugins[0].config");
  // Missing nodes answer every question without crashing, and stay missing.
  EXPECT_TRUE(absent.get("x").at(3).missing());
  EXPECT_EQ(absent.size(), 0u);
  EXPECT_EQ(absent.text(), "");
  EXPECT_TRUE(config.get("qos").at(0).missing());  // a scalar has no items
  EXPECT_TRUE(doc->root().find("plugins").at(5).missing());
}

TEST(YamlConfigNode, DuplicateAndComplexKeysAreKept) {
  auto doc = parse("a: 1\na: 2\n? [k]\n: v\n");
  const YamlConfigNode& r = doc->root();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r.find("a").as_integer(), 1);  // the first one; the parser reports the second
  EXPECT_TRUE(r.key_is_scalar(1));
  EXPECT_FALSE(r.key_is_scalar(2));
}

TEST(YamlConfigNode, SyntaxErrorsAreLocated) {
  model::Diagnostic error;
  auto doc = YamlDocument::parse("deploy.yaml", "a: [1, 2\nb: 3\n", error);
  EXPECT_EQ(doc, nullptr);
  EXPECT_EQ(error.code, "yamlSyntax");
  EXPECT_EQ(error.location.file, "deploy.yaml");
  EXPECT_EQ(error.location.line, 2u);
}

TEST(YamlConfigNode, EmptyDocumentIsAMissingRoot) {
  auto doc = YamlDocument::empty("deploy.yaml (default storage)");
  EXPECT_TRUE(doc->root().missing());
  EXPECT_EQ(doc->root().get("path").where(), "deploy.yaml (default storage)");
}

}  // namespace
}  // namespace doppel::runtime
