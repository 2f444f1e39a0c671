// Runs analytics plugins: delivers twin changes to each on a thread of its own (in the order the
// graph applied them), lends them TwinAccess, and keeps the events they publish.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "doppel/runtime/events.hpp"
#include "doppel/runtime/logging.hpp"
#include "doppel/runtime/metrics_registry.hpp"
#include "doppel/runtime/persistence.hpp"
#include "doppel/runtime/runtime.hpp"
#include "doppel/sdk/analytics.hpp"
#include "doppel/sdk/storage.hpp"
#include "doppel/twin/twin_graph.hpp"

namespace doppel::runtime {

class AnalyticsHost final : public twin::ChangeListener {
 public:
  AnalyticsHost(Runtime& runtime, twin::TwinGraph& graph, MetricsRegistry& metrics, Log& log,
                const sdk::Clock& clock);
  ~AnalyticsHost() override;

  // Before plugins are created: the TwinAccess lent to instance `name`.
  sdk::TwinAccess* access_for(const std::string& name);
  // After storage started and before plugins start.
  void set_storage(sdk::StoragePlugin* storage, Persistence* persistence);
  // Restores the active alerts kept in storage.
  void recover();
  void attach(const std::string& name, sdk::AnalyticsPlugin* plugin);
  void start();
  void stop();  // delivers what is queued, then joins

  void on_change(const twin::ChangeEvent& event) noexcept override;
  void tick(sdk::Timestamp now);
  // Blocks until every change and tick queued before the call was handled by every plugin.
  void drain();

  // Events
  void publish(const std::string& instance, const sdk::Event& event);
  std::vector<EventRecord> active_alerts() const;
  std::vector<EventRecord> recent_events(std::size_t limit) const;
  bool acknowledge_alert(const std::string& twin, const std::string& source);
  int subscribe(EventSubscriber subscriber);
  void unsubscribe(int id);

  bool has_plugins() const { return !deliveries_.empty(); }

 private:
  struct OwnedSlot {
    std::string path;
    twin::Value value;
    sdk::Timestamp time = 0;
  };
  struct OwnedChange {
    bool is_tick = false;
    sdk::TwinChangeKind kind = sdk::TwinChangeKind::kReported;
    std::string twin, model;
    std::uint64_t version = 0;
    bool stale = false;
    sdk::Timestamp at = 0;
    std::vector<OwnedSlot> slots;
  };
  class Access;
  struct Delivery {
    std::string name;
    sdk::AnalyticsPlugin* plugin = nullptr;
    std::mutex mutex;
    std::condition_variable cv;
    std::condition_variable idle;
    std::deque<OwnedChange> queue;
    bool busy = false;
    bool stopping = false;
    std::thread thread;
    std::uint64_t dropped = 0;
  };

  void run(Delivery& d);
  void enqueue(OwnedChange change);

  Runtime& runtime_;
  twin::TwinGraph& graph_;
  MetricsRegistry& metrics_;
  Log& log_;
  const sdk::Clock& clock_;
  sdk::StoragePlugin* storage_ = nullptr;
  Persistence* persistence_ = nullptr;
  std::map<std::string, std::unique_ptr<Access>> access_;
  std::vector<std::unique_ptr<Delivery>> deliveries_;
  bool started_ = false;

  mutable std::mutex events_mutex_;
  std::uint64_t event_sequence_ = 0;
  std::map<std::pair<std::string, std::string>, EventRecord> active_;  // (twin, source)
  std::deque<EventRecord> recent_;                                     // newest last
  std::map<int, EventSubscriber> subscribers_;
  int next_subscriber_ = 0;

  friend class Access;
};

}  // namespace doppel::runtime
