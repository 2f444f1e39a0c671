// doppel-sim: simulates devices of a DTDL interface over MQTT. CLI11 stays in this file.
#include <pthread.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <random>
#include <thread>

#include "doppel/model/diagnostic.hpp"
#include "doppel/model/loader.hpp"
#include "doppel/model/registry.hpp"
#include "src/device.hpp"
#include "src/simulator.hpp"

namespace {

using namespace doppel::sim;

constexpr int kExitUsage = 2;
constexpr int kExitRuntime = 1;

int usage_error(const std::string& message) {
  std::fprintf(stderr, "doppel-sim: error: %s\n", message.c_str());
  return kExitUsage;
}

// Finds "--config FILE" / "--config=FILE" / "-c FILE" before CLI11 runs, so that the file's
// values become the defaults the command line overrides.
std::string find_config(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--config" || a == "-c") && i + 1 < argc) return argv[i + 1];
    if (a.rfind("--config=", 0) == 0) return a.substr(9);
  }
  return {};
}

// CLI11 check for options that take durations; the value is parsed again after CLI11 ran.
CLI::Validator duration_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (parse_duration_s(text)) return {};
        return "'" + text + "' is not a duration (e.g. 500ms, 5s, 2m, 1h)";
      },
      "DURATION");
}

}  // namespace

int main(int argc, char** argv) {
  SimOptions o;
  const std::string config = find_config(argc, argv);
  if (!config.empty()) {
    auto errors = load_yaml_config(config, o);
    if (!errors.empty()) {
      for (const auto& e : errors)
        std::fprintf(stderr, "%s: error: %s\n", e.where.c_str(), e.message.c_str());
      return kExitUsage;
    }
  }

  CLI::App app{
      "doppel-sim: simulate N devices of a DTDL interface over MQTT (or CoAP: --coap, "
      "--coap-listen).\n"
      "Each device publishes telemetry as {\"<name>\": value, ..., \"ts\": <epoch ms>}, reports\n"
      "its properties, applies desired properties (with an ack) and answers commands.\n"
      "Example:\n"
      "  doppel-sim --models examples/models/factory --model 'dtmi:example:factory:Motor;1' \\\n"
      "    --count 50 --id 'motor-{i}' --gen 'motor-3:temperature=drift:60,5,0.5,90'\n"};
  app.option_defaults()->always_capture_default();
  std::string config_flag;
  app.add_option("-c,--config", config_flag,
                 "YAML file with the same settings (keys are the long option names); the "
                 "command line overrides it");

  auto* g_dev = "Devices";
  app.add_option("--broker", o.broker, "MQTT broker URI")->group(g_dev);
  app.add_option("--models", o.models, "Model files or folders (DTDL JSON or YAML)")->group(g_dev);
  app.add_option("--model", o.model, "DTMI of the interface to simulate")->group(g_dev);
  app.add_option("--count", o.count, "Number of devices")->group(g_dev);
  app.add_option("--id", o.id, "Twin id template; {i} is the device number, {i:03} pads it")
      ->group(g_dev);
  app.add_option("--start", o.start, "First device number")->group(g_dev);

  auto* g_time = "Timing";
  std::string scope_text;
  app.add_option("--scope", scope_text,
                 "Twin scope, picks each device's period at random in its range: component "
                 "(1-10 s, default), asset (1-5 min), process (100 ms-1 s)")
      ->check(CLI::IsMember({"component", "asset", "process"}))
      ->group(g_time);
  std::optional<double> interval;
  std::string interval_text;
  app.add_option("--interval", interval_text,
                 "Period of every device in simulated time (e.g. 2s, 500ms), "
                 "instead of the scope's range")
      ->check(duration_check())
      ->group(g_time);
  app.add_option("--time-scale", o.time_scale,
                 "Simulated seconds per wall second (e.g. 60: an hour of drift in a minute)")
      ->group(g_time);
  std::uint64_t seed = 0;
  auto* seed_opt = app.add_option("--seed", seed,
                                  "Seed of every random choice (default: random, "
                                  "printed at start)")
                       ->default_str("random")
                       ->group(g_time);
  std::string timestamps;
  app.add_option("--timestamps", timestamps,
                 "\"ts\" from simulated time (sim, default), the wall clock (wall), or none")
      ->check(CLI::IsMember({"sim", "wall", "none"}))
      ->group(g_time);

  auto* g_val = "Values and answers";
  std::vector<std::string> gens, responds, no_responds;
  app.add_option("--gen", gens,
                 "[devices:]name=spec, repeatable. spec: constant:V | sine:mean,amplitude,period | "
                 "walk:start,step[,min,max] | drift:start,rate_per_hour,noise[,failure_at] | "
                 "flip:probability. devices is a glob over twin ids (motor-[1-3]); name is "
                 "component/name inside a component")
      ->group(g_val);
  app.add_option("--respond", responds, "[devices:]command=<json>: the answer to a command")
      ->group(g_val);
  app.add_option("--no-respond", no_responds,
                 "[devices:]command: never answer it (a dead device, for timeout tests)")
      ->group(g_val);
  std::optional<double> report_interval;
  std::string report_interval_text;
  app.add_option("--report-interval", report_interval_text,
                 "Re-publish every property this often (simulated time); "
                 "default: on (re)connect only")
      ->check(duration_check())
      ->group(g_val);

  auto* g_mqtt = "MQTT";
  app.add_option("--protocol", o.protocol, "MQTT version: 5 or 4 (3.1.1)")
      ->check(CLI::IsMember({4, 5}))
      ->group(g_mqtt);
  app.add_option("--qos", o.qos, "QoS of every publish")->check(CLI::Range(0, 2))->group(g_mqtt);
  app.add_option("--client-id", o.client_id, "Client id (default doppel-sim-<pid>)")->group(g_mqtt);
  app.add_option("--telemetry-topic", o.telemetry_topic, "Telemetry topic template")->group(g_mqtt);
  app.add_option("--reported-topic", o.reported_topic, "Reported properties topic template")
      ->group(g_mqtt);
  app.add_option("--desired-topic", o.desired_topic, "Desired properties topic (subscribed)")
      ->group(g_mqtt);
  app.add_option("--ack-topic", o.ack_topic, "Desired property acknowledgements")->group(g_mqtt);
  app.add_option("--command-topic", o.command_topic,
                 "Command topic template with {twin}, {name} (and {correlation} for MQTT 3.1.1); "
                 "default devices/{twin}/commands/{name} (v5), "
                 "devices/{twin}/commands/{name}/{correlation} (3.1.1)")
      ->group(g_mqtt);
  app.add_option("--response-topic", o.response_topic,
                 "MQTT 3.1.1 command responses, with {twin}, {name}, {correlation} (v5 answers "
                 "on the request's Response Topic)")
      ->group(g_mqtt);
  app.add_option("--window", o.window,
                 "Publishes awaiting completion, at most (default: 20 at QoS 1/2, mosquitto's "
                 "default inflight limit; 100 at QoS 0)")
      ->default_str("by QoS")
      ->group(g_mqtt);
  app.add_option("--buffer", o.buffer, "Messages buffered while disconnected, then dropped")
      ->group(g_mqtt);
  app.add_option("--connect-retries", o.connect_retries,
                 "Initial connection attempts after the first, with backoff; then exit 1")
      ->group(g_mqtt);

  auto* g_coap = "CoAP (instead of MQTT)";
  app.add_option("--coap", o.coap,
                 "Client role: POST telemetry and reported properties to this base URI "
                 "(coap://127.0.0.1:5683)")
      ->group(g_coap);
  app.add_option("--coap-listen", o.coap_listen,
                 "Server role: serve each device's resources on HOST:PORT (port 0: any; the "
                 "address is printed on stderr): observable telemetry and properties, PUT "
                 "desired, POST commands/{name}")
      ->group(g_coap);
  std::string coap_type, coap_format, coap_silent_text;
  app.add_option("--coap-type", coap_type,
                 "Client requests confirmable (con, default) or not (non)")
      ->check(CLI::IsMember({"con", "non"}))
      ->group(g_coap);
  app.add_option("--coap-format", coap_format,
                 "Payloads as JSON (json, Content-Format 50, default) or CBOR (cbor, 60)")
      ->check(CLI::IsMember({"json", "cbor"}))
      ->group(g_coap);
  app.add_option("--coap-telemetry-path", o.coap_telemetry_path, "Telemetry resource, with {twin}")
      ->group(g_coap);
  app.add_option("--coap-properties-path", o.coap_properties_path,
                 "Reported properties resource, with {twin}")
      ->group(g_coap);
  app.add_option("--coap-desired-path", o.coap_desired_path,
                 "Server: desired properties resource (PUT), with {twin}")
      ->group(g_coap);
  app.add_option("--coap-command-path", o.coap_command_path,
                 "Server: command resources (POST), with {twin} and {name}")
      ->group(g_coap);
  app.add_option("--coap-silent-after", coap_silent_text,
                 "Server: [devices:]duration: after this wall time the devices (a glob over twin "
                 "ids; default all, then the socket is no longer read) stop answering and "
                 "notifying (observe loss tests)")
      ->group(g_coap);

  auto* g_load = "Load and report";
  app.add_option("--rate", o.rate,
                 "Load mode: total telemetry messages per second over all devices, round robin "
                 "(0: as fast as possible); ignores per-device periods")
      ->group(g_load);
  std::optional<double> duration;
  std::string duration_text;
  app.add_option("--duration", duration_text, "Stop after this wall time (e.g. 30s)")
      ->check(duration_check())
      ->group(g_load);
  app.add_option("--messages", o.messages, "Stop after this many telemetry messages")
      ->group(g_load);
  app.add_flag("--json", o.json, "Print the final report as JSON")->group(g_load);
  app.add_flag("-q,--quiet", o.quiet, "No progress lines on stderr")->group(g_load);
  app.add_option("--progress", o.progress_s, "Seconds between progress lines")->group(g_load);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  if (!scope_text.empty()) o.scope = *parse_scope(scope_text);
  if (!interval_text.empty()) interval = parse_duration_s(interval_text);
  if (!duration_text.empty()) duration = parse_duration_s(duration_text);
  if (!report_interval_text.empty()) report_interval = parse_duration_s(report_interval_text);
  if (interval) o.interval_s = interval;
  if (duration) o.duration_s = duration;
  if (report_interval) o.report_interval_s = *report_interval;
  if (seed_opt->count() > 0) o.seed = seed;
  if (!coap_type.empty()) o.coap_con = coap_type == "con";
  if (!coap_format.empty()) o.coap_cbor = coap_format == "cbor";
  if (!coap_silent_text.empty() && !parse_silent_after(coap_silent_text, o))
    return usage_error("--coap-silent-after '" + coap_silent_text +
                       "': not [devices:]duration (e.g. 10s, motor-[1-3]:500ms)");
  if (!timestamps.empty()) o.timestamps = *SimOptions::parse_timestamps(timestamps);
  for (const auto& g : gens) {
    auto r = parse_gen_option(g);
    if (auto* e = std::get_if<ConfigError>(&r)) return usage_error(e->format());
    o.generators.push_back(std::get<GenRule>(std::move(r)));
  }
  for (const auto& [list, silent] : {std::pair{&responds, false}, std::pair{&no_responds, true}}) {
    for (const auto& text : *list) {
      auto r = parse_respond_option(text, silent);
      if (auto* e = std::get_if<ConfigError>(&r)) return usage_error(e->format());
      o.responds.push_back(std::get<RespondRule>(std::move(r)));
    }
  }
  if (auto errors = validate_options(o); !errors.empty()) {
    for (const auto& e : errors)
      usage_error(e.format());
    return kExitUsage;
  }
  if (!o.seed) o.seed = std::random_device{}();

  std::vector<std::filesystem::path> paths(o.models.begin(), o.models.end());
  auto loaded = doppel::model::load_models(paths);
  for (const auto& d : loaded.diagnostics.items)
    std::fprintf(stderr, "%s\n", doppel::model::format_diagnostic(d).c_str());
  if (!loaded.ok()) return usage_error("--models: the models have errors (see above)");
  const auto* iface = loaded.registry->find(o.model);
  if (iface == nullptr) {
    std::string known;
    for (const auto* i : loaded.registry->interfaces())
      known += (known.empty() ? "" : ", ") + i->id;
    return usage_error("--model: '" + o.model + "' is not in the models (they define: " + known +
                       ")");
  }
  auto fleet = build_fleet(*iface, o, *o.seed);
  if (auto* errors = std::get_if<std::vector<ConfigError>>(&fleet)) {
    for (const auto& e : *errors)
      usage_error(e.format());
    return kExitUsage;
  }
  auto& devices = std::get<Fleet>(fleet);
  for (const auto& w : devices.warnings)
    std::fprintf(stderr, "doppel-sim: warning: %s\n", w.format().c_str());

  // Signals go to one thread, so Ctrl-C stops the run cleanly instead of killing it; block them
  // before Paho starts its threads so they inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (!o.quiet) {
    const std::string peer =
        !o.uses_coap()
            ? "broker " + o.broker
            : (o.coap.empty() ? "" : "coap " + o.coap + (o.coap_listen.empty() ? "" : ", ")) +
                  (o.coap_listen.empty() ? "" : "coap server " + o.coap_listen);
    std::fprintf(stderr, "doppel-sim: %d device(s) of %s (%s ... ), seed %llu, %s\n", o.count,
                 o.model.c_str(), devices.devices.front()->id().c_str(),
                 static_cast<unsigned long long>(*o.seed), peer.c_str());
  }
  Simulator sim(o, std::move(devices.devices));
  std::thread([&sim, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    sim.stop();
    sigwait(&signals, &sig);  // a second Ctrl-C: give up on draining
    std::_Exit(130);
  }).detach();

  const int rc = sim.run();
  if (rc != 0) return kExitRuntime;
  const auto report = sim.snapshot();
  std::fputs((o.json ? format_json(report) : format_text(report)).c_str(), stdout);
  std::fflush(stdout);
  return 0;
}
