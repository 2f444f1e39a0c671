// Units rule constants may carry ("80 degC", "176 degF", "7.5 kW"), converted at load time into
// the unit the model declares for the value they are compared with.
#pragma once

#include <optional>
#include <string_view>

namespace doppel::plugins::rules {

struct Unit {
  std::string_view name;       // DTDL unit name: "degreeCelsius"
  std::string_view dimension;  // "temperature"; units convert only within one dimension
  double scale;                // value_in_base = value * scale + offset
  double offset;
};

// By DTDL name ("degreeCelsius") or a short alias ("degC", "°C", "kW"); nullptr when unknown.
const Unit* find_unit(std::string_view name) noexcept;

// `value` in `from` expressed in `to`; nullopt when the dimensions differ. `delta`: a difference
// or a rate (no offset: 1 degC of change is 1.8 degF of change).
std::optional<double> convert(double value, const Unit& from, const Unit& to, bool delta) noexcept;

}  // namespace doppel::plugins::rules
