// Collects located diagnostics while a model set is loaded.
#pragma once

#include <string>

#include "document.hpp"
#include "doppel/model/diagnostic.hpp"

namespace doppel::model::detail {

class Reporter {
 public:
  explicit Reporter(Diagnostics& out) : out_(out) {}

  void error(std::string code, std::string message, std::string hint, SourceFile* file,
             std::uint32_t offset, std::string_view element, std::string_view path) {
    add(Severity::kError, std::move(code), std::move(message), std::move(hint), file, offset,
        std::string(element), std::string(path));
  }
  void warning(std::string code, std::string message, std::string hint, SourceFile* file,
               std::uint32_t offset, std::string_view element, std::string_view path) {
    add(Severity::kWarning, std::move(code), std::move(message), std::move(hint), file, offset,
        std::string(element), std::string(path));
  }
  bool has_errors() const { return errors_ > 0; }

 private:
  void add(Severity s, std::string code, std::string message, std::string hint, SourceFile* file,
           std::uint32_t offset, std::string element, std::string path) {
    Diagnostic d;
    d.severity = s;
    d.code = std::move(code);
    d.message = std::move(message);
    d.hint = std::move(hint);
    d.element = std::move(element);
    d.path = std::move(path);
    if (file) d.location = file->locate(offset);
    if (s == Severity::kError) ++errors_;
    out_.items.push_back(std::move(d));
  }

  Diagnostics& out_;
  std::size_t errors_ = 0;
};

}  // namespace doppel::model::detail
