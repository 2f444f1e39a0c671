// What the protocol plugins' tests share: a deployment around the plugin under test in a temp
// folder, quiet runtime options, probes of twin state and metrics, and loading the plugin alone
// through the real host with test services. Links: doppel_runtime, doppel_host.
#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "doppel/host/plugin_host.hpp"
#include "doppel/model/diagnostic.hpp"
#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/runtime.hpp"
#include "doppel/sdk/ingest.hpp"
#include "doppel/sdk/storage.hpp"
#include "doppel/testing/test_services.hpp"

namespace doppel::testing {

// The deployment file `text`, read from a temp folder that holds models/model.json.
struct TestDeployment {
  TempDir dir;
  runtime::DeploymentLoad load;

  TestDeployment(const std::string& model_json, const std::string& text) {
    std::filesystem::create_directories(dir.path() / "models");
    std::ofstream(dir.path() / "models" / "model.json") << model_json;
    load = runtime::load_deployment_text("deploy.yaml", text, dir.path());
  }
  std::string errors() const {
    std::string s;
    for (const auto& d : load.diagnostics.items)
      s += model::format_diagnostic(d) + "\n";
    return s;
  }
};

// Warnings only, two update workers: test output stays readable and runs stay light.
inline runtime::RuntimeOptions quiet_runtime_options(const std::string& name,
                                                     sdk::Duration tick = sdk::kSecond) {
  runtime::RuntimeOptions o;
  o.log = std::make_unique<runtime::Log>(
      name, runtime::LogOptions{sdk::LogLevel::kWarn, runtime::LogFormat::kText});
  o.workers = 2;
  o.tick = tick;
  return o;
}

// The value of one series in the runtime's Prometheus text ("name{labels}"), 0 when absent.
inline double metric(runtime::Runtime& rt, const std::string& series) {
  std::istringstream in(rt.metrics().render_prometheus());
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return 0;
}

// A twin's reported value at `path` as JSON ("null" when never reported, "" without the twin).
inline std::string reported(runtime::Runtime& rt, const std::string& twin,
                            const std::string& path) {
  std::string out;
  rt.graph().read(twin, [&](const twin::TwinView& v) {
    if (const twin::SlotState* s = v.slot(path)) out = s->reported.to_json();
  });
  return out;
}

// Every stored dead letter (JSON with time, plugin, topic, reason, message, payload), oldest
// first; a failed scan gives one entry saying so, so a test's count check fails with it.
inline std::vector<std::string> dead_letters(runtime::Runtime& rt) {
  struct Collect final : sdk::RecordVisitor {
    std::vector<std::string> out;
    bool visit(std::string_view, std::string_view v) noexcept override {
      out.emplace_back(v);
      return true;
    }
  } collect;
  if (sdk::Status s = rt.storage().scan(sdk::Table::kDeadLetters, "", collect); !s)
    return {"scan of dead letters failed: " + s.to_string()};
  return std::move(collect.out);
}

// The deployment's first plugin loaded alone through the real host (no runtime), with test
// services, so a test sees what the plugin hands the core and when.
struct LoadedTestPlugin {
  TestDeployment deploy;
  TestLog log;
  sdk::SystemClock clock;
  TestMetrics metrics;
  std::unique_ptr<host::LoadedPlugin> plugin;

  LoadedTestPlugin(const std::string& model_json, const std::string& text)
      : deploy(model_json, text) {}

  sdk::Status start(sdk::IngestSink* ingest) {
    if (!deploy.load.ok()) return sdk::invalid_argument(deploy.errors());
    const runtime::PluginSpec& spec = deploy.load.deployment->plugins.at(0);
    host::PluginRequest req;
    req.name = spec.name;
    req.kind = spec.kind;
    req.library = spec.library;
    req.config = &spec.config();
    req.where = spec.where;
    req.context.instance_name = spec.name;
    req.context.log = &log;
    req.context.clock = &clock;
    req.context.metrics = &metrics;
    req.context.ingest = ingest;
    host::PluginHost host(host::PluginSearchPath::standard());
    auto loaded = host.load(req);
    if (!loaded) return loaded.status();
    plugin = std::move(*loaded);
    return plugin->start();
  }
};

}  // namespace doppel::testing
