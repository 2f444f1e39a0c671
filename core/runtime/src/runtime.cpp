#include "doppel/runtime/runtime.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "analytics_host.hpp"
#include "cbor_json.hpp"
#include "doppel/host/plugin_host.hpp"
#include "doppel/runtime/mapping.hpp"
#include "doppel/runtime/persistence.hpp"
#include "doppel/runtime/update_pipeline.hpp"
#include "doppel/sdk/ingest.hpp"
#include "doppel/twin/property_index.hpp"
#include "downlink.hpp"

namespace doppel::runtime {

using sdk::Status;
using sdk::StatusCode;

namespace {

class WaitCallback final : public sdk::WriteCallback {
 public:
  void done(const Status& s) noexcept override {
    std::lock_guard lock(mutex_);
    status_ = s;
    done_ = true;
    cv_.notify_all();
  }
  Status wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return done_; });
    return status_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  Status status_;
};

// The deployment's values (typed against the models when it was loaded) as twin values.
twin::Value to_twin_value(const PropertyValue& v) {
  switch (v.kind) {
    case PropertyValue::Kind::kNull:
      return twin::Value();
    case PropertyValue::Kind::kBool:
      return twin::Value::boolean(v.boolean);
    case PropertyValue::Kind::kInteger:
      return twin::Value::integer(v.integer);
    case PropertyValue::Kind::kNumber:
      return twin::Value::number(v.number);
    case PropertyValue::Kind::kString:
      return twin::Value::string(v.text);
    case PropertyValue::Kind::kJson:
      return twin::Value::json(v.text);
  }
  return twin::Value();
}

std::string json_escape(std::string_view s) {
  return twin::Value::string(s).to_json();
}

std::string big_endian(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

}  // namespace

// Routes one protocol plugin's messages through the mapping engine into the update pipeline.
class IngestRouter final : public sdk::IngestSink {
 public:
  IngestRouter(std::string plugin, std::vector<Route> routes, twin::TwinGraph& graph,
               UpdatePipeline& pipeline, sdk::StoragePlugin& storage, MetricsRegistry& metrics,
               Log& log, const sdk::Clock& clock)
      : plugin_(std::move(plugin)),
        routes_(std::move(routes)),
        graph_(graph),
        pipeline_(pipeline),
        storage_(storage),
        metrics_(metrics),
        log_(log),
        clock_(clock),
        accepted_(metrics.counter("doppel_messages_in_total",
                                  "plugin=" + plugin_ + ",outcome=accepted",
                                  "Device messages received, by plugin and outcome")),
        rejected_(metrics.counter("doppel_messages_in_total",
                                  "plugin=" + plugin_ + ",outcome=rejected",
                                  "Device messages received, by plugin and outcome")) {}

  const std::vector<Route>& routes() const { return routes_; }

  void ingest(const sdk::InboundMessage& msg, sdk::IngestCallback* done) noexcept override {
    try {
      if (!msg.refused_reason.empty())
        return reject(msg, {std::string(msg.refused_reason), std::string(msg.refused_detail)},
                      done);
      const Route* route = nullptr;
      for (const Route& r : routes_)
        if ((msg.route.empty() || r.name() == msg.route) && r.matches(msg.topic)) {
          route = &r;
          break;
        }
      if (!route)
        return reject(
            msg, {"no-route", "no ingest route matches topic '" + std::string(msg.topic) + "'"},
            done);
      std::string_view payload = msg.payload;
      std::string decoded;  // the JSON form of a CBOR payload
      if (msg.content_type == "application/cbor") {
        std::string why;
        if (!cbor_to_json(msg.payload, decoded, why))
          return reject(msg, {"not-cbor", "payload on '" + std::string(msg.topic) + "': " + why},
                        done);
        payload = decoded;
      } else if (!msg.content_type.empty() && msg.content_type != "application/json") {
        return reject(
            msg,
            {"unsupported-content-type", "payload on '" + std::string(msg.topic) + "' is " +
                                             std::string(msg.content_type) +
                                             "; send application/json or application/cbor"},
            done);
      }
      std::vector<MappedUpdate> updates;
      MappingError error;
      sdk::Timestamp at = msg.received_at ? msg.received_at : clock_.now();
      if (!route->map(msg.topic, payload, at, graph_, updates, error))
        return reject(msg, error, done);
      if (!msg.device.empty())
        for (const MappedUpdate& u : updates)
          if (!sdk::twin_in_scope(msg.device_twins, u.twin))
            return reject(
                msg,
                {"not-owner", "device '" + std::string(msg.device) + "' may not write twin '" +
                                  u.twin + "' (it may write: " +
                                  (msg.device_twins.empty() ? std::string("no twins")
                                                            : std::string(msg.device_twins)) +
                                  ")"},
                done);
      if (updates.empty()) {
        accepted_.add();
        if (done) done->done({Status(), 0});
        return;
      }
      // One acknowledgement for the whole message, once every twin update is durable.
      struct Join {
        std::atomic<std::size_t> remaining;
        std::atomic<std::uint32_t> applied{0};
        std::mutex mutex;
        Status first_error;
        sdk::IngestCallback* done;
      };
      auto join = std::make_shared<Join>();
      join->remaining = updates.size();
      join->done = done;
      for (MappedUpdate& u : updates) {
        TwinUpdate tu{std::move(u.twin), std::move(u.writes), false, std::nullopt};
        pipeline_.submit(std::move(tu), [this, join](const Status& s, std::uint64_t) {
          if (s)
            ++join->applied;
          else {
            std::lock_guard lock(join->mutex);
            if (join->first_error) join->first_error = s;
          }
          if (--join->remaining == 0) {
            if (join->first_error)
              accepted_.add();
            else
              rejected_.add();
            if (join->done) join->done->done({join->first_error, join->applied.load()});
          }
        });
      }
    } catch (const std::exception& e) {
      if (done) done->done({sdk::internal_error(e.what()), 0});
    }
  }

 private:
  void reject(const sdk::InboundMessage& msg, const MappingError& error,
              sdk::IngestCallback* done) {
    rejected_.add();
    metrics_
        .counter("doppel_dead_letters_total", "reason=" + error.reason,
                 "Messages dead-lettered, by reason")
        .add();
    // Logged once per cause per minute: a flood of bad messages must not flood the log.
    sdk::Timestamp now = clock_.now();
    {
      std::lock_guard lock(log_mutex_);
      auto& last = last_logged_[error.reason];
      if (last == 0 || now - last >= sdk::kMinute) {
        last = now;
        log_.warn("message rejected and dead-lettered", {{"plugin", plugin_},
                                                         {"reason", error.reason},
                                                         {"topic", msg.topic},
                                                         {"detail", error.message}});
      }
    }
    std::string key = big_endian(static_cast<std::uint64_t>(now)) + big_endian(++sequence_);
    std::string value = "{\"time\":" + std::to_string(now) + ",\"plugin\":" + json_escape(plugin_) +
                        ",\"topic\":" + json_escape(msg.topic) +
                        ",\"reason\":" + json_escape(error.reason) +
                        ",\"message\":" + json_escape(error.message) +
                        ",\"payload\":" + json_escape(msg.payload) + "}";
    sdk::WriteOp op{sdk::Table::kDeadLetters, false, key, value};
    struct Done final : sdk::WriteCallback {
      sdk::IngestCallback* cb;
      Status why;
      void done(const Status&) noexcept override {
        if (cb) cb->done({why, 0});
        delete this;
      }
    };
    auto* d = new Done();
    d->cb = done;
    d->why = sdk::invalid_argument(error.message, error.reason);
    storage_.write({std::span(&op, 1), {}}, d);
  }

  std::string plugin_;
  std::vector<Route> routes_;
  twin::TwinGraph& graph_;
  UpdatePipeline& pipeline_;
  sdk::StoragePlugin& storage_;
  MetricsRegistry& metrics_;
  Log& log_;
  const sdk::Clock& clock_;
  sdk::Counter& accepted_;
  sdk::Counter& rejected_;
  std::atomic<std::uint64_t> sequence_{0};
  std::mutex log_mutex_;
  std::unordered_map<std::string, sdk::Timestamp> last_logged_;
};

struct Runtime::Impl {
  Deployment deployment;
  std::shared_ptr<const model::ModelRegistry> models;
  RuntimeOptions options;
  sdk::SystemClock system_clock;
  const sdk::Clock* clock;
  std::unique_ptr<Log> log;
  std::vector<std::unique_ptr<Log>> plugin_logs;
  std::deque<std::string> plugin_data_dirs;  // PluginContext::data_dir views point here
  MetricsRegistry metrics;
  std::unique_ptr<twin::TwinGraph> graph;
  PluginSpec default_storage;  // memory, when the deployment names no storage
  std::unique_ptr<host::LoadedPlugin> storage;
  std::unique_ptr<Persistence> persistence;
  std::unique_ptr<UpdatePipeline> pipeline;
  std::vector<std::unique_ptr<IngestRouter>> routers;
  // Declared before the plugins: destroyed after them, as plugin callbacks may still come in.
  std::unique_ptr<Downlink> downlink;              // when there are protocol plugins
  std::unique_ptr<AnalyticsHost> analytics;        // services: deliveries, TwinAccess, events
  std::unique_ptr<twin::PropertyIndexes> indexes;  // the deployment's `indexes:`
  std::vector<std::unique_ptr<host::LoadedPlugin>> plugins;  // non-storage, in start order
  std::thread scheduler;
  std::mutex scheduler_mutex;
  std::condition_variable scheduler_cv;
  bool stopping = false;
  bool running = false;

  void run_scheduler() {
    std::unique_lock lock(scheduler_mutex);
    while (!scheduler_cv.wait_for(lock, std::chrono::nanoseconds(options.tick),
                                  [&] { return stopping; })) {
      lock.unlock();
      sdk::Timestamp now = clock->now();
      std::size_t stale = graph->update_staleness(now);
      std::size_t expired = graph->expire_pending(now - options.sync_timeout);
      if (downlink) downlink->tick(now);
      analytics->tick(now);
      persistence->commit(nullptr);
      if (stale) log->info("staleness changed", {{"twins", std::to_string(stale)}});
      if (expired) log->warn("desired values timed out", {{"properties", std::to_string(expired)}});
      lock.lock();
    }
  }
};

Runtime::Runtime(Deployment deployment, std::shared_ptr<const model::ModelRegistry> models,
                 RuntimeOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->deployment = std::move(deployment);
  impl_->models = std::move(models);
  impl_->clock = options.clock ? options.clock : &impl_->system_clock;
  if (options.log) {
    impl_->log = std::move(options.log);
  } else {
    impl_->log = std::make_unique<Log>("runtime", impl_->deployment.logging);
  }
  impl_->options = std::move(options);
  impl_->graph =
      std::make_unique<twin::TwinGraph>(impl_->models, twin::TwinGraphOptions{0, impl_->clock});
  for (twin::ChangeListener* l : impl_->options.listeners)
    impl_->graph->add_listener(l);
  impl_->analytics = std::make_unique<AnalyticsHost>(*this, *impl_->graph, impl_->metrics,
                                                     *impl_->log, *impl_->clock);
}

Runtime::~Runtime() {
  stop();
}

twin::TwinGraph& Runtime::graph() {
  return *impl_->graph;
}
UpdatePipeline& Runtime::pipeline() {
  return *impl_->pipeline;
}
sdk::StoragePlugin& Runtime::storage() {
  return impl_->storage->as<sdk::StoragePlugin>();
}
MetricsRegistry& Runtime::metrics() {
  return impl_->metrics;
}
Log& Runtime::log() {
  return *impl_->log;
}
const Deployment& Runtime::deployment() const {
  return impl_->deployment;
}

sdk::Plugin* Runtime::plugin(std::string_view name) {
  for (auto& p : impl_->plugins)
    if (p->name() == name) return &p->instance();
  if (impl_->storage && impl_->storage->name() == name) return &impl_->storage->instance();
  return nullptr;
}

twin::PropertyIndexes* Runtime::indexes() {
  return impl_->indexes.get();
}

sdk::Expected<std::uint64_t> Runtime::desire(std::string_view twin,
                                             std::span<const twin::SlotWrite> writes,
                                             std::optional<std::uint64_t> if_match) {
  // The downlink sees the change as a graph event and delivers it; persistence records it.
  auto version = impl_->graph->desire(twin, writes, if_match);
  if (version && impl_->persistence) impl_->persistence->commit(nullptr);
  return version;
}

void Runtime::invoke(const CommandInvocation& command, std::function<void(CommandResult)> done) {
  if (!impl_->downlink) {
    CommandResult r;
    r.status =
        sdk::not_found("the deployment has no protocol plugin to reach devices", command.twin);
    done(std::move(r));
    return;
  }
  impl_->downlink->invoke(command, std::move(done));
}

CommandResult Runtime::invoke_and_wait(const CommandInvocation& command) {
  auto promise = std::make_shared<std::promise<CommandResult>>();
  auto future = promise->get_future();
  invoke(command, [promise](CommandResult r) { promise->set_value(std::move(r)); });
  return future.get();
}

std::vector<EventRecord> Runtime::active_alerts() const {
  return impl_->analytics->active_alerts();
}
std::vector<EventRecord> Runtime::recent_events(std::size_t limit) const {
  return impl_->analytics->recent_events(limit);
}
bool Runtime::acknowledge_alert(const std::string& twin, const std::string& source) {
  return impl_->analytics->acknowledge_alert(twin, source);
}
int Runtime::subscribe_events(EventSubscriber subscriber) {
  return impl_->analytics->subscribe(std::move(subscriber));
}
void Runtime::unsubscribe_events(int id) {
  impl_->analytics->unsubscribe(id);
}
void Runtime::publish_event(const sdk::Event& event) {
  impl_->analytics->publish("runtime", event);
}

void Runtime::tick_now() {
  Impl& m = *impl_;
  if (!m.running) return;
  sdk::Timestamp now = m.clock->now();
  m.graph->update_staleness(now);
  m.graph->expire_pending(now - m.options.sync_timeout);
  if (m.downlink) m.downlink->tick(now);
  m.persistence->commit(nullptr);
  m.analytics->tick(now);
}

Status Runtime::commit() {
  if (!impl_->persistence) return {};
  WaitCallback w;
  impl_->persistence->commit(&w);
  return w.wait();
}

void Runtime::drain_analytics() {
  if (impl_->pipeline) impl_->pipeline->drain();
  impl_->analytics->drain();
}

Status Runtime::flush() {
  if (impl_->pipeline) impl_->pipeline->drain();
  if (!impl_->storage) return {};
  return storage().flush();
}

sdk::Expected<StartReport> Runtime::start() {
  Impl& m = *impl_;
  Deployment& d = m.deployment;
  StartReport report;
  std::vector<std::filesystem::path> extra = d.plugin_path;
  extra.insert(extra.end(), m.options.plugin_path.begin(), m.options.plugin_path.end());
  host::PluginHost host(host::PluginSearchPath::standard(extra));

  // A library given as a relative path is relative to the deployment file, like `models:`.
  auto library_of = [&](const PluginSpec& p) {
    std::filesystem::path lib(p.library);
    if (p.library.find('/') == std::string::npos || lib.is_absolute()) return p.library;
    return (d.file.parent_path() / lib).lexically_normal().string();
  };

  // 1. Load and configure every plugin; collect every refusal before starting anything.
  std::string errors;
  auto context_for = [&](const std::string& name) {
    m.plugin_logs.push_back(m.log->child(name));
    sdk::PluginContext ctx;
    ctx.instance_name = name;  // `name` lives in the deployment, owned by the runtime
    ctx.log = m.plugin_logs.back().get();
    ctx.clock = m.clock;
    ctx.metrics = &m.metrics;
    if (!d.data_dir.empty()) {
      std::filesystem::path dir = d.data_dir / name;
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (ec)
        errors += d.file.string() + ": data_dir: cannot create " + dir.string() + " for plugin '" +
                  name + "': " + ec.message() +
                  "; make data_dir writable for the user running doppel\n";
      else
        ctx.data_dir = m.plugin_data_dirs.emplace_back(dir.string());
    }
    return ctx;
  };
  const PluginSpec* storage_spec = d.storage();
  const std::string default_where = d.file.string() + " (default storage)";
  m.default_storage = {"store", sdk::PluginKind::kStorage, "memory", default_where,
                       ConfigBlock::missing(default_where)};
  const PluginSpec& sspec = storage_spec ? *storage_spec : m.default_storage;
  {
    host::PluginRequest req{
        sspec.name, sspec.kind, library_of(sspec), &sspec.config(), context_for(sspec.name),
        sspec.where};
    auto loaded = host.load(req);
    if (!loaded)
      errors += loaded.status().to_string() + "\n";
    else
      m.storage = std::move(*loaded);
  }
  // Protocol plugins get an ingest router; it needs the pipeline, which needs storage: the
  // routers are created first and bound to services that exist before any plugin starts.
  std::vector<std::pair<const PluginSpec*, std::vector<Route>>> protocol_routes;
  for (const PluginSpec& p : d.plugins) {
    if (p.kind != sdk::PluginKind::kProtocol) continue;
    auto routes = compile_routes(p.config().get("ingest"));
    if (!routes)
      errors += routes.status().to_string() + "\n";
    else
      protocol_routes.emplace_back(&p, std::move(*routes));
  }
  if (m.storage) {
    m.persistence = std::make_unique<Persistence>(storage());
    m.graph->add_listener(m.persistence.get());
    m.pipeline = std::make_unique<UpdatePipeline>(
        *m.graph, m.persistence.get(),
        m.options.workers ? m.options.workers : std::max(1u, std::thread::hardware_concurrency()));
    for (auto& [spec, routes] : protocol_routes)
      m.routers.push_back(std::make_unique<IngestRouter>(spec->name, std::move(routes), *m.graph,
                                                         *m.pipeline, storage(), m.metrics, *m.log,
                                                         *m.clock));
  }
  // Start order: analytics and actuators before protocols, so nothing arrives unobserved.
  std::vector<const PluginSpec*> order;
  for (auto kind :
       {sdk::PluginKind::kAnalytics, sdk::PluginKind::kActuator, sdk::PluginKind::kProtocol})
    for (const PluginSpec& p : d.plugins)
      if (p.kind == kind) order.push_back(&p);
  std::size_t router_index = 0;
  for (const PluginSpec* p : order) {
    host::PluginRequest req{p->name, p->kind, library_of(*p), &p->config(), context_for(p->name),
                            p->where};
    if (p->kind == sdk::PluginKind::kAnalytics || p->kind == sdk::PluginKind::kActuator) {
      req.context.twins = m.analytics->access_for(p->name);
      req.context.rules = &d.rules.node();
      req.context.derived = &d.derived.node();
    }
    if (p->kind == sdk::PluginKind::kProtocol && router_index < m.routers.size())
      req.context.ingest = m.routers[router_index++].get();
    auto loaded = host.load(req);
    if (!loaded)
      errors += loaded.status().to_string() + "\n";
    else
      m.plugins.push_back(std::move(*loaded));
  }
  if (!errors.empty() || !m.options.start_plugins) {
    m.plugins.clear();
    m.routers.clear();
    m.pipeline.reset();
    m.storage.reset();
    if (!errors.empty()) {
      errors.pop_back();
      return Status(StatusCode::kInvalidArgument, errors);
    }
    return report;
  }

  // Indexes follow every change from here on; twins restored from storage are added by build().
  if (!d.indexes.empty()) {
    m.indexes = std::make_unique<twin::PropertyIndexes>(*m.graph);
    m.graph->add_listener(m.indexes.get());
    for (const IndexSpec& ix : d.indexes)
      if (Status s = m.indexes->add(ix.model, ix.property); !s)
        return s.with_context("indexes: " + ix.model + " " + ix.property);
  }
  {
    std::vector<sdk::ProtocolPlugin*> protocols;
    for (auto& p : m.plugins)
      if (p->descriptor().kind == sdk::PluginKind::kProtocol)
        protocols.push_back(&p->as<sdk::ProtocolPlugin>());
    if (!protocols.empty()) {
      m.downlink = std::make_unique<Downlink>(*m.graph, std::move(protocols), m.metrics, *m.log,
                                              *m.clock, m.options.desired_resend,
                                              m.options.command_timeout, m.persistence.get());
      m.graph->add_listener(m.downlink.get());
    }
  }

  // 2. Storage first, then the state it holds.
  if (Status s = m.storage->start(); !s) return s;
  m.log->info("storage started", {{"plugin", sspec.name}, {"library", sspec.library}});
  auto recovered = m.persistence->recover(*m.graph);
  if (!recovered) return recovered.status();
  report.twins_recovered = recovered->twins;
  for (const std::string& p : recovered->problems)
    m.log->warn("stored record not restored", {{"problem", p}});
  if (recovered->dropped_slots)
    m.log->warn("stored values dropped: their properties are no longer in the models",
                {{"values", std::to_string(recovered->dropped_slots)}});
  {
    // The model set fingerprint tells operators when stored state was written against other models.
    struct Get final : sdk::RecordVisitor {
      std::string value;
      bool visit(std::string_view, std::string_view v) noexcept override {
        return value = std::string(v), true;
      }
    } previous;
    (void)storage().get(sdk::Table::kMeta, "models.fingerprint",
                        previous);  // absent on a first start
    const std::string& now = m.models->fingerprint();
    if (!previous.value.empty() && previous.value != now)
      m.log->warn("the model set changed since the state was stored",
                  {{"before", previous.value}, {"now", now}});
    sdk::WriteOp op{sdk::Table::kMeta, false, "models.fingerprint", now};
    WaitCallback w;
    storage().write({std::span(&op, 1), {}}, &w);
    if (Status s = w.wait(); !s) return s;
  }

  // 3. Apply the deployment: create what is missing, report what is no longer declared.
  std::unordered_set<std::string> declared;
  const bool track = report.twins_recovered > 0;
  std::size_t since_commit = 0;
  auto commit_every = [&](bool force) -> Status {
    if (!force && ++since_commit < 8192) return {};
    since_commit = 0;
    WaitCallback w;
    m.persistence->commit(&w);
    return w.wait();
  };
  for (const TwinSpec& t : d.twins) {
    const model::Interface* iface = m.models->find(t.model);
    sdk::Duration period =
        t.expected_update_period ? t.expected_update_period : d.default_period(*iface);
    for (const TwinInstance& twin : t.instances()) {
      if (track) declared.insert(twin.id);
      if (track && m.graph->contains(twin.id)) continue;
      twin::CreateTwin c{twin.id, t.model, {}, period};
      for (const auto& [path, value] : twin.properties)
        c.properties.push_back({path, to_twin_value(value), 0});
      if (Status s = m.graph->create(c); !s) return s.with_context(t.where);
      ++report.twins_created;
      if (Status s = commit_every(false); !s) return s;
    }
  }
  for (const RelationshipSpec& r : d.relationships) {
    for (const RelationshipInstance& rel : r.instances()) {
      bool exists = false;
      if (track)
        m.graph->read(rel.source, [&](const twin::TwinView& t) {
          for (const auto& have : t.relationships)
            if (have.id() == rel.id) exists = true;
        });
      if (exists) continue;
      twin::CreateRelationship c{rel.source, r.name, rel.target, rel.id, {}};
      for (const auto& [name, value] : rel.properties)
        c.properties.emplace_back(std::string(name), to_twin_value(value));
      if (Status s = m.graph->relate(c); !s) return s.with_context(r.where);
      ++report.relationships_created;
      if (Status s = commit_every(false); !s) return s;
    }
  }
  if (Status s = commit_every(true); !s) return s;
  if (track)
    m.graph->for_each([&](const twin::TwinView& t) {
      if (!declared.count(std::string(t.id))) report.orphans.emplace_back(t.id);
      return true;
    });
  if (!report.orphans.empty())
    m.log->warn(
        "stored twins no longer in the deployment are kept",
        {{"count", std::to_string(report.orphans.size())}, {"first", report.orphans.front()}});
  if (m.indexes) m.indexes->build();
  m.analytics->set_storage(&storage(), m.persistence.get());
  m.analytics->recover();
  m.log->info("twins ready",
              {{"recovered", std::to_string(report.twins_recovered)},
               {"created", std::to_string(report.twins_created)},
               {"relationships_created", std::to_string(report.relationships_created)},
               {"total", std::to_string(m.graph->size())}});

  // 4. Plugins, then the scheduler. Analytics plugins see the changes from here on (the twins
  // the deployment created are there to be read, not delivered one by one).
  if (m.downlink) m.downlink->start();
  for (auto& p : m.plugins)
    if (p->descriptor().kind == sdk::PluginKind::kAnalytics)
      m.analytics->attach(p->name(), &p->as<sdk::AnalyticsPlugin>());
  if (m.analytics->has_plugins()) m.graph->add_listener(m.analytics.get());
  for (std::size_t i = 0; i < m.plugins.size(); ++i) {
    if (Status s = m.plugins[i]->start(); !s) {
      for (std::size_t j = i; j-- > 0;)
        m.plugins[j]->stop();
      if (m.downlink) m.downlink->stop();
      m.pipeline->drain();
      if (Status f = storage().flush(); !f)
        m.log->error("storage flush failed", {{"error", f.to_string()}});
      m.storage->stop();
      return s;
    }
    m.log->info("plugin started",
                {{"plugin", m.plugins[i]->name()}, {"library", m.plugins[i]->path().string()}});
  }
  m.analytics->start();
  m.stopping = false;
  m.scheduler = std::thread([this] { impl_->run_scheduler(); });
  m.running = true;
  return report;
}

void Runtime::stop() {
  Impl& m = *impl_;
  if (!m.running) return;
  m.running = false;
  {
    std::lock_guard lock(m.scheduler_mutex);
    m.stopping = true;
    m.scheduler_cv.notify_all();
  }
  if (m.scheduler.joinable()) m.scheduler.join();
  // Protocols stop first (no new input), then the rest in reverse start order.
  for (auto it = m.plugins.rbegin(); it != m.plugins.rend(); ++it)
    if ((*it)->descriptor().kind == sdk::PluginKind::kProtocol) (*it)->stop();
  if (m.downlink) m.downlink->stop();
  m.analytics->stop();  // delivers what is queued first
  for (auto it = m.plugins.rbegin(); it != m.plugins.rend(); ++it)
    (*it)->stop();  // the rest (stopping twice is a no-op)
  if (m.analytics->has_plugins()) m.graph->remove_listener(m.analytics.get());
  if (m.pipeline) m.pipeline->drain();
  if (m.persistence) m.persistence->commit(nullptr);
  if (m.storage) {
    if (Status s = storage().flush(); !s)
      m.log->error("storage flush failed", {{"error", s.to_string()}});
    m.storage->stop();
  }
  m.log->info("stopped");
}

}  // namespace doppel::runtime
