#include "doppel/model/convert.hpp"

#include <gtest/gtest.h>

#include "test_models.hpp"

namespace doppel::model {
namespace {

// A structural summary of a registry, to compare two loads.
std::string summary(const ModelRegistry& r) {
  std::string out;
  for (const Interface* i : r.interfaces()) {
    out += i->id + "{";
    for (const Content* c : i->contents) {
      out += std::string(content_kind_name(c->kind)) + ":" + c->name;
      if (c->schema) out += ":" + std::string(schema_kind_name(c->schema->kind));
      if (c->writable) out += ":w";
      out += ",";
    }
    out += std::string(i->display_name.get()) + "}";
  }
  return out;
}

constexpr const char* kModel = R"({
  "@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"],
  "@id": "dtmi:ex:Tricky;1",
  "@type": "Interface",
  "displayName": {"en": "Tricky: yes", "de": "true"},
  "description": "line one\nline two # not a comment",
  "contents": [
    {"@type": ["Telemetry", "Temperature"], "name": "t", "schema": "double", "unit": "degreeCelsius"},
    {"@type": "Property", "name": "on", "schema": "boolean", "writable": true, "comment": "123"},
    {"@type": "Property", "name": "mode", "schema": {"@type": "Enum", "valueSchema": "integer",
      "enumValues": [{"name": "a", "enumValue": 1}, {"name": "b", "enumValue": -2}]}},
    {"@type": "Relationship", "name": "r", "maxMultiplicity": 3, "properties": []}
  ]
})";

TEST(Convert, JsonToYamlAndBackGivesTheSameRegistry) {
  Diagnostic err;
  auto yaml = convert_document("m.json", kModel, DocumentFormat::kAuto, DocumentFormat::kYaml, err);
  ASSERT_TRUE(yaml) << err.message;
  auto json = convert_document("m.yaml", *yaml, DocumentFormat::kAuto, DocumentFormat::kJson, err);
  ASSERT_TRUE(json) << err.message;

  LoadResult a = testing::load({{"m.json", kModel}});
  LoadResult b = testing::load({{"m.yaml", *yaml}});
  LoadResult c = testing::load({{"m2.json", *json}});
  ASSERT_TRUE(a.ok()) << testing::errors_of(a);
  ASSERT_TRUE(b.ok()) << testing::errors_of(b) << *yaml;
  ASSERT_TRUE(c.ok()) << testing::errors_of(c);
  EXPECT_EQ(summary(*a.registry), summary(*b.registry));
  EXPECT_EQ(summary(*a.registry), summary(*c.registry));
  EXPECT_EQ(b.registry->find("dtmi:ex:Tricky;1")->display_name.get("de"), "true");
  EXPECT_EQ(b.registry->find("dtmi:ex:Tricky;1")->find("on")->comment, "123");
}

TEST(Convert, SyntaxErrorIsLocated) {
  Diagnostic err;
  auto out =
      convert_document("bad.yaml", "a: [1, 2\n", DocumentFormat::kAuto, DocumentFormat::kJson, err);
  EXPECT_FALSE(out);
  EXPECT_EQ(err.location.file, "bad.yaml");
  EXPECT_GE(err.location.line, 1u);
}

}  // namespace
}  // namespace doppel::model
