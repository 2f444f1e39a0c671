// Runs a deployment and applies updates as fast as they are acknowledged, printing each
// acknowledgement ("ack <twin> <n>") only after the storage reported it durable. The crash
// test kills this process with SIGKILL mid-stream and checks every printed update survived.
//   crash_writer DEPLOYMENT
#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/runtime.hpp"
#include "doppel/runtime/update_pipeline.hpp"

int main(int argc, char** argv) {
  using namespace doppel;
  if (argc != 2) return 2;
  auto load = runtime::load_deployment(argv[1]);
  if (!load.ok()) {
    for (auto& d : load.diagnostics.items)
      std::fprintf(stderr, "%s\n", model::format_diagnostic(d).c_str());
    return 1;
  }
  runtime::RuntimeOptions opts;
  opts.log = std::make_unique<runtime::Log>(
      "crash", runtime::LogOptions{sdk::LogLevel::kWarn, runtime::LogFormat::kText});
  runtime::Runtime rt(std::move(*load.deployment), load.models, std::move(opts));
  auto started = rt.start();
  if (!started) {
    std::fprintf(stderr, "%s\n", started.status().to_string().c_str());
    return 1;
  }
  std::mutex out;
  std::printf("ready\n");
  std::fflush(stdout);
  std::atomic<long> in_flight{0};
  for (long n = 1;; ++n) {
    for (int t = 1; t <= 4; ++t) {
      std::string twin = "m" + std::to_string(t);
      while (in_flight.load() > 2000)
        std::this_thread::yield();
      ++in_flight;
      runtime::TwinUpdate u{twin, {{"count", twin::Value::integer(n), 0}}, false, std::nullopt};
      rt.pipeline().submit(std::move(u), [&, twin, n](const sdk::Status& s, std::uint64_t) {
        --in_flight;
        if (!s) return;
        std::lock_guard lock(out);
        std::printf("ack %s %ld\n", twin.c_str(), n);
        std::fflush(stdout);
      });
    }
  }
}
