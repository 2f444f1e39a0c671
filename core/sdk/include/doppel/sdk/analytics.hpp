// The analytics plugin interface: services that watch twins and act (rules, anomaly detection,
// prediction, system twins). The runtime delivers every twin change, in the order the graph
// applied them, on one thread per plugin instance, so a plugin needs no locking of its own for
// state it only touches from on_changes() and on_tick(). It reads and acts through
// PluginContext::twins (doppel/sdk/twins.hpp).
#pragma once

#include <span>

#include "doppel/sdk/clock.hpp"
#include "doppel/sdk/plugin.hpp"
#include "doppel/sdk/twins.hpp"

namespace doppel::sdk {

class AnalyticsPlugin : public Plugin {
 public:
  // A batch of changes, oldest first. Runs on the plugin's delivery thread; may call
  // PluginContext::twins freely (the graph is not locked during the call).
  virtual void on_changes(std::span<const TwinChange> changes) noexcept = 0;
  // Called on the same thread every RuntimeOptions::tick with the runtime clock's time, for
  // timers that must fire without new data (durations, staleness, cooldowns).
  virtual void on_tick(Timestamp now) noexcept { (void)now; }
};

}  // namespace doppel::sdk
