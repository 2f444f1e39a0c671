// The parsed, not yet resolved, form of a model set: one Element per JSON-LD node object,
// with property values that are literals, inline elements or references by identifier.
#pragma once

#include <cstdint>
#include <deque>
#include <memory_resource>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "document.hpp"
#include "metamodel.hpp"

namespace doppel::model::detail {

struct Element;

struct Value {
  enum class Kind : std::uint8_t { kString, kInteger, kBoolean, kLangString, kElement, kReference };
  Kind kind = Kind::kString;
  const Node* node = nullptr;  // where it was written
  std::string_view text;       // kString, kLangString text, kReference identifier (expanded)
  std::string_view language;   // kLangString
  std::int64_t integer = 0;
  bool boolean = false;
  Element* element = nullptr;  // kElement, or the resolved target of kReference
  std::string reference;       // kReference: the identifier (owned: expansions are computed)
  int index = -1;              // position when the property was written as an array
};

struct PropertyValues {
  const PropertySpec* spec = nullptr;
  std::string_view term;       // as known by the metamodel
  std::uint32_t key_offset = 0;
  std::string path;  // JSON path of the property
  std::vector<Value> values;

  std::string path_of(const Value& v) const {
    return v.index < 0 ? path : path + "[" + std::to_string(v.index) + "]";
  }
};

struct ActiveContext {
  int version = 0;                              // 2 or 3
  std::vector<const ContextSpec*> extensions;   // in import order
  bool undefined_extension = false;             // an unknown extension context is in scope
};

struct Element {
  std::string id;
  bool id_given = false;
  const ClassSpec* cls = nullptr;
  std::vector<const CotypeSpec*> cotypes;
  bool undefined_cotype = false;  // an unknown co-type: unknown properties may belong to it
  int version = 0;
  const ActiveContext* context = nullptr;
  SourceFile* file = nullptr;
  const Node* node = nullptr;
  std::string path;  // JSON path in its document
  Element* parent = nullptr;
  const PropertySpec* parent_property = nullptr;
  Element* partition = nullptr;  // the enclosing Interface (itself for Interfaces)
  bool from_resolver = false;
  bool tolerant = false;  // a v2 element to which the solecism quirks apply
  std::vector<PropertyValues> properties;

  const PropertyValues* get(std::string_view term) const {
    for (const PropertyValues& p : properties)
      if (p.term == term) return &p;
    return nullptr;
  }
  bool is(std::uint64_t bits) const { return cls && (cls->bits & bits) == bits; }
};

// Everything parsed from one model set; element addresses are stable.
struct ElementSet {
  std::deque<Element> elements;
  std::deque<ActiveContext> contexts;
  std::vector<Element*> roots;  // top-level elements in document order
  std::unordered_map<std::string_view, Element*> by_id;
};

}  // namespace doppel::model::detail
