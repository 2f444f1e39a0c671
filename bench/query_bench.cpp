// Query latency over 100,000 twins of two models (5 numeric properties each); the query selects
// ~1 % of all twins. Each iteration is timed by hand and p50/p99 are reported as counters.
//   build/bench/doppel_query_bench --benchmark_min_time=3
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "doppel/model/loader.hpp"
#include "doppel/twin/property_index.hpp"
#include "doppel/twin/query.hpp"
#include "doppel/twin/twin_graph.hpp"

namespace {

using namespace doppel;

constexpr const char* kModels = R"([
 {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:bench:Motor;1", "@type": "Interface",
  "contents": [
    {"@type": "Property", "name": "p1", "schema": "double"}, {"@type": "Property", "name": "p2", "schema": "double"},
    {"@type": "Property", "name": "p3", "schema": "double"}, {"@type": "Property", "name": "p4", "schema": "double"},
    {"@type": "Property", "name": "p5", "schema": "double"}]},
 {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:bench:Pump;1", "@type": "Interface",
  "contents": [
    {"@type": "Property", "name": "q1", "schema": "double"}, {"@type": "Property", "name": "q2", "schema": "double"},
    {"@type": "Property", "name": "q3", "schema": "double"}, {"@type": "Property", "name": "q4", "schema": "double"},
    {"@type": "Property", "name": "q5", "schema": "double"}]}
])";

constexpr int kTwins = 100'000;  // half motors, half pumps
// p1 is uniform in [0, 1000): p1 > 980 holds for 2 % of the motors, 1 % of all twins.
constexpr const char* kIndexedQuery =
    "SELECT T FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:bench:Motor;1') AND T.p1 > 980";
constexpr const char* kScanQuery = "SELECT T FROM DIGITALTWINS T WHERE T.p1 > 980";
constexpr const char* kCountQuery =
    "SELECT COUNT() FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:bench:Motor;1') AND T.p1 > 980";

struct World {
  std::unique_ptr<twin::TwinGraph> graph;
  std::unique_ptr<twin::PropertyIndexes> indexes;

  World() {
    model::ModelLoader loader;
    loader.add_text("bench.json", kModels);
    auto models = loader.load();
    if (!models.ok()) std::abort();
    graph = std::make_unique<twin::TwinGraph>(models.registry);
    indexes = std::make_unique<twin::PropertyIndexes>(*graph);
    graph->add_listener(indexes.get());
    if (!indexes->add("dtmi:bench:Motor;1", "p1")) std::abort();
    std::mt19937 rng(42);
    std::uniform_real_distribution<double> value(0, 1000);
    for (int i = 0; i < kTwins; ++i) {
      const bool motor = i % 2 == 0;
      twin::CreateTwin spec;
      spec.id = (motor ? "motor-" : "pump-") + std::to_string(i);
      spec.model = motor ? "dtmi:bench:Motor;1" : "dtmi:bench:Pump;1";
      for (int p = 1; p <= 5; ++p) {
        static const std::string names[2][5] = {{"p1", "p2", "p3", "p4", "p5"},
                                                {"q1", "q2", "q3", "q4", "q5"}};
        spec.properties.push_back(
            {names[motor ? 0 : 1][p - 1], twin::Value::number(value(rng)), 0});
      }
      if (!graph->create(spec)) std::abort();
    }
  }
};

World& world() {
  static World w;
  return w;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void run_query(benchmark::State& state, const char* query, bool use_index) {
  World& w = world();
  twin::QueryEngine engine(*w.graph, use_index ? w.indexes.get() : nullptr);
  auto parsed = twin::parse_query(query);
  if (!parsed) {
    state.SkipWithError(parsed.status().to_string().c_str());
    return;
  }
  std::vector<double> ms;
  std::size_t rows = 0, examined = 0;
  std::string plan;
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    auto r = engine.run(*parsed);
    auto end = std::chrono::steady_clock::now();
    if (!r) {
      state.SkipWithError(r.status().to_string().c_str());
      return;
    }
    benchmark::DoNotOptimize(r->rows.data());
    double seconds = std::chrono::duration<double>(end - start).count();
    state.SetIterationTime(seconds);
    ms.push_back(seconds * 1e3);
    rows = r->rows.size();
    examined = r->stats.twins_examined;
    plan = r->stats.plan;
  }
  state.counters["p50_ms"] = percentile(ms, 0.50);
  state.counters["p99_ms"] = percentile(ms, 0.99);
  state.counters["rows"] = static_cast<double>(rows);
  state.counters["examined"] = static_cast<double>(examined);
  state.SetLabel(plan);
}

// The target path: IS_OF_MODEL + a range on the indexed property.
void BM_QueryIndexed(benchmark::State& state) {
  run_query(state, kIndexedQuery, true);
}
// Same query without property indexes: the graph's model index, then every motor is tested.
void BM_QueryModelScan(benchmark::State& state) {
  run_query(state, kIndexedQuery, false);
}
// No model condition: every twin is tested.
void BM_QueryFullScan(benchmark::State& state) {
  run_query(state, kScanQuery, false);
}
// The indexed query without rendering twins: what finding and testing alone cost.
void BM_QueryIndexedCount(benchmark::State& state) {
  run_query(state, kCountQuery, true);
}

BENCHMARK(BM_QueryIndexed)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QueryIndexedCount)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QueryModelScan)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QueryFullScan)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
