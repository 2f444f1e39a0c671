// Semantic types, unit types and units of DTDL v2 (core) and of the v3 QuantitativeTypes
// extension. Data from the DTDL language definition.
#pragma once

#include <span>
#include <string_view>

namespace doppel::model::detail {

struct SemanticTypeRow {
  std::string_view term;       // "Temperature"
  std::string_view unit_type;  // "TemperatureUnit"
};

struct UnitRow {
  std::string_view term;       // "degreeCelsius"
  std::string_view unit_type;  // "TemperatureUnit"
};

// version 2: the DTDL v2 core context; 3: the QuantitativeTypes v1 extension of DTDL v3.
std::span<const SemanticTypeRow> semantic_types(int version);
std::span<const UnitRow> units(int version);

}  // namespace doppel::model::detail
