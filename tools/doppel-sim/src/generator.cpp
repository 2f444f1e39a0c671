#include "generator.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>
#include <vector>

namespace doppel::sim {

std::uint64_t Random::next_u64() {
  // splitmix64: tiny state, good enough for simulated sensors, identical on every platform.
  std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double Random::uniform() {
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

double Random::uniform(double lo, double hi) {
  return lo + (hi - lo) * uniform();
}

double Random::normal() {
  if (spare_normal_) {
    double v = *spare_normal_;
    spare_normal_.reset();
    return v;
  }
  double u1 = 0;
  while (u1 <= 0)
    u1 = uniform();
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  spare_normal_ = r * std::sin(2 * std::numbers::pi * u2);
  return r * std::cos(2 * std::numbers::pi * u2);
}

std::uint64_t Random::below(std::uint64_t n) {
  return next_u64() % n;
}

namespace {

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

std::optional<double> parse_number(std::string_view s) {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  if (s.front() == '+') s.remove_prefix(1);
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::vector<std::string_view> split_args(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    auto comma = s.find(',');
    out.push_back(trim(s.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

double round_to(double v, double digits) {
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

nlohmann::json number(double v, NumberKind kind) {
  if (kind == NumberKind::kInteger) return static_cast<std::int64_t>(std::llround(v));
  return round_to(v, 3);
}

class ConstantGenerator final : public Generator {
 public:
  explicit ConstantGenerator(nlohmann::json v) : value_(std::move(v)) {}
  nlohmann::json next(double) override { return value_; }

 private:
  nlohmann::json value_;
};

class SineGenerator final : public Generator {
 public:
  SineGenerator(SineSpec s, Random& rng, NumberKind kind)
      : spec_(s), phase_(rng.uniform(0, 2 * std::numbers::pi)), kind_(kind) {}
  nlohmann::json next(double t) override {
    return number(
        spec_.mean + spec_.amplitude * std::sin(2 * std::numbers::pi * t / spec_.period_s + phase_),
        kind_);
  }

 private:
  SineSpec spec_;
  double phase_;  // per device, so a fleet does not oscillate in lockstep
  NumberKind kind_;
};

class WalkGenerator final : public Generator {
 public:
  WalkGenerator(WalkSpec s, std::uint64_t seed, NumberKind kind)
      : spec_(s), rng_(seed), value_(s.start), kind_(kind) {}
  nlohmann::json next(double) override {
    if (!first_) {
      value_ += rng_.uniform(-spec_.step, spec_.step);
      // Reflect at the bounds: the walk keeps moving instead of sticking to a wall.
      if (spec_.max && value_ > *spec_.max) value_ = 2 * *spec_.max - value_;
      if (spec_.min && value_ < *spec_.min) value_ = 2 * *spec_.min - value_;
      if (spec_.max) value_ = std::min(value_, *spec_.max);
      if (spec_.min) value_ = std::max(value_, *spec_.min);
    }
    first_ = false;
    return number(value_, kind_);
  }

 private:
  WalkSpec spec_;
  Random rng_;
  double value_;
  bool first_ = true;
  NumberKind kind_;
};

class DriftGenerator final : public Generator {
 public:
  DriftGenerator(DriftSpec s, std::uint64_t seed, NumberKind kind)
      : spec_(s), rng_(seed), kind_(kind) {}
  nlohmann::json next(double t) override {
    double v = spec_.start + spec_.rate_per_hour * t / 3600.0;
    if (spec_.failure_at) {
      v = spec_.rate_per_hour >= 0 ? std::min(v, *spec_.failure_at)
                                   : std::max(v, *spec_.failure_at);
    }
    if (spec_.noise > 0) v += spec_.noise * rng_.normal();
    return number(v, kind_);
  }

 private:
  DriftSpec spec_;
  Random rng_;
  NumberKind kind_;
};

class FlipGenerator final : public Generator {
 public:
  FlipGenerator(FlipSpec s, std::uint64_t seed) : spec_(s), rng_(seed) {}
  nlohmann::json next(double) override {
    if (rng_.uniform() < spec_.probability) value_ = !value_;
    return value_;
  }

 private:
  FlipSpec spec_;
  Random rng_;
  bool value_ = false;
};

std::string arity_error(std::string_view kind, std::string_view usage, std::size_t got) {
  return std::string(kind) + " takes " + std::string(usage) + " (got " + std::to_string(got) +
         " value" + (got == 1 ? "" : "s") + ")";
}

}  // namespace

std::uint64_t derive_seed(std::uint64_t seed, std::string_view device, std::string_view value) {
  Random mix(seed ^ fnv1a(device) ^ (fnv1a(value) * 31));
  return mix.next_u64();
}

std::optional<double> parse_duration_s(std::string_view text) {
  text = trim(text);
  struct Unit {
    std::string_view suffix;
    double factor;
  };
  // "ms" before "s" and "m": the longest suffix decides.
  static constexpr Unit kUnits[] = {{"ms", 0.001}, {"s", 1},    {"m", 60},
                                    {"min", 60},   {"h", 3600}, {"d", 86400}};
  double factor = 1;
  std::size_t best = 0;
  for (const auto& u : kUnits) {
    if (text.size() > u.suffix.size() && text.ends_with(u.suffix) && u.suffix.size() > best) {
      best = u.suffix.size();
      factor = u.factor;
    }
  }
  auto n = parse_number(text.substr(0, text.size() - best));
  if (!n || *n < 0) return std::nullopt;
  return *n * factor;
}

std::variant<GeneratorSpec, std::string> parse_generator_spec(std::string_view text) {
  text = trim(text);
  const auto colon = text.find(':');
  const std::string_view kind = trim(text.substr(0, colon));
  const std::string_view rest = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  if (kind == "constant") {
    if (colon == std::string_view::npos || trim(rest).empty())
      return std::string("constant takes a value (constant:V)");
    const std::string raw(trim(rest));
    // JSON if it parses (numbers, true/false, quoted strings, objects), else a plain string.
    auto v = nlohmann::json::parse(raw, nullptr, false);
    if (v.is_discarded()) v = raw;
    return GeneratorSpec{ConstantSpec{std::move(v)}};
  }
  const auto args = split_args(rest);
  std::vector<double> nums;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::optional<double> n =
        (kind == "sine" && i == 2) ? parse_duration_s(args[i]) : parse_number(args[i]);
    if (!n) {
      return std::string(kind) + ": value " + std::to_string(i + 1) + " ('" + std::string(args[i]) +
             "') is not a " + (kind == "sine" && i == 2 ? "duration" : "number");
    }
    nums.push_back(*n);
  }
  if (kind == "sine") {
    if (nums.size() != 3) return arity_error("sine", "mean,amplitude,period", nums.size());
    if (nums[2] <= 0) return std::string("sine: the period must be positive");
    return GeneratorSpec{SineSpec{nums[0], nums[1], nums[2]}};
  }
  if (kind == "walk") {
    if (nums.size() != 2 && nums.size() != 4)
      return arity_error("walk", "start,step[,min,max]", nums.size());
    WalkSpec w{nums[0], nums[1], std::nullopt, std::nullopt};
    if (w.step < 0) return std::string("walk: the step must not be negative");
    if (nums.size() == 4) {
      w.min = nums[2];
      w.max = nums[3];
      if (*w.min > *w.max) return std::string("walk: min is greater than max");
      if (w.start < *w.min || w.start > *w.max)
        return std::string("walk: start is outside [min, max]");
    }
    return GeneratorSpec{w};
  }
  if (kind == "drift") {
    if (nums.size() != 3 && nums.size() != 4)
      return arity_error("drift", "start,rate_per_hour,noise[,failure_at]", nums.size());
    DriftSpec d{nums[0], nums[1], nums[2], std::nullopt};
    if (d.noise < 0) return std::string("drift: the noise must not be negative");
    if (nums.size() == 4) d.failure_at = nums[3];
    return GeneratorSpec{d};
  }
  if (kind == "flip") {
    if (nums.size() != 1) return arity_error("flip", "probability", nums.size());
    if (nums[0] < 0 || nums[0] > 1) return std::string("flip: the probability must be in [0, 1]");
    return GeneratorSpec{FlipSpec{nums[0]}};
  }
  return "unknown generator '" + std::string(kind) +
         "' (expected constant:, sine:, walk:, drift: or flip:)";
}

std::optional<double> drift_failure_time_s(const DriftSpec& spec) {
  if (!spec.failure_at || spec.rate_per_hour == 0) return std::nullopt;
  const double hours = (*spec.failure_at - spec.start) / spec.rate_per_hour;
  if (hours < 0) return std::nullopt;
  return hours * 3600.0;
}

std::unique_ptr<Generator> make_generator(const GeneratorSpec& spec, std::uint64_t seed,
                                          NumberKind numbers) {
  Random rng(seed);
  return std::visit(
      [&](const auto& s) -> std::unique_ptr<Generator> {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, ConstantSpec>) {
          return std::make_unique<ConstantGenerator>(s.value);
        } else if constexpr (std::is_same_v<T, SineSpec>) {
          return std::make_unique<SineGenerator>(s, rng, numbers);
        } else if constexpr (std::is_same_v<T, WalkSpec>) {
          return std::make_unique<WalkGenerator>(s, seed, numbers);
        } else if constexpr (std::is_same_v<T, DriftSpec>) {
          return std::make_unique<DriftGenerator>(s, seed, numbers);
        } else {
          return std::make_unique<FlipGenerator>(s, seed);
        }
      },
      spec);
}

}  // namespace doppel::sim
