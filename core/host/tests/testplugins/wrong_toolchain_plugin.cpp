// Claims another C++ library: the host must refuse it.
#include "doppel/sdk/plugin.hpp"

namespace {
const doppel::sdk::PluginDescriptor kDescriptor{
    DOPPEL_SDK_ABI_MAJOR,
    DOPPEL_SDK_ABI_MINOR,
    "libc++17000",
    doppel::sdk::PluginKind::kAnalytics,
    "other",
    "1.0",
    "",
    nullptr,
    0,
    [](const doppel::sdk::PluginContext&) noexcept -> doppel::sdk::Plugin* { return nullptr; },
    [](doppel::sdk::Plugin*) noexcept {}};
}  // namespace

DOPPEL_PLUGIN_ENTRY(kDescriptor)
