// Step 1 of loading a deployment: every key typed and checked, the same rules the JSON Schema
// (schemas/deployment.schema.json) states. Keep the two in step: the agreement test runs both
// over every example and bad case.
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "deployment_internal.hpp"
#include "doppel/model/dtmi.hpp"

namespace doppel::runtime::detail {

namespace fs = std::filesystem;
using Type = sdk::ConfigNode::Type;

namespace {

constexpr std::int64_t kMaxCount = 10'000'000;
constexpr std::int64_t kMaxStart = 9'007'199'254'740'991;  // 2^53 - 1: exact in JSON numbers

bool is_lower_or_digit(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// [a-z0-9][a-z0-9-]*, at most 63 characters (a DNS label, without the end rule).
bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 63 || !is_lower_or_digit(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_lower_or_digit(c) || c == '-'; });
}

// A DTDL name: [A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?
bool valid_dtdl_name(std::string_view s) {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (s.empty() || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return false;
  if (!alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '_'; });
}

// "ratedPower" or "bearing/temperature".
bool valid_slot_path(std::string_view s) {
  std::size_t slash = s.find('/');
  if (slash == std::string_view::npos) return valid_dtdl_name(s);
  return valid_dtdl_name(s.substr(0, slash)) && valid_dtdl_name(s.substr(slash + 1));
}

// An interface id: a DTMI without fragment and without system segments ("_x").
bool valid_interface_dtmi(std::string_view s) {
  auto parts = model::parse_dtmi(s);
  return parts && parts->fragment.empty() && !parts->reserved;
}

// A short library name, or a path to a shared object.
bool valid_library(std::string_view s) {
  if (s.size() > 3 && s.ends_with(".so")) return true;
  if (s.empty() || !is_lower_or_digit(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_lower_or_digit(c) || c == '-' || c == '_'; });
}

class Reader {
 public:
  explicit Reader(Reporter& r) : r_(r) {}

  bool is_map(const YamlConfigNode& n, std::string_view what) {
    if (n.type() == Type::kMap) return true;
    r_.error(n, code::kWrongType, std::string(what) + " must be a map, not " + describe(n));
    return false;
  }

  bool is_list(const YamlConfigNode& n, std::string_view what, std::string hint = {}) {
    if (n.type() == Type::kList) return true;
    r_.error(n, code::kWrongType, std::string(what) + " must be a list, not " + describe(n),
             std::move(hint));
    return false;
  }

  // Reports keys not in `known`, with the closest known key as a suggestion.
  void known_keys(const YamlConfigNode& map, std::initializer_list<std::string_view> known,
                  std::string_view what) {
    std::vector<std::string_view> names(known);
    for (std::size_t i = 0; i < map.size(); ++i) {
      if (!map.key_is_scalar(i)) continue;  // reported by check_plain_keys
      std::string_view k = map.key_at(i);
      if (std::find(names.begin(), names.end(), k) != names.end()) continue;
      std::string hint = suggestion(k, names);
      if (hint.empty()) hint = "the keys of " + std::string(what) + " are " + join(names, 20);
      r_.error_at_key(map, i, code::kUnknownKey,
                      "unknown key '" + std::string(k) + "' in " + std::string(what),
                      std::move(hint));
    }
  }

  // The value of a required key, or nullptr (reported at the map) when it is absent.
  const YamlConfigNode* required(const YamlConfigNode& map, std::string_view key,
                                 std::string_view what, std::string hint = {}) {
    const YamlConfigNode& n = map.find(key);
    if (!n.missing()) return &n;
    r_.error(map, code::kMissingKey, std::string(what) + " needs '" + std::string(key) + "'",
             std::move(hint));
    return nullptr;
  }

  std::optional<std::string> string(const YamlConfigNode& n, std::string_view what) {
    if (n.type() == Type::kString) {
      if (!n.text().empty()) return std::string(n.text());
      r_.error(n, code::kBadValue, std::string(what) + " must not be empty");
      return std::nullopt;
    }
    std::string hint;
    if (n.type() == Type::kInteger || n.type() == Type::kNumber || n.type() == Type::kBool)
      hint = "quote it to write text: \"" + std::string(n.text()) + "\"";
    r_.error(n, code::kWrongType, std::string(what) + " must be a string, not " + describe(n),
             std::move(hint));
    return std::nullopt;
  }

  std::optional<std::string> name(const YamlConfigNode& n, std::string_view what) {
    auto s = string(n, what);
    if (s && !valid_name(*s)) {
      r_.error(n, code::kBadValue, std::string(what) + " '" + *s + "' is not a valid name",
               "use 1 to 63 lower-case letters, digits and '-', starting with a letter or digit");
      return std::nullopt;
    }
    return s;
  }

  std::optional<std::string> dtmi(const YamlConfigNode& n, std::string_view what) {
    auto s = string(n, what);
    if (s && !valid_interface_dtmi(*s)) {
      r_.error(n, code::kBadValue, std::string(what) + " '" + *s + "' is not a DTMI",
               "an interface id looks like dtmi:example:factory:Motor;1");
      return std::nullopt;
    }
    return s;
  }

  // An integer; as in JSON Schema, a number with a zero fraction (5.0) is one too.
  std::optional<std::int64_t> integer(const YamlConfigNode& n, std::string_view what,
                                      std::int64_t min, std::int64_t max) {
    if (n.type() == Type::kNumber && !n.integer_overflow() && std::isfinite(n.as_number()) &&
        std::trunc(n.as_number()) == n.as_number()) {
      double v = n.as_number();
      if (v < static_cast<double>(min) || v > static_cast<double>(max)) {
        r_.error(n, code::kBadValue,
                 std::string(what) + " must be from " + std::to_string(min) + " to " +
                     std::to_string(max) + ", not " + std::string(n.text()));
        return std::nullopt;
      }
      return static_cast<std::int64_t>(v);
    }
    if (n.type() != Type::kInteger) {
      std::string hint;
      if (n.type() == Type::kString) hint = "write the number without quotes";
      r_.error(n, code::kWrongType, std::string(what) + " must be an integer, not " + describe(n),
               std::move(hint));
      return std::nullopt;
    }
    if (n.as_integer() < min || n.as_integer() > max) {
      r_.error(n, code::kBadValue,
               std::string(what) + " must be from " + std::to_string(min) + " to " +
                   std::to_string(max) + ", not " + std::string(n.text()));
      return std::nullopt;
    }
    return n.as_integer();
  }

  std::optional<sdk::Duration> duration(const YamlConfigNode& n, std::string_view what) {
    const std::string kForm = "an integer and a unit (ms, s, m, h or d), such as 250ms, 10s, 5m";
    if (n.type() == Type::kInteger && n.as_integer() > 0) {
      r_.error(n, code::kBadDuration,
               std::string(what) + " must be a duration with a unit, not " + describe(n),
               "add the unit: " + std::string(n.text()) + "s for seconds, " +
                   std::string(n.text()) + "ms for milliseconds");
      return std::nullopt;
    }
    if (n.type() == Type::kInteger || n.type() == Type::kNumber) {
      r_.error(n, code::kBadDuration,
               std::string(what) + " must be a duration with a unit, not " + describe(n),
               "write a positive whole number and a unit, e.g. 1500ms rather than 1.5");
      return std::nullopt;
    }
    if (n.type() != Type::kString) {
      r_.error(n, code::kBadDuration, std::string(what) + " must be a duration, not " + describe(n),
               kForm);
      return std::nullopt;
    }
    auto d = parse_duration(n.text());
    if (!d)
      r_.error(n, code::kBadDuration,
               std::string(what) + " '" + std::string(n.text()) + "' is not a duration",
               "write " + kForm + ", 1h or 7d");
    return d;
  }

  // The index of the value among `values`, or nullopt (reported).
  std::optional<std::size_t> one_of(const YamlConfigNode& n, std::string_view what,
                                    const std::vector<std::string_view>& values) {
    auto s = string(n, what);
    if (!s) return std::nullopt;
    auto it = std::find(values.begin(), values.end(), *s);
    if (it != values.end()) return static_cast<std::size_t>(it - values.begin());
    std::string hint = suggestion(*s, values);
    if (hint.empty()) hint = "use one of: " + join(values);
    r_.error(n, code::kBadValue,
             std::string(what) + " must be one of " + join(values) + ", not '" + *s + "'",
             std::move(hint));
    return std::nullopt;
  }

  // Paths relative to the deployment file's folder.
  void paths(const YamlConfigNode& n, std::string_view what, const fs::path& base,
             std::vector<fs::path>& out, std::vector<const YamlConfigNode*>* nodes) {
    if (!is_list(n, what, "e.g. " + std::string(what) + ": [models/]")) return;
    for (std::size_t i = 0; i < n.size(); ++i) {
      if (auto s = string(n.child(i), std::string(what) + " entry")) {
        out.push_back(base / fs::path(*s));
        if (nodes) nodes->push_back(&n.child(i));
      }
    }
  }

  void check_plain_keys(const YamlConfigNode& n) {
    if (n.type() == Type::kMap) {
      std::unordered_map<std::string_view, std::size_t> first;
      for (std::size_t i = 0; i < n.size(); ++i) {
        if (!n.key_is_scalar(i)) {
          r_.error_at_key(n, i, code::kWrongType, "a key must be plain text, not a list or map");
          continue;
        }
        auto [it, inserted] = first.emplace(n.key_at(i), i);
        if (!inserted)
          r_.error_at_key(n, i, code::kDuplicateKey,
                          "key '" + std::string(n.key_at(i)) + "' is given twice in this map " +
                              "(first on line " + std::to_string(n.key_line(it->second)) + ")",
                          "remove one of them; YAML readers keep only one");
      }
    }
    for (std::size_t i = 0; i < n.size(); ++i)
      check_plain_keys(n.child(i));
  }

  Reporter& report() { return r_; }

 private:
  Reporter& r_;
};

void parse_plugins(Reader& rd, const YamlConfigNode& list,
                   const std::shared_ptr<const YamlDocument>& doc, Deployment& d) {
  if (!rd.is_list(list, "plugins")) return;
  std::unordered_map<std::string, const YamlConfigNode*> names;
  const YamlConfigNode* storage = nullptr;
  static const std::vector<std::string_view> kKinds = {"protocol", "storage", "analytics",
                                                       "actuator"};
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YamlConfigNode& p = list.child(i);
    if (!rd.is_map(p, "a plugin")) continue;
    rd.known_keys(p, {"name", "kind", "library", "config"}, "a plugin");
    PluginSpec spec;
    spec.where = p.where();
    if (const YamlConfigNode* n = rd.required(p, "name", "a plugin")) {
      if (auto s = rd.name(*n, "plugin name")) {
        auto [it, inserted] = names.emplace(*s, n);
        if (!inserted)
          rd.report().error(*n, code::kDuplicatePlugin,
                            "plugin name '" + *s + "' is used twice (first on line " +
                                std::to_string(it->second->line()) + ")",
                            "give each plugin instance its own name");
        spec.name = *s;
      }
    }
    if (const YamlConfigNode* k = rd.required(p, "kind", "a plugin", "one of: " + join(kKinds))) {
      if (auto idx = rd.one_of(*k, "plugin kind", kKinds)) {
        spec.kind = static_cast<sdk::PluginKind>(*idx);
        if (spec.kind == sdk::PluginKind::kStorage) {
          if (storage)
            rd.report().error(*k, code::kStoragePlugins,
                              "only one storage plugin is allowed, and '" +
                                  std::string(storage->text()) + "' (line " +
                                  std::to_string(storage->line()) + ") is one already",
                              "keep one storage plugin; twin state lives in exactly one store");
          else
            storage = &p.find("name");
        }
      }
    }
    if (const YamlConfigNode* l = rd.required(p, "library", "a plugin",
                                              "a short name such as mqtt, or a path to a .so")) {
      if (auto s = rd.string(*l, "plugin library")) {
        if (!valid_library(*s))
          rd.report().error(*l, code::kBadValue,
                            "plugin library '" + *s + "' is neither a short name nor a .so path",
                            "write a short name (lower-case letters, digits, '-', '_'; Doppel "
                            "looks for doppel-<kind>-<library>.so) or a path ending in .so");
        spec.library = *s;
      }
    }
    // Absent: a missing node placed at the plugin entry, as plugins expect.
    const YamlConfigNode& config = p.find("config");
    if (!config.missing()) rd.is_map(config, "plugin config");
    spec.config_block = ConfigBlock(node_handle(doc, config));
    d.plugins.push_back(std::move(spec));
  }
}

// Reads count and start; true when both are usable.
bool parse_count(Reader& rd, const YamlConfigNode& entry, std::int64_t& count,
                 std::int64_t& start) {
  bool ok = true;
  if (const YamlConfigNode& c = entry.find("count"); !c.missing()) {
    if (auto n = rd.integer(c, "count", 1, kMaxCount))
      count = *n;
    else
      ok = false;
  }
  if (const YamlConfigNode& s = entry.find("start"); !s.missing()) {
    if (auto n = rd.integer(s, "start", 0, kMaxStart))
      start = *n;
    else
      ok = false;
  }
  return ok;
}

void parse_twins(Reader& rd, const YamlConfigNode& list, Parsed& out) {
  if (!rd.is_list(list, "twins")) return;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YamlConfigNode& t = list.child(i);
    TwinSpec spec;
    spec.where = t.where();
    EntrySource src{&t, false};
    if (rd.is_map(t, "a twin")) {
      rd.known_keys(t, {"id", "count", "start", "model", "properties", "expected_update_period"},
                    "a twin");
      bool ok = parse_count(rd, t, spec.count, spec.start);
      if (const YamlConfigNode* id = rd.required(t, "id", "a twin", "e.g. id: motor-1")) {
        if (auto s = rd.string(*id, "twin id")) {
          spec.id = IdTemplate(*s);
          if (!t.find("count").missing() && !spec.id.has_index()) {
            rd.report().error(*id, code::kBadValue,
                              "twin id '" + *s + "' has no {i}, so `count` would repeat it",
                              "put {i} where the number goes, e.g. id: \"" + *s + "-{i}\"");
            ok = false;
          }
        } else {
          ok = false;
        }
      } else {
        ok = false;
      }
      if (const YamlConfigNode* m =
              rd.required(t, "model", "a twin", "e.g. model: \"dtmi:example:factory:Motor;1\"")) {
        if (auto s = rd.dtmi(*m, "twin model")) spec.model = *s;
      }
      if (const YamlConfigNode& p = t.find("properties"); !p.missing())
        rd.is_map(p, "twin properties");
      if (const YamlConfigNode& e = t.find("expected_update_period"); !e.missing())
        if (auto dur = rd.duration(e, "expected_update_period")) spec.expected_update_period = *dur;
      src.usable = ok;
    }
    out.deployment.twins.push_back(std::move(spec));
    out.twins.push_back(src);
  }
}

void parse_relationships(Reader& rd, const YamlConfigNode& list, Parsed& out) {
  if (!rd.is_list(list, "relationships")) return;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YamlConfigNode& r = list.child(i);
    RelationshipSpec spec;
    spec.where = r.where();
    EntrySource src{&r, false};
    if (rd.is_map(r, "a relationship")) {
      rd.known_keys(r, {"source", "name", "target", "id", "count", "start", "properties"},
                    "a relationship");
      bool ok = parse_count(rd, r, spec.count, spec.start);
      if (const YamlConfigNode* s = rd.required(r, "source", "a relationship", "a twin id")) {
        if (auto v = rd.string(*s, "source"))
          spec.source = IdTemplate(*v);
        else
          ok = false;
      } else {
        ok = false;
      }
      if (const YamlConfigNode* n = rd.required(
              r, "name", "a relationship", "the name of a Relationship in the source's model")) {
        if (auto v = rd.string(*n, "relationship name")) {
          if (valid_dtdl_name(*v)) {
            spec.name = *v;
          } else {
            rd.report().error(*n, code::kBadValue,
                              "relationship name '" + *v + "' is not a DTDL name",
                              "letters, digits and '_', starting with a letter");
            ok = false;
          }
        } else {
          ok = false;
        }
      } else {
        ok = false;
      }
      if (const YamlConfigNode* t = rd.required(r, "target", "a relationship", "a twin id")) {
        if (auto v = rd.string(*t, "target"))
          spec.target = IdTemplate(*v);
        else
          ok = false;
      } else {
        ok = false;
      }
      if (const YamlConfigNode& id = r.find("id"); !id.missing()) {
        if (auto v = rd.string(id, "relationship id"))
          spec.id = IdTemplate(*v);
        else
          ok = false;
      }
      if (ok && !r.find("count").missing() && !spec.source.has_index() &&
          !spec.target.has_index() && !spec.id.has_index()) {
        rd.report().error(r.find("count"), code::kBadValue,
                          "`count` repeats the same relationship: none of source, target and id "
                          "uses {i}",
                          "put {i} in the source or the target, e.g. target: \"motor-{i}\"");
        ok = false;
      }
      if (const YamlConfigNode& p = r.find("properties"); !p.missing())
        rd.is_map(p, "relationship properties");
      src.usable = ok;
    }
    out.deployment.relationships.push_back(std::move(spec));
    out.relationships.push_back(src);
  }
}

void parse_periods(Reader& rd, const YamlConfigNode& list, Parsed& out) {
  if (!rd.is_list(list, "expected_update_periods")) return;
  std::unordered_map<std::string, const YamlConfigNode*> seen;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YamlConfigNode& p = list.child(i);
    if (!rd.is_map(p, "an expected update period")) continue;
    rd.known_keys(p, {"model", "period"}, "an expected update period");
    ModelPeriod mp;
    if (const YamlConfigNode* m = rd.required(p, "model", "an expected update period")) {
      if (auto s = rd.dtmi(*m, "model")) {
        if (auto [it, inserted] = seen.emplace(*s, m); !inserted)
          rd.report().error(*m, code::kDuplicateEntry,
                            "model " + *s + " has an expected update period already (line " +
                                std::to_string(it->second->line()) + ")",
                            "keep one entry per model; twins may set their own period");
        mp.model = *s;
      }
    }
    if (const YamlConfigNode* d =
            rd.required(p, "period", "an expected update period", "e.g. period: 10s"))
      if (auto dur = rd.duration(*d, "period")) mp.period = *dur;
    out.deployment.expected_update_periods.push_back(std::move(mp));
    out.periods.push_back(&p);
  }
}

void parse_indexes(Reader& rd, const YamlConfigNode& list, Parsed& out) {
  if (!rd.is_list(list, "indexes")) return;
  std::unordered_map<std::string, const YamlConfigNode*> seen;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YamlConfigNode& x = list.child(i);
    if (!rd.is_map(x, "an index")) continue;
    rd.known_keys(x, {"model", "property"}, "an index");
    IndexSpec ix;
    if (const YamlConfigNode* m = rd.required(x, "model", "an index"))
      if (auto s = rd.dtmi(*m, "model")) ix.model = *s;
    if (const YamlConfigNode* p = rd.required(x, "property", "an index")) {
      if (auto s = rd.string(*p, "index property")) {
        if (valid_slot_path(*s))
          ix.property = *s;
        else
          rd.report().error(*p, code::kBadValue,
                            "index property '" + *s + "' is not a property name",
                            "a name such as ratedPower, or component/name such as "
                            "bearing/temperature");
      }
    }
    if (!ix.model.empty() && !ix.property.empty()) {
      auto [it, inserted] = seen.emplace(ix.model + " " + ix.property, &x);
      if (!inserted)
        rd.report().error(
            x, code::kDuplicateEntry,
            "this index is declared already (line " + std::to_string(it->second->line()) + ")",
            "remove the repeated entry");
    }
    out.deployment.indexes.push_back(std::move(ix));
    out.indexes.push_back(&x);
  }
}

}  // namespace

void parse_structure(const std::shared_ptr<const YamlDocument>& doc, const fs::path& base_dir,
                     Reporter& report, Parsed& out) {
  Reader rd(report);
  const YamlConfigNode& root = doc->root();
  Deployment& d = out.deployment;
  rd.check_plain_keys(root);
  if (root.type() != Type::kMap) {
    report.error(
        root, code::kWrongType,
        "a deployment file must be a map with apiVersion, name and models, not " + describe(root),
        "start with: apiVersion: doppel/v1");
    return;
  }
  rd.known_keys(root,
                {"apiVersion", "name", "models", "model_options", "plugin_path", "data_dir",
                 "plugins", "twins", "relationships", "expected_update_periods", "indexes", "rules",
                 "derived", "api", "logging"},
                "the deployment");

  if (const YamlConfigNode* v =
          rd.required(root, "apiVersion", "the deployment", "add apiVersion: doppel/v1")) {
    if (auto s = rd.string(*v, "apiVersion"); s && *s != "doppel/v1")
      report.error(*v, code::kBadValue, "apiVersion must be doppel/v1, not '" + *s + "'",
                   "this version of Doppel reads doppel/v1 files");
  }
  if (const YamlConfigNode* n = rd.required(root, "name", "the deployment", "e.g. name: line-7"))
    if (auto s = rd.name(*n, "name")) d.name = *s;
  if (const YamlConfigNode* m =
          rd.required(root, "models", "the deployment",
                      "list model files or folders, e.g. models: [models/]")) {
    rd.paths(*m, "models", base_dir, d.models, &out.model_nodes);
    if (m->type() == Type::kList && m->size() == 0)
      report.error(*m, code::kBadValue, "models must name at least one file or folder",
                   "e.g. models: [models/]");
  }
  if (const YamlConfigNode& mo = root.find("model_options");
      !mo.missing() && rd.is_map(mo, "model_options")) {
    rd.known_keys(mo, {"undefined_extensions"}, "model_options");
    if (const YamlConfigNode& u = mo.find("undefined_extensions"); !u.missing()) {
      if (auto idx = rd.one_of(u, "undefined_extensions", {"per-default", "never", "always"}))
        d.undefined_extensions = *idx == 0   ? model::UndefinedExtensions::kPerDefault
                                 : *idx == 1 ? model::UndefinedExtensions::kNever
                                             : model::UndefinedExtensions::kAlways;
    }
  }
  if (const YamlConfigNode& pp = root.find("plugin_path"); !pp.missing())
    rd.paths(pp, "plugin_path", base_dir, d.plugin_path, nullptr);
  if (const YamlConfigNode& dd = root.find("data_dir"); !dd.missing()) {
    if (auto s = rd.string(dd, "data_dir")) {
      if (s->empty())
        report.error(dd, code::kBadValue, "data_dir must name a folder",
                     "e.g. data_dir: /var/lib/doppel, or leave it out");
      else
        d.data_dir = base_dir / fs::path(*s);
    }
  }
  if (const YamlConfigNode& ps = root.find("plugins"); !ps.missing()) parse_plugins(rd, ps, doc, d);
  if (const YamlConfigNode& ts = root.find("twins"); !ts.missing()) parse_twins(rd, ts, out);
  if (const YamlConfigNode& rs = root.find("relationships"); !rs.missing())
    parse_relationships(rd, rs, out);
  if (const YamlConfigNode& ps = root.find("expected_update_periods"); !ps.missing())
    parse_periods(rd, ps, out);
  if (const YamlConfigNode& xs = root.find("indexes"); !xs.missing()) parse_indexes(rd, xs, out);

  for (std::string_view key : {"rules", "derived"}) {
    const YamlConfigNode& n = root.find(key);
    if (n.missing() || !rd.is_list(n, key)) continue;
    for (std::size_t i = 0; i < n.size(); ++i)
      if (n.child(i).type() != Type::kMap)
        report.error(
            n.child(i), code::kWrongType,
            "each entry of " + std::string(key) + " must be a map, not " + describe(n.child(i)));
  }
  if (const YamlConfigNode& api = root.find("api"); !api.missing()) rd.is_map(api, "api");
  d.rules = ConfigBlock(node_handle(doc, root.find("rules")));
  d.derived = ConfigBlock(node_handle(doc, root.find("derived")));
  d.api = ConfigBlock(node_handle(doc, root.find("api")));

  if (const YamlConfigNode& lg = root.find("logging"); !lg.missing() && rd.is_map(lg, "logging")) {
    rd.known_keys(lg, {"level", "format"}, "logging");
    if (const YamlConfigNode& l = lg.find("level"); !l.missing())
      if (auto idx = rd.one_of(l, "logging level", {"trace", "debug", "info", "warn", "error"}))
        d.logging.level = static_cast<sdk::LogLevel>(*idx);
    if (const YamlConfigNode& f = lg.find("format"); !f.missing())
      if (auto idx = rd.one_of(f, "logging format", {"text", "json"}))
        d.logging.format = *idx == 0 ? LogFormat::kText : LogFormat::kJson;
  }
}

}  // namespace doppel::runtime::detail
