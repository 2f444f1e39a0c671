// Runs a fleet of simulated devices over one MQTT link: scheduled telemetry (or paced load),
// desired properties and commands.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "coap_link.hpp"
#include "device.hpp"
#include "load_report.hpp"
#include "mqtt_link.hpp"
#include "sim_options.hpp"
#include "stop_signal.hpp"
#include "topic_template.hpp"

namespace doppel::sim {

class Simulator {
 public:
  Simulator(const SimOptions& options, std::vector<std::unique_ptr<Device>> devices);

  // Connects and runs until --duration, --messages or stop(). Returns the exit code:
  // 0 done, 1 runtime failure (broker unreachable).
  int run();
  // Thread-safe; also safe to call before run().
  void stop() { stop_.request(); }

  LoadReport::Snapshot snapshot() const;

 private:
  using Clock = std::chrono::steady_clock;

  void handle_message(const InboundMessage& msg);
  void handle_desired(Device& device, const InboundMessage& msg);
  void handle_command(Device& device, const std::string& name, const std::string& correlation,
                      const InboundMessage& msg);
  void publish_reported_all();
  void publish_telemetry(std::size_t index);
  void run_scheduled();
  void run_paced(double rate);
  bool limits_reached() const;
  void maybe_progress();
  double sim_seconds() const;
  // Sleeps until `deadline`, running the CoAP I/O loop meanwhile; false on a stop request.
  bool wait_until(Clock::time_point deadline);
  int run_mqtt();
  int run_coap();
  void run_loops();
  std::string coap_body(const std::string& json_text) const;
  CoapReply coap_get_telemetry(std::size_t index);
  CoapReply coap_get_properties(std::size_t index);
  CoapReply coap_desired(std::size_t index, const std::string& payload);
  CoapReply coap_command(std::size_t index, const std::string& name, const std::string& payload);
  std::int64_t timestamp_ms() const;

  const SimOptions& o_;
  std::vector<std::unique_ptr<Device>> devices_;
  std::unordered_map<std::string, Device*> by_id_;
  std::unordered_map<std::string, Device*> by_desired_topic_;
  TopicTemplate telemetry_topic_, reported_topic_, desired_topic_, ack_topic_, command_topic_,
      response_topic_;
  std::vector<std::string> telemetry_topics_;  // per device, expanded once

  LoadReport report_;
  StopSignal stop_;
  std::unique_ptr<MqttLink> link_;
  std::unique_ptr<CoapLink> coap_;  // instead of link_ with --coap / --coap-listen
  std::vector<std::string> coap_telemetry_paths_, coap_properties_paths_;
  std::vector<std::string> last_telemetry_;  // per device: the JSON text of the last sample
  Clock::time_point started_{};              // simulated time 0 (run thread only)
  // The same, for the MQTT thread (reported properties on reconnect).
  std::atomic<Clock::rep> sim_origin_{0};
  Clock::time_point measured_from_{};  // report and limits: from the first possible publish
  std::int64_t started_epoch_ms_ = 0;
  Clock::time_point next_progress_{};
  Clock::time_point finished_{};
};

}  // namespace doppel::sim
