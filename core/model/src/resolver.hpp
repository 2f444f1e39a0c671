// Resolve phase: binds references to elements (asking the external resolver for missing
// definitions) and checks the rules that need the whole model set: classes of referenced
// elements, extends cycles and limits, name uniqueness across inheritance, components,
// schema nesting, units of semantic types.
#pragma once

#include <string>
#include <vector>

#include "element.hpp"

namespace doppel::model::detail {

class Reporter;

// Standard (language-defined) elements that references may point at.
struct StandardElement {
  std::uint64_t bits = 0;
  std::string_view term;  // "double", "degreeCelsius", ...
};

// nullopt-like: bits == 0 when `dtmi` is not a standard element of `version`.
StandardElement standard_element(std::string_view dtmi, int version);

// Returns the DTMIs referenced but defined nowhere (for the external resolver).
std::vector<std::string> undefined_references(const ElementSet& set);

// Binds references and reports every error that needs the whole set.
void resolve_and_validate(ElementSet& set, Reporter& report);

}  // namespace doppel::model::detail
