#include "analytics_host.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "doppel/model/json_text.hpp"

namespace doppel::runtime {

using sdk::Status;
using sdk::StatusCode;

namespace {

constexpr std::size_t kMaxQueued = 1'000'000;  // per plugin; past it changes are dropped
constexpr std::size_t kRecentEvents = 10'000;
constexpr std::string_view kAlertPrefix = std::string_view("~alerts\0", 8);

sdk::FieldValue field(const twin::Value& v) {
  sdk::FieldValue f;
  switch (v.kind()) {
    case twin::Value::Kind::kNull:
      break;
    case twin::Value::Kind::kBool:
      f.kind = sdk::FieldValue::Kind::kBool;
      f.boolean = v.as_bool();
      break;
    case twin::Value::Kind::kInteger:
      f.kind = sdk::FieldValue::Kind::kInteger;
      f.integer = v.as_integer();
      f.number = v.as_double();
      break;
    case twin::Value::Kind::kDouble:
      f.kind = sdk::FieldValue::Kind::kNumber;
      f.number = v.as_double();
      break;
    case twin::Value::Kind::kString:
      f.kind = sdk::FieldValue::Kind::kString;
      f.text = v.as_string();
      break;
    case twin::Value::Kind::kJson:
      f.kind = sdk::FieldValue::Kind::kJson;
      f.text = v.as_string();
      break;
  }
  return f;
}

sdk::ValueType value_type(const model::Schema* s) {
  if (!s) return sdk::ValueType::kNone;
  switch (s->kind) {
    case model::SchemaKind::kBoolean:
      return sdk::ValueType::kBoolean;
    case model::SchemaKind::kDouble:
    case model::SchemaKind::kFloat:
    case model::SchemaKind::kInteger:
    case model::SchemaKind::kLong:
      return sdk::ValueType::kNumber;
    case model::SchemaKind::kEnum:
      return sdk::ValueType::kEnum;
    case model::SchemaKind::kString:
    case model::SchemaKind::kDate:
    case model::SchemaKind::kDateTime:
    case model::SchemaKind::kTime:
    case model::SchemaKind::kDuration:
      return sdk::ValueType::kString;
    default:
      return sdk::ValueType::kComplex;
  }
}

sdk::SyncState sync_state(twin::SyncStatus s) {
  switch (s) {
    case twin::SyncStatus::kNone:
      return sdk::SyncState::kNone;
    case twin::SyncStatus::kInSync:
      return sdk::SyncState::kInSync;
    case twin::SyncStatus::kPending:
      return sdk::SyncState::kPending;
    case twin::SyncStatus::kTimedOut:
      return sdk::SyncState::kTimedOut;
  }
  return sdk::SyncState::kNone;
}

// A JSON text as a twin value (typed against the model later, by the graph).
bool parse_value(std::string_view json, twin::Value& out, std::string& error) {
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  if (d.HasParseError()) {
    error = "not JSON: '" + std::string(json.substr(0, 80)) + "'";
    return false;
  }
  if (d.IsNull())
    out = twin::Value();
  else if (d.IsBool())
    out = twin::Value::boolean(d.GetBool());
  else if (d.IsInt64())
    out = twin::Value::integer(d.GetInt64());
  else if (d.IsNumber())
    out = twin::Value::number(d.GetDouble());
  else if (d.IsString())
    out = twin::Value::string(std::string_view(d.GetString(), d.GetStringLength()));
  else {
    rapidjson::StringBuffer b;
    rapidjson::Writer<rapidjson::StringBuffer> w(b);
    d.Accept(w);
    out = twin::Value::json(std::string_view(b.GetString(), b.GetSize()));
  }
  return true;
}

std::string quote(std::string_view s) {
  return model::json_string(s);
}

}  // namespace

std::string EventRecord::to_json() const {
  std::string out = "{\"sequence\":" + std::to_string(sequence) + ",\"type\":" + quote(type) +
                    ",\"twin\":" + quote(twin) + ",\"source\":" + quote(source);
  if (!severity.empty()) out += ",\"severity\":" + quote(severity);
  out += ",\"time\":" + std::to_string(time) + ",\"message\":" + quote(message);
  if (!data.empty()) out += ",\"data\":" + data;
  if (type == "alert.raised")
    out += std::string(",\"acknowledged\":") + (acknowledged ? "true" : "false");
  return out + "}";
}

// The TwinAccess lent to one plugin instance.
class AnalyticsHost::Access final : public sdk::TwinAccess {
 public:
  Access(AnalyticsHost& host, std::string instance)
      : host_(host), instance_(std::move(instance)), state_prefix_(instance_ + '\0') {}

  bool read(std::string_view twin, sdk::TwinVisitor& visitor) noexcept override {
    try {
      return host_.graph_.read(twin, [&](const twin::TwinView& t) {
        thread_local std::vector<sdk::SlotSnapshot> slots;
        slots.clear();
        const auto& infos = t.layout->slots();
        for (std::size_t i = 0; i < infos.size(); ++i) {
          const twin::SlotState& s = t.slots[i];
          sdk::SlotSnapshot snap;
          snap.path = infos[i].path;
          snap.is_property = infos[i].is_property();
          snap.writable = infos[i].content->writable;
          snap.unit = infos[i].content->unit_symbol;
          snap.reported = field(s.reported);
          snap.reported_at = s.reported_at;
          snap.desired = field(s.desired);
          snap.desired_version = s.desired_version;
          snap.sync = sync_state(s.sync);
          slots.push_back(snap);
        }
        sdk::TwinSnapshot view;
        view.id = t.id;
        view.model = t.layout->interface().id;
        view.version = t.version;
        view.last_data_at = t.last_data_at;
        view.stale = t.stale;
        view.slots = slots;
        visitor.visit(view);
      });
    } catch (...) {
      return false;
    }
  }

  void related(std::string_view twin, std::string_view relationship, bool incoming,
               sdk::IdVisitor& visitor) noexcept override {
    try {
      std::vector<std::string> ids;
      if (incoming) {
        for (auto& [source, rel_id] : host_.graph_.incoming(twin)) {
          if (!relationship.empty()) {
            bool match = false;
            host_.graph_.read(source, [&](const twin::TwinView& t) {
              for (const auto& r : t.relationships)
                if (r.target == twin && r.name() == relationship) match = true;
            });
            if (!match) continue;
          }
          ids.push_back(source);
        }
        std::sort(ids.begin(), ids.end());
        ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      } else {
        host_.graph_.read(twin, [&](const twin::TwinView& t) {
          for (const auto& r : t.relationships)
            if (relationship.empty() || r.name() == relationship) ids.push_back(r.target);
        });
      }
      for (const std::string& id : ids)
        if (!visitor.visit(id)) break;
    } catch (...) {
    }
  }

  void twins_of(std::string_view model, sdk::IdVisitor& visitor) noexcept override {
    try {
      std::vector<std::string> ids;
      host_.graph_.for_each_of_model(model, false, [&](const twin::TwinView& t) {
        ids.emplace_back(t.id);
        return true;
      });
      for (const std::string& id : ids)
        if (!visitor.visit(id)) break;
    } catch (...) {
    }
  }

  bool model_is(std::string_view model, std::string_view base) noexcept override {
    const model::Interface* i = host_.graph_.models().find(model);
    return i && i->is_a(base);
  }

  bool describe(std::string_view model, sdk::ModelVisitor& visitor) noexcept override {
    try {
      const twin::TwinLayout* layout = host_.graph_.layout(model);
      if (!layout) return false;
      std::vector<sdk::ModelSlot> slots;
      for (const twin::SlotInfo& s : layout->slots())
        slots.push_back({s.path, s.is_property(), s.content->writable,
                         value_type(s.content->schema), s.content->unit_symbol});
      std::vector<sdk::ModelCommand> commands;
      std::vector<sdk::ModelRelationship> relationships;
      const model::Interface& i = layout->interface();
      auto add_commands = [&](const model::Interface& from, std::string_view component) {
        for (const model::Content* c : from.contents)
          if (c->kind == model::ContentKind::kCommand)
            commands.push_back(
                {component, c->name,
                 c->request ? value_type(c->request->schema) : sdk::ValueType::kNone,
                 c->response ? value_type(c->response->schema) : sdk::ValueType::kNone});
      };
      add_commands(i, "");
      for (const model::Content* c : i.contents) {
        if (c->kind == model::ContentKind::kComponent && c->component)
          add_commands(*c->component, c->name);
        if (c->kind == model::ContentKind::kRelationship)
          relationships.push_back({c->name, c->target});
      }
      visitor.visit({i.id, slots, commands, relationships});
      return true;
    } catch (...) {
      return false;
    }
  }

  Status desire(std::string_view twin, std::string_view path,
                std::string_view json_value) noexcept override {
    try {
      twin::Value v;
      std::string error;
      if (!parse_value(json_value, v, error))
        return sdk::invalid_argument(error, std::string(twin) + "." + std::string(path));
      twin::SlotWrite w{path, std::move(v), 0};
      auto r = host_.runtime_.desire(twin, std::span(&w, 1));
      return r ? Status() : r.status();
    } catch (const std::exception& e) {
      return sdk::internal_error(e.what());
    }
  }

  void invoke(std::string_view twin, std::string_view component, std::string_view name,
              std::string_view request_json, sdk::Duration timeout,
              sdk::CommandCallback* done) noexcept override {
    try {
      CommandInvocation c{std::string(twin), std::string(component), std::string(name),
                          std::string(request_json), timeout};
      host_.runtime_.invoke(c, [done](CommandResult r) { done->done(r.status, r.response); });
    } catch (const std::exception& e) {
      done->done(sdk::internal_error(e.what()), {});
    }
  }

  Status set_derived(std::string_view twin, std::string_view path, std::string_view json_value,
                     sdk::Timestamp time) noexcept override {
    try {
      twin::Value v;
      std::string error;
      if (!parse_value(json_value, v, error))
        return sdk::invalid_argument(error, std::string(twin) + "." + std::string(path));
      twin::SlotWrite w{path, std::move(v), time};
      auto r = host_.graph_.report(twin, std::span(&w, 1));
      if (host_.persistence_) {
        if (r)
          host_.persistence_->commit(nullptr);
        else
          host_.persistence_->discard();
      }
      return r ? Status() : r.status();
    } catch (const std::exception& e) {
      return sdk::internal_error(e.what());
    }
  }

  void publish(const sdk::Event& event) noexcept override {
    try {
      host_.publish(instance_, event);
    } catch (...) {
    }
  }

  Status state_put(std::string_view key, std::string_view value) noexcept override {
    return write_state(key, value, false);
  }
  Status state_erase(std::string_view key) noexcept override { return write_state(key, {}, true); }
  Status state_scan(std::string_view prefix, sdk::StateVisitor& visitor) noexcept override {
    if (!host_.storage_) return sdk::unavailable("storage is not started");
    try {
      struct Strip final : sdk::RecordVisitor {
        sdk::StateVisitor* inner;
        std::size_t skip;
        bool visit(std::string_view k, std::string_view v) noexcept override {
          return inner->visit(k.substr(skip), v);
        }
      } strip;
      strip.inner = &visitor;
      strip.skip = state_prefix_.size();
      return host_.storage_->scan(sdk::Table::kPluginState, state_prefix_ + std::string(prefix),
                                  strip);
    } catch (const std::exception& e) {
      return sdk::internal_error(e.what());
    }
  }

 private:
  Status write_state(std::string_view key, std::string_view value, bool erase) {
    if (!host_.storage_) return sdk::unavailable("storage is not started");
    try {
      std::string k = state_prefix_ + std::string(key);
      sdk::WriteOp op{sdk::Table::kPluginState, erase, k, value};
      host_.storage_->write({std::span(&op, 1), {}}, nullptr);
      return {};
    } catch (const std::exception& e) {
      return sdk::internal_error(e.what());
    }
  }

  AnalyticsHost& host_;
  std::string instance_;
  std::string state_prefix_;
};

AnalyticsHost::AnalyticsHost(Runtime& runtime, twin::TwinGraph& graph, MetricsRegistry& metrics,
                             Log& log, const sdk::Clock& clock)
    : runtime_(runtime), graph_(graph), metrics_(metrics), log_(log), clock_(clock) {}

AnalyticsHost::~AnalyticsHost() {
  stop();
}

sdk::TwinAccess* AnalyticsHost::access_for(const std::string& name) {
  auto& a = access_[name];
  if (!a) a = std::make_unique<Access>(*this, name);
  return a.get();
}

void AnalyticsHost::set_storage(sdk::StoragePlugin* storage, Persistence* persistence) {
  storage_ = storage;
  persistence_ = persistence;
}

void AnalyticsHost::recover() {
  if (!storage_) return;
  struct Collect final : sdk::RecordVisitor {
    std::vector<std::string> values;
    bool visit(std::string_view, std::string_view v) noexcept override {
      values.emplace_back(v);
      return true;
    }
  } c;
  if (Status s = storage_->scan(sdk::Table::kPluginState, kAlertPrefix, c); !s) {
    log_.warn("active alerts not restored", {{"error", s.to_string()}});
    return;
  }
  std::lock_guard lock(events_mutex_);
  for (const std::string& v : c.values) {
    rapidjson::Document d;
    d.Parse(v.data(), v.size());
    if (d.HasParseError() || !d.IsObject()) continue;
    auto str = [&](const char* k) {
      auto it = d.FindMember(k);
      return it != d.MemberEnd() && it->value.IsString()
                 ? std::string(it->value.GetString(), it->value.GetStringLength())
                 : std::string();
    };
    EventRecord r;
    r.type = str("type");
    r.twin = str("twin");
    r.source = str("source");
    r.severity = str("severity");
    r.message = str("message");
    if (auto it = d.FindMember("time"); it != d.MemberEnd() && it->value.IsInt64())
      r.time = it->value.GetInt64();
    if (auto it = d.FindMember("data"); it != d.MemberEnd() && it->value.IsObject()) {
      rapidjson::StringBuffer b;
      rapidjson::Writer<rapidjson::StringBuffer> w(b);
      it->value.Accept(w);
      r.data.assign(b.GetString(), b.GetSize());
    }
    if (auto it = d.FindMember("acknowledged"); it != d.MemberEnd() && it->value.IsBool())
      r.acknowledged = it->value.GetBool();
    r.sequence = ++event_sequence_;
    active_[{r.twin, r.source}] = std::move(r);
  }
  if (!active_.empty())
    log_.info("active alerts restored", {{"alerts", std::to_string(active_.size())}});
}

void AnalyticsHost::attach(const std::string& name, sdk::AnalyticsPlugin* plugin) {
  auto d = std::make_unique<Delivery>();
  d->name = name;
  d->plugin = plugin;
  deliveries_.push_back(std::move(d));
}

void AnalyticsHost::start() {
  if (started_) return;
  started_ = true;
  for (auto& d : deliveries_) {
    Delivery* raw = d.get();
    raw->stopping = false;
    raw->thread = std::thread([this, raw] { run(*raw); });
  }
}

void AnalyticsHost::stop() {
  if (!started_) return;
  started_ = false;
  for (auto& d : deliveries_) {
    {
      std::lock_guard lock(d->mutex);
      d->stopping = true;
    }
    d->cv.notify_all();
  }
  for (auto& d : deliveries_)
    if (d->thread.joinable()) d->thread.join();
}

void AnalyticsHost::run(Delivery& d) {
  std::deque<OwnedChange> batch;
  std::vector<sdk::TwinChange> changes;
  std::vector<sdk::ChangedSlot> slots;
  for (;;) {
    {
      std::unique_lock lock(d.mutex);
      d.busy = false;
      d.idle.notify_all();
      d.cv.wait(lock, [&] { return d.stopping || !d.queue.empty(); });
      if (d.queue.empty()) return;  // stopping with nothing left
      batch.swap(d.queue);
      d.busy = true;
    }
    // Changes between ticks go as one batch; ticks keep their place in the order.
    auto flush = [&](std::size_t from, std::size_t to) {
      if (from == to) return;
      changes.clear();
      slots.clear();
      std::size_t total = 0;
      for (std::size_t i = from; i < to; ++i)
        total += batch[i].slots.size();
      slots.reserve(total);
      for (std::size_t i = from; i < to; ++i) {
        const OwnedChange& c = batch[i];
        const std::size_t first = slots.size();
        for (const OwnedSlot& s : c.slots)
          slots.push_back({s.path, field(s.value), s.time});
        sdk::TwinChange tc;
        tc.kind = c.kind;
        tc.twin = c.twin;
        tc.model = c.model;
        tc.version = c.version;
        tc.stale = c.stale;
        tc.at = c.at;
        tc.slots = std::span<const sdk::ChangedSlot>(slots.data() + first, c.slots.size());
        changes.push_back(tc);
      }
      d.plugin->on_changes(changes);
    };
    std::size_t start = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!batch[i].is_tick) continue;
      flush(start, i);
      d.plugin->on_tick(batch[i].at);
      start = i + 1;
    }
    flush(start, batch.size());
    batch.clear();
  }
}

void AnalyticsHost::enqueue(OwnedChange change) {
  for (std::size_t i = 0; i < deliveries_.size(); ++i) {
    Delivery& d = *deliveries_[i];
    {
      std::lock_guard lock(d.mutex);
      if (d.queue.size() >= kMaxQueued) {
        if (d.dropped++ == 0)
          log_.error("analytics plugin falls behind; changes are dropped",
                     {{"plugin", d.name}, {"queued", std::to_string(d.queue.size())}});
        metrics_
            .counter("doppel_analytics_dropped_total", "plugin=" + d.name,
                     "Twin changes not delivered to a plugin that fell behind")
            .add();
        continue;
      }
      if (i + 1 == deliveries_.size())
        d.queue.push_back(std::move(change));
      else
        d.queue.push_back(change);
    }
    d.cv.notify_one();
  }
}

void AnalyticsHost::on_change(const twin::ChangeEvent& e) noexcept {
  if (deliveries_.empty()) return;
  try {
    OwnedChange c;
    switch (e.kind) {
      case twin::ChangeKind::kTwinCreated:
        c.kind = sdk::TwinChangeKind::kCreated;
        break;
      case twin::ChangeKind::kTwinDeleted:
        c.kind = sdk::TwinChangeKind::kDeleted;
        break;
      case twin::ChangeKind::kReported:
        c.kind = sdk::TwinChangeKind::kReported;
        break;
      case twin::ChangeKind::kDesired:
        c.kind = sdk::TwinChangeKind::kDesired;
        break;
      case twin::ChangeKind::kSync:
        c.kind = sdk::TwinChangeKind::kSync;
        break;
      case twin::ChangeKind::kStale:
        c.kind = sdk::TwinChangeKind::kStale;
        break;
      case twin::ChangeKind::kRelationshipAdded:
      case twin::ChangeKind::kRelationshipRemoved:
        c.kind = sdk::TwinChangeKind::kRelationships;
        break;
    }
    c.twin = std::string(e.twin.id);
    c.model = e.twin.layout->interface().id;
    c.version = e.twin.version;
    c.stale = e.twin.stale;
    c.at = clock_.now();
    c.slots.reserve(e.slots.size());
    for (const twin::SlotChange& s : e.slots)
      c.slots.push_back({e.twin.layout->slots()[static_cast<std::size_t>(s.slot)].path,
                         s.after ? *s.after : twin::Value(), s.time});
    enqueue(std::move(c));
  } catch (...) {
    // Out of memory: the change is lost for analytics only; the graph and storage have it.
  }
}

void AnalyticsHost::tick(sdk::Timestamp now) {
  if (deliveries_.empty()) return;
  OwnedChange t;
  t.is_tick = true;
  t.at = now;
  enqueue(std::move(t));
}

void AnalyticsHost::drain() {
  for (auto& d : deliveries_) {
    std::unique_lock lock(d->mutex);
    d->idle.wait(lock, [&] { return (d->queue.empty() && !d->busy) || !started_; });
  }
}

void AnalyticsHost::publish(const std::string& instance, const sdk::Event& e) {
  EventRecord r;
  r.type = std::string(e.type);
  r.twin = std::string(e.twin);
  r.source = e.source.empty() ? instance : std::string(e.source);
  r.severity = std::string(e.severity);
  r.time = e.time ? e.time : clock_.now();
  r.message = std::string(e.message);
  r.data = std::string(e.data);
  metrics_.counter("doppel_events_total", "type=" + r.type, "Events published by services").add();
  std::vector<EventSubscriber> subscribers;
  {
    std::lock_guard lock(events_mutex_);
    r.sequence = ++event_sequence_;
    const auto key = std::make_pair(r.twin, r.source);
    std::string storage_key = std::string(kAlertPrefix) + r.twin + '\0' + r.source;
    if (r.type == "alert.raised") {
      active_[key] = r;
      if (storage_) {
        std::string value = r.to_json();
        sdk::WriteOp op{sdk::Table::kPluginState, false, storage_key, value};
        storage_->write({std::span(&op, 1), {}}, nullptr);
      }
    } else if (r.type == "alert.cleared") {
      active_.erase(key);
      if (storage_) {
        sdk::WriteOp op{sdk::Table::kPluginState, true, storage_key, {}};
        storage_->write({std::span(&op, 1), {}}, nullptr);
      }
    }
    recent_.push_back(r);
    if (recent_.size() > kRecentEvents) recent_.pop_front();
    for (auto& [id, s] : subscribers_)
      subscribers.push_back(s);
  }
  const bool alert = r.type.starts_with("alert.");
  log_.log(alert && r.type == "alert.raised" && r.severity != "info" ? sdk::LogLevel::kWarn
                                                                     : sdk::LogLevel::kInfo,
           r.type, {{"twin", r.twin}, {"source", r.source}, {"message", r.message}});
  for (auto& s : subscribers) {
    try {
      s(r);
    } catch (...) {
    }
  }
}

std::vector<EventRecord> AnalyticsHost::active_alerts() const {
  std::lock_guard lock(events_mutex_);
  std::vector<EventRecord> out;
  for (auto& [k, r] : active_)
    out.push_back(r);
  return out;
}

std::vector<EventRecord> AnalyticsHost::recent_events(std::size_t limit) const {
  std::lock_guard lock(events_mutex_);
  std::vector<EventRecord> out;
  for (auto it = recent_.rbegin(); it != recent_.rend() && out.size() < limit; ++it)
    out.push_back(*it);
  return out;
}

bool AnalyticsHost::acknowledge_alert(const std::string& twin, const std::string& source) {
  std::lock_guard lock(events_mutex_);
  auto it = active_.find({twin, source});
  if (it == active_.end()) return false;
  it->second.acknowledged = true;
  if (storage_) {
    std::string storage_key = std::string(kAlertPrefix) + twin + '\0' + source;
    std::string value = it->second.to_json();
    sdk::WriteOp op{sdk::Table::kPluginState, false, storage_key, value};
    storage_->write({std::span(&op, 1), {}}, nullptr);
  }
  return true;
}

int AnalyticsHost::subscribe(EventSubscriber subscriber) {
  std::lock_guard lock(events_mutex_);
  subscribers_[++next_subscriber_] = std::move(subscriber);
  return next_subscriber_;
}

void AnalyticsHost::unsubscribe(int id) {
  std::lock_guard lock(events_mutex_);
  subscribers_.erase(id);
}

}  // namespace doppel::runtime
