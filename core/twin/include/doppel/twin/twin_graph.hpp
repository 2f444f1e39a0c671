// The twin graph: twins (instances of model interfaces), their property and telemetry state,
// and typed relationships between them. Sharded by twin id: a twin's updates are serialised
// by its shard's lock, different twins proceed in parallel. Every change is validated
// against the model first; a rejected change leaves the graph untouched.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/model/registry.hpp"
#include "doppel/sdk/clock.hpp"
#include "doppel/sdk/status.hpp"
#include "doppel/twin/value.hpp"

namespace doppel::twin {

using sdk::Duration;
using sdk::Expected;
using sdk::Status;
using sdk::Timestamp;

// Whether a property's device-side value matches the value asked for.
enum class SyncStatus : std::uint8_t {
  kNone,      // nothing was ever desired
  kInSync,    // reported == desired
  kPending,   // desired not yet reported back
  kTimedOut,  // the device did not confirm within the sync timeout
};
std::string_view sync_status_name(SyncStatus s);

// One property or telemetry of a twin. Telemetry uses `reported` for its last value.
struct SlotState {
  Value reported;
  Value desired;
  Timestamp reported_at = 0;
  Timestamp desired_at = 0;
  std::uint32_t reported_version = 0;
  std::uint32_t desired_version = 0;
  SyncStatus sync = SyncStatus::kNone;
};

// Where a model's properties and telemetry live in a twin: contents flattened, component
// contents expanded as "component/name". Commands, relationships and components have no slot.
struct SlotInfo {
  std::string path;  // "temperature", "bearing/temperature"
  const model::Content* content = nullptr;
  const model::Content* component = nullptr;  // enclosing component, or nullptr
  bool is_property() const { return content->kind == model::ContentKind::kProperty; }
};

class TwinLayout {
 public:
  explicit TwinLayout(const model::Interface& interface);
  const model::Interface& interface() const { return *interface_; }
  const std::vector<SlotInfo>& slots() const { return slots_; }
  int find(std::string_view path) const;  // slot index, or -1
  // The Relationship content named `name` (own or inherited), or nullptr.
  const model::Content* relationship(std::string_view name) const;

 private:
  const model::Interface* interface_;
  std::vector<SlotInfo> slots_;
  std::vector<std::pair<std::string_view, int>> index_;  // sorted by path, for find()
};

struct Relationship {
  std::string target;
  std::string custom_id;  // "" => the id is "<name>-<target>"
  const model::Content* definition = nullptr;
  std::vector<std::pair<std::string, Value>> properties;

  std::string_view name() const { return definition->name; }
  // Unique among the source's relationships.
  std::string id() const { return custom_id.empty() ? definition->name + "-" + target : custom_id; }
};

// A consistent snapshot of one twin, handed to readers while its shard is locked.
struct TwinView {
  std::string_view id;
  const TwinLayout* layout;
  std::uint64_t version;  // bumped by every change of the twin (its ETag)
  Timestamp created_at;
  Timestamp last_data_at;    // last reported property or telemetry, 0 if none
  Duration expected_period;  // 0: never stale
  bool stale;
  std::span<const SlotState> slots;
  std::span<const Relationship> relationships;

  const SlotState* slot(std::string_view path) const {
    int i = layout->find(path);
    return i < 0 ? nullptr : &slots[static_cast<std::size_t>(i)];
  }
};

struct SlotWrite {
  std::string_view path;  // slot path ("temperature", "bearing/temperature")
  Value value;
  Timestamp time = 0;  // event time; 0: now
};

struct CreateTwin {
  std::string id;
  std::string model;                  // interface DTMI
  std::vector<SlotWrite> properties;  // initial reported values
  Duration expected_period = 0;
};

struct CreateRelationship {
  std::string source;
  std::string name;
  std::string target;
  std::string id;  // "" => "<name>-<target>"
  std::vector<std::pair<std::string, Value>> properties;
};

enum class ChangeKind : std::uint8_t {
  kTwinCreated,
  kTwinDeleted,
  kReported,  // properties and/or telemetry from the device
  kDesired,   // desired properties from the API or rules
  kSync,      // sync status changed (acknowledged, timed out)
  kRelationshipAdded,
  kRelationshipRemoved,
  kStale,  // became stale or fresh again
};

struct SlotChange {
  int slot;
  const Value* before;  // nullptr when there was none
  const Value* after;
  Timestamp time;
};

// Passed to listeners while the twin's shard is locked: copy what you keep.
struct ChangeEvent {
  ChangeKind kind;
  const TwinView& twin;
  std::span<const SlotChange> slots;
  const Relationship* relationship = nullptr;  // added/removed
  // Relationship events: the target's model (null if the target is gone), so listeners can
  // judge the target without calling back into the graph.
  const model::Interface* target_interface = nullptr;
};

// Notified after each applied change, on the thread that applied it, with the shard locked:
// be quick and never call back into the graph for the same twin.
class ChangeListener {
 public:
  virtual ~ChangeListener() = default;
  virtual void on_change(const ChangeEvent& event) noexcept = 0;
};

struct TwinGraphOptions {
  std::size_t shards = 0;             // 0: the default (64)
  const sdk::Clock* clock = nullptr;  // nullptr: the system clock
};

class TwinGraph {
 public:
  TwinGraph(std::shared_ptr<const model::ModelRegistry> models, TwinGraphOptions options = {});
  ~TwinGraph();
  TwinGraph(const TwinGraph&) = delete;
  TwinGraph& operator=(const TwinGraph&) = delete;

  const model::ModelRegistry& models() const;
  const sdk::Clock& clock() const;
  // The layout of an interface (created on first use, then shared). nullptr for unknown models.
  const TwinLayout* layout(std::string_view dtmi);

  // ---- lifecycle --------------------------------------------------------------------------
  Status create(const CreateTwin& spec);
  // Refused (kFailedPrecondition) while relationships point to or from the twin, unless `cascade`.
  Status remove(std::string_view id, bool cascade = false);
  Status relate(const CreateRelationship& spec);
  Status unrelate(std::string_view source, std::string_view relationship_id);

  // ---- state ------------------------------------------------------------------------------
  // Reported properties and telemetry from the device. All or nothing. `if_match`: expected
  // twin version (If-Match); a mismatch is kFailedPrecondition. Returns the new version.
  Expected<std::uint64_t> report(std::string_view id, std::span<const SlotWrite> writes,
                                 std::optional<std::uint64_t> if_match = std::nullopt);
  // Desired properties (writable properties only). Marks them pending until reported back.
  Expected<std::uint64_t> desire(std::string_view id, std::span<const SlotWrite> writes,
                                 std::optional<std::uint64_t> if_match = std::nullopt);
  // The device acknowledged desired `version` of property `path` (an ack message, before or
  // without reporting the value back): in sync if that is still the current desired version.
  // Returns false when it is not (an older version, or no such twin/property).
  bool acknowledge(std::string_view id, std::string_view path, std::uint32_t version);
  // Marks desired properties that stayed pending since before `deadline` as timed out.
  std::size_t expire_pending(Timestamp deadline);
  // Re-evaluates staleness at `now`; returns how many twins changed state.
  std::size_t update_staleness(Timestamp now);
  Status set_expected_period(std::string_view id, Duration period);

  // ---- reads ------------------------------------------------------------------------------
  // Calls `fn` with the twin locked for reading; false when there is no such twin.
  bool read(std::string_view id, const std::function<void(const TwinView&)>& fn) const;
  // Visits every twin (each shard locked in turn); `fn` returns false to stop.
  void for_each(const std::function<bool(const TwinView&)>& fn) const;
  // Visits twins whose model is `dtmi` (exact) or any interface extending it.
  void for_each_of_model(std::string_view dtmi, bool exact,
                         const std::function<bool(const TwinView&)>& fn) const;
  // Relationships ending at `id`: (source id, relationship id) pairs.
  std::vector<std::pair<std::string, std::string>> incoming(std::string_view id) const;
  bool contains(std::string_view id) const;
  std::size_t size() const;

  void add_listener(ChangeListener* listener);  // before any change; not owned
  // After the last change it may see (listeners are not synchronised with changes in flight).
  void remove_listener(ChangeListener* listener);

  // ---- recovery ---------------------------------------------------------------------------
  // Puts back a twin exactly as it was stored: no validation of values, no events. Slots whose
  // path the model no longer has are skipped and counted in `dropped_slots`.
  struct RestoredTwin {
    std::string id;
    std::string model;
    std::uint64_t version = 1;
    Timestamp created_at = 0;
    Timestamp last_data_at = 0;
    Duration expected_period = 0;
    bool stale = false;
    std::vector<std::pair<std::string, SlotState>> slots;
  };
  Status restore(RestoredTwin twin, std::size_t* dropped_slots = nullptr);
  // Puts back a relationship; both twins must exist. No events.
  Status restore_relationship(std::string_view source, std::string_view name,
                              Relationship relationship);

  // Checks a value for a slot of `layout`: kind, ranges, formats, enum values, nested JSON.
  Status check_value(const TwinLayout& layout, const model::Schema& schema,
                     const Value& value) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::twin
