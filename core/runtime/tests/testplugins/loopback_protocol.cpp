// A protocol plugin that is its own device, for runtime tests of the downlink: it acknowledges
// desired values (`ack: true`), answers commands with `respond` (a JSON text), or stays silent
// (`silent: true`) and lets commands time out. Counts what it was sent in metrics. At start it
// hands the core the messages listed under `inject:` (as a device would send them) and counts
// each verdict in loopback_ingested_total{outcome="ok"|<reason>}.
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "doppel/sdk/ingest.hpp"
#include "doppel/sdk/protocol.hpp"

namespace {

using namespace doppel::sdk;

class LoopbackProtocol final : public ProtocolPlugin {
 public:
  explicit LoopbackProtocol(const PluginContext& c)
      : ctx_(c),
        desired_(c.metrics->counter("loopback_desired_total", "", "desired values received")),
        commands_(c.metrics->counter("loopback_commands_total", "", "commands received")) {}

  Status configure(const ConfigNode& config) noexcept override {
    ack_ = config.get("ack").missing() || config.get("ack").as_bool();
    silent_ = !config.get("silent").missing() && config.get("silent").as_bool();
    respond_ = std::string(config.get("respond").text());
    routes_ = !config.get("routes").missing() && !config.get("routes").as_bool() ? false : true;
    const ConfigNode& inject = config.get("inject");
    for (std::size_t i = 0; !inject.missing() && i < inject.size(); ++i) {
      const ConfigNode& m = inject.at(i);
      std::string payload(m.get("payload").text());
      std::string_view hex = m.get("payload_hex").text();  // binary payloads (CBOR)
      for (std::size_t k = 0; k + 1 < hex.size(); k += 2)
        payload += static_cast<char>(std::stoi(std::string(hex.substr(k, 2)), nullptr, 16));
      inject_.push_back({std::string(m.get("topic").text()), std::move(payload),
                         std::string(m.get("content_type").text()),
                         std::string(m.get("device").text()),
                         std::string(m.get("device_twins").text())});
    }
    return {};
  }
  Status start() noexcept override {
    if (!ctx_.data_dir.empty())  // shows the runtime gave this instance a folder of its own
      std::ofstream(std::string(ctx_.data_dir) + "/started") << ctx_.instance_name;
    timer_ = std::thread([this] { expire(); });
    for (const Injected& m : inject_) {
      InboundMessage msg;
      msg.topic = m.topic;
      msg.payload = m.payload;
      msg.content_type = m.content_type;
      msg.device = m.device;
      msg.device_twins = m.device_twins;
      ctx_.ingest->ingest(msg, new Verdict(ctx_.metrics));
    }
    return {};
  }
  void stop() noexcept override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    timer_.join();
    for (auto& w : waiting_)  // every callback is called once, also on stop
      w.second->done({unavailable("stopped"), {}, 0});
    waiting_.clear();
  }

  void send(const OutboundMessage& m, OutboundCallback* done) noexcept override {
    if (!routes_) return done->done({not_found("no route"), {}, 0});
    if (m.kind == OutboundKind::kDesired) {
      desired_.add();
      return done->done({Status(), {}, ack_ ? m.version : 0u});
    }
    commands_.add();
    if (!silent_) return done->done({Status(), respond_, 0});
    std::lock_guard lock(mutex_);
    waiting_.emplace_back(std::chrono::steady_clock::now() + std::chrono::nanoseconds(m.timeout),
                          done);
    cv_.notify_all();
  }

 private:
  void expire() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      auto now = std::chrono::steady_clock::now();
      for (auto it = waiting_.begin(); it != waiting_.end();)
        if (it->first <= now) {
          it->second->done({Status(StatusCode::kDeadlineExceeded, "no answer in time"), {}, 0});
          it = waiting_.erase(it);
        } else {
          ++it;
        }
      cv_.wait_for(lock, std::chrono::milliseconds(5));
    }
  }

  struct Injected {
    std::string topic, payload, content_type, device, device_twins;
  };
  struct Verdict final : IngestCallback {
    explicit Verdict(Metrics* m) : metrics(m) {}
    void done(const IngestOutcome& o) noexcept override {
      std::string outcome = o.status ? "ok" : o.status.where();
      metrics->counter("loopback_ingested_total", "outcome=" + outcome, "injected messages").add();
      delete this;
    }
    Metrics* metrics;
  };

  PluginContext ctx_;
  std::vector<Injected> inject_;
  Counter& desired_;
  Counter& commands_;
  bool ack_ = true, silent_ = false, routes_ = true;
  std::string respond_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<std::pair<std::chrono::steady_clock::time_point, OutboundCallback*>> waiting_;
  std::thread timer_;
};

constexpr ConfigField kFields[] = {
    {"ack", ConfigNode::Type::kBool, false, "true", "acknowledge desired versions"},
    {"silent", ConfigNode::Type::kBool, false, "false", "never answer commands"},
    {"respond", ConfigNode::Type::kString, false, "", "command response (JSON)"},
    {"routes", ConfigNode::Type::kBool, false, "true", "false: answer every send with not-found"},
    {"ingest", ConfigNode::Type::kList, false, "[]", "ingest routes"},
    {"inject", ConfigNode::Type::kList, false, "[]",
     "messages handed to the core at start: {topic, payload, content_type, device, device_twins}"},
};

const PluginDescriptor kDescriptor{DOPPEL_SDK_ABI_MAJOR,
                                   DOPPEL_SDK_ABI_MINOR,
                                   DOPPEL_SDK_TOOLCHAIN,
                                   PluginKind::kProtocol,
                                   "loopback",
                                   "1.0.0",
                                   "test device loop",
                                   kFields,
                                   sizeof kFields / sizeof kFields[0],
                                   [](const PluginContext& c) noexcept -> Plugin* {
                                     return new (std::nothrow) LoopbackProtocol(c);
                                   },
                                   [](Plugin* p) noexcept { delete p; }};

}  // namespace

DOPPEL_PLUGIN_ENTRY(kDescriptor)
