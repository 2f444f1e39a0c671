// An in-process Runtime (memory storage, the factory models, the loopback protocol plugin that
// answers commands) with an ApiServer on a free loopback port, and an httplib client.
#pragma once

#include <httplib.h>

#include <fstream>
#include <memory>
#include <string>

#include "doppel/api/api_server.hpp"
#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/runtime.hpp"
#include "doppel/testing/test_services.hpp"

namespace doppel::api::testing {

// Plain tokens for the tests; the tokens file holds their SHA-256.
inline const std::string kReader = "reader-secret-1";
inline const std::string kOperator = "operator-secret-2";
inline const std::string kAdmin = "admin-secret-3";
// Tokens with an ACL (docs/api.md, "Per-twin ACL"):
// operator of twins whose id starts with "motor-1" (motor-1, motor-10, motor-11, motor-12);
inline const std::string kMotors1 = "acl-operator-4";
// admin of ProductionLine twins only;
inline const std::string kLines = "acl-admin-5";
// admin of Motor twins whose id starts with "new-".
inline const std::string kNewMotors = "acl-admin-6";

struct ApiFixture {
  doppel::testing::TempDir dir;
  std::unique_ptr<ApiServer> server;
  std::unique_ptr<runtime::Runtime> rt;
  std::unique_ptr<httplib::Client> client;

  // `api` is the deployment's api: block (flow style); `plugin_config` the loopback's config.
  explicit ApiFixture(const std::string& api =
                          "{listen: \"127.0.0.1:0\", tokens_file: tokens.txt, "
                          "max_body_bytes: 4096}",
                      const std::string& plugin_config = "{respond: 'true'}");
  ~ApiFixture();

  httplib::Headers auth(const std::string& token) const {
    return {{"Authorization", "Bearer " + token}};
  }
  std::string metric_text() const { return rt->metrics().render_prometheus(); }
};

std::string sha256_hex_for_test(const std::string& text);

}  // namespace doppel::api::testing
