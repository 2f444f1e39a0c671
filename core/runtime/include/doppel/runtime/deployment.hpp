// The deployment file: what an operator writes (with the models) to run twins. Parsed once at
// the edge into typed structs; every error is collected with its file:line:col, like a compiler.
// Reference: docs/deployment.md; JSON Schema: schemas/deployment.schema.json.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "doppel/model/diagnostic.hpp"
#include "doppel/model/loader.hpp"
#include "doppel/runtime/logging.hpp"
#include "doppel/sdk/clock.hpp"
#include "doppel/sdk/config.hpp"
#include "doppel/sdk/config_values.hpp"
#include "doppel/sdk/plugin.hpp"

namespace doppel::model {
class ModelRegistry;
struct Interface;
}  // namespace doppel::model

namespace doppel::runtime {

// Text in which every "{i}" stands for the instance index: "motor-{i}" expands to "motor-7".
class IdTemplate {
 public:
  IdTemplate() = default;
  explicit IdTemplate(std::string text);

  const std::string& text() const noexcept { return text_; }
  bool empty() const noexcept { return text_.empty(); }
  bool has_index() const noexcept { return pieces_.size() > 1; }

  std::string expand(std::int64_t i) const;
  // Writes the expansion into `out`, reusing its capacity (no allocation once warm).
  void expand_into(std::int64_t i, std::string& out) const;
  // The index i >= 0 (written without leading zeros) such that expand(i) == text, if any.
  // A text without {i} matches only itself, with index 0.
  std::optional<std::int64_t> match(std::string_view text) const;
  // The literal text before the first {i} and after the last one (the whole text without {i}).
  std::string_view prefix() const noexcept { return pieces_.front(); }
  std::string_view suffix() const noexcept { return pieces_.back(); }

 private:
  std::string text_;
  std::vector<std::string> pieces_{std::string()};  // text_ split at each {i}
};

// A property value as the twin receives it: typed by the property's schema after the model
// check (a double property written as `7` is a kNumber), else by its YAML scalar type.
struct PropertyValue {
  enum class Kind : std::uint8_t { kNull, kBool, kInteger, kNumber, kString, kJson };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::int64_t integer = 0;
  double number = 0;  // kNumber; also set for kInteger
  std::string text;   // kString: the string; kJson: JSON text of an Object, Map or Array value

  friend bool operator==(const PropertyValue&, const PropertyValue&) = default;
};

// A value that may depend on the instance index.
struct TemplateValue {
  enum class Index : std::uint8_t {
    kNone,    // the same value for every instance
    kInText,  // {i} inside a string (or inside the strings of a complex value)
    kNumber,  // the string "{i}" for a numeric schema: the index itself
  };
  PropertyValue value;
  Index index = Index::kNone;

  PropertyValue expand(std::int64_t i) const;
  void expand_into(std::int64_t i, PropertyValue& out) const;
};

struct PropertySpec {
  std::string path;  // "ratedPower"; a property of a Component: "bearing/lubricatedAt"
  TemplateValue value;
};

// A block kept as written (a plugin's config, rules, api) and read through sdk::ConfigNode,
// whose where() names its place in the deployment file. Copies share the parsed document.
class ConfigBlock {
 public:
  ConfigBlock();  // missing
  explicit ConfigBlock(std::shared_ptr<const sdk::ConfigNode> node);
  // A missing block whose where() (and its children's) is `where`.
  static ConfigBlock missing(std::string where);

  const sdk::ConfigNode& node() const noexcept { return *node_; }

 private:
  std::shared_ptr<const sdk::ConfigNode> node_;  // never null
};

struct PluginSpec {
  std::string name;  // instance name, unique in the deployment
  sdk::PluginKind kind = sdk::PluginKind::kProtocol;
  std::string library;  // short name (doppel-<kind>-<library>.so) or a path ending in .so
  std::string where;    // "deploy.yaml:12:5 plugins[1]"
  ConfigBlock config_block;

  // The plugin's `config:` block (a missing node when absent): what configure() receives.
  // Valid while this spec or a copy of it lives. Thread-safe to read.
  const sdk::ConfigNode& config() const noexcept { return config_block.node(); }
};

// One concrete twin or relationship of a spec, computed per index (see InstanceRange).
struct TwinInstance {
  std::int64_t index = 0;
  std::string id;
  std::vector<std::pair<std::string_view, PropertyValue>> properties;  // paths view the spec
};

struct RelationshipInstance {
  std::int64_t index = 0;
  std::string source;
  std::string target;
  std::string id;  // the given id, or "<name>-<target>"
  std::vector<std::pair<std::string_view, PropertyValue>> properties;
};

// The instances start .. start+count-1 of a spec, computed one at a time: a template with
// count 1,000,000 stays one spec. The iterator reuses one instance's buffers.
template <typename Spec, typename Instance>
class InstanceRange {
 public:
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Instance;
    using difference_type = std::ptrdiff_t;
    using pointer = const Instance*;
    using reference = const Instance&;

    iterator() = default;
    iterator(const Spec* spec, std::int64_t i) : spec_(spec), i_(i) { fill(); }
    reference operator*() const { return current_; }
    pointer operator->() const { return &current_; }
    iterator& operator++() {
      ++i_;
      fill();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) { return a.i_ == b.i_; }

   private:
    void fill() {
      if (spec_ && i_ < spec_->start + spec_->count) spec_->instance(i_, current_);
    }
    const Spec* spec_ = nullptr;
    std::int64_t i_ = 0;
    Instance current_;
  };

  explicit InstanceRange(const Spec& spec) : spec_(&spec) {}
  iterator begin() const { return iterator(spec_, spec_->start); }
  iterator end() const { return iterator(nullptr, spec_->start + spec_->count); }
  std::size_t size() const { return static_cast<std::size_t>(spec_->count); }

 private:
  const Spec* spec_;
};

struct TwinSpec {
  IdTemplate id;
  std::int64_t count = 1;  // 1 when not a template
  std::int64_t start = 1;
  std::string model;  // interface DTMI
  std::vector<PropertySpec> properties;
  sdk::Duration expected_update_period = 0;  // 0: the model's default, or never stale
  std::string where;                         // "deploy.yaml:14:5 twins[1]"

  void instance(std::int64_t i, TwinInstance& out) const;
  InstanceRange<TwinSpec, TwinInstance> instances() const {
    return InstanceRange<TwinSpec, TwinInstance>(*this);
  }
};

struct RelationshipSpec {
  IdTemplate source;
  std::string name;  // a Relationship of the source's model
  IdTemplate target;
  IdTemplate id;  // empty: "<name>-<target>"
  std::int64_t count = 1;
  std::int64_t start = 1;
  std::vector<PropertySpec> properties;
  std::string where;

  void instance(std::int64_t i, RelationshipInstance& out) const;
  InstanceRange<RelationshipSpec, RelationshipInstance> instances() const {
    return InstanceRange<RelationshipSpec, RelationshipInstance>(*this);
  }
};

struct ModelPeriod {
  std::string model;
  sdk::Duration period = 0;
};

struct IndexSpec {
  std::string model;
  std::string property;  // slot path: "ratedPower", "bearing/temperature"
};

struct Deployment {
  std::filesystem::path file;
  std::string name;
  std::vector<std::filesystem::path> models;  // resolved against the file's folder
  model::UndefinedExtensions undefined_extensions = model::UndefinedExtensions::kPerDefault;
  std::vector<std::filesystem::path> plugin_path;  // resolved against the file's folder
  // Where plugin instances may keep files: each gets <data_dir>/<plugin name>/ as
  // PluginContext::data_dir. Empty: none (data_dir is "").
  std::filesystem::path data_dir;
  std::vector<PluginSpec> plugins;
  std::vector<TwinSpec> twins;
  std::vector<RelationshipSpec> relationships;
  std::vector<ModelPeriod> expected_update_periods;
  std::vector<IndexSpec> indexes;
  ConfigBlock rules;    // a list of maps, read by analytics plugins
  ConfigBlock derived;  // a list of maps (system twins)
  ConfigBlock api;      // REST API settings (a map)
  LogOptions logging;

  // Twins after expansion (the sum of the counts).
  std::size_t twin_count() const;
  std::size_t relationship_count() const;
  // The storage plugin named by the deployment, or nullptr (then: memory).
  const PluginSpec* storage() const;
  // The expected update period of a twin of `interface` declared without one: the entry for
  // its own model, else for its closest base; 0 when none applies.
  sdk::Duration default_period(const model::Interface& interface) const;
};

struct DeploymentOptions {
  // false: check the file's structure only (no models are loaded, nothing is checked against
  // them). The JSON Schema agreement test uses this.
  bool check_models = true;
  // Caps on the instances after template expansion, summed over all entries.
  std::int64_t max_twins = 10'000'000;
  std::int64_t max_relationships = 10'000'000;
};

struct DeploymentLoad {
  std::optional<Deployment> deployment;                // set when there are no errors
  std::shared_ptr<const model::ModelRegistry> models;  // set when the models loaded
  model::Diagnostics diagnostics;  // every error: the file's, the models', the cross-checks'

  bool ok() const { return deployment.has_value(); }
};

// Reads, checks and resolves a deployment file and its models. Never throws; all errors at
// once. Thread-compatible (independent calls may run in parallel).
DeploymentLoad load_deployment(const std::filesystem::path& file,
                               const DeploymentOptions& options = {});
// Same, from text (for tests and tools); `name` is used in locations and relative paths
// resolve against `base_dir`.
DeploymentLoad load_deployment_text(std::string name, std::string_view text,
                                    const std::filesystem::path& base_dir,
                                    const DeploymentOptions& options = {});

// "250ms", "10s", "5m", "1h", "7d" -> nanoseconds: a positive integer without leading zeros
// and a unit. nullopt when malformed or too large for 64-bit nanoseconds. The SDK's parser, so
// plugins read the durations in their config blocks exactly as the core reads the file's.
using sdk::parse_duration;

}  // namespace doppel::runtime
