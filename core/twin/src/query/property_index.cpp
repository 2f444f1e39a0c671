#include "doppel/twin/property_index.hpp"

#include <array>
#include <atomic>
#include <cmath>
#include <functional>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_map>

#include "doppel/model/registry.hpp"

namespace doppel::twin {

namespace {

// Numbers order before strings; within a family by value.
struct Key {
  bool is_string = false;
  double number = 0;
  std::string text;

  friend bool operator<(const Key& a, const Key& b) {
    if (a.is_string != b.is_string) return !a.is_string;
    return a.is_string ? a.text < b.text : a.number < b.number;
  }
  friend bool operator==(const Key& a, const Key& b) {
    return a.is_string == b.is_string && (a.is_string ? a.text == b.text : a.number == b.number);
  }
};

std::optional<Key> key_of(const Value& v) {
  if (v.is_number()) {
    double d = v.as_double();
    if (std::isnan(d)) return std::nullopt;
    return Key{false, d, {}};
  }
  if (v.kind() == Value::Kind::kString) return Key{true, 0, std::string(v.as_string())};
  return std::nullopt;
}

bool indexable(model::SchemaKind k) {
  using model::SchemaKind;
  switch (k) {
    case SchemaKind::kDouble:
    case SchemaKind::kFloat:
    case SchemaKind::kInteger:
    case SchemaKind::kLong:
    case SchemaKind::kString:
    case SchemaKind::kEnum:
    case SchemaKind::kDate:
    case SchemaKind::kDateTime:
    case SchemaKind::kTime:
    case SchemaKind::kDuration:
      return true;
    default:
      return false;
  }
}

// Writers come from every graph shard at once: stripes by twin id keep them apart.
constexpr std::size_t kStripes = 16;

struct Stripe {
  mutable std::shared_mutex mutex;
  std::set<std::pair<Key, std::string>> ordered;
  std::unordered_map<std::string, Key> current;  // twin id -> its key in `ordered`

  void upsert(std::string_view id, const std::optional<Key>& key) {
    std::unique_lock lock(mutex);
    auto it = current.find(std::string(id));
    if (it != current.end()) {
      if (key && it->second == *key) return;
      ordered.erase({it->second, it->first});
      if (!key) {
        current.erase(it);
        return;
      }
      it->second = *key;
      ordered.emplace(*key, it->first);
      return;
    }
    if (!key) return;
    auto [ins, _] = current.emplace(std::string(id), *key);
    ordered.emplace(*key, ins->first);
  }
  void erase(std::string_view id) { upsert(id, std::nullopt); }
};

struct Index {
  std::string model;
  std::string path;
  std::array<Stripe, kStripes> stripes;
  std::atomic<bool> usable{true};

  Stripe& stripe_of(std::string_view id) {
    return stripes[std::hash<std::string_view>{}(id) % kStripes];
  }
};

struct Covered {
  Index* index;
  std::string path;
};

}  // namespace

struct PropertyIndexes::Impl {
  const TwinGraph* graph = nullptr;
  // Guards `indexes` and `by_interface`: shared by change events and lookups, exclusive in add().
  mutable std::shared_mutex mutex;
  std::vector<std::unique_ptr<Index>> indexes;
  std::unordered_map<const model::Interface*, std::vector<Covered>> by_interface;

  // Applies the twin's current value at each covered slot. Idempotent, so build() and events
  // may both deliver the same state.
  void refresh(const TwinView& twin, const std::vector<Covered>& covered) {
    for (const Covered& c : covered) {
      const SlotState* slot = twin.slot(c.path);
      c.index->stripe_of(twin.id).upsert(twin.id,
                                         slot ? key_of(slot->reported) : std::optional<Key>());
    }
  }
};

PropertyIndexes::PropertyIndexes(const TwinGraph& graph) : impl_(std::make_unique<Impl>()) {
  impl_->graph = &graph;
}

PropertyIndexes::~PropertyIndexes() = default;

Status PropertyIndexes::add(std::string_view model_id, std::string_view path) {
  const model::ModelRegistry& models = impl_->graph->models();
  const std::string where = std::string(model_id) + "/" + std::string(path);
  const model::Interface* interface = models.find(model_id);
  if (!interface)
    return sdk::not_found("cannot index " + where + ": the model is not in the model set", where);
  const model::Content* content = interface->find_path(path);
  if (!content || (content->kind != model::ContentKind::kProperty &&
                   content->kind != model::ContentKind::kTelemetry))
    return sdk::invalid_argument("cannot index " + where + ": " + std::string(model_id) +
                                     " has no property or telemetry '" + std::string(path) +
                                     "' (components: 'component/name')",
                                 where);
  if (!content->schema || !indexable(content->schema->kind))
    return sdk::invalid_argument(
        "cannot index " + where + ": only number, string, enum and date/time values are indexed",
        where);
  std::unique_lock lock(impl_->mutex);
  for (const auto& ix : impl_->indexes)
    if (ix->model == model_id && ix->path == path)
      return {sdk::StatusCode::kAlreadyExists, "an index on " + where + " exists", where};
  auto index = std::make_unique<Index>();
  index->model = std::string(model_id);
  index->path = std::string(path);
  for (const model::Interface* sub : models.subtypes_of(model_id))
    impl_->by_interface[sub].push_back({index.get(), index->path});
  impl_->indexes.push_back(std::move(index));
  return {};
}

void PropertyIndexes::build() {
  impl_->graph->for_each([this](const TwinView& twin) {
    std::shared_lock lock(impl_->mutex);
    auto it = impl_->by_interface.find(&twin.layout->interface());
    if (it == impl_->by_interface.end()) return true;
    try {
      impl_->refresh(twin, it->second);
    } catch (...) {
      for (const Covered& c : it->second)
        c.index->usable = false;
    }
    return true;
  });
}

void PropertyIndexes::on_change(const ChangeEvent& event) noexcept {
  if (event.kind != ChangeKind::kTwinCreated && event.kind != ChangeKind::kTwinDeleted &&
      event.kind != ChangeKind::kReported)
    return;
  std::shared_lock lock(impl_->mutex);
  auto it = impl_->by_interface.find(&event.twin.layout->interface());
  if (it == impl_->by_interface.end()) return;
  try {
    if (event.kind == ChangeKind::kTwinDeleted) {
      for (const Covered& c : it->second)
        c.index->stripe_of(event.twin.id).erase(event.twin.id);
      return;
    }
    if (event.kind == ChangeKind::kTwinCreated) {
      impl_->refresh(event.twin, it->second);
      return;
    }
    // kReported: only the slots that changed.
    for (const Covered& c : it->second) {
      int slot = event.twin.layout->find(c.path);
      for (const SlotChange& change : event.slots) {
        if (change.slot != slot || !change.after) continue;
        c.index->stripe_of(event.twin.id).upsert(event.twin.id, key_of(*change.after));
      }
    }
  } catch (...) {
    // Out of memory: the index would miss this change. Stop answering from it rather than
    // answer wrongly; queries fall back to the model index or a scan.
    for (const Covered& c : it->second)
      c.index->usable = false;
  }
}

std::vector<PropertyIndexes::Info> PropertyIndexes::list() const {
  std::shared_lock lock(impl_->mutex);
  std::vector<Info> out;
  for (const auto& ix : impl_->indexes) {
    Info info{ix->model, ix->path, 0, ix->usable.load()};
    for (const Stripe& s : ix->stripes) {
      std::shared_lock sl(s.mutex);
      info.entries += s.current.size();
    }
    out.push_back(std::move(info));
  }
  return out;
}

int PropertyIndexes::find(const model::Interface& model, std::string_view path) const {
  std::shared_lock lock(impl_->mutex);
  for (std::size_t i = 0; i < impl_->indexes.size(); ++i) {
    const Index& ix = *impl_->indexes[i];
    if (ix.path == path && ix.usable.load(std::memory_order_relaxed) && model.is_a(ix.model))
      return static_cast<int>(i);
  }
  return -1;
}

std::string PropertyIndexes::name(int index) const {
  std::shared_lock lock(impl_->mutex);
  if (index < 0 || static_cast<std::size_t>(index) >= impl_->indexes.size()) return {};
  const Index& ix = *impl_->indexes[static_cast<std::size_t>(index)];
  return ix.model + "/" + ix.path;
}

void PropertyIndexes::lookup(int index, const IndexRange& range,
                             std::vector<std::string>& out) const {
  std::optional<Key> low = range.low ? key_of(*range.low) : std::nullopt;
  std::optional<Key> high = range.high ? key_of(*range.high) : std::nullopt;
  if (!low && !high) return;
  const bool strings = low ? low->is_string : high->is_string;
  if (low && high && low->is_string != high->is_string) return;
  // Open ends stop at the family's edge: "> 5" never returns strings.
  Key begin = low ? *low : Key{strings, -HUGE_VAL, {}};
  std::shared_lock lock(impl_->mutex);
  if (index < 0 || static_cast<std::size_t>(index) >= impl_->indexes.size()) return;
  const Index& ix = *impl_->indexes[static_cast<std::size_t>(index)];
  for (const Stripe& s : ix.stripes) {
    std::shared_lock sl(s.mutex);
    auto it = s.ordered.lower_bound({begin, std::string()});
    for (; it != s.ordered.end(); ++it) {
      const Key& k = it->first;
      if (k.is_string != strings) break;
      if (low && !range.low_inclusive && k == *low) continue;
      if (high) {
        if (*high < k) break;
        if (!range.high_inclusive && k == *high) break;
      }
      out.push_back(it->second);
    }
  }
}

void PropertyIndexes::lookup_equal(int index, const Value& value,
                                   std::vector<std::string>& out) const {
  IndexRange r;
  r.low = value;
  r.high = value;
  lookup(index, r, out);
}

}  // namespace doppel::twin
