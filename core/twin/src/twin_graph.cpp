#include "doppel/twin/twin_graph.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "doppel/model/payload.hpp"

namespace doppel::twin {

using model::Content;
using model::ContentKind;
using model::Interface;
using model::Schema;
using model::SchemaKind;
using sdk::StatusCode;

std::string_view sync_status_name(SyncStatus s) {
  switch (s) {
    case SyncStatus::kNone:
      return "none";
    case SyncStatus::kInSync:
      return "inSync";
    case SyncStatus::kPending:
      return "pending";
    case SyncStatus::kTimedOut:
      return "timedOut";
  }
  return "?";
}

// ---- layout -------------------------------------------------------------------------------------

TwinLayout::TwinLayout(const Interface& interface) : interface_(&interface) {
  for (const Content* c : interface.contents) {
    if (c->kind == ContentKind::kProperty || c->kind == ContentKind::kTelemetry) {
      slots_.push_back({c->name, c, nullptr});
    } else if (c->kind == ContentKind::kComponent && c->component) {
      for (const Content* inner : c->component->contents)
        if (inner->kind == ContentKind::kProperty || inner->kind == ContentKind::kTelemetry)
          slots_.push_back({c->name + "/" + inner->name, inner, c});
    }
  }
  for (std::size_t i = 0; i < slots_.size(); ++i)
    index_.emplace_back(slots_[i].path, static_cast<int>(i));
  std::sort(index_.begin(), index_.end());
}

int TwinLayout::find(std::string_view path) const {
  if (index_.size() <= 8) {
    for (const auto& [p, i] : index_)
      if (p == path) return i;
    return -1;
  }
  auto it = std::lower_bound(
      index_.begin(), index_.end(), path,
      [](const std::pair<std::string_view, int>& e, std::string_view k) { return e.first < k; });
  return it != index_.end() && it->first == path ? it->second : -1;
}

const Content* TwinLayout::relationship(std::string_view name) const {
  const Content* c = interface_->find(name);
  return c && c->kind == ContentKind::kRelationship ? c : nullptr;
}

// ---- graph --------------------------------------------------------------------------------------

namespace {

// Many small shards, whatever the core count: updates of different twins rarely meet on a lock,
// and each shard's hash map stays small (the id lookup is the cache-miss-bound part of an
// update). 10k twins, 2 cores: 8 shards gave 3.2 M updates/s on one thread and no gain on two;
// 64 give 2.8-5.7 M/s on one and 4.6-9.1 M/s on two (bench/runtime_bench.cpp).
constexpr std::size_t kDefaultShards = 64;

}  // namespace

namespace {

struct TwinRecord {
  std::string id;
  const TwinLayout* layout = nullptr;
  std::uint64_t version = 1;
  Timestamp created_at = 0;
  Timestamp last_data_at = 0;
  Duration expected_period = 0;
  bool stale = false;
  std::unique_ptr<SlotState[]> slots;
  std::vector<Relationship> relationships;  // outgoing
  std::vector<TwinRecord*> incoming;  // sources of relationships ending here (repeats allowed)
  std::uint32_t model_position = 0;   // index in its shard's by_model list

  TwinView view() const {
    return TwinView{id,           layout,
                    version,      created_at,
                    last_data_at, expected_period,
                    stale,        std::span<const SlotState>(slots.get(), layout->slots().size()),
                    relationships};
  }
};

struct Shard {
  mutable std::shared_mutex mutex;
  std::unordered_map<std::string_view, std::unique_ptr<TwinRecord>> twins;  // keys view record ids
  std::unordered_map<const Interface*, std::vector<TwinRecord*>> by_model;
};

bool is_integral(double d) {
  return std::isfinite(d) && std::trunc(d) == d;
}

}  // namespace

struct TwinGraph::Impl {
  std::shared_ptr<const model::ModelRegistry> models;
  sdk::SystemClock system_clock;
  const sdk::Clock* clock = nullptr;
  std::vector<std::unique_ptr<Shard>> shards;
  std::vector<ChangeListener*> listeners;

  std::mutex layouts_mutex;
  std::unordered_map<std::string, std::unique_ptr<TwinLayout>> layouts;
  std::unordered_map<const TwinLayout*, std::unique_ptr<model::PayloadValidator>> validators;

  Shard& shard_of(std::string_view id) const {
    return *shards[std::hash<std::string_view>{}(id) % shards.size()];
  }
  std::size_t shard_index(std::string_view id) const {
    return std::hash<std::string_view>{}(id) % shards.size();
  }

  Timestamp now() const { return clock->now(); }

  void notify(const ChangeEvent& e) const {
    for (ChangeListener* l : listeners)
      l->on_change(e);
  }

  const model::PayloadValidator* validator(const TwinLayout* layout) {
    std::lock_guard lock(layouts_mutex);
    auto it = validators.find(layout);
    return it == validators.end() ? nullptr : it->second.get();
  }
};

TwinGraph::TwinGraph(std::shared_ptr<const model::ModelRegistry> models, TwinGraphOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->models = std::move(models);
  impl_->clock = options.clock ? options.clock : &impl_->system_clock;
  std::size_t n = options.shards ? options.shards : kDefaultShards;
  for (std::size_t i = 0; i < n; ++i)
    impl_->shards.push_back(std::make_unique<Shard>());
}

TwinGraph::~TwinGraph() = default;

const model::ModelRegistry& TwinGraph::models() const {
  return *impl_->models;
}
const sdk::Clock& TwinGraph::clock() const {
  return *impl_->clock;
}

const TwinLayout* TwinGraph::layout(std::string_view dtmi) {
  std::lock_guard lock(impl_->layouts_mutex);
  auto it = impl_->layouts.find(std::string(dtmi));
  if (it != impl_->layouts.end()) return it->second.get();
  const Interface* i = impl_->models->find(dtmi);
  if (!i) return nullptr;
  auto layout = std::make_unique<TwinLayout>(*i);
  const TwinLayout* raw = layout.get();
  impl_->validators.emplace(raw, std::make_unique<model::PayloadValidator>(*i));
  impl_->layouts.emplace(std::string(dtmi), std::move(layout));
  return raw;
}

Status TwinGraph::check_value(const TwinLayout& layout, const Schema& schema,
                              const Value& v) const {
  auto expected = [&](std::string_view what) {
    return sdk::invalid_argument("expected " + std::string(what) + ", got " + v.to_json());
  };
  switch (schema.kind) {
    case SchemaKind::kBoolean:
      return v.kind() == Value::Kind::kBool ? Status() : expected("boolean");
    case SchemaKind::kInteger: {
      bool ok = v.kind() == Value::Kind::kInteger ||
                (v.kind() == Value::Kind::kDouble && is_integral(v.as_double()));
      if (!ok) return expected("integer");
      double d = v.as_double();
      if (d < std::numeric_limits<std::int32_t>::min() ||
          d > std::numeric_limits<std::int32_t>::max())
        return sdk::invalid_argument("integer " + v.to_json() + " is out of the 32-bit range");
      return {};
    }
    case SchemaKind::kLong:
      return v.kind() == Value::Kind::kInteger ||
                     (v.kind() == Value::Kind::kDouble && is_integral(v.as_double()))
                 ? Status()
                 : expected("long");
    case SchemaKind::kDouble:
      if (!v.is_number()) return expected("double");
      return std::isfinite(v.as_double()) ? Status()
                                          : sdk::invalid_argument("number is not finite");
    case SchemaKind::kFloat:
      if (!v.is_number()) return expected("float");
      return std::isfinite(v.as_double()) && std::fabs(v.as_double()) <= 3.4028234663852886e38
                 ? Status()
                 : sdk::invalid_argument("number is outside the float range");
    case SchemaKind::kString:
      return v.kind() == Value::Kind::kString ? Status() : expected("string");
    case SchemaKind::kDate:
      return v.kind() == Value::Kind::kString && model::is_rfc3339_date(v.as_string())
                 ? Status()
                 : expected("an RFC 3339 date");
    case SchemaKind::kDateTime:
      return v.kind() == Value::Kind::kString && model::is_rfc3339_date_time(v.as_string())
                 ? Status()
                 : expected("an RFC 3339 date-time");
    case SchemaKind::kTime:
      return v.kind() == Value::Kind::kString && model::is_rfc3339_time(v.as_string())
                 ? Status()
                 : expected("an RFC 3339 time");
    case SchemaKind::kDuration:
      return v.kind() == Value::Kind::kString && model::is_iso8601_duration(v.as_string())
                 ? Status()
                 : expected("an ISO 8601 duration");
    case SchemaKind::kEnum:
      for (const model::EnumValue& ev : schema.enum_values) {
        if (ev.is_string && v.kind() == Value::Kind::kString && v.as_string() == ev.string_value)
          return {};
        if (!ev.is_string && v.is_number() && is_integral(v.as_double()) &&
            v.as_integer() == ev.integer_value)
          return {};
      }
      return sdk::invalid_argument(v.to_json() + " is not one of the enum's values");
    default: {
      // Complex values arrive as JSON text and are validated like payloads.
      if (v.kind() != Value::Kind::kJson)
        return expected(std::string(model::schema_kind_name(schema.kind)) + " (JSON)");
      const model::PayloadValidator* validator = impl_->validator(&layout);
      if (!validator) return sdk::internal_error("no validator for the twin's model");
      thread_local model::PayloadScratch scratch;
      model::PayloadResult r = validator->validate_value(v.as_string(), schema, scratch);
      if (!r.ok) return sdk::invalid_argument(r.error->message, r.error->path);
      return {};
    }
  }
}

Status TwinGraph::create(const CreateTwin& spec) {
  if (spec.id.empty()) return sdk::invalid_argument("a twin needs an id");
  const TwinLayout* layout = this->layout(spec.model);
  if (!layout) return sdk::not_found("model " + spec.model + " is not in the model set", spec.id);
  auto record = std::make_unique<TwinRecord>();
  record->id = spec.id;
  record->layout = layout;
  record->created_at = impl_->now();
  record->expected_period = spec.expected_period;
  record->slots = std::make_unique<SlotState[]>(layout->slots().size());
  std::vector<SlotChange> changes;
  for (const SlotWrite& w : spec.properties) {
    int i = layout->find(w.path);
    if (i < 0 || !layout->slots()[static_cast<std::size_t>(i)].is_property())
      return sdk::invalid_argument(
          "'" + std::string(w.path) + "' is not a property of " + spec.model, spec.id);
    const SlotInfo& info = layout->slots()[static_cast<std::size_t>(i)];
    if (Status s = check_value(*layout, *info.content->schema, w.value); !s)
      return s.with_context(spec.id + "." + std::string(w.path));
    SlotState& slot = record->slots[static_cast<std::size_t>(i)];
    slot.reported = w.value;
    slot.reported_at = w.time ? w.time : record->created_at;
    slot.reported_version = 1;
  }
  Shard& shard = impl_->shard_of(spec.id);
  std::unique_lock lock(shard.mutex);
  TwinRecord* r = record.get();
  auto [it, inserted] = shard.twins.emplace(std::string_view(r->id), std::move(record));
  if (!inserted) return {StatusCode::kAlreadyExists, "a twin with this id exists", spec.id};
  auto& list = shard.by_model[&layout->interface()];
  r->model_position = static_cast<std::uint32_t>(list.size());
  list.push_back(r);
  TwinView view = r->view();
  impl_->notify({ChangeKind::kTwinCreated, view, changes});
  return {};
}

namespace {

void remove_from_model_list(Shard& shard, TwinRecord* r) {
  auto& list = shard.by_model[&r->layout->interface()];
  std::uint32_t pos = r->model_position;
  list[pos] = list.back();
  list[pos]->model_position = pos;
  list.pop_back();
}

void erase_one(std::vector<TwinRecord*>& v, TwinRecord* x) {
  auto it = std::find(v.begin(), v.end(), x);
  if (it != v.end()) {
    *it = v.back();
    v.pop_back();
  }
}

}  // namespace

Status TwinGraph::remove(std::string_view id, bool cascade) {
  // Relationships span shards: lock every shard (in index order) for a delete. Deletes are rare.
  std::vector<std::unique_lock<std::shared_mutex>> locks;
  for (auto& s : impl_->shards)
    locks.emplace_back(s->mutex);
  Shard& shard = impl_->shard_of(id);
  auto it = shard.twins.find(id);
  if (it == shard.twins.end()) return sdk::not_found("no twin with this id", std::string(id));
  TwinRecord* r = it->second.get();
  if (!cascade && (!r->relationships.empty() || !r->incoming.empty()))
    return {StatusCode::kFailedPrecondition,
            "the twin has " + std::to_string(r->relationships.size()) + " outgoing and " +
                std::to_string(r->incoming.size()) +
                " incoming relationships; remove them first or delete with cascade",
            std::string(id)};
  // Drop outgoing edges (from targets' incoming lists) and incoming edges (from sources).
  for (const Relationship& rel : r->relationships) {
    Shard& ts = impl_->shard_of(rel.target);
    if (auto t = ts.twins.find(rel.target); t != ts.twins.end()) erase_one(t->second->incoming, r);
  }
  std::sort(r->incoming.begin(), r->incoming.end());
  r->incoming.erase(std::unique(r->incoming.begin(), r->incoming.end()), r->incoming.end());
  for (TwinRecord* src : r->incoming) {
    auto& rels = src->relationships;
    auto first = std::stable_partition(rels.begin(), rels.end(),
                                       [&](const Relationship& x) { return x.target != r->id; });
    std::vector<Relationship> removed(std::make_move_iterator(first),
                                      std::make_move_iterator(rels.end()));
    rels.erase(first, rels.end());
    ++src->version;
    TwinView source_view = src->view();
    for (const Relationship& rel : removed)
      impl_->notify(
          {ChangeKind::kRelationshipRemoved, source_view, {}, &rel, &r->layout->interface()});
  }
  TwinView view = r->view();
  impl_->notify({ChangeKind::kTwinDeleted, view, {}});
  remove_from_model_list(shard, r);
  shard.twins.erase(it);
  return {};
}

Status TwinGraph::relate(const CreateRelationship& spec) {
  Shard& ss = impl_->shard_of(spec.source);
  Shard& ts = impl_->shard_of(spec.target);
  // Lock both shards in a fixed order (one lock when they are the same).
  std::size_t a = impl_->shard_index(spec.source), b = impl_->shard_index(spec.target);
  std::unique_lock<std::shared_mutex> first(a <= b ? ss.mutex : ts.mutex);
  std::unique_lock<std::shared_mutex> second;
  if (a != b) second = std::unique_lock<std::shared_mutex>(a <= b ? ts.mutex : ss.mutex);

  auto s_it = ss.twins.find(spec.source);
  if (s_it == ss.twins.end())
    return sdk::not_found("no source twin '" + spec.source + "'", spec.source);
  auto t_it = ts.twins.find(spec.target);
  if (t_it == ts.twins.end())
    return sdk::not_found("no target twin '" + spec.target + "'", spec.target);
  TwinRecord* src = s_it->second.get();
  TwinRecord* dst = t_it->second.get();
  const Content* def = src->layout->relationship(spec.name);
  if (!def)
    return sdk::invalid_argument(
        "model " + src->layout->interface().id + " has no relationship '" + spec.name + "'",
        spec.source);
  if (!def->target.empty() && !dst->layout->interface().is_a(def->target))
    return sdk::invalid_argument("relationship '" + spec.name + "' must target " + def->target +
                                     ", and '" + spec.target + "' is a " +
                                     dst->layout->interface().id,
                                 spec.source);
  std::int64_t count = 0;
  for (const Relationship& r : src->relationships) {
    if (r.definition == def) ++count;
    std::string id = r.id();
    if (id == (spec.id.empty() ? spec.name + "-" + spec.target : spec.id))
      return {StatusCode::kAlreadyExists, "relationship '" + id + "' exists", spec.source};
  }
  if (def->max_multiplicity && count + 1 > *def->max_multiplicity)
    return {StatusCode::kFailedPrecondition,
            "relationship '" + spec.name + "' allows at most " +
                std::to_string(*def->max_multiplicity) + " targets",
            spec.source};
  Relationship rel;
  rel.target = spec.target;
  rel.definition = def;
  if (!spec.id.empty() && spec.id != spec.name + "-" + spec.target) rel.custom_id = spec.id;
  for (const auto& [name, value] : spec.properties) {
    const Content* p = nullptr;
    for (const Content* c : def->properties)
      if (c->name == name) p = c;
    if (!p)
      return sdk::invalid_argument(
          "relationship '" + spec.name + "' has no property '" + name + "'", spec.source);
    if (Status s = check_value(*src->layout, *p->schema, value); !s)
      return s.with_context(spec.name + "." + name);
    rel.properties.emplace_back(name, value);
  }
  src->relationships.push_back(std::move(rel));
  dst->incoming.push_back(src);
  ++src->version;
  TwinView view = src->view();
  impl_->notify({ChangeKind::kRelationshipAdded,
                 view,
                 {},
                 &src->relationships.back(),
                 &dst->layout->interface()});
  return {};
}

Status TwinGraph::unrelate(std::string_view source, std::string_view relationship_id) {
  Shard& ss = impl_->shard_of(source);
  std::unique_lock lock(ss.mutex);
  auto s_it = ss.twins.find(source);
  if (s_it == ss.twins.end()) return sdk::not_found("no twin with this id", std::string(source));
  TwinRecord* src = s_it->second.get();
  auto it = std::find_if(src->relationships.begin(), src->relationships.end(),
                         [&](const Relationship& r) { return r.id() == relationship_id; });
  if (it == src->relationships.end())
    return sdk::not_found("no relationship '" + std::string(relationship_id) + "'",
                          std::string(source));
  Relationship removed = std::move(*it);
  src->relationships.erase(it);
  ++src->version;
  lock.unlock();
  const model::Interface* target_interface = nullptr;
  {
    Shard& ts = impl_->shard_of(removed.target);
    std::unique_lock tl(ts.mutex);
    if (auto t = ts.twins.find(removed.target); t != ts.twins.end()) {
      erase_one(t->second->incoming, src);
      target_interface = &t->second->layout->interface();
    }
  }
  std::shared_lock relock(ss.mutex);
  if (auto again = ss.twins.find(source); again != ss.twins.end()) {
    TwinView view = again->second->view();
    impl_->notify({ChangeKind::kRelationshipRemoved, view, {}, &removed, target_interface});
  }
  return {};
}

namespace {

template <std::size_t N>
struct SmallChanges {
  SlotChange inline_[N];
  std::vector<SlotChange> heap;
  std::size_t n = 0;
  void push(const SlotChange& c) {
    if (n < N)
      inline_[n] = c;
    else {
      if (heap.empty()) heap.assign(inline_, inline_ + N);
      heap.push_back(c);
    }
    ++n;
  }
  std::span<const SlotChange> span() const {
    return n <= N ? std::span<const SlotChange>(inline_, n) : heap;
  }
};

}  // namespace

Expected<std::uint64_t> TwinGraph::report(std::string_view id, std::span<const SlotWrite> writes,
                                          std::optional<std::uint64_t> if_match) {
  Shard& shard = impl_->shard_of(id);
  std::unique_lock lock(shard.mutex);
  auto it = shard.twins.find(id);
  if (it == shard.twins.end()) return sdk::not_found("no twin with this id", std::string(id));
  TwinRecord& r = *it->second;
  if (if_match && *if_match != r.version)
    return Status(StatusCode::kFailedPrecondition,
                  "version " + std::to_string(r.version) + " does not match If-Match " +
                      std::to_string(*if_match),
                  std::string(id));
  const auto& slots = r.layout->slots();
  // Validate everything before changing anything.
  int inline_index[16];
  std::vector<int> heap_index;
  int* index =
      writes.size() <= 16 ? inline_index : (heap_index.resize(writes.size()), heap_index.data());
  for (std::size_t k = 0; k < writes.size(); ++k) {
    int i = r.layout->find(writes[k].path);
    if (i < 0)
      return sdk::invalid_argument("'" + std::string(writes[k].path) +
                                       "' is not a property or telemetry of " +
                                       r.layout->interface().id,
                                   std::string(id));
    if (Status s = check_value(*r.layout, *slots[static_cast<std::size_t>(i)].content->schema,
                               writes[k].value);
        !s)
      return s.with_context(std::string(id) + "." + std::string(writes[k].path));
    index[k] = i;
  }
  const Timestamp now = impl_->now();
  SmallChanges<8> changes;
  std::vector<Value> before;  // only when someone listens
  const bool listening = !impl_->listeners.empty();
  if (listening) before.reserve(writes.size());
  for (std::size_t k = 0; k < writes.size(); ++k) {
    SlotState& slot = r.slots[static_cast<std::size_t>(index[k])];
    Timestamp t = writes[k].time ? writes[k].time : now;
    if (listening) before.push_back(slot.reported);
    slot.reported = writes[k].value;
    slot.reported_at = t;
    ++slot.reported_version;
    if ((slot.sync == SyncStatus::kPending || slot.sync == SyncStatus::kTimedOut) &&
        slot.reported == slot.desired)
      slot.sync = SyncStatus::kInSync;
    r.last_data_at = std::max(r.last_data_at, t);
    if (listening) changes.push({index[k], &before.back(), &slot.reported, t});
  }
  ++r.version;
  bool was_stale = r.stale;
  r.stale = false;
  if (listening) {
    TwinView view = r.view();
    impl_->notify({ChangeKind::kReported, view, changes.span()});
    if (was_stale) impl_->notify({ChangeKind::kStale, view, {}});
  }
  return r.version;
}

Expected<std::uint64_t> TwinGraph::desire(std::string_view id, std::span<const SlotWrite> writes,
                                          std::optional<std::uint64_t> if_match) {
  Shard& shard = impl_->shard_of(id);
  std::unique_lock lock(shard.mutex);
  auto it = shard.twins.find(id);
  if (it == shard.twins.end()) return sdk::not_found("no twin with this id", std::string(id));
  TwinRecord& r = *it->second;
  if (if_match && *if_match != r.version)
    return Status(StatusCode::kFailedPrecondition,
                  "version " + std::to_string(r.version) + " does not match If-Match " +
                      std::to_string(*if_match),
                  std::string(id));
  const auto& slots = r.layout->slots();
  std::vector<int> index(writes.size());
  for (std::size_t k = 0; k < writes.size(); ++k) {
    int i = r.layout->find(writes[k].path);
    if (i < 0 || !slots[static_cast<std::size_t>(i)].is_property())
      return sdk::invalid_argument(
          "'" + std::string(writes[k].path) + "' is not a property of " + r.layout->interface().id,
          std::string(id));
    const SlotInfo& info = slots[static_cast<std::size_t>(i)];
    if (!info.content->writable)
      return sdk::invalid_argument("property '" + std::string(writes[k].path) + "' is not writable",
                                   std::string(id));
    if (Status s = check_value(*r.layout, *info.content->schema, writes[k].value); !s)
      return s.with_context(std::string(id) + "." + std::string(writes[k].path));
    index[k] = i;
  }
  const Timestamp now = impl_->now();
  std::vector<Value> before;
  before.reserve(writes.size());
  std::vector<SlotChange> changes;
  for (std::size_t k = 0; k < writes.size(); ++k) {
    SlotState& slot = r.slots[static_cast<std::size_t>(index[k])];
    before.push_back(slot.desired);
    slot.desired = writes[k].value;
    slot.desired_at = writes[k].time ? writes[k].time : now;
    ++slot.desired_version;
    slot.sync = slot.reported == slot.desired ? SyncStatus::kInSync : SyncStatus::kPending;
    changes.push_back({index[k], &before.back(), &slot.desired, slot.desired_at});
  }
  ++r.version;
  TwinView view = r.view();
  impl_->notify({ChangeKind::kDesired, view, changes});
  return r.version;
}

bool TwinGraph::acknowledge(std::string_view id, std::string_view path, std::uint32_t version) {
  Shard& shard = impl_->shard_of(id);
  std::unique_lock lock(shard.mutex);
  auto it = shard.twins.find(id);
  if (it == shard.twins.end()) return false;
  TwinRecord& r = *it->second;
  int i = r.layout->find(path);
  if (i < 0) return false;
  SlotState& s = r.slots[static_cast<std::size_t>(i)];
  if (s.desired_version != version) return false;
  if (s.sync == SyncStatus::kInSync) return true;
  s.sync = SyncStatus::kInSync;
  ++r.version;
  if (!impl_->listeners.empty()) {
    SlotChange change{i, &s.desired, &s.desired, s.desired_at};
    TwinView view = r.view();
    impl_->notify({ChangeKind::kSync, view, std::span(&change, 1)});
  }
  return true;
}

std::size_t TwinGraph::expire_pending(Timestamp deadline) {
  std::size_t n = 0;
  for (auto& shard : impl_->shards) {
    std::unique_lock lock(shard->mutex);
    for (auto& [key, rec] : shard->twins) {
      TwinRecord& r = *rec;
      std::vector<SlotChange> changes;
      for (std::size_t i = 0; i < r.layout->slots().size(); ++i) {
        SlotState& s = r.slots[i];
        if (s.sync == SyncStatus::kPending && s.desired_at < deadline) {
          s.sync = SyncStatus::kTimedOut;
          changes.push_back({static_cast<int>(i), &s.desired, &s.desired, s.desired_at});
        }
      }
      if (!changes.empty()) {
        ++r.version;
        n += changes.size();
        TwinView view = r.view();
        impl_->notify({ChangeKind::kSync, view, changes});
      }
    }
  }
  return n;
}

std::size_t TwinGraph::update_staleness(Timestamp now) {
  std::size_t changed = 0;
  for (auto& shard : impl_->shards) {
    std::unique_lock lock(shard->mutex);
    for (auto& [key, rec] : shard->twins) {
      TwinRecord& r = *rec;
      if (r.expected_period <= 0) continue;
      Timestamp last = r.last_data_at ? r.last_data_at : r.created_at;
      bool stale = now - last > r.expected_period;
      if (stale != r.stale) {
        r.stale = stale;
        ++changed;
        TwinView view = r.view();
        impl_->notify({ChangeKind::kStale, view, {}});
      }
    }
  }
  return changed;
}

Status TwinGraph::set_expected_period(std::string_view id, Duration period) {
  Shard& shard = impl_->shard_of(id);
  std::unique_lock lock(shard.mutex);
  auto it = shard.twins.find(id);
  if (it == shard.twins.end()) return sdk::not_found("no twin with this id", std::string(id));
  it->second->expected_period = period;
  return {};
}

bool TwinGraph::read(std::string_view id, const std::function<void(const TwinView&)>& fn) const {
  Shard& shard = impl_->shard_of(id);
  std::shared_lock lock(shard.mutex);
  auto it = shard.twins.find(id);
  if (it == shard.twins.end()) return false;
  fn(it->second->view());
  return true;
}

void TwinGraph::for_each(const std::function<bool(const TwinView&)>& fn) const {
  for (auto& shard : impl_->shards) {
    std::shared_lock lock(shard->mutex);
    for (auto& [key, rec] : shard->twins)
      if (!fn(rec->view())) return;
  }
}

void TwinGraph::for_each_of_model(std::string_view dtmi, bool exact,
                                  const std::function<bool(const TwinView&)>& fn) const {
  std::vector<const Interface*> interfaces;
  if (exact) {
    if (const Interface* i = impl_->models->find(dtmi)) interfaces.push_back(i);
  } else {
    interfaces = impl_->models->subtypes_of(dtmi);
  }
  for (auto& shard : impl_->shards) {
    std::shared_lock lock(shard->mutex);
    for (const Interface* i : interfaces) {
      auto it = shard->by_model.find(i);
      if (it == shard->by_model.end()) continue;
      for (TwinRecord* r : it->second)
        if (!fn(r->view())) return;
    }
  }
}

std::vector<std::pair<std::string, std::string>> TwinGraph::incoming(std::string_view id) const {
  std::vector<std::pair<std::string, std::string>> out;
  // Source ids are copied under the target's lock: a source may be deleted once it is released,
  // so each one is looked up again under its own shard's lock.
  std::vector<std::string> sources;
  {
    Shard& shard = impl_->shard_of(id);
    std::shared_lock lock(shard.mutex);
    auto it = shard.twins.find(id);
    if (it == shard.twins.end()) return out;
    for (const TwinRecord* src : it->second->incoming)
      sources.push_back(src->id);
  }
  std::sort(sources.begin(), sources.end());
  sources.erase(std::unique(sources.begin(), sources.end()), sources.end());
  for (const std::string& source : sources) {
    Shard& ss = impl_->shard_of(source);
    std::shared_lock lock(ss.mutex);
    auto it = ss.twins.find(source);
    if (it == ss.twins.end()) continue;
    for (const Relationship& r : it->second->relationships)
      if (r.target == id) out.emplace_back(source, r.id());
  }
  return out;
}

bool TwinGraph::contains(std::string_view id) const {
  Shard& shard = impl_->shard_of(id);
  std::shared_lock lock(shard.mutex);
  return shard.twins.count(id) > 0;
}

std::size_t TwinGraph::size() const {
  std::size_t n = 0;
  for (auto& shard : impl_->shards) {
    std::shared_lock lock(shard->mutex);
    n += shard->twins.size();
  }
  return n;
}

void TwinGraph::add_listener(ChangeListener* listener) {
  impl_->listeners.push_back(listener);
}

void TwinGraph::remove_listener(ChangeListener* listener) {
  std::erase(impl_->listeners, listener);
}

Status TwinGraph::restore(RestoredTwin twin, std::size_t* dropped_slots) {
  const TwinLayout* layout = this->layout(twin.model);
  if (!layout)
    return sdk::not_found(
        "stored twin uses model " + twin.model + ", which is not in the model set", twin.id);
  auto record = std::make_unique<TwinRecord>();
  record->id = std::move(twin.id);
  record->layout = layout;
  record->version = twin.version;
  record->created_at = twin.created_at;
  record->last_data_at = twin.last_data_at;
  record->expected_period = twin.expected_period;
  record->stale = twin.stale;
  record->slots = std::make_unique<SlotState[]>(layout->slots().size());
  for (auto& [path, state] : twin.slots) {
    int i = layout->find(path);
    if (i < 0) {
      if (dropped_slots) ++*dropped_slots;
      continue;
    }
    record->slots[static_cast<std::size_t>(i)] = std::move(state);
  }
  Shard& shard = impl_->shard_of(record->id);
  std::unique_lock lock(shard.mutex);
  TwinRecord* r = record.get();
  auto [it, inserted] = shard.twins.emplace(std::string_view(r->id), std::move(record));
  if (!inserted) return {StatusCode::kAlreadyExists, "a twin with this id exists", r->id};
  auto& list = shard.by_model[&layout->interface()];
  r->model_position = static_cast<std::uint32_t>(list.size());
  list.push_back(r);
  return {};
}

Status TwinGraph::restore_relationship(std::string_view source, std::string_view name,
                                       Relationship rel) {
  std::size_t a = impl_->shard_index(source), b = impl_->shard_index(rel.target);
  std::vector<std::unique_lock<std::shared_mutex>> locks;
  locks.emplace_back(impl_->shards[std::min(a, b)]->mutex);
  if (a != b) locks.emplace_back(impl_->shards[std::max(a, b)]->mutex);
  Shard& ss = *impl_->shards[a];
  Shard& ts = *impl_->shards[b];
  auto s_it = ss.twins.find(source);
  auto t_it = ts.twins.find(rel.target);
  if (s_it == ss.twins.end() || t_it == ts.twins.end())
    return sdk::not_found(
        "stored relationship '" + std::string(name) + "' joins a twin that is gone",
        std::string(source));
  rel.definition = s_it->second->layout->relationship(name);
  if (!rel.definition)
    return sdk::not_found("the model no longer has relationship '" + std::string(name) + "'",
                          std::string(source));
  t_it->second->incoming.push_back(s_it->second.get());
  s_it->second->relationships.push_back(std::move(rel));
  return {};
}

}  // namespace doppel::twin
