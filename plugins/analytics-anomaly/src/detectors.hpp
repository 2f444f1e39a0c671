// Streaming anomaly detectors for one series (one twin's telemetry): an exponentially weighted
// mean and variance with a z-score, and a robust median/MAD score over a sliding window. Pure
// and deterministic; the plugin feeds them samples in event-time order and keeps their state.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace doppel::plugins::anomaly {

// Scores a sample against what came before it, then learns from it.
class EwmaDetector {
 public:
  // `alpha` in (0, 1]: the weight of the newest sample (about 2/alpha samples of memory).
  explicit EwmaDetector(double alpha = 0.05) : alpha_(alpha) {}

  // The z-score of `x` against the state before it (0 until two samples were seen), then
  // folds `x` in. Every sample updates the state, so a level shift is absorbed after it was
  // flagged instead of being flagged forever.
  double score_and_update(double x, double min_scale) {
    double z = 0;
    if (n_ >= 2) z = (x - mean_) / std::max(std::sqrt(var_), min_scale);
    if (n_ == 0) {
      mean_ = x;
      var_ = 0;
    } else {
      const double diff = x - mean_;
      const double incr = alpha_ * diff;
      mean_ += incr;
      var_ = (1 - alpha_) * (var_ + diff * incr);
    }
    ++n_;
    return z;
  }
  std::uint64_t count() const { return n_; }
  double mean() const { return mean_; }
  double scale() const { return std::sqrt(var_); }

  // For the plugin's durable state.
  void restore(std::uint64_t n, double mean, double var) {
    n_ = n;
    mean_ = mean;
    var_ = var;
  }
  double variance() const { return var_; }

 private:
  double alpha_;
  std::uint64_t n_ = 0;
  double mean_ = 0;
  double var_ = 0;
};

// Robust z-score: (x - median) / (1.4826 * MAD) over the last `window` samples. A spike moves
// neither the median nor the MAD, so one outlier does not hide the next.
class MadDetector {
 public:
  explicit MadDetector(std::size_t window = 60) : window_(window) {}

  double score_and_update(double x, double min_scale) {
    double z = 0;
    if (values_.size() >= 3) {
      scratch_.assign(values_.begin(), values_.end());
      const double med = median(scratch_);
      for (double& v : scratch_)
        v = std::fabs(v - med);
      const double mad = 1.4826 * median(scratch_);
      median_ = med;
      scale_ = mad;
      z = (x - med) / std::max(mad, min_scale);
    }
    values_.push_back(x);
    if (values_.size() > window_) values_.pop_front();
    ++n_;
    return z;
  }
  std::uint64_t count() const { return n_; }
  double median_seen() const { return median_; }
  double scale() const { return scale_; }
  const std::deque<double>& values() const { return values_; }
  void restore(std::uint64_t n, std::vector<double> values) {
    n_ = n;
    values_.assign(values.begin(), values.end());
    while (values_.size() > window_)
      values_.pop_front();
  }

 private:
  static double median(std::vector<double>& v) {
    const std::size_t mid = v.size() / 2;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
    double hi = v[mid];
    if (v.size() % 2) return hi;
    double lo = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
    return (lo + hi) / 2;
  }

  std::size_t window_;
  std::uint64_t n_ = 0;
  std::deque<double> values_;
  std::vector<double> scratch_;
  double median_ = 0;
  double scale_ = 0;
};

}  // namespace doppel::plugins::anomaly
