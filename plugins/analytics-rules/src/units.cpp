#include "units.hpp"

#include <array>

namespace doppel::plugins::rules {
namespace {

struct Alias {
  std::string_view alias;
  Unit unit;
};

// DTDL names first (the model side), then the short forms people write in rules.
constexpr Unit kCelsius{"degreeCelsius", "temperature", 1, 273.15};
constexpr Unit kFahrenheit{"degreeFahrenheit", "temperature", 5.0 / 9.0, 273.15 - 32 * 5.0 / 9.0};
constexpr Unit kKelvin{"kelvin", "temperature", 1, 0};
constexpr Unit kWatt{"watt", "power", 1, 0};
constexpr Unit kKilowatt{"kilowatt", "power", 1e3, 0};
constexpr Unit kMegawatt{"megawatt", "power", 1e6, 0};
constexpr Unit kGigawatt{"gigawatt", "power", 1e9, 0};
constexpr Unit kHorsepower{"horsepower", "power", 745.69987158227022, 0};
constexpr Unit kAmpere{"ampere", "current", 1, 0};
constexpr Unit kMilliampere{"milliampere", "current", 1e-3, 0};
constexpr Unit kVolt{"volt", "voltage", 1, 0};
constexpr Unit kKilovolt{"kilovolt", "voltage", 1e3, 0};
constexpr Unit kMillivolt{"millivolt", "voltage", 1e-3, 0};
constexpr Unit kMetre{"metre", "length", 1, 0};
constexpr Unit kCentimetre{"centimetre", "length", 1e-2, 0};
constexpr Unit kMillimetre{"millimetre", "length", 1e-3, 0};
constexpr Unit kKilometre{"kilometre", "length", 1e3, 0};
constexpr Unit kMetrePerSecond{"metrePerSecond", "velocity", 1, 0};
constexpr Unit kKilometrePerHour{"kilometrePerHour", "velocity", 1 / 3.6, 0};
constexpr Unit kGForce{"gForce", "acceleration", 9.80665, 0};
constexpr Unit kMetrePerSecondSquared{"metrePerSecondSquared", "acceleration", 1, 0};
constexpr Unit kHertz{"hertz", "frequency", 1, 0};
constexpr Unit kKilohertz{"kilohertz", "frequency", 1e3, 0};
constexpr Unit kRpm{"revolutionPerMinute", "frequency", 1 / 60.0, 0};
constexpr Unit kPascal{"pascal", "pressure", 1, 0};
constexpr Unit kKilopascal{"kilopascal", "pressure", 1e3, 0};
constexpr Unit kBar{"bar", "pressure", 1e5, 0};
constexpr Unit kPercent{"percent", "ratio", 1e-2, 0};
constexpr Unit kWattHour{"wattHour", "energy", 3600, 0};
constexpr Unit kKilowattHour{"kilowattHour", "energy", 3.6e6, 0};
constexpr Unit kMegawattHour{"megawattHour", "energy", 3.6e9, 0};

constexpr std::array kAliases{
    Alias{"degreeCelsius", kCelsius},
    Alias{"degC", kCelsius},
    Alias{"°C", kCelsius},
    Alias{"celsius", kCelsius},
    Alias{"degreeFahrenheit", kFahrenheit},
    Alias{"degF", kFahrenheit},
    Alias{"°F", kFahrenheit},
    Alias{"fahrenheit", kFahrenheit},
    Alias{"kelvin", kKelvin},
    Alias{"K", kKelvin},
    Alias{"watt", kWatt},
    Alias{"W", kWatt},
    Alias{"kilowatt", kKilowatt},
    Alias{"kW", kKilowatt},
    Alias{"megawatt", kMegawatt},
    Alias{"MW", kMegawatt},
    Alias{"gigawatt", kGigawatt},
    Alias{"GW", kGigawatt},
    Alias{"horsepower", kHorsepower},
    Alias{"hp", kHorsepower},
    Alias{"ampere", kAmpere},
    Alias{"A", kAmpere},
    Alias{"milliampere", kMilliampere},
    Alias{"mA", kMilliampere},
    Alias{"volt", kVolt},
    Alias{"V", kVolt},
    Alias{"kilovolt", kKilovolt},
    Alias{"kV", kKilovolt},
    Alias{"millivolt", kMillivolt},
    Alias{"mV", kMillivolt},
    Alias{"metre", kMetre},
    Alias{"m", kMetre},
    Alias{"centimetre", kCentimetre},
    Alias{"cm", kCentimetre},
    Alias{"millimetre", kMillimetre},
    Alias{"mm", kMillimetre},
    Alias{"kilometre", kKilometre},
    Alias{"km", kKilometre},
    Alias{"metrePerSecond", kMetrePerSecond},
    Alias{"mps", kMetrePerSecond},
    Alias{"kilometrePerHour", kKilometrePerHour},
    Alias{"kph", kKilometrePerHour},
    Alias{"gForce", kGForce},
    Alias{"g", kGForce},
    Alias{"metrePerSecondSquared", kMetrePerSecondSquared},
    Alias{"hertz", kHertz},
    Alias{"Hz", kHertz},
    Alias{"kilohertz", kKilohertz},
    Alias{"kHz", kKilohertz},
    Alias{"revolutionPerMinute", kRpm},
    Alias{"rpm", kRpm},
    Alias{"pascal", kPascal},
    Alias{"Pa", kPascal},
    Alias{"kilopascal", kKilopascal},
    Alias{"kPa", kKilopascal},
    Alias{"bar", kBar},
    Alias{"percent", kPercent},
    Alias{"%", kPercent},
    Alias{"wattHour", kWattHour},
    Alias{"Wh", kWattHour},
    Alias{"kilowattHour", kKilowattHour},
    Alias{"kWh", kKilowattHour},
    Alias{"megawattHour", kMegawattHour},
    Alias{"MWh", kMegawattHour},
};

}  // namespace

const Unit* find_unit(std::string_view name) noexcept {
  for (const Alias& a : kAliases)
    if (a.alias == name) return &a.unit;
  return nullptr;
}

std::optional<double> convert(double value, const Unit& from, const Unit& to, bool delta) noexcept {
  if (from.dimension != to.dimension) return std::nullopt;
  if (delta) return value * from.scale / to.scale;
  return (value * from.scale + from.offset - to.offset) / to.scale;
}

}  // namespace doppel::plugins::rules
