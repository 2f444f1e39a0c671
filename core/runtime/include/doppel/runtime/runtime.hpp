// The runtime: composes a deployment's models, twins and plugins and runs the data flow.
// start() loads and checks every plugin before anything starts, so a deployment never runs
// half-way; stop() stops protocols first, drains updates, and flushes storage last.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/events.hpp"
#include "doppel/runtime/logging.hpp"
#include "doppel/runtime/metrics_registry.hpp"
#include "doppel/sdk/status.hpp"
#include "doppel/sdk/storage.hpp"
#include "doppel/sdk/twins.hpp"
#include "doppel/twin/twin_graph.hpp"

namespace doppel::twin {
class PropertyIndexes;
}

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
      30 * sdk::kSecond;  // desired values not acknowledged by then time out
  sdk::Duration desired_resend = 5 * sdk::kSecond;    // resend unacknowledged desired values
  sdk::Duration command_timeout = 10 * sdk::kSecond;  // default for CommandInvocation
  bool start_plugins = true;  // false: load and check only (doppel validate)
  std::unique_ptr<Log> log;   // nullptr: from the deployment's logging settings
  // Observers of every graph change (API event streams, analytics), registered before the
  // graph can change; not owned, must outlive the Runtime.
  std::vector<twin::ChangeListener*> listeners;
};

// A model command to invoke on a twin's device.
struct CommandInvocation {
  std::string twin;
  std::string component;  // "" for the twin's own commands
  std::string name;
  std::string request;        // JSON value of the request payload; "" when the command has none
  sdk::Duration timeout = 0;  // 0: RuntimeOptions::command_timeout
};

struct CommandResult {
  // ok: answered, `response` valid against the response schema. kInvalidArgument: the request
  // (or the device's response) does not fit the model. kNotFound: unknown twin/command or no
  // protocol plugin reaches the twin. kDeadlineExceeded: no answer in time.
  sdk::Status status;
  std::string response;     // JSON as the device sent it ("" when none)
  std::string correlation;  // the id the request was sent with
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
  // The deployment's property indexes (nullptr when it declares none), for queries.
  twin::PropertyIndexes* indexes();
  // A loaded plugin instance by deployment name (nullptr if none).
  sdk::Plugin* plugin(std::string_view name);

  // ---- down: twin -> device ---------------------------------------------------------------
  // Sets desired properties (validated against the model, all or nothing) and sends each to the
  // twin's device through the protocol plugins; resends every RuntimeOptions::desired_resend
  // until the device acknowledges it (reports the value, or acks the version) or sync_timeout.
  sdk::Expected<std::uint64_t> desire(std::string_view twin,
                                      std::span<const twin::SlotWrite> writes,
                                      std::optional<std::uint64_t> if_match = std::nullopt);
  // Validates the request against the command's schema, sends it with a fresh correlation id and
  // calls `done` once (any thread) with the validated response, an error, or a timeout.
  void invoke(const CommandInvocation& command, std::function<void(CommandResult)> done);
  CommandResult invoke_and_wait(const CommandInvocation& command);

  // ---- services' events (alerts, anomalies, predictions) --------------------------------
  std::vector<EventRecord> active_alerts() const;
  std::vector<EventRecord> recent_events(std::size_t limit) const;  // newest first
  bool acknowledge_alert(const std::string& twin, const std::string& source);
  // `subscriber` runs on the publishing thread: keep it short. Returns an id to unsubscribe.
  int subscribe_events(EventSubscriber subscriber);
  void unsubscribe_events(int id);
  void publish_event(const sdk::Event& event);

  // For deterministic runs on a fake clock: one scheduler pass (staleness, sync timeouts,
  // resends, analytics timers) at the clock's current time, now.
  void tick_now();
  // Blocks until the update pipeline is drained and every analytics plugin handled every change
  // and tick queued before the call.
  void drain_analytics();

  // Writes the changes the calling thread made to the graph directly (create, remove, relate,
  // unrelate, report) and waits until they are durable. Changes through the pipeline and
  // desire() need no call.
  sdk::Status commit();

  // Blocks until every accepted update is applied and durable.
  sdk::Status flush();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::runtime
