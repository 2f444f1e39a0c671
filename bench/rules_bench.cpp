// analytics-rules: condition evaluation throughput and alert latency, 10k motors x 5 rules,
// the real plugin (.so) in a Runtime with memory storage.
//   build/bench/doppel_rules_bench
//   build/bench/doppel_rules_bench --benchmark_filter=Throughput
// Throughput hands batches of changes to the plugin on the benchmark thread (one core, no
// queueing); latency goes the whole way: graph().report() -> delivery thread -> rule -> event.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/runtime.hpp"
#include "doppel/sdk/analytics.hpp"
#include "doppel/testing/test_services.hpp"

namespace {

using namespace doppel;

constexpr int kTwins = 10'000;
constexpr int kRules = 5;

struct World {
  testing::TempDir dir;
  testing::FakeClock clock;
  std::unique_ptr<runtime::Runtime> rt;
  std::atomic<std::int64_t> alert_at{0};  // steady ns of the last alert.raised for the probe
  std::atomic<int> probe{-1};
  // Event times only move forward across runs of a benchmark (an older sample would be late).
  sdk::Timestamp next_time = clock.now();

  World() {
    std::ofstream(dir.path() / "deploy.yaml")
        << "apiVersion: doppel/v1\nname: rules-bench\nmodels: [\"" DOPPEL_SOURCE_DIR
           "/examples/models/factory\"]\nplugins:\n"
           "  - {name: rules, kind: analytics, library: rules}\n"
           "twins:\n"
           "  - {id: \"motor-{i}\", count: "
        << kTwins
        << ", model: \"dtmi:example:factory:Motor;1\", properties: {state: running}}\n"
           "rules:\n"
           "  - {name: overheating, on: \"dtmi:example:factory:Motor;1\", when: \"temperature > "
           "80 degC\", for: 5m, clear: \"temperature < 75 degC\"}\n"
           "  - {name: spike, on: \"dtmi:example:factory:Motor;1\", when: \"temperature > "
           "1000\"}\n"
           "  - {name: overload, on: \"dtmi:example:factory:Motor;1\", when: \"current > 15 A "
           "and temperature > 60\"}\n"
           "  - {name: off-nominal, on: \"dtmi:example:factory:Motor;1\", when: "
           "\"abs(temperature - 60) > 30 or vibration > 2\"}\n"
           "  - {name: fault, on: \"dtmi:example:factory:Motor;1\", when: \"state == 'fault'\"}\n";
    auto load = runtime::load_deployment(dir.path() / "deploy.yaml");
    if (!load.ok()) std::abort();
    runtime::RuntimeOptions o;
    o.plugin_path = {DOPPEL_PLUGIN_DIR};
    o.clock = &clock;
    o.tick = 3600 * sdk::kSecond;
    o.log = std::make_unique<runtime::Log>(
        "bench", runtime::LogOptions{sdk::LogLevel::kError, runtime::LogFormat::kText});
    rt = std::make_unique<runtime::Runtime>(std::move(*load.deployment), load.models, std::move(o));
    if (!rt->start()) std::abort();
    rt->subscribe_events([this](const runtime::EventRecord& e) {
      if (e.type == "alert.raised" && e.source == "spike" &&
          e.twin == "motor-" + std::to_string(probe.load()))
        alert_at = std::chrono::steady_clock::now().time_since_epoch().count();
    });
    rt->drain_analytics();
  }
};

// Built on first use, destroyed in main() before static destruction begins (the runtime's stop
// touches statics of its own).
std::unique_ptr<World> g_world;
World& world() {
  if (!g_world) g_world = std::make_unique<World>();
  return *g_world;
}

// Condition evaluations per second: every change of a motor evaluates its 5 rules.
void BM_RulesThroughput(benchmark::State& state) {
  World& w = world();
  auto* plugin = static_cast<sdk::AnalyticsPlugin*>(w.rt->plugin("rules"));
  std::vector<std::string> ids;
  for (int i = 1; i <= kTwins; ++i)
    ids.push_back("motor-" + std::to_string(i));
  const std::size_t batch = 1000;
  std::vector<sdk::ChangedSlot> slots(batch);
  std::vector<sdk::TwinChange> changes(batch);
  sdk::Timestamp& t = w.next_time;
  std::size_t next = 0;
  std::uint64_t evaluations = 0;
  for (auto _ : state) {
    t += sdk::kSecond;
    for (std::size_t i = 0; i < batch; ++i) {
      const std::string& id = ids[next++ % ids.size()];
      sdk::FieldValue v;
      v.kind = sdk::FieldValue::Kind::kNumber;
      v.number = 50 + static_cast<double>((next * 7) % 40);  // 50..89: crosses thresholds
      slots[i] = {"temperature", v, t};
      changes[i].kind = sdk::TwinChangeKind::kReported;
      changes[i].twin = id;
      changes[i].model = "dtmi:example:factory:Motor;1";
      changes[i].at = t;
      changes[i].slots = std::span(&slots[i], 1);
    }
    plugin->on_changes(changes);
    evaluations += batch * kRules;
  }
  state.counters["evaluations/s"] =
      benchmark::Counter(static_cast<double>(evaluations), benchmark::Counter::kIsRate);
  state.SetItemsProcessed(static_cast<std::int64_t>(evaluations));
}
// CPU time: the evaluations per second of the one core that runs them, whatever else the
// machine does.
BENCHMARK(BM_RulesThroughput)->Unit(benchmark::kMillisecond);

// From report() of a value that breaks a rule to the alert event, through the runtime.
void BM_RulesAlertLatency(benchmark::State& state) {
  World& w = world();
  std::vector<double> micros;
  int i = 0;
  sdk::Timestamp& t = w.next_time;
  for (auto _ : state) {
    const int m = 1 + (i++ % kTwins);
    const std::string id = "motor-" + std::to_string(m);
    w.probe = m;
    w.alert_at = 0;
    t += sdk::kSecond;
    twin::SlotWrite hot{"temperature", twin::Value::number(1500), t};
    const auto start = std::chrono::steady_clock::now().time_since_epoch().count();
    if (!w.rt->graph().report(id, std::span(&hot, 1))) std::abort();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (w.alert_at.load() == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        w.rt->drain_analytics();
        for (const auto& e : w.rt->recent_events(5))
          std::fprintf(stderr, "event %s %s %s\n", e.type.c_str(), e.twin.c_str(),
                       e.source.c_str());
        std::fprintf(stderr, "no alert for %s within 10 s\n", id.c_str());
        std::abort();
      }
    }
    micros.push_back(static_cast<double>(w.alert_at.load() - start) / 1e3);
    state.PauseTiming();
    twin::SlotWrite cool{"temperature", twin::Value::number(20), t + 1};
    (void)w.rt->graph().report(id, std::span(&cool, 1));
    w.rt->drain_analytics();
    state.ResumeTiming();
  }
  std::sort(micros.begin(), micros.end());
  if (!micros.empty()) {
    state.counters["p50_us"] = micros[micros.size() / 2];
    state.counters["p99_us"] = micros[std::min(micros.size() - 1, micros.size() * 99 / 100)];
    state.counters["max_us"] = micros.back();
  }
}
BENCHMARK(BM_RulesAlertLatency)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_world.reset();
  return 0;
}
