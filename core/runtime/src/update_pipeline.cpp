#include "doppel/runtime/update_pipeline.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace doppel::runtime {

namespace {

// Adapts an UpdateDone to the storage's completion callback; deletes itself when called.
class DurableDone final : public sdk::WriteCallback {
 public:
  DurableDone(UpdateDone done, std::uint64_t version) : done_(std::move(done)), version_(version) {}
  void done(const sdk::Status& status) noexcept override {
    if (done_) done_(status, version_);
    delete this;
  }

 private:
  UpdateDone done_;
  std::uint64_t version_;
};

// Acknowledges every update of a worker batch when its single storage write completes.
class FanOutDone final : public sdk::WriteCallback {
 public:
  std::vector<std::pair<UpdateDone, std::uint64_t>> items;
  void done(const sdk::Status& status) noexcept override {
    for (auto& [fn, version] : items)
      if (fn) fn(status, version);
    delete this;
  }
};

struct Queue {
  std::mutex mutex;
  std::condition_variable ready;
  std::condition_variable idle;
  std::deque<std::pair<TwinUpdate, UpdateDone>> items;
  std::size_t in_flight = 0;
  bool stopping = false;
};

}  // namespace

void UpdatePipeline::apply(twin::TwinGraph& graph, Persistence* persistence, const TwinUpdate& u,
                           UpdateDone done) {
  auto result = u.desired ? graph.desire(u.twin, u.writes, u.if_match)
                          : graph.report(u.twin, u.writes, u.if_match);
  if (!result) {
    if (persistence) persistence->discard();
    if (done) done(result.status(), 0);
    return;
  }
  if (!persistence) {
    if (done) done({}, *result);
    return;
  }
  persistence->commit(new DurableDone(std::move(done), *result));
}

struct UpdatePipeline::Impl {
  twin::TwinGraph& graph;
  Persistence* persistence;
  std::vector<std::unique_ptr<Queue>> queues;
  std::vector<std::thread> threads;

  Impl(twin::TwinGraph& g, Persistence* p) : graph(g), persistence(p) {}

  // Applies a worker's batch and persists it with ONE storage write: every update of the batch
  // is acknowledged when that write is durable. Rejected updates are answered at once.
  void apply_batch(std::deque<std::pair<TwinUpdate, UpdateDone>>& batch) {
    if (!persistence) {
      for (auto& [update, done] : batch)
        apply(graph, nullptr, update, std::move(done));
      return;
    }
    auto* fan_out = new FanOutDone();
    fan_out->items.reserve(batch.size());
    for (auto& [u, done] : batch) {
      auto result = u.desired ? graph.desire(u.twin, u.writes, u.if_match)
                              : graph.report(u.twin, u.writes, u.if_match);
      if (!result) {
        // This update produced no records: nothing of it is pending.
        if (done) done(result.status(), 0);
        continue;
      }
      fan_out->items.emplace_back(std::move(done), *result);
    }
    persistence->commit(fan_out);
  }

  void run(Queue& q) {
    std::unique_lock lock(q.mutex);
    while (true) {
      q.ready.wait(lock, [&] { return q.stopping || !q.items.empty(); });
      if (q.items.empty()) return;  // stopping and drained
      auto batch = std::move(q.items);
      q.items.clear();
      q.in_flight = batch.size();
      lock.unlock();
      apply_batch(batch);
      lock.lock();
      q.in_flight = 0;
      q.idle.notify_all();
    }
  }
};

UpdatePipeline::UpdatePipeline(twin::TwinGraph& graph, Persistence* persistence,
                               std::size_t workers)
    : impl_(std::make_unique<Impl>(graph, persistence)) {
  if (workers == 0) workers = 1;
  for (std::size_t i = 0; i < workers; ++i)
    impl_->queues.push_back(std::make_unique<Queue>());
  for (std::size_t i = 0; i < workers; ++i)
    impl_->threads.emplace_back([this, i] { impl_->run(*impl_->queues[i]); });
}

UpdatePipeline::~UpdatePipeline() {
  for (auto& q : impl_->queues) {
    std::lock_guard lock(q->mutex);
    q->stopping = true;
    q->ready.notify_all();
  }
  for (std::thread& t : impl_->threads)
    t.join();
}

void UpdatePipeline::submit(TwinUpdate update, UpdateDone done) {
  Queue& q = *impl_->queues[std::hash<std::string>{}(update.twin) % impl_->queues.size()];
  std::lock_guard lock(q.mutex);
  q.items.emplace_back(std::move(update), std::move(done));
  q.ready.notify_one();
}

void UpdatePipeline::drain() {
  for (auto& q : impl_->queues) {
    std::unique_lock lock(q->mutex);
    q->idle.wait(lock, [&] { return q->items.empty() && q->in_flight == 0; });
  }
}

std::size_t UpdatePipeline::workers() const {
  return impl_->queues.size();
}

}  // namespace doppel::runtime
