// An analytics plugin for runtime tests of the analytics host: raises an alert when a twin's
// `telemetry` exceeds `above` and clears it when it falls back; on raising it also desires
// `targetSpeed` = 0 and invokes `reduceLoad` (when `act: true`); counts ticks in its state.
#include <map>
#include <set>
#include <string>

#include "doppel/sdk/analytics.hpp"

namespace {

using namespace doppel::sdk;

class ThresholdAnalytics final : public AnalyticsPlugin {
 public:
  explicit ThresholdAnalytics(const PluginContext& c)
      : twins_(*c.twins),
        changes_(c.metrics->counter("threshold_changes_total", "", "changes seen")),
        ticks_(c.metrics->counter("threshold_ticks_total", "", "ticks seen")),
        out_of_order_(c.metrics->counter("threshold_out_of_order_total", "", "order errors")),
        responses_(c.metrics->counter("threshold_command_ok_total", "", "command responses")) {
    command_done_.ok = &responses_;
  }

  Status configure(const ConfigNode& config) noexcept override {
    telemetry_ = std::string(config.get("telemetry").text());
    above_ = config.get("above").as_number();
    act_ = !config.get("act").missing() && config.get("act").as_bool();
    // Checked against the model the deployment's rules name (like a rules plugin would).
    struct Find final : ModelVisitor {
      std::string_view path;
      bool numeric = false;
      void visit(const ModelDescription& m) noexcept override {
        for (const ModelSlot& s : m.slots)
          if (s.path == path && s.type == ValueType::kNumber) numeric = true;
      }
    } find;
    find.path = telemetry_;
    if (!twins_.describe("dtmi:example:factory:Motor;1", find))
      return invalid_argument("model not found");
    if (!find.numeric)
      return invalid_argument("'" + telemetry_ + "' is not a numeric telemetry of the model",
                              config.get("telemetry").where());
    return {};
  }
  Status start() noexcept override {
    // Alerts raised before a restart are still active: do not raise them twice.
    return scan_state(twins_, "active/",
                      [this](std::string_view key, std::string_view) { active_.emplace(key); });
  }
  void stop() noexcept override {}

  void on_changes(std::span<const TwinChange> changes) noexcept override {
    for (const TwinChange& c : changes) {
      changes_.add();
      if (c.version <= last_version_[std::string(c.twin)]) out_of_order_.add();
      last_version_[std::string(c.twin)] = c.version;
      if (c.kind != TwinChangeKind::kReported) continue;
      for (const ChangedSlot& s : c.slots) {
        if (s.path != telemetry_ || !s.value.is_numeric()) continue;
        std::string key = "active/" + std::string(c.twin);
        bool on = active_.count(key) > 0;
        if (s.value.number > above_ && !on) {
          active_.insert(key);
          (void)twins_.state_put(key, "1");
          std::string data = "{\"value\":" + std::to_string(s.value.number) + "}";
          twins_.publish({"alert.raised", c.twin, "hot", "critical", s.time, "too hot", data});
          if (act_) {
            (void)twins_.desire(c.twin, "targetSpeed", "0");
            twins_.invoke(c.twin, "", "reduceLoad", "50", 0, &command_done_);
          }
        } else if (s.value.number <= above_ && on) {
          active_.erase(key);
          (void)twins_.state_erase(key);
          twins_.publish({"alert.cleared", c.twin, "hot", "critical", s.time, "cooled down", ""});
        }
      }
    }
  }
  void on_tick(Timestamp) noexcept override { ticks_.add(); }

 private:
  struct CommandDone final : CommandCallback {
    Counter* ok = nullptr;
    void done(const Status& s, std::string_view) noexcept override {
      if (s) ok->add();
    }
  };
  TwinAccess& twins_;
  Counter& changes_;
  Counter& ticks_;
  Counter& out_of_order_;
  Counter& responses_;
  CommandDone command_done_;
  std::string telemetry_;
  double above_ = 0;
  bool act_ = false;
  std::set<std::string> active_;
  std::map<std::string, std::uint64_t> last_version_;
};

constexpr ConfigField kFields[] = {
    {"telemetry", ConfigNode::Type::kString, true, "", "telemetry to watch"},
    {"above", ConfigNode::Type::kNumber, true, "", "alert threshold"},
    {"act", ConfigNode::Type::kBool, false, "false", "desire and invoke on alert"},
};

const PluginDescriptor kDescriptor{DOPPEL_SDK_ABI_MAJOR,
                                   DOPPEL_SDK_ABI_MINOR,
                                   DOPPEL_SDK_TOOLCHAIN,
                                   PluginKind::kAnalytics,
                                   "threshold",
                                   "1.0.0",
                                   "test threshold alerts",
                                   kFields,
                                   sizeof kFields / sizeof kFields[0],
                                   [](const PluginContext& c) noexcept -> Plugin* {
                                     return new (std::nothrow) ThresholdAnalytics(c);
                                   },
                                   [](Plugin* p) noexcept { delete p; }};

}  // namespace

DOPPEL_PLUGIN_ENTRY(kDescriptor)
