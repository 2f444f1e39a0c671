#include "doppel/model/diagnostic.hpp"

#include <algorithm>

#include "doppel/model/json_text.hpp"

namespace doppel::model {
namespace {}  // namespace

std::string format_diagnostic(const Diagnostic& d) {
  std::string out;
  if (!d.location.file.empty()) {
    out += d.location.file;
    if (d.location.line) {
      out += ':' + std::to_string(d.location.line);
      if (d.location.column) out += ':' + std::to_string(d.location.column);
    }
    out += ": ";
  }
  out += d.severity == Severity::kError ? "error: " : "warning: ";
  out += d.message;
  if (!d.element.empty() || !d.path.empty()) {
    out += " [";
    out += d.element;
    if (!d.element.empty() && !d.path.empty()) out += " at ";
    out += d.path;
    out += ']';
  }
  if (!d.hint.empty()) {
    out += "; ";
    out += d.hint;
  }
  return out;
}

std::string diagnostic_to_json(const Diagnostic& d) {
  std::string out = "{\"severity\":";
  append_json_string(out, d.severity == Severity::kError ? "error" : "warning");
  out += ",\"code\":";
  append_json_string(out, d.code);
  out += ",\"message\":";
  append_json_string(out, d.message);
  if (!d.hint.empty()) {
    out += ",\"hint\":";
    append_json_string(out, d.hint);
  }
  out += ",\"element\":";
  append_json_string(out, d.element);
  out += ",\"path\":";
  append_json_string(out, d.path);
  out += ",\"file\":";
  append_json_string(out, d.location.file);
  out += ",\"line\":" + std::to_string(d.location.line);
  out += ",\"column\":" + std::to_string(d.location.column);
  out += '}';
  return out;
}

bool Diagnostics::has_errors() const {
  return error_count() > 0;
}

std::size_t Diagnostics::error_count() const {
  return static_cast<std::size_t>(
      std::count_if(items.begin(), items.end(),
                    [](const Diagnostic& d) { return d.severity == Severity::kError; }));
}

std::size_t Diagnostics::warning_count() const {
  return items.size() - error_count();
}

}  // namespace doppel::model
