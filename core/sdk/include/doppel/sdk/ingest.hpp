// How protocol plugins hand device messages to the core. Plugins only move bytes: mapping
// payloads to twins (topic templates, JSON paths, units) and validation against the model
// are done by the core, the same way for every protocol.
#pragma once

#include <cstdint>
#include <string_view>

#include "doppel/sdk/clock.hpp"
#include "doppel/sdk/status.hpp"

namespace doppel::sdk {

struct InboundMessage {
  std::string_view route;  // the configured route name (an `ingest:` entry), or ""
  std::string_view topic;  // MQTT topic or CoAP path, e.g. "plant/line7/motor-3/telemetry"
  std::string_view payload;
  std::string_view content_type;  // "application/json" (default), "application/cbor"
  std::string_view device;        // authenticated device identity, "" if unknown
  Timestamp received_at = 0;
};

struct IngestOutcome {
  Status status;              // ok, or why the message was rejected (also dead-lettered)
  std::uint32_t updates = 0;  // twin values applied
};

// Called exactly once per ingest(): after the updates are durable, or when rejected. May run
// on any thread, before or after ingest() returns.
class IngestCallback {
 public:
  virtual ~IngestCallback() = default;
  virtual void done(const IngestOutcome& outcome) noexcept = 0;
};

class IngestSink {
 public:
  virtual ~IngestSink() = default;
  // Thread-safe. Views are copied as needed before return. `done` may be null (fire and forget).
  virtual void ingest(const InboundMessage& message, IngestCallback* done) noexcept = 0;
};

}  // namespace doppel::sdk
