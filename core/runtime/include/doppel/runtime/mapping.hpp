// The payload mapping engine shared by every protocol plugin: which messages go to which twin,
// and how a payload's fields become twin values. Declared per ingest route in the deployment
// file (under a protocol plugin's `ingest:`), compiled once, applied per message.
//
//   ingest:
//     - topic: "plant/{line}/{twin}/telemetry"   # template: {name} binds one topic level
//       twin: "{line}-{twin}"                     # twin id (default "{twin}")
//       kind: telemetry                           # telemetry | properties
//       timestamp: "$.ts"                         # event time from the payload; default: arrival
//       batch: "$.readings"                       # each array element is a message of its own
//       values:                                   # default: members named like the model's
//       contents
//         temperature: {path: "$.t", from_unit: degreeFahrenheit}
//         vibration: {path: "$.vib.rms", scale: 9.81}
//         "bearing/temperature": "$.bearing.t"
//         state: {constant: running}
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/model/diagnostic.hpp"
#include "doppel/sdk/clock.hpp"
#include "doppel/sdk/config.hpp"
#include "doppel/sdk/status.hpp"
#include "doppel/twin/twin_graph.hpp"

namespace doppel::runtime {

enum class PayloadKind : std::uint8_t { kTelemetry, kProperties };

// One twin's share of a message, ready for the graph.
struct MappedUpdate {
  std::string twin;
  std::vector<twin::SlotWrite> writes;
};

// Why a message could not be mapped; `reason` is a stable short code used as the dead-letter
// reason and metric label ("not-json", "unknown-twin", "wrong-type", "bad-enum", ...).
struct MappingError {
  std::string reason;
  std::string message;  // with the JSON path or topic
};

class Route {
 public:
  ~Route();
  Route(Route&&) noexcept;
  Route& operator=(Route&&) noexcept;

  const std::string& name() const;
  // The MQTT-style filter of the topic template ("plant/+/+/telemetry"); plugins subscribe to it.
  const std::string& topic_filter() const;
  const std::string& topic_template() const;
  PayloadKind kind() const;

  // Does `topic` match the template? Fills the bound variables if so.
  bool matches(std::string_view topic) const;

  // Maps one message. `graph` resolves twin models (for default field names and types) and
  // validates values. Fills `out` (one entry per twin) or returns false with `error`.
  bool map(std::string_view topic, std::string_view payload, sdk::Timestamp received_at,
           twin::TwinGraph& graph, std::vector<MappedUpdate>& out, MappingError& error) const;

 private:
  friend class RouteCompiler;
  Route();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Compiles the `ingest:` list of a protocol plugin's config. Errors name the config location.
sdk::Expected<std::vector<Route>> compile_routes(const sdk::ConfigNode& ingest_list);

// Converts between the units of one unit type (e.g. degreeFahrenheit -> degreeCelsius).
// Returns false when the units are unknown or of different types.
bool convert_unit(double value, std::string_view from, std::string_view to, double& out);

// Event time from a JSON value: RFC 3339 strings, or numbers of epoch seconds (< 1e11),
// milliseconds (< 1e14), microseconds (< 1e17) or nanoseconds.
bool parse_event_time(std::string_view json_value, sdk::Timestamp& out);

}  // namespace doppel::runtime
