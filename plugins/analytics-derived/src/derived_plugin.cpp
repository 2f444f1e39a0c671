// analytics-derived: derived properties of system and process twins, declared in the
// deployment's top-level `derived:` list and computed over relationships (a line's total power
// is the sum of its motors' power). Kept incrementally: per system a running sum and count (and
// an ordered multiset for min/max), per part its last value, and per part the systems it
// belongs to, so a part's change costs O(log parts) and never rescans the other parts. Parts
// added or removed (relationship changes) adjust the aggregate; at start every aggregate is
// rebuilt once from the twin state. Results are written with set_derived, so they are ordinary
// reported values: visible in reads, queries and rules.
#include <charconv>
#include <cmath>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "doppel/sdk/analytics.hpp"

namespace doppel::plugins::derived {
namespace {

using namespace doppel::sdk;

enum class Aggregate : std::uint8_t { kSum, kAvg, kMin, kMax, kCount, kWorst };

struct Rule {
  std::string model;     // `on`: the system's interface
  std::string property;  // the numeric slot of `on` written
  std::string over;      // relationship of `on` whose targets are the parts
  std::string of;        // the parts' numeric slot ("" for count: count the parts)
  Aggregate aggregate = Aggregate::kSum;
  std::optional<double> empty;  // written when no part has a value (avg/min/max/worst)
  bool ordered() const {
    return aggregate == Aggregate::kMin || aggregate == Aggregate::kMax ||
           aggregate == Aggregate::kWorst;
  }
};

std::string number(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

struct ModelInfo {
  bool found = false;
  std::map<std::string, std::pair<ValueType, bool>, std::less<>> slots;  // path → type, property
  std::map<std::string, std::string, std::less<>> relationships;         // name → target
};

ModelInfo describe(TwinAccess& twins, std::string_view model) {
  struct V final : ModelVisitor {
    ModelInfo info;
    void visit(const ModelDescription& m) noexcept override {
      try {
        info.found = true;
        for (const ModelSlot& s : m.slots)
          info.slots[std::string(s.path)] = {s.type, s.is_property};
        for (const ModelRelationship& r : m.relationships)
          info.relationships[std::string(r.name)] = std::string(r.target);
      } catch (...) {
      }
    }
  } v;
  twins.describe(model, v);
  return v.info;
}

Expected<std::vector<Rule>> parse(const ConfigNode& list, TwinAccess& twins) {
  std::vector<Rule> out;
  if (list.missing() || list.type() == ConfigNode::Type::kNull) return out;
  if (list.type() != ConfigNode::Type::kList)
    return invalid_argument("'derived' must be a list of {on, property, aggregate, over, of}",
                            list.where());
  static const std::map<std::string_view, Aggregate> kAggregates = {
      {"sum", Aggregate::kSum}, {"avg", Aggregate::kAvg},     {"min", Aggregate::kMin},
      {"max", Aggregate::kMax}, {"count", Aggregate::kCount}, {"worst", Aggregate::kWorst}};
  static const std::set<std::string_view> kKeys = {"on",   "property", "aggregate",
                                                   "over", "of",       "empty"};
  std::set<std::pair<std::string, std::string>> targets;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const ConfigNode& d = list.at(i);
    if (d.type() != ConfigNode::Type::kMap)
      return invalid_argument("a derived property is a map {on, property, aggregate, over, of}",
                              d.where());
    for (std::size_t k = 0; k < d.size(); ++k)
      if (!kKeys.count(d.key_at(k)))
        return invalid_argument("unknown key '" + std::string(d.key_at(k)) +
                                    "' (known: on, property, aggregate, over, of, empty)",
                                d.get(d.key_at(k)).where());
    auto text = [&](const char* key, std::string& into, bool required) -> Status {
      const ConfigNode& n = d.get(key);
      if (n.missing() && !required) return {};
      if (n.type() != ConfigNode::Type::kString || n.text().empty())
        return invalid_argument(std::string("'") + key + "' is required (a string)", n.where());
      into = std::string(n.text());
      return {};
    };
    Rule r;
    std::string aggregate;
    if (Status s = text("on", r.model, true); !s) return s;
    if (Status s = text("property", r.property, true); !s) return s;
    if (Status s = text("aggregate", aggregate, true); !s) return s;
    if (Status s = text("over", r.over, true); !s) return s;
    if (Status s = text("of", r.of, false); !s) return s;
    auto agg = kAggregates.find(aggregate);
    if (agg == kAggregates.end())
      return invalid_argument(
          "aggregate must be one of sum, avg, min, max, count, worst; got '" + aggregate + "'",
          d.get("aggregate").where());
    r.aggregate = agg->second;
    if (const ConfigNode& e = d.get("empty"); !e.missing()) {
      if (e.type() != ConfigNode::Type::kNumber && e.type() != ConfigNode::Type::kInteger)
        return invalid_argument("'empty' must be a number", e.where());
      r.empty = e.as_number();
    }
    ModelInfo system = describe(twins, r.model);
    if (!system.found)
      return invalid_argument("model '" + r.model + "' is not loaded", d.get("on").where());
    auto slot = system.slots.find(r.property);
    if (slot == system.slots.end())
      return invalid_argument("'" + r.property + "' is not a property or telemetry of " + r.model,
                              d.get("property").where());
    if (slot->second.first != ValueType::kNumber)
      return invalid_argument("'" + r.property + "' is not numeric in " + r.model,
                              d.get("property").where());
    auto rel = system.relationships.find(r.over);
    if (rel == system.relationships.end())
      return invalid_argument("'" + r.over + "' is not a relationship of " + r.model,
                              d.get("over").where());
    if (r.of.empty() && r.aggregate != Aggregate::kCount)
      return invalid_argument("'of' (the parts' value) is required unless aggregate is count",
                              d.where());
    if (!r.of.empty() && !rel->second.empty()) {
      ModelInfo part = describe(twins, rel->second);
      auto p = part.slots.find(r.of);
      if (p == part.slots.end())
        return invalid_argument("'" + r.of + "' is not a property or telemetry of " + rel->second +
                                    " (the target of '" + r.over + "')",
                                d.get("of").where());
      if (p->second.first != ValueType::kNumber)
        return invalid_argument("'" + r.of + "' is not numeric in " + rel->second,
                                d.get("of").where());
    }
    if (!targets.insert({r.model, r.property}).second)
      return invalid_argument("'" + r.property + "' of " + r.model + " is derived twice",
                              d.where());
    out.push_back(std::move(r));
  }
  return out;
}

// One system twin under one rule.
struct System {
  std::unordered_map<std::string, std::optional<double>> parts;  // part → its last value
  long double sum = 0;            // over parts with a value (long double: fewer rounding steps)
  std::size_t valued = 0;         // parts with a value
  std::multiset<double> ordered;  // min/max/worst only
  std::optional<double> written;
  bool dirty = false;
  Timestamp time = 0;  // event time of the latest contributing change
};

struct RuleState {
  std::unordered_map<std::string, System> systems;
  std::unordered_map<std::string, std::vector<std::string>> parents;  // part → systems
  std::unordered_map<std::string, bool> is_system;                    // model → model_is(on)
};

class DerivedPlugin final : public AnalyticsPlugin {
 public:
  explicit DerivedPlugin(const PluginContext& c)
      : twins_(*c.twins),
        log_(*c.log),
        clock_(*c.clock),
        derived_(c.derived),
        writes_(c.metrics->counter("derived_writes_total", "", "Derived values written")),
        part_reads_(c.metrics->counter("derived_part_reads_total", "",
                                       "Part values read from the graph (start and parts added; "
                                       "part changes arrive with their value)")),
        failures_(c.metrics->counter("derived_write_failures_total", "",
                                     "Derived values the graph refused")) {}

  Status configure(const ConfigNode& config) noexcept override {
    try {
      if (config.type() == ConfigNode::Type::kMap && config.size() > 0)
        return invalid_argument(
            "analytics-derived has no settings: derived properties go in the deployment's "
            "top-level 'derived:' list",
            config.get(config.key_at(0)).where());
      if (!derived_) return {};
      auto rules = parse(*derived_, twins_);
      if (!rules) return rules.status();
      rules_ = std::move(*rules);
      state_.resize(rules_.size());
      return {};
    } catch (const std::exception& e) {
      return internal_error(e.what());
    }
  }

  // Rebuilds every aggregate from the twin state (the one full pass) and writes what changed.
  Status start() noexcept override {
    try {
      if (rules_.empty()) log_.warn("no derived properties: the deployment has no 'derived:' list");
      const Timestamp now = clock_.now();
      for (std::size_t r = 0; r < rules_.size(); ++r) {
        for (const std::string& id : twin_ids_of(twins_, rules_[r].model)) {
          System& s = state_[r].systems[id];
          s.written = current(id, rules_[r].property);
          resync(r, id, now);
        }
      }
      flush();
      return {};
    } catch (const std::exception& e) {
      return internal_error(e.what());
    }
  }
  void stop() noexcept override {}

  void on_changes(std::span<const TwinChange> changes) noexcept override {
    try {
      for (const TwinChange& c : changes) {
        for (std::size_t r = 0; r < rules_.size(); ++r) {
          RuleState& st = state_[r];
          switch (c.kind) {
            case TwinChangeKind::kReported:
              part_changed(r, c);
              break;
            case TwinChangeKind::kCreated:
            case TwinChangeKind::kRelationships:
              if (is_system(r, c.model)) {
                st.systems[std::string(c.twin)];
                resync(r, std::string(c.twin), c.at);
              }
              break;
            case TwinChangeKind::kDeleted:
              deleted(r, std::string(c.twin), c.at);
              break;
            default:
              break;
          }
        }
      }
      flush();
    } catch (...) {
      // Out of memory: the next rebuild (restart) repairs the aggregates.
    }
  }

 private:
  bool is_system(std::size_t r, std::string_view model) {
    auto& cache = state_[r].is_system;
    auto it = cache.find(std::string(model));
    if (it == cache.end())
      it = cache.emplace(std::string(model), twins_.model_is(model, rules_[r].model)).first;
    return it->second;
  }

  // The reported numeric value of `path` on `twin`, if any.
  std::optional<double> current(const std::string& twin, const std::string& path) {
    struct V final : TwinVisitor {
      std::string_view path;
      std::optional<double> value;
      void visit(const TwinSnapshot& t) noexcept override {
        if (const SlotSnapshot* s = t.slot(path); s && s->reported.is_numeric())
          value = s->reported.number;
      }
    } v;
    v.path = path;
    twins_.read(twin, v);
    return v.value;
  }

  void add(const Rule& rule, System& s, std::optional<double> v) {
    if (!v) return;
    s.sum += *v;
    ++s.valued;
    if (rule.ordered()) s.ordered.insert(*v);
  }
  void remove(const Rule& rule, System& s, std::optional<double> v) {
    if (!v) return;
    s.sum -= *v;
    --s.valued;
    if (s.valued == 0) s.sum = 0;  // no drift left over from an empty set
    if (rule.ordered())
      if (auto it = s.ordered.find(*v); it != s.ordered.end()) s.ordered.erase(it);
  }

  // A part reported values: adjust each system it belongs to by (new - old).
  void part_changed(std::size_t r, const TwinChange& c) {
    const Rule& rule = rules_[r];
    RuleState& st = state_[r];
    if (rule.of.empty()) return;
    auto parents = st.parents.find(std::string(c.twin));
    if (parents == st.parents.end()) return;
    for (const ChangedSlot& slot : c.slots) {
      if (slot.path != rule.of) continue;
      std::optional<double> v;
      if (slot.value.is_numeric() && std::isfinite(slot.value.number)) v = slot.value.number;
      for (const std::string& sys : parents->second) {
        System& s = st.systems[sys];
        auto& have = s.parts[std::string(c.twin)];
        remove(rule, s, have);
        have = v;
        add(rule, s, v);
        s.dirty = true;
        s.time = std::max(s.time, slot.time);
      }
    }
  }

  // The system's relationships changed (or it was created, or we start): diff its parts.
  void resync(std::size_t r, const std::string& sys, Timestamp time) {
    const Rule& rule = rules_[r];
    RuleState& st = state_[r];
    struct {
      std::unordered_set<std::string> ids;
    } now;
    for (std::string& id : related_ids(twins_, sys, rule.over, false))
      now.ids.insert(std::move(id));
    System& s = st.systems[sys];
    for (auto it = s.parts.begin(); it != s.parts.end();) {
      if (now.ids.count(it->first)) {
        ++it;
        continue;
      }
      remove(rule, s, it->second);
      unlink(st, it->first, sys);
      it = s.parts.erase(it);
      s.dirty = true;
    }
    for (const std::string& part : now.ids) {
      if (s.parts.count(part)) continue;
      std::optional<double> v;
      if (!rule.of.empty()) {
        v = current(part, rule.of);
        part_reads_.add();
      }
      s.parts.emplace(part, v);
      add(rule, s, v);
      st.parents[part].push_back(sys);
      s.dirty = true;
    }
    s.dirty = true;  // a new system gets its first value even with no parts
    s.time = std::max(s.time, time);
  }

  void unlink(RuleState& st, const std::string& part, const std::string& sys) {
    auto p = st.parents.find(part);
    if (p == st.parents.end()) return;
    std::erase(p->second, sys);
    if (p->second.empty()) st.parents.erase(p);
  }

  void deleted(std::size_t r, const std::string& twin, Timestamp time) {
    RuleState& st = state_[r];
    if (auto sys = st.systems.find(twin); sys != st.systems.end()) {
      for (auto& [part, v] : sys->second.parts)
        unlink(st, part, twin);
      st.systems.erase(sys);
    }
    if (auto p = st.parents.find(twin); p != st.parents.end()) {
      std::vector<std::string> systems = p->second;
      for (const std::string& sysid : systems) {
        System& s = st.systems[sysid];
        if (auto part = s.parts.find(twin); part != s.parts.end()) {
          remove(rules_[r], s, part->second);
          s.parts.erase(part);
        }
        s.dirty = true;
        s.time = std::max(s.time, time);
      }
      st.parents.erase(twin);
    }
  }

  std::optional<double> value(const Rule& rule, const System& s) const {
    switch (rule.aggregate) {
      case Aggregate::kSum:
        return static_cast<double>(s.sum);
      case Aggregate::kCount:
        return static_cast<double>(rule.of.empty() ? s.parts.size() : s.valued);
      case Aggregate::kAvg:
        if (s.valued) return static_cast<double>(s.sum / static_cast<long double>(s.valued));
        break;
      case Aggregate::kMin:
      case Aggregate::kWorst:
        if (!s.ordered.empty()) return *s.ordered.begin();
        break;
      case Aggregate::kMax:
        if (!s.ordered.empty()) return *s.ordered.rbegin();
        break;
    }
    return rule.empty;
  }

  // Writes the aggregates that changed since the last flush (once per batch and system).
  void flush() {
    for (std::size_t r = 0; r < rules_.size(); ++r) {
      for (auto& [id, s] : state_[r].systems) {
        if (!s.dirty) continue;
        s.dirty = false;
        std::optional<double> v = value(rules_[r], s);
        if (!v || v == s.written) continue;  // no value (empty set) or unchanged
        Status st =
            twins_.set_derived(id, rules_[r].property, number(*v), s.time ? s.time : clock_.now());
        if (!st) {
          failures_.add();
          log_.warn("derived value not written",
                    {{"twin", id}, {"property", rules_[r].property}, {"error", st.to_string()}});
          continue;
        }
        s.written = v;
        writes_.add();
      }
    }
  }

  TwinAccess& twins_;
  Logger& log_;
  const Clock& clock_;
  const ConfigNode* derived_;
  Counter& writes_;
  Counter& part_reads_;
  Counter& failures_;
  std::vector<Rule> rules_;
  std::vector<RuleState> state_;
};

const PluginDescriptor kDescriptor{
    DOPPEL_SDK_ABI_MAJOR,
    DOPPEL_SDK_ABI_MINOR,
    DOPPEL_SDK_TOOLCHAIN,
    PluginKind::kAnalytics,
    "derived",
    "1.0.0",
    "derived properties of system twins over relationships (sum, avg, min, max, count, worst)",
    nullptr,
    0,
    [](const PluginContext& c) noexcept -> Plugin* {
      return create_plugin<DerivedPlugin>(c, "derived",
                                          kNeedsTwins | kNeedsLog | kNeedsClock | kNeedsMetrics);
    },
    destroy_plugin};

}  // namespace
}  // namespace doppel::plugins::derived

DOPPEL_PLUGIN_ENTRY(doppel::plugins::derived::kDescriptor)
