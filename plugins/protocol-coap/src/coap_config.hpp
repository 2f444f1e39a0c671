// protocol-coap's typed config: parsed once from the deployment's `config:` block, every value
// checked (with the ConfigNode location) before anything binds a socket. No libcoap here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/sdk/clock.hpp"
#include "doppel/sdk/config.hpp"
#include "doppel/sdk/status.hpp"

namespace doppel::plugins::coap {

// A URI path template without the leading '/': "twins/{twin}/commands/{name}".
class PathTemplate {
 public:
  PathTemplate() = default;
  explicit PathTemplate(std::string text) : text_(std::move(text)) {}
  const std::string& text() const { return text_; }
  // Every "{name}" replaced by vars[name] ("" when absent).
  std::string expand(const std::map<std::string_view, std::string_view>& vars) const;
  std::vector<std::string> vars() const;

 private:
  std::string text_;
};

// "host:port" (IPv4, [IPv6] or a name); port 0 is not allowed.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  bool enabled() const { return port != 0; }
  std::string text() const;
};

struct DtlsConfig {
  Endpoint listen;       // coaps server (default port 5684)
  std::string psk_file;  // lines "identity key twins"; read at start
  bool require = false;  // true: the plain `listen` endpoint answers 4.01 to writes
};

enum class ObserveMode : std::uint8_t { kObserve, kPoll };

// Client mode: one device resource Doppel reads.
struct ObserveConfig {
  std::string uri;    // coap://host:port/path?query
  std::string topic;  // the path the core maps (an `ingest:` route), "twins/motor-1/telemetry"
  ObserveMode mode = ObserveMode::kObserve;
  sdk::Duration interval = 10 * sdk::kSecond;          // poll period
  sdk::Duration reregister_after = 60 * sdk::kSecond;  // observe: silent this long -> new GET
  std::string identity;  // coaps://: the dtls.psk_file identity (and key) Doppel uses
  std::string where;     // for errors
};

// Downlink: where a twin's device is.
struct DeviceConfig {
  std::string twins;     // patterns as in sdk::twin_in_scope ("motor-1,line-7/*")
  std::string uri;       // coap://host:port or coaps:// (a path prefix is allowed)
  std::string identity;  // coaps://: the dtls.psk_file identity (and key) Doppel uses
  std::string where;
};

struct DesiredConfig {
  bool enabled = false;
  PathTemplate path{"twins/{twin}/desired"};
  bool post = false;  // method: PUT (default) or POST
  sdk::Duration timeout = 10 * sdk::kSecond;
};

struct CommandsConfig {
  bool enabled = false;
  PathTemplate path{"twins/{twin}/commands/{name}"};
  sdk::Duration timeout = 10 * sdk::kSecond;  // when the core gives none
};

struct Config {
  Endpoint listen;  // plain UDP server; disabled when absent or ""
  DtlsConfig dtls;
  std::vector<ObserveConfig> observe;
  std::vector<DeviceConfig> devices;
  DesiredConfig desired;
  CommandsConfig commands;
  std::size_t max_payload = 64 * 1024;  // largest request body (block-wise reassembly limit)
  // RFC 7252 4.8 transmission parameters for confirmable messages Doppel sends (downlink,
  // observe/poll requests, separate responses): first retransmission after ack_timeout (times
  // 1 to 1.5), doubling, max_retransmit times; then the message has failed.
  sdk::Duration ack_timeout = 2 * sdk::kSecond;
  std::uint16_t max_retransmit = 4;
};

extern const sdk::ConfigField kConfigFields[];
extern const std::size_t kConfigFieldCount;

sdk::Expected<Config> parse_config(const sdk::ConfigNode& node);

// "64KiB", "1MiB", "1500" (bytes) -> bytes.
bool parse_size(std::string_view text, std::size_t& out);
// "127.0.0.1:5683", "[::1]:5683", ":5683" or "5683" (host defaults to 127.0.0.1).
bool parse_endpoint(std::string_view text, Endpoint& out);

// One line of the PSK file.
struct PskEntry {
  std::string identity;
  std::string key;    // raw bytes
  std::string twins;  // patterns as in sdk::twin_in_scope ("motor-1,line-7/*")
};
// Parses the PSK file's text; errors name "<file>:<line>" and never contain a key.
sdk::Expected<std::vector<PskEntry>> parse_psk_text(std::string_view text, std::string_view file);

}  // namespace doppel::plugins::coap
