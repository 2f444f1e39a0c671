// The protocol plugin interface: how the core reaches devices. Up (device -> twin) goes through
// PluginContext::ingest (doppel/sdk/ingest.hpp); down (twin -> device) comes in through send().
//
// The core decides *what* to send and validates it against the model (desired values, command
// requests); the plugin decides *how* (topic or URI templates, QoS, correlation) and reports
// what the device answered. Retries until the sync timeout are the core's job; the plugin makes
// one delivery attempt per send() (plus whatever its transport does, e.g. store-and-forward).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "doppel/sdk/clock.hpp"
#include "doppel/sdk/plugin.hpp"
#include "doppel/sdk/status.hpp"

namespace doppel::sdk {

enum class OutboundKind : std::uint8_t {
  kDesired = 0,  // a desired property value for the device
  kCommand = 1,  // a command request from the model
};

struct OutboundMessage {
  OutboundKind kind = OutboundKind::kDesired;
  std::string_view twin;       // twin id
  std::string_view model;      // the twin's interface DTMI
  std::string_view component;  // component name, "" for the twin itself
  std::string_view name;       // property or command name
  // kDesired: the value as JSON ("42.5", "\"on\"", "{...}"); kCommand: the request payload as
  // JSON (already validated against the command's request schema), "" when it has none.
  std::string_view payload;
  std::uint32_t version = 0;     // kDesired: the desired version the device should acknowledge
  std::string_view correlation;  // kCommand: a unique id to match the response with
  Duration timeout = 0;          // kCommand: give up after this long
};

struct OutboundResult {
  // ok: delivered (kDesired: acknowledged by the device when the plugin has an ack path, else
  // handed to the transport) / answered (kCommand). kNotFound: this plugin has no route for the
  // twin, the core may try another plugin. kDeadlineExceeded: no answer in time.
  // kUnavailable: not connected and not queued (store-and-forward full).
  Status status;
  // kCommand: the response payload as received (JSON); the core validates it against the
  // command's response schema. kDesired: "" .
  std::string_view payload;
  // kDesired acknowledged: the version the device acknowledged (0 if the ack carried none).
  std::uint32_t acknowledged_version = 0;
};

// Called exactly once per send(), possibly on a plugin thread, possibly before send() returns;
// at the latest in stop() (with kUnavailable), never after it.
class OutboundCallback {
 public:
  virtual ~OutboundCallback() = default;
  virtual void done(const OutboundResult& result) noexcept = 0;
};

class ProtocolPlugin : public Plugin {
 public:
  // Thread-safe. Views are valid during the call only: copy what you keep. `done` is never null.
  virtual void send(const OutboundMessage& message, OutboundCallback* done) noexcept = 0;
};

// The MQTT-style subscription filter of a topic template: each "{name}" level becomes "+",
// other levels ("+", "#", literals) stay ("plant/{line}/{twin}/telemetry" ->
// "plant/+/+/telemetry"), as the core's routes match them. Writes at most out_size - 1
// characters and a NUL; *out_len gets the full length.
inline void topic_filter_of(std::string_view topic_template, char* out, std::size_t out_size,
                            std::size_t* out_len) noexcept {
  std::size_t n = 0;
  auto put = [&](char c) {
    if (n + 1 < out_size) out[n] = c;
    ++n;
  };
  std::size_t i = 0;
  while (i <= topic_template.size()) {
    std::size_t end = topic_template.find('/', i);
    if (end == std::string_view::npos) end = topic_template.size();
    std::string_view level = topic_template.substr(i, end - i);
    if (level.size() >= 2 && level.front() == '{' && level.back() == '}') {
      put('+');
    } else {
      for (char c : level)
        put(c);
    }
    if (end == topic_template.size()) break;
    put('/');
    i = end + 1;
  }
  if (out_size) out[n < out_size ? n : out_size - 1] = '\0';
  if (out_len) *out_len = n;
}

}  // namespace doppel::sdk
