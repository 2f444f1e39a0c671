// doppel validate | run
#include <pthread.h>

#include <csignal>
#include <cstdio>

#include "commands.hpp"
#include "doppel/api/api_server.hpp"
#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/runtime.hpp"

namespace doppel::cli {

namespace {

int print_load_errors(const runtime::DeploymentLoad& load, bool json) {
  if (json) {
    std::string out = "{\"valid\": false, \"errors\": [";
    bool first = true;
    for (const auto& d : load.diagnostics.items) {
      if (d.severity != model::Severity::kError) continue;
      out += (first ? "" : ", ") + model::diagnostic_to_json(d);
      first = false;
    }
    std::printf("%s]}\n", out.c_str());
  } else {
    for (const auto& d : load.diagnostics.items)
      std::fprintf(stderr, "%s\n", model::format_diagnostic(d).c_str());
    std::fprintf(stderr, "%zu error(s)\n", load.diagnostics.error_count());
  }
  return kExitInvalid;
}

}  // namespace

int validate(const ValidateArgs& args) {
  if (!std::filesystem::exists(args.deployment)) {
    std::fprintf(stderr, "doppel: %s: no such file\n", args.deployment.c_str());
    return kExitUsage;
  }
  runtime::DeploymentLoad load = runtime::load_deployment(args.deployment);
  if (!load.ok()) return print_load_errors(load, args.json);
  // Plugin libraries and their configs are checked by loading (not starting) them.
  runtime::RuntimeOptions options;
  options.start_plugins = false;
  options.log = std::make_unique<runtime::Log>(
      "validate", runtime::LogOptions{sdk::LogLevel::kError, runtime::LogFormat::kText});
  // The `api:` block is checked like everything else (tokens are read only when serving).
  if (const sdk::ConfigNode& block = load.deployment->api.node(); !block.missing()) {
    auto config = api::parse_api_config(block, load.deployment->file.parent_path());
    if (!config) {
      if (args.json)
        std::printf("{\"valid\": false, \"errors\": [%s]}\n",
                    twin::Value::string(config.status().message()).to_json().c_str());
      else
        std::fprintf(stderr, "%s\n", config.status().message().c_str());
      return kExitInvalid;
    }
  }
  std::size_t twins = load.deployment->twin_count();
  std::size_t plugins = load.deployment->plugins.size();
  runtime::Runtime rt(std::move(*load.deployment), load.models, std::move(options));
  auto checked = rt.start();
  if (!checked) {
    if (args.json)
      std::printf("{\"valid\": false, \"errors\": [%s]}\n",
                  twin::Value::string(checked.status().message()).to_json().c_str());
    else
      std::fprintf(stderr, "%s\n", checked.status().to_string().c_str());
    return kExitInvalid;
  }
  if (args.json)
    std::printf("{\"valid\": true, \"twins\": %zu, \"plugins\": %zu}\n", twins, plugins);
  else
    std::printf("ok: %zu twin%s, %zu plugin%s\n", twins, twins == 1 ? "" : "s", plugins,
                plugins == 1 ? "" : "s");
  return kExitOk;
}

int run(const RunArgs& args) {
  if (!std::filesystem::exists(args.deployment)) {
    std::fprintf(stderr, "doppel: %s: no such file\n", args.deployment.c_str());
    return kExitUsage;
  }
  // Signals go to this thread only (sigwait below); every thread started later inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);  // reload the API's tokens file
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::fprintf(stderr, "loading %s\n", args.deployment.c_str());
  runtime::DeploymentLoad load = runtime::load_deployment(args.deployment);
  if (!load.ok()) return print_load_errors(load, false);
  runtime::RuntimeOptions options;
  for (const auto& p : args.plugin_path)
    options.plugin_path.emplace_back(p);
  // The REST API, when the deployment has an `api:` block. Declared before the runtime: it
  // listens to the graph from the first change and must outlive the runtime.
  std::unique_ptr<api::ApiServer> api_server;
  if (const sdk::ConfigNode& block = load.deployment->api.node(); !block.missing()) {
    auto config = api::parse_api_config(block, load.deployment->file.parent_path());
    if (!config) {
      std::fprintf(stderr, "%s\n", config.status().message().c_str());
      return kExitInvalid;
    }
    api_server = std::make_unique<api::ApiServer>(std::move(*config));
    options.listeners.push_back(api_server->listener());
  }
  runtime::Runtime rt(std::move(*load.deployment), load.models, std::move(options));
  auto started = rt.start();
  if (!started) {
    std::fprintf(stderr, "doppel: cannot start:\n%s\n", started.status().to_string().c_str());
    return kExitInvalid;
  }
  if (api_server) {
    // start() logs the URL (never a token).
    if (sdk::Status s = api_server->start(rt); !s) {
      std::fprintf(stderr, "doppel: cannot start the API: %s\n", s.to_string().c_str());
      rt.stop();
      return kExitInvalid;
    }
  }
  rt.log().info("running; stop with Ctrl-C or SIGTERM", {{"deployment", rt.deployment().name}});
  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    if (api_server)
      (void)api_server->reload_tokens();  // logs the outcome; a bad file changes nothing
    else
      rt.log().info("SIGHUP ignored: the deployment has no api: block");
  }
  rt.log().info("stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
  if (api_server) api_server->stop();  // no request may reach a stopping runtime
  rt.stop();
  return kExitOk;
}

}  // namespace doppel::cli
