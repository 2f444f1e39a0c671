// doppel-sim over CoAP. Server role: checked with libcoap's own coap-client-openssl (observe,
// PUT desired, POST commands, silence). Client role: against a libcoap server in this test
// that records every request. Ports: 0 everywhere (the simulator prints the one it got), so
// tests run in parallel; no sleeps: every wait is on a condition with a deadline.
#include <coap3/coap.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "child_process.hpp"
#include "doppel/testing/test_services.hpp"

namespace doppel::sim {
namespace {

using namespace std::chrono_literals;
using doppel::testing::TempDir;
using doppel::testing::wait_until;
using testing::ChildProcess;
using json = nlohmann::json;

constexpr const char* kMotor = "dtmi:example:factory:Motor;1";

std::vector<std::string> sim_args(std::vector<std::string> extra) {
  std::vector<std::string> args = {
      DOPPEL_SIM_BINARY, "--models", std::string(DOPPEL_SOURCE_DIR) + "/examples/models/factory",
      "--model",         kMotor,     "--id",
      "motor-{i}",       "--seed",   "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// Splits coap-client's output (payloads written back to back) into JSON documents.
std::vector<json> documents(const std::string& text) {
  std::vector<json> out;
  int depth = 0;
  bool in_string = false, escaped = false;
  std::size_t begin = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{') {
      if (depth++ == 0) begin = i;
    } else if (c == '}' && --depth == 0) {
      out.push_back(json::parse(text.substr(begin, i + 1 - begin)));
    }
  }
  return out;
}

json last_json(const std::string& text) {
  const auto at = text.rfind("\n{");
  return json::parse(at == std::string::npos ? text : text.substr(at + 1));
}

// The simulator as CoAP devices (server role).
class SimCoapServer : public ::testing::Test {
 protected:
  TempDir dir;
  std::unique_ptr<ChildProcess> sim;
  std::string base;  // coap://127.0.0.1:PORT
  int clients = 0;

  void start(std::vector<std::string> extra) {
    std::vector<std::string> args = {"--coap-listen", "127.0.0.1:0", "--count", "2", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    sim = std::make_unique<ChildProcess>(sim_args(args), dir.path(), "sim");
    std::string port;
    ASSERT_TRUE(wait_until(
        [&] {
          const auto err = sim->err();
          const auto at = err.find("listening on 127.0.0.1:");
          if (at == std::string::npos) return false;
          const auto from = at + std::string("listening on 127.0.0.1:").size();
          port = err.substr(from, err.find_first_not_of("0123456789", from) - from);
          return !port.empty();
        },
        15s))
        << sim->err();
    base = "coap://127.0.0.1:" + port;
  }

  // coap-client-openssl with `args` against `path`; waits for its exit.
  std::unique_ptr<ChildProcess> client(std::vector<std::string> args, const std::string& path,
                                       std::chrono::milliseconds deadline = 20s) {
    std::vector<std::string> full = {"coap-client-openssl"};
    full.insert(full.end(), args.begin(), args.end());
    full.push_back(base + path);
    auto p = std::make_unique<ChildProcess>(full, dir.path(), "client" + std::to_string(++clients));
    EXPECT_TRUE(p->wait(deadline)) << "coap-client did not finish";
    return p;
  }

  void TearDown() override {
    if (sim && sim->running()) {
      sim->signal(SIGTERM);
      EXPECT_EQ(sim->wait(20s), 0) << sim->err();
    }
  }
};

TEST_F(SimCoapServer, ObserveGetsEveryNewSample) {
  start({"--interval", "200ms", "--timestamps", "wall"});
  // Observe for 5 s: the registration answer plus one notification per 200 ms sample.
  auto c = client({"-s", "5", "-B", "6"}, "/twins/motor-1/telemetry");
  const auto docs = documents(c->out());
  ASSERT_GE(docs.size(), 10u) << c->out() << c->err();
  std::int64_t last_ts = 0;
  for (const auto& d : docs) {
    EXPECT_TRUE(d.contains("temperature")) << d;
    EXPECT_TRUE(d["bearing"].contains("temperature")) << d;
    EXPECT_GE(d["ts"].get<std::int64_t>(), last_ts) << "notifications out of order";
    last_ts = d["ts"].get<std::int64_t>();
  }
  EXPECT_GT(docs.back()["ts"].get<std::int64_t>(), docs.front()["ts"].get<std::int64_t>());
}

TEST_F(SimCoapServer, DesiredIsAppliedAckedWithItsVersionAndReported) {
  start({"--interval", "1h"});
  // The plugin's shape is not fixed: a patch and the simulator's own message both work.
  auto put = client({"-m", "put", "-t", "50", "-e", R"({"targetSpeed": 1200, "version": 7})"},
                    "/twins/motor-2/desired");
  EXPECT_EQ(json::parse(put->out()), json({{"version", 7}})) << put->err();
  auto props = client({}, "/twins/motor-2/properties");
  EXPECT_EQ(json::parse(props->out())["targetSpeed"], 1200) << props->out();
  put = client(
      {"-m", "put", "-t", "50", "-e", R"({"name": "targetSpeed", "value": 900, "version": 8})"},
      "/twins/motor-2/desired");
  EXPECT_EQ(json::parse(put->out()), json({{"version", 8}}));
  props = client({}, "/twins/motor-2/properties");
  EXPECT_EQ(json::parse(props->out())["targetSpeed"], 900);
  // motor-1 is untouched.
  props = client({}, "/twins/motor-1/properties");
  EXPECT_NE(json::parse(props->out())["targetSpeed"], 900);
  // Not JSON: 4.00 with a diagnostic; not Content-Format 50: 4.15.
  put = client({"-m", "put", "-t", "50", "-e", "speed=3"}, "/twins/motor-2/desired");
  EXPECT_NE(put->err().find("4.00"), std::string::npos) << put->out() << put->err();
  put = client({"-m", "put", "-t", "60", "-e", "x"}, "/twins/motor-2/desired");
  EXPECT_NE(put->err().find("4.15"), std::string::npos) << put->out() << put->err();
  sim->signal(SIGTERM);
  ASSERT_EQ(sim->wait(20s), 0) << sim->err();
  EXPECT_EQ(last_json(sim->out())["desired"]["applied"], 2) << sim->out();
}

TEST_F(SimCoapServer, CommandsAreAnsweredOrLeftUnanswered) {
  start({"--interval", "1h", "--respond", "motor-1:reduceLoad=false", "--no-respond",
         "motor-2:reduceLoad"});
  auto post = client({"-m", "post", "-t", "50", "-e", R"({"percent": 10})"},
                     "/twins/motor-1/commands/reduceLoad");
  EXPECT_EQ(json::parse(post->out()), json(false)) << post->err();
  post = client({"-m", "post", "-t", "50", "-e", "{}"}, "/twins/motor-1/commands/explode");
  EXPECT_NE(post->err().find("4.04"), std::string::npos) << post->err();
  // A silent device: the CON request is acknowledged, no response ever comes (-B 2: give up).
  post = client({"-m", "post", "-t", "50", "-e", "{}", "-B", "2"},
                "/twins/motor-2/commands/reduceLoad");
  EXPECT_EQ(post->out(), "");
  sim->signal(SIGTERM);
  ASSERT_EQ(sim->wait(20s), 0) << sim->err();
  const auto report = last_json(sim->out());
  EXPECT_EQ(report["commands"]["answered"], 1) << sim->out();
  EXPECT_EQ(report["commands"]["ignored"], 1) << sim->out();
}

TEST_F(SimCoapServer, SilentAfterStopsNotificationsAndAnswers) {
  start({"--interval", "100ms", "--coap-silent-after", "1500ms"});
  auto observe = client({"-s", "4", "-B", "5"}, "/twins/motor-1/telemetry");
  ASSERT_TRUE(
      wait_until([&] { return sim->err().find("silent from now on") != std::string::npos; }, 10s));
  const auto docs = documents(observe->out());
  // About 15 samples before the silence and none of the ~25 after it.
  EXPECT_GE(docs.size(), 3u) << observe->out();
  EXPECT_LE(docs.size(), 22u) << observe->out();
  auto get = client({"-B", "2"}, "/twins/motor-1/telemetry");
  EXPECT_EQ(get->out(), "") << "a silent device answered";
}

TEST_F(SimCoapServer, SilentAfterCanNameDevices) {
  start({"--interval", "100ms", "--coap-silent-after", "motor-2:500ms"});
  ASSERT_TRUE(wait_until(
      [&] { return sim->err().find("devices silent from now on") != std::string::npos; }, 10s));
  auto get = client({"-B", "2"}, "/twins/motor-2/telemetry");
  EXPECT_EQ(get->out(), "") << "the silent device answered";
  get = client({}, "/twins/motor-1/telemetry");
  EXPECT_TRUE(json::parse(get->out()).contains("temperature")) << get->out() << get->err();
}

// A libcoap server in the test process: records each POST and answers 2.04.
class RecordingServer {
 public:
  struct Request {
    std::string path;
    coap_pdu_type_t type;
    int format = -1;
    std::string payload;
  };

  explicit RecordingServer(const std::vector<std::string>& twins) {
    coap_startup();
    coap_set_log_level(LOG_WARNING);
    ctx_ = coap_new_context(nullptr);
    coap_address_t addr;
    coap_address_init(&addr);
    addr.addr.sin.sin_family = AF_INET;
    addr.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.addr.sin.sin_port = 0;
    addr.size = sizeof(addr.addr.sin);
    coap_endpoint_t* ep = coap_new_endpoint(ctx_, &addr, COAP_PROTO_UDP);
    if (ep == nullptr) throw std::runtime_error("no endpoint");
    const std::string where = coap_endpoint_str(ep);  // "127.0.0.1:PORT UDP"
    port_ = std::stoi(where.substr(where.find(':') + 1));
    for (const auto& t : twins) {
      for (const auto* kind : {"telemetry", "properties"}) {
        const std::string path = "twins/" + t + "/" + kind;
        auto* r = coap_resource_init(
            coap_new_str_const(reinterpret_cast<const std::uint8_t*>(path.data()), path.size()),
            COAP_RESOURCE_FLAGS_RELEASE_URI);
        coap_resource_set_userdata(r, this);
        coap_register_request_handler(r, COAP_REQUEST_POST, &RecordingServer::on_post);
        coap_add_resource(ctx_, r);
      }
    }
    thread_ = std::thread([this] {
      while (!stop_)
        coap_io_process(ctx_, 20);
    });
  }
  ~RecordingServer() {
    stop_ = true;
    thread_.join();
    coap_free_context(ctx_);
  }

  int port() const { return port_; }
  std::vector<Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::size_t count(const std::string& kind) const {
    std::size_t n = 0;
    for (const auto& r : requests())
      n += r.path.find("/" + kind) != std::string::npos;
    return n;
  }

 private:
  static void on_post(coap_resource_t* r, coap_session_t*, const coap_pdu_t* request,
                      const coap_string_t*, coap_pdu_t* response) {
    auto* self = static_cast<RecordingServer*>(coap_resource_get_userdata(r));
    Request req;
    const coap_str_const_t* path = coap_resource_get_uri_path(r);
    req.path.assign(reinterpret_cast<const char*>(path->s), path->length);
    req.type = coap_pdu_get_type(request);
    coap_opt_iterator_t oi;
    if (coap_opt_t* cf = coap_check_option(request, COAP_OPTION_CONTENT_FORMAT, &oi))
      req.format = static_cast<int>(coap_decode_var_bytes(coap_opt_value(cf), coap_opt_length(cf)));
    std::size_t len = 0;
    const std::uint8_t* data = nullptr;
    if (coap_get_data(request, &len, &data))
      req.payload.assign(reinterpret_cast<const char*>(data), len);
    {
      std::lock_guard lock(self->mu_);
      self->requests_.push_back(std::move(req));
    }
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_CHANGED);
  }

  coap_context_t* ctx_ = nullptr;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Request> requests_;
};

class SimCoapClient : public ::testing::Test {
 protected:
  TempDir dir;
  RecordingServer server{{"motor-1", "motor-2", "motor-3", "motor-4"}};
  std::string uri() const { return "coap://127.0.0.1:" + std::to_string(server.port()); }
};

TEST_F(SimCoapClient, ConJsonTelemetryAndPropertiesArrive) {
  ChildProcess sim(sim_args({"--coap", uri(), "--count", "4", "--rate", "0", "--messages", "400",
                             "-q", "--json"}),
                   dir.path(), "sim");
  ASSERT_EQ(sim.wait(60s), 0) << sim.err();
  const auto report = last_json(sim.out());
  // Every request completed with its 2.04: 400 telemetry + 4 reported properties.
  EXPECT_EQ(report["telemetry"], 400) << sim.out();
  EXPECT_EQ(report["acknowledged"], 404) << sim.out();
  EXPECT_EQ(report["failed"], 0) << sim.out();
  EXPECT_GT(report["latency_samples"], 0);
  ASSERT_EQ(server.count("telemetry"), 400u);
  ASSERT_EQ(server.count("properties"), 4u);
  std::map<std::string, int> per_twin;
  for (const auto& r : server.requests()) {
    EXPECT_EQ(r.type, COAP_MESSAGE_CON);
    EXPECT_EQ(r.format, 50);
    const auto doc = json::parse(r.payload);
    if (r.path.ends_with("/telemetry")) {
      EXPECT_TRUE(doc.contains("temperature")) << r.payload;
      ++per_twin[r.path];
    } else {
      EXPECT_TRUE(doc.contains("ratedPower")) << r.payload;
    }
  }
  // Round robin over the devices.
  ASSERT_EQ(per_twin.size(), 4u);
  for (const auto& [path, n] : per_twin)
    EXPECT_EQ(n, 100) << path;
}

TEST_F(SimCoapClient, NonCborTelemetryArrives) {
  ChildProcess sim(sim_args({"--coap", uri(), "--count", "2", "--coap-type", "non", "--coap-format",
                             "cbor", "--coap-telemetry-path", "twins/{twin}/telemetry", "--rate",
                             "0", "--messages", "100", "-q", "--json"}),
                   dir.path(), "sim");
  ASSERT_EQ(sim.wait(60s), 0) << sim.err();
  EXPECT_EQ(last_json(sim.out())["failed"], 0) << sim.out();
  ASSERT_TRUE(wait_until([&] { return server.count("telemetry") == 100; }, 10s))
      << server.count("telemetry");
  for (const auto& r : server.requests()) {
    EXPECT_EQ(r.type, COAP_MESSAGE_NON);
    EXPECT_EQ(r.format, 60);
    const auto doc = json::from_cbor(r.payload);
    if (r.path.ends_with("/telemetry")) {
      EXPECT_TRUE(doc.contains("temperature")) << doc;
    }
  }
}

TEST_F(SimCoapClient, ErrorResponsesAreCountedAsFailed) {
  // The recording server has no such resource: every telemetry request gets 4.04.
  ChildProcess sim(sim_args({"--coap", uri(), "--count", "1", "--coap-telemetry-path",
                             "nowhere/{twin}", "--rate", "0", "--messages", "20", "-q", "--json"}),
                   dir.path(), "sim");
  ASSERT_EQ(sim.wait(60s), 0) << sim.err();
  const auto report = last_json(sim.out());
  EXPECT_EQ(report["failed"], 20) << sim.out();
  EXPECT_EQ(report["acknowledged"], 1) << sim.out();  // the reported properties
  EXPECT_NE(sim.err().find("POST /nowhere/motor-1: 4.04"), std::string::npos) << sim.err();
}

TEST(SimCoapClientDeadPeer, DurationEndsARunWhoseRequestsGetNoAnswer) {
  // A UDP socket that never reads: requests vanish without an ICMP error.
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  TempDir dir;
  ChildProcess sim(
      sim_args({"--coap", "coap://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)), "--count",
                "2", "--coap-type", "non", "--rate", "0", "--duration", "1s", "-q", "--json"}),
      dir.path(), "sim");
  // 1 s of load, then at most 10 s waiting for responses (NON requests expire after 10 s).
  ASSERT_EQ(sim.wait(40s), 0) << sim.err();
  ::close(fd);
  const auto report = last_json(sim.out());
  EXPECT_EQ(report["acknowledged"], 0) << sim.out();
  // The window (20) filled and stayed full: reported properties plus the telemetry sent.
  EXPECT_EQ(report["sent"], 20) << sim.out();
  EXPECT_EQ(report["failed"], 20) << sim.out();
}

}  // namespace
}  // namespace doppel::sim
