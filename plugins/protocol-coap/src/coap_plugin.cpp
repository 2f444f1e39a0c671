// protocol-coap: devices reach their twins over CoAP (RFC 7252) with libcoap 4.3 (OpenSSL build).
//
// One I/O thread per plugin instance owns the libcoap context; send() and the core's ingest
// callbacks only queue work for it and wake it (an eventfd polled next to libcoap's epoll fd).
//
// Server mode: POST/PUT to any path go to PluginContext::ingest with the path as topic; the core
// maps and validates. The request is answered as a separate response (RFC 7252 5.2.2): libcoap
// sends an empty ACK for a CON at once (that stops retransmissions) and the real response -
// 2.04, or 4.xx/5.03 with the core's reason as diagnostic payload - only once the core says the
// update is durable or rejected. Large bodies arrive block-wise (RFC 7959) and are reassembled
// by libcoap up to `max_payload`.
//
// Client mode: `observe:` entries are observed (RFC 7641, re-registered after a silence) or
// polled; each notification's payload goes to ingest under the entry's topic.
//
// Down: desired values (PUT) and commands (POST) are CON requests to the twin's device
// (`devices:`), matched with their response by token; libcoap retransmits, the plugin gives up
// at the deadline with kDeadlineExceeded.
#include <coap3/coap.h>
#include <netdb.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "coap_config.hpp"
#include "doppel/sdk/ingest.hpp"
#include "doppel/sdk/json.hpp"
#include "doppel/sdk/plugin.hpp"
#include "doppel/sdk/protocol.hpp"

namespace doppel::plugins::coap {
namespace {

using sdk::Status;
using sdk::StatusCode;
using SteadyTime = std::chrono::steady_clock::time_point;
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds to_ms(sdk::Duration d) {
  return std::chrono::milliseconds(d / sdk::kMillisecond);
}

// libcoap's global state (coap_startup) is shared by everything in the process that uses
// libcoap - other instances, a host application, tests: it is set up once and never torn down
// here (coap_cleanup while another user still has a context would break it).
void coap_global_startup() {
  static std::once_flag once;
  std::call_once(once, [] {
    coap_startup();
    coap_set_log_level(LOG_WARNING);
    coap_dtls_set_log_level(LOG_WARNING);
  });
}

// Logs one line per cause at most once a minute; counts what it suppressed.
class RateLimitedLog {
 public:
  explicit RateLimitedLog(sdk::Logger* log) : log_(log) {}
  void log(sdk::LogLevel level, const std::string& cause, std::string_view message,
           std::initializer_list<sdk::LogField> fields = {}) {
    if (!log_) return;
    auto now = Clock::now();
    std::uint64_t suppressed = 0;
    {
      std::lock_guard lock(mutex_);
      auto& e = entries_[cause];
      if (e.last != SteadyTime() && now - e.last < std::chrono::minutes(1)) {
        ++e.suppressed;
        return;
      }
      e.last = now;
      suppressed = e.suppressed;
      e.suppressed = 0;
    }
    if (suppressed == 0) {
      log_->log(level, message, fields);
    } else {
      log_->log(level,
                std::string(message) + " (" + std::to_string(suppressed) +
                    " similar messages suppressed)",
                fields);
    }
  }

 private:
  struct Entry {
    SteadyTime last{};
    std::uint64_t suppressed = 0;
  };
  sdk::Logger* log_;
  std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

std::string token_of(const coap_pdu_t* pdu) {
  coap_bin_const_t t = coap_pdu_get_token(pdu);
  return std::string(reinterpret_cast<const char*>(t.s), t.length);
}

std::string code_text(coap_pdu_code_t code) {
  int c = static_cast<int>(code);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%d.%02d", c >> 5, c & 0x1f);
  return buf;
}

// The core's verdict on one request, queued for the I/O thread.
struct Completion {
  coap_session_t* session;
  std::string token;
  std::string exchange;  // the request's duplicate-detection key
  Status status;
};

// The core's verdict, handed to the request handler through the async's app data.
struct Verdict {
  Status status;
  std::string exchange;
};

// What outlives the plugin while the core still holds ingest callbacks.
struct Shared {
  std::mutex mutex;
  bool open = true;
  int wake_fd = -1;
  std::vector<Completion> completions;
  void wake() {
    std::lock_guard lock(mutex);
    if (wake_fd >= 0) {
      std::uint64_t one = 1;
      ssize_t n = ::write(wake_fd, &one, sizeof one);
      (void)n;
    }
  }
};

struct IngestWait final : sdk::IngestCallback {
  std::shared_ptr<Shared> shared;
  coap_session_t* session = nullptr;
  std::string token;
  std::string exchange;
  void done(const sdk::IngestOutcome& outcome) noexcept override {
    bool queued = false;
    {
      std::lock_guard lock(shared->mutex);
      if (shared->open) {
        try {
          shared->completions.push_back({session, token, exchange, outcome.status});
          queued = true;
        } catch (...) {
        }
      }
    }
    if (queued) shared->wake();
    delete this;
  }
};

// A request body for coap_add_data_large_request: freed by libcoap when sent.
void release_body(coap_session_t*, void* app_ptr) {
  delete static_cast<std::string*>(app_ptr);
}

class CoapPlugin;

// libcoap 4.3.1 has no context app data: contexts are mapped to their plugin here.
std::mutex g_registry_mutex;
std::map<const coap_context_t*, CoapPlugin*> g_registry;

CoapPlugin* plugin_of(const coap_session_t* session) {
  const coap_context_t* ctx = coap_session_get_context(session);
  std::lock_guard lock(g_registry_mutex);
  auto it = g_registry.find(ctx);
  return it == g_registry.end() ? nullptr : it->second;
}

class CoapPlugin final : public sdk::ProtocolPlugin {
 public:
  explicit CoapPlugin(const sdk::PluginContext& ctx)
      : ctx_(ctx), instance_(ctx.instance_name), limited_(ctx.log) {
    std::string labels = "plugin=" + instance_;
    if (sdk::Metrics* m = ctx.metrics) {
      requests_in_ = &m->counter("doppel_coap_requests_total", labels,
                                 "device requests (POST/PUT) received by the CoAP server");
      rejected_ = &m->counter("doppel_coap_rejected_total", labels,
                              "device requests answered with a 4.xx or 5.xx code");
      notifications_ = &m->counter("doppel_coap_notifications_total", labels,
                                   "observe notifications and poll responses ingested");
      lost_ = &m->counter("doppel_coap_observe_lost_total", labels,
                          "observations re-registered after no notification in reregister_after");
      downlink_ = &m->counter("doppel_coap_downlink_total", labels,
                              "desired values and commands sent to devices");
      timeouts_ = &m->counter("doppel_coap_downlink_timeouts_total", labels,
                              "desired values and commands without a response in time");
      duplicates_ = &m->counter("doppel_coap_duplicates_total", labels,
                                "duplicate device requests (same Message ID) answered again, "
                                "not ingested again");
      dtls_failures_ = &m->counter("doppel_coap_dtls_failures_total", labels,
                                   "DTLS handshakes or sessions that failed (e.g. a wrong key)");
    }
  }

  ~CoapPlugin() override { stop(); }

  Status configure(const sdk::ConfigNode& config) noexcept override {
    try {
      auto parsed = parse_config(config);
      if (!parsed) return parsed.status();
      cfg_ = std::move(*parsed);
      return {};
    } catch (const std::exception& e) {
      return sdk::internal_error(std::string("protocol-coap configure: ") + e.what());
    }
  }

  Status start() noexcept override {
    try {
      Status s = start_impl();
      if (!s) teardown();
      return s;
    } catch (const std::exception& e) {
      teardown();
      return sdk::internal_error(std::string("protocol-coap start: ") + e.what());
    }
  }

  void stop() noexcept override {
    {
      std::lock_guard lock(mutex_);
      if (!running_) return;
      running_ = false;
    }
    shared_->wake();
    if (io_.joinable()) io_.join();
    // Everything still waiting completes now: callbacks never leak.
    std::vector<sdk::OutboundCallback*> pending;
    {
      std::lock_guard lock(mutex_);
      for (auto& t : sends_)
        pending.push_back(t.done);
      sends_.clear();
    }
    for (auto& [token, r] : requests_)
      if (r.done) pending.push_back(r.done);
    requests_.clear();
    // Releasing the client sessions (teardown) makes libcoap cancel their observations at the
    // devices (a GET with Observe: 1 each).
    for (auto* d : pending)
      complete(d, sdk::unavailable("protocol-coap stopped"));
    teardown();
  }

  void send(const sdk::OutboundMessage& m, sdk::OutboundCallback* done) noexcept override {
    try {
      send_impl(m, done);
    } catch (const std::exception& e) {
      complete(done, sdk::internal_error(std::string("protocol-coap send: ") + e.what()));
    }
  }

  // ---- libcoap callbacks (I/O thread) ---------------------------------------------------------

  static void on_write(coap_resource_t* resource, coap_session_t* session,
                       const coap_pdu_t* request, const coap_string_t*, coap_pdu_t* response) {
    auto* self = static_cast<CoapPlugin*>(coap_resource_get_userdata(resource));
    if (self) self->handle_write(session, request, response);
  }

  static coap_response_t on_response(coap_session_t* session, const coap_pdu_t*,
                                     const coap_pdu_t* received, const coap_mid_t) {
    CoapPlugin* self = plugin_of(session);
    return self ? self->handle_response(received) : COAP_RESPONSE_OK;
  }

  static void on_nack(coap_session_t* session, const coap_pdu_t* sent,
                      const coap_nack_reason_t reason, const coap_mid_t) {
    CoapPlugin* self = plugin_of(session);
    if (self && sent) self->handle_nack(sent, reason);
  }

  static int on_event(coap_session_t* session, const coap_event_t event) {
    CoapPlugin* self = plugin_of(session);
    if (!self) return 0;
    if (event == COAP_EVENT_SERVER_SESSION_NEW) {
      self->tune(session);  // its separate responses are CONs of ours
    } else if (event == COAP_EVENT_DTLS_ERROR) {
      // A client session to a device is not used again: the next request opens a new one.
      for (auto& [key, s] : self->client_sessions_)
        if (s == session) self->dead_sessions_.push_back(key);
      if (self->dtls_failures_) self->dtls_failures_->add();
      self->limited_.log(sdk::LogLevel::kWarn, "dtls", "coap: DTLS handshake or session failed",
                         {{"plugin", self->instance_}});
    }
    return 0;
  }

  static const coap_bin_const_t* on_psk_identity(coap_bin_const_t* identity, coap_session_t*,
                                                 void* arg) {
    auto* self = static_cast<CoapPlugin*>(arg);
    std::string id(reinterpret_cast<const char*>(identity->s), identity->length);
    for (std::size_t i = 0; i < self->psk_.size(); ++i)
      if (self->psk_[i].identity == id) return &self->psk_keys_[i];
    self->limited_.log(sdk::LogLevel::kWarn, "psk-identity",
                       "coap: DTLS client with an unknown PSK identity refused",
                       {{"plugin", self->instance_}, {"identity", id}});
    return nullptr;
  }

 private:
  // ---- start / stop ---------------------------------------------------------------------------

  static Status resolve(const std::string& host, std::uint16_t port, bool passive,
                        coap_address_t& out) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    addrinfo* res = nullptr;
    std::string service = std::to_string(port);
    int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
    if (rc != 0 || !res)
      return sdk::unavailable("cannot resolve '" + host + "': " + ::gai_strerror(rc));
    coap_address_init(&out);
    out.size = static_cast<socklen_t>(res->ai_addrlen);
    std::memcpy(&out.addr, res->ai_addr, res->ai_addrlen);
    ::freeaddrinfo(res);
    return {};
  }

  Status start_impl() {
    coap_global_startup();
    if (!cfg_.dtls.psk_file.empty()) {
      if (!coap_dtls_is_supported())
        return Status(StatusCode::kFailedPrecondition,
                      "protocol-coap: this libcoap build has no DTLS-PSK support");
      std::ifstream in(cfg_.dtls.psk_file);
      if (!in)
        return Status(StatusCode::kFailedPrecondition, "protocol-coap: cannot read dtls.psk_file " +
                                                           cfg_.dtls.psk_file +
                                                           ": check the path and its permissions");
      std::stringstream text;
      text << in.rdbuf();
      auto entries = parse_psk_text(text.str(), cfg_.dtls.psk_file);
      if (!entries) return entries.status();
      psk_ = std::move(*entries);
      psk_keys_.clear();
      for (const PskEntry& e : psk_)
        psk_keys_.push_back({e.key.size(), reinterpret_cast<const std::uint8_t*>(e.key.data())});
    }

    shared_ = std::make_shared<Shared>();
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) return sdk::internal_error("protocol-coap: eventfd failed");
    shared_->wake_fd = wake_fd_;

    ctx_coap_ = coap_new_context(nullptr);
    if (!ctx_coap_) return sdk::internal_error("protocol-coap: cannot create a libcoap context");
    {
      std::lock_guard lock(g_registry_mutex);
      g_registry[ctx_coap_] = this;
    }
    coap_context_set_block_mode(ctx_coap_, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_register_response_handler(ctx_coap_, &CoapPlugin::on_response);
    coap_register_nack_handler(ctx_coap_, &CoapPlugin::on_nack);
    coap_register_event_handler(ctx_coap_, &CoapPlugin::on_event);

    if (cfg_.listen.enabled()) {
      coap_address_t addr;
      if (Status s = resolve(cfg_.listen.host, cfg_.listen.port, true, addr); !s)
        return Status(StatusCode::kFailedPrecondition, "protocol-coap listen: " + s.message());
      if (!coap_new_endpoint(ctx_coap_, &addr, COAP_PROTO_UDP))
        return Status(StatusCode::kUnavailable, "protocol-coap: cannot listen on udp " +
                                                    cfg_.listen.text() +
                                                    " (port in use, or not a local address?)");
    }
    if (!cfg_.dtls.psk_file.empty() && cfg_.dtls.listen.enabled()) {
      coap_dtls_spsk_t spsk{};
      spsk.version = COAP_DTLS_SPSK_SETUP_VERSION;
      spsk.validate_id_call_back = &CoapPlugin::on_psk_identity;
      spsk.id_call_back_arg = this;
      if (!coap_context_set_psk2(ctx_coap_, &spsk))
        return sdk::internal_error("protocol-coap: cannot set up DTLS-PSK");
      coap_address_t addr;
      if (Status s = resolve(cfg_.dtls.listen.host, cfg_.dtls.listen.port, true, addr); !s)
        return Status(StatusCode::kFailedPrecondition, "protocol-coap dtls.listen: " + s.message());
      if (!coap_new_endpoint(ctx_coap_, &addr, COAP_PROTO_DTLS))
        return Status(StatusCode::kUnavailable, "protocol-coap: cannot listen on coaps (udp) " +
                                                    cfg_.dtls.listen.text() + " (port in use?)");
    }
    // Every path is the core's to map: one catch-all resource for POST and PUT.
    coap_resource_t* any = coap_resource_unknown_init2(&CoapPlugin::on_write, 0);
    coap_register_request_handler(any, COAP_REQUEST_POST, &CoapPlugin::on_write);
    coap_resource_set_userdata(any, this);
    coap_add_resource(ctx_coap_, any);

    // Every identity Doppel uses as a client must be in the PSK file.
    for (const ObserveConfig& o : cfg_.observe)
      if (!o.identity.empty() && !psk_entry(o.identity))
        return Status(StatusCode::kFailedPrecondition,
                      "observe identity '" + o.identity + "' is not in " + cfg_.dtls.psk_file,
                      o.where);
    for (const DeviceConfig& d : cfg_.devices)
      if (!d.identity.empty() && !psk_entry(d.identity))
        return Status(StatusCode::kFailedPrecondition,
                      "devices identity '" + d.identity + "' is not in " + cfg_.dtls.psk_file,
                      d.where);
    // Client mode targets.
    for (const ObserveConfig& o : cfg_.observe) {
      Target t;
      t.cfg = o;
      coap_uri_t uri;
      if (coap_split_uri(reinterpret_cast<const std::uint8_t*>(o.uri.data()), o.uri.size(), &uri) <
          0)
        return sdk::invalid_argument("observe uri '" + o.uri + "' is not a valid coap:// URI",
                                     o.where);
      t.host.assign(reinterpret_cast<const char*>(uri.host.s), uri.host.length);
      t.port = uri.port;
      t.path.assign(reinterpret_cast<const char*>(uri.path.s), uri.path.length);
      t.query.assign(reinterpret_cast<const char*>(uri.query.s), uri.query.length);
      targets_.push_back(std::move(t));
    }

    {
      std::lock_guard lock(mutex_);
      running_ = true;
    }
    io_ = std::thread([this] { io_loop(); });
    if (ctx_.log) {
      std::string where = cfg_.listen.enabled() ? "coap://" + cfg_.listen.text() : "";
      if (!cfg_.dtls.psk_file.empty() && cfg_.dtls.listen.enabled())
        where += (where.empty() ? "" : " ") + std::string("coaps://") + cfg_.dtls.listen.text();
      ctx_.log->info("coap: started", {{"plugin", instance_},
                                       {"listen", where.empty() ? "(client only)" : where},
                                       {"observe", std::to_string(targets_.size())}});
    }
    return {};
  }

  // Frees what start() made; the I/O thread is not running.
  void teardown() noexcept {
    if (shared_) {
      std::lock_guard lock(shared_->mutex);
      shared_->open = false;
      shared_->wake_fd = -1;
      shared_->completions.clear();
    }
    if (ctx_coap_) {
      {
        // libcoap's callbacks while sessions close find no plugin (and change nothing).
        std::lock_guard lock(g_registry_mutex);
        g_registry.erase(ctx_coap_);
      }
      for (coap_session_t* s : held_sessions_)
        coap_session_release(s);
      held_sessions_.clear();
      for (auto& [key, s] : client_sessions_)
        coap_session_release(s);
      client_sessions_.clear();
      dead_sessions_.clear();
      coap_free_context(ctx_coap_);
      ctx_coap_ = nullptr;
    }
    if (wake_fd_ >= 0) ::close(wake_fd_);
    wake_fd_ = -1;
    targets_.clear();
  }

  // ---- the I/O thread ---------------------------------------------------------------------------

  void io_loop() {
    const int coap_fd = coap_context_get_coap_fd(ctx_coap_);
    int wait_ms = 0;
    while (true) {
      {
        std::lock_guard lock(mutex_);
        if (!running_) break;
      }
      if (coap_fd >= 0) {
        pollfd fds[2] = {{coap_fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        ::poll(fds, 2, wait_ms);
        if (fds[1].revents & POLLIN) {
          std::uint64_t n;
          ssize_t r = ::read(wake_fd_, &n, sizeof n);
          (void)r;
        }
        coap_io_process(ctx_coap_, COAP_IO_NO_WAIT);
      } else {
        coap_io_process(ctx_coap_, static_cast<std::uint32_t>(std::min(wait_ms, 5)));
      }
      bool kicked = drain();
      SteadyTime next = run_timers();
      auto until = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now());
      wait_ms = kicked ? 0 : static_cast<int>(std::clamp<std::int64_t>(until.count() + 1, 1, 1000));
    }
  }

  // Completions of the core and queued sends. Returns whether libcoap has work right away.
  bool drain() {
    std::vector<Completion> completions;
    {
      std::lock_guard lock(shared_->mutex);
      completions.swap(shared_->completions);
    }
    std::vector<SendTask> sends;
    {
      std::lock_guard lock(mutex_);
      sends.swap(sends_);
    }
    for (coap_session_t* s : release_later_) {
      auto it = held_sessions_.find(s);
      if (it != held_sessions_.end()) {
        held_sessions_.erase(it);
        coap_session_release(s);
      }
    }
    release_later_.clear();
    for (const std::string& key : dead_sessions_)
      if (auto it = client_sessions_.find(key); it != client_sessions_.end()) {
        coap_session_release(it->second);
        client_sessions_.erase(it);
      }
    dead_sessions_.clear();
    for (Completion& c : completions) {
      coap_bin_const_t token{c.token.size(), reinterpret_cast<const std::uint8_t*>(c.token.data())};
      coap_async_t* async = coap_find_async(c.session, token);
      if (!async) {
        release_later_.push_back(c.session);
        continue;
      }
      coap_async_set_app_data(async, new Verdict{std::move(c.status), std::move(c.exchange)});
      coap_async_trigger(async);
    }
    for (SendTask& t : sends)
      start_send(t);
    return !completions.empty() || !sends.empty() || !release_later_.empty();
  }

  // ---- server mode ------------------------------------------------------------------------------

  static coap_pdu_code_t code_for(const Status& s) {
    if (s) return COAP_RESPONSE_CODE_CHANGED;
    const std::string& reason = s.where();
    if (reason == "unknown-twin" || reason == "no-route") return COAP_RESPONSE_CODE_NOT_FOUND;
    if (reason == "unsupported-content-type") return COAP_RESPONSE_CODE_UNSUPPORTED_CONTENT_FORMAT;
    if (reason == "not-owner") return COAP_RESPONSE_CODE_FORBIDDEN;
    switch (s.code()) {
      case StatusCode::kUnavailable:
      case StatusCode::kInternal:
      case StatusCode::kIoError:
      case StatusCode::kCorruption:
        return COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE;
      default:
        return COAP_RESPONSE_CODE_BAD_REQUEST;
    }
  }

  void answer(coap_pdu_t* response, coap_pdu_code_t code, const std::string& diagnostic) {
    coap_pdu_set_code(response, code);
    if (static_cast<int>(code) >= 0x80) {
      if (rejected_) rejected_->add();
      // RFC 7252 5.5.2: a diagnostic payload is UTF-8 text, no Content-Format.
      std::string_view text = std::string_view(diagnostic).substr(0, 512);
      if (!text.empty())
        coap_add_data(response, text.size(), reinterpret_cast<const std::uint8_t*>(text.data()));
    }
  }

  static std::string exchange_key(const coap_session_t* session, const coap_pdu_t* request) {
    char addr[INET6_ADDRSTRLEN + 16] = {0};
    if (const coap_address_t* remote = coap_session_get_addr_remote(session))
      coap_print_addr(remote, reinterpret_cast<unsigned char*>(addr), sizeof addr - 1);
    // With the token too: clients that send fast wrap the 16-bit Message ID within
    // EXCHANGE_LIFETIME; a retransmission repeats both.
    return std::string(addr) + "#" + std::to_string(coap_pdu_get_mid(request)) + "#" +
           token_of(request);
  }

  // Exchanges are kept for EXCHANGE_LIFETIME (247 s), at most kMaxExchanges of them.
  static constexpr std::size_t kMaxExchanges = 100'000;
  void remember_exchange(const std::string& key) {
    auto now = Clock::now();
    while (!exchange_order_.empty() &&
           (exchange_order_.front().first <= now || exchange_order_.size() >= kMaxExchanges)) {
      exchanges_.erase(exchange_order_.front().second);
      exchange_order_.pop_front();
    }
    exchanges_[key] = Exchange{};
    exchange_order_.emplace_back(now + std::chrono::seconds(247), key);
  }

  // Answers now and remembers the answer for duplicates of the request.
  void answer_once(coap_pdu_t* response, const std::string& exchange, coap_pdu_code_t code,
                   std::string diagnostic) {
    answer(response, code, diagnostic);
    Exchange& e = exchanges_[exchange];
    e.answered = true;
    e.code = code;
    e.diagnostic = std::move(diagnostic);
  }

  void handle_write(coap_session_t* session, const coap_pdu_t* request, coap_pdu_t* response) {
    coap_bin_const_t token = coap_pdu_get_token(request);
    if (coap_async_t* async = coap_find_async(session, token)) {
      auto* verdict = static_cast<Verdict*>(coap_async_get_app_data(async));
      if (!verdict) {  // a retransmission while the core works: empty ACK again
        if (duplicates_) duplicates_->add();
        return;
      }
      coap_async_set_app_data(async, nullptr);
      Status s = std::move(verdict->status);
      std::string exchange = std::move(verdict->exchange);
      delete verdict;
      std::string diag = s ? std::string() : s.where() + ": " + s.message();
      coap_pdu_code_t code = code_for(s);
      answer(response, code, diag);
      if (auto it = exchanges_.find(exchange); it != exchanges_.end()) {
        it->second.answered = true;
        it->second.code = code;
        it->second.diagnostic = std::move(diag);
      }
      release_later_.push_back(session);
      return;  // libcoap frees the async after this handler
    }
    // RFC 7252 4.5: a duplicate (same endpoint, Message ID and token within EXCHANGE_LIFETIME) is
    // not processed again; it gets the answer the first one got (or the empty ACK while pending).
    std::string exchange = exchange_key(session, request);
    if (auto it = exchanges_.find(exchange); it != exchanges_.end()) {
      if (duplicates_) duplicates_->add();
      if (it->second.answered) {
        coap_pdu_set_code(response, it->second.code);
        std::string_view d = std::string_view(it->second.diagnostic).substr(0, 512);
        if (!d.empty())
          coap_add_data(response, d.size(), reinterpret_cast<const std::uint8_t*>(d.data()));
      }
      return;
    }
    remember_exchange(exchange);
    if (requests_in_) requests_in_->add();
    const bool secure = coap_session_get_proto(session) == COAP_PROTO_DTLS;
    if (cfg_.dtls.require && !secure)
      return answer_once(response, exchange, COAP_RESPONSE_CODE_UNAUTHORIZED,
                         "this server requires DTLS: use coaps:// with your pre-shared key");

    std::string path;
    if (coap_string_t* p = coap_get_uri_path(request)) {
      path.assign(reinterpret_cast<const char*>(p->s), p->length);
      coap_delete_string(p);
    }
    std::size_t length = 0, offset = 0, total = 0;
    const std::uint8_t* data = nullptr;
    if (!coap_get_data_large(request, &length, &data, &offset, &total)) {
      length = total = 0;
      data = nullptr;
    }
    sdk::InboundMessage in;
    in.topic = path;
    in.payload = std::string_view(reinterpret_cast<const char*>(data), data ? length : 0);
    in.received_at = ctx_.clock ? ctx_.clock->now() : 0;
    if (total > cfg_.max_payload || length > cfg_.max_payload) {
      std::string why = "payload of " + std::to_string(std::max(total, length)) +
                        " bytes is over max_payload (" + std::to_string(cfg_.max_payload) +
                        "); send less, or raise max_payload";
      if (ctx_.ingest) {  // dead-lettered by the core, with the start of the payload
        in.payload = in.payload.substr(0, 1024);
        in.refused_reason = "too-large";
        in.refused_detail = why;
        ctx_.ingest->ingest(in, nullptr);
      }
      return answer_once(response, exchange, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE, why);
    }

    std::string content_type = "application/json";
    coap_opt_iterator_t it;
    if (coap_opt_t* opt = coap_check_option(request, COAP_OPTION_CONTENT_FORMAT, &it)) {
      unsigned format = coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
      if (format == COAP_MEDIATYPE_APPLICATION_CBOR)
        content_type = "application/cbor";
      else if (format == COAP_MEDIATYPE_TEXT_PLAIN)
        content_type = "text/plain";
      else if (format != COAP_MEDIATYPE_APPLICATION_JSON)
        content_type = "application/x-coap-content-format-" + std::to_string(format);
    }

    in.content_type = content_type;
    std::string identity;
    if (secure) {
      if (const coap_bin_const_t* id = coap_session_get_psk_identity(session)) {
        identity.assign(reinterpret_cast<const char*>(id->s), id->length);
        for (const PskEntry& e : psk_)
          if (e.identity == identity) in.device_twins = e.twins;
        in.device = identity;
      }
    }
    if (!ctx_.ingest)
      return answer_once(response, exchange, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE,
                         "no ingest sink");

    coap_async_t* async = coap_register_async(session, request, 0);
    if (!async)
      return answer_once(response, exchange, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE,
                         "cannot hold the request for a separate response");
    held_sessions_.insert(coap_session_reference(session));
    auto* wait = new IngestWait;
    wait->shared = shared_;
    wait->session = session;
    wait->token.assign(reinterpret_cast<const char*>(token.s), token.length);
    wait->exchange = std::move(exchange);
    ctx_.ingest->ingest(in, wait);
    // No response code: libcoap sends an empty ACK for a CON; the response follows from the
    // core's verdict (handle_write again, with the async's app data).
  }

  // ---- client sessions --------------------------------------------------------------------------

  // The deployment's transmission parameters (RFC 7252 4.8) on a session Doppel sends CONs on.
  void tune(coap_session_t* session) const {
    const auto ms = static_cast<std::uint32_t>(cfg_.ack_timeout / sdk::kMillisecond);
    coap_session_set_ack_timeout(session,
                                 coap_fixed_point_t{static_cast<std::uint16_t>(ms / 1000),
                                                    static_cast<std::uint16_t>(ms % 1000)});
    coap_session_set_max_retransmit(session, cfg_.max_retransmit);
  }

  const PskEntry* psk_entry(const std::string& identity) const {
    for (const PskEntry& e : psk_)
      if (e.identity == identity) return &e;
    return nullptr;
  }

  static std::string session_key(const std::string& host, std::uint16_t port,
                                 const std::string& identity) {
    return host + "|" + std::to_string(port) + "|" + identity;
  }

  // A session to a device, reused per host, port and identity ("" identity: plain UDP).
  coap_session_t* client_session(const std::string& host, std::uint16_t port,
                                 const std::string& identity, Status& error) {
    const bool secure = !identity.empty();
    std::string key = session_key(host, port, identity);
    if (auto it = client_sessions_.find(key); it != client_sessions_.end()) return it->second;
    coap_address_t dst;
    if (Status s = resolve(host, port ? port : (secure ? COAPS_DEFAULT_PORT : COAP_DEFAULT_PORT),
                           false, dst);
        !s) {
      error = s;
      return nullptr;
    }
    coap_session_t* s = nullptr;
    if (secure) {
      const PskEntry* e = psk_entry(identity);
      if (!e) {
        error = Status(StatusCode::kFailedPrecondition,
                       "identity '" + identity + "' is not in dtls.psk_file");
        return nullptr;
      }
      coap_dtls_cpsk_t cpsk{};
      cpsk.version = COAP_DTLS_CPSK_SETUP_VERSION;
      cpsk.psk_info.identity = {e->identity.size(),
                                reinterpret_cast<const std::uint8_t*>(e->identity.data())};
      cpsk.psk_info.key = {e->key.size(), reinterpret_cast<const std::uint8_t*>(e->key.data())};
      s = coap_new_client_session_psk2(ctx_coap_, nullptr, &dst, COAP_PROTO_DTLS, &cpsk);
    } else {
      s = coap_new_client_session(ctx_coap_, nullptr, &dst, COAP_PROTO_UDP);
    }
    if (!s) {
      error = sdk::unavailable("cannot open a CoAP session to " + host);
      return nullptr;
    }
    tune(s);
    client_sessions_[key] = s;
    return s;
  }

  static void add_path_options(coap_optlist_t** options, std::string_view path,
                               std::string_view query) {
    auto add = [&](std::uint16_t number, std::string_view text, char sep) {
      std::size_t i = 0;
      while (i <= text.size() && !text.empty()) {
        std::size_t end = text.find(sep, i);
        if (end == std::string_view::npos) end = text.size();
        std::string_view seg = text.substr(i, end - i);
        if (!seg.empty())
          coap_insert_optlist(options,
                              coap_new_optlist(number, seg.size(),
                                               reinterpret_cast<const std::uint8_t*>(seg.data())));
        if (end == text.size()) break;
        i = end + 1;
      }
    };
    add(COAP_OPTION_URI_PATH, path, '/');
    add(COAP_OPTION_URI_QUERY, query, '&');
  }

  // A new CON request with a fresh token; nullptr on failure.
  coap_pdu_t* new_request(coap_session_t* session, coap_pdu_code_t code, std::string& token) {
    coap_pdu_t* pdu = coap_new_pdu(COAP_MESSAGE_CON, code, session);
    if (!pdu) return nullptr;
    std::uint8_t buf[8];
    std::size_t len = 0;
    coap_session_new_token(session, &len, buf);
    coap_add_token(pdu, len, buf);
    token.assign(reinterpret_cast<const char*>(buf), len);
    return pdu;
  }

  // ---- client mode: observe and poll ------------------------------------------------------------

  struct Target {
    ObserveConfig cfg;
    std::string host, path, query;
    std::uint16_t port = 0;
    std::string token;        // the current observe / poll request
    SteadyTime next{};        // next poll, or when a silent observation is re-registered
    bool registered = false;  // observe: a registration was sent before
  };

  void request_target(std::size_t index) {
    Target& t = targets_[index];
    Status error;
    coap_session_t* session = client_session(t.host, t.port, t.cfg.identity, error);
    if (!session) {
      limited_.log(sdk::LogLevel::kWarn, "observe-session:" + t.cfg.uri,
                   "coap: cannot reach an observed device",
                   {{"plugin", instance_}, {"uri", t.cfg.uri}, {"error", error.message()}});
      return;
    }
    if (!t.token.empty()) {
      tokens_.erase(t.token);
      // The old observation, if the device still has it, ends (and libcoap forgets its state).
      if (t.cfg.mode == ObserveMode::kObserve) {
        coap_binary_t old{t.token.size(), reinterpret_cast<std::uint8_t*>(t.token.data())};
        coap_cancel_observe(session, &old, COAP_MESSAGE_NON);
      }
    }
    std::string token;
    coap_pdu_t* pdu = new_request(session, COAP_REQUEST_CODE_GET, token);
    if (!pdu) return;
    coap_optlist_t* options = nullptr;
    if (t.cfg.mode == ObserveMode::kObserve) {
      std::uint8_t buf[4];
      coap_insert_optlist(
          &options,
          coap_new_optlist(COAP_OPTION_OBSERVE,
                           coap_encode_var_safe(buf, sizeof buf, COAP_OBSERVE_ESTABLISH), buf));
    }
    add_path_options(&options, t.path, t.query);
    coap_add_optlist_pdu(pdu, &options);
    coap_delete_optlist(options);
    if (coap_send(session, pdu) == COAP_INVALID_MID) return;
    t.token = token;
    tokens_[token] = index;
  }

  void on_target_data(std::size_t index, const coap_pdu_t* received) {
    Target& t = targets_[index];
    coap_pdu_code_t code = coap_pdu_get_code(received);
    if (t.cfg.mode == ObserveMode::kObserve) t.next = Clock::now() + to_ms(t.cfg.reregister_after);
    if (COAP_RESPONSE_CLASS(code) != 2) {
      limited_.log(sdk::LogLevel::kWarn, "observe-code:" + t.cfg.uri,
                   "coap: an observed device answered with an error",
                   {{"plugin", instance_}, {"uri", t.cfg.uri}, {"code", code_text(code)}});
      return;
    }
    std::size_t length = 0, offset = 0, total = 0;
    const std::uint8_t* data = nullptr;
    if (!coap_get_data_large(received, &length, &data, &offset, &total)) return;
    std::string content_type = "application/json";
    coap_opt_iterator_t it;
    if (coap_opt_t* opt = coap_check_option(received, COAP_OPTION_CONTENT_FORMAT, &it)) {
      unsigned format = coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
      if (format == COAP_MEDIATYPE_APPLICATION_CBOR)
        content_type = "application/cbor";
      else if (format != COAP_MEDIATYPE_APPLICATION_JSON)
        content_type = "application/x-coap-content-format-" + std::to_string(format);
    }
    if (notifications_) notifications_->add();
    if (!ctx_.ingest) return;
    sdk::InboundMessage in;
    in.topic = t.cfg.topic;
    in.payload = std::string_view(reinterpret_cast<const char*>(data), length);
    in.content_type = content_type;
    in.received_at = ctx_.clock ? ctx_.clock->now() : 0;
    ctx_.ingest->ingest(in, nullptr);
  }

  // Polls due, silent observations, downlink deadlines. Returns when to come back.
  SteadyTime run_timers() {
    auto now = Clock::now();
    SteadyTime next = now + std::chrono::seconds(1);
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      Target& t = targets_[i];
      if (t.next <= now) {
        if (t.cfg.mode == ObserveMode::kPoll) {
          t.next = now + to_ms(t.cfg.interval);
        } else {
          if (t.registered) {
            if (lost_) lost_->add();
            limited_.log(sdk::LogLevel::kWarn, "observe-lost:" + t.cfg.uri,
                         "coap: no notification from an observed device in reregister_after; "
                         "registering again",
                         {{"plugin", instance_}, {"uri", t.cfg.uri}});
          }
          t.registered = true;
          t.next = now + to_ms(t.cfg.reregister_after);
        }
        request_target(i);
      }
      next = std::min(next, t.next);
    }
    std::vector<std::pair<sdk::OutboundCallback*, std::string>> expired;
    for (auto it = requests_.begin(); it != requests_.end();) {
      if (it->second.deadline <= now) {
        expired.emplace_back(it->second.done, it->second.what);
        it = requests_.erase(it);
      } else {
        next = std::min(next, it->second.deadline);
        ++it;
      }
    }
    for (auto& [done, what] : expired) {
      if (timeouts_) timeouts_->add();
      complete(done, Status(StatusCode::kDeadlineExceeded,
                            "no response from the device to " + what + " in time"));
    }
    return next;
  }

  // ---- down
  // ---------------------------------------------------------------------------------------

  struct SendTask {
    sdk::OutboundKind kind;
    std::string host;
    std::uint16_t port;
    std::string identity;  // coaps: the PSK identity
    std::string path;
    bool post;
    std::string payload;
    sdk::OutboundCallback* done;
    SteadyTime deadline;
    std::string what;  // for messages: "PUT coap://.../path"
  };
  struct Request {
    sdk::OutboundKind kind;
    sdk::OutboundCallback* done;
    SteadyTime deadline;
    std::string what;
  };

  static void complete(sdk::OutboundCallback* done, Status status, std::string_view payload = {},
                       std::uint32_t version = 0) {
    sdk::OutboundResult r;
    r.status = std::move(status);
    r.payload = payload;
    r.acknowledged_version = version;
    done->done(r);
  }

  void send_impl(const sdk::OutboundMessage& m, sdk::OutboundCallback* done) {
    const bool desired = m.kind == sdk::OutboundKind::kDesired;
    if (desired ? !cfg_.desired.enabled : !cfg_.commands.enabled)
      return complete(done, sdk::not_found("protocol-coap instance '" + instance_ + "' has no " +
                                           (desired ? "desired" : "commands") + ": config"));
    const DeviceConfig* device = nullptr;
    for (const DeviceConfig& d : cfg_.devices)
      if (sdk::twin_in_scope(d.twins, m.twin)) {
        device = &d;
        break;
      }
    if (!device)
      return complete(
          done, sdk::not_found("protocol-coap instance '" + instance_ +
                               "' has no devices: entry for twin '" + std::string(m.twin) + "'"));
    coap_uri_t uri;
    if (coap_split_uri(reinterpret_cast<const std::uint8_t*>(device->uri.data()),
                       device->uri.size(), &uri) < 0)
      return complete(done, sdk::invalid_argument("devices uri '" + device->uri + "' is invalid"));
    std::map<std::string_view, std::string_view> vars{
        {"twin", m.twin}, {"component", m.component}, {"name", m.name}};
    SendTask t;
    t.kind = m.kind;
    t.host.assign(reinterpret_cast<const char*>(uri.host.s), uri.host.length);
    t.port = uri.port;
    t.identity = device->identity;
    std::string prefix(reinterpret_cast<const char*>(uri.path.s), uri.path.length);
    sdk::Duration timeout;
    if (desired) {
      t.path = cfg_.desired.path.expand(vars);
      t.post = cfg_.desired.post;
      t.payload = "{\"name\":" + sdk::json_string(m.name);
      if (!m.component.empty()) t.payload += ",\"component\":" + sdk::json_string(m.component);
      t.payload +=
          ",\"value\":" + (m.payload.empty() ? std::string("null") : std::string(m.payload));
      t.payload += ",\"version\":" + std::to_string(m.version) + "}";
      timeout = cfg_.desired.timeout;
    } else {
      vars["correlation"] = m.correlation;
      t.path = cfg_.commands.path.expand(vars);
      t.post = true;
      t.payload = std::string(m.payload);
      timeout = m.timeout > 0 ? m.timeout : cfg_.commands.timeout;
    }
    t.what = std::string(t.post ? "POST " : "PUT ") + device->uri + "/" + t.path;
    if (!prefix.empty()) t.path = prefix + "/" + t.path;
    t.done = done;
    t.deadline = Clock::now() + to_ms(timeout);
    {
      std::lock_guard lock(mutex_);
      if (!running_) return complete(done, sdk::unavailable("protocol-coap is not running"));
      sends_.push_back(std::move(t));
    }
    shared_->wake();
  }

  void start_send(SendTask& t) {
    Status error;
    coap_session_t* session = client_session(t.host, t.port, t.identity, error);
    if (!session) return complete(t.done, error);
    std::string token;
    coap_pdu_t* pdu =
        new_request(session, t.post ? COAP_REQUEST_CODE_POST : COAP_REQUEST_CODE_PUT, token);
    if (!pdu) return complete(t.done, sdk::internal_error("cannot build a CoAP request"));
    coap_optlist_t* options = nullptr;
    add_path_options(&options, t.path, {});
    if (!t.payload.empty()) {
      std::uint8_t buf[4];
      coap_insert_optlist(
          &options,
          coap_new_optlist(COAP_OPTION_CONTENT_FORMAT,
                           coap_encode_var_safe(buf, sizeof buf, COAP_MEDIATYPE_APPLICATION_JSON),
                           buf));
    }
    coap_add_optlist_pdu(pdu, &options);
    coap_delete_optlist(options);
    if (!t.payload.empty()) {
      auto* body = new std::string(std::move(t.payload));
      coap_add_data_large_request(session, pdu, body->size(),
                                  reinterpret_cast<const std::uint8_t*>(body->data()),
                                  &release_body, body);
    }
    if (coap_send(session, pdu) == COAP_INVALID_MID)
      return complete(t.done, sdk::unavailable("cannot send " + t.what));
    if (downlink_) downlink_->add();
    requests_[token] = Request{t.kind, t.done, t.deadline, t.what};
  }

  coap_response_t handle_response(const coap_pdu_t* received) {
    coap_pdu_code_t code = coap_pdu_get_code(received);
    if (code == 0) return COAP_RESPONSE_OK;  // empty ACK of a separate response
    std::string token = token_of(received);
    if (auto it = tokens_.find(token); it != tokens_.end()) {
      on_target_data(it->second, received);
      return COAP_RESPONSE_OK;
    }
    auto it = requests_.find(token);
    if (it == requests_.end()) {
      // A notification of an observation replaced by a new registration: the RST ends it.
      coap_opt_iterator_t oi;
      return coap_check_option(received, COAP_OPTION_OBSERVE, &oi) ? COAP_RESPONSE_FAIL
                                                                   : COAP_RESPONSE_OK;
    }
    Request r = std::move(it->second);
    requests_.erase(it);
    std::size_t length = 0, offset = 0, total = 0;
    const std::uint8_t* data = nullptr;
    std::string_view body;
    if (coap_get_data_large(received, &length, &data, &offset, &total))
      body = std::string_view(reinterpret_cast<const char*>(data), length);
    int cls = COAP_RESPONSE_CLASS(code);
    if (cls != 2) {
      std::string why = "the device answered " + code_text(code) + " to " + r.what;
      if (!body.empty()) why += ": " + std::string(body.substr(0, 256));
      complete(r.done,
               Status(cls == 5 ? StatusCode::kUnavailable : StatusCode::kFailedPrecondition, why));
      return COAP_RESPONSE_OK;
    }
    if (r.kind == sdk::OutboundKind::kCommand) {
      complete(r.done, Status(), body);
    } else {
      std::uint32_t version = 0;
      if (!body.empty()) {
        rapidjson::Document doc;
        doc.Parse(body.data(), body.size());
        if (!doc.HasParseError() && doc.IsObject())
          if (auto v = doc.FindMember("version"); v != doc.MemberEnd() && v->value.IsUint())
            version = v->value.GetUint();
      }
      complete(r.done, Status(), {}, version);
    }
    return COAP_RESPONSE_OK;
  }

  void handle_nack(const coap_pdu_t* sent, coap_nack_reason_t reason) {
    std::string token = token_of(sent);
    if (tokens_.count(token)) return;  // observe / poll: the timers try again
    auto it = requests_.find(token);
    if (it == requests_.end()) return;
    Request r = std::move(it->second);
    requests_.erase(it);
    switch (reason) {
      case COAP_NACK_TOO_MANY_RETRIES:
        if (timeouts_) timeouts_->add();
        return complete(r.done, Status(StatusCode::kDeadlineExceeded,
                                       "no acknowledgement from the device for " + r.what +
                                           " after CoAP retransmissions"));
      case COAP_NACK_RST:
        return complete(r.done, sdk::unavailable("the device reset (RST) " + r.what));
      default:
        return complete(
            r.done, sdk::unavailable("cannot deliver " + r.what + " (network or DTLS problem)"));
    }
  }

  sdk::PluginContext ctx_;
  std::string instance_;
  RateLimitedLog limited_;
  Config cfg_;
  std::vector<PskEntry> psk_;
  std::vector<coap_bin_const_t> psk_keys_;  // views of psk_[i].key for libcoap

  sdk::Counter* requests_in_ = nullptr;
  sdk::Counter* rejected_ = nullptr;
  sdk::Counter* notifications_ = nullptr;
  sdk::Counter* lost_ = nullptr;
  sdk::Counter* downlink_ = nullptr;
  sdk::Counter* timeouts_ = nullptr;
  sdk::Counter* dtls_failures_ = nullptr;
  sdk::Counter* duplicates_ = nullptr;

  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  int wake_fd_ = -1;
  coap_context_t* ctx_coap_ = nullptr;
  std::thread io_;

  std::mutex mutex_;  // guards running_ and sends_
  bool running_ = false;
  std::vector<SendTask> sends_;

  // I/O thread only (and stop() after the join).
  std::vector<Target> targets_;
  std::unordered_map<std::string, std::size_t> tokens_;  // observe / poll token -> target
  std::unordered_map<std::string, Request> requests_;    // downlink token -> request
  std::map<std::string, coap_session_t*> client_sessions_;
  std::vector<std::string> dead_sessions_;        // client sessions that failed, dropped in drain()
  std::multiset<coap_session_t*> held_sessions_;  // referenced while the core works
  struct Exchange {
    bool answered = false;
    coap_pdu_code_t code = COAP_EMPTY_CODE;
    std::string diagnostic;
  };
  std::unordered_map<std::string, Exchange> exchanges_;  // recent requests, for duplicates
  std::deque<std::pair<SteadyTime, std::string>> exchange_order_;
  std::vector<coap_session_t*> release_later_;
};

const sdk::PluginDescriptor kDescriptor{
    DOPPEL_SDK_ABI_MAJOR,
    DOPPEL_SDK_ABI_MINOR,
    DOPPEL_SDK_TOOLCHAIN,
    sdk::PluginKind::kProtocol,
    "coap",
    "1.0.0",
    "devices over CoAP (libcoap): POST/PUT telemetry and properties (JSON or CBOR, block-wise), "
    "observe or poll device resources, desired values and commands down, DTLS-PSK",
    kConfigFields,
    kConfigFieldCount,
    [](const sdk::PluginContext& c) noexcept -> sdk::Plugin* {
      return sdk::create_plugin<CoapPlugin>(c, "coap");
    },
    sdk::destroy_plugin,
};

}  // namespace
}  // namespace doppel::plugins::coap

DOPPEL_PLUGIN_ENTRY(doppel::plugins::coap::kDescriptor)
