// Keeps a storage plugin in step with the twin graph: every change the graph applies becomes
// records (twin header, property/telemetry slots, relationships) and telemetry samples, written
// as one batch per graph call; on start the graph is rebuilt from those records.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "doppel/sdk/storage.hpp"
#include "doppel/twin/twin_graph.hpp"

namespace doppel::runtime {

struct RecoveryReport {
  std::size_t twins = 0;
  std::size_t relationships = 0;
  std::size_t dropped_slots = 0;      // stored values whose property the models no longer have
  std::vector<std::string> problems;  // records that could not be restored, with why
};

class Persistence final : public twin::ChangeListener {
 public:
  // `storage` must outlive this object. Register with graph.add_listener(this). With storage
  // that is not durable (memory), twin state records are not written: only telemetry history.
  explicit Persistence(sdk::StoragePlugin& storage);
  ~Persistence() override;

  // Collects the records of a change (called by the graph under the twin's shard lock) into
  // the calling thread's pending batch.
  void on_change(const twin::ChangeEvent& event) noexcept override;

  // Writes the calling thread's pending batch (if any) and calls `done` when it is durable;
  // with nothing pending, calls `done` at once. `done` may be null.
  void commit(sdk::WriteCallback* done);
  // Drops the calling thread's pending batch (after a failed graph call).
  void discard();

  // Rebuilds `graph` (which must be empty) from the storage.
  sdk::Expected<RecoveryReport> recover(twin::TwinGraph& graph);

  // Key of a twin's telemetry series in storage history: "<twin>\0<path>".
  static std::string series_key(std::string_view twin, std::string_view path);

  // Record encoding, exposed for tests and tools.
  static void encode_value(const twin::Value& v, std::string& out);
  static bool decode_value(std::string_view& in, twin::Value& out);

 private:
  sdk::StoragePlugin& storage_;
  bool state_records_;  // false for non-durable storage: only history goes there
};

}  // namespace doppel::runtime
