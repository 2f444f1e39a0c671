// A stop request that sleeping loops can wait on (Ctrl-C, --duration, --messages).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace doppel::sim {

class StopSignal {
 public:
  void request() {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    cv_.notify_all();
  }
  bool requested() const { return stopped_.load(std::memory_order_relaxed); }

  // Sleeps until `deadline`; false when a stop was requested first.
  template <typename Clock, typename Duration>
  bool sleep_until(std::chrono::time_point<Clock, Duration> deadline) {
    std::unique_lock lock(mu_);
    return !cv_.wait_until(lock, deadline, [&] { return stopped_.load(); });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stopped_{false};
};

}  // namespace doppel::sim
