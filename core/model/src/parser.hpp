// Parse phase: turns document trees into Elements (JSON-LD node objects typed by the DTDL
// metamodel), checking everything that can be checked locally: contexts, @type, @id, which
// properties an element may have, and the form of every literal.
#pragma once

#include <memory_resource>
#include <string>

#include "doppel/model/diagnostic.hpp"
#include "doppel/model/loader.hpp"
#include "element.hpp"

namespace doppel::model::detail {

class Reporter;

class Parser {
 public:
  Parser(ElementSet& set, Reporter& report, const LoadOptions& options);

  // Parses one document; its elements are added to the set.
  void parse_document(SourceFile& file, bool from_resolver);

 private:
  struct Scope {
    const ActiveContext* context;
    Element* parent;
    const PropertySpec* property;
    std::string path;
  };

  Element* parse_element(const Node& node, const ActiveContext* context, Element* parent,
                         const PropertySpec* property, std::uint64_t default_class,
                         const std::string& path, std::size_t index);
  const ActiveContext* parse_context(const Node& node, const ActiveContext* inherited,
                                     const std::string& path);
  bool parse_types(Element& e, const Node* type_node, std::uint64_t default_class,
                   const std::string& path);
  void parse_property(Element& e, const Member& member, const std::string& path);
  void parse_literal_values(Element& e, PropertyValues& pv, const Node& node,
                            const std::string& path);
  void parse_object_values(Element& e, PropertyValues& pv, const Node& node,
                           const std::string& path);
  bool parse_lang_string(Element& e, PropertyValues& pv, const Node& node, const std::string& path);
  void add_reference(Element& e, PropertyValues& pv, const Node& node, const std::string& path);
  // Apocrypha: tolerance of unknown things, depending on the DTDL version.
  enum class Tolerance { kValid, kTenable, kInvalid };
  bool tolerated(Tolerance t, const ActiveContext& ctx) const;
  std::string generated_id(const Element& parent, std::string_view property, const Node& node,
                           std::size_t index) const;

  ElementSet& set_;
  Reporter& report_;
  const LoadOptions& options_;
  SourceFile* file_ = nullptr;
  bool from_resolver_ = false;
};

}  // namespace doppel::model::detail
