// Metrics a plugin reports; the host exports them (Prometheus text format on /metrics).
#pragma once

#include <cstdint>
#include <string_view>

namespace doppel::sdk {

class Counter {
 public:
  virtual ~Counter() = default;
  virtual void add(std::uint64_t n = 1) noexcept = 0;  // thread-safe, lock-free
};

class Gauge {
 public:
  virtual ~Gauge() = default;
  virtual void set(double value) noexcept = 0;
};

class Metrics {
 public:
  virtual ~Metrics() = default;
  // Returns a counter owned by the host, valid as long as the plugin. `name` in Prometheus
  // syntax ("doppel_mqtt_messages_total"), `labels` as "key=value,key=value".
  virtual Counter& counter(std::string_view name, std::string_view labels,
                           std::string_view help) noexcept = 0;
  virtual Gauge& gauge(std::string_view name, std::string_view labels,
                       std::string_view help) noexcept = 0;
};

}  // namespace doppel::sdk
