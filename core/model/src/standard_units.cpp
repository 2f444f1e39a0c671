#include "standard_units.hpp"

namespace doppel::model::detail {
namespace {
constexpr SemanticTypeRow kSemanticTypes[] = {
    {"Temperature", "TemperatureUnit"},
};
constexpr UnitRow kUnits[] = {
    {"degreeCelsius", "TemperatureUnit"},
};
}  // namespace

std::span<const SemanticTypeRow> semantic_types() { return kSemanticTypes; }
std::span<const UnitRow> units() { return kUnits; }

}  // namespace doppel::model::detail
