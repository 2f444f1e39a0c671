// Host services for tests that drive plugins directly: a capturing logger, a settable clock,
// metrics that count, temporary directories and waiting on conditions with a deadline.
#pragma once

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "doppel/sdk/clock.hpp"
#include "doppel/sdk/log.hpp"
#include "doppel/sdk/metrics.hpp"

namespace doppel::testing {

class TestLog final : public sdk::Logger {
 public:
  void log(sdk::LogLevel level, std::string_view message,
           std::initializer_list<sdk::LogField> fields) noexcept override {
    std::lock_guard lock(mutex_);
    std::string line = std::string(message);
    for (const auto& [k, v] : fields)
      line += " " + std::string(k) + "=" + std::string(v);
    lines_.push_back({level, line});
  }
  bool enabled(sdk::LogLevel) const noexcept override { return true; }
  bool contains(std::string_view text) const {
    std::lock_guard lock(mutex_);
    for (const auto& [l, line] : lines_)
      if (line.find(text) != std::string::npos) return true;
    return false;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<sdk::LogLevel, std::string>> lines_;
};

class FakeClock final : public sdk::Clock {
 public:
  explicit FakeClock(sdk::Timestamp start = 1'700'000'000'000'000'000) : now_(start) {}
  sdk::Timestamp now() const noexcept override { return now_.load(); }
  void advance(sdk::Duration d) { now_ += d; }
  void set(sdk::Timestamp t) { now_ = t; }

 private:
  std::atomic<sdk::Timestamp> now_;
};

class TestMetrics final : public sdk::Metrics {
 public:
  struct C final : sdk::Counter {
    std::atomic<std::uint64_t> value{0};
    void add(std::uint64_t n) noexcept override { value += n; }
  };
  struct G final : sdk::Gauge {
    std::atomic<double> value{0};
    void set(double v) noexcept override { value = v; }
  };
  sdk::Counter& counter(std::string_view name, std::string_view labels,
                        std::string_view) noexcept override {
    std::lock_guard lock(mutex_);
    auto& c = counters_[std::string(name) + "{" + std::string(labels) + "}"];
    if (!c) c = std::make_unique<C>();
    return *c;
  }
  sdk::Gauge& gauge(std::string_view name, std::string_view labels,
                    std::string_view) noexcept override {
    std::lock_guard lock(mutex_);
    auto& g = gauges_[std::string(name) + "{" + std::string(labels) + "}"];
    if (!g) g = std::make_unique<G>();
    return *g;
  }
  std::uint64_t value(const std::string& name, const std::string& labels = "") {
    std::lock_guard lock(mutex_);
    auto it = counters_.find(name + "{" + labels + "}");
    return it == counters_.end() ? 0 : it->second->value.load();
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<C>> counters_;
  std::map<std::string, std::unique_ptr<G>> gauges_;
};

// A fresh directory, removed with everything in it when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "doppel-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Polls `pred` until it holds or `timeout` passes. Returns whether it held. Never a bare sleep.
inline bool wait_until(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace doppel::testing
