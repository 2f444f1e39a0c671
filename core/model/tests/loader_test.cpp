#include <gtest/gtest.h>

#include "test_models.hpp"

namespace doppel::model {
namespace {

using testing::errors_of;
using testing::find_code;
using testing::load;

constexpr const char* kThermostat = R"({
  "@context": "dtmi:dtdl:context;3",
  "@id": "dtmi:com:example:Thermostat;1",
  "@type": "Interface",
  "displayName": {"en": "Thermostat", "it": "Termostato"},
  "contents": [
    {"@type": "Telemetry", "name": "temp", "schema": "double"},
    {"@type": "Property", "name": "setPoint", "schema": "double", "writable": true},
    {"@type": "Command", "name": "reboot",
     "request": {"name": "delay", "schema": "duration"},
     "response": {"name": "at", "schema": "dateTime"}}
  ]
})";

TEST(Loader, LoadsAnInterfaceIntoTheRegistry) {
  LoadResult r = load({{"thermostat.json", kThermostat}});
  ASSERT_TRUE(r.ok()) << errors_of(r);
  const Interface* i = r.registry->find("dtmi:com:example:Thermostat;1");
  ASSERT_NE(i, nullptr);
  EXPECT_EQ(i->dtdl_version, 3);
  EXPECT_EQ(i->display_name.get("it"), "Termostato");
  ASSERT_EQ(i->contents.size(), 3u);
  const Content* sp = i->find("setPoint");
  ASSERT_NE(sp, nullptr);
  EXPECT_EQ(sp->kind, ContentKind::kProperty);
  EXPECT_TRUE(sp->writable);
  EXPECT_EQ(sp->schema->kind, SchemaKind::kDouble);
  const Content* reboot = i->find("reboot");
  ASSERT_TRUE(reboot && reboot->request && reboot->response);
  EXPECT_EQ(reboot->request->schema->kind, SchemaKind::kDuration);
  EXPECT_EQ(reboot->response->name, "at");
  EXPECT_EQ(r.registry->fingerprint().size(), 16u);
}

TEST(Loader, FlattensInheritedContentsAndAncestors) {
  LoadResult r = load({{"m.json", R"([
    {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:Base;1", "@type": "Interface",
     "contents": [{"@type": "Property", "name": "serial", "schema": "string"}]},
    {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:Mid;1", "@type": "Interface", "extends": "dtmi:ex:Base;1",
     "contents": [{"@type": "Telemetry", "name": "t", "schema": "float"}]},
    {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:Leaf;1", "@type": "Interface", "extends": ["dtmi:ex:Mid;1"],
     "contents": [{"@type": "Telemetry", "name": "u", "schema": "long"}]}
  ])"}});
  ASSERT_TRUE(r.ok()) << errors_of(r);
  const Interface* leaf = r.registry->find("dtmi:ex:Leaf;1");
  ASSERT_NE(leaf, nullptr);
  EXPECT_EQ(leaf->contents.size(), 3u);
  ASSERT_NE(leaf->find("serial"), nullptr);
  EXPECT_EQ(leaf->find("serial")->defined_in->id, "dtmi:ex:Base;1");
  EXPECT_TRUE(leaf->is_a("dtmi:ex:Base;1"));
  EXPECT_FALSE(r.registry->find("dtmi:ex:Base;1")->is_a("dtmi:ex:Leaf;1"));
  EXPECT_EQ(r.registry->subtypes_of("dtmi:ex:Mid;1").size(), 2u);
}

TEST(Loader, ComponentsAreReachableByPath) {
  LoadResult r = load({{"m.json", R"([
    {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:Motor;1", "@type": "Interface",
     "contents": [{"@type": "Component", "name": "bearing", "schema": "dtmi:ex:Bearing;1"}]},
    {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:Bearing;1", "@type": "Interface",
     "contents": [{"@type": "Telemetry", "name": "temperature", "schema": "double"}]}
  ])"}});
  ASSERT_TRUE(r.ok()) << errors_of(r);
  const Content* c = r.registry->find("dtmi:ex:Motor;1")->find_path("bearing/temperature");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->kind, ContentKind::kTelemetry);
}

TEST(Loader, ReportsEveryErrorWithItsLocation) {
  // Two independent mistakes: a bad name on line 5 and an unknown schema on line 6.
  LoadResult r = load({{"bad.json", R"({
  "@context": "dtmi:dtdl:context;3",
  "@id": "dtmi:ex:Bad;1",
  "@type": "Interface",
  "contents": [{"@type": "Telemetry", "name": "1bad", "schema": "double"},
               {"@type": "Telemetry", "name": "ok", "schema": "dubble"}]
})"}});
  ASSERT_FALSE(r.ok());
  const Diagnostic* name = find_code(r, "badName");
  ASSERT_NE(name, nullptr) << errors_of(r);
  EXPECT_EQ(name->location.file, "bad.json");
  EXPECT_EQ(name->location.line, 5u);
  EXPECT_EQ(name->location.column, 47u);
  EXPECT_EQ(name->path, "$.contents[0].name");
  const Diagnostic* schema = find_code(r, "undefinedTerm");
  ASSERT_NE(schema, nullptr) << errors_of(r);
  EXPECT_EQ(schema->location.line, 6u);
  EXPECT_NE(schema->message.find("dubble"), std::string::npos);
  EXPECT_FALSE(schema->hint.empty());
  EXPECT_NE(format_diagnostic(*schema).find("bad.json:6:"), std::string::npos);
}

TEST(Loader, NotJsonIsAParseErrorWithPosition) {
  LoadResult r =
      load({{"broken.json", "{\n  \"@context\": \"dtmi:dtdl:context;3\",\n  \"@id\" \"x\"\n}"}});
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.diagnostics.items.size(), 1u);
  EXPECT_EQ(r.diagnostics.items[0].code, "jsonSyntax");
  EXPECT_EQ(r.diagnostics.items[0].location.line, 3u);
}

TEST(Loader, UndefinedReferenceNamesTheReferringPlace) {
  LoadResult r = load(
      {{"m.json", R"({"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:A;1", "@type": "Interface",
    "extends": "dtmi:ex:Missing;1"})"}});
  ASSERT_FALSE(r.ok());
  const Diagnostic* d = find_code(r, "undefinedIdentifier");
  ASSERT_NE(d, nullptr) << errors_of(r);
  EXPECT_EQ(d->element, "dtmi:ex:A;1");
  EXPECT_EQ(d->path, "$.extends");
  EXPECT_NE(d->message.find("dtmi:ex:Missing;1"), std::string::npos);
}

TEST(Loader, ExtendsCycleIsAnError) {
  LoadResult r = load({{"m.json", R"([
    {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:A;1", "@type": "Interface", "extends": "dtmi:ex:B;1"},
    {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:B;1", "@type": "Interface", "extends": "dtmi:ex:A;1"}
  ])"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(find_code(r, "extendsCycle"), nullptr) << errors_of(r);
}

TEST(Loader, DuplicateNameAcrossInheritanceIsAnError) {
  LoadResult r = load({{"m.json", R"([
    {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:A;1", "@type": "Interface",
     "contents": [{"@type": "Property", "name": "x", "schema": "double"}]},
    {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:B;1", "@type": "Interface", "extends": "dtmi:ex:A;1",
     "contents": [{"@type": "Telemetry", "name": "x", "schema": "double"}]}
  ])"}});
  ASSERT_FALSE(r.ok());
  const Diagnostic* d = find_code(r, "duplicateName");
  ASSERT_NE(d, nullptr) << errors_of(r);
  EXPECT_NE(d->message.find("inherited"), std::string::npos);
}

TEST(Loader, ComponentsCannotNest) {
  LoadResult r = load({{"m.json", R"([
    {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:A;1", "@type": "Interface",
     "contents": [{"@type": "Component", "name": "b", "schema": "dtmi:ex:B;1"}]},
    {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:B;1", "@type": "Interface",
     "contents": [{"@type": "Component", "name": "c", "schema": "dtmi:ex:C;1"}]},
    {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:C;1", "@type": "Interface"}
  ])"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(find_code(r, "nestedComponent"), nullptr) << errors_of(r);
}

TEST(Loader, SchemaNestingLimitIsChecked) {
  auto nested = [](int depth) {
    std::string s = "\"double\"";
    for (int i = 0; i < depth; ++i)
      s = R"({"@type": "Array", "elementSchema": )" + s + "}";
    return R"({"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:A;1", "@type": "Interface",
      "contents": [{"@type": "Telemetry", "name": "t", "schema": )" +
           s + "}]}";
  };
  EXPECT_TRUE(load({{"ok.json", nested(5)}}).ok());
  LoadResult r = load({{"deep.json", nested(6)}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(find_code(r, "schemaTooDeep"), nullptr) << errors_of(r);
}

TEST(Loader, Version2LimitsDiffer) {
  // Names are limited to 64 characters in v2 and 512 in v3.
  std::string name(70, 'a');
  auto doc = [&](int v) {
    return "{\"@context\": \"dtmi:dtdl:context;" + std::to_string(v) +
           "\", \"@id\": \"dtmi:ex:A;1\", \"@type\": \"Interface\", \"contents\": [{\"@type\": "
           "\"Property\", \"name\": \"" +
           name + "\", \"schema\": \"double\"}]}";
  };
  EXPECT_FALSE(load({{"v2.json", doc(2)}}).ok());
  EXPECT_TRUE(load({{"v3.json", doc(3)}}).ok());
}

TEST(Loader, EnumValuesMustMatchValueSchema) {
  LoadResult r = load(
      {{"m.json", R"({"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:A;1", "@type": "Interface",
    "contents": [{"@type": "Property", "name": "s", "schema": {"@type": "Enum", "valueSchema": "integer",
      "enumValues": [{"name": "on", "enumValue": 1}, {"name": "off", "enumValue": "0"}]}}]})"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(find_code(r, "badEnumValue"), nullptr) << errors_of(r);
}

TEST(Loader, UndefinedExtensionsFollowTheOption) {
  const std::string doc = R"({"@context": ["dtmi:dtdl:context;3", "dtmi:com:example:myExtension;1"],
    "@id": "dtmi:ex:A;1", "@type": "Interface"})";
  EXPECT_FALSE(load({{"a.json", doc}}).ok());  // v3 per default: error
  LoadOptions always;
  always.undefined_extensions = UndefinedExtensions::kAlways;
  EXPECT_TRUE(load({{"a.json", doc}}, always).ok());
  const std::string v2 = R"({"@context": ["dtmi:dtdl:context;2", "dtmi:com:example:myExtension;1"],
    "@id": "dtmi:ex:A;1", "@type": "Interface"})";
  EXPECT_TRUE(load({{"a.json", v2}}).ok());  // v2 per default: tolerated
  LoadOptions never;
  never.undefined_extensions = UndefinedExtensions::kNever;
  EXPECT_FALSE(load({{"a.json", v2}}, never).ok());
}

TEST(Loader, ResolverSuppliesMissingDefinitions) {
  LoadOptions options;
  int calls = 0;
  options.resolver = [&](const std::vector<std::string>& ids) {
    ++calls;
    EXPECT_EQ(ids, std::vector<std::string>{"dtmi:ex:Base;1"});
    return std::vector<std::string>{
        R"({"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:Base;1", "@type": "Interface",
      "contents": [{"@type": "Property", "name": "p", "schema": "string"}]})"};
  };
  LoadResult r = load(
      {{"a.json", R"({"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:A;1", "@type": "Interface",
    "extends": "dtmi:ex:Base;1"})"}},
      options);
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(calls, 1);
  EXPECT_NE(r.registry->find("dtmi:ex:A;1")->find("p"), nullptr);
}

TEST(Loader, UnresolvedRelationshipTargetIsOnlyAWarning) {
  LoadResult r = load(
      {{"a.json", R"({"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:A;1", "@type": "Interface",
    "contents": [{"@type": "Relationship", "name": "feeds", "target": "dtmi:ex:Elsewhere;1"}]})"}});
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.diagnostics.warning_count(), 1u);
  EXPECT_NE(find_code(r, "unresolvedTarget"), nullptr);
}

TEST(Loader, YamlFormLoadsAndErrorsPointToYamlLines) {
  LoadResult ok = load({{"a.yaml", R"("@context": dtmi:dtdl:context;3
"@id": dtmi:ex:A;1
"@type": Interface
contents:
  - "@type": Telemetry
    name: temperature
    schema: double
  - "@type": Property
    name: label
    schema: string
    writable: true
)"}});
  ASSERT_TRUE(ok.ok()) << errors_of(ok);
  EXPECT_TRUE(ok.registry->find("dtmi:ex:A;1")->find("label")->writable);

  LoadResult bad = load({{"b.yaml", R"("@context": dtmi:dtdl:context;3
"@id": dtmi:ex:A;1
"@type": Interface
contents:
  - "@type": Telemetry
    name: temperature
    schema: doubel
)"}});
  ASSERT_FALSE(bad.ok());
  const Diagnostic* d = find_code(bad, "undefinedTerm");
  ASSERT_NE(d, nullptr) << errors_of(bad);
  EXPECT_EQ(d->location.file, "b.yaml");
  EXPECT_EQ(d->location.line, 7u);
  EXPECT_EQ(d->location.column, 13u);
}

TEST(Loader, JsonAndYamlDocumentsMixInOneSet) {
  LoadResult r = load(
      {{"a.yaml",
        "\"@context\": dtmi:dtdl:context;3\n\"@id\": dtmi:ex:A;1\n\"@type\": Interface\nextends: "
        "dtmi:ex:B;1\n"},
       {"b.json",
        R"({"@context": "dtmi:dtdl:context;2", "@id": "dtmi:ex:B;1", "@type": "Interface"})"}});
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.registry->interfaces().size(), 2u);
}

TEST(Loader, SemanticTypesCarryUnits) {
  LoadResult r =
      load({{"a.json",
             R"({"@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"],
    "@id": "dtmi:ex:A;1", "@type": "Interface",
    "contents": [{"@type": ["Telemetry", "Temperature"], "name": "t", "schema": "double", "unit": "degreeCelsius"}]})"}});
  ASSERT_TRUE(r.ok()) << errors_of(r);
  const Content* t = r.registry->find("dtmi:ex:A;1")->find("t");
  EXPECT_EQ(t->unit_symbol, "degreeCelsius");
  ASSERT_EQ(t->semantic_types.size(), 1u);
}

TEST(Loader, UnitMustFitTheSemanticType) {
  LoadResult r =
      load({{"a.json",
             R"({"@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"],
    "@id": "dtmi:ex:A;1", "@type": "Interface",
    "contents": [{"@type": ["Telemetry", "Temperature"], "name": "t", "schema": "double", "unit": "metre"}]})"}});
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace doppel::model
