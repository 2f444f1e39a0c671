#include "downlink.hpp"

#include <future>
#include <memory>

namespace doppel::runtime {

using sdk::Status;
using sdk::StatusCode;

namespace {

std::string key_of(std::string_view twin, std::string_view path) {
  std::string k(twin);
  k += '\0';
  k += path;
  return k;
}

}  // namespace

// One desired value on its way through the protocol plugins, tried in order until one has a
// route for the twin. Owns itself until the plugin calls done().
struct Downlink::Attempt final : sdk::OutboundCallback {
  Downlink* owner;
  Pending value;
  std::size_t plugin = 0;
  std::shared_ptr<Attempt> self;

  void done(const sdk::OutboundResult& r) noexcept override {
    std::shared_ptr<Attempt> keep = std::move(self);
    if (r.status.code() == StatusCode::kNotFound && plugin + 1 < owner->protocols_.size()) {
      ++plugin;
      owner->send_to(std::move(keep));
      return;
    }
    owner->completed(key_of(value.twin, value.path), value.version, r, plugin);
  }
};

struct Downlink::CommandAttempt final : sdk::OutboundCallback {
  Downlink* owner;
  std::string twin, model, component, name, request, correlation;
  sdk::Duration timeout = 0;
  const model::Content* command = nullptr;
  std::shared_ptr<const model::PayloadValidator> validator;
  std::function<void(CommandResult)> callback;
  std::size_t plugin = 0;
  std::shared_ptr<CommandAttempt> self;

  void send() {
    sdk::OutboundMessage m;
    m.kind = sdk::OutboundKind::kCommand;
    m.twin = twin;
    m.model = model;
    m.component = component;
    m.name = name;
    m.payload = request;
    m.correlation = correlation;
    m.timeout = timeout;
    owner->protocols_[plugin]->send(m, this);
  }

  void done(const sdk::OutboundResult& r) noexcept override {
    std::shared_ptr<CommandAttempt> keep = std::move(self);
    if (r.status.code() == StatusCode::kNotFound && plugin + 1 < owner->protocols_.size()) {
      ++plugin;
      self = std::move(keep);
      send();
      return;
    }
    CommandResult out;
    out.correlation = correlation;
    out.response = std::string(r.payload);
    out.status = r.status;
    const std::string where = twin + ":" + (component.empty() ? "" : component + "/") + name;
    if (r.status.code() == StatusCode::kNotFound)
      out.status = sdk::not_found("no protocol plugin has a command route for this twin", where);
    if (out.status && command->response) {
      if (out.response.empty()) {
        out.status =
            sdk::invalid_argument("the device answered without a payload; the model expects '" +
                                      command->response->name + "'",
                                  where);
      } else {
        model::PayloadScratch scratch;
        auto v = validator->validate_value(out.response, *command->response->schema, scratch);
        if (!v.ok)
          out.status = sdk::invalid_argument("the device's response does not fit the model: " +
                                                 v.error->message + " at " + v.error->path,
                                             where);
      }
    }
    (out.status ? owner->commands_ok_ : owner->commands_failed_).add();
    if (!out.status)
      owner->log_.warn("command failed", {{"twin", twin},
                                          {"command", name},
                                          {"correlation", correlation},
                                          {"error", out.status.message()}});
    try {
      callback(std::move(out));
    } catch (...) {
    }
  }
};

Downlink::Downlink(twin::TwinGraph& graph, std::vector<sdk::ProtocolPlugin*> protocols,
                   MetricsRegistry& metrics, Log& log, const sdk::Clock& clock,
                   sdk::Duration resend, sdk::Duration command_timeout, Persistence* persistence)
    : graph_(graph),
      protocols_(std::move(protocols)),
      metrics_(metrics),
      log_(log),
      clock_(clock),
      resend_(resend),
      command_timeout_(command_timeout),
      persistence_(persistence),
      sent_(metrics.counter("doppel_desired_sent_total", "",
                            "Desired values sent to devices (resends included)")),
      acked_(metrics.counter("doppel_desired_acknowledged_total", "",
                             "Desired values acknowledged by devices")),
      failed_(metrics.counter("doppel_desired_send_failed_total", "",
                              "Desired value sends that failed (no route, broker away)")),
      commands_ok_(metrics.counter("doppel_commands_total", "outcome=ok",
                                   "Commands invoked on devices, by outcome")),
      commands_failed_(metrics.counter("doppel_commands_total", "outcome=failed",
                                       "Commands invoked on devices, by outcome")) {}

Downlink::~Downlink() {
  stop();
}

void Downlink::start() {
  std::lock_guard lock(mutex_);
  if (!stopping_) return;
  stopping_ = false;
  sender_ = std::thread([this] { run(); });
}

void Downlink::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (sender_.joinable()) sender_.join();
}

std::size_t Downlink::pending() const {
  std::lock_guard lock(mutex_);
  return pending_.size();
}

void Downlink::on_change(const twin::ChangeEvent& e) noexcept {
  try {
    switch (e.kind) {
      case twin::ChangeKind::kDesired: {
        std::lock_guard lock(mutex_);
        for (const twin::SlotChange& c : e.slots) {
          const auto index = static_cast<std::size_t>(c.slot);
          const twin::SlotInfo& info = e.twin.layout->slots()[index];
          const twin::SlotState& state = e.twin.slots[index];
          std::string key = key_of(e.twin.id, info.path);
          if (state.sync != twin::SyncStatus::kPending) {
            pending_.erase(key);  // already reported as desired
            continue;
          }
          Pending& p = pending_[key];
          p.twin = std::string(e.twin.id);
          p.model = e.twin.layout->interface().id;
          p.component = info.component ? info.component->name : "";
          p.name = info.content->name;
          p.path = info.path;
          p.value = state.desired.to_json();
          p.version = state.desired_version;
          queue_.push_back(std::move(key));
        }
        pending_count_.store(pending_.size(), std::memory_order_relaxed);
        cv_.notify_all();
        break;
      }
      case twin::ChangeKind::kReported:
      case twin::ChangeKind::kSync: {
        // The ingest path: no lock unless something waits for an acknowledgement. A desired
        // value and the report that settles it are changes of one twin, ordered by its shard
        // lock, so a value added before this report is counted here.
        if (pending_count_.load(std::memory_order_relaxed) == 0) break;
        std::lock_guard lock(mutex_);
        for (const twin::SlotChange& c : e.slots) {
          const auto index = static_cast<std::size_t>(c.slot);
          if (e.twin.slots[index].sync == twin::SyncStatus::kPending) continue;
          pending_.erase(key_of(e.twin.id, e.twin.layout->slots()[index].path));
        }
        pending_count_.store(pending_.size(), std::memory_order_relaxed);
        break;
      }
      case twin::ChangeKind::kTwinDeleted: {
        std::lock_guard lock(mutex_);
        std::string prefix = key_of(e.twin.id, "");
        for (auto it = pending_.lower_bound(prefix);
             it != pending_.end() && it->first.starts_with(prefix);)
          it = pending_.erase(it);
        pending_count_.store(pending_.size(), std::memory_order_relaxed);
        break;
      }
      default:
        break;
    }
  } catch (...) {
    // Out of memory: the value stays desired in the graph and times out there.
  }
}

void Downlink::tick(sdk::Timestamp now) {
  std::lock_guard lock(mutex_);
  bool any = false;
  for (auto& [key, p] : pending_)
    if (!p.in_flight && now - p.last_sent >= resend_) {
      queue_.push_back(key);
      any = true;
    }
  if (any) cv_.notify_all();
}

void Downlink::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::string key = std::move(queue_.front());
    queue_.pop_front();
    auto it = pending_.find(key);
    if (it == pending_.end() || it->second.in_flight) continue;
    it->second.in_flight = true;
    it->second.last_sent = clock_.now();
    Pending snapshot = it->second;
    lock.unlock();
    send(std::move(snapshot));
    lock.lock();
  }
}

void Downlink::send(Pending snapshot) {
  auto attempt = std::make_shared<Attempt>();
  attempt->owner = this;
  attempt->value = std::move(snapshot);
  send_to(std::move(attempt));
}

void Downlink::send_to(std::shared_ptr<Attempt> attempt) {
  sdk::OutboundMessage m;
  m.kind = sdk::OutboundKind::kDesired;
  m.twin = attempt->value.twin;
  m.model = attempt->value.model;
  m.component = attempt->value.component;
  m.name = attempt->value.name;
  m.payload = attempt->value.value;
  m.version = attempt->value.version;
  Attempt* raw = attempt.get();
  raw->self = std::move(attempt);
  sent_.add();
  protocols_[raw->plugin]->send(m, raw);
}

void Downlink::completed(const std::string& key, std::uint32_t version,
                         const sdk::OutboundResult& r, std::size_t) {
  std::string twin, path;
  bool drop = false;
  {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(key);
    if (it == pending_.end() || it->second.version != version) return;  // settled or replaced
    it->second.in_flight = false;
    twin = it->second.twin;
    path = it->second.path;
    if (r.status.code() == StatusCode::kNotFound) {
      drop = true;  // nobody reaches this device: resending cannot help
      pending_.erase(it);
      pending_count_.store(pending_.size(), std::memory_order_relaxed);
    }
  }
  if (!r.status) {
    failed_.add();
    if (drop)
      log_.warn(
          "no protocol plugin has a desired-value route for this twin; the value stays "
          "pending until it is reported back or times out",
          {{"twin", twin}, {"property", path}});
    return;
  }
  if (r.acknowledged_version) {
    if (graph_.acknowledge(twin, path, r.acknowledged_version)) acked_.add();
    if (persistence_) persistence_->commit(nullptr);
  }
}

void Downlink::invoke(const CommandInvocation& command, std::function<void(CommandResult)> done) {
  const std::string where = command.twin + ":" +
                            (command.component.empty() ? "" : command.component + "/") +
                            command.name;
  auto fail = [&](Status s) {
    commands_failed_.add();
    CommandResult r;
    r.status = std::move(s);
    done(std::move(r));
  };
  const model::Interface* iface = nullptr;
  if (!graph_.read(command.twin, [&](const twin::TwinView& t) { iface = &t.layout->interface(); }))
    return fail(sdk::not_found("no twin with this id", command.twin));
  const std::string path =
      command.component.empty() ? command.name : command.component + "/" + command.name;
  const model::Content* c = iface->find_path(path);
  if (!c || c->kind != model::ContentKind::kCommand)
    return fail(sdk::not_found("'" + path + "' is not a command of " + iface->id, where));
  if (protocols_.empty())
    return fail(sdk::not_found("the deployment has no protocol plugin to reach devices", where));

  std::shared_ptr<const model::PayloadValidator> validator;
  {
    std::lock_guard lock(validators_mutex_);
    auto& v = validators_[iface];
    if (!v) v = std::make_shared<model::PayloadValidator>(*iface);
    validator = v;
  }
  if (c->request) {
    if (command.request.empty())
      return fail(sdk::invalid_argument(
          "the command needs a request payload '" + c->request->name + "'", where));
    model::PayloadScratch scratch;
    auto v = validator->validate_value(command.request, *c->request->schema, scratch);
    if (!v.ok)
      return fail(sdk::invalid_argument(
          "the request does not fit the model: " + v.error->message + " at " + v.error->path,
          where));
  } else if (!command.request.empty()) {
    return fail(sdk::invalid_argument("the command takes no request payload", where));
  }

  auto attempt = std::make_shared<CommandAttempt>();
  attempt->owner = this;
  attempt->twin = command.twin;
  attempt->model = iface->id;
  attempt->component = command.component;
  attempt->name = command.name;
  attempt->request = command.request;
  attempt->timeout = command.timeout ? command.timeout : command_timeout_;
  attempt->command = c;
  attempt->validator = std::move(validator);
  attempt->callback = std::move(done);
  {
    std::lock_guard lock(mutex_);
    attempt->correlation = std::to_string(clock_.now() / sdk::kMillisecond) + "-" +
                           std::to_string(++next_correlation_);
  }
  CommandAttempt* raw = attempt.get();
  raw->self = std::move(attempt);
  raw->send();
}

}  // namespace doppel::runtime
