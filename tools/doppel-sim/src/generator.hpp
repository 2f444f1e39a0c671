// Value generators: what a simulated sensor reports over (simulated) time.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace doppel::sim {

// A small, portable PRNG stream. std::*_distribution differ between standard libraries, so the
// transforms are ours: the same seed gives the same values everywhere.
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next_u64();
  double uniform();  // [0, 1)
  double uniform(double lo, double hi);
  double normal();                       // mean 0, standard deviation 1
  std::uint64_t below(std::uint64_t n);  // [0, n), n > 0

 private:
  std::uint64_t state_;
  std::optional<double> spare_normal_;
};

// A stable 64-bit seed for one value of one device (FNV-1a + splitmix64).
std::uint64_t derive_seed(std::uint64_t seed, std::string_view device, std::string_view value);

struct ConstantSpec {
  nlohmann::json value;
};
struct SineSpec {
  double mean = 0, amplitude = 1, period_s = 60;
};
struct WalkSpec {
  double start = 0, step = 1;
  std::optional<double> min, max;
};
// Rises (or falls, with a negative rate) linearly from `start` until `failure_at`, then stays.
struct DriftSpec {
  double start = 0, rate_per_hour = 1, noise = 0;
  std::optional<double> failure_at;
};
// Booleans: start false, flip with this probability per sample.
struct FlipSpec {
  double probability = 0.01;
};

using GeneratorSpec = std::variant<ConstantSpec, SineSpec, WalkSpec, DriftSpec, FlipSpec>;

// Parses "constant:V", "sine:mean,amplitude,period", "walk:start,step[,min,max]",
// "drift:start,rate_per_hour,noise[,failure_at]". Periods take a unit (100ms, 30s, 5m, 1h;
// plain numbers are seconds). Returns the spec or an error message without location.
std::variant<GeneratorSpec, std::string> parse_generator_spec(std::string_view text);

// The simulated time (seconds) at which a drift reaches its failure threshold, if it does.
std::optional<double> drift_failure_time_s(const DriftSpec& spec);

// How numbers are rounded on the wire.
enum class NumberKind { kReal, kInteger };

class Generator {
 public:
  virtual ~Generator() = default;
  // The value at simulated time `t_s` (seconds since the simulation started). Called with
  // non-decreasing times; stateful generators (walk) advance one step per call.
  virtual nlohmann::json next(double t_s) = 0;
};

std::unique_ptr<Generator> make_generator(const GeneratorSpec& spec, std::uint64_t seed,
                                          NumberKind numbers = NumberKind::kReal);

// Parses "100ms", "2.5s", "5m", "1h", "1d" or a plain number of seconds; nullopt if invalid
// or negative.
std::optional<double> parse_duration_s(std::string_view text);

}  // namespace doppel::sim
