// An analytics plugin whose constructor throws, made through sdk::create_plugin: the host must
// refuse it with "see its log", and the log must say why.
#include <stdexcept>

#include "doppel/sdk/analytics.hpp"

namespace {

class ThrowingPlugin final : public doppel::sdk::AnalyticsPlugin {
 public:
  explicit ThrowingPlugin(const doppel::sdk::PluginContext&) {
    throw std::runtime_error("cannot open /nonexistent/licence.key");
  }
  doppel::sdk::Status configure(const doppel::sdk::ConfigNode&) noexcept override { return {}; }
  doppel::sdk::Status start() noexcept override { return {}; }
  void stop() noexcept override {}
  void on_changes(std::span<const doppel::sdk::TwinChange>) noexcept override {}
};

// The instance name picks the case, so one library tests both refusals: "needs-twins" asks for
// TwinAccess (and gets none), any other name reaches the throwing constructor.
const doppel::sdk::PluginDescriptor kDescriptor{
    DOPPEL_SDK_ABI_MAJOR,
    DOPPEL_SDK_ABI_MINOR,
    DOPPEL_SDK_TOOLCHAIN,
    doppel::sdk::PluginKind::kAnalytics,
    "throwing",
    "1.0.0",
    "test plugin whose constructor throws",
    nullptr,
    0,
    [](const doppel::sdk::PluginContext& c) noexcept -> doppel::sdk::Plugin* {
      return doppel::sdk::create_plugin<ThrowingPlugin>(
          c, "throwing",
          c.instance_name == "needs-twins" ? doppel::sdk::kNeedsTwins : doppel::sdk::kNeedsNothing);
    },
    doppel::sdk::destroy_plugin};

}  // namespace

DOPPEL_PLUGIN_ENTRY(kDescriptor)
