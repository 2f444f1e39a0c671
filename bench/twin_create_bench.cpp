// Creates N twins (a model with 5 numeric properties, 1 relationship each) from a deployment
// file and reports the time and the peak memory per twin.
//   build/bench/doppel_twin_create_bench [N] [memory|rocksdb]     (default 1000000 memory)
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/runtime.hpp"

namespace fs = std::filesystem;
using namespace doppel;

namespace {
long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}
}  // namespace

int main(int argc, char** argv) {
  long n = argc > 1 ? std::atol(argv[1]) : 1'000'000;
  std::string storage = argc > 2 ? argv[2] : "memory";
  fs::path dir = fs::temp_directory_path() / ("doppel-create-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "asset.json") << R"([
 {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:bench:Asset;1", "@type": "Interface",
  "contents": [
   {"@type": "Property", "name": "p1", "schema": "double"}, {"@type": "Property", "name": "p2", "schema": "double"},
   {"@type": "Property", "name": "p3", "schema": "double"}, {"@type": "Property", "name": "p4", "schema": "double"},
   {"@type": "Property", "name": "p5", "schema": "double"},
   {"@type": "Relationship", "name": "partOf", "target": "dtmi:bench:Site;1"}]},
 {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:bench:Site;1", "@type": "Interface"}])";
  std::ofstream d(dir / "deploy.yaml");
  d << "apiVersion: doppel/v1\nname: create-bench\nmodels: [asset.json]\n";
  if (storage == "rocksdb")
    d << "plugins:\n  - {name: store, kind: storage, library: rocksdb, config: {path: "
      << (dir / "db").string() << ", durability: wal}}\n";
  d << "twins:\n  - {id: site, model: \"dtmi:bench:Site;1\"}\n"
    << "  - {id: \"a{i}\", count: " << n << ", model: \"dtmi:bench:Asset;1\", "
    << "properties: {p1: 1.5, p2: 2.5, p3: 3.5, p4: 4.5, p5: 5.5}}\n"
    << "relationships:\n  - {source: \"a{i}\", name: partOf, target: site, count: " << n << "}\n";
  d.close();

  long rss_before = peak_rss_kib();
  auto t0 = std::chrono::steady_clock::now();
  auto load = runtime::load_deployment(dir / "deploy.yaml");
  if (!load.ok()) {
    for (auto& e : load.diagnostics.items)
      std::fprintf(stderr, "%s\n", model::format_diagnostic(e).c_str());
    return 1;
  }
  auto t1 = std::chrono::steady_clock::now();
  runtime::RuntimeOptions opts;
  opts.log = std::make_unique<runtime::Log>(
      "bench", runtime::LogOptions{sdk::LogLevel::kWarn, runtime::LogFormat::kText});
  runtime::Runtime rt(std::move(*load.deployment), load.models, std::move(opts));
  auto started = rt.start();
  if (!started) {
    std::fprintf(stderr, "%s\n", started.status().to_string().c_str());
    return 1;
  }
  auto t2 = std::chrono::steady_clock::now();
  long rss = peak_rss_kib();
  double validate_s = std::chrono::duration<double>(t1 - t0).count();
  double create_s = std::chrono::duration<double>(t2 - t1).count();
  std::printf("twins: %zu (+1 site), relationships: %zu, storage: %s\n", rt.graph().size() - 1,
              started->relationships_created, storage.c_str());
  std::printf(
      "load + validate deployment: %.2f s; create twins and relationships (graph + storage): %.2f "
      "s; total %.2f s\n",
      validate_s, create_s, validate_s + create_s);
  std::printf("peak RSS: %.1f MiB (%.0f bytes per twin, process baseline %.1f MiB)\n", rss / 1024.0,
              (rss - rss_before) * 1024.0 / static_cast<double>(n), rss_before / 1024.0);
  rt.stop();
  fs::remove_all(dir);
  return 0;
}
