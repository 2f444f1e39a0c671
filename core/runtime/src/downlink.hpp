// Twin -> device: desired values and commands sent through the protocol plugins.
//
// Desired values are picked up as graph changes (whoever set them: API, rules), so every path
// that desires a value gets delivery, resends and acknowledgement the same way. A value stays
// pending here until the twin reports it back, the device acknowledges its version, a newer
// version replaces it, or the graph times it out (RuntimeOptions::sync_timeout).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "doppel/model/payload.hpp"
#include "doppel/runtime/logging.hpp"
#include "doppel/runtime/metrics_registry.hpp"
#include "doppel/runtime/persistence.hpp"
#include "doppel/runtime/runtime.hpp"
#include "doppel/sdk/protocol.hpp"
#include "doppel/twin/twin_graph.hpp"

namespace doppel::runtime {

class Downlink final : public twin::ChangeListener {
 public:
  Downlink(twin::TwinGraph& graph, std::vector<sdk::ProtocolPlugin*> protocols,
           MetricsRegistry& metrics, Log& log, const sdk::Clock& clock, sdk::Duration resend,
           sdk::Duration command_timeout, Persistence* persistence);
  ~Downlink() override;

  void start();
  // Stops sending; outstanding command callbacks are completed (kCancelled) by the plugins'
  // own timeouts or here, at the latest.
  void stop();

  void on_change(const twin::ChangeEvent& event) noexcept override;
  // Resends desired values that are still pending and were last sent `resend` ago.
  void tick(sdk::Timestamp now);

  void invoke(const CommandInvocation& command, std::function<void(CommandResult)> done);

  std::size_t pending() const;

 private:
  struct Pending {
    std::string twin, model, component, name, path, value;
    std::uint32_t version = 0;
    sdk::Timestamp last_sent = 0;
    bool in_flight = false;
  };
  struct Attempt;
  struct CommandAttempt;

  void run();
  void send(Pending snapshot);
  void completed(const std::string& key, std::uint32_t version, const sdk::OutboundResult& r,
                 std::size_t plugin_index);
  void send_to(std::shared_ptr<Attempt> attempt);

  twin::TwinGraph& graph_;
  std::vector<sdk::ProtocolPlugin*> protocols_;
  MetricsRegistry& metrics_;
  Log& log_;
  const sdk::Clock& clock_;
  sdk::Duration resend_;
  sdk::Duration command_timeout_;
  Persistence* persistence_;  // acknowledgements change twins on plugin threads: commit them

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, Pending> pending_;     // "twin\0path"
  std::atomic<std::size_t> pending_count_{0};  // pending_.size(), read without the lock
  std::deque<std::string> queue_;              // keys to send now
  bool stopping_ = true;
  std::thread sender_;
  std::uint64_t next_correlation_ = 0;
  std::mutex validators_mutex_;  // command payload validators, per interface of the registry
  std::unordered_map<const model::Interface*, std::shared_ptr<const model::PayloadValidator>>
      validators_;
  sdk::Counter& sent_;
  sdk::Counter& acked_;
  sdk::Counter& failed_;
  sdk::Counter& commands_ok_;
  sdk::Counter& commands_failed_;
};

}  // namespace doppel::runtime
