// Shared by the deployment's parse and check steps; private to core/runtime.
//
// load_deployment runs three steps over one parsed YAML document:
//   1. parse_structure: every key typed and checked (what the JSON Schema also says),
//   2. check_references: twin ids after expansion, relationship endpoints (no models needed),
//   3. check_against_models: models, properties, relationship names and targets, indexes.
// Each step appends to the same diagnostics and keeps going, so one run lists every error.
#pragma once

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/model/diagnostic.hpp"
#include "doppel/runtime/deployment.hpp"
#include "yaml_config_node.hpp"

namespace doppel::model {
class ModelRegistry;
}

namespace doppel::runtime::detail {

// Stable diagnostic codes (docs/deployment.md lists them).
namespace code {
inline constexpr std::string_view kYamlSyntax = "yamlSyntax";
inline constexpr std::string_view kUnreadable = "unreadable";
inline constexpr std::string_view kUnknownKey = "unknownKey";
inline constexpr std::string_view kDuplicateKey = "duplicateKey";
inline constexpr std::string_view kMissingKey = "missingKey";
inline constexpr std::string_view kWrongType = "wrongType";
inline constexpr std::string_view kBadValue = "badValue";
inline constexpr std::string_view kBadDuration = "badDuration";
inline constexpr std::string_view kMissingFile = "missingFile";
inline constexpr std::string_view kDuplicatePlugin = "duplicatePlugin";
inline constexpr std::string_view kStoragePlugins = "storagePlugins";
inline constexpr std::string_view kTooMany = "tooMany";
inline constexpr std::string_view kDuplicateTwinId = "duplicateTwinId";
inline constexpr std::string_view kUnknownTwin = "unknownTwin";
inline constexpr std::string_view kDuplicateRelationshipId = "duplicateRelationshipId";
inline constexpr std::string_view kUnknownModel = "unknownModel";
inline constexpr std::string_view kUnknownProperty = "unknownProperty";
inline constexpr std::string_view kInvalidValue = "invalidValue";
inline constexpr std::string_view kUnknownRelationship = "unknownRelationship";
inline constexpr std::string_view kWrongTarget = "wrongTarget";
inline constexpr std::string_view kMaxMultiplicity = "maxMultiplicity";
inline constexpr std::string_view kDuplicateEntry = "duplicateEntry";
}  // namespace code

class Reporter {
 public:
  explicit Reporter(model::Diagnostics& out) : out_(out) {}

  // An error located at `at` (its path is the diagnostic's path).
  void error(const YamlConfigNode& at, std::string_view code, std::string message,
             std::string hint = {});
  // An error located at the i-th key of map `map`.
  void error_at_key(const YamlConfigNode& map, std::size_t i, std::string_view code,
                    std::string message, std::string hint = {});

 private:
  model::Diagnostics& out_;
};

// Where each typed entry came from, for located errors in later steps. Parallel to the
// vectors of the Deployment.
struct EntrySource {
  const YamlConfigNode* node = nullptr;
  bool usable = false;  // the fields later steps rely on were read
};

struct Parsed {
  DeploymentOptions options;
  Deployment deployment;
  std::vector<const YamlConfigNode*> model_nodes;  // parallel to deployment.models
  std::vector<EntrySource> twins;
  std::vector<EntrySource> relationships;
  std::vector<const YamlConfigNode*> periods;
  std::vector<const YamlConfigNode*> indexes;
  // Per relationship: the distinct (source, target) pairs of twins entries its instances
  // join, filled by check_references for entries whose endpoints are all declared.
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> endpoints;
  bool twins_capped = false;  // more twins than allowed: endpoints are not resolved
};

void parse_structure(const std::shared_ptr<const YamlDocument>& doc,
                     const std::filesystem::path& base_dir, Reporter& report, Parsed& out);

void check_references(Parsed& parsed, Reporter& report);

// Without models: property values typed by their YAML types.
void type_properties_from_yaml(Parsed& parsed);

void check_against_models(Parsed& parsed, const model::ModelRegistry& registry, Reporter& report);

// ---- small helpers shared by the steps ----

// "did you mean 'x'?" for the closest of `candidates` (edit distance <= 2, or <= 1/3 of the
// word), else empty.
std::string suggestion(std::string_view word, const std::vector<std::string_view>& candidates);
std::string join(const std::vector<std::string_view>& items, std::size_t max = 12);
// "a string ('abc')", "an integer (42)", "a map", ...
std::string describe(const YamlConfigNode& node);
// JSON text of a node; with `index` >= 0, "{i}" inside strings is replaced by it.
void append_json(const YamlConfigNode& node, std::int64_t index, std::string& out);
void append_json_string(std::string_view s, std::string& out);
bool contains_index(const YamlConfigNode& node);
// The node at a JSON path such as "$.bearing.bands[2]" under `root`, or the deepest ancestor
// found ("$" is `root`).
const YamlConfigNode& node_at_json_path(const YamlConfigNode& root, std::string_view path);

}  // namespace doppel::runtime::detail
