// Robust trend fits for time-to-threshold: Theil–Sen (the median of the pairwise slopes) with
// Sen's rank-based confidence interval for the slope. The exponential fit is the same line over
// ln(y - baseline). Pure functions; x in seconds relative to the newest sample.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <vector>

namespace doppel::plugins::predict {

struct LineFit {
  double slope = 0, intercept = 0;  // y = intercept + slope * x
  double slope_lo = 0, slope_hi = 0;
  double intercept_lo = 0, intercept_hi = 0;  // the lines through the data at slope_lo / _hi
};

inline double median_of(std::vector<double>& v) {
  const std::size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  const double hi = v[mid];
  if (v.size() % 2) return hi;
  return (*std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid)) + hi) / 2;
}

// The standard normal quantile for a two-sided `confidence` (Abramowitz–Stegun 26.2.23,
// |error| < 4.5e-4).
inline double two_sided_z(double confidence) {
  const double p = (1 - confidence) / 2;
  const double t = std::sqrt(-2 * std::log(p));
  return t - (2.515517 + 0.802853 * t + 0.010328 * t * t) /
                 (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t);
}

// Theil–Sen over (x, y); nullopt with fewer than 3 distinct x. O(n^2) pairs: keep n modest.
inline std::optional<LineFit> theil_sen(const std::vector<double>& x, const std::vector<double>& y,
                                        double confidence) {
  const std::size_t n = x.size();
  std::vector<double> slopes;
  slopes.reserve(n * (n - 1) / 2);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j)
      if (x[j] != x[i]) slopes.push_back((y[j] - y[i]) / (x[j] - x[i]));
  if (slopes.size() < 3) return std::nullopt;
  std::sort(slopes.begin(), slopes.end());
  const std::size_t N = slopes.size();
  LineFit f;
  f.slope = N % 2 ? slopes[N / 2] : (slopes[N / 2 - 1] + slopes[N / 2]) / 2;
  // Sen (1968): the slopes ranked (N -+ C) / 2 bound the slope with the given confidence.
  const double nn = static_cast<double>(n);
  const double c = two_sided_z(confidence) * std::sqrt(nn * (nn - 1) * (2 * nn + 5) / 18);
  const double lo = std::max(0.0, std::floor((static_cast<double>(N) - c) / 2));
  const double hi =
      std::min(static_cast<double>(N - 1), std::ceil((static_cast<double>(N) + c) / 2));
  f.slope_lo = slopes[static_cast<std::size_t>(lo)];
  f.slope_hi = slopes[static_cast<std::size_t>(hi)];
  std::vector<double> r(n);
  auto intercept = [&](double m) {
    for (std::size_t i = 0; i < n; ++i)
      r[i] = y[i] - m * x[i];
    return median_of(r);
  };
  f.intercept = intercept(f.slope);
  f.intercept_lo = intercept(f.slope_lo);
  f.intercept_hi = intercept(f.slope_hi);
  return f;
}

// Seconds from x = 0 until `line` reaches `level`, moving in `sign` (+1 rising, -1 falling);
// nullopt when it moves the other way (or not at all). 0 when it is already there.
inline std::optional<double> time_to(double intercept, double slope, double level, int sign) {
  if (slope * sign <= 0) return std::nullopt;
  if ((intercept - level) * sign >= 0) return 0.0;
  return (level - intercept) / slope;
}

}  // namespace doppel::plugins::predict
