// Time as the runtime sees it. Plugins never read the wall clock directly, so tests can run
// "temperature > 80 for 5 minutes" on fake time.
#pragma once

#include <chrono>
#include <cstdint>

namespace doppel::sdk {

// Nanoseconds since the Unix epoch (UTC).
using Timestamp = std::int64_t;
using Duration = std::int64_t;  // nanoseconds

constexpr Duration kMillisecond = 1'000'000;
constexpr Duration kSecond = 1'000'000'000;
constexpr Duration kMinute = 60 * kSecond;

class Clock {
 public:
  virtual ~Clock() = default;
  // Current time. Thread-safe.
  virtual Timestamp now() const noexcept = 0;
};

// The real clock.
class SystemClock final : public Clock {
 public:
  Timestamp now() const noexcept override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace doppel::sdk
