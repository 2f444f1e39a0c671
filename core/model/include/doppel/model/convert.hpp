// Lossless conversion of model documents between DTDL's JSON form and the same structure
// in YAML. Parsing the output gives the same document tree, hence the same registry.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "doppel/model/diagnostic.hpp"
#include "doppel/model/loader.hpp"

namespace doppel::model {

// Converts `text` (read as `from`, kAuto: by the name's extension) to `to`. On a syntax
// error returns nullopt and fills `error` with its location.
std::optional<std::string> convert_document(std::string_view name, std::string_view text,
                                            DocumentFormat from, DocumentFormat to,
                                            Diagnostic& error);

}  // namespace doppel::model
