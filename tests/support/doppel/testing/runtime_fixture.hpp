// A Runtime started in-process from deployment text, on a fake clock, for the tests of the
// runtime and of plugins that run inside it. Tests that include this link doppel_runtime.
#pragma once

#include <fstream>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/runtime.hpp"
#include "doppel/testing/test_services.hpp"

namespace doppel::testing {

class RuntimeFixture {
 public:
  TempDir dir;
  FakeClock clock;
  std::unique_ptr<runtime::Runtime> rt;
  std::string error;  // why start() failed: the deployment's diagnostics or the start status

  explicit RuntimeFixture(sdk::Timestamp start = 1'700'000'000'000'000'000) : clock(start) {}

  // Writes `yaml` to <dir>/deploy.yaml, loads it and starts a Runtime on `clock`. Ticks come
  // only from rt->tick_now() (the tick is an hour) and only errors are logged, unless
  // `configure` changes the options. `before_start` sees the Runtime before it starts (to
  // subscribe to its events, say).
  bool start(const std::string& yaml,
             const std::function<void(runtime::RuntimeOptions&)>& configure = {},
             const std::function<void(runtime::Runtime&)>& before_start = {}) {
    std::ofstream(dir.path() / "deploy.yaml") << yaml;
    auto load = runtime::load_deployment(dir.path() / "deploy.yaml");
    if (!load.ok()) {
      error = "deployment did not load";
      for (const auto& d : load.diagnostics.items)
        error += "\n" + d.message;
      return false;
    }
    runtime::RuntimeOptions o;
    o.clock = &clock;
    o.tick = 3600 * sdk::kSecond;
    o.log = std::make_unique<runtime::Log>(
        "test", runtime::LogOptions{sdk::LogLevel::kError, runtime::LogFormat::kText});
    if (configure) configure(o);
    rt = std::make_unique<runtime::Runtime>(std::move(*load.deployment), load.models, std::move(o));
    if (before_start) before_start(*rt);
    auto started = rt->start();
    if (!started) error = started.status().to_string();
    return started.has_value();
  }

  // A reported number with its event time, straight into the graph.
  sdk::Status report(std::string_view twin, std::string_view path, double value,
                     sdk::Timestamp time) {
    twin::SlotWrite w{path, twin::Value::number(value), time};
    auto r = rt->graph().report(twin, std::span(&w, 1));
    return r ? sdk::Status() : r.status();
  }

  // The value of a metric series ("name" or "name{labels}") in the Prometheus text, or
  // `missing` when the series is not there.
  double metric(std::string_view series, double missing = 0) const {
    const std::string text = rt->metrics().render_prometheus();
    for (std::size_t at = text.find(series); at != std::string::npos;
         at = text.find(series, at + 1)) {
      if (at > 0 && text[at - 1] != '\n') continue;
      std::size_t sp = text.find(' ', at);
      return std::stod(text.substr(sp + 1, text.find('\n', sp) - sp - 1));
    }
    return missing;
  }
};

}  // namespace doppel::testing
