// The in-process update path that protocol plugins feed: updates are queued by twin id onto
// a fixed set of workers, so one twin's updates apply in order and different twins in
// parallel; each update is applied to the graph, persisted, and acknowledged when durable.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "doppel/runtime/persistence.hpp"
#include "doppel/twin/twin_graph.hpp"

namespace doppel::runtime {

struct TwinUpdate {
  std::string twin;
  std::vector<twin::SlotWrite> writes;
  bool desired = false;  // desired properties (API, rules) instead of reported state
  std::optional<std::uint64_t> if_match;
};

// Called once per update: after it is durable, or with the reason it was rejected.
using UpdateDone = std::function<void(const sdk::Status& status, std::uint64_t version)>;

class UpdatePipeline {
 public:
  // `persistence` may be null (no storage). Both must outlive the pipeline.
  UpdatePipeline(twin::TwinGraph& graph, Persistence* persistence, std::size_t workers);
  ~UpdatePipeline();  // applies what is queued, then stops the workers
  UpdatePipeline(const UpdatePipeline&) = delete;
  UpdatePipeline& operator=(const UpdatePipeline&) = delete;

  void submit(TwinUpdate update, UpdateDone done);
  // Blocks until every update submitted before the call has been applied (not necessarily
  // durable: see StoragePlugin::flush).
  void drain();
  std::size_t workers() const;

  // Applies one update on the calling thread (what a worker does); for tests and benchmarks.
  static void apply(twin::TwinGraph& graph, Persistence* persistence, const TwinUpdate& update,
                    UpdateDone done);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::runtime
