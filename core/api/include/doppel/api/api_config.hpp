// The deployment's `api:` block, parsed once at the edge into a typed struct. Unknown keys are
// errors (with the closest known key), every error names its place in the deployment file.
//
//   api:
//     listen: "127.0.0.1:8080"         # host:port; port 0 picks a free port
//     tokens_file: api-tokens.txt      # "<sha256-hex> <role> [<name>] [twins=..] [models=..]"
//     # auth: none                     # must be explicit to serve without tokens
//     tls: {cert: server.pem, key: server.key}
//     max_body_bytes: 1048576
//     threads: 8                       # request workers
//     max_event_subscribers: 32        # SSE streams (each holds a worker of its own)
//     event_queue: 1024                # events buffered per subscriber before dropping
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "doppel/sdk/config.hpp"
#include "doppel/sdk/status.hpp"

namespace doppel::api {

// Ordered: a role includes every lower one.
enum class Role : std::uint8_t { kReader = 0, kOperator = 1, kAdmin = 2 };
std::string_view role_name(Role role);

struct TlsConfig {
  std::filesystem::path cert;  // PEM certificate (chain)
  std::filesystem::path key;   // PEM private key
};

struct ApiConfig {
  std::string host = "127.0.0.1";     // loopback unless configured
  int port = 8080;                    // 0: a free port (ApiServer::port() tells which)
  bool auth = true;                   // false only with an explicit `auth: none`
  std::filesystem::path tokens_file;  // resolved against the deployment's folder
  std::optional<TlsConfig> tls;
  std::size_t max_body_bytes = 1 << 20;  // larger request bodies get 413
  std::size_t threads = 8;
  std::size_t max_event_subscribers = 32;
  std::size_t event_queue = 1024;
  std::string where;  // "deploy.yaml:30:3 api", for messages
};

// One finding of parse_api_config, for tools that report like the deployment loader.
struct ApiConfigIssue {
  std::string where;    // the node's ConfigNode::where(): "deploy.yaml:30:3 api.listen"
  std::string code;     // unknownKey, wrongType, missingKey or badValue (as the loader's codes)
  std::string message;  // without the location
};

// Parses an `api:` map. `base_dir` resolves relative paths (the deployment file's folder).
// Every error at once, one per line, each with its location; also in `issues` when given.
sdk::Expected<ApiConfig> parse_api_config(const sdk::ConfigNode& api,
                                          const std::filesystem::path& base_dir,
                                          std::vector<ApiConfigIssue>* issues = nullptr);

}  // namespace doppel::api
