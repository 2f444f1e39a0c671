// Helpers for model tests: load in-memory documents.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>

#include "doppel/model/loader.hpp"
#include "doppel/model/registry.hpp"

namespace doppel::model::testing {

// (name, text) pairs; the name's extension picks JSON or YAML.
inline LoadResult load(std::initializer_list<std::pair<std::string, std::string>> docs,
                       LoadOptions options = {}) {
  ModelLoader loader(options);
  for (const auto& [name, text] : docs)
    loader.add_text(name, text);
  return loader.load();
}

inline std::string errors_of(const LoadResult& r) {
  std::string out;
  for (const Diagnostic& d : r.diagnostics.items)
    out += format_diagnostic(d) + "\n";
  return out;
}

inline const Diagnostic* find_code(const LoadResult& r, const std::string& code) {
  for (const Diagnostic& d : r.diagnostics.items)
    if (d.code == code) return &d;
  return nullptr;
}

}  // namespace doppel::model::testing
