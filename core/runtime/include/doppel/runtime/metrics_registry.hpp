// The host's metrics: counters and gauges handed to plugins and the core, rendered in the
// Prometheus text exposition format for /metrics.
#pragma once

#include <memory>
#include <string>

#include "doppel/sdk/metrics.hpp"

namespace doppel::runtime {

class MetricsRegistry final : public sdk::Metrics {
 public:
  MetricsRegistry();
  ~MetricsRegistry() override;
  sdk::Counter& counter(std::string_view name, std::string_view labels,
                        std::string_view help) noexcept override;
  sdk::Gauge& gauge(std::string_view name, std::string_view labels,
                    std::string_view help) noexcept override;
  // All metrics in Prometheus text format (HELP/TYPE once per name, series sorted).
  std::string render_prometheus() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::runtime
