// doppel-sim's settings: one typed struct, filled from a YAML file and the command line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "generator.hpp"

namespace doppel::sim {

// Twin scopes and their default update periods (DESIGN.md, "Twin scopes").
enum class Scope { kComponent, kAsset, kProcess };
struct IntervalRange {
  double min_s, max_s;
};
IntervalRange scope_interval(Scope scope);
std::optional<Scope> parse_scope(std::string_view text);

// "--gen motor-[1-3]:temperature=drift:60,5,0.5,90" or a `generators:` entry in YAML.
struct GenRule {
  std::string devices;  // glob over twin ids; empty: every device
  std::string name;     // telemetry or property name, "component/name" inside components
  GeneratorSpec spec;
  std::string origin;  // where it was written, for error messages
};

// "--respond reduceLoad={...}", "--no-respond reduceLoad" or `respond:`/`no_respond:` in YAML.
struct RespondRule {
  std::string devices;              // glob; empty: every device
  std::string command;              // command name ("component/name" in components)
  std::optional<std::string> json;  // nullopt: never answer (a dead device)
  std::string origin;
};

struct SimOptions {
  std::string broker = "tcp://127.0.0.1:1883";
  std::vector<std::string> models;
  std::string model;
  int count = 1;
  std::string id = "device-{i}";
  int start = 1;

  Scope scope = Scope::kComponent;
  std::optional<double> interval_s;  // simulated seconds; overrides the scope's range
  double time_scale = 1;             // simulated seconds per wall second
  std::optional<std::uint64_t> seed;
  // "ts" of telemetry: simulated time (default), the wall clock, or left out.
  enum class Timestamps { kSim, kWall, kNone } timestamps = Timestamps::kSim;
  static std::optional<Timestamps> parse_timestamps(std::string_view text);

  int protocol = 5;  // 5 or 4 (3.1.1)
  int qos = 0;
  std::string client_id;
  std::string telemetry_topic = "devices/{twin}/telemetry";
  std::string reported_topic = "devices/{twin}/reported";
  std::string desired_topic = "devices/{twin}/desired";
  std::string ack_topic = "devices/{twin}/desired/ack";
  std::string command_topic;  // default depends on the protocol, see effective_command_topic()
  std::string response_topic = "devices/{twin}/commands/{name}/response/{correlation}";
  double report_interval_s = 0;  // re-publish read-only properties; 0: at (re)connect only

  std::optional<double> rate;  // total telemetry messages per second; 0: unpaced
  std::optional<double> duration_s;
  std::optional<std::uint64_t> messages;
  // Publishes waiting for their completion, at most; 0: by QoS (effective_window()).
  std::size_t window = 0;
  std::size_t effective_window() const;
  std::size_t buffer = 10000;  // messages kept while the broker is away
  int connect_retries = 5;
  double drain_s = 10;
  double progress_s = 5;
  bool json = false;
  bool quiet = false;

  std::vector<GenRule> generators;
  std::vector<RespondRule> responds;

  // CoAP instead of MQTT (either or both roles; see coap_link.hpp).
  std::string coap;         // client: telemetry and reported properties POSTed to this URI
  std::string coap_listen;  // server: HOST:PORT with the devices' resources
  bool coap_con = true;     // --coap-type con|non
  bool coap_cbor = false;   // --coap-format json|cbor
  std::string coap_telemetry_path = "twins/{twin}/telemetry";
  std::string coap_properties_path = "twins/{twin}/properties";
  std::string coap_desired_path = "twins/{twin}/desired";
  std::string coap_command_path = "twins/{twin}/commands/{name}";
  std::optional<double> coap_silent_after_s;  // server: stop answering and notifying
  std::string coap_silent_devices;            // glob; empty: the whole server
  bool uses_coap() const { return !coap.empty() || !coap_listen.empty(); }

  std::string effective_command_topic() const;
};

// An error in the user's input: "where" is an option ("--gen 'x'") or "file:line:col".
struct ConfigError {
  std::string where;
  std::string message;
  std::string format() const { return where.empty() ? message : where + ": " + message; }
};

// Parses "[devices:]name=spec" (the --gen syntax).
std::variant<GenRule, ConfigError> parse_gen_option(const std::string& text);
// Parses "[devices:]command=<json>" (--respond) and "[devices:]command" (--no-respond).
std::variant<RespondRule, ConfigError> parse_respond_option(const std::string& text,
                                                            bool no_respond);

// Loads a YAML config file into `options` (keys are the long option names, with '-' or '_').
// Relative model paths are resolved against the file's folder. Unknown keys are errors.
std::vector<ConfigError> load_yaml_config(const std::string& path, SimOptions& options);

// Cross-field checks that need no model (topics carry their placeholders, ranges, ...).
std::vector<ConfigError> validate_options(const SimOptions& options);

// Parses "[devices:]duration" (--coap-silent-after) into `options`; false when the duration
// is not one.
bool parse_silent_after(const std::string& text, SimOptions& options);

// "motor-{i}" with i = 7 -> "motor-7"; "{i:03}" pads with zeros.
std::string expand_id(const std::string& pattern, int i);

// Shell-style glob over twin ids ('*', '?', '[a-z]').
bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace doppel::sim
