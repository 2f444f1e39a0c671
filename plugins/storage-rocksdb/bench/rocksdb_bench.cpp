// storage-rocksdb benchmarks, through the plugin's .so as the runtime uses it.
//   Write/<durability>/<delay ms>/<window>: 1-record batches from 4 threads; each thread keeps
//     `window` writes in flight (1: it waits for each acknowledgement, like a device waiting
//     for its QoS 1 ack). items_per_second is the total; writes_per_commit the group size.
//   History/...: one day of 1-second samples of one series, read downsampled to 60 s steps
//     (1440 rows) or raw (86400 rows); the samples were written one per write(), as ingest does.
// The database lives in $TMPDIR (fsync cost depends on that disk).
#include <benchmark/benchmark.h>

#include <atomic>
#include <condition_variable>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "doppel/sdk/storage.hpp"
#include "doppel/storage_testing/harness.hpp"

namespace doppel::storage_testing {
namespace {

constexpr sdk::Timestamp kT0 = 1'700'000'040 * sdk::kSecond;
const std::string kSeries("twin-1\0temperature", 18);

struct Store {
  TempDir dir;
  TestServices services;
  std::unique_ptr<LoadedStorage> plugin;

  bool open(const std::string& durability, int delay_ms) {
    plugin.reset();
    MapConfig config;
    config.set("path", (dir.path() / "db").string())
        .set("durability", durability)
        .set("group_commit_max_delay_ms", std::int64_t{delay_ms});
    auto loaded = LoadedStorage::load(DOPPEL_STORAGE_ROCKSDB_SO, services.context(), config);
    if (!loaded || !(*loaded)->start()) return false;
    plugin = std::move(*loaded);
    return true;
  }
  sdk::StoragePlugin& s() { return plugin->storage(); }
};

// Limits the writes a thread has in flight.
class Window final : public sdk::WriteCallback {
 public:
  explicit Window(int size) : free_(size), size_(size) {}
  void done(const sdk::Status& status) noexcept override {
    if (!status) failed_ = true;
    std::lock_guard lock(mutex_);
    ++free_;
    cv_.notify_one();
  }
  void acquire() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return free_ > 0; });
    --free_;
  }
  void drain() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return free_ == size_; });
  }
  bool failed() const { return failed_; }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int free_, size_;
  std::atomic<bool> failed_{false};
};

Store* g_store = nullptr;

void Write(benchmark::State& state, const std::string& durability) {
  const int delay_ms = static_cast<int>(state.range(0));
  const int window_size = static_cast<int>(state.range(1));
  if (state.thread_index() == 0) {
    g_store = new Store();
    if (!g_store->open(durability, delay_ms)) state.SkipWithError("cannot open the database");
  }
  Window window(window_size);
  std::string key = "twin-" + std::to_string(state.thread_index()) + std::string("\0t", 2);
  std::string value(64, 'v');
  for (auto _ : state) {
    window.acquire();
    sdk::WriteOp op{sdk::Table::kTwins, false, key, value};
    g_store->s().write({std::span(&op, 1), {}}, &window);
  }
  window.drain();
  if (window.failed()) state.SkipWithError("a write failed");
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    auto& m = g_store->services.metrics;
    // Other threads may still be draining: read the counters after every thread stopped.
    delete g_store->plugin.release();  // flushes and closes; the counters live in services
    double writes = static_cast<double>(m.counter_value("doppel_storage_writes_total"));
    double commits = static_cast<double>(m.counter_value("doppel_storage_group_commits_total"));
    state.counters["writes_per_commit"] = commits > 0 ? writes / commits : 0;
    delete g_store;
    g_store = nullptr;
  }
}

BENCHMARK_CAPTURE(Write, sync, std::string("sync"))
    ->ArgNames({"delay_ms", "window"})
    ->Args({0, 1})
    ->Args({2, 1})
    ->Args({2, 64})
    ->Threads(4)
    ->UseRealTime()
    ->MinTime(2.0);
BENCHMARK_CAPTURE(Write, wal, std::string("wal"))
    ->ArgNames({"delay_ms", "window"})
    ->Args({0, 1})
    ->Args({2, 1})
    ->Args({2, 64})
    ->Threads(4)
    ->UseRealTime()
    ->MinTime(2.0);

class CountRows final : public sdk::HistoryVisitor {
 public:
  bool row(const sdk::HistoryRow& r) noexcept override {
    ++rows;
    count += r.count;
    return true;
  }
  std::size_t rows = 0;
  std::uint64_t count = 0;
};

// A day of 1-second samples written one per write(); `reopen` moves them from the memtable
// into SST files (stop flushes), as a day-old history would be.
std::unique_ptr<Store> day_of_samples(bool reopen) {
  auto store = std::make_unique<Store>();
  if (!store->open("none", 0)) return nullptr;
  Window window(256);
  for (int i = 0; i < 86400; ++i) {
    window.acquire();
    sdk::Sample s{kSeries, kT0 + i * sdk::kSecond, 20.0 + (i % 600) / 60.0};
    store->s().write({{}, std::span(&s, 1)}, &window);
  }
  window.drain();
  if (!store->s().flush()) return nullptr;
  if (reopen && !store->open("none", 0)) return nullptr;
  return store;
}

void History(benchmark::State& state) {
  const sdk::Duration step = state.range(0) * sdk::kSecond;
  auto store = day_of_samples(state.range(1) != 0);
  if (!store) {
    state.SkipWithError("setup failed");
    return;
  }
  for (auto _ : state) {
    CountRows rows;
    if (!store->s().history(kSeries, kT0, kT0 + 86400 * sdk::kSecond, step, rows) ||
        rows.count != 86400) {
      state.SkipWithError("wrong history");
      break;
    }
    benchmark::DoNotOptimize(rows);
  }
}

BENCHMARK(History)
    ->ArgNames({"step_s", "on_disk"})
    ->Args({60, 0})
    ->Args({60, 1})
    ->Args({0, 1})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(1.0);

}  // namespace
}  // namespace doppel::storage_testing
