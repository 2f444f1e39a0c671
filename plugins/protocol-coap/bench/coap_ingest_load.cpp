// CoAP ingest load: N telemetry POSTs over M twins to a URI template, CON or NON, either as
// fast as a window of W outstanding requests allows (spread over S client sessions, each its
// own UDP port) or at a fixed rate. A request completes with its response (NON requests get
// NON responses); the report gives completed messages/s, responses by code, requests without
// a response, and the request -> response latency.
//
//   doppel_coap_ingest_load --uri 'coap://127.0.0.1:5683/twins/motor-{i}/telemetry'
//       [--messages N] [--twins M] [--type con|non] [--window W] [--sessions S]
//       [--rate R] [--timeout 5] [--json]
//
// {i} in the URI is the twin number, 1..M, round robin. Payload: a Motor telemetry document
// (dtmi:example:factory:Motor;1), about 60 bytes, Content-Format 50 (application/json).
// One thread, one libcoap context: the load generator is never the bottleneck of interest,
// but on a shared 2-core machine it competes with the server for CPU (report it with figures).
#include <coap3/coap.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string uri = "coap://127.0.0.1:5683/twins/motor-{i}/telemetry";
  long messages = 10000;
  int twins = 10;
  bool con = true;
  std::size_t window = 32;
  int sessions = 4;
  double rate = 0;  // 0: as fast as the window allows
  double timeout_s = 5;
  bool json = false;
};

[[noreturn]] void usage(const char* error) {
  std::fprintf(stderr,
               "doppel_coap_ingest_load: %s\n"
               "usage: doppel_coap_ingest_load [--uri coap://HOST:PORT/path/with/{i}] "
               "[--messages N] [--twins M] [--type con|non] [--window W] [--sessions S] "
               "[--rate R] [--timeout SECONDS] [--json]\n",
               error);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--uri") {
      o.uri = value();
    } else if (a == "--messages") {
      o.messages = std::stol(value());
    } else if (a == "--twins") {
      o.twins = std::stoi(value());
    } else if (a == "--type") {
      const auto t = value();
      if (t != "con" && t != "non") usage("--type must be con or non");
      o.con = t == "con";
    } else if (a == "--window") {
      o.window = std::stoul(value());
    } else if (a == "--sessions") {
      o.sessions = std::stoi(value());
    } else if (a == "--rate") {
      o.rate = std::stod(value());
    } else if (a == "--timeout") {
      o.timeout_s = std::stod(value());
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "-h" || a == "--help") {
      usage("help");
    } else {
      usage(("unknown argument " + a).c_str());
    }
  }
  if (o.messages < 1 || o.twins < 1 || o.window < 1 || o.sessions < 1 || o.rate < 0)
    usage("--messages, --twins, --window and --sessions must be positive, --rate not negative");
  if (o.uri.rfind("coap://", 0) != 0) usage("--uri must be a coap:// URI");
  return o;
}

struct Target {
  std::string host, port = "5683";
  std::string path_template;  // without the leading '/'
};

Target split_uri(const std::string& uri) {
  Target t;
  std::string rest = uri.substr(7);
  const auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  t.path_template = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    t.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) t.port = authority.substr(close + 2);
  } else if (const auto colon = authority.rfind(':'); colon != std::string::npos) {
    t.host = authority.substr(0, colon);
    t.port = authority.substr(colon + 1);
  } else {
    t.host = authority;
  }
  return t;
}

std::vector<std::string> segments(const std::string& path) {
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

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

struct Pending {
  Clock::time_point sent;
};

struct State {
  Options o;
  std::unordered_map<std::uint64_t, Pending> pending;
  std::vector<std::uint32_t> latencies_us;
  std::map<std::string, long> codes;  // "2.04" -> count
  long completed = 0, lost = 0, send_failed = 0;
  Clock::time_point last_response;
};

State* g_state = nullptr;  // libcoap 4.3.1 has no context app data; one context per process

std::uint64_t token_of(const coap_pdu_t* pdu) {
  const coap_bin_const_t t = coap_pdu_get_token(pdu);
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < t.length && i < 8; ++i)
    v = (v << 8) | t.s[i];
  return v;
}

coap_response_t on_response(coap_session_t*, const coap_pdu_t*, const coap_pdu_t* received,
                            const coap_mid_t) {
  State& s = *g_state;
  auto it = s.pending.find(token_of(received));
  if (it == s.pending.end()) return COAP_RESPONSE_OK;  // late (already counted lost) or dup
  const auto now = Clock::now();
  s.latencies_us.push_back(static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(now - it->second.sent).count()));
  const int code = coap_pdu_get_code(received);
  char text[16];
  std::snprintf(text, sizeof text, "%d.%02d", code >> 5, code & 0x1f);
  ++s.codes[text];
  ++s.completed;
  s.last_response = now;
  s.pending.erase(it);
  return COAP_RESPONSE_OK;
}

void on_nack(coap_session_t*, const coap_pdu_t* sent, const coap_nack_reason_t, const coap_mid_t) {
  State& s = *g_state;
  if (sent == nullptr) return;
  if (s.pending.erase(token_of(sent)) > 0) ++s.lost;
}

void expire(State& s) {
  const auto limit = Clock::now() - std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(s.o.timeout_s));
  for (auto it = s.pending.begin(); it != s.pending.end();) {
    if (it->second.sent < limit) {
      ++s.lost;
      it = s.pending.erase(it);
    } else {
      ++it;
    }
  }
}

double percentile(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  State s;
  s.o = parse(argc, argv);
  g_state = &s;
  const Options& o = s.o;
  const Target target = split_uri(o.uri);

  coap_startup();
  coap_set_log_level(LOG_WARNING);
  coap_context_t* ctx = coap_new_context(nullptr);
  coap_register_response_handler(ctx, on_response);
  coap_register_nack_handler(ctx, on_nack);

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(target.host.c_str(), target.port.c_str(), &hints, &res) != 0 || !res) {
    std::fprintf(stderr, "doppel_coap_ingest_load: cannot resolve %s:%s\n", target.host.c_str(),
                 target.port.c_str());
    return 1;
  }
  coap_address_t dst;
  coap_address_init(&dst);
  dst.size = res->ai_addrlen;
  std::memcpy(&dst.addr.sa, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);

  std::vector<coap_session_t*> sessions;
  const auto per_session = static_cast<std::uint16_t>(
      std::clamp<std::size_t>((o.window + o.sessions - 1) / o.sessions, 1, 65535));
  for (int i = 0; i < o.sessions; ++i) {
    coap_session_t* session = coap_new_client_session(ctx, nullptr, &dst, COAP_PROTO_UDP);
    if (session == nullptr) {
      std::fprintf(stderr, "doppel_coap_ingest_load: cannot open a client session\n");
      return 1;
    }
    coap_session_set_nstart(session, per_session);  // CON requests in flight per session
    sessions.push_back(session);
  }

  // Per twin: its Uri-Path segments, expanded once.
  std::vector<std::vector<std::string>> paths;
  for (int t = 1; t <= o.twins; ++t)
    paths.push_back(segments(replace_all(target.path_template, "{i}", std::to_string(t))));

  s.latencies_us.reserve(static_cast<std::size_t>(o.messages));
  std::uint64_t next_token = 1;
  char payload[160];
  const auto start = Clock::now();
  s.last_response = start;
  long sent = 0;
  while ((sent < o.messages || !s.pending.empty())) {
    // Room in the window, and (with --rate) the next message is due.
    const bool room = sent < o.messages && s.pending.size() < o.window;
    Clock::time_point due = start;
    if (o.rate > 0)
      due = start + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(static_cast<double>(sent) / o.rate));
    if (room && Clock::now() >= due) {
      coap_session_t* session = sessions[static_cast<std::size_t>(sent % o.sessions)];
      coap_pdu_t* pdu =
          coap_pdu_init(o.con ? COAP_MESSAGE_CON : COAP_MESSAGE_NON, COAP_REQUEST_CODE_POST,
                        coap_new_message_id(session), coap_session_max_pdu_size(session));
      const std::uint64_t token = next_token++;
      std::uint8_t tok[8];
      for (int i = 0; i < 8; ++i)
        tok[i] = static_cast<std::uint8_t>(token >> (8 * (7 - i)));
      coap_add_token(pdu, sizeof tok, tok);
      for (const auto& seg : paths[static_cast<std::size_t>(sent % o.twins)])
        coap_add_option(pdu, COAP_OPTION_URI_PATH, seg.size(),
                        reinterpret_cast<const std::uint8_t*>(seg.data()));
      std::uint8_t cf[2];
      coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                      coap_encode_var_safe(cf, sizeof cf, COAP_MEDIATYPE_APPLICATION_JSON), cf);
      const int n = std::snprintf(payload, sizeof payload,
                                  "{\"temperature\": %.1f, \"vibration\": %.3f, \"current\": %.2f}",
                                  40.0 + static_cast<double>(sent % 200) / 10.0,
                                  0.5 + static_cast<double>(sent % 100) / 1000.0,
                                  12.0 + static_cast<double>(sent % 50) / 10.0);
      coap_add_data(pdu, static_cast<std::size_t>(n),
                    reinterpret_cast<const std::uint8_t*>(payload));
      s.pending[token] = {Clock::now()};
      if (coap_send(session, pdu) == COAP_INVALID_MID) {
        s.pending.erase(token);
        ++s.send_failed;
      }
      ++sent;
      // Read what arrived meanwhile without waiting, so responses are timed promptly.
      if (sent % 8 == 0) coap_io_process(ctx, COAP_IO_NO_WAIT);
      continue;
    }
    // Wait for a response (window full) or the next due time (rate).
    std::uint32_t wait_ms = 5;
    if (room) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(due - Clock::now()).count();
      wait_ms = static_cast<std::uint32_t>(std::clamp<long>(left, 0, 5));
    }
    coap_io_process(ctx, wait_ms == 0 ? COAP_IO_NO_WAIT : wait_ms);
    expire(s);
  }
  const double elapsed = std::chrono::duration<double>(s.last_response - start).count();
  coap_free_context(ctx);
  coap_cleanup();

  auto lat = s.latencies_us;
  const double p50 = percentile(lat, 0.50), p99 = percentile(lat, 0.99);
  const double max = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end()) / 1000.0;
  const double rate = elapsed > 0 ? static_cast<double>(s.completed) / elapsed : 0;
  std::string codes;
  for (const auto& [code, count] : s.codes)
    codes += (codes.empty() ? "" : ", ") + ("\"" + code + "\": " + std::to_string(count));
  if (o.json) {
    std::printf(
        "{\"messages\": %ld, \"twins\": %d, \"type\": \"%s\", \"window\": %zu, \"sessions\": %d, "
        "\"rate_target\": %.0f, \"completed\": %ld, \"lost\": %ld, \"send_failed\": %ld, "
        "\"elapsed_s\": %.3f, \"msg_per_s\": %.1f, \"codes\": {%s}, "
        "\"latency_ms\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f}}\n",
        o.messages, o.twins, o.con ? "con" : "non", o.window, o.sessions, o.rate, s.completed,
        s.lost, s.send_failed, elapsed, rate, codes.c_str(), p50, p99, max);
  } else {
    std::printf(
        "coap ingest load: %ld %s POSTs over %d twins to %s (window %zu, %d sessions, %s)\n"
        "  completed   %ld (a response received) in %.3f s: %.1f msg/s\n"
        "  responses   {%s}\n"
        "  lost        %ld (no response within %.1f s or retransmissions exhausted)\n"
        "  latency     p50 %.3f ms, p99 %.3f ms, max %.3f ms (request sent -> response)\n",
        o.messages, o.con ? "CON" : "NON", o.twins, o.uri.c_str(), o.window, o.sessions,
        o.rate > 0 ? ("rate " + std::to_string(static_cast<long>(o.rate)) + "/s").c_str()
                   : "as fast as possible",
        s.completed, elapsed, rate, codes.c_str(), s.lost, o.timeout_s, p50, p99, max);
  }
  return s.lost > 0 || s.send_failed > 0 ? 3 : 0;
}
