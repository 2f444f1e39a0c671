// Step 2 of loading a deployment: twin ids after template expansion (unique, within the caps)
// and relationship endpoints (declared twins, unique relationship ids per source). No models
// needed.
//
// Templates stay templates: "motor-{i}" with count 1,000,000 is not expanded to check it.
// Literal ids go into a hash map; a templated entry is matched by parsing an id back
// (IdTemplate::match), and two templated entries are compared only when their literal prefixes
// and suffixes allow a common id. Past a few dozen templated entries every id is expanded into
// one hash map instead (bounded by the caps).
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "deployment_internal.hpp"

namespace doppel::runtime::detail {

namespace {

constexpr std::size_t kMaxPairwise = 64;  // templated entries compared pairwise at most

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};
using IdMap = std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>>;

// False when no text can be made by both templates (their literal ends disagree).
bool may_overlap(const IdTemplate& a, const IdTemplate& b) {
  std::string_view pa = a.prefix(), pb = b.prefix();
  std::size_t n = std::min(pa.size(), pb.size());
  if (pa.substr(0, n) != pb.substr(0, n)) return false;
  std::string_view sa = a.suffix(), sb = b.suffix();
  std::size_t m = std::min(sa.size(), sb.size());
  return sa.substr(sa.size() - m) == sb.substr(sb.size() - m);
}

bool in_range(std::int64_t i, std::int64_t start, std::int64_t count) {
  return i >= start && i - start < count;
}

std::string line_of(const YamlConfigNode& n) {
  return "line " + std::to_string(n.line());
}

// Twin ids, for lookups by relationships.
class TwinIds {
 public:
  struct Entry {
    const TwinSpec* spec = nullptr;
    std::size_t index = 0;  // in deployment.twins
  };

  // False when the twins exceed the cap (then later entries are not registered).
  bool build(Parsed& parsed, Reporter& report, std::int64_t max_twins) {
    auto& twins = parsed.deployment.twins;
    std::int64_t total = 0;
    bool capped = false;
    for (std::size_t k = 0; k < twins.size(); ++k) {
      if (!parsed.twins[k].usable) continue;
      total += twins[k].count;
      if (total > max_twins) {
        report.error(*parsed.twins[k].node, code::kTooMany,
                     "more than " + std::to_string(max_twins) + " twins in all",
                     "split the deployment, or lower the counts");
        capped = true;
        break;
      }
      (twins[k].id.has_index() ? templated_ : literal_entries_).push_back({&twins[k], k});
    }
    use_all_ = templated_.size() > kMaxPairwise;
    if (use_all_) {
      register_all(parsed, report);
      return !capped;
    }
    for (const Entry& e : literal_entries_) {
      auto [it, inserted] = literal_.emplace(e.spec->id.text(), e.index);
      if (!inserted) duplicate(parsed, report, e.index, it->second, e.spec->id.text());
    }
    // A literal id that a template also makes.
    for (const Entry& t : templated_)
      for (const Entry& l : literal_entries_)
        if (auto i = t.spec->id.match(l.spec->id.text());
            i && in_range(*i, t.spec->start, t.spec->count))
          duplicate(parsed, report, std::max(t.index, l.index), std::min(t.index, l.index),
                    l.spec->id.text());
    // Two templates making a common id: expand the shorter range, parse back with the other.
    for (std::size_t a = 0; a < templated_.size(); ++a)
      for (std::size_t b = a + 1; b < templated_.size(); ++b) {
        const TwinSpec& x = *templated_[a].spec;
        const TwinSpec& y = *templated_[b].spec;
        if (!may_overlap(x.id, y.id)) continue;
        bool x_smaller = x.count <= y.count;
        const TwinSpec& small = x_smaller ? x : y;
        const TwinSpec& large = x_smaller ? y : x;
        std::string id;
        for (std::int64_t i = small.start; i - small.start < small.count; ++i) {
          small.id.expand_into(i, id);
          if (auto j = large.id.match(id); j && in_range(*j, large.start, large.count)) {
            duplicate(parsed, report, templated_[b].index, templated_[a].index, id);
            break;
          }
        }
      }
    return !capped;
  }

  // The twins entry that declares `id`.
  std::optional<std::size_t> find(std::string_view id) const {
    if (use_all_) {
      auto it = all_.find(id);
      return it == all_.end() ? std::nullopt : std::optional<std::size_t>(it->second);
    }
    if (auto it = literal_.find(id); it != literal_.end()) return it->second;
    for (const Entry& t : templated_)
      if (auto i = t.spec->id.match(id); i && in_range(*i, t.spec->start, t.spec->count))
        return t.index;
    return std::nullopt;
  }

  // A templated entry written exactly as `id` whose range covers [start, start + count).
  std::optional<std::size_t> same_template(const IdTemplate& id, std::int64_t start,
                                           std::int64_t count) const {
    for (const Entry& t : templated_)
      if (t.spec->id.text() == id.text() && start >= t.spec->start &&
          start + count <= t.spec->start + t.spec->count)
        return t.index;
    return std::nullopt;
  }

  // What to suggest for an undeclared id.
  std::string hint_for(std::string_view id) const {
    for (const Entry& t : templated_)
      if (t.spec->id.match(id))
        return "twins[" + std::to_string(t.index) + "] makes " + t.spec->id.expand(t.spec->start) +
               " .. " + t.spec->id.expand(t.spec->start + t.spec->count - 1);
    if (!use_all_ && literal_.size() <= 2000) {
      std::vector<std::string_view> ids;
      for (const auto& [k, v] : literal_)
        ids.push_back(k);
      std::sort(ids.begin(), ids.end());
      if (std::string s = suggestion(id, ids); !s.empty()) return s;
    }
    return "declare it under `twins:`";
  }

 private:
  void duplicate(const Parsed& parsed, Reporter& report, std::size_t later, std::size_t earlier,
                 std::string_view id) {
    if (!reported_.insert(later).second) return;  // one report per entry
    const YamlConfigNode& node = parsed.twins[later].node->find("id");
    std::string where = later == earlier ? "twins[" + std::to_string(earlier) + "] itself"
                                         : "twins[" + std::to_string(earlier) + "] (" +
                                               line_of(*parsed.twins[earlier].node) + ")";
    report.error(node, code::kDuplicateTwinId,
                 "twin id '" + std::string(id) + "' is also declared by " + where,
                 "twin ids must be unique after {i} expansion");
  }

  void register_all(Parsed& parsed, Reporter& report) {
    std::string id;
    for (const auto* list : {&literal_entries_, &templated_})
      for (const Entry& e : *list)
        for (std::int64_t i = e.spec->start; i - e.spec->start < e.spec->count; ++i) {
          e.spec->id.expand_into(i, id);
          auto [it, inserted] = all_.emplace(id, e.index);
          if (!inserted) {
            duplicate(parsed, report, std::max(e.index, it->second), std::min(e.index, it->second),
                      id);
            break;
          }
        }
  }

  std::vector<Entry> literal_entries_;
  std::vector<Entry> templated_;
  IdMap literal_;
  bool use_all_ = false;
  IdMap all_;
  std::unordered_set<std::size_t> reported_;
};

// The twins entries an endpoint template refers to, per relationship instance.
struct Endpoint {
  std::optional<std::size_t> uniform;  // every instance resolves to this entry
  bool per_index = false;              // resolve each instance
};

Endpoint classify(const TwinIds& ids, const IdTemplate& t, const RelationshipSpec& r) {
  Endpoint e;
  if (!t.has_index()) {
    e.uniform = ids.find(t.text());
  } else if (auto same = ids.same_template(t, r.start, r.count)) {
    e.uniform = same;
  } else {
    e.per_index = true;
  }
  return e;
}

// The relationship id every instance gets: `id`, or "<name>-<target>".
IdTemplate effective_id(const RelationshipSpec& r) {
  return r.id.empty() ? IdTemplate(r.name + "-" + r.target.text()) : r.id;
}

// Whether entry `r` makes a relationship `id` from `source`.
bool produces(const RelationshipSpec& r, const IdTemplate& rid, std::string_view source,
              std::string_view id) {
  if (r.source.has_index()) {
    auto j = r.source.match(source);
    return j && in_range(*j, r.start, r.count) && rid.expand(*j) == id;
  }
  if (source != r.source.text()) return false;
  if (!rid.has_index()) return id == rid.text();
  auto j = rid.match(id);
  return j && in_range(*j, r.start, r.count);
}

void check_relationship_ids(Parsed& parsed, Reporter& report, std::int64_t max_relationships) {
  auto& rels = parsed.deployment.relationships;
  std::vector<std::size_t> usable;
  std::vector<IdTemplate> ids(rels.size());
  std::int64_t total = 0;
  for (std::size_t k = 0; k < rels.size(); ++k) {
    if (!parsed.relationships[k].usable) continue;
    total += rels[k].count;
    if (total > max_relationships) {
      report.error(*parsed.relationships[k].node, code::kTooMany,
                   "more than " + std::to_string(max_relationships) + " relationships in all",
                   "split the deployment, or lower the counts");
      for (std::size_t j = k; j < rels.size(); ++j)
        parsed.relationships[j].usable = false;
      break;
    }
    usable.push_back(k);
    ids[k] = effective_id(rels[k]);
  }
  std::unordered_set<std::size_t> reported;
  auto duplicate = [&](std::size_t later, std::size_t earlier, std::string_view source,
                       std::string_view id) {
    if (!reported.insert(later).second) return;
    const YamlConfigNode& node = *parsed.relationships[later].node;
    const YamlConfigNode& at = node.find("id").missing() ? node : node.find("id");
    std::string other = later == earlier ? "another instance of the same entry"
                                         : "relationships[" + std::to_string(earlier) + "] (" +
                                               line_of(*parsed.relationships[earlier].node) + ")";
    report.error(at, code::kDuplicateRelationshipId,
                 "twin '" + std::string(source) + "' would have two relationships with id '" +
                     std::string(id) + "': this one and " + other,
                 "relationship ids must be unique per source twin; set `id` (it may use {i})");
  };
  // Within an entry: every instance has the same source and id.
  for (std::size_t k : usable) {
    const RelationshipSpec& r = rels[k];
    if (r.count > 1 && !r.source.has_index() && !ids[k].has_index())
      duplicate(k, k, r.source.text(), ids[k].text());
  }
  if (usable.size() > kMaxPairwise) {
    IdMap seen;
    RelationshipInstance inst;
    std::string key;
    for (std::size_t k : usable)
      for (std::int64_t i = rels[k].start; i - rels[k].start < rels[k].count; ++i) {
        rels[k].instance(i, inst);
        key.assign(inst.source).append(1, '\0').append(inst.id);
        auto [it, inserted] = seen.emplace(key, k);
        if (!inserted && it->second != k) {
          duplicate(k, it->second, inst.source, inst.id);
          break;
        }
      }
    return;
  }
  for (std::size_t a = 0; a < usable.size(); ++a)
    for (std::size_t b = a + 1; b < usable.size(); ++b) {
      const RelationshipSpec& x = rels[usable[a]];
      const RelationshipSpec& y = rels[usable[b]];
      if (!may_overlap(x.source, y.source) || !may_overlap(ids[usable[a]], ids[usable[b]]))
        continue;
      bool x_smaller = x.count <= y.count;
      std::size_t small_k = x_smaller ? usable[a] : usable[b];
      std::size_t large_k = x_smaller ? usable[b] : usable[a];
      const RelationshipSpec& small = rels[small_k];
      const RelationshipSpec& large = rels[large_k];
      std::string source, id;
      for (std::int64_t i = small.start; i - small.start < small.count; ++i) {
        small.source.expand_into(i, source);
        ids[small_k].expand_into(i, id);
        if (produces(large, ids[large_k], source, id)) {
          duplicate(usable[b], usable[a], source, id);
          break;
        }
      }
    }
}

}  // namespace

void check_references(Parsed& parsed, Reporter& report) {
  auto& rels = parsed.deployment.relationships;
  parsed.endpoints.assign(rels.size(), {});
  TwinIds ids;
  parsed.twins_capped = !ids.build(parsed, report, parsed.options.max_twins);
  // A twin entry that could not be read (reported already) may be what a relationship names:
  // then undeclared endpoints are not reported again.
  bool all_twins_read = std::all_of(parsed.twins.begin(), parsed.twins.end(),
                                    [](const EntrySource& t) { return t.usable; });
  check_relationship_ids(parsed, report, parsed.options.max_relationships);
  if (parsed.twins_capped) return;  // every later twin would look undeclared

  for (std::size_t k = 0; k < rels.size(); ++k) {
    if (!parsed.relationships[k].usable) continue;
    const RelationshipSpec& r = rels[k];
    const YamlConfigNode& node = *parsed.relationships[k].node;
    Endpoint source = classify(ids, r.source, r);
    Endpoint target = classify(ids, r.target, r);
    // Unknown endpoints: the first missing id and how many instances miss.
    struct Miss {
      std::string first;
      std::int64_t count = 0;
    } source_miss, target_miss;
    std::vector<std::pair<std::size_t, std::size_t>>& pairs = parsed.endpoints[k];
    auto add_pair = [&](std::size_t s, std::size_t t) {
      if (std::find(pairs.begin(), pairs.end(), std::pair(s, t)) == pairs.end())
        pairs.emplace_back(s, t);
    };
    if (!source.per_index && !target.per_index) {
      if (!source.uniform) source_miss = {r.source.text(), r.count};
      if (!target.uniform) target_miss = {r.target.text(), r.count};
      if (source.uniform && target.uniform) add_pair(*source.uniform, *target.uniform);
    } else {
      std::string id;
      for (std::int64_t i = r.start; i - r.start < r.count; ++i) {
        std::optional<std::size_t> s = source.uniform, t = target.uniform;
        if (source.per_index) {
          r.source.expand_into(i, id);
          s = ids.find(id);
          if (!s && source_miss.count++ == 0) source_miss.first = id;
        } else if (!s && source_miss.count++ == 0) {
          source_miss.first = r.source.text();
        }
        if (target.per_index) {
          r.target.expand_into(i, id);
          t = ids.find(id);
          if (!t && target_miss.count++ == 0) target_miss.first = id;
        } else if (!t && target_miss.count++ == 0) {
          target_miss.first = r.target.text();
        }
        if (s && t) add_pair(*s, *t);
      }
    }
    auto report_miss = [&](const Miss& m, std::string_view key) {
      if (!m.count || !all_twins_read) return;
      std::string message = "no twin '" + m.first + "' in this deployment";
      if (r.count > 1)
        message += " (" + std::to_string(m.count) + " of the " + std::to_string(r.count) + " " +
                   std::string(key) + "s are not declared)";
      report.error(node.find(key), code::kUnknownTwin, std::move(message), ids.hint_for(m.first));
    };
    report_miss(source_miss, "source");
    report_miss(target_miss, "target");
  }
}

}  // namespace doppel::runtime::detail
