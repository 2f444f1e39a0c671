// analytics-rules: the plugin shell. Parses and checks the rules at configure(), restores their
// state at start(), and hands changes and ticks to the RuleEngine (rule_engine.hpp).
#include <memory>
#include <new>

#include "doppel/sdk/analytics.hpp"
#include "rule_config.hpp"
#include "rule_engine.hpp"

namespace doppel::plugins::rules {
namespace {

using sdk::ConfigField;
using sdk::ConfigNode;

class RulesPlugin final : public sdk::AnalyticsPlugin {
 public:
  explicit RulesPlugin(const sdk::PluginContext& c)
      : context_(c), engine_(*c.twins, *c.metrics, *c.log, *c.clock, c.instance_name) {}

  sdk::Status configure(const ConfigNode& config) noexcept override {
    try {
      RulesConfig parsed;
      if (const ConfigNode& l = config.get("lateness"); !l.missing()) {
        if (!parse_duration(l.text(), parsed.lateness))
          return sdk::invalid_argument("'lateness' must be a duration such as 30s or 2m",
                                       l.where());
      }
      std::string errors;
      // The deployment's top-level `rules:` first, then any in the plugin's own config.
      for (const ConfigNode* list : {context_.rules, &config.get("rules")}) {
        if (!list || list->missing()) continue;
        if (sdk::Status s = parse_rules(*list, *context_.twins, parsed); !s)
          errors += (errors.empty() ? "" : "\n") + s.message();
      }
      if (!errors.empty()) return sdk::invalid_argument(errors);
      if (parsed.rules.empty())
        context_.log->warn("rules: no rules configured",
                           {{"hint", "add a top-level rules: list to the deployment"}});
      engine_.configure(std::move(parsed));
      return {};
    } catch (const std::exception& e) {
      return sdk::internal_error(std::string("rules: ") + e.what());
    }
  }

  sdk::Status start() noexcept override {
    try {
      return engine_.start();
    } catch (const std::exception& e) {
      return sdk::internal_error(std::string("rules: ") + e.what());
    }
  }

  void stop() noexcept override {
    try {
      engine_.stop();
    } catch (...) {
    }
  }

  void on_changes(std::span<const sdk::TwinChange> changes) noexcept override {
    engine_.on_changes(changes);
  }
  void on_tick(sdk::Timestamp now) noexcept override { engine_.on_tick(now); }

 private:
  sdk::PluginContext context_;
  RuleEngine engine_;
};

constexpr ConfigField kFields[] = {
    {"rules", ConfigNode::Type::kList, false, "",
     "more rules, in the same form as the deployment's top-level rules: list"},
    {"lateness", ConfigNode::Type::kString, false, "0s",
     "how far behind the newest event time of a twin a sample may be and still count"},
};

const sdk::PluginDescriptor kDescriptor{
    DOPPEL_SDK_ABI_MAJOR,
    DOPPEL_SDK_ABI_MINOR,
    DOPPEL_SDK_TOOLCHAIN,
    sdk::PluginKind::kAnalytics,
    "rules",
    "1.0.0",
    "rules over twin state: durations, hysteresis, windows, staleness, graph-wide conditions; "
    "alerts, commands and desired values",
    kFields,
    sizeof kFields / sizeof kFields[0],
    [](const sdk::PluginContext& c) noexcept -> sdk::Plugin* {
      return sdk::create_plugin<RulesPlugin>(
          c, "rules", sdk::kNeedsTwins | sdk::kNeedsLog | sdk::kNeedsClock | sdk::kNeedsMetrics);
    },
    sdk::destroy_plugin};

}  // namespace
}  // namespace doppel::plugins::rules

DOPPEL_PLUGIN_ENTRY(doppel::plugins::rules::kDescriptor)
