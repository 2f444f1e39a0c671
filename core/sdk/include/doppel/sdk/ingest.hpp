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
  // "application/json" (default, also ""), "application/cbor" (the core decodes it to JSON);
  // anything else is rejected with reason "unsupported-content-type".
  std::string_view content_type;
  std::string_view device;  // authenticated device identity, "" if unknown
  Timestamp received_at = 0;
  // ABI 1.2. The twins `device` may write, when the transport authenticated it: comma-separated
  // twin ids, a trailing '*' matches any rest ("motor-3,line-7/*"). When `device` is set, every
  // twin the message maps to must match, or the whole message is rejected with reason
  // "not-owner" (dead-lettered). Ignored when `device` is "".
  std::string_view device_twins;
};

struct IngestOutcome {
  // ok, or why the message was rejected (also dead-lettered); a rejection's where() is the
  // dead-letter reason: "no-route", "not-json", "not-cbor", "unsupported-content-type",
  // "unknown-twin", "not-owner", "wrong-type", "bad-enum", "out-of-range", "missing-field", ...
  Status status;
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
