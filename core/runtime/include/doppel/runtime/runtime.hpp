// The runtime: composes a deployment's models, twins and plugins and runs the data flow.
// start() loads and checks every plugin before anything starts, so a deployment never runs
// half-way; stop() stops protocols first, drains updates, and flushes storage last.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/logging.hpp"
#include "doppel/runtime/metrics_registry.hpp"
#include "doppel/sdk/status.hpp"
#include "doppel/sdk/storage.hpp"
#include "doppel/twin/twin_graph.hpp"

namespace doppel::runtime {

class UpdatePipeline;
class Persistence;

struct RuntimeOptions {
  const sdk::Clock* clock = nullptr;  // nullptr: the system clock
  std::vector<std::filesystem::path>
      plugin_path;                    // searched after DOPPEL_PLUGIN_PATH and the deployment's
  std::size_t workers = 0;            // update workers; 0: hardware concurrency
  sdk::Duration tick = sdk::kSecond;  // staleness / sync timeout checks
  sdk::Duration sync_timeout =
      30 * sdk::kSecond;      // desired values not acknowledged by then time out
  bool start_plugins = true;  // false: load and check only (doppel validate)
  std::unique_ptr<Log> log;   // nullptr: from the deployment's logging settings
};

struct StartReport {
  std::size_t twins_recovered = 0;
  std::size_t twins_created = 0;
  std::size_t relationships_created = 0;
  std::vector<std::string> orphans;  // stored twins the deployment no longer declares (kept)
};

class Runtime {
 public:
  Runtime(Deployment deployment, std::shared_ptr<const model::ModelRegistry> models,
          RuntimeOptions options = {});
  ~Runtime();  // stops if running
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Loads every plugin (all config errors at once), recovers state, applies the deployment,
  // starts plugins and the scheduler. On failure nothing keeps running.
  sdk::Expected<StartReport> start();
  void stop();

  twin::TwinGraph& graph();
  UpdatePipeline& pipeline();
  sdk::StoragePlugin& storage();
  MetricsRegistry& metrics();
  Log& log();
  const Deployment& deployment() const;
  // A loaded plugin instance by deployment name (nullptr if none).
  sdk::Plugin* plugin(std::string_view name);

  // Blocks until every accepted update is applied and durable.
  sdk::Status flush();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::runtime
