// Events published by services (alerts, anomalies, predictions): logged, counted, kept and
// streamed. Alerts have a lifecycle: "alert.raised" makes (twin, source) active until an
// "alert.cleared" for the same pair; the active set survives restarts (kept in storage).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "doppel/sdk/clock.hpp"

namespace doppel::runtime {

struct EventRecord {
  std::uint64_t sequence = 0;  // increasing in publication order
  std::string type;            // "alert.raised", "alert.cleared", "anomaly", "prediction", ...
  std::string twin;
  std::string source;
  std::string severity;
  sdk::Timestamp time = 0;
  std::string message;
  std::string data;  // JSON object or ""
  bool acknowledged = false;

  std::string to_json() const;
};

using EventSubscriber = std::function<void(const EventRecord&)>;

}  // namespace doppel::runtime
