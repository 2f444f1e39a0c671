// One simulated device: its values, its writable state, its command answers.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/model/payload.hpp"
#include "doppel/model/registry.hpp"
#include "generator.hpp"
#include "sim_options.hpp"

namespace doppel::sim {

// The outcome of a desired-property message.
struct DesiredResult {
  bool ok = false;
  std::string error;          // why it was refused
  std::string ack_json;       // {"name", "component"?, "version"}
  std::string reported_json;  // {"<name>": value} (nested in the component, if any)
};

class Device {
 public:
  struct Value {
    std::string path;  // "name" or "component/name"
    const model::Content* content = nullptr;
    const model::Content* component = nullptr;  // nullptr at the top level
    NumberKind numbers = NumberKind::kReal;
    std::unique_ptr<Generator> generator;
    bool from_rule = false;  // configured by the user, not a default
  };

  Device(std::string id, double interval_s, const model::PayloadValidator& validator);

  const std::string& id() const { return id_; }
  double interval_s() const { return interval_s_; }

  void add_telemetry(Value v) { telemetry_.push_back(std::move(v)); }
  void add_property(Value v) { properties_.push_back(std::move(v)); }
  void set_command(const std::string& name, std::optional<std::string> response_json);

  // {"<name>": value, ..., "<component>": {...}, "ts": ts_ms} ("ts" left out when ts_ms is
  // nullopt). Thread-safe.
  std::string telemetry_json(double t_s, std::optional<std::int64_t> ts_ms);
  // Every property's current value, or nullopt when the interface has none. Thread-safe.
  std::optional<std::string> reported_json(double t_s);
  // Applies {"name", "component"?, "value", "version"}: the property's generator becomes a
  // constant at that value. Thread-safe.
  DesiredResult apply_desired(std::string_view payload, double t_s);

  // The response to send for a command (JSON text), nullopt when the device stays silent.
  // `known` is false when the model has no such command.
  std::optional<std::string> command_response(const std::string& name, bool& known) const;
  // Every command of the interface ("component/name" in components).
  std::vector<std::string> command_names() const;

  const std::vector<Value>& telemetry() const { return telemetry_; }
  const std::vector<Value>& properties() const { return properties_; }

 private:
  std::string id_;
  double interval_s_;
  const model::PayloadValidator& validator_;
  std::mutex mu_;  // generators are stateful; desired values arrive on the MQTT thread
  std::vector<Value> telemetry_;
  std::vector<Value> properties_;
  std::map<std::string, std::optional<std::string>, std::less<>> commands_;
};

// A JSON value valid for `schema`: numbers 0, strings "ok", booleans true, enums their first
// value, objects with every field, arrays and maps empty.
std::string default_json(const model::Schema& schema);

// The generator used when none is configured, per schema and semantic type.
GeneratorSpec default_generator(const model::Content& content, const std::string& device_id,
                                Random& rng);

struct Fleet {
  std::unique_ptr<model::PayloadValidator> validator;
  std::vector<std::unique_ptr<Device>> devices;
  // Rules that match none of the devices: likely a typo, but legitimate when --count narrows
  // a config file's fleet, so they are reported and the run goes on.
  std::vector<ConfigError> warnings;
};

// Builds the devices of `options` for `interface`. Every generator or respond rule that names
// no value or command of the interface is an error; one that matches no device a warning.
std::variant<Fleet, std::vector<ConfigError>> build_fleet(const model::Interface& interface,
                                                          const SimOptions& options,
                                                          std::uint64_t seed);

}  // namespace doppel::sim
