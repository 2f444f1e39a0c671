// Ingest throughput of protocol-mqtt: a Paho publisher sends N messages (200-byte JSON, QoS 0
// or 1) through a local mosquitto (started here, queue limits lifted) into
//   a) Doppel: protocol-mqtt -> mapping -> validation -> twin update -> memory storage, and
//   b) a bare Paho subscriber (the broker's ceiling on this machine),
// each timed from the first publish to the last message accepted (a) or received (b).
//   doppel_mqtt_ingest_load [--messages N] [--qos 0|1] [--twins T] [--storage memory|rocksdb]
//                           [--rate R]
// With --rate, messages are published at R msg/s and the end-to-end latency (publish to the
// twin update applied in the graph) is reported as p50/p99; the ceiling run is skipped.
#include <mqtt/async_client.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/runtime.hpp"
#include "doppel/testing/mosquitto_broker.hpp"
#include "doppel/testing/test_services.hpp"

using namespace doppel;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kModel = R"({
  "@context": "dtmi:dtdl:context;3", "@id": "dtmi:bench:mqtt:Motor;1", "@type": "Interface",
  "contents": [
    {"@type": "Telemetry", "name": "temperature", "schema": "double"},
    {"@type": "Telemetry", "name": "vibration", "schema": "double"},
    {"@type": "Telemetry", "name": "current", "schema": "double"},
    {"@type": "Telemetry", "name": "note", "schema": "string"}]})";

double now_us() {
  return std::chrono::duration<double, std::micro>(Clock::now().time_since_epoch()).count();
}

// `current` carries the publish time (µs of the steady clock) for latency runs.
std::string payload(int i, double sent_us = 12.25) {
  char current[64];
  std::snprintf(current, sizeof current, "%.1f", sent_us);
  std::string p = "{\"temperature\": " + std::to_string(20 + i % 50) + ".5, \"vibration\": 0.0" +
                  std::to_string(i % 10) + ", \"current\": " + current + ", \"note\": \"";
  while (p.size() < 197)
    p += 'x';
  return p + "\"}";
}

double counter(runtime::Runtime& rt, const std::string& series) {
  std::istringstream in(rt.metrics().render_prometheus());
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return 0;
}

// Latencies of applied updates, from the `current` field's publish time.
struct LatencyProbe final : twin::ChangeListener {
  std::mutex mutex;
  std::vector<double> us;
  int slot = -1;
  void on_change(const twin::ChangeEvent& e) noexcept override {
    if (e.kind != twin::ChangeKind::kReported) return;
    if (slot < 0) slot = e.twin.layout->find("current");
    const double now = now_us();
    for (const auto& c : e.slots)
      if (c.slot == slot && c.after) {
        std::lock_guard lock(mutex);
        us.push_back(now - c.after->as_double());
      }
  }
};

// Publishes n messages over `twins` topics as fast as the client takes them (rate 0) or at
// `rate` messages per second.
void publish_all(const testing::MosquittoBroker& b, int n, int qos, int twins, double rate = 0) {
  ::mqtt::async_client pub(b.uri(), "bench-pub-" + std::to_string(::getpid()),
                           ::mqtt::create_options(MQTTVERSION_5));
  pub.connect(::mqtt::connect_options_builder().mqtt_version(MQTTVERSION_5).finalize())->wait();
  ::mqtt::delivery_token_ptr last;
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    if (rate > 0) std::this_thread::sleep_until(start + std::chrono::duration<double>(i / rate));
    std::string p = rate > 0 ? payload(i, now_us()) : payload(i);
    std::string topic = "bench/motor-" + std::to_string(1 + i % twins) + "/telemetry";
    while (true) {
      try {
        last = pub.publish(topic, p.data(), p.size(), qos, false);
        break;
      } catch (const ::mqtt::exception&) {
        // Paho's send queue is full: let it drain.
        std::this_thread::yield();
      }
    }
  }
  if (last) last->wait();
  pub.disconnect()->wait();
}

}  // namespace

int main(int argc, char** argv) {
  int messages = 50000, qos = 0, twins = 100;
  double rate = 0;
  std::string storage = "memory";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--rate")) rate = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--storage")) storage = argv[i + 1];
    if (!std::strcmp(argv[i], "--messages")) messages = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--qos")) qos = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--twins")) twins = std::atoi(argv[i + 1]);
  }
  testing::MosquittoBroker broker;

  // b) the broker's ceiling: publisher -> mosquitto -> bare Paho subscriber.
  double ceiling = 0;
  if (rate <= 0) {
    std::atomic<int> got{0};
    ::mqtt::async_client sub(broker.uri(), "bench-sub-" + std::to_string(::getpid()),
                             ::mqtt::create_options(MQTTVERSION_5));
    sub.set_message_callback([&](::mqtt::const_message_ptr) { ++got; });
    sub.connect(::mqtt::connect_options_builder().mqtt_version(MQTTVERSION_5).finalize())->wait();
    sub.subscribe("bench/+/telemetry", qos)->wait();
    auto t0 = Clock::now();
    publish_all(broker, messages, qos, twins);
    testing::wait_until([&] { return got.load() >= messages; }, std::chrono::seconds(120));
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    ceiling = got.load() / s;
    std::printf("bare Paho subscriber  qos %d: %d msgs in %.2f s = %.0f msg/s\n", qos, got.load(),
                s, ceiling);
    std::fflush(stdout);
    sub.disconnect()->wait();
  }

  // a) Doppel.
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() / "models");
  std::ofstream(dir.path() / "models" / "m.json") << kModel;
  std::string deploy =
      "apiVersion: doppel/v1\nname: bench\nmodels: [models/]\nplugins:\n"
      "  - name: devices\n    kind: protocol\n    library: mqtt\n    config:\n"
      "      broker: \"" +
      broker.uri() + "\"\n      qos: " + std::to_string(qos) +
      "\n      ingest: [{topic: \"bench/{twin}/telemetry\"}]\n" +
      (storage == "rocksdb"
           ? "  - {name: store, kind: storage, library: rocksdb, config: {path: \"" +
                 (dir.path() / "db").string() + "\"}}\n"
           : std::string()) +
      "twins:\n  - {id: \"motor-{i}\", count: " + std::to_string(twins) +
      ", model: \"dtmi:bench:mqtt:Motor;1\"}\n";
  auto load = runtime::load_deployment_text("bench.yaml", deploy, dir.path());
  if (!load.ok()) {
    std::fprintf(stderr, "deployment failed\n");
    return 1;
  }
  LatencyProbe probe;
  runtime::RuntimeOptions o;
  if (rate > 0) o.listeners.push_back(&probe);
  o.log = std::make_unique<runtime::Log>(
      "bench", runtime::LogOptions{sdk::LogLevel::kWarn, runtime::LogFormat::kText});
  runtime::Runtime rt(std::move(*load.deployment), load.models, std::move(o));
  auto started = rt.start();
  if (!started) {
    std::fprintf(stderr, "%s\n", started.status().to_string().c_str());
    return 1;
  }
  const std::string accepted = "doppel_messages_in_total{plugin=\"devices\",outcome=\"accepted\"}";
  auto t0 = Clock::now();
  publish_all(broker, messages, qos, twins, rate);
  const std::string rejected = "doppel_messages_in_total{plugin=\"devices\",outcome=\"rejected\"}";
  testing::wait_until([&] { return counter(rt, accepted) + counter(rt, rejected) >= messages; },
                      std::chrono::seconds(300));
  (void)rt.flush();
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  double n = counter(rt, accepted);
  if (rate > 0) {
    std::lock_guard lock(probe.mutex);
    std::sort(probe.us.begin(), probe.us.end());
    auto q = [&](double f) {
      return probe.us.empty() ? 0.0
                              : probe.us[std::min(probe.us.size() - 1,
                                                  static_cast<std::size_t>(f * probe.us.size()))];
    };
    std::printf("Doppel (%s) qos %d at %.0f msg/s: %zu updates, latency p50 %.2f ms, p99 %.2f ms\n",
                storage.c_str(), qos, rate, probe.us.size(), q(0.5) / 1000, q(0.99) / 1000);
  } else {
    std::printf(
        "Doppel (%s)%*s qos %d: %.0f msgs in %.2f s = %.0f msg/s (%.0f %% of the ceiling)\n",
        storage.c_str(), static_cast<int>(14 - storage.size()), "", qos, n, s, n / s,
        100.0 * (n / s) / ceiling);
  }
  rt.stop();
  return n >= messages ? 0 : 1;
}
