// The simulator's CoAP side (libcoap stays inside coap_link.cpp). One libcoap context serves
// both roles, and everything runs on the simulator's run thread: the run loop waits through
// process_until(), which is when requests, responses and notifications are handled.
//  - client (--coap URI): telemetry and reported properties as POST, CON or NON; every
//    request expects a response (NON requests get NON responses), which completes it.
//  - server (--coap-listen HOST:PORT): per device an observable telemetry and properties
//    resource (GET, Observe), PUT desired and POST commands/{name}.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace doppel::sim {

class LoadReport;
class StopSignal;

inline constexpr int kCoapFormatJson = 50;  // application/json
inline constexpr int kCoapFormatCbor = 60;  // application/cbor

struct CoapSettings {
  std::string uri;                       // client: coap://host:port[/prefix]; empty: no client role
  std::string listen;                    // server: host:port; empty: no server role
  bool confirmable = true;               // client requests CON (else NON)
  std::size_t window = 20;               // client requests awaiting their response, at most
  double response_timeout_s = 10;        // NON requests without a response count as failed then
  std::optional<double> silent_after_s;  // server: stop answering and notifying (wall time)
  // Which devices fall silent (by index); empty: all of them, and the socket is not even read.
  std::vector<bool> silent_devices;
};

// A server-side answer. code is the CoAP code as class*100+detail (204 = 2.04 Changed).
// silent: send no response at all (a CON request only gets its empty ACK).
struct CoapReply {
  int code = 204;
  std::string payload;
  int format = kCoapFormatJson;
  bool silent = false;
};

// The server's view of the simulated devices; called on the run thread.
struct CoapServerHandlers {
  std::function<CoapReply(std::size_t device)> telemetry;   // GET telemetry (also notifies)
  std::function<CoapReply(std::size_t device)> properties;  // GET properties
  std::function<CoapReply(std::size_t device, const std::string& payload)> desired;
  std::function<CoapReply(std::size_t device, const std::string& name, const std::string& payload)>
      command;
};

struct CoapDevicePaths {
  std::string telemetry, properties, desired;                 // without a leading '/'
  std::vector<std::pair<std::string, std::string>> commands;  // name, path
};

class CoapLink {
 public:
  CoapLink(CoapSettings settings, LoadReport& report, StopSignal& stop);
  ~CoapLink();
  CoapLink(const CoapLink&) = delete;
  CoapLink& operator=(const CoapLink&) = delete;

  // Server role: the resources of each device, before start().
  void set_server(CoapServerHandlers handlers, std::vector<CoapDevicePaths> devices);

  // Resolves the client's peer and opens the server's endpoint; false with `error`.
  bool start(std::string& error);

  // Client role: one POST to `path` (joined to the URI's path). With `wait`, runs the I/O
  // loop while `window` requests await their response. False when it could not be sent.
  bool post(const std::string& path, const std::string& payload, int format, bool wait);
  // post() waits for room in the window until this time at most (--duration), then drops.
  void set_deadline(std::chrono::steady_clock::time_point deadline);

  // Server role: tells the observers of `device`'s telemetry (or properties) resource.
  void notify_telemetry(std::size_t device);
  void notify_properties(std::size_t device);

  // Runs the I/O loop until `deadline` or a stop request; false on the stop request.
  bool process_until(std::chrono::steady_clock::time_point deadline);
  // Runs the I/O loop until every client request completed or `timeout` passed.
  void drain(std::chrono::milliseconds timeout);

  bool silent() const;
  std::size_t pending() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::sim
