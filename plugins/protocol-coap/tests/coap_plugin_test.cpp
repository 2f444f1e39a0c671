// protocol-coap against real CoAP endpoints on free loopback UDP ports: the plugin .so through
// the real host and runtime, coap-client-openssl (libcoap3-bin) as the independent device, and
// small in-test libcoap servers as observable / commandable devices. No sleeps: every wait is a
// condition with a deadline.
#include <arpa/inet.h>
#include <coap3/coap.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "doppel/host/plugin_host.hpp"
#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/runtime.hpp"
#include "doppel/sdk/ingest.hpp"
#include "doppel/sdk/protocol.hpp"
#include "doppel/testing/protocol_plugin_test.hpp"
#include "doppel/testing/shell.hpp"
#include "doppel/testing/test_services.hpp"

namespace doppel {
namespace {

using testing::dead_letters;
using testing::metric;
using testing::reported;
using testing::run_shell;
using testing::shell_quote;
using testing::TempDir;
using testing::wait_until;
using namespace std::chrono_literals;

constexpr const char* kModel = R"({
  "@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"],
  "@id": "dtmi:test:coap:Motor;1", "@type": "Interface",
  "contents": [
    {"@type": ["Telemetry", "Temperature"], "name": "temperature", "schema": "double",
     "unit": "degreeCelsius"},
    {"@type": "Telemetry", "name": "vibration", "schema": "double"},
    {"@type": "Property", "name": "seq", "schema": "integer"},
    {"@type": "Property", "name": "targetSpeed", "schema": "double", "writable": true},
    {"@type": "Command", "name": "reduceLoad",
     "request": {"name": "percent", "schema": "integer"},
     "response": {"name": "accepted", "schema": "boolean"}}]})";

int any_udp_port();

// A UDP port nothing listens on right now, and not handed out before in this process (two
// calls in a row could otherwise get the same number).
int free_udp_port() {
  static std::mutex mutex;
  static std::set<int> given;
  for (int attempt = 0; attempt < 100; ++attempt) {
    int port = any_udp_port();
    std::lock_guard lock(mutex);
    if (port && given.insert(port).second) return port;
  }
  return 0;
}

int any_udp_port() {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// coap-client-openssl with `args`; stdout and stderr together. Waits at most `wait_s` seconds.
std::string coap_client(const std::string& args, int* rc = nullptr, int wait_s = 10) {
  return run_shell(
      std::string(DOPPEL_COAP_CLIENT) + " -B " + std::to_string(wait_s) + " " + args + " 2>&1", rc);
}

// The response code coap-client saw: "2.04" (logged at -v 6 as "c:2.04") or the "4.xx" line.
std::string response_code(const std::string& out) {
  std::size_t at = out.rfind(" c:");
  while (at != std::string::npos) {
    std::string code = out.substr(at + 3, 4);
    if (code != "0.00" && code.size() == 4 && code[1] == '.' && code[0] >= '2') return code;
    if (at == 0) break;
    at = out.rfind(" c:", at - 1);
  }
  return "?";
}

std::string deployment_text(const std::string& plugin_config, const std::string& twin_extra = "",
                            const std::string& top_extra = "") {
  return "apiVersion: doppel/v1\nname: coap-test\nmodels: [models/]\n" + top_extra +
         "plugins:\n"
         "  - name: devices\n    kind: protocol\n    library: coap\n    config:\n" +
         plugin_config +
         "twins:\n  - {id: \"motor-{i}\", count: 3, model: \"dtmi:test:coap:Motor;1\"" +
         twin_extra + "}\n";
}

struct Deploy : testing::TestDeployment {
  explicit Deploy(const std::string& plugin_config, const std::string& twin_extra = "",
                  const std::string& top_extra = "")
      : TestDeployment(kModel, deployment_text(plugin_config, twin_extra, top_extra)) {}
};

runtime::RuntimeOptions quiet_options(sdk::Duration tick = sdk::kSecond) {
  return testing::quiet_runtime_options("coap-test", tick);
}

bool stale(runtime::Runtime& rt, const std::string& twin) {
  bool s = false;
  rt.graph().read(twin, [&](const twin::TwinView& v) { s = v.stale; });
  return s;
}

std::string listen_config(int port) {
  return "      listen: \"127.0.0.1:" + std::to_string(port) + "\"\n";
}

std::string uri(int port, const std::string& path) {
  return "coap://127.0.0.1:" + std::to_string(port) + "/" + path;
}

// A POST with coap-client: returns the response code coap-client saw ("2.04", "4.00", ...).
std::string post(int port, const std::string& path, const std::string& payload,
                 const std::string& extra = "", std::string* output = nullptr) {
  std::string out = coap_client("-v 6 -m post " + extra + " -e " + shell_quote(payload) + " " +
                                shell_quote(uri(port, path)));
  if (output) *output = out;
  return response_code(out);
}

// ---- an in-test device: a libcoap server on its own thread ------------------------------------

// Serves an observable "sensors" resource (JSON), accepts PUT/POST on any other path (desired
// values and commands), records what it got, and answers commands with `command_response`
// (or only with an empty ACK while `silent_commands` is set).
class SimDevice {
 public:
  // With a `psk_key`, the device speaks coaps only and accepts any identity with that key.
  explicit SimDevice(const std::string& psk_key = "") : port_(free_udp_port()), key_(psk_key) {
    coap_startup();
    ctx_ = coap_new_context(nullptr);
    coap_context_set_block_mode(ctx_, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    if (!key_.empty()) {
      coap_dtls_spsk_t spsk{};
      spsk.version = COAP_DTLS_SPSK_SETUP_VERSION;
      spsk.psk_info.key = {key_.size(), reinterpret_cast<const std::uint8_t*>(key_.data())};
      coap_context_set_psk2(ctx_, &spsk);
    }
    coap_address_t addr;
    coap_address_init(&addr);
    addr.addr.sin.sin_family = AF_INET;
    addr.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.addr.sin.sin_port = htons(static_cast<std::uint16_t>(port_));
    addr.size = sizeof(sockaddr_in);
    ok_ =
        coap_new_endpoint(ctx_, &addr, key_.empty() ? COAP_PROTO_UDP : COAP_PROTO_DTLS) != nullptr;
    sensors_ = coap_resource_init(coap_make_str_const("sensors"), 0);
    coap_register_request_handler(sensors_, COAP_REQUEST_GET, &SimDevice::on_get);
    coap_resource_set_get_observable(sensors_, 1);
    coap_resource_set_userdata(sensors_, this);
    coap_add_resource(ctx_, sensors_);
    coap_resource_t* any = coap_resource_unknown_init2(&SimDevice::on_write, 0);
    coap_register_request_handler(any, COAP_REQUEST_POST, &SimDevice::on_write);
    coap_resource_set_userdata(any, this);
    coap_add_resource(ctx_, any);
    thread_ = std::thread([this] {
      while (!stop_) {
        if (notify_.exchange(false)) coap_resource_notify_observers(sensors_, nullptr);
        coap_io_process(ctx_, 5);
      }
    });
  }
  ~SimDevice() {
    stop_ = true;
    thread_.join();
    coap_free_context(ctx_);
  }
  bool ok() const { return ok_; }
  int port() const { return port_; }

  // A new sensors value; observers are notified unless `muted`.
  void set(const std::string& json) {
    {
      std::lock_guard lock(mutex_);
      value_ = json;
    }
    if (!muted) notify_ = true;
  }
  std::vector<std::string> writes() {
    std::lock_guard lock(mutex_);
    return writes_;
  }
  std::set<std::string> identities() {
    std::lock_guard lock(mutex_);
    return identities_;
  }

  std::atomic<int> registrations{0};  // GETs with Observe: 0
  std::atomic<int> gets{0};
  std::atomic<int> cancellations{0};  // GETs with Observe: 1
  std::atomic<bool> silent_commands{false};
  std::atomic<bool> muted{false};  // no notifications (a lost observation)
  std::string command_response = "true";

 private:
  void saw(const coap_session_t* session) {
    if (const coap_bin_const_t* id = coap_session_get_psk_identity(session)) {
      std::lock_guard lock(mutex_);
      identities_.insert(std::string(reinterpret_cast<const char*>(id->s), id->length));
    }
  }

  static void on_get(coap_resource_t* r, coap_session_t* session, const coap_pdu_t* request,
                     const coap_string_t*, coap_pdu_t* response) {
    auto* self = static_cast<SimDevice*>(coap_resource_get_userdata(r));
    self->saw(session);
    ++self->gets;
    coap_opt_iterator_t it;
    if (coap_opt_t* o = coap_check_option(request, COAP_OPTION_OBSERVE, &it)) {
      if (coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) == COAP_OBSERVE_CANCEL)
        ++self->cancellations;
      if (coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) == COAP_OBSERVE_ESTABLISH) {
        // Notifications run this handler again with the registering request: count tokens.
        coap_bin_const_t t = coap_pdu_get_token(request);
        std::lock_guard lock(self->mutex_);
        if (self->observe_tokens_.insert(std::string(reinterpret_cast<const char*>(t.s), t.length))
                .second)
          ++self->registrations;
      }
    }
    std::string value;
    {
      std::lock_guard lock(self->mutex_);
      value = self->value_;
    }
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_CONTENT);
    std::uint8_t buf[4];
    coap_add_option(response, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(buf, sizeof buf, COAP_MEDIATYPE_APPLICATION_JSON), buf);
    coap_add_data(response, value.size(), reinterpret_cast<const std::uint8_t*>(value.data()));
  }

  static void on_write(coap_resource_t* r, coap_session_t* session, const coap_pdu_t* request,
                       const coap_string_t*, coap_pdu_t* response) {
    auto* self = static_cast<SimDevice*>(coap_resource_get_userdata(r));
    self->saw(session);
    std::string path;
    if (coap_string_t* p = coap_get_uri_path(request)) {
      path.assign(reinterpret_cast<const char*>(p->s), p->length);
      coap_delete_string(p);
    }
    std::size_t len = 0, off = 0, total = 0;
    const std::uint8_t* data = nullptr;
    std::string body;
    if (coap_get_data_large(request, &len, &data, &off, &total))
      body.assign(reinterpret_cast<const char*>(data), len);
    bool put = coap_pdu_get_code(request) == COAP_REQUEST_CODE_PUT;
    {
      std::lock_guard lock(self->mutex_);
      self->writes_.push_back(std::string(put ? "PUT " : "POST ") + path + " " + body);
    }
    if (path.find("/commands/") != std::string::npos) {
      if (self->silent_commands) return;  // an empty ACK, never a response
      coap_pdu_set_code(response, COAP_RESPONSE_CODE_CHANGED);
      coap_add_data(response, self->command_response.size(),
                    reinterpret_cast<const std::uint8_t*>(self->command_response.data()));
      return;
    }
    // Desired: acknowledge the version it carried.
    std::string ack = "{}";
    if (std::size_t at = body.find("\"version\":"); at != std::string::npos)
      ack = "{\"version\":" + body.substr(at + 10, body.find('}', at) - at - 10) + "}";
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_CHANGED);
    coap_add_data(response, ack.size(), reinterpret_cast<const std::uint8_t*>(ack.data()));
  }

  int port_;
  std::string key_;
  bool ok_ = false;
  coap_context_t* ctx_ = nullptr;
  coap_resource_t* sensors_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> notify_{false};
  std::mutex mutex_;
  std::string value_ = "{}";
  std::vector<std::string> writes_;
  std::set<std::string> observe_tokens_;
  std::set<std::string> identities_;
};

// ---- config -----------------------------------------------------------------------------------

std::string config_error(const std::string& config) {
  Deploy d(config);
  if (!d.load.ok()) return d.errors();
  auto o = quiet_options();
  o.start_plugins = false;
  runtime::Runtime rt(std::move(*d.load.deployment), d.load.models, std::move(o));
  auto r = rt.start();
  return r ? "" : r.status().to_string();
}

TEST(CoapConfig, ErrorsAreLocatedAndSayWhatToDo) {
  std::string e = config_error("      listen: \"127.0.0.1:99999\"\n");
  EXPECT_NE(e.find("deploy.yaml:9:"), std::string::npos) << e;
  EXPECT_NE(e.find("listen must be host:port"), std::string::npos) << e;

  e = config_error("      lisen: \"127.0.0.1:5683\"\n");
  EXPECT_NE(e.find("unknown config key 'lisen'"), std::string::npos) << e;

  e = config_error("      dtls: {listen: \"127.0.0.1:5684\"}\n");
  EXPECT_NE(e.find("dtls needs psk_file"), std::string::npos) << e;

  e = config_error("      observe:\n        - {uri: \"http://x/y\", topic: t, mode: watch}\n");
  EXPECT_NE(e.find("must start with coap://"), std::string::npos) << e;
  EXPECT_NE(e.find("observe mode must be observe or poll"), std::string::npos) << e;

  e = config_error(
      "      ingest: [{topic: \"twins/{twin}/telemetry\"}]\n"
      "      observe: [{uri: \"coap://127.0.0.1:5690/s\", topic: \"twins/motor-1/props\"}]\n");
  EXPECT_NE(e.find("observe topic 'twins/motor-1/props' matches no ingest route"),
            std::string::npos)
      << e;

  e = config_error("      commands: {path: \"c/{twin}/{cmd}\"}\n");
  EXPECT_NE(e.find("unknown variable {cmd}"), std::string::npos) << e;
  EXPECT_NE(e.find("need devices:"), std::string::npos) << e;

  e = config_error("      max_payload: lots\n");
  EXPECT_NE(e.find("max_payload must be a size"), std::string::npos) << e;

  e = config_error("      ingest:\n        - topic: \"/twins/{twin}/telemetry\"\n");
  EXPECT_NE(e.find("starts with '/'"), std::string::npos) << e;

  EXPECT_EQ(config_error(listen_config(5683) +
                         "      devices: [{twins: \"motor-*\", uri: \"coap://127.0.0.1:5690\"}]\n"
                         "      desired: {method: PUT, timeout: 2s}\n      commands: {}\n"
                         "      max_payload: 1MiB\n"),
            "");
}

TEST(CoapConfig, SampleYamlLoadsAndConfigures) {
  auto load =
      runtime::load_deployment(std::filesystem::path(DOPPEL_COAP_SOURCE_DIR) / "sample.yaml");
  ASSERT_TRUE(load.ok()) << [&] {
    std::string s;
    for (const auto& d : load.diagnostics.items)
      s += model::format_diagnostic(d) + "\n";
    return s;
  }();
  auto o = quiet_options();
  o.start_plugins = false;
  runtime::Runtime rt(std::move(*load.deployment), load.models, std::move(o));
  auto r = rt.start();
  EXPECT_TRUE(r) << r.status().to_string();
}

// ---- server mode --------------------------------------------------------------------------------

const char* kRoutes =
    "      ingest:\n"
    "        - topic: \"twins/{twin}/telemetry\"\n"
    "        - topic: \"twins/{twin}/properties\"\n"
    "          kind: properties\n"
    "        - topic: \"twins/{twin}/big\"\n"
    "          values: {temperature: \"$.t\"}\n";

TEST(CoapServer, ConAndNonPostsReachTheTwinAndAreAnswered204) {
  int port = free_udp_port();
  Deploy d(listen_config(port) + kRoutes);
  ASSERT_TRUE(d.load.ok()) << d.errors();
  runtime::Runtime rt(std::move(*d.load.deployment), d.load.models, quiet_options());
  auto started = rt.start();
  ASSERT_TRUE(started) << started.status().to_string();

  std::string out;
  EXPECT_EQ(post(port, "twins/motor-1/telemetry", R"({"temperature": 21.5, "vibration": 0.25})",
                 "-t json", &out),
            "2.04")
      << out;
  // The CON was answered after the core confirmed it: the value is there already.
  EXPECT_EQ(reported(rt, "motor-1", "temperature"), "21.5");
  EXPECT_EQ(post(port, "twins/motor-2/telemetry", R"({"temperature": 30})", "-N", &out), "2.04")
      << out;
  ASSERT_TRUE(wait_until([&] { return reported(rt, "motor-2", "temperature") == "30"; }));
  EXPECT_EQ(post(port, "twins/motor-3/properties", R"({"seq": 7})", "-t 50", &out), "2.04") << out;
  EXPECT_EQ(reported(rt, "motor-3", "seq"), "7");
  EXPECT_EQ(metric(rt, "doppel_coap_requests_total{plugin=\"devices\"}"), 3);
  rt.stop();
}

TEST(CoapServer, ManyConcurrentDevicesAreAllAnswered) {
  int port = free_udp_port();
  Deploy d(listen_config(port) + kRoutes);
  ASSERT_TRUE(d.load.ok()) << d.errors();
  runtime::Runtime rt(std::move(*d.load.deployment), d.load.models, quiet_options());
  ASSERT_TRUE(rt.start());
  constexpr int kDevices = 12, kEach = 4;
  std::atomic<int> changed{0};
  std::vector<std::thread> devices;
  for (int i = 0; i < kDevices; ++i)
    devices.emplace_back([&, i] {
      for (int k = 0; k < kEach; ++k) {
        std::string twin = "motor-" + std::to_string(1 + (i + k) % 3);
        std::string out;
        if (post(port, "twins/" + twin + "/properties",
                 "{\"seq\": " + std::to_string(i * 100 + k) + "}", i % 2 ? "-N" : "",
                 &out) == "2.04")
          ++changed;
      }
    });
  for (auto& t : devices)
    t.join();
  EXPECT_EQ(changed.load(), kDevices * kEach);
  EXPECT_EQ(metric(rt, "doppel_coap_requests_total{plugin=\"devices\"}"), kDevices * kEach);
  EXPECT_EQ(metric(rt, "doppel_messages_in_total{plugin=\"devices\",outcome=\"accepted\"}"),
            kDevices * kEach);
  rt.stop();
}

TEST(CoapServer, BadRequestsGetTheRightCodeAndAreDeadLettered) {
  int port = free_udp_port();
  Deploy d(listen_config(port) + kRoutes);
  ASSERT_TRUE(d.load.ok()) << d.errors();
  runtime::Runtime rt(std::move(*d.load.deployment), d.load.models, quiet_options());
  ASSERT_TRUE(rt.start());

  std::string out;
  EXPECT_EQ(post(port, "twins/motor-1/telemetry", "this is not json", "", &out), "4.00") << out;
  EXPECT_NE(out.find("not-json"), std::string::npos) << out;  // the diagnostic payload
  EXPECT_EQ(post(port, "twins/no-such-twin/telemetry", R"({"temperature": 1})", "", &out), "4.04")
      << out;
  EXPECT_EQ(post(port, "twins/motor-1/telemetry", R"({"temperature": "hot"})", "", &out), "4.00")
      << out;
  EXPECT_NE(out.find("wrong-type"), std::string::npos) << out;
  EXPECT_EQ(post(port, "somewhere/else", R"({"temperature": 1})", "", &out), "4.04") << out;
  // Reading is not served: devices write.
  out = coap_client("-v 6 " + shell_quote(uri(port, "twins/motor-1/telemetry")));
  EXPECT_EQ(response_code(out), "4.04") << out;  // libcoap: no resource serves GET there
  EXPECT_EQ(post(port, "twins/motor-1/telemetry", R"({"temperature": 22})", "", &out), "2.04")
      << out;

  EXPECT_EQ(metric(rt, "doppel_dead_letters_total{reason=\"not-json\"}"), 1);
  EXPECT_EQ(metric(rt, "doppel_dead_letters_total{reason=\"unknown-twin\"}"), 1);
  EXPECT_EQ(metric(rt, "doppel_dead_letters_total{reason=\"wrong-type\"}"), 1);
  EXPECT_EQ(metric(rt, "doppel_dead_letters_total{reason=\"no-route\"}"), 1);
  EXPECT_EQ(metric(rt, "doppel_coap_rejected_total{plugin=\"devices\"}"), 4);
  EXPECT_EQ(reported(rt, "motor-1", "temperature"), "22");

  // Stored with the path and payload.
  std::vector<std::string> letters = dead_letters(rt);
  ASSERT_EQ(letters.size(), 4u);
  std::string all;
  for (auto& l : letters)
    all += l + "\n";
  EXPECT_NE(all.find("twins/no-such-twin/telemetry"), std::string::npos) << all;
  rt.stop();
}

// Needs the core's content-type check (InboundMessage::content_type, SDK 1.2).
TEST(CoapServer, UnsupportedContentFormatIs415AndDeadLettered) {
  int port = free_udp_port();
  Deploy d(listen_config(port) + kRoutes);
  ASSERT_TRUE(d.load.ok()) << d.errors();
  runtime::Runtime rt(std::move(*d.load.deployment), d.load.models, quiet_options());
  ASSERT_TRUE(rt.start());
  std::string out;
  EXPECT_EQ(post(port, "twins/motor-1/telemetry", R"({"temperature": 1})", "-t 0", &out), "4.15")
      << out;  // text/plain
  EXPECT_EQ(post(port, "twins/motor-1/telemetry", R"({"temperature": 1})", "-t 41", &out), "4.15")
      << out;  // application/xml
  EXPECT_EQ(metric(rt, "doppel_dead_letters_total{reason=\"unsupported-content-type\"}"), 2);
  EXPECT_EQ(reported(rt, "motor-1", "temperature"), "null");
  rt.stop();
}

TEST(CoapServer, BlockWiseUploadOver1KiBIsReassembled) {
  int port = free_udp_port();
  Deploy d(listen_config(port) + kRoutes);
  ASSERT_TRUE(d.load.ok()) << d.errors();
  runtime::Runtime rt(std::move(*d.load.deployment), d.load.models, quiet_options());
  ASSERT_TRUE(rt.start());
  std::string payload = R"({"t": 42.5, "pad": ")" + std::string(1500, 'x') + "\"}";
  TempDir tmp;
  std::ofstream(tmp.path() / "body.json") << payload;
  std::string out = coap_client("-v 7 -m post -b 64 -t json -f " +
                                shell_quote((tmp.path() / "body.json").string()) + " " +
                                shell_quote(uri(port, "twins/motor-2/big")));
  EXPECT_EQ(response_code(out), "2.04") << out;
  EXPECT_NE(out.find("Block1:0/M/64"), std::string::npos) << "not sent block-wise:\n" << out;
  // 24 blocks of 64 bytes, each but the last answered 2.31 Continue, the body reassembled.
  EXPECT_NE(out.find("c:2.31 i:"), std::string::npos) << out;
  EXPECT_NE(out.find("Block1:23/_/64"), std::string::npos) << out;
  EXPECT_EQ(reported(rt, "motor-2", "temperature"), "42.5");
  rt.stop();
}

TEST(CoapServer, PayloadOverMaxPayloadIs413AndDeadLettered) {
  int port = free_udp_port();
  Deploy d(listen_config(port) + "      max_payload: 512B\n" + kRoutes);
  ASSERT_TRUE(d.load.ok()) << d.errors();
  runtime::Runtime rt(std::move(*d.load.deployment), d.load.models, quiet_options());
  ASSERT_TRUE(rt.start());
  std::string payload = R"({"t": 1, "pad": ")" + std::string(1000, 'x') + "\"}";
  TempDir tmp;
  std::ofstream(tmp.path() / "body.json") << payload;
  std::string out =
      coap_client("-v 6 -m post -b 64 -f " + shell_quote((tmp.path() / "body.json").string()) +
                  " " + shell_quote(uri(port, "twins/motor-2/big")));
  EXPECT_EQ(response_code(out), "4.13") << out;
  EXPECT_NE(out.find("over max_payload (512)"), std::string::npos) << out;
  // Dead-lettered by the core (InboundMessage::refused_reason), with the start of the payload.
  ASSERT_TRUE(testing::wait_until(
      [&] { return metric(rt, "doppel_dead_letters_total{reason=\"too-large\"}") == 1; }));
  std::vector<std::string> letters = dead_letters(rt);
  ASSERT_EQ(letters.size(), 1u);
  const std::string& letter = letters[0];
  EXPECT_NE(letter.find("\"topic\":\"twins/motor-2/big\""), std::string::npos) << letter;
  EXPECT_NE(letter.find("\"payload\":\"{\\\"t\\\": 1"), std::string::npos) << letter;
  rt.stop();
}

TEST(CoapServer, CborPayloadIsDecodedByTheCore) {
  int port = free_udp_port();
  Deploy d(listen_config(port) + kRoutes);
  ASSERT_TRUE(d.load.ok()) << d.errors();
  runtime::Runtime rt(std::move(*d.load.deployment), d.load.models, quiet_options());
  ASSERT_TRUE(rt.start());
  // {"temperature": 21.5} in CBOR: map(1), text(11) "temperature", float64 21.5.
  std::string cbor = "\xA1\x6Btemperature\xFB\x40\x35\x80\x00\x00\x00\x00\x00";
  cbor = std::string("\xA1\x6B") + "temperature" + std::string("\xFB\x40\x35\x80\0\0\0\0\0", 9);
  TempDir tmp;
  std::ofstream(tmp.path() / "body.cbor", std::ios::binary) << cbor;
  std::string out =
      coap_client("-v 6 -m post -t 60 -f " + shell_quote((tmp.path() / "body.cbor").string()) +
                  " " + shell_quote(uri(port, "twins/motor-1/telemetry")));
  EXPECT_EQ(response_code(out), "2.04") << out;
  EXPECT_EQ(reported(rt, "motor-1", "temperature"), "21.5");
  rt.stop();
}

// ---- the plugin alone, through the host ---------------------------------------------------------

// Holds the core's confirmations until release().
struct HoldingSink final : sdk::IngestSink {
  std::atomic<int> n{0};
  std::mutex m;
  std::vector<sdk::IngestCallback*> held;
  std::vector<std::string> devices;
  void ingest(const sdk::InboundMessage& msg, sdk::IngestCallback* done) noexcept override {
    {
      std::lock_guard lock(m);
      devices.emplace_back(std::string(msg.device) + "|" + std::string(msg.device_twins));
      if (done) held.push_back(done);
    }
    ++n;
  }
  void release() {
    std::vector<sdk::IngestCallback*> all;
    {
      std::lock_guard lock(m);
      all.swap(held);
    }
    for (auto* d : all)
      d->done({});
  }
};

struct LoadedCoap : testing::LoadedTestPlugin {
  HoldingSink sink;
  explicit LoadedCoap(const std::string& config)
      : LoadedTestPlugin(kModel, deployment_text(config)) {}
  sdk::Status start() { return LoadedTestPlugin::start(&sink); }
};

TEST(CoapServer, ConIsAnsweredOnlyAfterTheCoreConfirmedIt) {
  int port = free_udp_port();
  LoadedCoap p(listen_config(port) + kRoutes);
  ASSERT_TRUE(p.start());
  std::atomic<bool> finished{false};
  std::string out;
  std::thread client([&] {
    out = coap_client("-v 7 -m post -e '{\"temperature\": 1}' " +
                      shell_quote(uri(port, "twins/motor-1/telemetry")));
    finished = true;
  });
  ASSERT_TRUE(wait_until([&] { return p.sink.n.load() == 1; }));
  // The core has not confirmed: the client got at most the empty ACK, no 2.04 (it would be
  // done then). Give it a moment in which a piggybacked answer would have arrived.
  EXPECT_FALSE(wait_until([&] { return finished.load(); }, 500ms));
  p.sink.release();
  ASSERT_TRUE(wait_until([&] { return finished.load(); }));
  client.join();
  EXPECT_EQ(response_code(out), "2.04") << out;
  // Separate response: the empty ACK came at once, the 2.04 (a CON of its own) after release.
  std::size_t ack = out.find("t:ACK c:0.00"), changed = out.find("t:CON c:2.04");
  EXPECT_NE(ack, std::string::npos) << out;
  EXPECT_NE(changed, std::string::npos) << out;
  EXPECT_LT(ack, changed) << out;
  p.plugin->stop();
}

// A raw UDP CoAP endpoint, to send exactly the datagrams a test needs (a duplicate).
struct RawUdp {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  explicit RawUdp(int port) {
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    timeval tv{0, 100'000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawUdp() { ::close(fd); }
  void send(const std::string& datagram) {
    ::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  // Datagrams received within `window` as "TYPE code" ("ACK 0.00", "CON 2.04"); CONs are ACKed.
  std::vector<std::string> receive(std::chrono::milliseconds window) {
    std::vector<std::string> got;
    auto end = std::chrono::steady_clock::now() + window;
    while (std::chrono::steady_clock::now() < end) {
      char buf[1500];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 4) continue;
      static const char* types[] = {"CON", "NON", "ACK", "RST"};
      int type = (static_cast<unsigned char>(buf[0]) >> 4) & 3;
      int code = static_cast<unsigned char>(buf[1]);
      char text[16];
      std::snprintf(text, sizeof text, "%s %d.%02d", types[type], code >> 5, code & 31);
      got.emplace_back(text);
      if (type == 0) send(std::string{'\x60', '\0', buf[2], buf[3]});  // empty ACK
    }
    return got;
  }
};

TEST(CoapServer, DuplicateRequestsAreAnsweredButIngestedOnce) {
  int port = free_udp_port();
  LoadedCoap p(listen_config(port) + kRoutes);
  ASSERT_TRUE(p.start());
  RawUdp udp(port);
  // CON POST, Message ID 0x1234, token 0xAB, /twins/motor-1/telemetry, {"temperature": 5}
  std::string con = std::string("\x41\x02\x12\x34\xAB", 5) + "\xB5twins" + "\x07motor-1" +
                    "\x09telemetry" + "\xFF" + R"({"temperature": 5})";
  udp.send(con);
  ASSERT_TRUE(wait_until([&] { return p.sink.n.load() == 1; }));
  udp.send(con);  // the device did not get the empty ACK: while the core works
  EXPECT_EQ(udp.receive(300ms), (std::vector<std::string>{"ACK 0.00", "ACK 0.00"}));
  p.sink.release();
  EXPECT_EQ(udp.receive(300ms), std::vector<std::string>{"CON 2.04"});
  udp.send(con);  // the device did not get the ACK again: the answer, not a second update
  EXPECT_EQ(udp.receive(300ms), std::vector<std::string>{"ACK 2.04"});
  EXPECT_EQ(p.sink.n.load(), 1);
  // (libcoap itself answers a duplicate of a request it holds; the plugin counts the others.)
  EXPECT_GE(p.metrics.value("doppel_coap_duplicates_total", "plugin=devices"), 1u);
  EXPECT_EQ(p.metrics.value("doppel_coap_requests_total", "plugin=devices"), 1u);
  p.plugin->stop();
}

// ---- DTLS with pre-shared keys ------------------------------------------------------------------

TEST(CoapDtls, RightKeyIsAcceptedWrongKeyAndPlainWritesAreRefused) {
  int port = free_udp_port(), sport = free_udp_port();
  TempDir tmp;
  std::ofstream(tmp.path() / "psk.txt") << "# identity key twins\n"
                                           "dev-1  s3cret-key-1  motor-1\n"
                                           "dev-2  hex:00112233445566778899  motor-2,motor-3\n";
  Deploy d(listen_config(port) + "      dtls: {listen: \"127.0.0.1:" + std::to_string(sport) +
           "\", psk_file: \"" + (tmp.path() / "psk.txt").string() + "\", require: true}\n" +
           kRoutes);
  ASSERT_TRUE(d.load.ok()) << d.errors();
  runtime::Runtime rt(std::move(*d.load.deployment), d.load.models, quiet_options());
  ASSERT_TRUE(rt.start());
  auto coaps = [&](const std::string& path) {
    return "coaps://127.0.0.1:" + std::to_string(sport) + "/" + path;
  };
  std::string out = coap_client("-v 6 -m post -u dev-1 -k s3cret-key-1 -e '{\"temperature\": 5}' " +
                                shell_quote(coaps("twins/motor-1/telemetry")));
  EXPECT_EQ(response_code(out), "2.04") << out;
  EXPECT_EQ(reported(rt, "motor-1", "temperature"), "5");

  // A hex key: the bytes 00 11 22 ... given on the command line as text cannot be typed, so a
  // wrong text key for dev-2 must fail the handshake.
  out = coap_client("-v 6 -m post -u dev-1 -k wrong-key -e '{\"temperature\": 6}' " +
                        shell_quote(coaps("twins/motor-1/telemetry")),
                    nullptr, 3);
  EXPECT_NE(response_code(out), "2.04") << out;
  out = coap_client("-v 6 -m post -u nobody -k s3cret-key-1 -e '{\"temperature\": 7}' " +
                        shell_quote(coaps("twins/motor-1/telemetry")),
                    nullptr, 3);
  EXPECT_NE(response_code(out), "2.04") << out;
  EXPECT_EQ(reported(rt, "motor-1", "temperature"), "5");
  EXPECT_TRUE(wait_until([&] {
    return metric(rt, "doppel_coap_dtls_failures_total{plugin=\"devices\"}") >= 1;
  })) << out;

  // require: true -> the plain endpoint refuses writes.
  EXPECT_EQ(post(port, "twins/motor-1/telemetry", R"({"temperature": 8})", "", &out), "4.01")
      << out;
  EXPECT_EQ(reported(rt, "motor-1", "temperature"), "5");
  rt.stop();
}

// Needs the core's not-owner check (InboundMessage::device_twins).
TEST(CoapDtls, ADeviceMayOnlyWriteItsOwnTwins) {
  int sport = free_udp_port();
  TempDir tmp;
  std::ofstream(tmp.path() / "psk.txt") << "dev-1 key-one motor-1\ndev-x key-x motor-*\n";
  Deploy d("      dtls: {listen: \"127.0.0.1:" + std::to_string(sport) + "\", psk_file: \"" +
           (tmp.path() / "psk.txt").string() + "\"}\n" + kRoutes);
  ASSERT_TRUE(d.load.ok()) << d.errors();
  runtime::Runtime rt(std::move(*d.load.deployment), d.load.models, quiet_options());
  ASSERT_TRUE(rt.start());
  auto coaps = [&](const std::string& path) {
    return shell_quote("coaps://127.0.0.1:" + std::to_string(sport) + "/" + path);
  };
  std::string out = coap_client("-v 6 -m post -u dev-1 -k key-one -e '{\"temperature\": 9}' " +
                                coaps("twins/motor-2/telemetry"));
  EXPECT_EQ(response_code(out), "4.03") << out;
  EXPECT_NE(out.find("not-owner"), std::string::npos) << out;
  EXPECT_EQ(metric(rt, "doppel_dead_letters_total{reason=\"not-owner\"}"), 1);
  out = coap_client("-v 6 -m post -u dev-x -k key-x -e '{\"temperature\": 9}' " +
                    coaps("twins/motor-2/telemetry"));
  EXPECT_EQ(response_code(out), "2.04") << out;
  EXPECT_EQ(reported(rt, "motor-2", "temperature"), "9");
  rt.stop();
}

TEST(CoapDtls, PskIdentityAndTwinsReachTheCore) {
  int sport = free_udp_port();
  TempDir tmp;
  // "dev7-secret" in hex
  std::ofstream(tmp.path() / "psk.txt") << "dev-7 hex:646576372d736563726574 motor-7,line-2/*\n";
  LoadedCoap p("      dtls: {listen: \"127.0.0.1:" + std::to_string(sport) + "\", psk_file: \"" +
               (tmp.path() / "psk.txt").string() + "\"}\n" + kRoutes);
  ASSERT_TRUE(p.start());
  std::atomic<bool> finished{false};
  std::thread client([&] {
    coap_client("-m post -u dev-7 -k dev7-secret -e '{}' coaps://127.0.0.1:" +
                std::to_string(sport) + "/twins/motor-7/telemetry");
    finished = true;
  });
  ASSERT_TRUE(wait_until([&] { return p.sink.n.load() == 1; })) << p.log.contains("DTLS");
  p.sink.release();
  client.join();
  {
    std::lock_guard lock(p.sink.m);
    EXPECT_EQ(p.sink.devices.at(0), "dev-7|motor-7,line-2/*");
  }
  // A wrong key fails the handshake; nothing logged names a key.
  std::string out = coap_client("-m post -u dev-7 -k wrong-secret -e '{}' coaps://127.0.0.1:" +
                                    std::to_string(sport) + "/twins/motor-7/telemetry",
                                nullptr, 3);
  EXPECT_EQ(p.sink.n.load(), 1) << out;
  EXPECT_FALSE(p.log.contains("dev7-secret"));
  EXPECT_FALSE(p.log.contains("646576372d736563726574"));
  EXPECT_FALSE(p.log.contains("wrong-secret"));
  p.plugin->stop();
}

TEST(CoapDtls, ObservesAndCommandsADeviceOverCoapsWithItsIdentity) {
  SimDevice device("device-key-9");
  ASSERT_TRUE(device.ok());
  device.set(R"({"temperature": 44})");
  TempDir tmp;
  std::ofstream(tmp.path() / "psk.txt") << "doppel-gw device-key-9 -\nwrong-gw not-the-key -\n";
  std::string coaps = "coaps://127.0.0.1:" + std::to_string(device.port());
  Deploy d("      dtls: {listen: \"\", psk_file: \"" + (tmp.path() / "psk.txt").string() +
           "\"}\n      ingest:\n        - topic: \"twins/{twin}/telemetry\"\n"
           "      observe:\n        - {uri: \"" +
           coaps + "/sensors\", topic: \"twins/motor-1/telemetry\", identity: doppel-gw}\n" +
           "      devices:\n        - {twins: motor-1, uri: \"" + coaps +
           "\", identity: doppel-gw}\n        - {twins: motor-2, uri: \"" + coaps +
           "\", identity: wrong-gw}\n      commands: {}\n");
  ASSERT_TRUE(d.load.ok()) << d.errors();
  runtime::Runtime rt(std::move(*d.load.deployment), d.load.models, quiet_options());
  auto started = rt.start();
  ASSERT_TRUE(started) << started.status().to_string();
  ASSERT_TRUE(wait_until([&] { return reported(rt, "motor-1", "temperature") == "44"; }));
  runtime::CommandInvocation c;
  c.twin = "motor-1";
  c.name = "reduceLoad";
  c.request = "10";
  c.timeout = 5 * sdk::kSecond;
  runtime::CommandResult r = rt.invoke_and_wait(c);
  EXPECT_TRUE(r.status) << r.status.to_string();
  EXPECT_EQ(r.response, "true");
  EXPECT_EQ(device.identities(), std::set<std::string>{"doppel-gw"});
  // The wrong key: the handshake fails, the command does not get through.
  c.twin = "motor-2";
  c.timeout = 2 * sdk::kSecond;
  r = rt.invoke_and_wait(c);
  EXPECT_FALSE(r.status) << r.response;
  EXPECT_EQ(device.writes().size(), 1u);
  rt.stop();
}

// ---- client mode --------------------------------------------------------------------------------

TEST(CoapClient, ObservesADeviceAndReRegistersALostObservation) {
  SimDevice device;
  ASSERT_TRUE(device.ok());
  device.set(R"({"temperature": 20})");
  Deploy d(
      "      ingest:\n        - topic: \"twins/{twin}/telemetry\"\n"
      "      observe:\n        - {uri: \"" +
      uri(device.port(), "sensors") +
      "\", topic: \"twins/motor-1/telemetry\", mode: observe, reregister_after: 1s}\n");
  ASSERT_TRUE(d.load.ok()) << d.errors();
  runtime::Runtime rt(std::move(*d.load.deployment), d.load.models, quiet_options());
  ASSERT_TRUE(rt.start());
  ASSERT_TRUE(wait_until([&] { return reported(rt, "motor-1", "temperature") == "20"; }));
  EXPECT_EQ(device.registrations.load(), 1);
  // Notifications flow while the device changes; no new registration is needed.
  for (int i = 21; i <= 23; ++i) {
    device.set("{\"temperature\": " + std::to_string(i) + "}");
    ASSERT_TRUE(
        wait_until([&] { return reported(rt, "motor-1", "temperature") == std::to_string(i); }));
  }
  EXPECT_EQ(device.registrations.load(), 1);
  EXPECT_EQ(metric(rt, "doppel_coap_observe_lost_total{plugin=\"devices\"}"), 0);
  // The observation is lost (no more notifications): after reregister_after the plugin
  // observes again and gets the current value with the registration's response.
  device.muted = true;
  device.set(R"({"temperature": 30})");
  ASSERT_TRUE(wait_until([&] { return reported(rt, "motor-1", "temperature") == "30"; }, 5s));
  EXPECT_GE(device.registrations.load(), 2);
  EXPECT_GE(metric(rt, "doppel_coap_observe_lost_total{plugin=\"devices\"}"), 1);
  // The new observation delivers notifications.
  device.muted = false;
  device.set(R"({"temperature": 31})");
  ASSERT_TRUE(wait_until([&] { return reported(rt, "motor-1", "temperature") == "31"; }));
  // Stopping cancels the observation at the device.
  rt.stop();
  EXPECT_TRUE(wait_until([&] { return device.cancellations.load() >= 1; }));
}

TEST(CoapClient, ObservedDeviceGoneMakesTheTwinStale) {
  auto device = std::make_unique<SimDevice>();
  ASSERT_TRUE(device->ok());
  device->set(R"({"vibration": 0.5})");
  Deploy d(
      "      ingest:\n        - topic: \"twins/{twin}/telemetry\"\n"
      "      observe:\n        - {uri: \"" +
          uri(device->port(), "sensors") +
          "\", topic: \"twins/motor-2/telemetry\", reregister_after: 500ms}\n",
      ", expected_update_period: 1s");
  ASSERT_TRUE(d.load.ok()) << d.errors();
  runtime::Runtime rt(std::move(*d.load.deployment), d.load.models,
                      quiet_options(100 * sdk::kMillisecond));
  ASSERT_TRUE(rt.start());
  ASSERT_TRUE(wait_until([&] { return reported(rt, "motor-2", "vibration") == "0.5"; }));
  device.reset();  // the device is gone: no notifications, registrations unanswered
  ASSERT_TRUE(wait_until([&] { return stale(rt, "motor-2"); }, 5s));
  ASSERT_TRUE(wait_until(
      [&] { return metric(rt, "doppel_coap_observe_lost_total{plugin=\"devices\"}") >= 2; }, 5s));
  rt.stop();
}

TEST(CoapClient, PollsAResource) {
  SimDevice device;
  ASSERT_TRUE(device.ok());
  device.set(R"({"temperature": 11})");
  Deploy d(
      "      ingest:\n        - topic: \"poll/{twin}\"\n"
      "      observe:\n        - {uri: \"" +
      uri(device.port(), "sensors") +
      "\", topic: \"poll/motor-3\", mode: poll, interval: 100ms}\n");
  ASSERT_TRUE(d.load.ok()) << d.errors();
  runtime::Runtime rt(std::move(*d.load.deployment), d.load.models, quiet_options());
  ASSERT_TRUE(rt.start());
  ASSERT_TRUE(wait_until([&] { return reported(rt, "motor-3", "temperature") == "11"; }));
  device.set(R"({"temperature": 12})");
  ASSERT_TRUE(wait_until([&] { return reported(rt, "motor-3", "temperature") == "12"; }));
  EXPECT_GE(device.gets.load(), 2);
  EXPECT_EQ(device.registrations.load(), 0);
  rt.stop();
}

// ---- down ---------------------------------------------------------------------------------------

std::string downlink_config(const SimDevice& device) {
  return "      devices: [{twins: \"motor-*\", uri: \"coap://127.0.0.1:" +
         std::to_string(device.port()) + "\"}]\n      desired: {timeout: 2s}\n      commands: {}\n";
}

TEST(CoapDownlink, DesiredPutIsAcknowledgedWithItsVersionAndTheTwinIsInSync) {
  SimDevice device;
  ASSERT_TRUE(device.ok());
  Deploy d(downlink_config(device));
  ASSERT_TRUE(d.load.ok()) << d.errors();
  runtime::Runtime rt(std::move(*d.load.deployment), d.load.models, quiet_options());
  ASSERT_TRUE(rt.start());
  std::vector<twin::SlotWrite> writes{{"targetSpeed", twin::Value::number(1450.5), 0}};
  auto v = rt.desire("motor-2", writes);
  ASSERT_TRUE(v) << v.status().to_string();
  auto sync = [&] {
    twin::SyncStatus s = twin::SyncStatus::kNone;
    rt.graph().read("motor-2", [&](const twin::TwinView& t) { s = t.slot("targetSpeed")->sync; });
    return s;
  };
  ASSERT_TRUE(wait_until([&] { return sync() == twin::SyncStatus::kInSync; }))
      << rt.metrics().render_prometheus();
  auto got = device.writes();
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(
      got[0].rfind("PUT twins/motor-2/desired {\"name\":\"targetSpeed\",\"value\":1450.5,", 0), 0u)
      << got[0];
  rt.stop();
}

// No device at the URI: every PUT goes unanswered, and the twin says so once sync_timeout passes.
TEST(CoapDownlink, DesiredNobodyAcknowledgesTimesOutInTheTwinState) {
  int nobody = free_udp_port();
  Deploy d("      devices: [{twins: \"motor-*\", uri: \"coap://127.0.0.1:" +
           std::to_string(nobody) + "\"}]\n      desired: {timeout: 300ms}\n");
  ASSERT_TRUE(d.load.ok()) << d.errors();
  auto options = quiet_options(10 * sdk::kMillisecond);
  options.sync_timeout = 2 * sdk::kSecond;
  runtime::Runtime rt(std::move(*d.load.deployment), d.load.models, std::move(options));
  ASSERT_TRUE(rt.start());
  std::vector<twin::SlotWrite> writes{{"targetSpeed", twin::Value::number(900), 0}};
  ASSERT_TRUE(rt.desire("motor-2", writes));
  auto sync = [&] {
    twin::SyncStatus s = twin::SyncStatus::kNone;
    rt.graph().read("motor-2", [&](const twin::TwinView& t) { s = t.slot("targetSpeed")->sync; });
    return s;
  };
  EXPECT_EQ(sync(), twin::SyncStatus::kPending);
  ASSERT_TRUE(
      wait_until([&] { return sync() == twin::SyncStatus::kTimedOut; }, std::chrono::seconds(10)))
      << twin::sync_status_name(sync());
  rt.stop();
}

TEST(CoapDownlink, CommandRoundTripAndTimeout) {
  SimDevice device;
  ASSERT_TRUE(device.ok());
  Deploy d(downlink_config(device));
  ASSERT_TRUE(d.load.ok()) << d.errors();
  runtime::Runtime rt(std::move(*d.load.deployment), d.load.models, quiet_options());
  ASSERT_TRUE(rt.start());
  runtime::CommandInvocation c;
  c.twin = "motor-1";
  c.name = "reduceLoad";
  c.request = "20";
  c.timeout = 5 * sdk::kSecond;
  runtime::CommandResult r = rt.invoke_and_wait(c);
  EXPECT_TRUE(r.status) << r.status.to_string();
  EXPECT_EQ(r.response, "true");
  auto got = device.writes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], "POST twins/motor-1/commands/reduceLoad 20");

  // A response that does not fit the schema is the core's to refuse.
  device.command_response = "\"maybe\"";
  r = rt.invoke_and_wait(c);
  EXPECT_EQ(r.status.code(), sdk::StatusCode::kInvalidArgument) << r.status.to_string();

  // The device acknowledges but never answers: the command times out.
  device.silent_commands = true;
  c.timeout = 300 * sdk::kMillisecond;
  r = rt.invoke_and_wait(c);
  EXPECT_EQ(r.status.code(), sdk::StatusCode::kDeadlineExceeded) << r.status.to_string();
  rt.stop();
}

TEST(CoapDownlink, NoDeviceAnsweringTimesOutAndUnknownTwinsAreNotFound) {
  int nobody = free_udp_port();
  LoadedCoap p("      devices: [{twins: \"motor-1\", uri: \"coap://127.0.0.1:" +
               std::to_string(nobody) + "\"}]\n      commands: {timeout: 300ms}\n");
  ASSERT_TRUE(p.start());
  struct Result final : sdk::OutboundCallback {
    std::atomic<bool> fired{false};
    sdk::Status status;
    void done(const sdk::OutboundResult& r) noexcept override {
      status = r.status;
      fired = true;
    }
  } a, b;
  sdk::OutboundMessage m;
  m.kind = sdk::OutboundKind::kCommand;
  m.twin = "motor-1";
  m.name = "reduceLoad";
  m.payload = "5";
  m.correlation = "c-1";
  p.plugin->as<sdk::ProtocolPlugin>().send(m, &a);
  m.twin = "motor-9";
  p.plugin->as<sdk::ProtocolPlugin>().send(m, &b);
  ASSERT_TRUE(wait_until([&] { return a.fired.load() && b.fired.load(); }));
  EXPECT_NE(a.status.code(), sdk::StatusCode::kOk);
  EXPECT_TRUE(a.status.code() == sdk::StatusCode::kDeadlineExceeded ||
              a.status.code() == sdk::StatusCode::kUnavailable)
      << a.status.to_string();
  EXPECT_EQ(b.status.code(), sdk::StatusCode::kNotFound) << b.status.to_string();
  p.plugin->stop();
}

// A device that takes the CON but never acknowledges it: libcoap retransmits it max_retransmit
// times, ack_timeout (times 1 to 1.5) apart and doubling (1 s, once: done within 4.5 s), then
// gives up. The command fails as deadline exceeded long before its own 30 s timeout.
TEST(CoapDownlink, RetransmissionsExhaustedFailTheCommandWithTheConfiguredParameters) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  LoadedCoap p("      devices: [{twins: \"motor-1\", uri: \"coap://127.0.0.1:" +
               std::to_string(ntohs(addr.sin_port)) +
               "\"}]\n      commands: {timeout: 30s}\n"
               "      transmission: {ack_timeout: 1s, max_retransmit: 1}\n");
  ASSERT_TRUE(p.start());
  struct Result final : sdk::OutboundCallback {
    std::atomic<bool> fired{false};
    sdk::Status status;
    void done(const sdk::OutboundResult& r) noexcept override {
      status = r.status;
      fired = true;
    }
  } result;
  sdk::OutboundMessage m;
  m.kind = sdk::OutboundKind::kCommand;
  m.twin = "motor-1";
  m.name = "reduceLoad";
  m.payload = "5";
  m.correlation = "c-1";
  auto sent_at = std::chrono::steady_clock::now();
  p.plugin->as<sdk::ProtocolPlugin>().send(m, &result);
  ASSERT_TRUE(wait_until([&] { return result.fired.load(); }, 20s));
  EXPECT_LT(std::chrono::steady_clock::now() - sent_at, 10s) << "the 30 s timeout decided";
  EXPECT_EQ(result.status.code(), sdk::StatusCode::kDeadlineExceeded) << result.status.to_string();
  EXPECT_NE(result.status.message().find("after CoAP retransmissions"), std::string::npos)
      << result.status.to_string();
  EXPECT_EQ(p.metrics.value("doppel_coap_downlink_timeouts_total", "plugin=devices"), 1u);
  // The request and its one retransmission reached the device, nothing more.
  int datagrams = 0;
  char buf[2048];
  while (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
    ++datagrams;
  EXPECT_EQ(datagrams, 2);
  p.plugin->stop();
  ::close(fd);
}

TEST(CoapConfig, TransmissionParametersAreChecked) {
  for (const char* bad : {"{ack_timeout: 500ms}", "{ack_timeout: 2m}", "{max_retransmit: 0}",
                          "{max_retransmit: many}", "{ack_timout: 1s}"}) {
    std::string e = config_error("      transmission: " + std::string(bad) + "\n");
    EXPECT_NE(e.find("deploy.yaml:"), std::string::npos) << bad << ": " << e;
    EXPECT_NE(e.find("transmission"), std::string::npos) << bad << ": " << e;
  }
  EXPECT_EQ(config_error("      transmission: {ack_timeout: 1500ms, max_retransmit: 6}\n"), "");
}

}  // namespace
}  // namespace doppel
