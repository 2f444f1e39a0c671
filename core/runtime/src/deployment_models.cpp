// Step 3 of loading a deployment: everything that needs the model set. Twins name interfaces
// of the set, initial property values match their schemas (checked with the model's
// PayloadValidator), relationships exist on the source's model and reach twins of the right
// model, no more targets than maxMultiplicity, indexes name properties or telemetry.
//
// Templated values are checked at the first and the last index of their entry, which is
// where a value's length or range changes; the whole range is never expanded.
#include <algorithm>
#include <unordered_map>

#include "deployment_internal.hpp"
#include "doppel/model/payload.hpp"
#include "doppel/model/registry.hpp"

namespace doppel::runtime::detail {

namespace {

using model::Content;
using model::ContentKind;
using model::Interface;
using model::Schema;
using model::SchemaKind;
using Type = sdk::ConfigNode::Type;
using Kind = PropertyValue::Kind;

bool is_numeric(SchemaKind k) {
  return k == SchemaKind::kInteger || k == SchemaKind::kLong || k == SchemaKind::kDouble ||
         k == SchemaKind::kFloat;
}

std::string schema_name(const Schema& s) {
  if (!s.id.empty() && !model::is_primitive(s.kind)) return s.id;
  return std::string(model::schema_kind_name(s.kind));
}

// The value of `v`, known to match `schema`, as the twin gets it. Strings and JSON keep any
// {i} unexpanded.
PropertyValue typed_value(const YamlConfigNode& v, const Schema& schema) {
  PropertyValue out;
  switch (schema.kind) {
    case SchemaKind::kBoolean:
      out.kind = Kind::kBool;
      out.boolean = v.as_bool();
      break;
    case SchemaKind::kInteger:
    case SchemaKind::kLong:
      out.kind = Kind::kInteger;
      out.integer = v.as_integer();
      out.number = static_cast<double>(out.integer);
      break;
    case SchemaKind::kDouble:
    case SchemaKind::kFloat:
      out.kind = Kind::kNumber;
      out.number = v.as_number();
      break;
    case SchemaKind::kEnum:
      if (schema.enum_value_schema == SchemaKind::kString) {
        out.kind = Kind::kString;
        out.text = std::string(v.text());
      } else {
        out.kind = Kind::kInteger;
        out.integer = v.as_integer();
        out.number = static_cast<double>(out.integer);
      }
      break;
    case SchemaKind::kString:
    case SchemaKind::kDate:
    case SchemaKind::kDateTime:
    case SchemaKind::kTime:
    case SchemaKind::kDuration:
      out.kind = Kind::kString;
      out.text = std::string(v.text());
      break;
    default:  // Array, Map, Object, geospatial
      out.kind = Kind::kJson;
      append_json(v, -1, out.text);
  }
  return out;
}

std::vector<std::string_view> names_of(const Interface& iface,
                                       std::initializer_list<ContentKind> kinds) {
  std::vector<std::string_view> out;
  for (const Content* c : iface.contents)
    if (std::find(kinds.begin(), kinds.end(), c->kind) != kinds.end()) out.push_back(c->name);
  return out;
}

class ModelChecker {
 public:
  ModelChecker(const model::ModelRegistry& registry, Reporter& report)
      : registry_(registry), report_(report) {}

  const Interface* interface(const YamlConfigNode& at, const std::string& dtmi) {
    if (dtmi.empty()) return nullptr;  // not given or malformed: reported by step 1
    if (const Interface* i = registry_.find(dtmi)) return i;
    std::vector<std::string_view> ids;
    for (const Interface* i : registry_.interfaces())
      ids.push_back(i->id);
    std::sort(ids.begin(), ids.end());
    std::string hint = suggestion(dtmi, ids);
    if (hint.empty())
      hint = ids.empty() ? "the model set defines no interfaces"
                         : "the model set defines " + join(ids, 8);
    report_.error(at, code::kUnknownModel, "model " + dtmi + " is not in the model set", hint);
    return nullptr;
  }

  // Checks `v` against `schema` (a schema of `owner`, whose validator is used) and returns
  // the template. `label` names the value in messages ("property 'ratedPower'").
  std::optional<TemplateValue> value(const Interface& owner, const Schema& schema,
                                     const YamlConfigNode& v, const std::string& label,
                                     std::int64_t first, std::int64_t last) {
    const model::PayloadValidator& pv = validator(owner);
    bool templated = contains_index(v);
    TemplateValue out;
    if (templated && v.type() == Type::kString && v.text() == "{i}" && is_numeric(schema.kind)) {
      for (std::int64_t i : {first, last}) {
        std::string json = std::to_string(i);
        if (!check(pv, schema, v, label, json, i)) return std::nullopt;
      }
      out.index = TemplateValue::Index::kNumber;
      out.value.kind = schema.kind == SchemaKind::kInteger || schema.kind == SchemaKind::kLong
                           ? Kind::kInteger
                           : Kind::kNumber;
      return out;
    }
    std::string json;
    for (std::int64_t i : {first, last}) {
      json.clear();
      append_json(v, templated ? i : -1, json);
      if (!check(pv, schema, v, label, json, templated ? i : -1)) return std::nullopt;
      if (!templated) break;
    }
    out.value = typed_value(v, schema);
    out.index = templated ? TemplateValue::Index::kInText : TemplateValue::Index::kNone;
    return out;
  }

  void twin_properties(const Interface& iface, const YamlConfigNode& props, TwinSpec& spec) {
    std::int64_t first = spec.start, last = spec.start + spec.count - 1;
    for (std::size_t i = 0; i < props.size(); ++i) {
      std::string key(props.key_at(i));
      const YamlConfigNode& v = props.child(i);
      const Content* c = iface.find(key);
      if (!c) {
        auto names = names_of(iface, {ContentKind::kProperty, ContentKind::kComponent});
        std::string hint = suggestion(key, names);
        if (hint.empty())
          hint = names.empty() ? "the model has no properties" : "its properties: " + join(names);
        report_.error_at_key(props, i, code::kUnknownProperty,
                             "'" + key + "' is not a property of " + iface.id, std::move(hint));
        continue;
      }
      if (c->kind == ContentKind::kProperty) {
        if (auto t = value(iface, *c->schema, v, "property '" + key + "'", first, last))
          spec.properties.push_back({key, std::move(*t)});
        continue;
      }
      if (c->kind == ContentKind::kComponent && c->component) {
        component_properties(*c, v, spec, first, last);
        continue;
      }
      report_.error_at_key(props, i, code::kUnknownProperty,
                           "'" + key + "' is a " + std::string(content_kind_name(c->kind)) +
                               " of " + iface.id + ", not a property",
                           c->kind == ContentKind::kTelemetry
                               ? "telemetry comes from devices; only properties take initial "
                                 "values here"
                               : "only properties take initial values here");
    }
  }

  void component_properties(const Content& component, const YamlConfigNode& v, TwinSpec& spec,
                            std::int64_t first, std::int64_t last) {
    const Interface& ci = *component.component;
    if (v.type() != Type::kMap) {
      report_.error(v, code::kWrongType,
                    "'" + component.name + "' is a component (" + ci.id +
                        "): give its properties as a map, not " + describe(v),
                    "e.g. " + component.name + ": {name: value}");
      return;
    }
    for (std::size_t j = 0; j < v.size(); ++j) {
      std::string key(v.key_at(j));
      const Content* p = ci.find(key);
      if (!p || p->kind != ContentKind::kProperty) {
        auto names = names_of(ci, {ContentKind::kProperty});
        std::string hint = suggestion(key, names);
        if (hint.empty())
          hint =
              names.empty() ? "the component has no properties" : "its properties: " + join(names);
        report_.error_at_key(
            v, j, code::kUnknownProperty,
            "'" + key + "' is not a property of component '" + component.name + "' (" + ci.id + ")",
            std::move(hint));
        continue;
      }
      std::string path = component.name + "/" + key;
      if (auto t = value(ci, *p->schema, v.child(j), "property '" + path + "'", first, last))
        spec.properties.push_back({path, std::move(*t)});
    }
  }

  void relationship(const Parsed& parsed, std::size_t k, RelationshipSpec& r,
                    const std::vector<const Interface*>& twin_models) {
    const YamlConfigNode& node = *parsed.relationships[k].node;
    const Content* def = nullptr;
    const Interface* source_model = nullptr;
    bool name_reported = false, target_reported = false;
    for (auto [s, t] : parsed.endpoints[k]) {
      const Interface* si = twin_models[s];
      const Interface* ti = twin_models[t];
      if (!si) continue;  // unknown model: reported with the twin
      const Content* d = si->find(r.name);
      if (!d || d->kind != ContentKind::kRelationship) {
        if (!name_reported) {
          auto names = names_of(*si, {ContentKind::kRelationship});
          std::string hint = suggestion(r.name, names);
          if (hint.empty())
            hint = names.empty() ? "the model declares no relationships"
                                 : "its relationships: " + join(names);
          report_.error(node.find("name"), code::kUnknownRelationship,
                        "model " + si->id + " (of source '" + r.source.text() +
                            "') has no relationship '" + r.name + "'",
                        std::move(hint));
          name_reported = true;
        }
        continue;
      }
      if (!def) def = d, source_model = si;
      if (ti && !d->target.empty() && !ti->is_a(d->target) && !target_reported) {
        report_.error(node.find("target"), code::kWrongTarget,
                      "relationship '" + r.name + "' of " + si->id + " must target a " + d->target +
                          ", but '" + r.target.text() + "' is a " + ti->id,
                      "relate a twin whose model is " + d->target + " or extends it");
        target_reported = true;
      }
    }
    if (!def) return;
    const YamlConfigNode& props = node.find("properties");
    if (props.type() == Type::kMap) {
      std::int64_t first = r.start, last = r.start + r.count - 1;
      for (std::size_t i = 0; i < props.size(); ++i) {
        std::string key(props.key_at(i));
        const Content* p = nullptr;
        for (const Content* c : def->properties)
          if (c->name == key) p = c;
        if (!p) {
          std::vector<std::string_view> names;
          for (const Content* c : def->properties)
            names.push_back(c->name);
          std::string hint = suggestion(key, names);
          if (hint.empty())
            hint = names.empty() ? "the relationship has no properties"
                                 : "its properties: " + join(names);
          report_.error_at_key(props, i, code::kUnknownProperty,
                               "relationship '" + r.name + "' of " + source_model->id +
                                   " has no property '" + key + "'",
                               std::move(hint));
          continue;
        }
        if (auto t = value(*source_model, *p->schema, props.child(i),
                           "relationship property '" + key + "'", first, last))
          r.properties.push_back({key, std::move(*t)});
      }
    }
    if (def->max_multiplicity) count_targets(node, r, *def, *source_model);
  }

  void count_targets(const YamlConfigNode& node, const RelationshipSpec& r, const Content& def,
                     const Interface& source_model) {
    auto& counts = targets_[&def];
    std::string source;
    for (std::int64_t i = r.start; i - r.start < r.count; ++i) {
      r.source.expand_into(i, source);
      std::int64_t n = ++counts[source];
      if (n == *def.max_multiplicity + 1) {
        report_.error(node, code::kMaxMultiplicity,
                      "twin '" + source + "' would have more than " +
                          std::to_string(*def.max_multiplicity) + " '" + r.name +
                          "' relationships, the maxMultiplicity of " + source_model.id,
                      "relate fewer targets, or raise maxMultiplicity in the model");
        return;
      }
    }
  }

  Reporter& report() { return report_; }

 private:
  const model::PayloadValidator& validator(const Interface& iface) {
    auto& v = validators_[&iface];
    if (!v) v = std::make_unique<model::PayloadValidator>(iface);
    return *v;
  }

  bool check(const model::PayloadValidator& pv, const Schema& schema, const YamlConfigNode& v,
             const std::string& label, std::string_view json, std::int64_t index) {
    model::PayloadResult res = pv.validate_value(json, schema, scratch_);
    if (res.ok) return true;
    // The validator compiles Object schemas of an interface's contents only: an Object inside
    // a relationship property is left to the twin graph.
    if (res.error->message.find("does not belong to this interface") != std::string::npos)
      return true;
    const YamlConfigNode& at = node_at_json_path(v, res.error->path);
    std::string message = "invalid value for " + label + ": " + res.error->message;
    if (res.error->path.size() > 1) message += " at " + res.error->path.substr(1);
    if (index >= 0) message += " (for {i} = " + std::to_string(index) + ")";
    std::string hint = "the model gives it the schema " + schema_name(schema);
    if (v.type() == Type::kString && is_numeric(schema.kind))
      hint += contains_index(v) ? "; only \"{i}\" alone stands for a number"
                                : "; write numbers without quotes";
    else if (v.type() != Type::kString && !is_numeric(schema.kind) &&
             schema.kind != SchemaKind::kBoolean && v.type() != Type::kMap &&
             v.type() != Type::kList)
      hint += "; quote text that looks like a number or boolean";
    report_.error(at, code::kInvalidValue, std::move(message), std::move(hint));
    return false;
  }

  const model::ModelRegistry& registry_;
  Reporter& report_;
  model::PayloadScratch scratch_;
  std::unordered_map<const Interface*, std::unique_ptr<model::PayloadValidator>> validators_;
  std::unordered_map<const Content*, std::unordered_map<std::string, std::int64_t>> targets_;
};

PropertyValue yaml_value(const YamlConfigNode& v) {
  PropertyValue out;
  switch (v.type()) {
    case Type::kBool:
      out.kind = Kind::kBool;
      out.boolean = v.as_bool();
      break;
    case Type::kInteger:
      out.kind = Kind::kInteger;
      out.integer = v.as_integer();
      out.number = v.as_number();
      break;
    case Type::kNumber:
      out.kind = Kind::kNumber;
      out.number = v.as_number();
      break;
    case Type::kString:
      out.kind = Kind::kString;
      out.text = std::string(v.text());
      break;
    case Type::kList:
    case Type::kMap:
      out.kind = Kind::kJson;
      append_json(v, -1, out.text);
      break;
    default:
      break;
  }
  return out;
}

void yaml_properties(const YamlConfigNode& props, std::vector<PropertySpec>& out) {
  if (props.type() != Type::kMap) return;
  for (std::size_t i = 0; i < props.size(); ++i) {
    TemplateValue t{yaml_value(props.child(i)), contains_index(props.child(i))
                                                    ? TemplateValue::Index::kInText
                                                    : TemplateValue::Index::kNone};
    out.push_back({std::string(props.key_at(i)), std::move(t)});
  }
}

}  // namespace

void type_properties_from_yaml(Parsed& parsed) {
  auto& d = parsed.deployment;
  for (std::size_t k = 0; k < d.twins.size(); ++k)
    if (parsed.twins[k].usable)
      yaml_properties(parsed.twins[k].node->find("properties"), d.twins[k].properties);
  for (std::size_t k = 0; k < d.relationships.size(); ++k)
    if (parsed.relationships[k].usable)
      yaml_properties(parsed.relationships[k].node->find("properties"),
                      d.relationships[k].properties);
}

void check_against_models(Parsed& parsed, const model::ModelRegistry& registry, Reporter& report) {
  ModelChecker mc(registry, report);
  Deployment& d = parsed.deployment;
  std::vector<const Interface*> twin_models(d.twins.size(), nullptr);
  for (std::size_t k = 0; k < d.twins.size(); ++k) {
    const YamlConfigNode& node = *parsed.twins[k].node;
    if (node.type() != Type::kMap) continue;
    TwinSpec& t = d.twins[k];
    twin_models[k] = mc.interface(node.find("model"), t.model);
    const YamlConfigNode& props = node.find("properties");
    if (twin_models[k] && parsed.twins[k].usable && props.type() == Type::kMap)
      mc.twin_properties(*twin_models[k], props, t);
  }
  if (!parsed.twins_capped)
    for (std::size_t k = 0; k < d.relationships.size(); ++k)
      if (parsed.relationships[k].usable)
        mc.relationship(parsed, k, d.relationships[k], twin_models);
  for (std::size_t i = 0; i < d.expected_update_periods.size(); ++i)
    mc.interface(parsed.periods[i]->find("model"), d.expected_update_periods[i].model);
  for (std::size_t i = 0; i < d.indexes.size(); ++i) {
    const IndexSpec& ix = d.indexes[i];
    const YamlConfigNode& node = *parsed.indexes[i];
    const Interface* iface = mc.interface(node.find("model"), ix.model);
    if (!iface || ix.property.empty()) continue;
    const Content* c = iface->find_path(ix.property);
    if (c && (c->kind == ContentKind::kProperty || c->kind == ContentKind::kTelemetry)) continue;
    std::vector<std::string_view> names =
        names_of(*iface, {ContentKind::kProperty, ContentKind::kTelemetry});
    std::string hint = suggestion(ix.property, names);
    if (hint.empty()) hint = "its properties and telemetry: " + join(names);
    report.error(node.find("property"), code::kUnknownProperty,
                 "'" + ix.property + "' is not a property or telemetry of " + ix.model,
                 std::move(hint));
  }
}

}  // namespace doppel::runtime::detail
