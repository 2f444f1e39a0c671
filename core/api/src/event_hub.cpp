#include "event_hub.hpp"

#include <algorithm>

#include "json_io.hpp"

namespace doppel::api::detail {

bool EventFilter::takes(std::string_view id, const model::Interface* iface) const {
  if (!twin.empty() && twin != id) return false;
  if (!model.empty() && (!iface || !iface->is_a(model))) return false;
  return !acl.limited() || acl.allows(id, iface);
}

bool Subscription::wait(std::vector<std::string>& out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, timeout, [&] { return closed_ || !queue_.empty(); });
  while (!queue_.empty()) {
    out.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return !closed_;
}

bool Subscription::push(const std::string& frame) {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return true;
    if (queue_.size() >= capacity_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    queue_.push_back(frame);
  }
  cv_.notify_one();
  return true;
}

void Subscription::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  cv_.notify_all();
}

void EventHub::set_metrics(Metrics metrics) {
  std::lock_guard lock(mutex_);
  metrics_ = metrics;
}

std::shared_ptr<Subscription> EventHub::subscribe(EventFilter filter, std::size_t capacity,
                                                  std::size_t max) {
  std::lock_guard lock(mutex_);
  if (closed_ || subs_.size() >= max) return nullptr;
  auto s = std::make_shared<Subscription>(std::move(filter), capacity);
  subs_.push_back(s);
  count_.store(subs_.size(), std::memory_order_release);
  if (metrics_.subscribers) metrics_.subscribers->set(static_cast<double>(subs_.size()));
  return s;
}

void EventHub::unsubscribe(const std::shared_ptr<Subscription>& s) {
  std::lock_guard lock(mutex_);
  subs_.erase(std::remove(subs_.begin(), subs_.end(), s), subs_.end());
  count_.store(subs_.size(), std::memory_order_release);
  if (metrics_.subscribers) metrics_.subscribers->set(static_cast<double>(subs_.size()));
}

void EventHub::publish(std::string_view twin, const model::Interface* iface, std::string_view type,
                       std::string_view json) noexcept {
  if (count_.load(std::memory_order_acquire) == 0) return;
  try {
    std::string frame;
    std::lock_guard lock(mutex_);
    for (auto& s : subs_) {
      if (!s->filter().takes(twin, iface)) continue;
      if (frame.empty())
        frame = "id: " + std::to_string(sequence_.fetch_add(1) + 1) +
                "\nevent: " + std::string(type) + "\ndata: " + std::string(json) + "\n\n";
      if (s->push(frame)) {
        if (metrics_.delivered) metrics_.delivered->add();
      } else if (metrics_.dropped) {
        metrics_.dropped->add();
      }
    }
  } catch (...) {
  }
}

void EventHub::close_all() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  for (auto& s : subs_)
    s->close();
}

void EventHub::reopen() {
  std::lock_guard lock(mutex_);
  closed_ = false;
}

std::size_t EventHub::subscribers() const {
  return count_.load(std::memory_order_acquire);
}

namespace {

std::string_view kind_name(twin::ChangeKind k) {
  switch (k) {
    case twin::ChangeKind::kTwinCreated:
      return "created";
    case twin::ChangeKind::kTwinDeleted:
      return "deleted";
    case twin::ChangeKind::kReported:
      return "reported";
    case twin::ChangeKind::kDesired:
      return "desired";
    case twin::ChangeKind::kSync:
      return "sync";
    case twin::ChangeKind::kRelationshipAdded:
      return "relationshipAdded";
    case twin::ChangeKind::kRelationshipRemoved:
      return "relationshipRemoved";
    case twin::ChangeKind::kStale:
      return "stale";
  }
  return "change";
}

}  // namespace

void EventHub::on_change(const twin::ChangeEvent& event) noexcept {
  if (count_.load(std::memory_order_acquire) == 0) return;
  try {
    const twin::TwinView& t = event.twin;
    const model::Interface& iface = t.layout->interface();
    std::string frame;
    std::lock_guard lock(mutex_);
    for (auto& s : subs_) {
      if (!s->filter().takes(t.id, &iface)) continue;
      // As GET .../relationships: an ACL token does not learn of edges to twins outside it.
      if (event.relationship && s->filter().acl.limited() &&
          !s->filter().acl.allows(event.relationship->target, event.target_interface))
        continue;
      if (frame.empty()) {
        std::string_view kind = kind_name(event.kind);
        rapidjson::StringBuffer buf;
        Writer w(buf);
        w.StartObject();
        key(w, "kind");
        str(w, kind);
        key(w, "twin");
        str(w, t.id);
        key(w, "model");
        str(w, iface.id);
        key(w, "version");
        w.Uint64(t.version);
        const auto& slots = t.layout->slots();
        auto each_slot = [&](auto&& fn) {
          for (const auto& c : event.slots)
            if (c.slot >= 0 && static_cast<std::size_t>(c.slot) < slots.size())
              fn(slots[static_cast<std::size_t>(c.slot)].path,
                 t.slots[static_cast<std::size_t>(c.slot)], c);
        };
        switch (event.kind) {
          case twin::ChangeKind::kReported:
            key(w, "values");
            w.StartObject();
            each_slot(
                [&](const std::string& path, const twin::SlotState& st, const twin::SlotChange& c) {
                  key(w, path);
                  write_value(w, c.after ? *c.after : st.reported);
                });
            w.EndObject();
            break;
          case twin::ChangeKind::kDesired:
            key(w, "desired");
            w.StartObject();
            each_slot(
                [&](const std::string& path, const twin::SlotState& st, const twin::SlotChange&) {
                  key(w, path);
                  write_value(w, st.desired);
                });
            w.EndObject();
            break;
          case twin::ChangeKind::kSync:
            key(w, "sync");
            w.StartObject();
            each_slot(
                [&](const std::string& path, const twin::SlotState& st, const twin::SlotChange&) {
                  key(w, path);
                  str(w, twin::sync_status_name(st.sync));
                });
            w.EndObject();
            break;
          case twin::ChangeKind::kStale:
            key(w, "stale");
            w.Bool(t.stale);
            break;
          case twin::ChangeKind::kRelationshipAdded:
          case twin::ChangeKind::kRelationshipRemoved:
            if (event.relationship) {
              key(w, "relationship");
              w.StartObject();
              key(w, "id");
              str(w, event.relationship->id());
              key(w, "name");
              str(w, event.relationship->name());
              key(w, "target");
              str(w, event.relationship->target);
              w.EndObject();
            }
            break;
          default:
            break;
        }
        w.EndObject();
        frame = "id: " + std::to_string(sequence_.fetch_add(1) + 1) +
                "\nevent: " + std::string(kind) + "\ndata: " + buf.GetString() + "\n\n";
      }
      if (s->push(frame)) {
        if (metrics_.delivered) metrics_.delivered->add();
      } else if (metrics_.dropped) {
        metrics_.dropped->add();
      }
    }
  } catch (...) {
    // Out of memory while copying an event: drop it rather than disturb the graph.
  }
}

}  // namespace doppel::api::detail
