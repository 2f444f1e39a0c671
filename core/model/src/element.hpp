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
  std::string_view reference;  // kReference: the identifier (interned in the set's arena)
  int index = -1;              // position when the property was written as an array
};

struct PropertyValues {
  const PropertySpec* spec = nullptr;
  std::string_view term;  // as known by the metamodel
  std::uint32_t key_offset = 0;
  std::string_view key;  // as written (term or DTMI)
  std::pmr::vector<Value> values;

  explicit PropertyValues(std::pmr::memory_resource* arena) : values(arena) {}
};

struct ActiveContext {
  int version = 0;                             // 2 or 3
  std::vector<const ContextSpec*> extensions;  // in import order
  bool undefined_extension = false;            // an unknown extension context is in scope
};

struct Element {
  explicit Element(std::pmr::memory_resource* arena) : properties(arena) {}

  std::string_view id;  // interned in the set's arena
  bool id_given = false;
  const ClassSpec* cls = nullptr;
  std::vector<const CotypeSpec*> cotypes;
  bool undefined_cotype = false;  // an unknown co-type: unknown properties may belong to it
  int version = 0;
  const ActiveContext* context = nullptr;
  SourceFile* file = nullptr;
  const Node* node = nullptr;
  std::string_view path;  // JSON path in its document (interned)
  Element* parent = nullptr;
  const PropertySpec* parent_property = nullptr;
  Element* partition = nullptr;  // the enclosing Interface (itself for Interfaces)
  bool from_resolver = false;
  bool tolerant = false;  // a v2 element to which the solecism quirks apply
  std::pmr::vector<PropertyValues> properties;

  // JSON path of one value, for messages (built only when reporting).
  std::string path_of(const PropertyValues& pv, const Value& v) const;

  const PropertyValues* get(std::string_view term) const {
    for (const PropertyValues& p : properties)
      if (p.term == term) return &p;
    return nullptr;
  }
  bool is(std::uint64_t bits) const { return cls && (cls->bits & bits) == bits; }
};

// The elements a property's values designate (inline or resolved references), without copying.
class ElementRange {
 public:
  explicit ElementRange(const PropertyValues* pv) : pv_(pv) {}
  class iterator {
   public:
    iterator(const Value* p, const Value* end) : p_(p), end_(end) { skip(); }
    Element* operator*() const { return p_->element; }
    iterator& operator++() {
      ++p_;
      skip();
      return *this;
    }
    bool operator!=(const iterator& o) const { return p_ != o.p_; }

   private:
    void skip() {
      while (p_ != end_ && !p_->element)
        ++p_;
    }
    const Value* p_;
    const Value* end_;
  };
  iterator begin() const {
    return pv_ ? iterator(pv_->values.data(), pv_->values.data() + pv_->values.size())
               : iterator(nullptr, nullptr);
  }
  iterator end() const {
    const Value* e = pv_ ? pv_->values.data() + pv_->values.size() : nullptr;
    return iterator(e, e);
  }

 private:
  const PropertyValues* pv_;
};

inline ElementRange elements_of(const Element& e, std::string_view term) {
  return ElementRange(e.get(term));
}

// Everything parsed from one model set; element addresses are stable. Strings and vectors
// live in `arena`, which outlives the set.
struct ElementSet {
  explicit ElementSet(std::pmr::memory_resource* a) : arena(a) {}

  std::pmr::memory_resource* arena;
  std::string_view intern(std::string_view s) {
    if (s.empty()) return {};
    char* p = static_cast<char*>(arena->allocate(s.size(), 1));
    std::copy(s.begin(), s.end(), p);
    return {p, s.size()};
  }

  std::deque<Element> elements;
  std::deque<ActiveContext> contexts;
  std::vector<Element*> roots;  // top-level elements in document order
  std::unordered_map<std::string_view, Element*> by_id;
};

}  // namespace doppel::model::detail
