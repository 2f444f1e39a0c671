// The plugin ABI: the one entry point a plugin exports, its descriptor, and the base class
// every plugin implements. A plugin includes only doppel/sdk headers.
//
// A plugin library exports exactly one symbol:
//
//   DOPPEL_PLUGIN_ENTRY(my_descriptor)   // defines extern "C" doppel_plugin_v1()
//
// Lifecycle, driven by the host, each step at most once and in this order:
//   descriptor checked (ABI, toolchain, kind) -> config keys checked against config_fields ->
//   create(context) -> configure(config) -> start() -> ... -> stop() -> destroy(plugin)
// The host keeps the library mapped until the process exits, so objects the plugin made (a
// Status it returned) may be released after destroy().
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>

#include "doppel/sdk/clock.hpp"
#include "doppel/sdk/config.hpp"
#include "doppel/sdk/log.hpp"
#include "doppel/sdk/metrics.hpp"
#include "doppel/sdk/status.hpp"

// ABI version: the major is in the entry point's name; bump it on any breaking change.
#define DOPPEL_SDK_ABI_MAJOR 1
// Minor 1: ProtocolPlugin (protocol.hpp), AnalyticsPlugin (analytics.hpp), PluginContext::twins.
// Minor 2: InboundMessage::device_twins (ingest.hpp); protocol plugins need 1.2.
// Minor 3: InboundMessage::refused_reason/refused_detail; protocol plugins need 1.3.
#define DOPPEL_SDK_ABI_MINOR 3
#define DOPPEL_PLUGIN_ENTRY_NAME "doppel_plugin_v1"

// Plugins are C++ objects: host and plugin must share the compiler family and C++ library.
#define DOPPEL_SDK_STRINGIFY2(x) #x
#define DOPPEL_SDK_STRINGIFY(x) DOPPEL_SDK_STRINGIFY2(x)
#if defined(__GLIBCXX__)
#define DOPPEL_SDK_TOOLCHAIN "libstdc++" DOPPEL_SDK_STRINGIFY(_GLIBCXX_RELEASE)
#elif defined(_LIBCPP_VERSION)
#define DOPPEL_SDK_TOOLCHAIN "libc++" DOPPEL_SDK_STRINGIFY(_LIBCPP_VERSION)
#else
#define DOPPEL_SDK_TOOLCHAIN "unknown"
#endif

namespace doppel::sdk {

enum class PluginKind : std::uint8_t { kProtocol = 0, kStorage = 1, kAnalytics = 2, kActuator = 3 };

inline std::string_view plugin_kind_name(PluginKind kind) noexcept {
  switch (kind) {
    case PluginKind::kProtocol:
      return "protocol";
    case PluginKind::kStorage:
      return "storage";
    case PluginKind::kAnalytics:
      return "analytics";
    case PluginKind::kActuator:
      return "actuator";
  }
  return "?";
}

class IngestSink;  // doppel/sdk/ingest.hpp
class TwinAccess;  // doppel/sdk/twins.hpp

// Services the host lends a plugin instance. Every pointer outlives the instance.
struct PluginContext {
  std::string_view instance_name;  // the deployment's `name:` for this plugin
  std::string_view data_dir;       // a folder this instance may own ("" when none)
  Logger* log = nullptr;
  const Clock* clock = nullptr;
  Metrics* metrics = nullptr;
  IngestSink* ingest = nullptr;  // protocol plugins: where device messages go
  TwinAccess* twins = nullptr;   // analytics and actuator plugins: read and act on twins
  // The deployment's top-level `rules:` and `derived:` lists (missing nodes when absent), for
  // analytics plugins; errors in them are reported with these nodes' where().
  const ConfigNode* rules = nullptr;
  const ConfigNode* derived = nullptr;
};

class Plugin {
 public:
  virtual ~Plugin() = default;
  // Typed parse of the config block, cross-field checks. Errors name ConfigNode::where() and
  // what to do. Called once, before start(); nothing may connect or open files here.
  virtual Status configure(const ConfigNode& config) noexcept = 0;
  // Opens, connects, starts threads. Called once. On failure stop() is not called.
  virtual Status start() noexcept = 0;
  // Stops threads and releases resources; storage flushes here. Called once after start().
  virtual void stop() noexcept = 0;
};

// What a plugin library describes itself as. Static data in the plugin.
struct PluginDescriptor {
  std::uint32_t abi_major;
  std::uint32_t abi_minor;
  const char* toolchain;  // DOPPEL_SDK_TOOLCHAIN of the plugin's build
  PluginKind kind;
  const char* name;     // "mqtt", "rocksdb"
  const char* version;  // the plugin's own version
  const char* description;
  const ConfigField* config_fields;
  std::size_t config_field_count;
  // Returns nullptr on failure (logged through context.log). Must not throw.
  Plugin* (*create)(const PluginContext& context) noexcept;
  void (*destroy)(Plugin* plugin) noexcept;
};

using PluginEntry = const PluginDescriptor* (*)() noexcept;

// PluginContext services a plugin cannot work without, or-ed, for create_plugin. The runtime
// always gives log, clock and metrics, and twins to analytics plugins; other hosts (tests) may not.
enum PluginNeeds : unsigned {
  kNeedsNothing = 0,
  kNeedsLog = 1,
  kNeedsClock = 2,
  kNeedsMetrics = 4,
  kNeedsTwins = 8,
};

// For a descriptor's `create`: `new T(context)`, or nullptr with the reason in the context's
// log, when a service in `needs` is missing or the constructor throws: nothing crosses the
// entry point, and the host's "see its log" has something to show.
//   [](const PluginContext& c) noexcept { return create_plugin<My>(c, "my", kNeedsTwins); }
template <typename T>
Plugin* create_plugin(const PluginContext& context, std::string_view name,
                      unsigned needs = kNeedsNothing) noexcept {
  auto fail = [&](std::string_view why) -> Plugin* {
    if (context.log)
      context.log->error("plugin instance not created", {{"plugin", name}, {"error", why}});
    return nullptr;
  };
  if ((needs & kNeedsTwins) && !context.twins)
    return fail("it needs PluginContext::twins, which the runtime gives analytics plugins");
  if ((needs & kNeedsLog) && !context.log) return nullptr;  // nowhere to say why
  if ((needs & kNeedsClock) && !context.clock) return fail("it needs PluginContext::clock");
  if ((needs & kNeedsMetrics) && !context.metrics) return fail("it needs PluginContext::metrics");
  try {
    return new T(context);
  } catch (const std::exception& e) {
    return fail(e.what());
  } catch (...) {
    return fail("unknown exception");
  }
}

// For a descriptor's `destroy` (Plugin's destructor is virtual).
inline void destroy_plugin(Plugin* plugin) noexcept {
  delete plugin;
}

}  // namespace doppel::sdk

#define DOPPEL_PLUGIN_EXPORT __attribute__((visibility("default")))

// Defines the entry point returning `descriptor` (a doppel::sdk::PluginDescriptor object).
#define DOPPEL_PLUGIN_ENTRY(descriptor)                                  \
  extern "C" DOPPEL_PLUGIN_EXPORT const ::doppel::sdk::PluginDescriptor* \
  doppel_plugin_v1() noexcept {                                          \
    return &(descriptor);                                                \
  }
