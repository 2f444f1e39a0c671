#include "resolver.hpp"

#include <algorithm>
#include <functional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "reporter.hpp"
#include "standard_units.hpp"

namespace doppel::model::detail {
namespace {

std::string q(std::string_view s) {
  return "'" + std::string(s) + "'";
}

bool strip(std::string_view& s, std::string_view prefix) {
  if (!s.starts_with(prefix)) return false;
  s.remove_prefix(prefix.size());
  return true;
}

const UnitRow* find_unit(std::string_view term, int version) {
  for (const UnitRow& u : units(version))
    if (u.term == term) return &u;
  return nullptr;
}

struct Validator {
  ElementSet& set;
  Reporter& report;

  void error(const Element& e, const Node* at, std::string code, std::string message,
             std::string hint, std::string_view path = {}) {
    report.error(std::move(code), std::move(message), std::move(hint), e.file,
                 at ? at->offset : e.node->offset, e.id, path.empty() ? e.path : path);
  }

  // ---- references ---------------------------------------------------------------------------
  void bind(Element& e) {
    for (PropertyValues& pv : e.properties) {
      if (!pv.spec || pv.spec->datatype != Datatype::kNone) continue;
      for (Value& v : pv.values) {
        if (v.kind != Value::Kind::kReference) continue;
        auto error = [&](const Element& el, const Node* at, std::string code, std::string message,
                         std::string hint) {
          this->error(el, at, std::move(code), std::move(message), std::move(hint),
                      el.path_of(pv, v));
        };
        StandardElement std_el = standard_element(v.reference, e.version);
        if (std_el.bits) {
          if ((std_el.bits & pv.spec->range) == 0) {
            error(e, v.node, "badType",
                  "'" + std::string(pv.term) + "' cannot be " + q(v.reference),
                  range_hint(*pv.spec));
          }
          continue;
        }
        if (pv.spec->range & kUnit) {
          error(e, v.node, "undefinedTerm",
                "unit " + q(v.text.empty() ? v.reference : v.text) + " is not a known unit",
                "use a DTDL unit such as degreeCelsius or kilowatt");
          continue;
        }
        auto it = set.by_id.find(v.reference);
        if (it == set.by_id.end()) {
          error(e, v.node, "undefinedIdentifier", q(v.reference) + " is referenced but not defined",
                "add the model that defines it to the model set");
          continue;
        }
        Element* t = it->second;
        if ((t->cls->bits & pv.spec->range) == 0) {
          error(e, v.node, "badType",
                "'" + std::string(pv.term) + "' refers to " + q(v.reference) + ", a " +
                    std::string(t->cls->name) + ", which it cannot hold",
                range_hint(*pv.spec));
          continue;
        }
        if (!(t->cls->rootable) && t->partition != e.partition) {
          error(e, v.node, "notReferenceable",
                q(v.reference) + " is defined inside another Interface (" +
                    std::string(t->partition ? t->partition->id : "?") +
                    ") and cannot be referenced from here",
                "define it in this Interface's schemas, or inline");
          continue;
        }
        v.element = t;
      }
    }
  }

  static std::string range_hint(const PropertySpec& p) {
    if (p.range & kInterface) return "refer to an Interface";
    if (p.range == (kIntegerSchema | kStringSchema)) return "use integer or string";
    if (p.range == kStringSchema) return "use string";
    if (p.range & kSchema) return "refer to a schema (primitive, Array, Enum, Map or Object)";
    if (p.range & kContent)
      return "refer to a Telemetry, Property, Command, Relationship or Component";
    return "refer to an element of the right class";
  }

  // ---- helpers --------------------------------------------------------------------------------
  static const Value* first_value(const Element& e, std::string_view term) {
    const PropertyValues* pv = e.get(term);
    return pv && !pv->values.empty() ? &pv->values.front() : nullptr;
  }
  static std::string_view name_of(const Element& e) {
    const Value* v = first_value(e, "name");
    return v ? v->text : std::string_view();
  }

  // ---- extends --------------------------------------------------------------------------------
  // Returns the depth of the extends hierarchy (1 = no bases), -1 on a cycle (reported).
  std::unordered_map<const Element*, int> depth_memo;
  std::unordered_set<const Element*> visiting;
  int extends_depth(Element& e) {
    if (auto it = depth_memo.find(&e); it != depth_memo.end()) return it->second;
    if (visiting.count(&e)) return -1;
    visiting.insert(&e);
    int depth = 1;
    for (Element* base : elements_of(e, "extends")) {
      int d = extends_depth(*base);
      if (d < 0) {
        visiting.erase(&e);
        depth_memo[&e] = -1;
        return -1;
      }
      depth = std::max(depth, d + 1);
    }
    visiting.erase(&e);
    depth_memo[&e] = depth;
    return depth;
  }

  void all_bases(Element& e, std::vector<Element*>& out, std::unordered_set<Element*>& seen) {
    for (Element* base : elements_of(e, "extends")) {
      if (!seen.insert(base).second) continue;
      out.push_back(base);
      all_bases(*base, out, seen);
    }
  }

  void check_interface(Element& e) {
    int depth = extends_depth(e);
    if (depth < 0) {
      error(e, nullptr, "extendsCycle",
            "Interface " + q(e.id) + " extends itself (directly or through its bases)",
            "break the cycle in 'extends'");
      return;
    }
    if (depth > 11 - 1 + 1 && depth - 1 > 10) {
      error(e, nullptr, "extendsTooDeep",
            "the extends hierarchy is " + std::to_string(depth - 1) +
                " levels deep; at most 10 allowed",
            "flatten the hierarchy");
    }
    std::vector<Element*> bases;
    std::unordered_set<Element*> seen;
    all_bases(e, bases, seen);
    if (e.version >= 3 && bases.size() > 1024) {
      error(e, nullptr, "extendsTooMany",
            "the extends hierarchy has " + std::to_string(bases.size()) +
                " Interfaces; at most 1024 allowed",
            "reduce the number of base Interfaces");
    }
    // Contents names must be unique across inherited contents.
    std::unordered_map<std::string_view, Element*> names;
    auto add_contents = [&](Element& owner) {
      for (Element* c : elements_of(owner, "contents")) {
        std::string_view n = name_of(*c);
        if (n.empty()) continue;
        auto [it, inserted] = names.emplace(n, c);
        if (!inserted && it->second != c && !(c->tolerant && it->second->tolerant)) {
          const Element* other = it->second;
          std::string msg = "name " + q(n) + " is used by two contents of " + q(e.id);
          if (&owner != &e || other->parent != &e)
            msg +=
                " (one of them inherited from " + q(other->parent ? other->parent->id : "") + ")";
          error(*c, first_value(*c, "name") ? first_value(*c, "name")->node : nullptr,
                "duplicateName", msg, "rename one of them");
        }
      }
    };
    add_contents(e);
    for (Element* b : bases)
      add_contents(*b);

    if (e.version >= 3 && element_bound(e) > 100000) {
      std::size_t count = exact_element_count(e, bases);
      if (count > 100000) {
        error(e, nullptr, "tooManyContents",
              "the Interface has " + std::to_string(count) +
                  " elements under contents; at most 100,000 allowed",
              "split it into several Interfaces");
      }
    }
  }

  // Elements under an element's properties (not crossing into other Interfaces).
  static std::size_t subtree_size(const Element& x) {
    std::size_t n = 0;
    for (const PropertyValues& pv : x.properties)
      for (const Value& v : pv.values)
        if (v.kind == Value::Kind::kElement && v.element && !(v.element->cls->bits & kInterface))
          n += 1 + subtree_size(*v.element);
    return n;
  }

  // An upper bound of the elements under contents, bases included (shared bases count twice).
  std::unordered_map<const Element*, std::size_t> bound_memo;
  std::size_t element_bound(Element& e) {
    if (auto it = bound_memo.find(&e); it != bound_memo.end()) return it->second;
    bound_memo[&e] = 0;  // guards against cycles (reported elsewhere)
    std::size_t n = 0;
    for (Element* c : elements_of(e, "contents"))
      n += 1 + subtree_size(*c);
    for (Element* b : elements_of(e, "extends"))
      n += element_bound(*b);
    bound_memo[&e] = n;
    return n;
  }

  std::size_t exact_element_count(Element& e, const std::vector<Element*>& bases) {
    std::unordered_set<const Element*> counted;
    std::size_t n = 0;
    auto add = [&](const Element& owner) {
      for (Element* c : elements_of(owner, "contents"))
        if (counted.insert(c).second) n += 1 + subtree_size(*c);
    };
    add(e);
    for (Element* b : bases)
      add(*b);
    return n;
  }

  // ---- components ------------------------------------------------------------------------------
  void check_component(Element& c) {
    const Value* schema = first_value(c, "schema");
    if (!schema || !schema->element) return;
    Element& target = *schema->element;
    std::vector<Element*> chain{&target};
    std::unordered_set<Element*> seen{&target};
    all_bases(target, chain, seen);
    for (Element* i : chain) {
      for (Element* content : elements_of(*i, "contents")) {
        if (content->cls->bits & kComponent) {
          error(c, schema->node, "nestedComponent",
                "Component " + q(name_of(c)) + " uses Interface " + q(target.id) +
                    ", which itself has Component " + q(name_of(*content)),
                "components cannot nest: move the inner component up to this Interface");
          return;
        }
      }
    }
  }

  // ---- schemas ---------------------------------------------------------------------------------
  // Depth of nested complex schemas; -1 when the schema contains itself.
  int schema_depth(const Element& s, std::vector<const Element*>& stack) {
    if (std::find(stack.begin(), stack.end(), &s) != stack.end()) return -1;
    if (!(s.cls->bits & kComplexSchema)) return 0;
    stack.push_back(&s);
    int deepest = 0;
    auto child = [&](const Element* x) {
      if (!x || deepest < 0) return;
      int d = schema_depth(*x, stack);
      deepest = d < 0 ? -1 : std::max(deepest, d);
    };
    if (s.cls->bits & kArray) {
      if (const Value* v = first_value(s, "elementSchema")) child(v->element);
    } else if (s.cls->bits & kMap) {
      if (const Value* mv = first_value(s, "mapValue"); mv && mv->element)
        if (const Value* v = first_value(*mv->element, "schema")) child(v->element);
    } else if (s.cls->bits & kObject) {
      for (Element* f : elements_of(s, "fields"))
        if (const Value* v = first_value(*f, "schema")) child(v->element);
    }
    stack.pop_back();
    return deepest < 0 ? -1 : deepest + 1;
  }

  void check_schema_use(Element& holder, const Value& v) {
    if (!v.element) return;
    std::vector<const Element*> stack;
    int depth = schema_depth(*v.element, stack);
    if (depth < 0) {
      error(holder, v.node, "recursiveSchema", "schema " + q(v.element->id) + " contains itself",
            "schemas cannot be recursive; flatten the structure");
    } else if (depth > 5) {
      error(
          holder, v.node, "schemaTooDeep",
          "complex schemas are nested " + std::to_string(depth) + " levels deep; at most 5 allowed",
          "flatten the schema");
    }
  }

  bool contains_kind(const Element* s, std::uint64_t bits, std::vector<const Element*>& stack,
                     bool geo_counts, int version) {
    if (!s) return false;
    if (std::find(stack.begin(), stack.end(), s) != stack.end()) return false;
    if (s->cls->bits & bits) return true;
    stack.push_back(s);
    bool found = false;
    auto child = [&](const Value* v) {
      if (found || !v) return;
      if (v->element)
        found = contains_kind(v->element, bits, stack, geo_counts, version);
      else if (geo_counts && standard_element(v->reference, version).bits & kGeospatialSchema)
        found = true;
    };
    if (s->cls->bits & kArray) child(first_value(*s, "elementSchema"));
    if (s->cls->bits & kMap)
      if (const Value* mv = first_value(*s, "mapValue"); mv && mv->element)
        child(first_value(*mv->element, "schema"));
    if (s->cls->bits & kObject)
      for (Element* f : elements_of(*s, "fields"))
        child(first_value(*f, "schema"));
    stack.pop_back();
    return found;
  }

  void check_enum(Element& en) {
    const Value* vs = first_value(en, "valueSchema");
    if (!vs) return;
    StandardElement se = standard_element(vs->reference, en.version);
    bool string_values = se.bits & kStringSchema;
    std::vector<std::pair<std::string, const Value*>> seen;
    for (Element* ev : elements_of(en, "enumValues")) {
      const Value* v = first_value(*ev, "enumValue");
      if (!v) continue;
      bool is_string = v->kind == Value::Kind::kString;
      if (is_string != string_values) {
        error(*ev, v->node, "badEnumValue",
              "enumValue must be " + std::string(string_values ? "a string" : "an integer") +
                  " because the Enum's valueSchema is " + (string_values ? "string" : "integer"),
              "make all enumValues match valueSchema");
        continue;
      }
      std::string key = is_string ? "s:" + std::string(v->text) : "i:" + std::to_string(v->integer);
      for (auto& [k, prev] : seen) {
        if (k == key) {
          error(*ev, v->node, "duplicateEnumValue",
                "two enumValues of " + q(en.id) + " have the same value",
                "give each enumValue a distinct value");
        }
      }
      seen.emplace_back(key, v);
    }
  }

  void check_unique_names(Element& owner, std::string_view term) {
    std::unordered_map<std::string_view, const Element*> names;
    for (Element* c : elements_of(owner, term)) {
      std::string_view n = name_of(*c);
      if (n.empty()) continue;
      auto [it, inserted] = names.emplace(n, c);
      if (!inserted && it->second != c)
        error(*c, first_value(*c, "name")->node, "duplicateName",
              "name " + q(n) + " is used twice in '" + std::string(term) + "' of " + q(owner.id),
              "rename one of them");
    }
  }

  void check_units(Element& e) {
    const Value* unit = first_value(e, "unit");
    bool semantic = std::any_of(e.cotypes.begin(), e.cotypes.end(), [](const CotypeSpec* c) {
      return !c->unit_type.empty() && !c->vector_unit;
    });
    if (semantic) {
      const Value* schema = first_value(e, "schema");
      StandardElement se =
          schema ? standard_element(schema->reference, e.version) : StandardElement{};
      static constexpr std::string_view kNumeric[] = {"double", "float", "integer", "long"};
      bool numeric =
          (se.bits & kPrimitiveSchema) &&
          std::find(std::begin(kNumeric), std::end(kNumeric), se.term) != std::end(kNumeric);
      if (schema && !numeric)
        error(e, schema->node, "nonNumericSemanticType",
              "a semantic type with a unit needs a numeric schema (double, float, integer or long)",
              "change the schema, or drop the semantic type");
    }
    for (const CotypeSpec* c : e.cotypes) {
      if (c->unit_type.empty() || !unit) continue;
      std::string_view term = unit->text;
      if (term.empty()) {
        std::string_view r = unit->reference;
        strip(r, "dtmi:standard:unit:");
        term = r.substr(0, r.find(';'));
      }
      const UnitRow* u = find_unit(term, e.version);
      if (u && u->unit_type != c->unit_type) {
        error(e, unit->node, "badUnit",
              "unit " + q(term) + " is a " + std::string(u->unit_type) + ", but " + q(c->term) +
                  " needs a " + std::string(c->unit_type),
              "use a unit of " + std::string(c->unit_type));
      }
    }
  }

  void check_relationship(Element& r) {
    const Value* min = first_value(r, "minMultiplicity");
    const Value* max = first_value(r, "maxMultiplicity");
    if (min && max && min->integer > max->integer)
      error(r, max->node, "badMultiplicity", "maxMultiplicity is less than minMultiplicity",
            "make maxMultiplicity >= minMultiplicity");
    if (const Value* target = first_value(r, "target")) {
      auto it = set.by_id.find(target->text);
      if (it == set.by_id.end()) {
        report.warning(
            "unresolvedTarget",
            "relationship target " + q(target->text) + " is not defined in this model set",
            "load the target Interface too, or twins cannot be related through it", r.file,
            target->node->offset, r.id, r.path);
      } else if (!(it->second->cls->bits & kInterface)) {
        report.warning("unresolvedTarget",
                       "relationship target " + q(target->text) + " is a " +
                           std::string(it->second->cls->name) + ", not an Interface",
                       "target should name an Interface", r.file, target->node->offset, r.id,
                       r.path);
      }
    }
  }

  void run() {
    for (Element& e : set.elements)
      if (e.cls) bind(e);
    for (Element& e : set.elements) {
      if (!e.cls) continue;
      if (e.cls->bits & kInterface) check_interface(e);
      if (e.cls->bits & kComponent) check_component(e);
      if (e.cls->bits & kEnum) {
        check_enum(e);
        check_unique_names(e, "enumValues");
      }
      if (e.cls->bits & kObject) check_unique_names(e, "fields");
      if (e.cls->bits & kRelationship) {
        check_unique_names(e, "properties");
        check_relationship(e);
      }
      if (!e.cotypes.empty()) check_units(e);
      for (const CotypeSpec* c : e.cotypes) {
        if (c->term != "Transparent") continue;
        const Value* schema = first_value(e, "schema");
        if (schema && !(schema->element && schema->element->cls->bits & kObject))
          error(e, schema->node, "badSchema", "a Transparent payload needs an Object schema",
                "use an Object schema");
      }
      // Schema nesting, checked where a schema is used by a non-schema element.
      if (!(e.cls->bits & kSchema) &&
          !(e.cls->bits & kSchemaField && e.parent && e.parent->cls->bits & kSchema)) {
        if (const Value* v = first_value(e, "schema")) check_schema_use(e, *v);
      }
      if (e.parent && e.parent->cls->bits & kInterface && e.parent_property &&
          e.parent_property->term == "schemas") {
        std::vector<const Element*> stack;
        int d = schema_depth(e, stack);
        if (d < 0)
          error(e, nullptr, "recursiveSchema", "schema " + q(e.id) + " contains itself",
                "schemas cannot be recursive");
        else if (d > 5)
          error(
              e, nullptr, "schemaTooDeep",
              "complex schemas are nested " + std::to_string(d) + " levels deep; at most 5 allowed",
              "flatten the schema");
      }
      // DTDL v2: Property schemas may not contain Arrays (nor geospatial schemas, which are
      // arrays).
      if (e.version == 2 && (e.cls->bits & kProperty)) {
        if (const Value* v = first_value(e, "schema")) {
          std::vector<const Element*> stack;
          bool geo = standard_element(v->reference, 2).bits & kGeospatialSchema;
          if (geo || contains_kind(v->element, kArray, stack, true, 2))
            error(e, v->node, "arrayInProperty",
                  "in DTDL v2 a Property schema may not contain an Array or geospatial schema",
                  "use DTDL v3, or model the values differently");
        }
      }
    }
  }
};

}  // namespace

StandardElement standard_element(std::string_view dtmi, int version) {
  std::string_view s = dtmi;
  auto semi = s.rfind(';');
  if (semi == std::string_view::npos) return {};
  if (s.substr(semi + 1) != std::to_string(version)) return {};
  s = s.substr(0, semi);
  std::string_view term = s;
  if (strip(term, "dtmi:dtdl:instance:Schema:")) {
    if (!is_primitive_schema_term(term, version)) return {};
    std::uint64_t bits = kSchema | kPrimitiveSchema | kEntity;
    if (term == "string") bits |= kStringSchema;
    if (term == "integer") bits |= kIntegerSchema;
    return {bits, term};
  }
  if (strip(term, "dtmi:standard:schema:geospatial:")) {
    if (!is_primitive_schema_term(term, version)) return {};
    return {kSchema | kGeospatialSchema | kEntity, term};
  }
  if (strip(term, "dtmi:dtdl:instance:CommandType:")) {
    if (term == "synchronous" || term == "asynchronous") return {kCommandType | kEntity, term};
    return {};
  }
  if (strip(term, "dtmi:iotcentral:schema:")) {
    if (version == 2 && (term == "geopoint" || term == "vector"))
      return {kSchema | kComplexSchema | kEntity, term};
    return {};
  }
  if (strip(term, "dtmi:standard:class:")) {
    for (const UnitRow& u : units(version))
      if (u.unit_type == term) return {kSchema | kComplexSchema | kEnum | kEntity, term};
    return {};
  }
  if (strip(term, "dtmi:standard:unit:")) {
    if (find_unit(term, version)) return {kUnit | kEntity, term};
    return {};
  }
  return {};
}

std::vector<std::string> undefined_references(const ElementSet& set) {
  std::set<std::string> missing;
  for (const Element& e : set.elements) {
    if (!e.cls) continue;
    for (const PropertyValues& pv : e.properties) {
      if (!pv.spec || pv.spec->datatype != Datatype::kNone) continue;
      for (const Value& v : pv.values) {
        if (v.kind != Value::Kind::kReference) continue;
        if (standard_element(v.reference, e.version).bits) continue;
        if (pv.spec->range & kUnit) continue;
        if (!set.by_id.count(v.reference)) missing.emplace(v.reference);
      }
    }
  }
  return {missing.begin(), missing.end()};
}

void resolve_and_validate(ElementSet& set, Reporter& report) {
  Validator v{set, report};
  v.run();
}

}  // namespace doppel::model::detail
