#include "registry_builder.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "registry_storage.hpp"
#include "resolver.hpp"
#include "standard_units.hpp"

namespace doppel::model {

using detail::Element;
using detail::ElementSet;
using detail::Value;

namespace {

const Value* first(const Element& e, std::string_view term) {
  const detail::PropertyValues* pv = e.get(term);
  return pv && !pv->values.empty() ? &pv->values.front() : nullptr;
}

detail::ElementRange elements(const Element& e, std::string_view term) {
  return detail::elements_of(e, term);
}

LocalizedText text_of(const Element& e, std::string_view term) {
  LocalizedText t;
  if (const detail::PropertyValues* pv = e.get(term))
    for (const Value& v : pv->values)
      t.values.emplace_back(v.language.empty() ? "en" : std::string(v.language),
                            std::string(v.text));
  return t;
}

std::string string_of(const Element& e, std::string_view term) {
  const Value* v = first(e, term);
  return v ? std::string(v->text) : std::string();
}

std::optional<SchemaKind> primitive_kind(std::string_view term) {
  static const std::pair<std::string_view, SchemaKind> kTable[] = {
      {"boolean", SchemaKind::kBoolean},       {"date", SchemaKind::kDate},
      {"dateTime", SchemaKind::kDateTime},     {"double", SchemaKind::kDouble},
      {"duration", SchemaKind::kDuration},     {"float", SchemaKind::kFloat},
      {"integer", SchemaKind::kInteger},       {"long", SchemaKind::kLong},
      {"string", SchemaKind::kString},         {"time", SchemaKind::kTime},
      {"point", SchemaKind::kPoint},           {"multiPoint", SchemaKind::kMultiPoint},
      {"lineString", SchemaKind::kLineString}, {"multiLineString", SchemaKind::kMultiLineString},
      {"polygon", SchemaKind::kPolygon},       {"multiPolygon", SchemaKind::kMultiPolygon}};
  for (auto& [t, k] : kTable)
    if (t == term) return k;
  return std::nullopt;
}

std::uint64_t fnv1a(std::string_view s, std::uint64_t h) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

class RegistryBuilder {
 public:
  explicit RegistryBuilder(const ElementSet& set) : set_(set), registry_(new ModelRegistry()) {}

  std::shared_ptr<const ModelRegistry> build(const std::vector<std::string_view>& document_texts) {
    for (const Element& e : set_.elements)
      if (e.cls && e.cls->bits & detail::kInterface) interface_for(e);
    for (auto& [el, iface] : interfaces_)
      fill(*el, *iface);
    for (auto& [el, iface] : interfaces_)
      flatten(*el, *iface);

    std::vector<const Interface*>& list = registry_->interfaces_;
    for (auto& [el, iface] : interfaces_)
      list.push_back(iface);
    std::sort(list.begin(), list.end(),
              [](const Interface* a, const Interface* b) { return a->id < b->id; });
    for (const Interface* i : list)
      registry_->by_id_.emplace(i->id, i);

    std::vector<std::uint64_t> hashes;
    for (std::string_view t : document_texts)
      hashes.push_back(std::hash<std::string_view>{}(t));
    std::sort(hashes.begin(), hashes.end());
    std::uint64_t h = 1469598103934665603ull;
    for (std::uint64_t x : hashes)
      h = fnv1a(std::string_view(reinterpret_cast<const char*>(&x), sizeof x), h);
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    registry_->fingerprint_ = buf;
    return std::shared_ptr<const ModelRegistry>(registry_.release());
  }

 private:
  Interface* interface_for(const Element& e) {
    if (auto it = interfaces_.find(&e); it != interfaces_.end()) return it->second;
    Interface& i = registry_->storage_->interfaces.emplace_back();
    interfaces_.emplace(&e, &i);
    return &i;
  }

  void fill(const Element& e, Interface& i) {
    i.id = e.id;
    i.dtdl_version = e.version;
    i.display_name = text_of(e, "displayName");
    i.description = text_of(e, "description");
    i.comment = string_of(e, "comment");
    if (e.file) i.location = e.file->locate(e.node->offset);
    for (Element* base : elements(e, "extends"))
      i.extends.push_back(interface_for(*base));
    for (Element* s : elements(e, "schemas"))
      i.schemas.push_back(schema_for(*s));
  }

  void collect_contents(const Element& e, std::vector<const Content*>& out,
                        std::unordered_set<const Element*>& seen_interfaces) {
    if (!seen_interfaces.insert(&e).second) return;  // a base reached twice (diamond)
    for (Element* base : detail::elements_of(e, "extends"))
      collect_contents(*base, out, seen_interfaces);
    const Interface& owner = *interfaces_.at(&e);
    for (Element* c : detail::elements_of(e, "contents"))
      out.push_back(content_for(*c, owner));
  }

  void flatten(const Element& e, Interface& i) {
    std::unordered_set<const Element*> seen;
    collect_contents(e, i.contents, seen);
    for (const Content* c : i.contents)
      i.by_name_.emplace(c->name, c);
    std::unordered_set<std::string> ancestors;
    std::vector<const Interface*> stack(i.extends.begin(), i.extends.end());
    while (!stack.empty()) {
      const Interface* b = stack.back();
      stack.pop_back();
      if (!ancestors.insert(b->id).second) continue;
      i.ancestors.push_back(b->id);
      for (const Interface* bb : b->extends)
        stack.push_back(bb);
    }
  }

  const Schema* schema_of(const Value* v) {
    if (!v) return nullptr;
    if (v->element) return schema_for(*v->element);
    int version = version_of(v->reference);
    detail::StandardElement s = detail::standard_element(v->reference, version);
    if (s.bits & detail::kEnum) return unit_type_schema(s.term, version);
    if (auto k = primitive_kind(s.term)) return primitive_schema(*k);
    return nullptr;
  }

  static int version_of(std::string_view ref) {
    auto semi = ref.rfind(';');
    return semi == std::string_view::npos ? 3
                                          : std::atoi(std::string(ref.substr(semi + 1)).c_str());
  }

  // A unit type used as a schema: an Enum of its unit names.
  const Schema* unit_type_schema(std::string_view unit_type, int version) {
    std::string key = std::string(unit_type) + ";" + std::to_string(version);
    if (auto it = unit_types_.find(key); it != unit_types_.end()) return it->second;
    Schema& s = registry_->storage_->schemas.emplace_back();
    s.kind = SchemaKind::kEnum;
    s.id = "dtmi:standard:class:" + key;
    s.enum_value_schema = SchemaKind::kString;
    for (const detail::UnitRow& u : detail::units(version)) {
      if (u.unit_type != unit_type) continue;
      EnumValue ev;
      ev.name = std::string(u.term);
      ev.is_string = true;
      ev.string_value = ev.name;
      s.enum_values.push_back(std::move(ev));
    }
    unit_types_.emplace(key, &s);
    return &s;
  }

  const Schema* schema_for(const Element& e) {
    if (auto it = schemas_.find(&e); it != schemas_.end()) return it->second;
    Schema& s = registry_->storage_->schemas.emplace_back();
    schemas_.emplace(&e, &s);
    s.id = e.id;
    s.display_name = text_of(e, "displayName");
    s.description = text_of(e, "description");
    const std::uint64_t bits = e.cls->bits;
    if (bits & detail::kArray) {
      s.kind = SchemaKind::kArray;
      s.element = schema_of(first(e, "elementSchema"));
    } else if (bits & detail::kEnum) {
      s.kind = SchemaKind::kEnum;
      const Value* vs = first(e, "valueSchema");
      s.enum_value_schema = vs && vs->reference.find(":string;") != std::string::npos
                                ? SchemaKind::kString
                                : SchemaKind::kInteger;
      for (Element* ev : elements(e, "enumValues")) {
        EnumValue out;
        out.id = ev->id;
        out.name = string_of(*ev, "name");
        out.display_name = text_of(*ev, "displayName");
        out.description = text_of(*ev, "description");
        if (const Value* v = first(*ev, "enumValue")) {
          out.is_string = v->kind == Value::Kind::kString;
          out.string_value = std::string(v->text);
          out.integer_value = v->integer;
        }
        s.enum_values.push_back(std::move(out));
      }
    } else if (bits & detail::kMap) {
      s.kind = SchemaKind::kMap;
      if (const Value* k = first(e, "mapKey"); k && k->element)
        s.map_key_name = string_of(*k->element, "name");
      if (const Value* v = first(e, "mapValue"); v && v->element) {
        s.map_value_name = string_of(*v->element, "name");
        s.map_value = schema_of(first(*v->element, "schema"));
      }
    } else if (bits & detail::kObject) {
      s.kind = SchemaKind::kObject;
      for (Element* f : elements(e, "fields")) {
        Field out;
        out.id = f->id;
        out.name = string_of(*f, "name");
        out.display_name = text_of(*f, "displayName");
        out.description = text_of(*f, "description");
        out.schema = schema_of(first(*f, "schema"));
        s.fields.push_back(std::move(out));
      }
    }
    return &s;
  }

  const Content* content_for(const Element& e, const Interface& owner) {
    if (auto it = contents_.find(&e); it != contents_.end()) return it->second;
    Content& c = registry_->storage_->contents.emplace_back();
    contents_.emplace(&e, &c);
    const std::uint64_t bits = e.cls->bits;
    c.kind = bits & detail::kTelemetry      ? ContentKind::kTelemetry
             : bits & detail::kProperty     ? ContentKind::kProperty
             : bits & detail::kCommand      ? ContentKind::kCommand
             : bits & detail::kRelationship ? ContentKind::kRelationship
                                            : ContentKind::kComponent;
    c.id = e.id;
    c.name = string_of(e, "name");
    c.defined_in = &owner;
    c.display_name = text_of(e, "displayName");
    c.description = text_of(e, "description");
    c.comment = string_of(e, "comment");
    if (e.file) c.location = e.file->locate(e.node->offset);
    for (const detail::CotypeSpec* co : e.cotypes)
      c.semantic_types.push_back(co->dtmi);
    if (const Value* u = first(e, "unit")) {
      c.unit = u->reference;
      c.unit_symbol = std::string(detail::standard_element(u->reference, e.version).term);
    }
    if (const Value* w = first(e, "writable")) c.writable = w->boolean;
    switch (c.kind) {
      case ContentKind::kTelemetry:
      case ContentKind::kProperty:
        c.schema = schema_of(first(e, "schema"));
        break;
      case ContentKind::kCommand:
        for (const char* term : {"request", "response"}) {
          const Value* v = first(e, term);
          if (!v || !v->element) continue;
          CommandPayload p;
          p.name = string_of(*v->element, "name");
          p.schema = schema_of(first(*v->element, "schema"));
          p.display_name = text_of(*v->element, "displayName");
          p.description = text_of(*v->element, "description");
          (std::string_view(term) == "request" ? c.request : c.response) = std::move(p);
        }
        break;
      case ContentKind::kRelationship:
        c.target = string_of(e, "target");
        if (const Value* v = first(e, "minMultiplicity")) c.min_multiplicity = v->integer;
        if (const Value* v = first(e, "maxMultiplicity")) c.max_multiplicity = v->integer;
        for (Element* p : elements(e, "properties"))
          c.properties.push_back(content_for(*p, owner));
        break;
      case ContentKind::kComponent:
        if (const Value* v = first(e, "schema"); v && v->element)
          c.component = interface_for(*v->element);
        break;
    }
    return &c;
  }

  const ElementSet& set_;
  std::unique_ptr<ModelRegistry> registry_;
  std::unordered_map<const Element*, Interface*> interfaces_;
  std::unordered_map<const Element*, Schema*> schemas_;
  std::unordered_map<const Element*, Content*> contents_;
  std::unordered_map<std::string, const Schema*> unit_types_;
};

std::shared_ptr<const ModelRegistry> build_registry(const ElementSet& set,
                                                    const std::vector<std::string_view>& texts) {
  return RegistryBuilder(set).build(texts);
}

}  // namespace doppel::model
