// protocol-mqtt: devices reach their twins over MQTT (Paho C++ async client).
//
// Up: every message on an `ingest:` filter goes to PluginContext::ingest with its topic; the core
// maps and validates it. A QoS 1/2 message is acknowledged to the broker only once the core says
// it is durable (or dead-lettered): Paho acks when the message callback returns, so the callback
// waits for the IngestCallback. That makes the QoS 1 path one message at a time per connection
// (throughput = 1 / (ingest latency + broker round trip)); QoS 0 messages are not waited for.
//
// Down: desired values and commands are published with the wire conventions in README.md and
// matched with the device's ack / response, or completed with kDeadlineExceeded by the timer.
// While disconnected, Paho buffers up to `outbox_limit` publishes; more are dropped and counted.
#include <mqtt/async_client.h>
#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "doppel/sdk/ingest.hpp"
#include "doppel/sdk/json.hpp"
#include "doppel/sdk/plugin.hpp"
#include "doppel/sdk/protocol.hpp"
#include "mqtt_config.hpp"

namespace doppel::plugins::mqtt {
namespace {

using sdk::Status;
using sdk::StatusCode;
using SteadyTime = std::chrono::steady_clock::time_point;

std::chrono::milliseconds to_ms(sdk::Duration d) {
  return std::chrono::milliseconds(d / sdk::kMillisecond);
}

// Logs one line per cause at most once a minute; counts what it suppressed.
class RateLimitedLog {
 public:
  explicit RateLimitedLog(sdk::Logger* log) : log_(log) {}
  void log(sdk::LogLevel level, const std::string& cause, std::string_view message,
           std::initializer_list<sdk::LogField> fields = {}) {
    if (!log_) return;
    auto now = std::chrono::steady_clock::now();
    std::uint64_t suppressed = 0;
    {
      std::lock_guard lock(mutex_);
      auto& e = entries_[cause];
      if (e.last != SteadyTime() && now - e.last < std::chrono::minutes(1)) {
        ++e.suppressed;
        return;
      }
      e.last = now;
      suppressed = e.suppressed;
      e.suppressed = 0;
    }
    if (suppressed == 0) {
      log_->log(level, message, fields);
    } else {
      std::string m = std::string(message) + " (" + std::to_string(suppressed) +
                      " similar messages suppressed)";
      log_->log(level, m, fields);
    }
  }

 private:
  struct Entry {
    SteadyTime last{};
    std::uint64_t suppressed = 0;
  };
  sdk::Logger* log_;
  std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

// Waits for the core's verdict on one message, from Paho's callback thread. Shared between the
// waiter and the core (the core may answer after the waiter gave up during shutdown).
struct IngestWait final : sdk::IngestCallback {
  std::mutex mutex;
  std::condition_variable cv;
  bool fired = false;
  std::shared_ptr<IngestWait> self;  // the core's reference, released in done()
  void done(const sdk::IngestOutcome&) noexcept override {
    std::shared_ptr<IngestWait> keep = std::move(self);
    std::lock_guard lock(mutex);
    fired = true;
    cv.notify_all();
  }
};

class MqttPlugin final : public sdk::ProtocolPlugin, private ::mqtt::iaction_listener {
 public:
  explicit MqttPlugin(const sdk::PluginContext& ctx)
      : ctx_(ctx), instance_(ctx.instance_name), limited_(ctx.log) {
    auto labels = "plugin=" + instance_;
    sdk::Metrics* m = ctx.metrics;
    if (m) {
      in_ = &m->counter("doppel_mqtt_messages_in_total", labels, "MQTT messages received");
      out_ = &m->counter("doppel_mqtt_messages_out_total", labels, "MQTT messages published");
      connects_ = &m->counter("doppel_mqtt_connects_total", labels,
                              "successful MQTT connections (first and reconnects)");
      reconnects_ = &m->counter("doppel_mqtt_reconnects_total", labels,
                                "MQTT connections after a lost connection");
      lost_ = &m->counter("doppel_mqtt_connection_lost_total", labels, "MQTT connections lost");
      subscribed_ = &m->counter("doppel_mqtt_subscribed_total", labels,
                                "times all subscriptions were (re)established");
      dropped_ = &m->counter("doppel_mqtt_outbox_dropped_total", labels,
                             "outgoing messages dropped: outbox full or no store-and-forward");
      timeouts_ = &m->counter("doppel_mqtt_downlink_timeouts_total", labels,
                              "desired acks and command responses that did not come in time");
      connected_ = &m->gauge("doppel_mqtt_connected", labels, "1 while connected to the broker");
    }
  }

  ~MqttPlugin() override { stop(); }

  Status configure(const sdk::ConfigNode& config) noexcept override {
    try {
      auto parsed = parse_config(config, instance_);
      if (!parsed) return parsed.status();
      cfg_ = std::move(*parsed);
      return {};
    } catch (const std::exception& e) {
      return sdk::internal_error(std::string("protocol-mqtt configure: ") + e.what());
    }
  }

  Status start() noexcept override {
    try {
      return start_impl();
    } catch (const ::mqtt::exception& e) {
      return sdk::unavailable("protocol-mqtt: cannot create the MQTT client for " + cfg_.broker +
                              ": " + e.what());
    } catch (const std::exception& e) {
      return sdk::internal_error(std::string("protocol-mqtt start: ") + e.what());
    }
  }

  void stop() noexcept override {
    {
      std::lock_guard lock(mutex_);
      if (!running_) return;
      running_ = false;
      stopping_ = true;
    }
    timer_cv_.notify_all();
    if (timer_.joinable()) timer_.join();
    try {
      if (client_ && client_->is_connected())
        client_->disconnect(std::chrono::milliseconds(1000))->wait_for(std::chrono::seconds(5));
    } catch (const std::exception& e) {
      if (ctx_.log) ctx_.log->warn("mqtt: disconnect failed", {{"error", e.what()}});
    }
    // Everything still waiting completes now: callbacks never leak.
    fail_all(Status(StatusCode::kUnavailable, "protocol-mqtt stopped"));
    try {
      client_.reset();
    } catch (...) {
    }
    if (connected_) connected_->set(0);
  }

  void send(const sdk::OutboundMessage& m, sdk::OutboundCallback* done) noexcept override {
    try {
      send_impl(m, done);
    } catch (const std::exception& e) {
      sdk::OutboundResult r;
      r.status = sdk::internal_error(std::string("protocol-mqtt send: ") + e.what());
      done->done(r);
    }
  }

 private:
  // ---- connection ---------------------------------------------------------------------------

  Status start_impl() {
    std::string password;
    if (!cfg_.password_file.empty()) {
      std::ifstream in(cfg_.password_file);
      if (!in)
        return Status(StatusCode::kFailedPrecondition, "protocol-mqtt: cannot read password_file " +
                                                           cfg_.password_file +
                                                           ": check the path and its permissions");
      std::getline(in, password);
      if (!password.empty() && password.back() == '\r') password.pop_back();
    }
    for (const std::string* f : {&cfg_.tls.ca, &cfg_.tls.cert, &cfg_.tls.key})
      if (!f->empty() && !std::ifstream(*f))
        return Status(StatusCode::kFailedPrecondition, "protocol-mqtt: cannot read TLS file " + *f);

    ::mqtt::create_options co(cfg_.protocol == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
    if (cfg_.outbox_limit > 0) {
      co.set_send_while_disconnected(true, true);
      co.set_max_buffered_messages(cfg_.outbox_limit);
      co.set_delete_oldest_messages(false);
    }
    client_ = std::make_unique<::mqtt::async_client>(cfg_.broker, cfg_.client_id, co, nullptr);

    auto b = ::mqtt::connect_options_builder();
    b.mqtt_version(cfg_.protocol == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
    if (cfg_.protocol == 5) {
      b.clean_start(cfg_.clean_session);
      if (cfg_.session_expiry > 0)
        b.properties({{::mqtt::property::SESSION_EXPIRY_INTERVAL,
                       static_cast<int>(std::min<sdk::Duration>(cfg_.session_expiry / sdk::kSecond,
                                                                0x7fffffff))}});
    } else {
      b.clean_session(cfg_.clean_session);
    }
    b.keep_alive_interval(
        std::chrono::seconds(std::max<sdk::Duration>(1, cfg_.keep_alive / sdk::kSecond)));
    b.connect_timeout(
        std::chrono::seconds(std::max<sdk::Duration>(1, cfg_.connect_timeout / sdk::kSecond)));
    b.automatic_reconnect(std::chrono::seconds(cfg_.reconnect_min / sdk::kSecond),
                          std::chrono::seconds(cfg_.reconnect_max / sdk::kSecond));
    if (!cfg_.username.empty()) b.user_name(cfg_.username);
    if (!password.empty()) b.password(password);
    if (cfg_.tls.enabled) {
      auto s = ::mqtt::ssl_options_builder();
      if (!cfg_.tls.ca.empty()) s.trust_store(cfg_.tls.ca);
      if (!cfg_.tls.cert.empty()) s.key_store(cfg_.tls.cert);
      if (!cfg_.tls.key.empty()) s.private_key(cfg_.tls.key);
      s.enable_server_cert_auth(true);
      s.verify(cfg_.tls.verify_hostname);
      // No error_handler: Paho C++ 1.2 hands OpenSSL a context pointer to the ssl_options
      // object it was set on, here a builder on this stack, and calls it from its own thread
      // after start() returned (AddressSanitizer: stack-use-after-scope). Failed handshakes
      // still show as connection failures with Paho's reason.
      b.ssl(s.finalize());
    }
    conn_opts_ = b.finalize();

    client_->set_message_callback([this](::mqtt::const_message_ptr msg) { on_message(msg); });
    client_->set_connected_handler([this](const std::string&) { on_connected(); });
    client_->set_connection_lost_handler([this](const std::string& cause) { on_lost(cause); });

    {
      std::lock_guard lock(mutex_);
      running_ = true;
      stopping_ = false;
      retry_delay_ = cfg_.reconnect_min;
    }
    timer_ = std::thread([this] { timer_loop(); });
    connect_now();
    // Wait (bounded) for the first connection and subscriptions, so a healthy deployment is
    // subscribed when start() returns; an unreachable broker is retried in the background.
    std::unique_lock lock(mutex_);
    bool ready = state_cv_.wait_for(lock, to_ms(cfg_.connect_timeout) + std::chrono::seconds(1),
                                    [&] { return subscribe_rounds_ > 0; });
    if (!ready && ctx_.log)
      ctx_.log->warn("mqtt: broker not reachable yet; retrying in the background",
                     {{"plugin", instance_}, {"broker", cfg_.broker}});
    return {};
  }

  void connect_now() {
    try {
      client_->connect(conn_opts_, reinterpret_cast<void*>(kConnectOp), *this);
    } catch (const ::mqtt::exception& e) {
      connect_failed(e.what());
    }
  }

  // The first connection is retried by us (Paho's automatic reconnect only takes over once a
  // connection was made).
  void connect_failed(const std::string& why) {
    limited_.log(sdk::LogLevel::kWarn, "connect", "mqtt: cannot connect to the broker",
                 {{"plugin", instance_}, {"broker", cfg_.broker}, {"error", why}});
    std::lock_guard lock(mutex_);
    if (!running_ || ever_connected_) return;
    reconnect_at_ = std::chrono::steady_clock::now() + to_ms(retry_delay_);
    retry_delay_ = std::min(retry_delay_ * 2, cfg_.reconnect_max);
    timer_cv_.notify_all();
  }

  void on_connected() {
    bool again;
    {
      std::lock_guard lock(mutex_);
      again = ever_connected_;
      ever_connected_ = true;
      connected_now_ = true;
      reconnect_at_ = SteadyTime();
      pending_subscribes_ = 0;
    }
    if (connects_) connects_->add();
    if (again && reconnects_) reconnects_->add();
    if (connected_) connected_->set(1);
    if (ctx_.log)
      ctx_.log->info(again ? "mqtt: reconnected" : "mqtt: connected",
                     {{"plugin", instance_}, {"broker", cfg_.broker}});
    subscribe_all();
  }

  void on_lost(const std::string& cause) {
    {
      std::lock_guard lock(mutex_);
      connected_now_ = false;
    }
    if (lost_) lost_->add();
    if (connected_) connected_->set(0);
    limited_.log(sdk::LogLevel::kWarn, "lost", "mqtt: connection lost; reconnecting",
                 {{"plugin", instance_}, {"cause", cause}});
  }

  std::vector<std::pair<std::string, int>> subscriptions() const {
    std::vector<std::pair<std::string, int>> subs;
    for (const std::string& f : cfg_.ingest_filters)
      subs.emplace_back(cfg_.shared_group.empty() ? f : "$share/" + cfg_.shared_group + "/" + f,
                        cfg_.qos);
    if (cfg_.desired.enabled && !cfg_.desired.ack_topic.empty())
      subs.emplace_back(cfg_.desired.ack_topic.filter(), cfg_.desired.qos);
    if (cfg_.commands.enabled)
      subs.emplace_back(cfg_.commands.response_topic.filter(), cfg_.commands.qos);
    return subs;
  }

  void subscribe_all() {
    auto subs = subscriptions();
    {
      std::lock_guard lock(mutex_);
      pending_subscribes_ = static_cast<int>(subs.size());
      if (subs.empty()) {
        ++subscribe_rounds_;
        state_cv_.notify_all();
      }
    }
    if (subs.empty()) {
      if (subscribed_) subscribed_->add();
      return;
    }
    for (const auto& [filter, qos] : subs) {
      try {
        // MQTT v5 "no local": a filter that also matches Doppel's own desired/command topics
        // must not feed them back in (not allowed on shared subscriptions).
        const bool no_local = cfg_.protocol == 5 && filter.rfind("$share/", 0) != 0;
        client_->subscribe(filter, qos, reinterpret_cast<void*>(kSubscribeOp), *this,
                           ::mqtt::subscribe_options(no_local));
      } catch (const ::mqtt::exception& e) {
        limited_.log(sdk::LogLevel::kError, "subscribe", "mqtt: subscribe failed",
                     {{"plugin", instance_}, {"filter", filter}, {"error", e.what()}});
      }
    }
  }

  // iaction_listener: connect, subscribe and publish completions (user context says which).
  void on_success(const ::mqtt::token& tok) override {
    auto op = reinterpret_cast<std::uintptr_t>(tok.get_user_context());
    if (op == kConnectOp) return;  // on_connected() does the work
    if (op == kSubscribeOp) {
      bool all = false;
      {
        std::lock_guard lock(mutex_);
        if (pending_subscribes_ > 0 && --pending_subscribes_ == 0) {
          ++subscribe_rounds_;
          all = true;
        }
      }
      if (all) {
        if (subscribed_) subscribed_->add();
        state_cv_.notify_all();
      }
      return;
    }
    publish_completed(op, Status());
  }

  void on_failure(const ::mqtt::token& tok) override {
    auto op = reinterpret_cast<std::uintptr_t>(tok.get_user_context());
    std::string why = "return code " + std::to_string(tok.get_return_code());
    if (op == kConnectOp) return connect_failed(why);
    if (op == kSubscribeOp) {
      // Discarded by a disconnect (MQTTASYNC_OPERATION_INCOMPLETE): the next connection
      // subscribes again.
      if (stopping_.load() || tok.get_return_code() == MQTTASYNC_OPERATION_INCOMPLETE) return;
      limited_.log(sdk::LogLevel::kError, "subscribe", "mqtt: the broker refused a subscription",
                   {{"plugin", instance_}, {"error", why}});
      return;
    }
    publish_completed(op, Status(StatusCode::kUnavailable, "publish failed: " + why));
  }

  // ---- up -------------------------------------------------------------------------------------

  void on_message(const ::mqtt::const_message_ptr& msg) {
    const std::string& topic = msg->get_topic();
    if (in_) in_->add();
    std::map<std::string, std::string_view> vars;
    if (cfg_.desired.enabled && !cfg_.desired.ack_topic.empty() &&
        cfg_.desired.ack_topic.match(topic, vars))
      return on_desired_ack(topic, msg->get_payload_str(), vars);
    vars.clear();
    if (cfg_.commands.enabled && cfg_.commands.response_topic.match(topic, vars))
      return on_command_response(*msg, vars);

    sdk::InboundMessage in;
    in.topic = topic;
    const std::string& payload = msg->get_payload_str();
    in.payload = payload;
    in.received_at = ctx_.clock ? ctx_.clock->now() : 0;
    if (!ctx_.ingest) return;
    if (msg->get_qos() == 0) {
      ctx_.ingest->ingest(in, nullptr);
      return;
    }
    // QoS 1/2: Paho acknowledges when this callback returns, so return only once durable.
    auto wait = std::make_shared<IngestWait>();
    wait->self = wait;
    ctx_.ingest->ingest(in, wait.get());
    std::unique_lock lock(wait->mutex);
    auto give_up = SteadyTime::max();
    while (!wait->fired) {
      wait->cv.wait_for(lock, std::chrono::milliseconds(200));
      if (wait->fired) break;
      if (stopping_.load() && give_up == SteadyTime::max())
        give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      if (std::chrono::steady_clock::now() > give_up) {
        limited_.log(sdk::LogLevel::kError, "ingest-wait",
                     "mqtt: stopping before the core confirmed a message; it is acknowledged "
                     "unconfirmed",
                     {{"plugin", instance_}, {"topic", topic}});
        break;
      }
    }
  }

  // ---- down -----------------------------------------------------------------------------------

  struct PendingDesired {
    std::uint32_t version;
    sdk::OutboundCallback* done;
    SteadyTime deadline;
    std::uintptr_t op;
  };
  struct PendingCommand {
    sdk::OutboundCallback* done;
    SteadyTime deadline;
    std::uintptr_t op;
  };
  // An outstanding publish: what to complete when Paho reports it.
  struct PublishOp {
    sdk::OutboundKind kind;
    sdk::OutboundCallback* done;  // set while the publish itself completes the send
    std::string key;              // desired key or command correlation, for failures
  };

  static std::string desired_key(std::string_view twin, std::string_view component,
                                 std::string_view name) {
    std::string k(twin);
    k += '\0';
    k += component;
    k += '\0';
    k += name;
    return k;
  }

  static void complete(sdk::OutboundCallback* done, Status status, std::string_view payload = {},
                       std::uint32_t version = 0) {
    sdk::OutboundResult r;
    r.status = std::move(status);
    r.payload = payload;
    r.acknowledged_version = version;
    done->done(r);
  }

  void send_impl(const sdk::OutboundMessage& m, sdk::OutboundCallback* done) {
    std::map<std::string_view, std::string_view> vars{
        {"twin", m.twin}, {"component", m.component}, {"name", m.name}};
    {
      std::lock_guard lock(mutex_);
      if (!running_) return complete(done, sdk::unavailable("protocol-mqtt is not running"));
    }
    std::string topic, payload;
    int qos = 0;
    ::mqtt::properties props;
    std::uintptr_t op = 0;
    auto now = std::chrono::steady_clock::now();
    if (m.kind == sdk::OutboundKind::kDesired) {
      if (!cfg_.desired.enabled)
        return complete(done, sdk::not_found("protocol-mqtt instance '" + instance_ +
                                             "' has no desired: config"));
      topic = cfg_.desired.topic.expand(vars);
      payload = "{\"name\":" + sdk::json_string(m.name);
      if (!m.component.empty()) payload += ",\"component\":" + sdk::json_string(m.component);
      payload += ",\"value\":" + (m.payload.empty() ? std::string("null") : std::string(m.payload));
      payload += ",\"version\":" + std::to_string(m.version) + "}";
      qos = cfg_.desired.qos;
      std::lock_guard lock(mutex_);
      op = next_op_++;
      bool acked = !cfg_.desired.ack_topic.empty();
      std::string key = desired_key(m.twin, m.component, m.name);
      ops_[op] = PublishOp{m.kind, acked ? nullptr : done, key};
      if (acked) {
        desired_[key].push_back({m.version, done, now + to_ms(cfg_.desired.ack_timeout), op});
        timer_cv_.notify_all();
      }
    } else {
      if (!cfg_.commands.enabled)
        return complete(done, sdk::not_found("protocol-mqtt instance '" + instance_ +
                                             "' has no commands: config"));
      vars["correlation"] = m.correlation;
      topic = cfg_.commands.topic.expand(vars);
      payload = std::string(m.payload);
      qos = cfg_.commands.qos;
      std::string response_topic = cfg_.commands.response_topic.expand(vars);
      if (cfg_.protocol == 5) {
        props.add({::mqtt::property::RESPONSE_TOPIC, response_topic});
        props.add({::mqtt::property::CORRELATION_DATA, std::string(m.correlation)});
      }
      sdk::Duration timeout = m.timeout > 0 ? m.timeout : cfg_.commands.default_timeout;
      std::lock_guard lock(mutex_);
      if (commands_.count(std::string(m.correlation)))
        return complete(done, Status(StatusCode::kAlreadyExists, "a command with correlation id '" +
                                                                     std::string(m.correlation) +
                                                                     "' is already waiting"));
      op = next_op_++;
      ops_[op] = PublishOp{m.kind, nullptr, std::string(m.correlation)};
      commands_[std::string(m.correlation)] = {done, now + to_ms(timeout), op};
      timer_cv_.notify_all();
    }
    auto msg = ::mqtt::message::create(topic, payload.data(), payload.size(), qos, false, props);
    try {
      client_->publish(msg, reinterpret_cast<void*>(op), *this);
      if (out_) out_->add();
    } catch (const ::mqtt::exception& e) {
      if (dropped_) dropped_->add();
      const bool full = e.get_return_code() == MQTTASYNC_MAX_BUFFERED_MESSAGES;
      limited_.log(sdk::LogLevel::kWarn, "drop", "mqtt: outgoing message dropped",
                   {{"plugin", instance_},
                    {"topic", topic},
                    {"reason", full ? "outbox full" : "not connected"}});
      publish_completed(
          op, Status(StatusCode::kUnavailable, full ? "outbox full (outbox_limit " +
                                                          std::to_string(cfg_.outbox_limit) +
                                                          "): dropped while the broker is away"
                                                    : std::string("not connected: ") + e.what()));
    }
  }

  // A publish finished (ok: handed to the broker) or failed.
  void publish_completed(std::uintptr_t op, Status status) {
    sdk::OutboundCallback* done = nullptr;
    {
      std::lock_guard lock(mutex_);
      auto it = ops_.find(op);
      if (it == ops_.end()) return;
      PublishOp p = std::move(it->second);
      ops_.erase(it);
      if (p.done) {
        done = p.done;  // desired without acks: done once published
      } else if (!status) {
        // Failed: whoever waits for an answer to this publish stops waiting.
        if (p.kind == sdk::OutboundKind::kCommand) {
          auto c = commands_.find(p.key);
          if (c != commands_.end() && c->second.op == op) {
            done = c->second.done;
            commands_.erase(c);
          }
        } else {
          auto d = desired_.find(p.key);
          if (d != desired_.end()) {
            auto& v = d->second;
            for (auto i = v.begin(); i != v.end(); ++i)
              if (i->op == op) {
                done = i->done;
                v.erase(i);
                break;
              }
            if (v.empty()) desired_.erase(d);
          }
        }
      }
    }
    if (done) complete(done, std::move(status));
  }

  void on_desired_ack(const std::string& topic, std::string_view payload,
                      const std::map<std::string, std::string_view>& vars) {
    rapidjson::Document doc;
    doc.Parse(payload.data(), payload.size());
    auto twin_it = vars.find("twin");
    if (doc.HasParseError() || !doc.IsObject() || twin_it == vars.end()) {
      limited_.log(sdk::LogLevel::kWarn, "bad-ack", "mqtt: desired ack is not a JSON object",
                   {{"plugin", instance_}, {"topic", topic}});
      return;
    }
    auto str = [&](const char* key, std::string_view fallback) -> std::string {
      auto it = vars.find(key);
      if (it != vars.end()) return std::string(it->second);
      auto m = doc.FindMember(key);
      if (m != doc.MemberEnd() && m->value.IsString())
        return std::string(m->value.GetString(), m->value.GetStringLength());
      return std::string(fallback);
    };
    std::string name = str("name", "");
    std::string component = str("component", "");
    std::uint32_t version = 0;
    if (auto v = doc.FindMember("version"); v != doc.MemberEnd() && v->value.IsUint())
      version = v->value.GetUint();
    std::vector<PendingDesired> acked;
    {
      std::lock_guard lock(mutex_);
      auto it = desired_.find(desired_key(twin_it->second, component, name));
      if (it == desired_.end()) return;
      auto& v = it->second;
      for (auto i = v.begin(); i != v.end();)
        if (version == 0 || i->version <= version) {
          acked.push_back(*i);
          ops_.erase(i->op);  // the publish is confirmed by the ack itself
          i = v.erase(i);
        } else {
          ++i;
        }
      if (v.empty()) desired_.erase(it);
    }
    for (const PendingDesired& p : acked)
      complete(p.done, Status(), {}, version);
  }

  void on_command_response(const ::mqtt::message& msg,
                           const std::map<std::string, std::string_view>& vars) {
    std::string correlation;
    const auto& props = msg.get_properties();
    if (props.contains(::mqtt::property::CORRELATION_DATA))
      correlation = ::mqtt::get<std::string>(props, ::mqtt::property::CORRELATION_DATA);
    else if (auto it = vars.find("correlation"); it != vars.end())
      correlation = std::string(it->second);
    PendingCommand p{};
    {
      std::lock_guard lock(mutex_);
      auto it = commands_.find(correlation);
      if (it == commands_.end()) return;  // late, or another instance's command
      p = it->second;
      commands_.erase(it);
      ops_.erase(p.op);
    }
    complete(p.done, Status(), msg.get_payload_str());
  }

  // ---- timer: downlink deadlines and first-connect retries ------------------------------------

  void timer_loop() {
    std::unique_lock lock(mutex_);
    while (running_) {
      auto now = std::chrono::steady_clock::now();
      SteadyTime next = now + std::chrono::seconds(1);
      std::vector<std::pair<sdk::OutboundCallback*, std::string>> expired;
      for (auto it = commands_.begin(); it != commands_.end();) {
        if (it->second.deadline <= now) {
          expired.emplace_back(it->second.done,
                               "no response to command (correlation " + it->first + ") in time");
          ops_.erase(it->second.op);
          it = commands_.erase(it);
        } else {
          next = std::min(next, it->second.deadline);
          ++it;
        }
      }
      for (auto it = desired_.begin(); it != desired_.end();) {
        auto& v = it->second;
        for (auto i = v.begin(); i != v.end();)
          if (i->deadline <= now) {
            expired.emplace_back(i->done, "the device did not acknowledge desired version " +
                                              std::to_string(i->version) + " in time");
            ops_.erase(i->op);
            i = v.erase(i);
          } else {
            next = std::min(next, i->deadline);
            ++i;
          }
        it = v.empty() ? desired_.erase(it) : std::next(it);
      }
      bool reconnect = false;
      if (reconnect_at_ != SteadyTime()) {
        if (reconnect_at_ <= now) {
          reconnect_at_ = SteadyTime();
          reconnect = true;
        } else {
          next = std::min(next, reconnect_at_);
        }
      }
      if (!expired.empty() || reconnect) {
        lock.unlock();
        for (auto& [done, why] : expired) {
          if (timeouts_) timeouts_->add();
          complete(done, Status(StatusCode::kDeadlineExceeded, why));
        }
        if (reconnect) connect_now();
        lock.lock();
        continue;
      }
      timer_cv_.wait_until(lock, next);
    }
  }

  void fail_all(const Status& why) {
    std::vector<sdk::OutboundCallback*> all;
    {
      std::lock_guard lock(mutex_);
      for (auto& [k, v] : desired_)
        for (auto& p : v)
          all.push_back(p.done);
      for (auto& [k, c] : commands_)
        all.push_back(c.done);
      for (auto& [op, p] : ops_)
        if (p.done) all.push_back(p.done);
      desired_.clear();
      commands_.clear();
      ops_.clear();
    }
    for (auto* d : all)
      complete(d, why);
  }

  static constexpr std::uintptr_t kConnectOp = 1;
  static constexpr std::uintptr_t kSubscribeOp = 2;

  sdk::PluginContext ctx_;
  std::string instance_;
  RateLimitedLog limited_;
  Config cfg_;
  ::mqtt::connect_options conn_opts_;
  std::unique_ptr<::mqtt::async_client> client_;

  sdk::Counter* in_ = nullptr;
  sdk::Counter* out_ = nullptr;
  sdk::Counter* connects_ = nullptr;
  sdk::Counter* reconnects_ = nullptr;
  sdk::Counter* lost_ = nullptr;
  sdk::Counter* subscribed_ = nullptr;
  sdk::Counter* dropped_ = nullptr;
  sdk::Counter* timeouts_ = nullptr;
  sdk::Gauge* connected_ = nullptr;

  std::mutex mutex_;  // guards everything below
  std::condition_variable timer_cv_;
  std::condition_variable state_cv_;
  bool running_ = false;
  std::atomic<bool> stopping_{false};
  bool ever_connected_ = false;
  bool connected_now_ = false;
  int pending_subscribes_ = 0;
  std::uint64_t subscribe_rounds_ = 0;
  SteadyTime reconnect_at_{};
  sdk::Duration retry_delay_ = sdk::kSecond;
  std::uintptr_t next_op_ = 16;
  std::unordered_map<std::uintptr_t, PublishOp> ops_;
  std::unordered_map<std::string, std::vector<PendingDesired>> desired_;
  std::unordered_map<std::string, PendingCommand> commands_;
  std::thread timer_;
};

const sdk::PluginDescriptor kDescriptor{
    DOPPEL_SDK_ABI_MAJOR,
    DOPPEL_SDK_ABI_MINOR,
    DOPPEL_SDK_TOOLCHAIN,
    sdk::PluginKind::kProtocol,
    "mqtt",
    "1.0.0",
    "devices over MQTT 5 / 3.1.1 (Paho): telemetry and reported state up, desired values and "
    "commands down, TLS, shared subscriptions, store-and-forward",
    kConfigFields,
    kConfigFieldCount,
    [](const sdk::PluginContext& c) noexcept -> sdk::Plugin* {
      return sdk::create_plugin<MqttPlugin>(c, "mqtt");
    },
    sdk::destroy_plugin,
};

}  // namespace
}  // namespace doppel::plugins::mqtt

DOPPEL_PLUGIN_ENTRY(doppel::plugins::mqtt::kDescriptor)
