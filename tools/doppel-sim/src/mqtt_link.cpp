#include "mqtt_link.hpp"

#include <fmt/format.h>
#include <mqtt/async_client.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "load_report.hpp"
#include "stop_signal.hpp"

namespace doppel::sim {

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct MqttLink::Impl final : mqtt::iaction_listener {
  LinkSettings settings;
  LoadReport& report;
  StopSignal& stop;
  std::unique_ptr<mqtt::async_client> client;
  mqtt::connect_options connect_options;

  std::mutex mu;
  std::condition_variable cv;
  std::size_t pending = 0;  // publishes not completed yet, guarded by mu
  std::atomic<bool> is_connected{false};
  bool ever_connected = false;  // guarded by mu

  std::mutex handlers_mu;  // handlers and filters are set before connect; guarded anyway
  MessageHandler message_handler;
  ConnectedHandler connected_handler;
  std::vector<std::string> filters;

  Impl(LinkSettings s, LoadReport& r, StopSignal& st)
      : settings(std::move(s)), report(r), stop(st) {
    mqtt::create_options create(settings.protocol == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
    // Keep generating while the broker is away, up to a bound; past it publish() fails and
    // the message is counted as dropped.
    create.set_send_while_disconnected(true, false);
    create.set_max_buffered_messages(static_cast<int>(settings.buffer));
    create.set_delete_oldest_messages(false);
    client = std::make_unique<mqtt::async_client>(settings.broker, settings.client_id, create);

    connect_options.set_mqtt_version(settings.protocol == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
    if (settings.protocol == 5) {
      connect_options.set_clean_session(false);  // v3-only flag; Paho rejects it with v5
      connect_options.set_clean_start(true);
    } else {
      connect_options.set_clean_session(true);
    }
    connect_options.set_keep_alive_interval(std::chrono::seconds(20));
    connect_options.set_connect_timeout(std::chrono::seconds(5));
    connect_options.set_automatic_reconnect(std::chrono::seconds(1), std::chrono::seconds(16));
    // Our own window bounds what is in flight; Paho's cap only needs to stay out of its way.
    connect_options.set_max_inflight(65535);

    client->set_connected_handler([this](const std::string&) { handle_connected(); });
    client->set_connection_lost_handler([this](const std::string& cause) {
      is_connected = false;
      std::fprintf(stderr, "doppel-sim: connection lost%s%s; reconnecting\n",
                   cause.empty() ? "" : ": ", cause.c_str());
      cv.notify_all();
    });
    client->set_message_callback([this](mqtt::const_message_ptr msg) { handle_message(msg); });
  }

  void handle_connected() {
    bool reconnect = false;
    {
      std::lock_guard lock(mu);
      reconnect = ever_connected;
      ever_connected = true;
    }
    if (reconnect) {
      ++report.reconnects;
      std::fprintf(stderr, "doppel-sim: reconnected to %s\n", settings.broker.c_str());
    }
    is_connected = true;
    resubscribe();
    ConnectedHandler h;
    {
      std::lock_guard lock(handlers_mu);
      h = connected_handler;
    }
    if (h) h(reconnect);
    cv.notify_all();
  }

  void resubscribe() {
    std::vector<std::string> copy;
    {
      std::lock_guard lock(handlers_mu);
      copy = filters;
    }
    // Brokers cap the topics per SUBSCRIBE packet in practice; chunks keep each one small.
    constexpr std::size_t kChunk = 64;
    for (std::size_t i = 0; i < copy.size(); i += kChunk) {
      std::vector<std::string> chunk(
          copy.begin() + static_cast<std::ptrdiff_t>(i),
          copy.begin() + static_cast<std::ptrdiff_t>(std::min(copy.size(), i + kChunk)));
      mqtt::iasync_client::qos_collection qos(chunk.size(), 1);
      auto topics = mqtt::string_collection::create(std::move(chunk));
      try {
        client->subscribe(topics, qos);
      } catch (const mqtt::exception& e) {
        std::fprintf(stderr, "doppel-sim: subscribe failed: %s\n", e.what());
      }
    }
  }

  void handle_message(const mqtt::const_message_ptr& msg) {
    InboundMessage in;
    in.topic = msg->get_topic();
    in.payload = msg->to_string();
    const auto& props = msg->get_properties();
    if (props.contains(mqtt::property::RESPONSE_TOPIC))
      in.response_topic = mqtt::get<std::string>(props, mqtt::property::RESPONSE_TOPIC);
    if (props.contains(mqtt::property::CORRELATION_DATA))
      in.correlation = mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
    MessageHandler h;
    {
      std::lock_guard lock(handlers_mu);
      h = message_handler;
    }
    if (h) h(in);
  }

  void finish_one() {
    {
      std::lock_guard lock(mu);
      if (pending > 0) --pending;
    }
    cv.notify_all();
  }

  // Delivery completions. The user context carries the send time, so no lookup is needed.
  void on_success(const mqtt::token& tok) override {
    ++report.completed;
    const auto sent = reinterpret_cast<std::intptr_t>(tok.get_user_context());
    const auto us = (now_ns() - static_cast<std::int64_t>(sent)) / 1000;
    report.add_latency_us(static_cast<std::uint32_t>(std::clamp<std::int64_t>(us, 0, UINT32_MAX)));
    finish_one();
  }
  void on_failure(const mqtt::token&) override {
    ++report.failed;
    finish_one();
  }
};

MqttLink::MqttLink(LinkSettings settings, LoadReport& report, StopSignal& stop)
    : impl_(std::make_unique<Impl>(std::move(settings), report, stop)) {}

MqttLink::~MqttLink() {
  try {
    if (impl_->client->is_connected())
      impl_->client->disconnect()->wait_for(std::chrono::seconds(2));
  } catch (const mqtt::exception&) {
    // Shutting down: nothing left to report to.
  }
}

void MqttLink::on_message(MessageHandler handler) {
  std::lock_guard lock(impl_->handlers_mu);
  impl_->message_handler = std::move(handler);
}

void MqttLink::on_connected(ConnectedHandler handler) {
  std::lock_guard lock(impl_->handlers_mu);
  impl_->connected_handler = std::move(handler);
}

void MqttLink::set_subscriptions(std::vector<std::string> filters) {
  std::lock_guard lock(impl_->handlers_mu);
  impl_->filters = std::move(filters);
}

bool MqttLink::connect(std::string& error) {
  auto delay = std::chrono::milliseconds(250);
  const int tries = std::max(1, impl_->settings.connect_retries + 1);
  for (int attempt = 1; attempt <= tries; ++attempt) {
    try {
      auto tok = impl_->client->connect(impl_->connect_options);
      if (tok->wait_for(std::chrono::seconds(10))) return true;
      error = "no answer within 10 s";
    } catch (const mqtt::exception& e) {
      error = e.get_error_str().empty() ? e.what() : e.get_error_str();
      if (e.get_reason_code() > 0)
        error += fmt::format(" (reason {})", static_cast<int>(e.get_reason_code()));
    }
    if (attempt == tries) break;
    std::fprintf(stderr, "doppel-sim: cannot connect to %s (%s), retrying in %lld ms (%d/%d)\n",
                 impl_->settings.broker.c_str(), error.c_str(),
                 static_cast<long long>(delay.count()), attempt, tries - 1);
    if (!impl_->stop.sleep_until(Clock::now() + delay)) {
      error = "stopped";
      return false;
    }
    delay = std::min(delay * 2, std::chrono::milliseconds(8000));
  }
  return false;
}

bool MqttLink::publish(const std::string& topic, const std::string& payload, int qos, bool wait,
                       const std::optional<std::string>& correlation) {
  auto& d = *impl_;
  {
    std::unique_lock lock(d.mu);
    if (wait) {
      // While disconnected, do not wait for completions that cannot come: let Paho buffer.
      d.cv.wait(lock, [&] {
        return d.pending < d.settings.window || !d.is_connected || d.stop.requested();
      });
    }
    ++d.pending;
  }
  try {
    auto builder = mqtt::message_ptr_builder().topic(topic).payload(payload).qos(qos);
    if (correlation) {
      mqtt::properties props;
      props.add(mqtt::property(mqtt::property::CORRELATION_DATA, mqtt::binary(*correlation)));
      builder.properties(std::move(props));
    }
    const auto context = reinterpret_cast<void*>(static_cast<std::intptr_t>(now_ns()));
    d.client->publish(builder.finalize(), context, d);
    ++d.report.published;
    return true;
  } catch (const mqtt::exception&) {
    ++d.report.dropped;
    d.finish_one();
    return false;
  }
}

void MqttLink::drain(std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  std::unique_lock lock(d.mu);
  d.cv.wait_for(lock, timeout, [&] { return d.pending == 0; });
}

void MqttLink::disconnect() {
  try {
    if (impl_->client->is_connected())
      impl_->client->disconnect()->wait_for(std::chrono::seconds(5));
  } catch (const mqtt::exception& e) {
    std::fprintf(stderr, "doppel-sim: disconnect: %s\n", e.what());
  }
}

bool MqttLink::connected() const {
  return impl_->is_connected;
}

std::size_t MqttLink::pending() const {
  std::lock_guard lock(impl_->mu);
  return impl_->pending;
}

}  // namespace doppel::sim
