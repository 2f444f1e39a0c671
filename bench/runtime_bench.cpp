// Twin update path and storage benchmarks.
//   build/bench/doppel_runtime_bench --benchmark_filter=Update
#include <benchmark/benchmark.h>

#include <atomic>
#include <semaphore>
#include <thread>

#include "doppel/model/loader.hpp"
#include "doppel/runtime/persistence.hpp"
#include "doppel/runtime/update_pipeline.hpp"
#include "doppel/testing/storage_fixture.hpp"

namespace {

using namespace doppel;

constexpr const char* kModel =
    R"({"@context": "dtmi:dtdl:context;3", "@id": "dtmi:bench:Motor;1", "@type": "Interface",
  "contents": [
    {"@type": "Property", "name": "p1", "schema": "double"}, {"@type": "Property", "name": "p2", "schema": "double"},
    {"@type": "Property", "name": "p3", "schema": "double"}, {"@type": "Property", "name": "p4", "schema": "double"},
    {"@type": "Property", "name": "p5", "schema": "double"},
    {"@type": "Telemetry", "name": "temperature", "schema": "double"}]})";

std::shared_ptr<const model::ModelRegistry> registry() {
  static auto r = [] {
    model::ModelLoader loader;
    loader.add_text("bench.json", kModel);
    return loader.load().registry;
  }();
  return r;
}

constexpr int kTwins = 10'000;

struct World {
  testing::TempDir dir;
  testing::StorageFixture store;
  std::unique_ptr<runtime::Persistence> persistence;
  std::unique_ptr<twin::TwinGraph> graph;

  World(const std::string& library, std::size_t shards)
      : store(library, (dir.path() / "db").string()) {
    if (!store.open()) std::abort();
    persistence = std::make_unique<runtime::Persistence>(store.storage());
    graph = std::make_unique<twin::TwinGraph>(registry(), twin::TwinGraphOptions{shards, nullptr});
    graph->add_listener(persistence.get());
    for (int i = 0; i < kTwins; ++i)
      (void)graph->create({"m" + std::to_string(i), "dtmi:bench:Motor;1", {}, 0});
    persistence->commit(nullptr);
    (void)store.storage().flush();
  }
};

std::vector<std::string> ids() {
  std::vector<std::string> v;
  for (int i = 0; i < kTwins; ++i)
    v.push_back("m" + std::to_string(i));
  return v;
}

// A validated property update applied to the graph and written to memory storage, one per
// iteration, on each benchmark thread (twins partitioned by thread).
void BM_PropertyUpdateMemory(benchmark::State& state) {
  static World* world = nullptr;
  static std::vector<std::string> twin_ids;
  if (state.thread_index() == 0) {
    world = new World("memory", 0);  // the graph's default shards
    twin_ids = ids();
  }
  // Google Benchmark syncs threads before the timed loop.
  const int threads = state.threads();
  int i = state.thread_index();
  double v = 0;
  for (auto _ : state) {
    twin::SlotWrite w[] = {{"p1", twin::Value::number(v += 1)}};
    auto r = world->graph->report(twin_ids[static_cast<std::size_t>(i)], w);
    if (!r) state.SkipWithError("update rejected");
    world->persistence->commit(nullptr);
    i += threads;
    if (i >= kTwins) i = state.thread_index();
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete world;
    world = nullptr;
  }
}
BENCHMARK(BM_PropertyUpdateMemory)->Threads(1)->Threads(2)->UseRealTime();

// The same through the sharded update pipeline into RocksDB (group commit), acknowledged when
// durable: measures acknowledged updates per second with up to 8192 in flight.
void BM_PipelineUpdateRocksDB(benchmark::State& state, const char* durability) {
  testing::TempDir dir;
  // StorageFixture opens with durability sync; for wal, write the config by hand.
  testing::StorageFixture store("rocksdb", (dir.path() / "db").string());
  (void)durability;
  if (!store.open()) {
    state.SkipWithError("cannot open rocksdb");
    return;
  }
  runtime::Persistence persistence(store.storage());
  twin::TwinGraph graph(registry(), {0, nullptr});
  graph.add_listener(&persistence);
  for (int i = 0; i < kTwins; ++i)
    (void)graph.create({"m" + std::to_string(i), "dtmi:bench:Motor;1", {}, 0});
  persistence.commit(nullptr);
  (void)store.storage().flush();
  auto twin_ids = ids();
  std::atomic<long> acked{0}, in_flight{0};
  // The window of updates in flight: the producer blocks (no spinning: on 2 cores a spinning
  // producer takes the CPU the writer needs).
  std::counting_semaphore<> window(8192);
  {
    runtime::UpdatePipeline pipeline(graph, &persistence, 2);
    long n = 0;
    for (auto _ : state) {
      window.acquire();
      ++in_flight;
      runtime::TwinUpdate u{twin_ids[static_cast<std::size_t>(n % kTwins)],
                            {{"p1", twin::Value::number(double(n)), 0}},
                            false,
                            std::nullopt};
      ++n;
      pipeline.submit(std::move(u), [&](const sdk::Status&, std::uint64_t) {
        --in_flight;
        ++acked;
        window.release();
      });
    }
    pipeline.drain();
    while (in_flight.load() > 0)
      std::this_thread::yield();
  }
  state.SetItemsProcessed(acked.load());
}
BENCHMARK_CAPTURE(BM_PipelineUpdateRocksDB, sync, "sync")
    ->UseRealTime()
    ->Unit(benchmark::kNanosecond);

// One day of 1 s samples of one series, read back downsampled to 1 min (1440 rows).
// `durability` none makes flush() write the memtable to SST files: history older than the
// memtable; "sync" keeps the day in the memtable (the most recent data).
void BM_HistoryDayAt1sTo1min(benchmark::State& state, const char* library, const char* durability) {
  testing::TempDir dir;
  testing::StorageFixture store(library, (dir.path() / "db").string(), durability);
  if (!store.open()) {
    state.SkipWithError("cannot open storage");
    return;
  }
  const sdk::Timestamp t0 = 1'700'000'040LL * sdk::kSecond;
  std::string series = runtime::Persistence::series_key("m1", "temperature");
  std::vector<sdk::Sample> samples;
  for (int s = 0; s < 86'400; ++s)
    samples.push_back({series, t0 + s * sdk::kSecond, 20.0 + (s % 600) / 60.0});
  struct Wait final : sdk::WriteCallback {
    std::atomic<bool> ok{false};
    void done(const sdk::Status&) noexcept override { ok = true; }
  };
  // Streamed: one sample per write, as telemetry arrives; otherwise an hour per write.
  const std::size_t per_write = std::string_view(durability) == "wal" ? 1 : 3600;
  for (std::size_t off = 0; off < samples.size(); off += per_write) {
    std::size_t n = std::min<std::size_t>(per_write, samples.size() - off);
    store.storage().write({{}, std::span(samples.data() + off, n)}, nullptr);
  }
  (void)store.storage().flush();
  struct Count final : sdk::HistoryVisitor {
    std::size_t rows = 0;
    bool row(const sdk::HistoryRow&) noexcept override { return ++rows, true; }
  };
  for (auto _ : state) {
    Count c;
    if (!store.storage().history(series, t0, t0 + 86'400 * sdk::kSecond, 60 * sdk::kSecond, c) ||
        c.rows != 1440)
      state.SkipWithError("wrong history");
  }
}
BENCHMARK_CAPTURE(BM_HistoryDayAt1sTo1min, memory, "memory", "")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_HistoryDayAt1sTo1min, rocksdb_memtable, "rocksdb", "sync")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_HistoryDayAt1sTo1min, rocksdb_sst, "rocksdb", "none")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_HistoryDayAt1sTo1min, rocksdb_streamed, "rocksdb", "wal")
    ->Unit(benchmark::kMillisecond);

}  // namespace
