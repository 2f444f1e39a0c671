// An analytics plugin of ABI 1.0, before AnalyticsPlugin existed: the host must refuse it.
#include "doppel/sdk/plugin.hpp"

namespace {
const doppel::sdk::PluginDescriptor kDescriptor{
    DOPPEL_SDK_ABI_MAJOR,
    0,
    DOPPEL_SDK_TOOLCHAIN,
    doppel::sdk::PluginKind::kAnalytics,
    "old",
    "1.0",
    "",
    nullptr,
    0,
    [](const doppel::sdk::PluginContext&) noexcept -> doppel::sdk::Plugin* { return nullptr; },
    [](doppel::sdk::Plugin*) noexcept {}};
}  // namespace

DOPPEL_PLUGIN_ENTRY(kDescriptor)
