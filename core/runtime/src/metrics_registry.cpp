#include "doppel/runtime/metrics_registry.hpp"

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>

namespace doppel::runtime {

namespace {

class AtomicCounter final : public sdk::Counter {
 public:
  void add(std::uint64_t n) noexcept override { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class AtomicGauge final : public sdk::Gauge {
 public:
  void set(double v) noexcept override { value_.store(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

struct Family {
  std::string help;
  bool is_counter = true;
  std::map<std::string, std::unique_ptr<AtomicCounter>> counters;  // by labels
  std::map<std::string, std::unique_ptr<AtomicGauge>> gauges;
};

std::string render_labels(const std::string& labels) {
  // "a=b,c=d" -> {a="b",c="d"}
  if (labels.empty()) return "";
  std::string out = "{";
  std::size_t start = 0;
  bool first = true;
  while (start <= labels.size()) {
    std::size_t comma = labels.find(',', start);
    std::string pair =
        labels.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    std::size_t eq = pair.find('=');
    if (eq != std::string::npos) {
      if (!first) out += ',';
      first = false;
      out += pair.substr(0, eq) + "=\"";
      for (char c : pair.substr(eq + 1)) {
        if (c == '"' || c == '\\') out += '\\';
        if (c == '\n') {
          out += "\\n";
          continue;
        }
        out += c;
      }
      out += '"';
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out + "}";
}

}  // namespace

struct MetricsRegistry::Impl {
  mutable std::mutex mutex;
  std::map<std::string, Family> families;
};

MetricsRegistry::MetricsRegistry() : impl_(std::make_unique<Impl>()) {}
MetricsRegistry::~MetricsRegistry() = default;

sdk::Counter& MetricsRegistry::counter(std::string_view name, std::string_view labels,
                                       std::string_view help) noexcept {
  std::lock_guard lock(impl_->mutex);
  Family& f = impl_->families[std::string(name)];
  if (f.help.empty()) f.help = std::string(help);
  f.is_counter = true;
  auto& c = f.counters[std::string(labels)];
  if (!c) c = std::make_unique<AtomicCounter>();
  return *c;
}

sdk::Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view labels,
                                   std::string_view help) noexcept {
  std::lock_guard lock(impl_->mutex);
  Family& f = impl_->families[std::string(name)];
  if (f.help.empty()) f.help = std::string(help);
  f.is_counter = false;
  auto& g = f.gauges[std::string(labels)];
  if (!g) g = std::make_unique<AtomicGauge>();
  return *g;
}

std::string MetricsRegistry::render_prometheus() const {
  std::lock_guard lock(impl_->mutex);
  std::string out;
  for (const auto& [name, f] : impl_->families) {
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name +
           (f.is_counter ? " counter\n" : " gauge\n");
    for (const auto& [labels, c] : f.counters)
      out += name + render_labels(labels) + " " + std::to_string(c->value()) + "\n";
    for (const auto& [labels, g] : f.gauges) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", g->value());
      out += name + render_labels(labels) + " " + buf + "\n";
    }
  }
  return out;
}

}  // namespace doppel::runtime
