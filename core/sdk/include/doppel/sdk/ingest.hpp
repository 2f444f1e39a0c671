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
  // ABI 1.3. Set when the transport has already refused the message and answered the device
  // (CoAP 4.13, a payload over max_payload): a dead-letter reason such as "too-large", with a
  // one-line `refused_detail`. The core does not map the message; it counts and dead-letters it
  // with this reason and `payload` as given (a plugin may pass only the start of a large one).
  std::string_view refused_reason;
  std::string_view refused_detail;
};

struct IngestOutcome {
  // ok, or why the message was rejected (also dead-lettered); a rejection's where() is the
  // dead-letter reason (or InboundMessage::refused_reason): "no-route", "not-json", "not-cbor",
  // "unsupported-content-type", "unknown-twin", "not-owner", "wrong-type", "bad-enum",
  // "out-of-range", "missing-field", ...
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

// Does `twin` match one of the comma-separated patterns of a device scope ("motor-3,line-7/*":
// exact ids, or a prefix when a pattern ends in '*'; spaces around patterns are ignored)? The
// core's check of InboundMessage::device_twins; plugins use it for their own twin lists too.
inline bool twin_in_scope(std::string_view patterns, std::string_view twin) noexcept {
  std::size_t i = 0;
  while (i <= patterns.size()) {
    std::size_t end = patterns.find(',', i);
    if (end == std::string_view::npos) end = patterns.size();
    std::string_view p = patterns.substr(i, end - i);
    while (!p.empty() && p.front() == ' ')
      p.remove_prefix(1);
    while (!p.empty() && p.back() == ' ')
      p.remove_suffix(1);
    if (!p.empty()) {
      if (p.back() == '*') {
        if (twin.substr(0, p.size() - 1) == p.substr(0, p.size() - 1)) return true;
      } else if (twin == p) {
        return true;
      }
    }
    i = end + 1;
  }
  return false;
}

class IngestSink {
 public:
  virtual ~IngestSink() = default;
  // Thread-safe. Views are copied as needed before return. `done` may be null (fire and forget).
  virtual void ingest(const InboundMessage& message, IngestCallback* done) noexcept = 0;
};

}  // namespace doppel::sdk
