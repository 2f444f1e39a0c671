// Counters of a simulation run and the report printed at its end.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace doppel::sim {

// Updated from the publishing thread and the MQTT callback thread.
class LoadReport {
 public:
  std::atomic<std::uint64_t> telemetry{0};  // telemetry messages handed to the client
  std::atomic<std::uint64_t> published{0};  // every message handed to the client
  std::atomic<std::uint64_t> completed{0};  // delivery completed (QoS>=1: broker ack)
  std::atomic<std::uint64_t> failed{0};     // delivery reported failed
  std::atomic<std::uint64_t> dropped{0};    // not accepted: offline buffer full or client error
  std::atomic<std::uint64_t> reconnects{0};
  std::atomic<std::uint64_t> desired_applied{0};
  std::atomic<std::uint64_t> desired_rejected{0};
  std::atomic<std::uint64_t> commands_answered{0};
  std::atomic<std::uint64_t> commands_ignored{0};  // --no-respond
  std::atomic<std::uint64_t> commands_bad{0};      // unknown command, no response topic

  // Publish-to-completion latency of one message, in microseconds.
  void add_latency_us(std::uint32_t us);

  struct Snapshot {
    int qos = 0;
    double elapsed_s = 0;
    std::uint64_t telemetry = 0, published = 0, completed = 0, failed = 0, dropped = 0;
    std::uint64_t reconnects = 0, desired_applied = 0, desired_rejected = 0;
    std::uint64_t commands_answered = 0, commands_ignored = 0, commands_bad = 0;
    std::uint64_t latency_samples = 0;
    double p50_ms = 0, p99_ms = 0, max_ms = 0;
    double rate = 0;                // completed (QoS>=1) or published (QoS 0) per second
    std::uint64_t unconfirmed = 0;  // sent, neither completed nor failed when the run ended
  };
  Snapshot snapshot(int qos, double elapsed_s) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::uint32_t> latencies_us_;
  std::uint64_t latency_count_ = 0;
};

std::string format_text(const LoadReport::Snapshot& s);
std::string format_json(const LoadReport::Snapshot& s);
// One line for periodic progress on stderr.
std::string format_progress(const LoadReport::Snapshot& s);

}  // namespace doppel::sim
