#include "rule_config.hpp"

#include <cmath>
#include <cstdio>
#include <set>

#include "doppel/sdk/json.hpp"

namespace doppel::plugins::rules {

using sdk::ConfigNode;

const ModelSchema* ModelSchema::load(sdk::TwinAccess& twins, const std::string& dtmi,
                                     std::map<std::string, std::unique_ptr<ModelSchema>>& cache) {
  if (auto it = cache.find(dtmi); it != cache.end()) return it->second.get();
  auto schema = std::make_unique<ModelSchema>();
  struct Copy final : sdk::ModelVisitor {
    ModelSchema* s;
    std::vector<std::pair<std::string, std::string>> slot_text;  // path, unit
    void visit(const sdk::ModelDescription& m) noexcept override {
      try {
        s->id = std::string(m.id);
        for (const sdk::ModelSlot& x : m.slots) {
          slot_text.emplace_back(std::string(x.path), std::string(x.unit));
          s->slots_.push_back(x);
        }
        for (const sdk::ModelCommand& c : m.commands)
          s->commands_.push_back({std::string(c.component), std::string(c.name), c.request});
        for (const sdk::ModelRelationship& r : m.relationships)
          s->relationships_.emplace_back(std::string(r.name), std::string(r.target));
      } catch (...) {
      }
    }
  } copy;
  copy.s = schema.get();
  if (!twins.describe(dtmi, copy)) return nullptr;
  // Point the slot views at owned strings (reserved first: no reallocation moves them).
  schema->strings_.reserve(copy.slot_text.size() * 2);
  for (std::size_t i = 0; i < copy.slot_text.size(); ++i) {
    schema->strings_.push_back(copy.slot_text[i].first);
    schema->slots_[i].path = schema->strings_.back();
    schema->strings_.push_back(copy.slot_text[i].second);
    schema->slots_[i].unit = schema->strings_.back();
  }
  schema->twins_ = &twins;
  schema->cache_ = &cache;
  const ModelSchema* out = schema.get();
  cache.emplace(dtmi, std::move(schema));
  return out;
}

const sdk::ModelSlot* ModelSchema::slot(std::string_view path) const {
  for (const sdk::ModelSlot& s : slots_)
    if (s.path == path) return &s;
  return nullptr;
}

const Schema* ModelSchema::related(std::string_view name) const {
  for (const auto& [rel, target] : relationships_) {
    if (rel != name) continue;
    if (target.empty()) {
      // A relationship to any model: only names every model has can be used, which is none.
      static const ModelSchema kEmpty;
      return &kEmpty;
    }
    return load(*twins_, target, *cache_);
  }
  return nullptr;
}

std::string ModelSchema::slot_names() const {
  std::string out;
  for (const sdk::ModelSlot& s : slots_)
    out += (out.empty() ? "" : ", ") + std::string(s.path);
  return out.empty() ? "(none)" : out;
}

std::string ModelSchema::writable_names() const {
  std::string out;
  for (const sdk::ModelSlot& s : slots_)
    if (s.is_property && s.writable) out += (out.empty() ? "" : ", ") + std::string(s.path);
  return out.empty() ? "(none)" : out;
}

std::string ModelSchema::relationship_names() const {
  std::string out;
  for (const auto& [rel, target] : relationships_)
    out += (out.empty() ? "" : ", ") + rel;
  return out.empty() ? "(none)" : out;
}

const ModelSchema::Command* ModelSchema::command(std::string_view component,
                                                 std::string_view name) const {
  for (const Command& c : commands_)
    if (c.component == component && c.name == name) return &c;
  return nullptr;
}

std::string ModelSchema::command_names() const {
  std::string out;
  for (const Command& c : commands_)
    out += (out.empty() ? "" : ", ") + (c.component.empty() ? "" : c.component + "/") + c.name;
  return out.empty() ? "(none)" : out;
}

namespace {

void to_json(const ConfigNode& n, std::string& out) {
  switch (n.type()) {
    case ConfigNode::Type::kMissing:
    case ConfigNode::Type::kNull:
      out += "null";
      return;
    case ConfigNode::Type::kBool:
      out += n.as_bool() ? "true" : "false";
      return;
    case ConfigNode::Type::kInteger:
      out += std::to_string(n.as_integer());
      return;
    case ConfigNode::Type::kNumber: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", n.as_number());
      out += buf;
      return;
    }
    case ConfigNode::Type::kString:
      sdk::append_json_string(out, n.text());
      return;
    case ConfigNode::Type::kList:
      out += '[';
      for (std::size_t i = 0; i < n.size(); ++i) {
        if (i) out += ',';
        to_json(n.at(i), out);
      }
      out += ']';
      return;
    case ConfigNode::Type::kMap:
      out += '{';
      for (std::size_t i = 0; i < n.size(); ++i) {
        if (i) out += ',';
        sdk::append_json_string(out, n.key_at(i));
        out += ':';
        to_json(n.at(i), out);
      }
      out += '}';
      return;
  }
}

// Whether a config value fits a model value type.
bool fits(const ConfigNode& v, sdk::ValueType t) {
  switch (t) {
    case sdk::ValueType::kBoolean:
      return v.type() == ConfigNode::Type::kBool;
    case sdk::ValueType::kNumber:
      return v.type() == ConfigNode::Type::kInteger || v.type() == ConfigNode::Type::kNumber;
    case sdk::ValueType::kString:
    case sdk::ValueType::kEnum:
      return v.type() == ConfigNode::Type::kString;
    case sdk::ValueType::kComplex:
      return v.type() == ConfigNode::Type::kMap || v.type() == ConfigNode::Type::kList;
    case sdk::ValueType::kNone:
      return v.missing() || v.type() == ConfigNode::Type::kNull;
  }
  return false;
}

const char* value_type_name(sdk::ValueType t) {
  switch (t) {
    case sdk::ValueType::kBoolean:
      return "a boolean";
    case sdk::ValueType::kNumber:
      return "a number";
    case sdk::ValueType::kString:
      return "a string";
    case sdk::ValueType::kEnum:
      return "an enum value (string)";
    case sdk::ValueType::kComplex:
      return "an object, array or map";
    case sdk::ValueType::kNone:
      return "nothing";
  }
  return "?";
}

class Errors {
 public:
  void add(const ConfigNode& at, const std::string& message, const std::string& hint = {}) {
    text_ += (text_.empty() ? "" : "\n") + at.where() + ": " + message;
    if (!hint.empty()) text_ += " (hint: " + hint + ")";
  }
  bool empty() const { return text_.empty(); }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

bool is_string(const ConfigNode& n) {
  return n.type() == ConfigNode::Type::kString;
}

void compile_into(const ConfigNode& node, const char* key, const ModelSchema& schema,
                  SlotTable& slots, Program& out, Errors& errors) {
  if (!is_string(node)) {
    errors.add(node, std::string("'") + key + "' must be a string expression",
               "quote it: " + std::string(key) + ": \"temperature > 80\"");
    return;
  }
  CompileError e;
  if (!compile(node.text(), schema, slots, out, e))
    errors.add(node,
               "in '" + std::string(node.text()) + "' at column " + std::to_string(e.column) +
                   ": " + e.message,
               e.hint);
}

void parse_actions(const ConfigNode& then, const ModelSchema& schema, Rule& rule, Errors& errors) {
  if (then.missing()) return;
  if (then.type() != ConfigNode::Type::kList) {
    errors.add(then, "'then' must be a list of actions",
               "then: [{alert: {severity: warning}}, {command: {name: reduceLoad}}]");
    return;
  }
  for (std::size_t i = 0; i < then.size(); ++i) {
    const ConfigNode& a = then.at(i);
    if (a.type() != ConfigNode::Type::kMap || a.size() != 1) {
      errors.add(a, "each action is a map with one key: alert, command or desired");
      continue;
    }
    std::string_view kind = a.key_at(0);
    const ConfigNode& body = a.at(0);
    if (kind == "alert") {
      if (body.type() != ConfigNode::Type::kMap) {
        errors.add(body, "'alert' takes a map", "{alert: {severity: warning, message: \"...\"}}");
        continue;
      }
      for (std::size_t k = 0; k < body.size(); ++k) {
        std::string_view key = body.key_at(k);
        const ConfigNode& v = body.at(k);
        if (key == "severity") {
          if (v.text() != "info" && v.text() != "warning" && v.text() != "critical")
            errors.add(v, "severity must be info, warning or critical");
          else
            rule.severity = std::string(v.text());
        } else if (key == "message") {
          rule.message = std::string(v.text());
        } else {
          errors.add(v, "unknown key '" + std::string(key) + "' in an alert action",
                     "known: severity, message");
        }
      }
    } else if (kind == "command") {
      if (body.type() != ConfigNode::Type::kMap) {
        errors.add(body, "'command' takes a map", "{command: {name: reduceLoad, payload: 20}}");
        continue;
      }
      for (std::size_t k = 0; k < body.size(); ++k)
        if (body.key_at(k) != "name" && body.key_at(k) != "component" &&
            body.key_at(k) != "payload")
          errors.add(body.at(k),
                     "unknown key '" + std::string(body.key_at(k)) + "' in a command action",
                     "known: name, component, payload");
      Action act{Action::Kind::kCommand};
      act.name = std::string(body.get("name").text());
      act.component = std::string(body.get("component").text());
      std::string name = act.name;
      if (std::size_t slash = name.find('/'); slash != std::string::npos && act.component.empty()) {
        act.component = name.substr(0, slash);
        act.name = name.substr(slash + 1);
      }
      const ModelSchema::Command* c = schema.command(act.component, act.name);
      if (!is_string(body.get("name"))) {
        errors.add(body.get("name"), "a command action needs a 'name'",
                   "commands of " + schema.id + ": " + schema.command_names());
        continue;
      }
      if (!c) {
        errors.add(body.get("name"), "'" + name + "' is not a command of " + schema.id,
                   "commands: " + schema.command_names());
        continue;
      }
      const ConfigNode* payload = &body.get("payload");
      // {percent: 20}: the request named as in the model, for readability.
      if (payload->type() == ConfigNode::Type::kMap && payload->size() == 1 &&
          c->request != sdk::ValueType::kComplex)
        payload = &payload->at(0);
      if (!fits(*payload, c->request)) {
        errors.add(payload->missing() ? body : *payload,
                   "the payload of '" + name + "' must be " + value_type_name(c->request),
                   c->request == sdk::ValueType::kNone ? "remove 'payload'"
                                                       : "payload: 20 or {name: value}");
        continue;
      }
      if (!payload->missing()) act.json = config_to_json(*payload);
      rule.actions.push_back(std::move(act));
    } else if (kind == "desired") {
      if (body.type() != ConfigNode::Type::kMap || body.size() == 0) {
        errors.add(body, "'desired' takes a map of writable properties",
                   "{desired: {targetSpeed: 900}}");
        continue;
      }
      for (std::size_t k = 0; k < body.size(); ++k) {
        std::string_view path = body.key_at(k);
        const sdk::ModelSlot* s = schema.slot(path);
        if (!s || !s->is_property || !s->writable) {
          errors.add(body.at(k),
                     "'" + std::string(path) + "' is not a writable property of " + schema.id,
                     "writable: " + schema.writable_names());
          continue;
        }
        if (!fits(body.at(k), s->type)) {
          errors.add(body.at(k), "'" + std::string(path) + "' takes " + value_type_name(s->type));
          continue;
        }
        rule.actions.push_back(
            {Action::Kind::kDesired, "", std::string(path), config_to_json(body.at(k))});
      }
    } else {
      errors.add(a, "unknown action '" + std::string(kind) + "'",
                 "actions: alert, command, desired");
    }
  }
}

}  // namespace

std::string config_to_json(const ConfigNode& node) {
  std::string out;
  to_json(node, out);
  return out;
}

sdk::Status parse_rules(const ConfigNode& list, sdk::TwinAccess& twins, RulesConfig& out) {
  Errors errors;
  if (list.missing()) return {};
  if (list.type() != ConfigNode::Type::kList) {
    errors.add(list, "'rules' must be a list", "rules: [{name: hot, on: ..., when: ...}]");
    return sdk::invalid_argument(errors.text());
  }
  std::map<std::string, std::unique_ptr<ModelSchema>> models;
  std::set<std::string> names;
  static const std::set<std::string_view> kKeys{
      "name", "on", "when", "for", "clear", "severity", "cooldown", "then", "description"};
  for (std::size_t i = 0; i < list.size(); ++i) {
    const ConfigNode& r = list.at(i);
    if (r.type() != ConfigNode::Type::kMap) {
      errors.add(r, "each rule is a map", "{name: hot, on: <model>, when: \"temperature > 80\"}");
      continue;
    }
    for (std::size_t k = 0; k < r.size(); ++k)
      if (!kKeys.count(r.key_at(k)))
        errors.add(r.at(k), "unknown rule key '" + std::string(r.key_at(k)) + "'",
                   "known: name, on, when, for, clear, severity, cooldown, then, description");
    Rule rule;
    const ConfigNode& name = r.get("name");
    if (!is_string(name) || name.text().empty()) {
      errors.add(name, "a rule needs a 'name'", "name: overheating");
      continue;
    }
    rule.name = std::string(name.text());
    if (!names.insert(rule.name).second)
      errors.add(name, "two rules are named '" + rule.name + "'");
    const ConfigNode& on = r.get("on");
    if (!is_string(on)) {
      errors.add(on, "a rule needs 'on': the model it watches", "on: \"dtmi:example:Motor;1\"");
      continue;
    }
    rule.on = std::string(on.text());
    const ModelSchema* schema = ModelSchema::load(twins, rule.on, models);
    if (!schema) {
      errors.add(on, "unknown model '" + rule.on + "'",
                 "name an interface the deployment's models define");
      continue;
    }
    const ConfigNode& when = r.get("when");
    if (when.missing()) {
      errors.add(r, "rule '" + rule.name + "' needs 'when'", "when: \"temperature > 80\"");
      continue;
    }
    compile_into(when, "when", *schema, out.slots, rule.when, errors);
    if (const ConfigNode& c = r.get("clear"); !c.missing()) {
      rule.has_clear = true;
      compile_into(c, "clear", *schema, out.slots, rule.clear, errors);
    }
    for (const char* key : {"for", "cooldown"}) {
      const ConfigNode& d = r.get(key);
      if (d.missing()) continue;
      Duration v = 0;
      if (!parse_duration(d.text(), v))
        errors.add(d, std::string("'") + key + "' must be a duration", "5m, 30s, 1h30m, 500ms");
      (std::string_view(key) == "for" ? rule.hold : rule.cooldown) = v;
    }
    if (const ConfigNode& s = r.get("severity"); !s.missing()) {
      if (s.text() != "info" && s.text() != "warning" && s.text() != "critical")
        errors.add(s, "severity must be info, warning or critical");
      else
        rule.severity = std::string(s.text());
    }
    parse_actions(r.get("then"), *schema, rule, errors);
    for (const Program* p : {&rule.when, &rule.clear}) {
      rule.uses_stale = rule.uses_stale || p->uses_stale;
      for (const RelatedRef& rel : p->related) {
        rule.uses_related = true;
        rule.relationships.push_back(rel.relationship);
      }
    }
    if (rule.message.empty()) rule.message = "{twin}: " + std::string(when.text());
    out.rules.push_back(std::move(rule));
  }
  if (!errors.empty()) return sdk::invalid_argument(errors.text());
  return {};
}

}  // namespace doppel::plugins::rules
