// What analytics and actuator plugins see of the twin graph, and how they act on it: read twin
// state, follow relationships, set desired values, invoke model commands, publish derived
// values and events (alerts, anomalies, predictions), and keep their own state durably.
//
// Every view handed to a plugin is valid only during the call that hands it over.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "doppel/sdk/clock.hpp"
#include "doppel/sdk/status.hpp"

namespace doppel::sdk {

// A property or telemetry value as plugins see it.
struct FieldValue {
  enum class Kind : std::uint8_t { kNull, kBool, kInteger, kNumber, kString, kJson };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::int64_t integer = 0;
  double number = 0;      // also set for kInteger (converted)
  std::string_view text;  // kString (unescaped) and kJson (arrays, objects, maps)

  bool is_numeric() const noexcept { return kind == Kind::kInteger || kind == Kind::kNumber; }
};

enum class SyncState : std::uint8_t { kNone, kInSync, kPending, kTimedOut };

struct SlotSnapshot {
  std::string_view path;  // "temperature", "bearing/temperature"
  bool is_property = false;
  bool writable = false;
  std::string_view unit;  // model unit short name ("degreeCelsius"), "" when none
  FieldValue reported;    // telemetry: the last value
  Timestamp reported_at = 0;
  FieldValue desired;
  std::uint32_t desired_version = 0;
  SyncState sync = SyncState::kNone;
};

struct TwinSnapshot {
  std::string_view id;
  std::string_view model;  // interface DTMI
  std::uint64_t version = 0;
  Timestamp last_data_at = 0;
  bool stale = false;
  std::span<const SlotSnapshot> slots;

  const SlotSnapshot* slot(std::string_view path) const noexcept {
    for (const SlotSnapshot& s : slots)
      if (s.path == path) return &s;
    return nullptr;
  }
};

// A change of one twin, as delivered to analytics plugins (AnalyticsPlugin::on_changes).
enum class TwinChangeKind : std::uint8_t {
  kCreated,
  kDeleted,
  kReported,  // properties/telemetry from the device (or derived values)
  kDesired,
  kSync,
  kStale,  // became stale or fresh: see TwinChange::stale
  kRelationships,
};

struct ChangedSlot {
  std::string_view path;
  FieldValue value;    // the new reported (kReported) or desired (kDesired) value
  Timestamp time = 0;  // event time of the value
};

struct TwinChange {
  TwinChangeKind kind = TwinChangeKind::kReported;
  std::string_view twin;
  std::string_view model;
  std::uint64_t version = 0;
  bool stale = false;
  Timestamp at = 0;  // when the change was applied (runtime clock)
  std::span<const ChangedSlot> slots;
};

// Events plugins publish: alerts and other insights. The runtime logs them, counts them,
// keeps them (alerts: active set and history) and streams them to API subscribers.
struct Event {
  std::string_view type;  // "alert.raised", "alert.cleared", "anomaly", "prediction", ...
  std::string_view twin;
  std::string_view source;    // the rule / detector name
  std::string_view severity;  // "info" | "warning" | "critical" ("" for non-alerts)
  Timestamp time = 0;         // event time (of the data that caused it)
  std::string_view message;   // one line for people
  std::string_view data;      // JSON object with the values that triggered it; "" for none
};

// What a model declares, for plugins that check their configuration against it (rule names
// resolve, types fit, units convert).
enum class ValueType : std::uint8_t { kBoolean, kNumber, kString, kEnum, kComplex, kNone };

struct ModelSlot {
  std::string_view path;  // "temperature", "bearing/temperature"
  bool is_property = false;
  bool writable = false;
  ValueType type = ValueType::kNone;
  std::string_view unit;  // unit short name ("degreeCelsius"), "" when none
};

struct ModelCommand {
  std::string_view component;  // "" for the interface's own commands
  std::string_view name;
  ValueType request = ValueType::kNone;  // kNone: no request payload
  ValueType response = ValueType::kNone;
};

struct ModelRelationship {
  std::string_view name;
  std::string_view target;  // interface DTMI, "" for any
};

struct ModelDescription {
  std::string_view id;
  std::span<const ModelSlot> slots;
  std::span<const ModelCommand> commands;
  std::span<const ModelRelationship> relationships;
};

class ModelVisitor {
 public:
  virtual ~ModelVisitor() = default;
  virtual void visit(const ModelDescription& model) noexcept = 0;
};

class TwinVisitor {
 public:
  virtual ~TwinVisitor() = default;
  virtual void visit(const TwinSnapshot& twin) noexcept = 0;
};

class IdVisitor {
 public:
  virtual ~IdVisitor() = default;
  // Return false to stop.
  virtual bool visit(std::string_view id) noexcept = 0;
};

class CommandCallback {
 public:
  virtual ~CommandCallback() = default;
  // Exactly once, on any thread. `response`: the device's response JSON ("" on failure).
  virtual void done(const Status& status, std::string_view response) noexcept = 0;
};

class StateVisitor {
 public:
  virtual ~StateVisitor() = default;
  // Return false to stop.
  virtual bool visit(std::string_view key, std::string_view value) noexcept = 0;
};

class TwinAccess {
 public:
  virtual ~TwinAccess() = default;

  // ---- reading -----------------------------------------------------------------------------
  // Calls `visitor` with a consistent snapshot of the twin; false when there is no such twin.
  virtual bool read(std::string_view twin, TwinVisitor& visitor) noexcept = 0;
  // Twins related to `twin` by relationships named `relationship` ("" = any): targets of its
  // own relationships, or (incoming) sources of relationships ending at it.
  virtual void related(std::string_view twin, std::string_view relationship, bool incoming,
                       IdVisitor& visitor) noexcept = 0;
  // Twins of `model` (and of interfaces extending it).
  virtual void twins_of(std::string_view model, IdVisitor& visitor) noexcept = 0;
  // Whether interface `model` is `base` or extends it.
  virtual bool model_is(std::string_view model, std::string_view base) noexcept = 0;

  // ---- acting ------------------------------------------------------------------------------
  // A desired property value (JSON), validated against the model and sent to the device.
  virtual Status desire(std::string_view twin, std::string_view path,
                        std::string_view json_value) noexcept = 0;
  // Invokes a model command; the request is validated against its schema.
  virtual void invoke(std::string_view twin, std::string_view component, std::string_view name,
                      std::string_view request_json, Duration timeout,
                      CommandCallback* done) noexcept = 0;
  // Sets a value computed by the plugin (a derived property of a system twin, a prediction)
  // as the twin's reported value; validated against the model like device data.
  virtual Status set_derived(std::string_view twin, std::string_view path,
                             std::string_view json_value, Timestamp time) noexcept = 0;
  virtual void publish(const Event& event) noexcept = 0;

  // ---- the plugin's own durable state (survives restarts) ----------------------------------
  // Keys are private to the plugin instance. Writes apply in order and are visible at once;
  // they become durable with the storage's next group commit, and at the latest when the
  // runtime stops.
  virtual Status state_put(std::string_view key, std::string_view value) noexcept = 0;
  virtual Status state_erase(std::string_view key) noexcept = 0;
  virtual Status state_scan(std::string_view prefix, StateVisitor& visitor) noexcept = 0;

  // ---- the models --------------------------------------------------------------------------
  // What interface `model` declares (own and inherited); false when the model is unknown.
  virtual bool describe(std::string_view model, ModelVisitor& visitor) noexcept = 0;
};

// ---- conveniences over the visitor calls -----------------------------------------------------
// TwinAccess takes visitors so that no std::function crosses the library boundary; these inline
// helpers give plugins the common shapes without writing a visitor class each time.

// Ids of the twins related to `twin` (see TwinAccess::related).
inline std::vector<std::string> related_ids(TwinAccess& twins, std::string_view twin,
                                            std::string_view relationship, bool incoming) {
  struct Collect final : IdVisitor {
    std::vector<std::string> ids;
    bool visit(std::string_view id) noexcept override {
      try {
        ids.emplace_back(id);
        return true;
      } catch (...) {
        return false;
      }
    }
  } collect;
  twins.related(twin, relationship, incoming, collect);
  return std::move(collect.ids);
}

// Ids of the twins of `model` and of the interfaces extending it.
inline std::vector<std::string> twin_ids_of(TwinAccess& twins, std::string_view model) {
  struct Collect final : IdVisitor {
    std::vector<std::string> ids;
    bool visit(std::string_view id) noexcept override {
      try {
        ids.emplace_back(id);
        return true;
      } catch (...) {
        return false;
      }
    }
  } collect;
  twins.twins_of(model, collect);
  return std::move(collect.ids);
}

// Calls `fn(key, value)` for each state record under `prefix` (keys without the prefix of the
// plugin instance). An exception from `fn` skips that record.
template <typename Fn>
Status scan_state(TwinAccess& twins, std::string_view prefix, Fn&& fn) {
  struct Each final : StateVisitor {
    std::remove_reference_t<Fn>* fn;
    bool visit(std::string_view key, std::string_view value) noexcept override {
      try {
        (*fn)(key, value);
      } catch (...) {
      }
      return true;
    }
  } each;
  each.fn = &fn;
  return twins.state_scan(prefix, each);
}

}  // namespace doppel::sdk
