// Validation of JSON payloads (telemetry messages, property documents, command payloads)
// against an interface's schemas. This is the ingest hot path: once a PayloadScratch has
// warmed up, validating a payload allocates nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/model/registry.hpp"

namespace doppel::model {

// One validated top-level value of a payload.
struct TypedValue {
  const Content* content = nullptr;    // the Telemetry or Property (or Command for payloads)
  const Content* component = nullptr;  // the Component it sits in, or nullptr
  SchemaKind kind = SchemaKind::kString;
  bool boolean = false;
  std::int64_t integer = 0;  // integer, long; also enum values with integer valueSchema
  double number = 0;         // double, float (and integer/long converted)
  std::string_view string;   // string, date, dateTime, time, duration, string enums (unescaped)
  std::string_view json;     // Array, Map, Object, geospatial: the value's JSON text
};

struct PayloadError {
  std::string path;     // JSON path of the offending value, e.g. "$.motor.temperature"
  std::string message;  // e.g. "expected double, got string"
};

// Per-thread working memory. Views in a result stay valid until the next validate call
// with the same scratch.
class PayloadScratch {
 public:
  PayloadScratch();
  ~PayloadScratch();
  PayloadScratch(const PayloadScratch&) = delete;
  PayloadScratch& operator=(const PayloadScratch&) = delete;

  struct Impl;  // opaque

 private:
  friend class PayloadValidator;
  std::unique_ptr<Impl> impl_;
};

struct PayloadResult {
  bool ok = false;
  std::span<const TypedValue> values;   // in payload order; empty when !ok
  const PayloadError* error = nullptr;  // set when !ok
};

// Which contents a payload's members name.
enum class PayloadKind : std::uint8_t {
  kTelemetry,   // {"temperature": 21.5, "motor": {"current": 3.2}}
  kProperties,  // {"targetSpeed": 1200}
};

// Compiled validator for one interface. Immutable and thread-safe once built; cheap to keep
// one per interface for the lifetime of the registry.
class PayloadValidator {
 public:
  explicit PayloadValidator(const Interface& interface);
  ~PayloadValidator();
  PayloadValidator(PayloadValidator&&) noexcept;
  PayloadValidator& operator=(PayloadValidator&&) noexcept;

  const Interface& interface() const;

  // Validates a JSON object whose members are telemetry (or property) names, optionally
  // nested in objects named after components. All or nothing: on the first error no values
  // are returned.
  PayloadResult validate(std::string_view json, PayloadKind kind, PayloadScratch& scratch) const;

  // Validates a single JSON value against a schema of this interface (e.g. a command request).
  PayloadResult validate_value(std::string_view json, const Schema& schema,
                               PayloadScratch& scratch) const;

  struct Impl;  // opaque

 private:
  std::unique_ptr<Impl> impl_;
};

// Format checks used by the validator, exposed for the twin layer and tests.
bool is_rfc3339_date(std::string_view s);
bool is_rfc3339_date_time(std::string_view s);
bool is_rfc3339_time(std::string_view s);
bool is_iso8601_duration(std::string_view s);

}  // namespace doppel::model
