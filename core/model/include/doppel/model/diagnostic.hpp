// Located errors and warnings produced while loading models and validating payloads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace doppel::model {

enum class Severity : std::uint8_t { kError, kWarning };

// A place in a source file. line and column are 1-based; 0 means unknown.
struct SourceLocation {
  std::string file;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
};

// One finding. `code` is a stable, machine-readable identifier (the DTDL parser's
// validation id where one exists, e.g. "missingRequiredProperty"); `element` is the DTMI
// of the element concerned and `path` the JSON path inside its document.
struct Diagnostic {
  Severity severity = Severity::kError;
  std::string code;
  std::string message;
  std::string hint;  // what to do about it; may be empty
  std::string element;
  std::string path;
  SourceLocation location;
};

// "file:line:col: error: message [element at path]; hint"
std::string format_diagnostic(const Diagnostic& d);

// {"severity":...,"code":...,...} as one JSON object.
std::string diagnostic_to_json(const Diagnostic& d);

struct Diagnostics {
  std::vector<Diagnostic> items;

  bool has_errors() const;
  std::size_t error_count() const;
  std::size_t warning_count() const;
};

}  // namespace doppel::model
