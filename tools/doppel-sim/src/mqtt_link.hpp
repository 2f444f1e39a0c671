// The simulator's one MQTT connection (Paho stays inside mqtt_link.cpp).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace doppel::sim {

class LoadReport;
class StopSignal;

struct InboundMessage {
  std::string topic;
  std::string payload;
  std::optional<std::string> response_topic;  // MQTT v5 Response Topic
  std::optional<std::string> correlation;     // MQTT v5 Correlation Data
};

struct LinkSettings {
  std::string broker;
  std::string client_id;
  int protocol = 5;
  std::size_t window = 20;
  std::size_t buffer = 10000;
  int connect_retries = 5;
};

class MqttLink {
 public:
  // Called on the MQTT thread; must not block.
  using MessageHandler = std::function<void(const InboundMessage&)>;
  // Called on the MQTT thread after every successful (re)connect, after resubscribing.
  using ConnectedHandler = std::function<void(bool reconnect)>;

  MqttLink(LinkSettings settings, LoadReport& report, StopSignal& stop);
  ~MqttLink();
  MqttLink(const MqttLink&) = delete;
  MqttLink& operator=(const MqttLink&) = delete;

  void on_message(MessageHandler handler);
  void on_connected(ConnectedHandler handler);
  // Filters subscribed at QoS 1 on connect and again after every reconnect.
  void set_subscriptions(std::vector<std::string> filters);

  // Connects, retrying with exponential backoff; false (with `error`) after the last try or
  // when a stop was requested. Later losses are repaired by automatic reconnects.
  bool connect(std::string& error);

  // Hands one message to the client. With `wait`, blocks while `window` publishes are pending
  // (never from a handler: completions arrive on that thread). While disconnected, messages
  // are buffered up to `buffer`, then dropped. False when dropped.
  bool publish(const std::string& topic, const std::string& payload, int qos, bool wait,
               const std::optional<std::string>& correlation = std::nullopt);

  // Waits until every pending publish completed or `timeout` passed.
  void drain(std::chrono::milliseconds timeout);
  void disconnect();

  bool connected() const;
  std::size_t pending() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::sim
