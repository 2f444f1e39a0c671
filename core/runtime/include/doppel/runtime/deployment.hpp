// The deployment file: what an operator writes (with the models) to run twins. Parsed once at
// the edge into typed structs; every error is collected with its file:line:col.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "doppel/model/diagnostic.hpp"
#include "doppel/model/loader.hpp"
#include "doppel/model/registry.hpp"
#include "doppel/sdk/clock.hpp"
#include "doppel/sdk/config.hpp"
#include "doppel/sdk/plugin.hpp"
#include "doppel/twin/value.hpp"

namespace doppel::runtime {

// A value written in the deployment; strings may contain {i} (expanded per instance).
struct TemplateValue {
  twin::Value value;
  bool has_index = false;  // a string containing {i}

  twin::Value expand(std::int64_t i) const;
};

// "motor-{i}" with count 50 and start 1 gives motor-1 .. motor-50.
struct IdTemplate {
  std::string text;
  bool has_index = false;
  std::string expand(std::int64_t i) const;
};

struct PluginSpec {
  std::string name;
  sdk::PluginKind kind = sdk::PluginKind::kProtocol;
  std::string library;
  std::shared_ptr<const sdk::ConfigNode> config;  // never null (a missing node when absent)
  std::string where;                              // "deploy.yaml:12:5 plugins[1]"
};

struct TwinSpec {
  IdTemplate id;
  std::int64_t count = 1;  // 1 when not a template
  std::int64_t start = 1;
  std::string model;
  std::vector<std::pair<std::string, TemplateValue>> properties;
  sdk::Duration expected_update_period = 0;  // 0: the model's default, or never stale
  std::string where;
};

struct RelationshipSpec {
  IdTemplate source, target, id;
  std::string name;
  std::int64_t count = 1;
  std::int64_t start = 1;
  std::vector<std::pair<std::string, TemplateValue>> properties;
  std::string where;
};

struct ModelPeriod {
  std::string model;
  sdk::Duration period = 0;
};

struct IndexSpec {
  std::string model;
  std::string property;
};

struct LoggingSpec {
  std::string level = "info";
  std::string format = "text";
};

struct Deployment {
  std::filesystem::path file;
  std::string name;
  std::vector<std::filesystem::path> models;  // resolved against the file's folder
  model::UndefinedExtensions undefined_extensions = model::UndefinedExtensions::kPerDefault;
  std::vector<std::filesystem::path> plugin_path;
  std::vector<PluginSpec> plugins;
  std::vector<TwinSpec> twins;
  std::vector<RelationshipSpec> relationships;
  std::vector<ModelPeriod> expected_update_periods;
  std::vector<IndexSpec> indexes;
  std::shared_ptr<const sdk::ConfigNode> rules;    // list of maps, for analytics plugins
  std::shared_ptr<const sdk::ConfigNode> derived;  // list of maps (system twins)
  std::shared_ptr<const sdk::ConfigNode> api;      // REST API settings
  LoggingSpec logging;

  std::size_t twin_count() const;
  // The storage plugin named by the deployment, or nullptr (then: memory).
  const PluginSpec* storage() const;
  // The expected update period of a twin of `model` declared without one.
  sdk::Duration default_period(const model::Interface& interface) const;
};

struct DeploymentLoad {
  std::optional<Deployment> deployment;  // set when there are no errors
  std::shared_ptr<const model::ModelRegistry> models;
  model::Diagnostics diagnostics;

  bool ok() const { return deployment.has_value(); }
};

// Reads, checks and resolves a deployment file and its models. All errors at once.
DeploymentLoad load_deployment(const std::filesystem::path& file);
// Same, from text (for tests); relative model paths resolve against `base_dir`.
DeploymentLoad load_deployment_text(std::string name, std::string text,
                                    const std::filesystem::path& base_dir);

// "250ms", "10s", "5m", "1h", "7d" -> nanoseconds; nullopt when malformed.
std::optional<sdk::Duration> parse_duration(std::string_view text);

}  // namespace doppel::runtime
