// Rules as configured: parsed from the deployment's `rules:` list (or the plugin's own `rules`
// key), checked against the models at load, with errors located at the YAML node.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "doppel/sdk/config.hpp"
#include "doppel/sdk/status.hpp"
#include "doppel/sdk/twins.hpp"
#include "expression.hpp"

namespace doppel::plugins::rules {

// A model as describe() reports it, owned (the SDK's views live only during the call).
class ModelSchema final : public Schema {
 public:
  struct Command {
    std::string component, name;
    sdk::ValueType request;
  };
  // nullptr when the model is unknown. `cache` keeps related models alive and shared.
  static const ModelSchema* load(sdk::TwinAccess& twins, const std::string& dtmi,
                                 std::map<std::string, std::unique_ptr<ModelSchema>>& cache);

  const sdk::ModelSlot* slot(std::string_view path) const override;
  const Schema* related(std::string_view name) const override;
  std::string slot_names() const override;
  std::string writable_names() const;
  std::string relationship_names() const override;
  const Command* command(std::string_view component, std::string_view name) const;
  std::string command_names() const;

  std::string id;

 private:
  std::vector<std::string> strings_;  // backing for slot views
  std::vector<sdk::ModelSlot> slots_;
  std::vector<Command> commands_;
  std::vector<std::pair<std::string, std::string>> relationships_;  // name, target
  sdk::TwinAccess* twins_ = nullptr;
  std::map<std::string, std::unique_ptr<ModelSchema>>* cache_ = nullptr;
};

struct Action {
  enum class Kind : std::uint8_t { kCommand, kDesired };
  Kind kind;
  std::string component;  // command
  std::string name;       // command name or desired property path
  std::string json;       // request payload or desired value ("" for none)
};

struct Rule {
  std::string name;
  std::string on;  // model DTMI
  Program when;
  Program clear;
  bool has_clear = false;
  Duration hold = 0;      // `for`
  Duration cooldown = 0;  // between action runs, per twin
  std::string severity = "warning";
  std::string message;  // template: {twin}, {rule}, {severity}, {<slot>}
  std::vector<Action> actions;
  bool uses_related = false;
  bool uses_stale = false;
  std::vector<std::string> relationships;  // relationship names its conditions follow
};

struct RulesConfig {
  std::vector<Rule> rules;
  Duration lateness = 0;
  SlotTable slots;
};

// Parses `list` (a list of rule maps) into `out`, checking everything against the models.
// Returns every error found, one per line, each "file:line:col path: message (hint)".
sdk::Status parse_rules(const sdk::ConfigNode& list, sdk::TwinAccess& twins, RulesConfig& out);

std::string config_to_json(const sdk::ConfigNode& node);

}  // namespace doppel::plugins::rules
