// The HTTP side: route table, authentication, problem details for every error, metrics, SSE.
// The only file of Doppel that includes httplib.h.
#include "doppel/api/api_server.hpp"

#include <httplib.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include "dashboard.hpp"
#include "doppel/runtime/runtime.hpp"
#include "event_hub.hpp"
#include "json_io.hpp"
#include "tokens.hpp"

namespace doppel::api {

using detail::Reply;
using detail::Request;

namespace {

using HandlerFn = Reply (*)(detail::Context&, const Request&);

enum class Special : std::uint8_t { kNone, kHealth, kReady, kMetrics, kEvents };

// How a route meets a token's ACL (docs/api.md, "Per-twin ACL").
enum class Scope : std::uint8_t {
  kAny,         // no twin data, or the handler filters what it lists by the ACL
  kTwin,        // the first path parameter is a twin that must be within the ACL (else 404)
  kCreate,      // PUT twin: the new id must be within the ACL (else 403); the model too
  kDeployment,  // deployment-wide data that cannot be split by twin: 403 for ACL tokens
};

struct RouteDef {
  const char* method;
  const char* pattern;  // httplib regex (full match on the decoded path)
  const char* path;     // OpenAPI path
  bool auth;
  Role role;
  HandlerFn fn;
  Special special = Special::kNone;
  Scope scope = Scope::kAny;
};

const std::array kRoutes = {
    RouteDef{"GET", "/healthz", "/healthz", false, Role::kReader, nullptr, Special::kHealth},
    RouteDef{"GET", "/readyz", "/readyz", false, Role::kReader, nullptr, Special::kReady},
    RouteDef{"GET", "/metrics", "/metrics", true, Role::kReader, nullptr, Special::kMetrics},
    RouteDef{"GET", "/api/v1/models", "/api/v1/models", true, Role::kReader, detail::list_models},
    RouteDef{"GET", "/api/v1/models/([^/]+)", "/api/v1/models/{id}", true, Role::kReader,
             detail::get_model},
    RouteDef{"POST", "/api/v1/query", "/api/v1/query", true, Role::kReader, detail::query_twins},
    RouteDef{"GET", "/api/v1/twins/([^/]+)", "/api/v1/twins/{id}", true, Role::kReader,
             detail::get_twin, Special::kNone, Scope::kTwin},
    RouteDef{"PUT", "/api/v1/twins/([^/]+)", "/api/v1/twins/{id}", true, Role::kAdmin,
             detail::put_twin, Special::kNone, Scope::kCreate},
    RouteDef{"DELETE", "/api/v1/twins/([^/]+)", "/api/v1/twins/{id}", true, Role::kAdmin,
             detail::delete_twin, Special::kNone, Scope::kTwin},
    RouteDef{"PATCH", "/api/v1/twins/([^/]+)/desired", "/api/v1/twins/{id}/desired", true,
             Role::kOperator, detail::patch_desired, Special::kNone, Scope::kTwin},
    RouteDef{"GET", "/api/v1/twins/([^/]+)/relationships", "/api/v1/twins/{id}/relationships", true,
             Role::kReader, detail::list_relationships, Special::kNone, Scope::kTwin},
    RouteDef{"PUT", "/api/v1/twins/([^/]+)/relationships/([^/]+)",
             "/api/v1/twins/{id}/relationships/{relationshipId}", true, Role::kAdmin,
             detail::put_relationship, Special::kNone, Scope::kTwin},
    RouteDef{"DELETE", "/api/v1/twins/([^/]+)/relationships/([^/]+)",
             "/api/v1/twins/{id}/relationships/{relationshipId}", true, Role::kAdmin,
             detail::delete_relationship, Special::kNone, Scope::kTwin},
    RouteDef{"POST", "/api/v1/twins/([^/]+)/commands/([^/]+)", "/api/v1/twins/{id}/commands/{name}",
             true, Role::kOperator, detail::invoke_command, Special::kNone, Scope::kTwin},
    RouteDef{"GET", "/api/v1/twins/([^/]+)/telemetry/(.+)/history",
             "/api/v1/twins/{id}/telemetry/{path}/history", true, Role::kReader,
             detail::telemetry_history, Special::kNone, Scope::kTwin},
    RouteDef{"GET", "/api/v1/dead-letters", "/api/v1/dead-letters", true, Role::kReader,
             detail::list_dead_letters, Special::kNone, Scope::kDeployment},
    RouteDef{"GET", "/api/v1/dead-letters/counts", "/api/v1/dead-letters/counts", true,
             Role::kReader, detail::count_dead_letters, Special::kNone, Scope::kDeployment},
    RouteDef{"GET", "/api/v1/alerts", "/api/v1/alerts", true, Role::kReader, detail::list_alerts},
    RouteDef{"POST", "/api/v1/alerts/([^/]+)/([^/]+)/acknowledge",
             "/api/v1/alerts/{twin}/{source}/acknowledge", true, Role::kOperator,
             detail::acknowledge_alert, Special::kNone, Scope::kTwin},
    RouteDef{"GET", "/api/v1/events/recent", "/api/v1/events/recent", true, Role::kReader,
             detail::list_events},
    RouteDef{"GET", "/api/v1/events", "/api/v1/events", true, Role::kReader, nullptr,
             Special::kEvents},
};

constexpr std::array<double, 14> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10};

// Per worker thread: the request being served (set before routing, read by the logger).
thread_local int t_route = -1;
thread_local std::chrono::steady_clock::time_point t_start;

Request to_request(const httplib::Request& hr) {
  Request r;
  r.method = hr.method;
  r.path = hr.path;
  for (std::size_t i = 1; i < hr.matches.size(); ++i)
    r.params.push_back(hr.matches[i].str());
  for (const auto& [k, v] : hr.params)
    r.query.emplace(k, v);  // keeps the first value
  r.body = hr.body;
  r.if_match = hr.get_header_value("If-Match");
  return r;
}

void apply(const Reply& reply, httplib::Response& res) {
  res.status = reply.status;
  for (const auto& [k, v] : reply.headers)
    res.set_header(k.c_str(), v.c_str());
  if (reply.status != 204) res.set_content(reply.body, reply.content_type.c_str());
}

std::string format_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

struct ApiServer::Impl {
  explicit Impl(ApiConfig c) : config(std::move(c)) {}

  ApiConfig config;
  detail::EventHub hub;
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  runtime::Runtime* rt = nullptr;
  int events_subscription = -1;  // the runtime's service events, forwarded to SSE streams
  std::unique_ptr<detail::Context> ctx;
  // Swapped whole by reload_tokens(); a request keeps the table it started with.
  std::shared_ptr<const detail::TokenTable> tokens;
  mutable std::mutex tokens_mutex;
  std::unique_ptr<runtime::Log> log;
  std::atomic<bool> ready{false};
  int port = 0;

  // Metrics (owned by the runtime's registry, valid while it lives).
  std::array<sdk::Counter*, kBuckets.size() + 1> buckets{};
  sdk::Counter* duration_count = nullptr;
  sdk::Gauge* duration_sum = nullptr;
  std::mutex sum_mutex;
  double sum_seconds = 0;
  sdk::Counter* auth_failures = nullptr;

  // Authenticates `hr` for `route` (the token's entry in `who`); on failure fills `res` and
  // returns false.
  bool authorize(const RouteDef& route, const httplib::Request& hr, httplib::Response& res,
                 std::optional<detail::TokenEntry>& who) {
    if (!route.auth || !config.auth) return true;
    Request r;
    r.path = hr.path;
    std::string header = hr.get_header_value("Authorization");
    std::string_view h = header;
    constexpr std::string_view kBearer = "bearer ";
    bool bearer = h.size() > kBearer.size() &&
                  std::equal(kBearer.begin(), kBearer.end(), h.begin(), [](char a, char b) {
                    return a == std::tolower(static_cast<unsigned char>(b));
                  });
    if (!bearer) {
      auth_failures->add();
      apply(detail::problem(r, 401, "missing-token", "Unauthorized",
                            "send 'Authorization: Bearer <token>'", "Authorization"),
            res);
      res.set_header("WWW-Authenticate", "Bearer realm=\"doppel\"");
      return false;
    }
    std::string_view token = h.substr(kBearer.size());
    while (!token.empty() && token.front() == ' ')
      token.remove_prefix(1);
    std::shared_ptr<const detail::TokenTable> table;
    {
      std::lock_guard lock(tokens_mutex);
      table = tokens;
    }
    auto entry = table->find(token);
    if (!entry) {
      auth_failures->add();
      apply(detail::problem(r, 401, "invalid-token", "Unauthorized",
                            "the bearer token is not known", "Authorization"),
            res);
      res.set_header("WWW-Authenticate", "Bearer realm=\"doppel\", error=\"invalid_token\"");
      return false;
    }
    if (entry->role < route.role) {
      auth_failures->add();
      apply(detail::problem(r, 403, "insufficient-role", "Forbidden",
                            std::string(hr.method) + " " + route.path + " needs the " +
                                std::string(role_name(route.role)) + " role; the token has " +
                                std::string(role_name(entry->role)),
                            "Authorization"),
            res);
      return false;
    }
    who = std::move(entry);
    return true;
  }

  // The route's part of a token's ACL; on refusal fills `res` and returns false.
  bool within_acl(const RouteDef& route, const Request& r, httplib::Response& res) {
    switch (route.scope) {
      case Scope::kAny:
        return true;
      case Scope::kTwin:
        if (detail::twin_visible(*rt, r, r.params.at(0))) return true;
        apply(detail::unknown_twin(r, r.params.at(0)), res);
        return false;
      case Scope::kCreate:
        if (r.acl->allows_id(r.params.at(0))) return true;
        auth_failures->add();
        apply(detail::outside_acl(r, "twin id '" + r.params.at(0) + "' is outside the token's ACL",
                                  "id"),
              res);
        return false;
      case Scope::kDeployment:
        auth_failures->add();
        apply(detail::outside_acl(r, std::string(route.path) +
                                         " is deployment-wide and cannot be limited to some twins"),
              res);
        return false;
    }
    return true;
  }

  void serve(const RouteDef& route, const httplib::Request& hr, httplib::Response& res) {
    std::optional<detail::TokenEntry> who;
    if (!authorize(route, hr, res, who)) return;
    Request r = to_request(hr);
    if (who && who->acl.limited()) {
      r.acl = &who->acl;
      if (!within_acl(route, r, res)) return;
    }
    switch (route.special) {
      case Special::kHealth:
        apply(detail::json_reply(200, "{\"status\":\"ok\"}"), res);
        return;
      case Special::kReady:
        if (ready.load())
          apply(detail::json_reply(200, "{\"status\":\"ready\"}"), res);
        else
          apply(detail::problem(r, 503, "not-ready", "Not ready", "the runtime is not running"),
                res);
        return;
      case Special::kMetrics:
        update_scrape_gauges();
        res.set_content(rt->metrics().render_prometheus(),
                        "text/plain; version=0.0.4; charset=utf-8");
        return;
      case Special::kEvents:
        events(r, res, r.acl);
        return;
      case Special::kNone: {
        Reply reply = route.fn(*ctx, r);
        if (reply.status == 403) auth_failures->add();  // outside-acl from the handler
        apply(reply, res);
        return;
      }
    }
  }

  void events(const Request& r, httplib::Response& res, const detail::Acl* acl) {
    detail::EventFilter filter;
    if (acl) filter.acl = *acl;
    if (const std::string* p = r.param("twin")) filter.twin = *p;
    if (const std::string* p = r.param("model")) {
      filter.model = *p;
      if (rt->graph().models().find(filter.model) == nullptr) {
        apply(detail::problem(r, 400, "unknown-model", "Unknown model",
                              "no model '" + filter.model + "' is loaded", "model"),
              res);
        return;
      }
    }
    auto sub = hub.subscribe(std::move(filter), config.event_queue, config.max_event_subscribers);
    if (!sub) {
      apply(detail::problem(r, 503, "too-many-subscribers", "Too many event streams",
                            "at most " + std::to_string(config.max_event_subscribers) +
                                " event streams may be open (api.max_event_subscribers)"),
            res);
      res.set_header("Retry-After", "5");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    struct State {
      bool greeted = false;
      std::uint64_t dropped_reported = 0;
      std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
    };
    auto state = std::make_shared<State>();
    res.set_chunked_content_provider(
        "text/event-stream",
        [sub, state](std::size_t, httplib::DataSink& sink) {
          auto write = [&](const std::string& s) {
            state->last_write = std::chrono::steady_clock::now();
            return sink.write(s.data(), s.size());
          };
          if (!state->greeted) {
            state->greeted = true;
            return write("retry: 2000\n: connected\n\n");
          }
          std::vector<std::string> frames;
          bool open = sub->wait(frames, std::chrono::milliseconds(500));
          for (const auto& f : frames)
            if (!write(f)) return false;
          if (std::uint64_t d = sub->dropped(); d != state->dropped_reported) {
            state->dropped_reported = d;
            if (!write("event: dropped\ndata: {\"dropped\":" + std::to_string(d) + "}\n\n"))
              return false;
          }
          if (!open) {
            sink.done();
            return true;
          }
          // A comment now and then finds clients that went away and keeps proxies open.
          if (std::chrono::steady_clock::now() - state->last_write > std::chrono::seconds(15))
            return write(": keepalive\n\n");
          return true;
        },
        [this, sub](bool) { hub.unsubscribe(sub); });
  }

  void update_scrape_gauges() {
    std::map<std::pair<std::string_view, bool>, std::size_t> counts;
    for (const auto* i : rt->graph().models().interfaces()) {
      counts[{i->id, false}] = 0;
      counts[{i->id, true}] = 0;
    }
    rt->graph().for_each([&](const twin::TwinView& t) {
      ++counts[{t.layout->interface().id, t.stale}];
      return true;
    });
    for (const auto& [k, n] : counts)
      rt->metrics()
          .gauge("doppel_twins",
                 "model=" + std::string(k.first) + ",stale=" + (k.second ? "true" : "false"),
                 "Twins by model and staleness")
          .set(static_cast<double>(n));
    // Storage sizes, as the storage plugin reports them.
    sdk::StorageStats st = rt->storage().stats();
    auto& m = rt->metrics();
    m.gauge("doppel_storage_bytes", "where=disk", "Storage size in bytes")
        .set(static_cast<double>(st.bytes_on_disk));
    m.gauge("doppel_storage_bytes", "where=memory", "Storage size in bytes")
        .set(static_cast<double>(st.bytes_in_memory));
    m.gauge("doppel_storage_records", "", "Records in storage")
        .set(static_cast<double>(st.records));
    m.gauge("doppel_storage_samples", "", "Telemetry samples in storage")
        .set(static_cast<double>(st.samples));
    m.gauge("doppel_storage_pending_writes", "", "Writes accepted, not yet durable")
        .set(static_cast<double>(st.pending_writes));
  }

  void record(const httplib::Request& hr, const httplib::Response& res) {
    std::string route =
        t_route >= 0 ? kRoutes[static_cast<std::size_t>(t_route)].path : "unmatched";
    rt->metrics()
        .counter(
            "doppel_api_requests_total",
            "method=" + hr.method + ",route=" + route + ",status=" + std::to_string(res.status),
            "HTTP requests served, by method, route and status")
        .add();
    bool stream =
        t_route >= 0 && kRoutes[static_cast<std::size_t>(t_route)].special == Special::kEvents;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    if (!stream) {
      for (std::size_t i = 0; i < kBuckets.size(); ++i)
        if (seconds <= kBuckets[i]) buckets[i]->add();
      buckets[kBuckets.size()]->add();
      duration_count->add();
      std::lock_guard lock(sum_mutex);
      sum_seconds += seconds;
      duration_sum->set(sum_seconds);
    }
    if (log->enabled(sdk::LogLevel::kDebug)) {
      std::string status = std::to_string(res.status);
      std::string ms = format_double(seconds * 1000);
      // Method and path only: headers (Authorization) and bodies are never logged.
      log->debug("request",
                 {{"method", hr.method}, {"path", hr.path}, {"status", status}, {"ms", ms}});
    }
    t_route = -1;
  }

  void register_metrics() {
    auto& m = rt->metrics();
    for (std::size_t i = 0; i <= kBuckets.size(); ++i)
      buckets[i] = &m.counter(
          "doppel_api_request_duration_seconds_bucket",
          "le=" + (i < kBuckets.size() ? format_double(kBuckets[i]) : std::string("+Inf")),
          "HTTP request latency, cumulative buckets (event streams excluded)");
    duration_count = &m.counter("doppel_api_request_duration_seconds_count", "",
                                "HTTP requests timed (event streams excluded)");
    duration_sum = &m.gauge("doppel_api_request_duration_seconds_sum", "",
                            "Total seconds spent serving timed HTTP requests");
    auth_failures =
        &m.counter("doppel_api_auth_failures_total", "", "Requests refused with 401 or 403");
    hub.set_metrics(
        {&m.counter("doppel_api_events_delivered_total", "", "Live events queued for subscribers"),
         &m.counter("doppel_api_events_dropped_total", "",
                    "Live events dropped because a subscriber's queue was full"),
         &m.gauge("doppel_api_event_subscribers", "", "Open event streams")});
  }

  void configure_errors() {
    // Every error leaves as problem+json: fill the body of those httplib produced itself.
    server->set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& hr, httplib::Response& res) {
          if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
          Request r;
          r.path = hr.path;
          Reply p;
          switch (res.status) {
            case 404:
              p = detail::problem(r, 404, "no-route", "Not Found",
                                  "no route " + hr.method + " " + hr.path +
                                      " (see /api/v1 in schemas/openapi.yaml)");
              break;
            case 413:
              p = detail::problem(r, 413, "body-too-large", "Content Too Large",
                                  "the request body exceeds api.max_body_bytes (" +
                                      std::to_string(config.max_body_bytes) + " bytes)");
              break;
            default:
              p = detail::problem(r, res.status, "http-" + std::to_string(res.status),
                                  detail::status_title(res.status),
                                  "the request could not be served");
          }
          res.set_content(p.body, p.content_type.c_str());
          return httplib::Server::HandlerResponse::Handled;
        }));
    server->set_exception_handler(
        [this](const httplib::Request& hr, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "unknown exception";
          try {
            if (ep) std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          log->error("request failed", {{"method", hr.method}, {"path", hr.path}, {"error", what}});
          Request r;
          r.path = hr.path;
          apply(detail::problem(r, 500, "internal", "Internal error", "the server failed: " + what),
                res);
        });
  }
};

ApiServer::ApiServer(ApiConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

ApiServer::~ApiServer() {
  stop();
}

twin::ChangeListener* ApiServer::listener() {
  return &impl_->hub;
}

namespace {

// The tokens file, checked against the runtime's models. Errors name file:line.
sdk::Expected<std::shared_ptr<const detail::TokenTable>> load_tokens(
    const std::filesystem::path& file, runtime::Runtime& runtime) {
  auto tokens = detail::TokenTable::load(file);
  if (!tokens) return tokens.status().with_context("api.tokens_file");
  // An ACL naming a model the deployment does not have is a typo, not an empty scope.
  std::string unknown;
  tokens->for_each([&](const detail::TokenEntry& e) {
    for (const auto& model : e.acl.models)
      if (runtime.graph().models().find(model) == nullptr)
        unknown += (unknown.empty() ? "" : "\n") + file.string() + ":" + std::to_string(e.line) +
                   ": models= names " + model + ", which no loaded model is";
  });
  if (!unknown.empty())
    return sdk::invalid_argument(unknown, file.string()).with_context("api.tokens_file");
  return std::make_shared<const detail::TokenTable>(std::move(*tokens));
}

}  // namespace

sdk::Status ApiServer::reload_tokens() {
  Impl& m = *impl_;
  if (!m.ready || !m.rt)
    return sdk::Status(sdk::StatusCode::kFailedPrecondition, "the API server is not running");
  if (!m.config.auth)
    return sdk::Status(sdk::StatusCode::kFailedPrecondition,
                       "the API runs with auth: none; there is no tokens file to reload");
  auto tokens = load_tokens(m.config.tokens_file, *m.rt);
  if (!tokens) {
    m.log->error("API tokens file not reloaded; the previous tokens stay in force",
                 {{"error", tokens.status().to_string()}});
    return tokens.status();
  }
  std::size_t n = (*tokens)->size();
  {
    std::lock_guard lock(m.tokens_mutex);
    m.tokens = std::move(*tokens);
  }
  m.log->info("API tokens reloaded", {{"tokens", std::to_string(n)}});
  return {};
}

sdk::Status ApiServer::start(runtime::Runtime& runtime) {
  Impl& m = *impl_;
  if (m.server)
    return sdk::Status(sdk::StatusCode::kFailedPrecondition, "the API server is running");
  const ApiConfig& c = m.config;
  if (c.auth) {
    auto tokens = load_tokens(c.tokens_file, runtime);
    if (!tokens) return tokens.status();
    m.tokens = std::move(*tokens);
  }
  m.rt = &runtime;
  m.log = runtime.log().child("api");
  m.ctx = std::make_unique<detail::Context>(detail::Context{runtime, m.config});
  m.register_metrics();

  if (c.tls) {
    auto ssl = std::make_unique<httplib::SSLServer>(c.tls->cert.c_str(), c.tls->key.c_str());
    if (!ssl->is_valid())
      return sdk::invalid_argument("cannot load the TLS certificate " + c.tls->cert.string() +
                                       " or key " + c.tls->key.string() + " (PEM files expected)",
                                   c.where + ".tls");
    m.server = std::move(ssl);
  } else {
    m.server = std::make_unique<httplib::Server>();
  }
  httplib::Server& s = *m.server;
  // Event streams hold a worker each: size the pool so they cannot starve requests.
  std::size_t workers = c.threads + c.max_event_subscribers;
  s.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  s.set_payload_max_length(c.max_body_bytes);
  // Headers and body go out in separate writes: without TCP_NODELAY a keep-alive client's
  // second request waits for a delayed ACK (about 40 ms on Linux).
  s.set_tcp_nodelay(true);
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which lets a second server
  // bind the same port and silently take half of the connections.
  s.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  s.set_keep_alive_timeout(2);
  s.set_keep_alive_max_count(10000);  // httplib's default (5) makes busy clients reconnect
  s.set_read_timeout(10, 0);
  s.set_write_timeout(10, 0);

  for (std::size_t i = 0; i < kRoutes.size(); ++i) {
    const RouteDef* route = &kRoutes[i];
    int index = static_cast<int>(i);
    httplib::Server::Handler h = [this, route, index](const httplib::Request& hr,
                                                      httplib::Response& res) {
      t_route = index;
      impl_->serve(*route, hr, res);
    };
    std::string_view method = route->method;
    if (method == "GET")
      s.Get(route->pattern, h);
    else if (method == "POST")
      s.Post(route->pattern, h);
    else if (method == "PUT")
      s.Put(route->pattern, h);
    else if (method == "PATCH")
      s.Patch(route->pattern, h);
    else if (method == "DELETE")
      s.Delete(route->pattern, h);
  }
  // The dashboard's static files, after the API routes (they match first).
  if (std::filesystem::path dir = detail::default_dashboard_dir(); !dir.empty()) {
    if (sdk::Status d = detail::mount_dashboard(s, dir); !d)
      m.log->warn("serving the API without the dashboard", {{"reason", d.message()}});
  }
  m.configure_errors();
  s.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    t_route = -1;
    t_start = std::chrono::steady_clock::now();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.set_logger(
      [this](const httplib::Request& hr, const httplib::Response& res) { impl_->record(hr, res); });

  int port = c.port;
  if (port == 0) {
    port = s.bind_to_any_port(c.host);
    if (port <= 0) port = -1;
  } else if (!s.bind_to_port(c.host, port)) {
    port = -1;
  }
  if (port < 0) {
    m.server.reset();
    return sdk::unavailable("cannot listen on " + c.host + ":" + std::to_string(c.port) +
                            " (address in use or not local?)");
  }
  m.port = port;
  m.hub.reopen();
  m.events_subscription = runtime.subscribe_events([this](const runtime::EventRecord& e) {
    const model::Interface* iface = nullptr;
    impl_->rt->graph().read(e.twin,
                            [&](const twin::TwinView& t) { iface = &t.layout->interface(); });
    impl_->hub.publish(e.twin, iface, e.type, detail::event_json(e));
  });
  m.thread = std::thread([&s] { s.listen_after_bind(); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!s.is_running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!s.is_running()) {
    stop();
    return sdk::internal_error("the API server did not start listening");
  }
  m.ready = true;
  m.log->info("API listening", {{"url", url()},
                                {"auth", c.auth ? "tokens" : "none"},
                                {"tokens", std::to_string(m.tokens ? m.tokens->size() : 0)}});
  return {};
}

void ApiServer::stop() {
  Impl& m = *impl_;
  if (!m.server) return;
  m.ready = false;
  if (m.events_subscription >= 0 && m.rt) m.rt->unsubscribe_events(m.events_subscription);
  m.events_subscription = -1;
  m.hub.close_all();  // wakes event streams so their workers finish
  m.server->stop();
  if (m.thread.joinable()) m.thread.join();
  m.server.reset();
  if (m.log) m.log->info("API stopped");
}

int ApiServer::port() const {
  return impl_->port;
}

std::string ApiServer::url() const {
  const ApiConfig& c = impl_->config;
  bool v6 = c.host.find(':') != std::string::npos;
  return std::string(c.tls ? "https://" : "http://") + (v6 ? "[" + c.host + "]" : c.host) + ":" +
         std::to_string(impl_->port);
}

std::vector<RouteInfo> ApiServer::routes() {
  std::vector<RouteInfo> out;
  for (const auto& r : kRoutes)
    out.push_back({r.method, r.path, r.auth, r.role});
  return out;
}

}  // namespace doppel::api
