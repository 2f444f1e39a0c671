// Live events: a graph ChangeListener that copies each change (as one SSE frame) into the
// bounded queue of every matching subscriber. It never blocks the graph: a full queue drops
// the event for that subscriber and counts it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "doppel/sdk/metrics.hpp"
#include "doppel/twin/twin_graph.hpp"
#include "tokens.hpp"

namespace doppel::api::detail {

struct EventFilter {
  std::string twin;   // "" = every twin
  std::string model;  // "" = every model; else twins of this model or one extending it
  Acl acl;            // the token's ACL: events of twins outside it are never sent

  bool takes(std::string_view twin, const model::Interface* iface) const;
};

class Subscription {
 public:
  Subscription(EventFilter filter, std::size_t capacity)
      : filter_(std::move(filter)), capacity_(capacity) {}
  // Moves queued frames into `out`, waiting up to `timeout` for the first. False once closed.
  bool wait(std::vector<std::string>& out, std::chrono::milliseconds timeout);
  const EventFilter& filter() const { return filter_; }
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  friend class EventHub;
  bool push(const std::string& frame);  // false: full (dropped)
  void close();

  EventFilter filter_;
  std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool closed_ = false;
  std::atomic<std::uint64_t> dropped_{0};
};

class EventHub final : public twin::ChangeListener {
 public:
  struct Metrics {
    sdk::Counter* delivered = nullptr;
    sdk::Counter* dropped = nullptr;
    sdk::Gauge* subscribers = nullptr;
  };
  void set_metrics(Metrics metrics);
  // nullptr when `max` subscribers are connected already.
  std::shared_ptr<Subscription> subscribe(EventFilter filter, std::size_t capacity,
                                          std::size_t max);
  void unsubscribe(const std::shared_ptr<Subscription>& s);
  // Ends every stream (server stopping); later subscribe() calls fail.
  void close_all();
  void reopen();  // a restarted server accepts subscribers again
  std::size_t subscribers() const;

  void on_change(const twin::ChangeEvent& event) noexcept override;
  // A service's event (alert.raised, alert.cleared, anomaly, prediction, ...) as an SSE frame
  // named after its type, for the subscribers whose filter takes `twin` (of model `iface`).
  void publish(std::string_view twin, const model::Interface* iface, std::string_view type,
               std::string_view json) noexcept;

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<Subscription>> subs_;
  std::atomic<std::size_t> count_{0};
  std::atomic<std::uint64_t> sequence_{0};
  bool closed_ = false;
  Metrics metrics_;
};

}  // namespace doppel::api::detail
