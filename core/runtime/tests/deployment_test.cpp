#include "doppel/runtime/deployment.hpp"

#include <gtest/gtest.h>

#include <filesystem>

namespace doppel::runtime {
namespace {

const std::filesystem::path kExamples = DOPPEL_SOURCE_DIR "/examples/deployments";

std::string errors(const DeploymentLoad& r) {
  std::string out;
  for (const auto& d : r.diagnostics.items)
    out += model::format_diagnostic(d) + "\n";
  return out;
}

DeploymentLoad load_text(const std::string& body) {
  return load_deployment_text(
      "deploy.yaml", "apiVersion: doppel/v1\nname: t\nmodels: [../models/factory]\n" + body,
      kExamples);
}

const model::Diagnostic* find(const DeploymentLoad& r, const std::string& text) {
  for (const auto& d : r.diagnostics.items)
    if (d.message.find(text) != std::string::npos) return &d;
  return nullptr;
}

TEST(Deployment, ExamplesAreValid) {
  for (const char* name : {"minimal.yaml", "factory.yaml"}) {
    DeploymentLoad r = load_deployment(kExamples / name);
    EXPECT_TRUE(r.ok()) << name << "\n" << errors(r);
  }
  DeploymentLoad f = load_deployment(kExamples / "factory.yaml");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f.deployment->twin_count(), 51u);
  EXPECT_EQ(f.deployment->twins[1].id.expand(7), "motor-7");
  EXPECT_EQ(f.deployment->twins[1].properties[0].second.expand(7).as_string(), "SN-7");
  ASSERT_NE(f.deployment->storage(), nullptr);
  EXPECT_EQ(f.deployment->storage()->library, "rocksdb");
  EXPECT_EQ(f.deployment->storage()->config->get("durability").text(), "wal");
  EXPECT_EQ(f.deployment->default_period(*f.models->find("dtmi:example:factory:Motor;1")),
            10 * sdk::kSecond);
}

TEST(Deployment, Durations) {
  EXPECT_EQ(parse_duration("250ms"), 250 * sdk::kMillisecond);
  EXPECT_EQ(parse_duration("5m"), 5 * sdk::kMinute);
  EXPECT_EQ(parse_duration("7d"), 7 * 24 * 60 * sdk::kMinute);
  EXPECT_EQ(parse_duration("10"), std::nullopt);
  EXPECT_EQ(parse_duration("10x"), std::nullopt);
  EXPECT_EQ(parse_duration("s"), std::nullopt);
}

TEST(Deployment, TyposAreLocatedWithSuggestions) {
  DeploymentLoad r = load_text("twins:\n  - id: m1\n    modle: \"dtmi:example:factory:Motor;1\"\n");
  ASSERT_FALSE(r.ok());
  const model::Diagnostic* d = find(r, "unknown key 'modle'");
  ASSERT_NE(d, nullptr) << errors(r);
  EXPECT_EQ(d->location.line, 6u);
  EXPECT_EQ(d->location.column, 12u);
  EXPECT_EQ(d->hint, "did you mean 'model'?");
  EXPECT_NE(find(r, "twin model is required"), nullptr) << errors(r);
}

TEST(Deployment, EveryErrorAtOnce) {
  DeploymentLoad r = load_text(R"(plugins:
  - {name: a, kind: storage, library: memory}
  - {name: a, kind: gizmo, library: x}
twins:
  - {id: m1, model: "dtmi:example:factory:Nope;1"}
  - {id: m2, model: "dtmi:example:factory:Motor;1", properties: {ratedPower: fast, colour: red}}
  - {id: m2, model: "dtmi:example:factory:Motor;1", expected_update_period: 10}
relationships:
  - {source: m2, name: contains, target: m2}
)");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(find(r, "plugin name 'a' is used twice"), nullptr) << errors(r);
  EXPECT_NE(find(r, "plugin kind must be protocol, storage, analytics or actuator"), nullptr);
  EXPECT_NE(find(r, "model dtmi:example:factory:Nope;1 is not in the model set"), nullptr);
  const model::Diagnostic* bad_value = find(r, "property 'ratedPower'");
  ASSERT_NE(bad_value, nullptr) << errors(r);
  EXPECT_EQ(bad_value->location.line, 9u);
  EXPECT_NE(find(r, "'colour' is not a property"), nullptr);
  EXPECT_NE(find(r, "twin id 'm2' is used twice"), nullptr);
  EXPECT_NE(find(r, "must be a duration"), nullptr);
  EXPECT_NE(find(r, "has no relationship 'contains'"), nullptr);
}

TEST(Deployment, RelationshipTargetsAndMultiplicity) {
  DeploymentLoad r = load_text(R"(twins:
  - {id: line, model: "dtmi:example:factory:ProductionLine;1"}
  - {id: other, model: "dtmi:example:factory:ProductionLine;1"}
relationships:
  - {source: line, name: contains, target: other}
  - {source: line, name: contains, target: ghost}
)");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(find(r, "must target a dtmi:example:factory:Motor;1"), nullptr) << errors(r);
  EXPECT_NE(find(r, "no twin 'ghost'"), nullptr) << errors(r);
}

TEST(Deployment, ModelErrorsKeepTheirOwnLocation) {
  DeploymentLoad r = load_deployment_text(
      "d.yaml",
      "apiVersion: doppel/v1\nname: t\nmodels: [../../tests/data/models/bad/two-errors.json]\n",
      kExamples);
  ASSERT_FALSE(r.ok());
  ASSERT_FALSE(r.diagnostics.items.empty());
  EXPECT_NE(r.diagnostics.items[0].location.file.find("two-errors.json"), std::string::npos)
      << errors(r);
}

TEST(Deployment, SyntaxErrorHasAPosition) {
  DeploymentLoad r =
      load_deployment_text("broken.yaml", "apiVersion: doppel/v1\nname: [x\n", kExamples);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.diagnostics.items.size(), 1u);
  EXPECT_EQ(r.diagnostics.items[0].code, "yamlSyntax");
  EXPECT_GE(r.diagnostics.items[0].location.line, 2u);
}

TEST(Deployment, PluginConfigNodesAreLocated) {
  DeploymentLoad r = load_text(
      "plugins:\n  - name: store\n    kind: storage\n    library: rocksdb\n    config:\n      "
      "path: /tmp/x\n");
  ASSERT_TRUE(r.ok()) << errors(r);
  const sdk::ConfigNode& path = r.deployment->plugins[0].config->get("path");
  EXPECT_EQ(path.text(), "/tmp/x");
  EXPECT_EQ(path.where(), "deploy.yaml:9:13 plugins[0].config.path");
  EXPECT_TRUE(r.deployment->plugins[0].config->get("durability").missing());
  EXPECT_EQ(r.deployment->plugins[0].config->get("durability").where(),
            "deploy.yaml:9:7 plugins[0].config");
}

TEST(Deployment, MillionTwinTemplateStaysCheap) {
  DeploymentLoad r = load_text(
      "twins:\n  - {id: \"m-{i}\", count: 1000000, model: \"dtmi:example:factory:Motor;1\"}\n");
  ASSERT_TRUE(r.ok()) << errors(r);
  EXPECT_EQ(r.deployment->twin_count(), 1000000u);
}

}  // namespace
}  // namespace doppel::runtime
