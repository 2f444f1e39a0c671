// The storage plugin interface: durable twin state, relationships, telemetry history, dead
// letters and plugin state. The core owns the encoding of records; a storage plugin is a
// durable, ordered key-value store with a time-series side.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "doppel/sdk/clock.hpp"
#include "doppel/sdk/plugin.hpp"
#include "doppel/sdk/status.hpp"

namespace doppel::sdk {

// Record families, kept apart (column families in RocksDB).
enum class Table : std::uint8_t {
  kTwins = 0,          // twin headers and property/telemetry state, by "twin\0path"
  kRelationships = 1,  // edges, by "source\0name\0target"
  kMeta = 2,           // model set fingerprint, deployment digest, schema version
  kDeadLetters = 3,    // rejected messages, by time
  kPluginState = 4,    // state that analytics plugins keep across restarts
};
inline constexpr std::size_t kTableCount = 5;

struct WriteOp {
  Table table;
  bool erase;  // true: delete `key` (value ignored)
  std::string_view key;
  std::string_view value;
};

// One telemetry sample of a series ("twin\0telemetry path").
struct Sample {
  std::string_view series;
  Timestamp time;
  double value;
};

// What one write() applies atomically. Views are valid only during the call.
struct WriteBatch {
  std::span<const WriteOp> ops;
  std::span<const Sample> samples;
};

// Called exactly once per write(), when the batch is durable (as the plugin's durability
// setting defines it) or failed. May run on a plugin thread, before or after write() returns.
class WriteCallback {
 public:
  virtual ~WriteCallback() = default;
  virtual void done(const Status& status) noexcept = 0;
};

// Aggregated history: one row per step (or per sample when step is 0).
struct HistoryRow {
  Timestamp start;  // bucket start, or the sample time when step is 0
  std::uint64_t count;
  double min, max, sum;  // avg = sum / count
  double last;
};

class RecordVisitor {
 public:
  virtual ~RecordVisitor() = default;
  // Return false to stop the scan.
  virtual bool visit(std::string_view key, std::string_view value) noexcept = 0;
};

class HistoryVisitor {
 public:
  virtual ~HistoryVisitor() = default;
  virtual bool row(const HistoryRow& row) noexcept = 0;
};

struct StorageStats {
  std::uint64_t bytes_on_disk = 0;  // 0 for memory storage
  std::uint64_t bytes_in_memory = 0;
  std::uint64_t records = 0;
  std::uint64_t samples = 0;
  std::uint64_t pending_writes = 0;  // accepted, not yet durable
};

// Implemented by storage plugins. Every method is thread-safe unless stated otherwise.
class StoragePlugin : public Plugin {
 public:
  // Applies `batch` atomically and calls `done` when durable (`done` may be null: fire and
  // forget; writes still apply in order). Never blocks for long: plugins
  // group concurrent batches into one durable write (group commit).
  virtual void write(const WriteBatch& batch, WriteCallback* done) noexcept = 0;

  virtual Status get(Table table, std::string_view key, RecordVisitor& out) noexcept = 0;
  // Visits every record whose key starts with `prefix`, in key order.
  virtual Status scan(Table table, std::string_view prefix, RecordVisitor& visitor) noexcept = 0;

  // Samples of `series` with from <= time < to, downsampled to `step` (0: raw samples).
  virtual Status history(std::string_view series, Timestamp from, Timestamp to, Duration step,
                         HistoryVisitor& visitor) noexcept = 0;
  // Drops samples older than now - `retention` from series starting with `series_prefix`.
  virtual Status trim_history(std::string_view series_prefix, Timestamp older_than) noexcept = 0;

  // Blocks until every accepted write is durable.
  virtual Status flush() noexcept = 0;
  virtual StorageStats stats() noexcept = 0;
  // Whether what is written survives a restart. When it does not (memory storage), the runtime
  // keeps twin state only in its graph and writes history, dead letters and plugin state here.
  virtual bool durable() const noexcept = 0;
};

}  // namespace doppel::sdk
