// The REST API under /api/v1 (schemas/openapi.yaml, docs/api.md): models, twins, relationships,
// commands, telemetry history, dead letters, live events (Server-Sent Events), /healthz,
// /readyz and /metrics. cpp-httplib stays behind the pimpl.
//
// Lifetime: create the server before the Runtime and pass listener() in
// RuntimeOptions::listeners (events are seen from the first change on), start(runtime) once
// the runtime has started, stop() before the runtime stops. The server must outlive the
// Runtime it listens to (declare it first).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/api/api_config.hpp"
#include "doppel/sdk/status.hpp"

namespace doppel::runtime {
class Runtime;
}
namespace doppel::twin {
class ChangeListener;
}

namespace doppel::api {

// One row of the route table: what the server serves and who may call it.
struct RouteInfo {
  std::string method;  // "GET"
  std::string path;    // OpenAPI form: "/api/v1/twins/{id}"
  bool authenticated;  // false for /healthz and /readyz
  Role role;           // the lowest role allowed (when authenticated)
};

class ApiServer {
 public:
  explicit ApiServer(ApiConfig config);
  ~ApiServer();  // stops if running
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Feeds live events; valid for the server's lifetime. Never blocks the graph: a subscriber
  // whose queue is full loses events (counted in doppel_api_events_dropped_total).
  twin::ChangeListener* listener();

  // Reads the tokens file, binds the socket and serves on worker threads. `runtime` must stay
  // alive until stop(). Errors name the file and line (tokens) or the address (bind).
  sdk::Status start(runtime::Runtime& runtime);
  // Ends event streams, stops accepting, waits for requests in flight. Idempotent.
  void stop();
  // Reads the tokens file again (`doppel run` does on SIGHUP): new tokens, roles and ACLs apply
  // to requests from then on. A file with errors changes nothing; the error names file:line.
  sdk::Status reload_tokens();

  int port() const;         // the bound port (after start)
  std::string url() const;  // "http://127.0.0.1:8080" (https with TLS)

  // Every route served, in the order they are matched.
  static std::vector<RouteInfo> routes();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::api
