#include "doppel/runtime/deployment.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "doppel/twin/twin_graph.hpp"
#include "yaml_config_node.hpp"

namespace doppel::runtime {

namespace fs = std::filesystem;
using sdk::ConfigNode;
using Type = sdk::ConfigNode::Type;

// ---- templates ----------------------------------------------------------------------------------

namespace {

std::string replace_index(const std::string& text, std::int64_t i) {
  std::string out;
  std::string n = std::to_string(i);
  std::size_t pos = 0;
  while (true) {
    std::size_t at = text.find("{i}", pos);
    if (at == std::string::npos) {
      out.append(text, pos, std::string::npos);
      return out;
    }
    out.append(text, pos, at - pos);
    out += n;
    pos = at + 3;
  }
}

}  // namespace

twin::Value TemplateValue::expand(std::int64_t i) const {
  if (!has_index) return value;
  return twin::Value::string(replace_index(std::string(value.as_string()), i));
}

std::string IdTemplate::expand(std::int64_t i) const {
  return has_index ? replace_index(text, i) : text;
}

std::optional<sdk::Duration> parse_duration(std::string_view t) {
  std::size_t digits = 0;
  while (digits < t.size() && std::isdigit(static_cast<unsigned char>(t[digits])))
    ++digits;
  if (digits == 0 || digits == t.size()) return std::nullopt;
  std::int64_t n = 0;
  std::from_chars(t.data(), t.data() + digits, n);
  std::string_view unit = t.substr(digits);
  sdk::Duration scale;
  if (unit == "ms")
    scale = sdk::kMillisecond;
  else if (unit == "s")
    scale = sdk::kSecond;
  else if (unit == "m")
    scale = sdk::kMinute;
  else if (unit == "h")
    scale = 60 * sdk::kMinute;
  else if (unit == "d")
    scale = 24 * 60 * sdk::kMinute;
  else
    return std::nullopt;
  return n * scale;
}

std::size_t Deployment::twin_count() const {
  std::size_t n = 0;
  for (const TwinSpec& t : twins)
    n += static_cast<std::size_t>(t.count);
  return n;
}

const PluginSpec* Deployment::storage() const {
  for (const PluginSpec& p : plugins)
    if (p.kind == sdk::PluginKind::kStorage) return &p;
  return nullptr;
}

sdk::Duration Deployment::default_period(const model::Interface& interface) const {
  sdk::Duration best = 0;
  std::size_t best_depth = SIZE_MAX;
  for (const ModelPeriod& p : expected_update_periods) {
    if (p.model == interface.id) return p.period;
    if (interface.is_a(p.model)) {
      // The closest base wins; depth approximated by position in the ancestors list.
      auto it = std::find(interface.ancestors.begin(), interface.ancestors.end(), p.model);
      std::size_t depth = static_cast<std::size_t>(it - interface.ancestors.begin());
      if (depth < best_depth) {
        best = p.period;
        best_depth = depth;
      }
    }
  }
  return best;
}

// ---- the checker --------------------------------------------------------------------------------

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] =
          std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!(std::islower(static_cast<unsigned char>(s[0])) ||
        std::isdigit(static_cast<unsigned char>(s[0]))))
    return false;
  for (char c : s)
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
      return false;
  return true;
}

class Checker {
 public:
  Checker(std::string file, model::Diagnostics& out) : file_(std::move(file)), out_(out) {}

  void error(const YamlConfigNode& at, std::string message, std::string hint = {}) {
    model::Diagnostic d;
    d.code = "deployment";
    d.message = std::move(message);
    d.hint = std::move(hint);
    d.path = at.path();
    d.location = {file_, static_cast<std::uint32_t>(at.line()),
                  static_cast<std::uint32_t>(at.column())};
    out_.items.push_back(std::move(d));
  }
  void error(const ConfigNode& at, std::string message, std::string hint = {}) {
    error(static_cast<const YamlConfigNode&>(at), std::move(message), std::move(hint));
  }

  // Unknown keys with a suggestion; returns false if the node is not a map.
  bool keys(const ConfigNode& map, std::initializer_list<std::string_view> known,
            std::string_view what) {
    if (map.type() != Type::kMap) {
      error(map, std::string(what) + " must be a map");
      return false;
    }
    for (std::size_t i = 0; i < map.size(); ++i) {
      std::string_view k = map.key_at(i);
      if (std::find(known.begin(), known.end(), k) != known.end()) continue;
      std::string best;
      std::size_t dist = 3;
      for (std::string_view c : known)
        if (std::size_t d = edit_distance(k, c); d < dist) dist = d, best = std::string(c);
      std::string list;
      for (std::string_view c : known)
        list += (list.empty() ? "" : ", ") + std::string(c);
      error(map.at(i), "unknown key '" + std::string(k) + "' in " + std::string(what),
            best.empty() ? "known keys: " + list : "did you mean '" + best + "'?");
    }
    return true;
  }

  std::optional<std::string> string(const ConfigNode& n, std::string_view what, bool required) {
    if (n.missing()) {
      if (required) error(n, std::string(what) + " is required");
      return std::nullopt;
    }
    if (n.type() == Type::kList || n.type() == Type::kMap || n.type() == Type::kNull) {
      error(n, std::string(what) + " must be text");
      return std::nullopt;
    }
    return std::string(n.text());
  }

  std::optional<std::int64_t> integer(const ConfigNode& n, std::string_view what,
                                      std::int64_t min) {
    if (n.missing()) return std::nullopt;
    if (n.type() != Type::kInteger) {
      error(n, std::string(what) + " must be an integer");
      return std::nullopt;
    }
    if (n.as_integer() < min) {
      error(n, std::string(what) + " must be at least " + std::to_string(min));
      return std::nullopt;
    }
    return n.as_integer();
  }

  std::optional<sdk::Duration> duration(const ConfigNode& n, std::string_view what) {
    if (n.missing()) return std::nullopt;
    auto d = n.type() == Type::kString ? parse_duration(n.text()) : std::nullopt;
    if (!d)
      error(n, std::string(what) + " must be a duration such as 250ms, 10s, 5m, 1h or 7d",
            "add a unit: ms, s, m, h or d");
    return d;
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  model::Diagnostics& out_;
};

std::optional<TemplateValue> template_value(Checker& c, const ConfigNode& n) {
  TemplateValue v;
  switch (n.type()) {
    case Type::kBool:
      v.value = twin::Value::boolean(n.as_bool());
      break;
    case Type::kInteger:
      v.value = twin::Value::integer(n.as_integer());
      break;
    case Type::kNumber:
      v.value = twin::Value::number(n.as_number());
      break;
    case Type::kString:
      v.value = twin::Value::string(n.text());
      v.has_index = n.text().find("{i}") != std::string_view::npos;
      break;
    case Type::kNull:
      v.value = twin::Value();
      break;
    default:
      // Complex values (Object, Map, Array) are given as YAML maps/lists: keep them as JSON.
      {
        std::function<std::string(const ConfigNode&)> json =
            [&](const ConfigNode& x) -> std::string {
          switch (x.type()) {
            case Type::kMap: {
              std::string out = "{";
              for (std::size_t i = 0; i < x.size(); ++i)
                out += (i ? "," : "") + twin::Value::string(x.key_at(i)).to_json() + ":" +
                       json(x.at(i));
              return out + "}";
            }
            case Type::kList: {
              std::string out = "[";
              for (std::size_t i = 0; i < x.size(); ++i)
                out += (i ? "," : "") + json(x.at(i));
              return out + "]";
            }
            case Type::kString:
              return twin::Value::string(x.text()).to_json();
            case Type::kNull:
              return "null";
            default:
              return std::string(x.text());
          }
        };
        if (n.type() != Type::kMap && n.type() != Type::kList) {
          c.error(n, "unsupported value");
          return std::nullopt;
        }
        v.value = twin::Value::json(json(n));
      }
  }
  return v;
}

void parse_properties(Checker& c, const ConfigNode& n,
                      std::vector<std::pair<std::string, TemplateValue>>& out) {
  if (n.missing()) return;
  if (n.type() != Type::kMap) {
    c.error(n, "properties must be a map of property names to values");
    return;
  }
  for (std::size_t i = 0; i < n.size(); ++i)
    if (auto v = template_value(c, n.at(i)))
      out.emplace_back(std::string(n.key_at(i)), std::move(*v));
}

IdTemplate id_template(const std::string& s) {
  return {s, s.find("{i}") != std::string::npos};
}

// ---- model-aware checks -------------------------------------------------------------------------

void check_against_models(Checker& c, const YamlConfigNode& root, Deployment& d,
                          const model::ModelRegistry& registry) {
  twin::TwinGraph scratch(
      std::shared_ptr<const model::ModelRegistry>(&registry, [](const model::ModelRegistry*) {}),
      {1, nullptr});
  const ConfigNode& twins_node = root.get("twins");
  // Twin ids and models, after expansion.
  std::unordered_map<std::string, const model::Interface*> ids;
  std::size_t expanded = 0;
  for (std::size_t ti = 0; ti < d.twins.size(); ++ti) {
    const TwinSpec& t = d.twins[ti];
    const ConfigNode& node = twins_node.at(ti);
    const model::Interface* iface = registry.find(t.model);
    if (!iface) {
      c.error(node.get("model"), "model " + t.model + " is not in the model set",
              "check the DTMI, or add the model's file or folder to `models:`");
      continue;
    }
    const twin::TwinLayout* layout = scratch.layout(t.model);
    for (std::size_t pi = 0; pi < t.properties.size(); ++pi) {
      const auto& [name, value] = t.properties[pi];
      const ConfigNode& pnode = node.get("properties").at(pi);
      int slot = layout->find(name);
      if (slot < 0 || !layout->slots()[static_cast<std::size_t>(slot)].is_property()) {
        std::string known;
        for (const auto& s : layout->slots())
          if (s.is_property()) known += (known.empty() ? "" : ", ") + s.path;
        c.error(pnode, "'" + name + "' is not a property of " + t.model,
                "properties of this model: " + known);
        continue;
      }
      twin::Value sample = value.expand(t.start);
      if (sdk::Status s = scratch.check_value(
              *layout, *layout->slots()[static_cast<std::size_t>(slot)].content->schema, sample);
          !s)
        c.error(pnode, "property '" + name + "': " + s.message());
    }
    expanded += static_cast<std::size_t>(t.count);
    if (expanded > 10'000'000) {
      c.error(node, "more than 10,000,000 twins", "split the deployment");
      return;
    }
    for (std::int64_t i = t.start; i < t.start + t.count; ++i) {
      auto [it, inserted] = ids.emplace(t.id.expand(i), iface);
      if (!inserted) {
        c.error(node.get("id"), "twin id '" + it->first + "' is used twice",
                "give each twin its own id");
        break;
      }
    }
  }
  const ConfigNode& rels_node = root.get("relationships");
  std::unordered_map<std::string, std::unordered_map<const model::Content*, std::int64_t>> counts;
  for (std::size_t ri = 0; ri < d.relationships.size(); ++ri) {
    const RelationshipSpec& r = d.relationships[ri];
    const ConfigNode& node = rels_node.at(ri);
    bool reported = false;
    for (std::int64_t i = r.start; i < r.start + r.count && !reported; ++i) {
      std::string source = r.source.expand(i), target = r.target.expand(i);
      auto s = ids.find(source);
      auto t = ids.find(target);
      if (s == ids.end()) {
        c.error(node.get("source"), "no twin '" + source + "' in this deployment",
                "declare it under `twins:`");
        reported = true;
        break;
      }
      if (t == ids.end()) {
        c.error(node.get("target"), "no twin '" + target + "' in this deployment",
                "declare it under `twins:`");
        reported = true;
        break;
      }
      const model::Content* def = s->second->find(r.name);
      if (!def || def->kind != model::ContentKind::kRelationship) {
        std::string known;
        for (const model::Content* cc : s->second->contents)
          if (cc->kind == model::ContentKind::kRelationship)
            known += (known.empty() ? "" : ", ") + cc->name;
        c.error(node.get("name"),
                "model " + s->second->id + " has no relationship '" + r.name + "'",
                known.empty() ? "the model declares no relationships"
                              : "relationships of this model: " + known);
        reported = true;
        break;
      }
      if (!def->target.empty() && !t->second->is_a(def->target)) {
        c.error(node.get("target"), "relationship '" + r.name + "' must target a " + def->target +
                                        ", and '" + target + "' is a " + t->second->id);
        reported = true;
        break;
      }
      std::int64_t n = ++counts[source][def];
      if (def->max_multiplicity && n > *def->max_multiplicity) {
        c.error(node, "twin '" + source + "' would have " + std::to_string(n) + " '" + r.name +
                          "' relationships; at most " + std::to_string(*def->max_multiplicity) +
                          " allowed");
        reported = true;
        break;
      }
      if (i == r.start) {
        for (std::size_t pi = 0; pi < r.properties.size(); ++pi) {
          const auto& [pname, value] = r.properties[pi];
          const model::Content* prop = nullptr;
          for (const model::Content* p : def->properties)
            if (p->name == pname) prop = p;
          const ConfigNode& pnode = node.get("properties").at(pi);
          if (!prop) {
            c.error(pnode, "relationship '" + r.name + "' has no property '" + pname + "'");
            continue;
          }
          twin::Value sample = value.expand(i);
          // Numbers written as {i} templates arrive as text: accept them when they parse.
          if (value.has_index && prop->schema && prop->schema->kind != model::SchemaKind::kString) {
            std::string text(sample.as_string());
            char* end = nullptr;
            double dv = std::strtod(text.c_str(), &end);
            if (end && *end == '\0')
              sample = prop->schema->kind == model::SchemaKind::kInteger ||
                               prop->schema->kind == model::SchemaKind::kLong
                           ? twin::Value::integer(static_cast<std::int64_t>(dv))
                           : twin::Value::number(dv);
          }
          const twin::TwinLayout* layout = scratch.layout(s->second->id);
          if (sdk::Status st = scratch.check_value(*layout, *prop->schema, sample); !st)
            c.error(pnode, "relationship property '" + pname + "': " + st.message());
        }
      }
    }
  }
  for (std::size_t i = 0; i < d.expected_update_periods.size(); ++i)
    if (!registry.find(d.expected_update_periods[i].model))
      c.error(root.get("expected_update_periods").at(i).get("model"),
              "model " + d.expected_update_periods[i].model + " is not in the model set");
  for (std::size_t i = 0; i < d.indexes.size(); ++i) {
    const IndexSpec& ix = d.indexes[i];
    const ConfigNode& node = root.get("indexes").at(i);
    const model::Interface* iface = registry.find(ix.model);
    if (!iface) {
      c.error(node.get("model"), "model " + ix.model + " is not in the model set");
      continue;
    }
    const twin::TwinLayout* layout = scratch.layout(ix.model);
    if (layout->find(ix.property) < 0)
      c.error(node.get("property"),
              "'" + ix.property + "' is not a property or telemetry of " + ix.model);
  }
}

DeploymentLoad load(std::string name, const std::string& text, const fs::path& base) {
  DeploymentLoad result;
  Checker c(name, result.diagnostics);
  YAML::Node yaml;
  try {
    yaml = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    model::Diagnostic d;
    d.code = "yamlSyntax";
    d.message = "not valid YAML: " + e.msg;
    d.hint = "fix the YAML syntax at this position";
    d.location = {name, static_cast<std::uint32_t>(e.mark.line + 1),
                  static_cast<std::uint32_t>(e.mark.column + 1)};
    result.diagnostics.items.push_back(std::move(d));
    return result;
  }
  auto root = std::make_shared<YamlConfigNode>(yaml, name, "");
  Deployment d;
  d.file = base / fs::path(name).filename();
  if (!c.keys(*root,
              {"apiVersion", "name", "models", "model_options", "plugin_path", "plugins", "twins",
               "relationships", "expected_update_periods", "indexes", "rules", "derived", "api",
               "logging"},
              "the deployment")) {
    return result;
  }
  auto api_version = c.string(root->get("apiVersion"), "apiVersion", true);
  if (api_version && *api_version != "doppel/v1")
    c.error(root->get("apiVersion"), "apiVersion must be doppel/v1, not '" + *api_version + "'");
  if (auto n = c.string(root->get("name"), "name", true)) {
    if (!valid_name(*n))
      c.error(root->get("name"), "name '" + *n +
                                     "' must be 1-63 lower-case letters, digits, '-' or '_', "
                                     "starting with a letter or digit");
    d.name = *n;
  }
  auto paths = [&](const ConfigNode& n, std::string_view what, std::vector<fs::path>& out,
                   bool required) {
    if (n.missing()) {
      if (required)
        c.error(n, std::string(what) + " is required",
                "list model files or folders, e.g. models: [models/]");
      return;
    }
    if (n.type() == Type::kString) {
      out.push_back(base / std::string(n.text()));
      return;
    }
    if (n.type() != Type::kList) {
      c.error(n, std::string(what) + " must be a list of paths");
      return;
    }
    for (std::size_t i = 0; i < n.size(); ++i)
      if (auto s = c.string(n.at(i), what, true)) out.push_back(base / *s);
  };
  paths(root->get("models"), "models", d.models, true);
  paths(root->get("plugin_path"), "plugin_path", d.plugin_path, false);
  if (const ConfigNode& mo = root->get("model_options");
      !mo.missing() && c.keys(mo, {"undefined_extensions"}, "model_options")) {
    if (auto u = c.string(mo.get("undefined_extensions"), "undefined_extensions", false)) {
      if (*u == "never")
        d.undefined_extensions = model::UndefinedExtensions::kNever;
      else if (*u == "always")
        d.undefined_extensions = model::UndefinedExtensions::kAlways;
      else if (*u != "per-default")
        c.error(mo.get("undefined_extensions"),
                "undefined_extensions must be never, always or per-default");
    }
  }
  auto list = [&](const ConfigNode& n, std::string_view what) {
    if (!n.missing() && n.type() != Type::kList) {
      c.error(n, std::string(what) + " must be a list");
      return false;
    }
    return !n.missing();
  };
  // plugins
  if (const ConfigNode& ps = root->get("plugins"); list(ps, "plugins")) {
    std::unordered_set<std::string> names;
    int storages = 0;
    for (std::size_t i = 0; i < ps.size(); ++i) {
      const ConfigNode& p = ps.at(i);
      if (!c.keys(p, {"name", "kind", "library", "config"}, "a plugin")) continue;
      PluginSpec spec;
      spec.where = p.where();
      auto n = c.string(p.get("name"), "plugin name", true);
      auto kind = c.string(p.get("kind"), "plugin kind", true);
      auto lib = c.string(p.get("library"), "plugin library", true);
      if (n) {
        if (!valid_name(*n))
          c.error(p.get("name"),
                  "plugin name '" + *n + "' must be lower-case letters, digits, '-' or '_'");
        if (!names.insert(*n).second)
          c.error(p.get("name"), "plugin name '" + *n + "' is used twice");
        spec.name = *n;
      }
      if (kind) {
        if (*kind == "protocol")
          spec.kind = sdk::PluginKind::kProtocol;
        else if (*kind == "storage")
          spec.kind = sdk::PluginKind::kStorage, ++storages;
        else if (*kind == "analytics")
          spec.kind = sdk::PluginKind::kAnalytics;
        else if (*kind == "actuator")
          spec.kind = sdk::PluginKind::kActuator;
        else
          c.error(
              p.get("kind"),
              "plugin kind must be protocol, storage, analytics or actuator, not '" + *kind + "'");
        if (storages == 2 && spec.kind == sdk::PluginKind::kStorage)
          c.error(p.get("kind"), "only one storage plugin may be named", "remove one of them");
      }
      if (lib) spec.library = *lib;
      const ConfigNode& config = p.get("config");
      if (!config.missing() && config.type() != Type::kMap)
        c.error(config, "plugin config must be a map");
      spec.config = std::shared_ptr<const ConfigNode>(root, &config);  // keeps the tree alive
      d.plugins.push_back(std::move(spec));
    }
  }
  // twins
  if (const ConfigNode& ts = root->get("twins"); list(ts, "twins")) {
    for (std::size_t i = 0; i < ts.size(); ++i) {
      const ConfigNode& t = ts.at(i);
      TwinSpec spec;
      spec.where = t.where();
      if (c.keys(t, {"id", "count", "start", "model", "properties", "expected_update_period"},
                 "a twin")) {
        auto id = c.string(t.get("id"), "twin id", true);
        auto model = c.string(t.get("model"), "twin model", true);
        if (id) spec.id = id_template(*id);
        if (model) spec.model = *model;
        if (auto n = c.integer(t.get("count"), "count", 1)) spec.count = *n;
        if (auto s = c.integer(t.get("start"), "start", 0)) spec.start = *s;
        if (!t.get("count").missing() && id && !spec.id.has_index)
          c.error(t.get("id"), "a twin with `count` needs {i} in its id", "e.g. id: \"motor-{i}\"");
        if (auto p = c.duration(t.get("expected_update_period"), "expected_update_period"))
          spec.expected_update_period = *p;
        parse_properties(c, t.get("properties"), spec.properties);
      }
      d.twins.push_back(std::move(spec));
    }
  }
  if (const ConfigNode& rs = root->get("relationships"); list(rs, "relationships")) {
    for (std::size_t i = 0; i < rs.size(); ++i) {
      const ConfigNode& r = rs.at(i);
      RelationshipSpec spec;
      spec.where = r.where();
      if (c.keys(r, {"source", "name", "target", "id", "count", "start", "properties"},
                 "a relationship")) {
        if (auto s = c.string(r.get("source"), "source", true)) spec.source = id_template(*s);
        if (auto n = c.string(r.get("name"), "relationship name", true)) spec.name = *n;
        if (auto t = c.string(r.get("target"), "target", true)) spec.target = id_template(*t);
        if (auto id = c.string(r.get("id"), "relationship id", false)) spec.id = id_template(*id);
        if (auto n = c.integer(r.get("count"), "count", 1)) spec.count = *n;
        if (auto s = c.integer(r.get("start"), "start", 0)) spec.start = *s;
        parse_properties(c, r.get("properties"), spec.properties);
      }
      d.relationships.push_back(std::move(spec));
    }
  }
  if (const ConfigNode& ps = root->get("expected_update_periods");
      list(ps, "expected_update_periods")) {
    for (std::size_t i = 0; i < ps.size(); ++i) {
      const ConfigNode& p = ps.at(i);
      ModelPeriod mp;
      if (c.keys(p, {"model", "period"}, "an expected update period")) {
        if (auto m = c.string(p.get("model"), "model", true)) mp.model = *m;
        if (p.get("period").missing())
          c.error(p, "period is required");
        else if (auto dur = c.duration(p.get("period"), "period"))
          mp.period = *dur;
      }
      d.expected_update_periods.push_back(mp);
    }
  }
  if (const ConfigNode& xs = root->get("indexes"); list(xs, "indexes")) {
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const ConfigNode& x = xs.at(i);
      IndexSpec ix;
      if (c.keys(x, {"model", "property"}, "an index")) {
        if (auto m = c.string(x.get("model"), "model", true)) ix.model = *m;
        if (auto p = c.string(x.get("property"), "property", true)) ix.property = *p;
      }
      d.indexes.push_back(ix);
    }
  }
  for (const char* key : {"rules", "derived"}) {
    const ConfigNode& n = root->get(key);
    if (list(n, key))
      for (std::size_t i = 0; i < n.size(); ++i)
        if (n.at(i).type() != Type::kMap)
          c.error(n.at(i), std::string("each entry of ") + key + " must be a map");
  }
  d.rules = std::shared_ptr<const ConfigNode>(root, &root->get("rules"));
  d.derived = std::shared_ptr<const ConfigNode>(root, &root->get("derived"));
  d.api = std::shared_ptr<const ConfigNode>(root, &root->get("api"));
  if (const ConfigNode& api = root->get("api"); !api.missing() && api.type() != Type::kMap)
    c.error(api, "api must be a map");
  if (const ConfigNode& lg = root->get("logging");
      !lg.missing() && c.keys(lg, {"level", "format"}, "logging")) {
    if (auto l = c.string(lg.get("level"), "level", false)) {
      static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn", "error"};
      if (std::find(std::begin(kLevels), std::end(kLevels), *l) == std::end(kLevels))
        c.error(lg.get("level"), "logging level must be trace, debug, info, warn or error");
      d.logging.level = *l;
    }
    if (auto f = c.string(lg.get("format"), "format", false)) {
      if (*f != "text" && *f != "json")
        c.error(lg.get("format"), "logging format must be text or json");
      d.logging.format = *f;
    }
  }

  // Models: load them (their errors keep their own locations), then check names against them.
  if (!d.models.empty()) {
    model::LoadOptions opts;
    opts.undefined_extensions = d.undefined_extensions;
    model::ModelLoader loader(opts);
    for (const fs::path& p : d.models) {
      std::error_code ec;
      if (!fs::exists(p, ec)) {
        for (std::size_t i = 0;
             i < (root->get("models").type() == Type::kList ? root->get("models").size() : 1);
             ++i) {
          const ConfigNode& n = root->get("models").type() == Type::kList
                                    ? root->get("models").at(i)
                                    : root->get("models");
          if (base / std::string(n.text()) == p)
            c.error(n, "no such model file or folder: " + p.string());
        }
        continue;
      }
      loader.add_path(p);
    }
    model::LoadResult models = loader.load();
    for (auto& diag : models.diagnostics.items)
      result.diagnostics.items.push_back(std::move(diag));
    result.models = models.registry;
  }
  if (result.models) check_against_models(c, *root, d, *result.models);
  if (!result.diagnostics.has_errors()) result.deployment = std::move(d);
  return result;
}

}  // namespace

DeploymentLoad load_deployment_text(std::string name, std::string text, const fs::path& base_dir) {
  return load(std::move(name), text, base_dir);
}

DeploymentLoad load_deployment(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    DeploymentLoad r;
    model::Diagnostic d;
    d.code = "unreadable";
    d.message = "cannot read the deployment file";
    d.hint = "check the path";
    d.location.file = file.string();
    r.diagnostics.items.push_back(std::move(d));
    return r;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return load(file.string(), ss.str(), file.parent_path());
}

}  // namespace doppel::runtime
