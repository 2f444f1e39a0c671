// A minimal analytics plugin for host tests: declares config keys, rejects `threshold` < 0.
#include "doppel/sdk/analytics.hpp"

namespace {

class GoodPlugin final : public doppel::sdk::AnalyticsPlugin {
 public:
  doppel::sdk::Status configure(const doppel::sdk::ConfigNode& config) noexcept override {
    const auto& t = config.get("threshold");
    if (!t.missing() && t.as_number() < 0)
      return doppel::sdk::invalid_argument("threshold must be >= 0", t.where());
    return {};
  }
  doppel::sdk::Status start() noexcept override { return {}; }
  void stop() noexcept override {}
  void on_changes(std::span<const doppel::sdk::TwinChange>) noexcept override {}
};

constexpr doppel::sdk::ConfigField kFields[] = {
    {"threshold", doppel::sdk::ConfigNode::Type::kNumber, false, "0", "alert threshold"},
    {"target", doppel::sdk::ConfigNode::Type::kString, true, "", "where to send alerts"},
};

const doppel::sdk::PluginDescriptor kDescriptor{
    DOPPEL_SDK_ABI_MAJOR,
    DOPPEL_SDK_ABI_MINOR,
    DOPPEL_SDK_TOOLCHAIN,
    doppel::sdk::PluginKind::kAnalytics,
    "good",
    "1.0.0",
    "test plugin",
    kFields,
    2,
    [](const doppel::sdk::PluginContext&) noexcept -> doppel::sdk::Plugin* {
      return new (std::nothrow) GoodPlugin();
    },
    [](doppel::sdk::Plugin* p) noexcept { delete p; }};

}  // namespace

DOPPEL_PLUGIN_ENTRY(kDescriptor)
