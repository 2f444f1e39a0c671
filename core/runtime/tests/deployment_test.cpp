#include "doppel/runtime/deployment.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "doppel/model/registry.hpp"

namespace doppel::runtime {
namespace {

namespace fs = std::filesystem;
const fs::path kExamples = DOPPEL_SOURCE_DIR "/examples/deployments";

std::string errors(const DeploymentLoad& r) {
  std::string out;
  for (const auto& d : r.diagnostics.items)
    out += model::format_diagnostic(d) + "\n";
  return out;
}

// Three header lines, so the body starts on line 4.
DeploymentLoad load_text(const std::string& body, const DeploymentOptions& options = {}) {
  return load_deployment_text(
      "deploy.yaml", "apiVersion: doppel/v1\nname: t\nmodels: [../models/factory]\n" + body,
      kExamples, options);
}

const model::Diagnostic* find(const DeploymentLoad& r, std::string_view code) {
  for (const auto& d : r.diagnostics.items)
    if (d.code == code) return &d;
  return nullptr;
}

// Asserts one diagnostic with `code` at line:column.
void expect_error(const DeploymentLoad& r, std::string_view code, std::uint32_t line,
                  std::uint32_t column, std::string_view path = {}) {
  const model::Diagnostic* d = find(r, code);
  ASSERT_NE(d, nullptr) << "no " << code << " in:\n" << errors(r);
  EXPECT_EQ(d->location.file, "deploy.yaml");
  EXPECT_EQ(d->location.line, line) << errors(r);
  EXPECT_EQ(d->location.column, column) << errors(r);
  if (!path.empty()) {
    EXPECT_EQ(d->path, path);
  }
  EXPECT_FALSE(r.ok());
}

const char* kMotor = "\"dtmi:example:factory:Motor;1\"";
const char* kLine = "\"dtmi:example:factory:ProductionLine;1\"";

// ---- examples ------------------------------------------------------------------------------

TEST(Deployment, FactoryExampleIsTyped) {
  DeploymentLoad r = load_deployment(kExamples / "factory.yaml");
  ASSERT_TRUE(r.ok()) << errors(r);
  const Deployment& d = *r.deployment;
  EXPECT_EQ(d.name, "line-7");
  EXPECT_EQ(d.file, kExamples / "factory.yaml");
  ASSERT_EQ(d.models.size(), 1u);
  EXPECT_EQ(d.models[0].lexically_normal(), (kExamples / "../models/factory").lexically_normal());
  EXPECT_EQ(d.twin_count(), 51u);
  EXPECT_EQ(d.relationship_count(), 50u);
  ASSERT_EQ(d.twins.size(), 2u);
  const TwinSpec& motors = d.twins[1];
  EXPECT_EQ(motors.count, 50);
  EXPECT_EQ(motors.start, 1);
  EXPECT_EQ(motors.id.expand(7), "motor-7");
  EXPECT_EQ(d.twins[0].expected_update_period, sdk::kSecond);

  // Values typed by the model: ratedPower is a double, state a string enum, bearing a component.
  ASSERT_EQ(motors.properties.size(), 4u);
  EXPECT_EQ(motors.properties[0].path, "serialNumber");
  EXPECT_EQ(motors.properties[0].value.expand(7).text, "SN-7");
  EXPECT_EQ(motors.properties[1].path, "ratedPower");
  EXPECT_EQ(motors.properties[1].value.value.kind, PropertyValue::Kind::kNumber);
  EXPECT_EQ(motors.properties[1].value.value.number, 7.5);
  EXPECT_EQ(motors.properties[2].value.value.text, "running");
  EXPECT_EQ(motors.properties[3].path, "bearing/lubricatedAt");
  EXPECT_EQ(motors.properties[3].value.value.kind, PropertyValue::Kind::kString);

  // "{i}" alone fills the integer relationship property `position`.
  const RelationshipSpec& contains = d.relationships[0];
  ASSERT_EQ(contains.properties.size(), 1u);
  PropertyValue position = contains.properties[0].value.expand(12);
  EXPECT_EQ(position.kind, PropertyValue::Kind::kInteger);
  EXPECT_EQ(position.integer, 12);

  ASSERT_NE(d.storage(), nullptr);
  EXPECT_EQ(d.storage()->library, "rocksdb");
  EXPECT_EQ(d.storage()->config().get("durability").text(), "wal");
  EXPECT_EQ(d.default_period(*r.models->find("dtmi:example:factory:Motor;1")), 10 * sdk::kSecond);
  EXPECT_EQ(d.default_period(*r.models->find("dtmi:example:factory:ProductionLine;1")), 0);
  ASSERT_EQ(d.indexes.size(), 2u);
  EXPECT_EQ(d.indexes[1].property, "temperature");
  EXPECT_EQ(d.rules.node().type(), sdk::ConfigNode::Type::kList);
  EXPECT_EQ(d.rules.node().at(0).get("for").text(), "5m");
  EXPECT_TRUE(d.api.node().missing());
  EXPECT_EQ(d.logging.level, sdk::LogLevel::kInfo);
  EXPECT_EQ(d.logging.format, LogFormat::kText);
}

TEST(Deployment, OtherExamplesAreValid) {
  DeploymentLoad minimal = load_deployment(kExamples / "minimal.yaml");
  ASSERT_TRUE(minimal.ok()) << errors(minimal);
  EXPECT_EQ(minimal.deployment->twin_count(), 1u);
  EXPECT_EQ(minimal.deployment->storage(), nullptr);

  DeploymentLoad wind = load_deployment(kExamples / "wind-farm.yaml");
  ASSERT_TRUE(wind.ok()) << errors(wind);
  const Deployment& d = *wind.deployment;
  EXPECT_EQ(d.logging.level, sdk::LogLevel::kWarn);
  EXPECT_EQ(d.logging.format, LogFormat::kJson);
  EXPECT_EQ(d.api.node().get("listen").text(), "127.0.0.1:8080");
  // A Map value keeps its JSON; an integer for a double is a number.
  const TwinSpec& turbines = d.twins[1];
  EXPECT_EQ(turbines.properties[1].value.value.kind, PropertyValue::Kind::kJson);
  EXPECT_EQ(turbines.properties[1].value.value.text, R"({"overspeed":false,"icing":false})");
  EXPECT_EQ(d.twins[0].properties[0].value.value.kind, PropertyValue::Kind::kNumber);
  RelationshipInstance first;
  d.relationships[0].instance(101, first);
  EXPECT_EQ(first.source, "farm-north");
  EXPECT_EQ(first.target, "turbine-101");
  EXPECT_EQ(first.id, "has-turbine-101");
}

// ---- templates and durations ---------------------------------------------------------------

TEST(Deployment, IdTemplates) {
  IdTemplate t("m-{i}-x{i}");
  EXPECT_TRUE(t.has_index());
  EXPECT_EQ(t.expand(42), "m-42-x42");
  EXPECT_EQ(t.match("m-42-x42"), 42);
  EXPECT_EQ(t.match("m-42-x43"), std::nullopt);
  EXPECT_EQ(t.match("m-042-x042"), std::nullopt);  // no leading zeros
  EXPECT_EQ(t.match("m-0-x0"), 0);
  EXPECT_EQ(t.match("m--x"), std::nullopt);
  EXPECT_EQ(t.prefix(), "m-");
  EXPECT_EQ(t.suffix(), "");
  IdTemplate plain("line-7");
  EXPECT_FALSE(plain.has_index());
  EXPECT_EQ(plain.expand(3), "line-7");
  EXPECT_EQ(plain.match("line-7"), 0);
  EXPECT_EQ(plain.match("line-8"), std::nullopt);
  IdTemplate only("{i}");
  EXPECT_EQ(only.match("17"), 17);
  EXPECT_EQ(only.match("17a"), std::nullopt);
}

TEST(Deployment, TemplateExpansionIteratesInstances) {
  DeploymentLoad r = load_text(std::string("twins:\n") +
                               "  - {id: \"m{i}\", count: 3, start: 5, model: " + kMotor +
                               ", properties: {serialNumber: \"S{i}\", ratedPower: 2}}\n");
  ASSERT_TRUE(r.ok()) << errors(r);
  const TwinSpec& t = r.deployment->twins[0];
  std::vector<std::string> ids;
  std::vector<std::string> serials;
  for (const TwinInstance& twin : t.instances()) {
    ids.push_back(twin.id);
    ASSERT_EQ(twin.properties.size(), 2u);
    EXPECT_EQ(twin.properties[0].first, "serialNumber");
    serials.push_back(twin.properties[0].second.text);
    EXPECT_EQ(twin.properties[1].second.kind, PropertyValue::Kind::kNumber);
    EXPECT_EQ(twin.properties[1].second.number, 2.0);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"m5", "m6", "m7"}));
  EXPECT_EQ(serials, (std::vector<std::string>{"S5", "S6", "S7"}));
  EXPECT_EQ(t.instances().size(), 3u);
}

TEST(Deployment, RelationshipIdsDefaultToNameAndTarget) {
  DeploymentLoad r = load_text(std::string("twins:\n") + "  - {id: line, model: " + kLine +
                               "}\n  - {id: \"m{i}\", count: 2, model: " + kMotor +
                               "}\nrelationships:\n"
                               "  - {source: line, name: contains, target: \"m{i}\", count: 2}\n");
  ASSERT_TRUE(r.ok()) << errors(r);
  std::vector<std::string> ids;
  for (const RelationshipInstance& rel : r.deployment->relationships[0].instances())
    ids.push_back(rel.source + " " + rel.id + " " + rel.target);
  EXPECT_EQ(ids, (std::vector<std::string>{"line contains-m1 m1", "line contains-m2 m2"}));
}

TEST(Deployment, Durations) {
  EXPECT_EQ(parse_duration("250ms"), 250 * sdk::kMillisecond);
  EXPECT_EQ(parse_duration("10s"), 10 * sdk::kSecond);
  EXPECT_EQ(parse_duration("5m"), 5 * sdk::kMinute);
  EXPECT_EQ(parse_duration("1h"), 60 * sdk::kMinute);
  EXPECT_EQ(parse_duration("7d"), 7 * 24 * 60 * sdk::kMinute);
  EXPECT_EQ(parse_duration("10"), std::nullopt);
  EXPECT_EQ(parse_duration("10x"), std::nullopt);
  EXPECT_EQ(parse_duration("10 s"), std::nullopt);
  EXPECT_EQ(parse_duration("s"), std::nullopt);
  EXPECT_EQ(parse_duration("0s"), std::nullopt);
  EXPECT_EQ(parse_duration("010s"), std::nullopt);
  EXPECT_EQ(parse_duration("-5s"), std::nullopt);
  EXPECT_EQ(parse_duration("1.5s"), std::nullopt);
  EXPECT_EQ(parse_duration("106751d"), 106751 * 24 * 60 * sdk::kMinute);
  EXPECT_EQ(parse_duration("106752d"), std::nullopt);  // beyond 64-bit nanoseconds
}

TEST(Deployment, PlainIntegerDurationGetsAHint) {
  DeploymentLoad r =
      load_text("expected_update_periods:\n  - {model: \"dtmi:a:B;1\", period: 10}\n");
  expect_error(r, "badDuration", 5, 35, "expected_update_periods[0].period");
  EXPECT_NE(find(r, "badDuration")->hint.find("10s"), std::string::npos);
}

TEST(Deployment, FractionalDurationsAreRefused) {
  DeploymentLoad r =
      load_text("expected_update_periods:\n  - {model: \"dtmi:a:B;1\", period: 1.5}\n");
  expect_error(r, "badDuration", 5, 35);
  EXPECT_EQ(find(r, "badDuration")->hint,
            "write a positive whole number and a unit, e.g. 1500ms rather than 1.5");
}

// ---- structure -----------------------------------------------------------------------------

TEST(Deployment, UnknownKeysSuggestTheClosest) {
  DeploymentLoad r =
      load_text("plugns: []\ntwins:\n  - id: m1\n    modle: " + std::string(kMotor) + "\n");
  expect_error(r, "unknownKey", 4, 1, "plugns");
  EXPECT_EQ(find(r, "unknownKey")->hint, "did you mean 'plugins'?");
  EXPECT_EQ(model::format_diagnostic(*find(r, "unknownKey")),
            "deploy.yaml:4:1: error: unknown key 'plugns' in the deployment [plugns]; did you "
            "mean 'plugins'?");
  const model::Diagnostic* modle = &r.diagnostics.items.back();
  EXPECT_EQ(modle->message, "unknown key 'modle' in a twin");
  EXPECT_EQ(modle->location.line, 7u);
  EXPECT_EQ(modle->location.column, 5u);
  EXPECT_EQ(modle->hint, "did you mean 'model'?");
  // The twin without its model is reported at the twin.
  const model::Diagnostic* missing = find(r, "missingKey");
  ASSERT_NE(missing, nullptr);
  EXPECT_EQ(missing->location.line, 6u);
  EXPECT_EQ(missing->path, "twins[0]");
}

TEST(Deployment, FarKeysListTheKnownOnes) {
  DeploymentLoad r = load_text("logging: {colour: red}\n");
  expect_error(r, "unknownKey", 4, 11, "logging.colour");
  EXPECT_EQ(find(r, "unknownKey")->hint, "the keys of logging are level, format");
}

TEST(Deployment, TypesAreChecked) {
  DeploymentLoad r = load_deployment_text(
      "deploy.yaml",
      "apiVersion: 1\nname: \"\"\nmodels: models\nplugins: {}\ntwins:\n"
      "  - {id: 7, count: \"3\", start: -1, model: \"dtmi:x:Y;1\", properties: [a]}\n"
      "api: [x]\nrules: {}\nderived: [x]\nlogging: {level: 3}\n",
      kExamples);
  ASSERT_FALSE(r.ok());
  std::vector<std::string> got;
  for (const auto& d : r.diagnostics.items)
    got.push_back(std::to_string(d.location.line) + ":" + std::to_string(d.location.column) + " " +
                  d.code + " " + d.path);
  EXPECT_EQ(got, (std::vector<std::string>{
                     "1:13 wrongType apiVersion",
                     "2:7 badValue name",
                     "3:9 wrongType models",
                     "4:10 wrongType plugins",
                     "6:10 wrongType twins[0].id",
                     "6:20 wrongType twins[0].count",
                     "6:32 badValue twins[0].start",
                     "6:69 wrongType twins[0].properties",
                     "7:6 wrongType api",
                     "8:8 wrongType rules",
                     "9:11 wrongType derived[0]",
                     "10:18 wrongType logging.level",
                 }))
      << errors(r);
  EXPECT_EQ(r.diagnostics.items[4].hint, "quote it to write text: \"7\"");
}

TEST(Deployment, IntegralNumbersAreIntegersAsInJsonSchema) {
  DeploymentLoad r =
      load_text("twins:\n  - {id: \"m{i}\", count: 2.0, model: " + std::string(kMotor) + "}\n");
  ASSERT_TRUE(r.ok()) << errors(r);
  EXPECT_EQ(r.deployment->twins[0].count, 2);
  EXPECT_FALSE(
      load_text("twins:\n  - {id: \"m{i}\", count: 2.5, model: " + std::string(kMotor) + "}\n")
          .ok());
}

TEST(Deployment, EmptyAndNonMapFiles) {
  DeploymentLoad empty = load_deployment_text("deploy.yaml", "", kExamples);
  ASSERT_EQ(empty.diagnostics.items.size(), 1u) << errors(empty);
  EXPECT_EQ(empty.diagnostics.items[0].code, "wrongType");
  EXPECT_EQ(empty.diagnostics.items[0].location.line, 1u);
  DeploymentLoad list = load_deployment_text("deploy.yaml", "- a\n- b\n", kExamples);
  EXPECT_EQ(list.diagnostics.items.at(0).code, "wrongType");
}

TEST(Deployment, SyntaxErrorHasAPosition) {
  DeploymentLoad r = load_deployment_text(
      "deploy.yaml", "apiVersion: doppel/v1\nname: x\n  bad: indent\n", kExamples);
  ASSERT_EQ(r.diagnostics.items.size(), 1u);
  const model::Diagnostic& d = r.diagnostics.items[0];
  EXPECT_EQ(d.code, "yamlSyntax");
  EXPECT_EQ(d.location.file, "deploy.yaml");
  EXPECT_EQ(d.location.line, 3u);
  EXPECT_EQ(d.location.column, 6u);
  EXPECT_NE(d.message.find("not valid YAML"), std::string::npos);
}

TEST(Deployment, DuplicateKeysAreErrors) {
  DeploymentLoad r = load_text(
      "plugins:\n  - {name: a, kind: storage, library: memory,"
      " config: {x: 1, x: 2}}\n");
  expect_error(r, "duplicateKey", 5, 62, "plugins[0].config.x");
}

TEST(Deployment, PluginRules) {
  DeploymentLoad r = load_text(
      "plugins:\n"
      "  - {name: a, kind: storage, library: memory}\n"
      "  - {name: a, kind: analytics, library: rules}\n"
      "  - {name: b, kind: storage, library: ./libx.so}\n"
      "  - {name: C, kind: gadget, library: \"x y\"}\n"
      "  - {kind: protocol}\n");
  ASSERT_FALSE(r.ok());
  expect_error(r, "duplicatePlugin", 6, 12, "plugins[1].name");
  expect_error(r, "storagePlugins", 7, 21, "plugins[2].kind");
  std::vector<std::string> rest;
  for (const auto& d : r.diagnostics.items)
    if (d.location.line >= 8)
      rest.push_back(std::to_string(d.location.line) + ":" + std::to_string(d.location.column) +
                     " " + d.code);
  EXPECT_EQ(rest, (std::vector<std::string>{"8:12 badValue", "8:21 badValue", "8:38 badValue",
                                            "9:5 missingKey", "9:5 missingKey"}))
      << errors(r);
}

TEST(Deployment, PluginConfigNodesAreLocated) {
  DeploymentLoad r = load_text(
      "plugins:\n  - name: store\n    kind: storage\n    library: rocksdb\n    config:\n      "
      "path: /tmp/x\n      qos: [1, 2]\n  - {name: m, kind: protocol, library: mqtt}\n");
  ASSERT_TRUE(r.ok()) << errors(r);
  const sdk::ConfigNode& config = r.deployment->plugins[0].config();
  EXPECT_EQ(config.where(), "deploy.yaml:9:7 plugins[0].config");
  EXPECT_EQ(config.get("path").text(), "/tmp/x");
  EXPECT_EQ(config.get("path").where(), "deploy.yaml:9:13 plugins[0].config.path");
  EXPECT_EQ(config.get("qos").at(1).where(), "deploy.yaml:10:16 plugins[0].config.qos[1]");
  EXPECT_EQ(config.get("qos").at(1).as_integer(), 2);
  // A missing key points to the map that lacks it.
  EXPECT_TRUE(config.get("durability").missing());
  EXPECT_EQ(config.get("durability").where(), "deploy.yaml:9:7 plugins[0].config");
  // No config at all: a missing node at the plugin entry.
  const sdk::ConfigNode& none = r.deployment->plugins[1].config();
  EXPECT_TRUE(none.missing());
  EXPECT_EQ(none.get("url").where(), "deploy.yaml:11:5 plugins[1]");
  EXPECT_EQ(r.deployment->plugins[1].where, "deploy.yaml:11:5 plugins[1]");
  // The config outlives the load result and the deployment it came from.
  PluginSpec copy = r.deployment->plugins[0];
  r = {};
  EXPECT_EQ(copy.config().get("path").text(), "/tmp/x");
}

TEST(Deployment, ModelPathsMustExist) {
  DeploymentLoad r = load_deployment_text(
      "deploy.yaml", "apiVersion: doppel/v1\nname: t\nmodels: [../models/factory, nowhere/]\n",
      kExamples);
  expect_error(r, "missingFile", 3, 29, "models[1]");
  EXPECT_NE(r.models, nullptr);  // the others are still loaded
}

TEST(Deployment, ModelErrorsKeepTheirOwnLocation) {
  DeploymentLoad r = load_deployment_text(
      "d.yaml",
      "apiVersion: doppel/v1\nname: t\nmodels: [../../tests/data/models/bad/two-errors.json]\n"
      "plugns: []\n",
      kExamples);
  ASSERT_FALSE(r.ok());
  ASSERT_GE(r.diagnostics.items.size(), 3u) << errors(r);
  // The deployment's own errors first, then the models' with their files and positions.
  EXPECT_EQ(r.diagnostics.items[0].location.file, "d.yaml");
  EXPECT_EQ(r.diagnostics.items[0].code, "unknownKey");
  for (std::size_t i = 1; i < r.diagnostics.items.size(); ++i) {
    EXPECT_NE(r.diagnostics.items[i].location.file.find("two-errors.json"), std::string::npos);
    EXPECT_GT(r.diagnostics.items[i].location.line, 0u);
  }
}

TEST(Deployment, UnreadableFiles) {
  for (const fs::path& p : {kExamples / "no-such.yaml", kExamples}) {
    DeploymentLoad r = load_deployment(p);
    ASSERT_EQ(r.diagnostics.items.size(), 1u) << errors(r);
    EXPECT_EQ(r.diagnostics.items[0].code, "unreadable");
    EXPECT_EQ(r.diagnostics.items[0].location.file, p.string());
  }
}

// ---- twin ids and relationships ------------------------------------------------------------

TEST(Deployment, DuplicateTwinIdsAfterExpansion) {
  DeploymentLoad r =
      load_text(std::string("twins:\n") + "  - {id: \"m{i}\", count: 20, model: " + kMotor + "}\n" +
                "  - {id: \"m1{i}\", count: 5, model: " + kMotor + "}\n" +
                "  - {id: m21, model: " + kMotor + "}\n" + "  - {id: m21, model: " + kMotor +
                "}\n" + "  - {id: \"x{i}\", count: 5, model: " + kMotor + "}\n");
  ASSERT_FALSE(r.ok());
  std::vector<std::string> got;
  for (const auto& d : r.diagnostics.items)
    got.push_back(std::to_string(d.location.line) + " " + d.code + " " + d.message);
  EXPECT_EQ(got, (std::vector<std::string>{
                     "6 duplicateTwinId twin id 'm11' is also declared by twins[0] (line 5)",
                     "8 duplicateTwinId twin id 'm21' is also declared by twins[2] (line 7)",
                 }))
      << errors(r);
}

TEST(Deployment, RelationshipEndpointsMustBeDeclared) {
  DeploymentLoad r = load_text(std::string("twins:\n") + "  - {id: line, model: " + kLine +
                               "}\n  - {id: \"m{i}\", count: 50, model: " + kMotor +
                               "}\nrelationships:\n"
                               "  - {source: line, name: contains, target: \"m{i}\", count: 60}\n"
                               "  - {source: lien, name: contains, target: m1}\n");
  expect_error(r, "unknownTwin", 8, 44, "relationships[0].target");
  EXPECT_EQ(find(r, "unknownTwin")->message,
            "no twin 'm51' in this deployment (10 of the 60 targets are not declared)");
  EXPECT_EQ(find(r, "unknownTwin")->hint, "twins[1] makes m1 .. m50");
  const model::Diagnostic& lien = r.diagnostics.items.back();
  EXPECT_EQ(lien.location.line, 9u);
  EXPECT_EQ(lien.hint, "did you mean 'line'?");
}

TEST(Deployment, AnUnreadableTwinIsNotReportedAgainByRelationships) {
  DeploymentLoad r = load_text(std::string("twins:\n") + "  - {id: line, model: " + kLine +
                               "}\n  - {id: \"m{i}\", count: \"5\", model: " + kMotor +
                               "}\nrelationships:\n"
                               "  - {source: line, name: contains, target: \"m{i}\", count: 5}\n");
  ASSERT_EQ(r.diagnostics.items.size(), 1u) << errors(r);
  EXPECT_EQ(r.diagnostics.items[0].code, "wrongType");
}

TEST(Deployment, RelationshipIdsAreUniquePerSource) {
  DeploymentLoad r = load_text(
      std::string("twins:\n") + "  - {id: line, model: " + kLine +
      "}\n  - {id: \"m{i}\", count: 5, model: " + kMotor +
      "}\nrelationships:\n"
      "  - {source: line, name: contains, target: \"m{i}\", count: 3}\n"
      "  - {source: line, name: contains, target: \"m{i}\", count: 2, start: 3}\n"
      "  - {source: line, name: contains, target: \"m{i}\", id: same, count: 2, start: 4}\n");
  ASSERT_FALSE(r.ok());
  std::vector<std::string> got;
  for (const auto& d : r.diagnostics.items)
    got.push_back(std::to_string(d.location.line) + " " + d.code + " " + d.message);
  EXPECT_EQ(got, (std::vector<std::string>{
                     "9 duplicateRelationshipId twin 'line' would have two relationships with id "
                     "'contains-m3': this one and relationships[0] (line 8)",
                     "10 duplicateRelationshipId twin 'line' would have two relationships with id "
                     "'same': this one and another instance of the same entry",
                 }))
      << errors(r);
}

TEST(Deployment, RelationshipsAreCheckedAgainstTheModels) {
  DeploymentLoad r =
      load_text(std::string("twins:\n") + "  - {id: line, model: " + kLine +
                "}\n  - {id: other, model: " + kLine + "}\n  - {id: m1, model: " + kMotor +
                "}\nrelationships:\n"
                "  - {source: line, name: contains, target: other}\n"
                "  - {source: m1, name: contains, target: line}\n"
                "  - {source: line, name: contains, target: m1,"
                " properties: {position: x, slot: 1}}\n");
  ASSERT_FALSE(r.ok());
  std::vector<std::string> got;
  for (const auto& d : r.diagnostics.items)
    got.push_back(std::to_string(d.location.line) + ":" + std::to_string(d.location.column) + " " +
                  d.code + " " + d.path);
  EXPECT_EQ(got, (std::vector<std::string>{
                     "9:44 wrongTarget relationships[0].target",
                     "10:24 unknownRelationship relationships[1].name",
                     "11:71 invalidValue relationships[2].properties.position",
                     "11:74 unknownProperty relationships[2].properties.slot",
                 }))
      << errors(r);
  EXPECT_EQ(r.diagnostics.items[0].message,
            "relationship 'contains' of dtmi:example:factory:ProductionLine;1 must target a "
            "dtmi:example:factory:Motor;1, but 'other' is a dtmi:example:factory:ProductionLine;1");
}

// A model set written for one test.
struct TempModels {
  fs::path dir;
  explicit TempModels(const std::string& json) {
    dir = fs::temp_directory_path() /
          ("doppel-deploy-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
           "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir);
    std::ofstream(dir / "models.json") << json;
  }
  ~TempModels() { fs::remove_all(dir); }
  DeploymentLoad load(const std::string& body) const {
    return load_deployment_text(
        "deploy.yaml", "apiVersion: doppel/v1\nname: t\nmodels: [models.json]\n" + body, dir);
  }
};

const char* kCellModels = R"([
  {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:t:Cell;1", "@type": "Interface",
   "contents": [{"@type": "Relationship", "name": "holds", "target": "dtmi:t:Robot;1",
                 "maxMultiplicity": 2, "properties": [{"@type": "Property", "name": "at",
                                                       "schema": "date"}]}]},
  {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:t:Robot;1", "@type": "Interface",
   "contents": [{"@type": "Property", "name": "level", "schema": "integer"}]},
  {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:t:Welder;1", "@type": "Interface",
   "extends": "dtmi:t:Robot;1"}
])";

TEST(Deployment, MaxMultiplicityCountsAcrossEntries) {
  TempModels m(kCellModels);
  DeploymentLoad ok = m.load(
      "twins:\n  - {id: c, model: \"dtmi:t:Cell;1\"}\n"
      "  - {id: \"r{i}\", count: 3, model: \"dtmi:t:Welder;1\"}\n"
      "relationships:\n  - {source: c, name: holds, target: r1}\n"
      "  - {source: c, name: holds, target: r2, properties: {at: \"2026-01-01\"}}\n");
  EXPECT_TRUE(ok.ok()) << errors(ok);  // a Welder is a Robot
  DeploymentLoad r = m.load(
      "twins:\n  - {id: c, model: \"dtmi:t:Cell;1\"}\n"
      "  - {id: \"r{i}\", count: 3, model: \"dtmi:t:Robot;1\"}\n"
      "relationships:\n  - {source: c, name: holds, target: r1}\n"
      "  - {source: c, name: holds, target: \"r{i}\", count: 2, start: 2}\n");
  expect_error(r, "maxMultiplicity", 9, 5, "relationships[1]");
  EXPECT_EQ(find(r, "maxMultiplicity")->message,
            "twin 'c' would have more than 2 'holds' relationships, the maxMultiplicity of "
            "dtmi:t:Cell;1");
}

TEST(Deployment, NumericTemplatesAndValueRanges) {
  TempModels m(kCellModels);
  // "{i}" alone fills an integer; its range is checked at both ends of the entry.
  DeploymentLoad ok = m.load(
      "twins:\n  - {id: \"r{i}\", count: 3, model: \"dtmi:t:Robot;1\", properties: {level: "
      "\"{i}\"}}\n");
  ASSERT_TRUE(ok.ok()) << errors(ok);
  EXPECT_EQ(ok.deployment->twins[0].properties[0].value.expand(3).integer, 3);
  DeploymentLoad big = m.load(
      "twins:\n  - {id: \"r{i}\", count: 3, start: 2147483646, model: \"dtmi:t:Robot;1\","
      " properties: {level: \"{i}\"}}\n");
  expect_error(big, "invalidValue", 5, 92, "twins[0].properties.level");
  EXPECT_NE(find(big, "invalidValue")->message.find("for {i} = 2147483648"), std::string::npos);
  DeploymentLoad text = m.load(
      "twins:\n  - {id: \"r{i}\", count: 3, model: \"dtmi:t:Robot;1\", properties: {level: "
      "\"1{i}\"}}\n");
  expect_error(text, "invalidValue", 5, 73);
  EXPECT_NE(find(text, "invalidValue")->hint.find("only \"{i}\" alone"), std::string::npos);
}

TEST(Deployment, EveryErrorAtOnce) {
  DeploymentLoad r = load_text(std::string("plugins:\n") +
                               "  - {name: a, kind: storage, library: memory}\n"
                               "  - {name: a, kind: gizmo, library: x}\n"
                               "twins:\n"
                               "  - {id: m1, model: \"dtmi:example:factory:Nope;1\"}\n"
                               "  - {id: m2, model: " +
                               kMotor +
                               ", properties: {ratedPower: fast, colour: red}}\n"
                               "  - {id: m2, model: " +
                               kMotor +
                               ", expected_update_period: 10}\n"
                               "relationships:\n"
                               "  - {source: m2, name: contains, target: m2}\n"
                               "indexes:\n  - {model: " +
                               kMotor + ", property: temprature}\n");
  std::vector<std::string> codes;
  for (const auto& d : r.diagnostics.items)
    codes.push_back(std::to_string(d.location.line) + " " + d.code);
  EXPECT_EQ(codes, (std::vector<std::string>{"6 duplicatePlugin", "6 badValue", "8 unknownModel",
                                             "9 invalidValue", "9 unknownProperty",
                                             "10 duplicateTwinId", "10 badDuration",
                                             "12 unknownRelationship", "14 unknownProperty"}))
      << errors(r);
  EXPECT_EQ(find(r, "unknownModel")->hint, "did you mean 'dtmi:example:factory:Motor;1'?");
  EXPECT_EQ(find(r, "unknownProperty")->hint,
            "its properties: ratedPower, state, targetSpeed, serialNumber, bearing");
}

TEST(Deployment, ComponentsAndTelemetry) {
  DeploymentLoad r = load_text(std::string("twins:\n  - id: m1\n    model: ") + kMotor +
                               "\n    properties:\n      temperature: 20\n"
                               "      bearing: {lubricatedAt: \"2026-01-01T00:00:00Z\", rpm: 3}\n"
                               "      state: 7\n");
  std::vector<std::string> got;
  for (const auto& d : r.diagnostics.items)
    got.push_back(std::to_string(d.location.line) + ":" + std::to_string(d.location.column) + " " +
                  d.code + " " + d.path);
  EXPECT_EQ(got, (std::vector<std::string>{
                     "8:7 unknownProperty twins[0].properties.temperature",
                     "9:55 unknownProperty twins[0].properties.bearing.rpm",
                     "10:14 invalidValue twins[0].properties.state",
                 }))
      << errors(r);
}

TEST(Deployment, IndexesAndPeriodsNameModelsAndProperties) {
  DeploymentLoad r = load_text(std::string("expected_update_periods:\n") +
                               "  - {model: \"dtmi:x:Nope;1\", period: 1s}\n"
                               "  - {model: " +
                               kMotor + ", period: 1s}\n  - {model: " + kMotor +
                               ", period: 2s}\nindexes:\n  - {model: " + kMotor +
                               ", property: bearing/temperature}\n  - {model: " + kMotor +
                               ", property: reduceLoad}\n  - {model: " + kMotor +
                               ", property: bearing/temperature}\n");
  std::vector<std::string> got;
  for (const auto& d : r.diagnostics.items)
    got.push_back(std::to_string(d.location.line) + " " + d.code);
  EXPECT_EQ(got, (std::vector<std::string>{"5 unknownModel", "7 duplicateEntry",
                                           "10 unknownProperty", "11 duplicateEntry"}))
      << errors(r);
}

TEST(Deployment, StructureOnlySkipsTheModels) {
  DeploymentOptions structure;
  structure.check_models = false;
  std::string body =
      "twins:\n  - {id: \"m{i}\", count: 2, model: \"dtmi:x:Nope;1\","
      " properties: {a: \"v{i}\", b: 2, c: [1, x]}}\n";
  DeploymentLoad r = load_text(body, structure);
  ASSERT_TRUE(r.ok()) << errors(r);
  EXPECT_EQ(r.models, nullptr);
  const auto& props = r.deployment->twins[0].properties;
  ASSERT_EQ(props.size(), 3u);
  EXPECT_EQ(props[0].value.expand(2).text, "v2");
  EXPECT_EQ(props[1].value.value.kind, PropertyValue::Kind::kInteger);
  EXPECT_EQ(props[2].value.value.text, R"([1,"x"])");
  EXPECT_FALSE(load_text(body).ok());  // with the models: the model is unknown
}

// ---- expansion stays cheap -----------------------------------------------------------------

TEST(Deployment, TemplatesAreNotExpandedToCheckThem) {
  // Ten million twins and as many relationships: a per-instance check would take seconds.
  auto t0 = std::chrono::steady_clock::now();
  DeploymentLoad r = load_text(std::string("twins:\n") + "  - {id: line, model: " + kLine +
                               "}\n  - {id: \"m-{i}\", count: 9999999, model: " + kMotor +
                               ", properties: {serialNumber: \"SN-{i}\", ratedPower: 1.5}}\n"
                               "relationships:\n  - {source: line, name: contains, target: "
                               "\"m-{i}\", count: 9999999, properties: {position: \"{i}\"}}\n");
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r.ok()) << errors(r);
  EXPECT_EQ(r.deployment->twin_count(), 10'000'000u);
  EXPECT_LT(seconds, 1.0);
}

TEST(Deployment, MillionTwinsIterateQuickly) {
  DeploymentLoad r =
      load_text("twins:\n  - {id: \"m-{i}\", count: 1000000, model: " + std::string(kMotor) +
                ", properties: {ratedPower: 1.5}}\n");
  ASSERT_TRUE(r.ok()) << errors(r);
  auto t0 = std::chrono::steady_clock::now();
  std::size_t n = 0, chars = 0;
  for (const TwinInstance& twin : r.deployment->twins[0].instances()) {
    ++n;
    chars += twin.id.size();
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(n, 1'000'000u);
  // "m-" and the digits of 1 .. 1,000,000.
  EXPECT_EQ(chars,
            2u * 1'000'000u + 9u + 90u * 2 + 900u * 3 + 9000u * 4 + 90000u * 5 + 900000u * 6 + 7u);
  EXPECT_LT(seconds, 1.0);
}

TEST(Deployment, TwinCapIsEnforced) {
  DeploymentOptions small;
  small.max_twins = 100;
  DeploymentLoad r =
      load_text(std::string("twins:\n") + "  - {id: \"a{i}\", count: 60, model: " + kMotor +
                    "}\n  - {id: \"b{i}\", count: 60, model: " + kMotor + "}\n",
                small);
  expect_error(r, "tooMany", 6, 5, "twins[1]");
}

}  // namespace
}  // namespace doppel::runtime
