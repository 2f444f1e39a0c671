// protocol-mqtt's typed config: parsed once from the deployment's `config:` block, every value
// checked (with the ConfigNode location) before anything connects. No Paho here.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/sdk/clock.hpp"
#include "doppel/sdk/config.hpp"
#include "doppel/sdk/status.hpp"

namespace doppel::plugins::mqtt {

// A topic template: levels separated by '/', "{var}" placeholders. Expanded for publishing;
// matched (whole-level "{var}" only) for the ack and response topics the plugin subscribes to.
class TopicTemplate {
 public:
  TopicTemplate() = default;
  explicit TopicTemplate(std::string text);

  const std::string& text() const { return text_; }
  bool empty() const { return text_.empty(); }
  // Every "{name}" replaced by vars[name] ("" when absent).
  std::string expand(const std::map<std::string_view, std::string_view>& vars) const;
  // The subscription filter: whole-level "{var}" -> "+".
  std::string filter() const;
  // Does `topic` match? Binds whole-level variables into `vars` (views into `topic`).
  bool match(std::string_view topic, std::map<std::string, std::string_view>& vars) const;
  bool has_var(std::string_view name) const;
  // Variable names used anywhere, and whether every one is a whole level.
  std::vector<std::string> vars() const;
  bool vars_are_whole_levels() const;

 private:
  std::string text_;
  std::vector<std::string> levels_;
};

struct TlsConfig {
  bool enabled = false;  // a `tls:` block or an ssl:// broker
  std::string ca, cert, key;
  bool verify_hostname = true;
};

struct DesiredConfig {
  bool enabled = false;  // a `desired:` block is present
  TopicTemplate topic{"devices/{twin}/desired"};
  TopicTemplate ack_topic{"devices/{twin}/desired/ack"};  // empty: no acks
  int qos = -1;                                           // -1: the plugin's qos
  sdk::Duration ack_timeout = 10 * sdk::kSecond;
};

struct CommandsConfig {
  bool enabled = false;
  TopicTemplate topic{"devices/{twin}/commands/{name}"};
  TopicTemplate response_topic{"devices/{twin}/commands/{name}/response"};
  int qos = -1;
  sdk::Duration default_timeout = 10 * sdk::kSecond;  // when the core gives none
};

struct Config {
  std::string broker = "tcp://127.0.0.1:1883";
  std::string client_id;  // default: "doppel-<instance name>"
  int protocol = 5;       // 5 or 4 (3.1.1)
  bool clean_session = true;
  sdk::Duration session_expiry = 0;  // v5; default 1h when clean_session is false
  std::string username;
  std::string password_file;
  TlsConfig tls;
  int qos = 1;
  std::string shared_group;
  sdk::Duration reconnect_min = 1 * sdk::kSecond;
  sdk::Duration reconnect_max = 30 * sdk::kSecond;
  sdk::Duration connect_timeout = 5 * sdk::kSecond;
  sdk::Duration keep_alive = 30 * sdk::kSecond;
  int outbox_limit = 1000;
  std::vector<std::string> ingest_filters;  // subscription filters of the `ingest:` routes
  DesiredConfig desired;
  CommandsConfig commands;
};

// The config keys, for the descriptor (the host rejects unknown top-level keys with them).
extern const sdk::ConfigField kConfigFields[];
extern const std::size_t kConfigFieldCount;

sdk::Expected<Config> parse_config(const sdk::ConfigNode& node, std::string_view instance_name);


}  // namespace doppel::plugins::mqtt
