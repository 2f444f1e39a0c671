// Model layer benchmarks: loading a whole ontology, and payload validation (the ingest hot path).
//
//   build/bench/doppel_model_bench --benchmark_filter=Load
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "doppel/model/loader.hpp"
#include "doppel/model/payload.hpp"
#include "doppel/model/registry.hpp"

namespace {

using namespace doppel::model;
namespace fs = std::filesystem;

const fs::path kData = DOPPEL_DTDL_DATA;

void BM_LoadOntologyFromDisk(benchmark::State& state, const char* folder) {
  fs::path dir = kData / folder;
  if (!fs::exists(dir)) {
    state.SkipWithError("DTDL data not found");
    return;
  }
  std::size_t interfaces = 0;
  for (auto _ : state) {
    LoadResult r = load_models({dir});
    if (!r.ok()) {
      state.SkipWithError("load failed");
      return;
    }
    interfaces = r.registry->interfaces().size();
    benchmark::DoNotOptimize(r);
  }
  state.counters["interfaces"] = static_cast<double>(interfaces);
}
BENCHMARK_CAPTURE(BM_LoadOntologyFromDisk, realestatecore, "realestatecore")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LoadOntologyFromDisk, smartcities, "smartcities")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LoadOntologyFromDisk, energygrid, "energygrid")->Unit(benchmark::kMillisecond);

// Parse + resolve + validate only: the documents are already in memory.
void BM_LoadRealEstateCoreFromMemory(benchmark::State& state) {
  std::vector<std::pair<std::string, std::string>> docs;
  std::error_code ec;
  for (auto& e : fs::recursive_directory_iterator(kData / "realestatecore", ec)) {
    if (e.path().extension() != ".json") continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    docs.emplace_back(e.path().string(), ss.str());
  }
  if (docs.empty()) {
    state.SkipWithError("DTDL data not found");
    return;
  }
  for (auto _ : state) {
    ModelLoader loader;
    for (const auto& [name, text] : docs)
      loader.add_text(name, text);
    LoadResult r = loader.load();
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_LoadRealEstateCoreFromMemory)->Unit(benchmark::kMillisecond);

constexpr const char* kTelemetryModel = R"({
  "@context": "dtmi:dtdl:context;3",
  "@id": "dtmi:bench:Motor;1",
  "@type": "Interface",
  "contents": [
    {"@type": "Telemetry", "name": "temperature", "schema": "double"},
    {"@type": "Telemetry", "name": "vibration", "schema": "double"},
    {"@type": "Telemetry", "name": "current", "schema": "double"},
    {"@type": "Telemetry", "name": "voltage", "schema": "double"},
    {"@type": "Telemetry", "name": "speed", "schema": "integer"},
    {"@type": "Telemetry", "name": "torque", "schema": "float"},
    {"@type": "Telemetry", "name": "running", "schema": "boolean"},
    {"@type": "Telemetry", "name": "mode", "schema": {"@type": "Enum", "valueSchema": "string",
      "enumValues": [{"name": "auto", "enumValue": "auto"}, {"name": "manual", "enumValue": "manual"}]}},
    {"@type": "Telemetry", "name": "operator", "schema": "string"},
    {"@type": "Telemetry", "name": "sampledAt", "schema": "dateTime"}
  ]
})";

// A 10-field telemetry payload, parsed and validated into typed values.
void BM_ValidateTelemetry10Fields(benchmark::State& state) {
  ModelLoader loader;
  loader.add_text("motor.json", kTelemetryModel);
  LoadResult r = loader.load();
  if (!r.ok()) {
    state.SkipWithError("model failed to load");
    return;
  }
  PayloadValidator validator(*r.registry->find("dtmi:bench:Motor;1"));
  PayloadScratch scratch;
  const std::string payload =
      R"({"temperature": 81.25, "vibration": 0.031, "current": 12.5, "voltage": 398.7, "speed": 1480,)"
      R"( "torque": 41.5, "running": true, "mode": "auto", "operator": "line-7", "sampledAt": "2026-11-25T10:15:30.250Z"})";
  for (auto _ : state) {
    PayloadResult res = validator.validate(payload, PayloadKind::kTelemetry, scratch);
    if (!res.ok) state.SkipWithError("payload rejected");
    benchmark::DoNotOptimize(res.values.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(payload.size()));
}
BENCHMARK(BM_ValidateTelemetry10Fields);

}  // namespace
