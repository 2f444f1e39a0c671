#include "coap_link.hpp"

#include <coap3/coap.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <unordered_map>

#include "load_report.hpp"
#include "stop_signal.hpp"

namespace doppel::sim {
namespace {

using Clock = std::chrono::steady_clock;

void coap_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    coap_startup();
    coap_set_log_level(LOG_WARNING);
  });
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    auto next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    if (next > pos) out.push_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  return out;
}

// "host:port", "[v6]:port" -> host, port.
bool split_host_port(const std::string& text, std::string& host, std::string& port) {
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos) return false;
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return false;
      port = text.substr(close + 2);
    }
    return true;
  }
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    host = text;
    return true;
  }
  host = text.substr(0, colon);
  port = text.substr(colon + 1);
  return true;
}

bool resolve(const std::string& host, const std::string& port, coap_address_t& out,
             std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    error = "cannot resolve '" + host + ":" + port + "': " + ::gai_strerror(rc);
    return false;
  }
  coap_address_init(&out);
  out.size = res->ai_addrlen;
  std::memcpy(&out.addr.sa, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  return true;
}

std::string code_text(int code) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%d.%02d", code >> 5, code & 0x1f);
  return buf;
}

}  // namespace

struct CoapLink::Impl {
  enum class Kind { kTelemetry, kProperties, kDesired, kCommand };
  struct Resource {
    Impl* impl = nullptr;
    std::size_t device = 0;
    Kind kind = Kind::kTelemetry;
    std::string name;
    coap_resource_t* resource = nullptr;
    std::string body;  // the last GET payload (libcoap may refer to it until the next one)
  };
  struct Pending {
    Clock::time_point sent;
    std::string path;
  };

  CoapSettings s;
  LoadReport& report;
  StopSignal& stop;
  coap_context_t* ctx = nullptr;
  coap_session_t* session = nullptr;  // client role
  std::vector<std::string> base_path;
  std::unordered_map<std::uint64_t, Pending> pending;
  std::uint64_t next_token = 1;
  CoapServerHandlers handlers;
  std::vector<CoapDevicePaths> devices;
  std::vector<std::unique_ptr<Resource>> resources;
  std::vector<coap_resource_t*> telemetry_res, properties_res;
  Clock::time_point started = Clock::now();
  Clock::time_point deadline = Clock::time_point::max();
  bool silent_announced = false;
  int errors_shown = 0;

  Impl(CoapSettings settings, LoadReport& r, StopSignal& st)
      : s(std::move(settings)), report(r), stop(st) {}

  bool silence_began() {
    if (!s.silent_after_s || s.listen.empty()) return false;
    const std::chrono::duration<double> up = Clock::now() - started;
    if (up.count() < *s.silent_after_s) return false;
    if (!silent_announced) {
      silent_announced = true;
      std::fprintf(stderr, "doppel-sim: coap %s silent from now on (--coap-silent-after)\n",
                   s.silent_devices.empty() ? "server" : "devices");
    }
    return true;
  }
  // The whole server is silent: its socket is not read any more.
  bool silent_now() { return s.silent_devices.empty() && silence_began(); }
  // One device is silent: its requests are not answered (a CON one gets its empty ACK from
  // libcoap), its observers not notified.
  bool device_silent(std::size_t device) {
    return !s.silent_devices.empty() && device < s.silent_devices.size() &&
           s.silent_devices[device] && silence_began();
  }

  void show_error(const std::string& what) {
    if (errors_shown < 5) {
      std::fprintf(stderr, "doppel-sim: %s\n", what.c_str());
    } else if (errors_shown == 5) {
      std::fprintf(stderr, "doppel-sim: (further CoAP errors not shown)\n");
    }
    ++errors_shown;
  }

  static std::uint64_t token_of(const coap_pdu_t* pdu) {
    const coap_bin_const_t t = coap_pdu_get_token(pdu);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < t.length && i < 8; ++i)
      v = (v << 8) | t.s[i];
    return v;
  }

  static coap_response_t on_response(coap_session_t* session, const coap_pdu_t* /*sent*/,
                                     const coap_pdu_t* received, const coap_mid_t /*mid*/) {
    auto* impl = static_cast<Impl*>(coap_session_get_app_data(session));
    if (impl == nullptr) return COAP_RESPONSE_OK;
    auto it = impl->pending.find(token_of(received));
    if (it == impl->pending.end()) return COAP_RESPONSE_OK;  // late or duplicate
    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - it->second.sent);
    impl->report.add_latency_us(static_cast<std::uint32_t>(
        std::min<std::int64_t>(us.count(), std::numeric_limits<std::uint32_t>::max())));
    const int code = coap_pdu_get_code(received);
    if ((code >> 5) == 2) {
      ++impl->report.completed;
    } else {
      ++impl->report.failed;
      std::size_t len = 0;
      const std::uint8_t* data = nullptr;
      std::string diag;
      if (coap_get_data(received, &len, &data) && len > 0)
        diag.assign(reinterpret_cast<const char*>(data), std::min<std::size_t>(len, 200));
      impl->show_error("POST /" + it->second.path + ": " + code_text(code) +
                       (diag.empty() ? "" : " " + diag));
    }
    impl->pending.erase(it);
    return COAP_RESPONSE_OK;
  }

  static void on_nack(coap_session_t* session, const coap_pdu_t* sent,
                      const coap_nack_reason_t reason, const coap_mid_t /*mid*/) {
    auto* impl = static_cast<Impl*>(coap_session_get_app_data(session));
    if (impl == nullptr || sent == nullptr) return;
    auto it = impl->pending.find(token_of(sent));
    if (it == impl->pending.end()) return;
    ++impl->report.failed;
    impl->show_error("POST /" + it->second.path + ": no response (" +
                     (reason == COAP_NACK_TOO_MANY_RETRIES
                          ? std::string("retransmissions exhausted")
                      : reason == COAP_NACK_RST ? std::string("reset")
                                                : "nack " + std::to_string(reason)) +
                     ")");
    impl->pending.erase(it);
  }

  // NON requests are never retransmitted: one without a response after the timeout is lost.
  void expire() {
    if (pending.empty()) return;
    const auto limit = Clock::now() - std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(s.response_timeout_s));
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->second.sent < limit && !s.confirmable) {
        ++report.failed;
        show_error("POST /" + it->second.path + ": no response");
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
  }

  static void on_request(coap_resource_t* r, coap_session_t* session, const coap_pdu_t* request,
                         const coap_string_t* query, coap_pdu_t* response) {
    auto* res = static_cast<Resource*>(coap_resource_get_userdata(r));
    Impl& impl = *res->impl;
    if (impl.device_silent(res->device)) return;
    std::size_t len = 0, offset = 0, total = 0;
    const std::uint8_t* data = nullptr;
    std::string body;
    if (coap_get_data_large(request, &len, &data, &offset, &total) && len > 0)
      body.assign(reinterpret_cast<const char*>(data), len);
    CoapReply reply;
    const bool has_body = res->kind == Kind::kDesired || res->kind == Kind::kCommand;
    if (has_body) {
      coap_opt_iterator_t oi;
      if (coap_opt_t* cf = coap_check_option(request, COAP_OPTION_CONTENT_FORMAT, &oi)) {
        const unsigned format = coap_decode_var_bytes(coap_opt_value(cf), coap_opt_length(cf));
        if (format != static_cast<unsigned>(kCoapFormatJson)) {
          reply = {415, "{\"error\":\"expected Content-Format 50 (application/json)\"}"};
        }
      }
    }
    if (reply.code != 415) {
      switch (res->kind) {
        case Kind::kTelemetry:
          reply = impl.handlers.telemetry(res->device);
          break;
        case Kind::kProperties:
          reply = impl.handlers.properties(res->device);
          break;
        case Kind::kDesired:
          reply = impl.handlers.desired(res->device, body);
          break;
        case Kind::kCommand:
          reply = impl.handlers.command(res->device, res->name, body);
          break;
      }
    }
    if (reply.silent) return;  // no code: libcoap only acknowledges a CON request
    coap_pdu_set_code(response, static_cast<coap_pdu_code_t>(COAP_RESPONSE_CODE(reply.code)));
    ++impl.report.published;  // a response or notification, written to the socket
    ++impl.report.completed;
    if (!has_body && reply.code / 100 == 2) {
      // GET: libcoap adds Observe (for registered observers), ETag and block-wise as needed.
      res->body = std::move(reply.payload);
      coap_add_data_large_response(
          r, session, request, response, query, static_cast<std::uint16_t>(reply.format), -1, 0,
          res->body.size(), reinterpret_cast<const std::uint8_t*>(res->body.data()), nullptr,
          nullptr);
      return;
    }
    if (!reply.payload.empty()) {
      std::uint8_t buf[4];
      coap_add_option(response, COAP_OPTION_CONTENT_FORMAT,
                      coap_encode_var_safe(buf, sizeof buf, static_cast<unsigned>(reply.format)),
                      buf);
      coap_add_data(response, reply.payload.size(),
                    reinterpret_cast<const std::uint8_t*>(reply.payload.data()));
    }
  }

  coap_resource_t* add_resource(std::size_t device, Kind kind, const std::string& path,
                                const std::string& name) {
    auto res = std::make_unique<Resource>();
    res->impl = this;
    res->device = device;
    res->kind = kind;
    res->name = name;
    coap_str_const_t* uri =
        coap_new_str_const(reinterpret_cast<const std::uint8_t*>(path.data()), path.size());
    coap_resource_t* r = coap_resource_init(uri, COAP_RESOURCE_FLAGS_RELEASE_URI);
    coap_resource_set_userdata(r, res.get());
    switch (kind) {
      case Kind::kTelemetry:
      case Kind::kProperties:
        coap_register_request_handler(r, COAP_REQUEST_GET, &Impl::on_request);
        coap_resource_set_get_observable(r, 1);
        break;
      case Kind::kDesired:
        coap_register_request_handler(r, COAP_REQUEST_PUT, &Impl::on_request);
        coap_register_request_handler(r, COAP_REQUEST_POST, &Impl::on_request);
        break;
      case Kind::kCommand:
        coap_register_request_handler(r, COAP_REQUEST_POST, &Impl::on_request);
        break;
    }
    coap_add_resource(ctx, r);
    res->resource = r;
    resources.push_back(std::move(res));
    return r;
  }
};

CoapLink::CoapLink(CoapSettings settings, LoadReport& report, StopSignal& stop)
    : impl_(std::make_unique<Impl>(std::move(settings), report, stop)) {}

CoapLink::~CoapLink() {
  if (impl_->ctx != nullptr) coap_free_context(impl_->ctx);  // releases sessions and resources
}

void CoapLink::set_server(CoapServerHandlers handlers, std::vector<CoapDevicePaths> devices) {
  impl_->handlers = std::move(handlers);
  impl_->devices = std::move(devices);
}

bool CoapLink::start(std::string& error) {
  coap_once();
  auto& m = *impl_;
  m.ctx = coap_new_context(nullptr);
  if (m.ctx == nullptr) {
    error = "cannot create a libcoap context";
    return false;
  }
  coap_context_set_block_mode(m.ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  coap_register_response_handler(m.ctx, &Impl::on_response);
  coap_register_nack_handler(m.ctx, &Impl::on_nack);

  if (!m.s.listen.empty()) {
    std::string host, port = "5683";
    coap_address_t addr;
    if (!split_host_port(m.s.listen, host, port)) {
      error = "--coap-listen '" + m.s.listen + "' is not HOST:PORT";
      return false;
    }
    if (!resolve(host, port, addr, error)) return false;
    coap_endpoint_t* ep = coap_new_endpoint(m.ctx, &addr, COAP_PROTO_UDP);
    if (ep == nullptr) {
      error = "cannot listen on " + m.s.listen + " (UDP port in use?)";
      return false;
    }
    for (std::size_t i = 0; i < m.devices.size(); ++i) {
      const auto& d = m.devices[i];
      m.telemetry_res.push_back(m.add_resource(i, Impl::Kind::kTelemetry, d.telemetry, ""));
      m.properties_res.push_back(m.add_resource(i, Impl::Kind::kProperties, d.properties, ""));
      m.add_resource(i, Impl::Kind::kDesired, d.desired, "");
      for (const auto& [name, path] : d.commands)
        m.add_resource(i, Impl::Kind::kCommand, path, name);
    }
    std::fprintf(stderr, "doppel-sim: coap server listening on %s\n", coap_endpoint_str(ep));
  }

  if (!m.s.uri.empty()) {
    std::string rest = m.s.uri;
    if (rest.rfind("coap://", 0) != 0) {
      error = "--coap '" + m.s.uri + "' must start with coap://";
      return false;
    }
    rest = rest.substr(7);
    const auto slash = rest.find('/');
    const std::string authority = rest.substr(0, slash);
    if (slash != std::string::npos) m.base_path = split_path(rest.substr(slash));
    std::string host, port = "5683";
    coap_address_t dst;
    if (!split_host_port(authority, host, port) || host.empty()) {
      error = "--coap '" + m.s.uri + "' has no host";
      return false;
    }
    if (port.empty()) port = "5683";
    if (!resolve(host, port, dst, error)) return false;
    m.session = coap_new_client_session(m.ctx, nullptr, &dst, COAP_PROTO_UDP);
    if (m.session == nullptr) {
      error = "cannot create a CoAP session to " + authority;
      return false;
    }
    coap_session_set_app_data(m.session, impl_.get());
    coap_session_set_nstart(
        m.session, static_cast<std::uint16_t>(std::clamp<std::size_t>(m.s.window, 1, 1000)));
  }
  m.started = Clock::now();
  return true;
}

bool CoapLink::post(const std::string& path, const std::string& payload, int format, bool wait) {
  auto& m = *impl_;
  if (m.session == nullptr) return false;
  if (wait) {
    while (m.pending.size() >= m.s.window && !m.stop.requested() && Clock::now() < m.deadline) {
      coap_io_process(m.ctx, 10);
      m.expire();
    }
    if (m.pending.size() >= m.s.window) return false;  // stopped or out of time: not sent
  }
  coap_pdu_t* pdu =
      coap_pdu_init(m.s.confirmable ? COAP_MESSAGE_CON : COAP_MESSAGE_NON, COAP_REQUEST_CODE_POST,
                    coap_new_message_id(m.session), coap_session_max_pdu_size(m.session));
  if (pdu == nullptr) {
    ++m.report.dropped;
    return false;
  }
  const std::uint64_t token = m.next_token++;
  std::uint8_t tok[8];
  for (int i = 0; i < 8; ++i)
    tok[i] = static_cast<std::uint8_t>(token >> (8 * (7 - i)));
  coap_add_token(pdu, sizeof tok, tok);
  auto segments = m.base_path;
  for (auto& seg : split_path(path))
    segments.push_back(std::move(seg));
  for (const auto& seg : segments)
    coap_add_option(pdu, COAP_OPTION_URI_PATH, seg.size(),
                    reinterpret_cast<const std::uint8_t*>(seg.data()));
  std::uint8_t buf[4];
  coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                  coap_encode_var_safe(buf, sizeof buf, static_cast<unsigned>(format)), buf);
  coap_add_data(pdu, payload.size(), reinterpret_cast<const std::uint8_t*>(payload.data()));
  m.pending[token] = {Clock::now(), path};
  if (coap_send(m.session, pdu) == COAP_INVALID_MID) {
    m.pending.erase(token);
    ++m.report.dropped;
    return false;
  }
  ++m.report.published;
  return true;
}

void CoapLink::set_deadline(Clock::time_point deadline) {
  impl_->deadline = deadline;
}

void CoapLink::notify_telemetry(std::size_t device) {
  auto& m = *impl_;
  if (device < m.telemetry_res.size() && !m.silent_now() && !m.device_silent(device))
    coap_resource_notify_observers(m.telemetry_res[device], nullptr);
}

void CoapLink::notify_properties(std::size_t device) {
  auto& m = *impl_;
  if (device < m.properties_res.size() && !m.silent_now() && !m.device_silent(device))
    coap_resource_notify_observers(m.properties_res[device], nullptr);
}

bool CoapLink::process_until(Clock::time_point deadline) {
  auto& m = *impl_;
  while (!m.stop.requested()) {
    const auto now = Clock::now();
    if (m.silent_now()) {
      // A dead device: nothing is read, answered or notified.
      return m.stop.sleep_until(deadline);
    }
    if (now >= deadline) {
      coap_io_process(m.ctx, COAP_IO_NO_WAIT);
      m.expire();
      return true;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    // Short slices: a stop request (another thread) is noticed within 50 ms.
    coap_io_process(m.ctx, static_cast<std::uint32_t>(std::clamp<std::int64_t>(left, 1, 50)));
    m.expire();
  }
  return false;
}

void CoapLink::drain(std::chrono::milliseconds timeout) {
  auto& m = *impl_;
  const auto deadline = Clock::now() + timeout;
  while (!m.pending.empty() && Clock::now() < deadline) {
    coap_io_process(m.ctx, 10);
    m.expire();
  }
  if (m.ctx != nullptr) coap_io_process(m.ctx, COAP_IO_NO_WAIT);
}

bool CoapLink::silent() const {
  return impl_->silent_now();
}
std::size_t CoapLink::pending() const {
  return impl_->pending.size();
}

}  // namespace doppel::sim
