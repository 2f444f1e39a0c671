#include "api_fixture.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace doppel::api::testing {

std::string sha256_hex_for_test(const std::string& text) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(text.data(), text.size(), d, &n, EVP_sha256(), nullptr);
  std::string out;
  char b[3];
  for (unsigned int i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", d[i]);
    out += b;
  }
  return out;
}

ApiFixture::ApiFixture(const std::string& api, const std::string& plugin_config) {
  std::ofstream(dir.path() / "tokens.txt")
      << "# sha256 role name\n"
      << sha256_hex_for_test(kReader) << " reader dashboard\n"
      << sha256_hex_for_test(kOperator) << " operator\n"
      << sha256_hex_for_test(kAdmin) << " admin ops-team\n"
      << sha256_hex_for_test(kMotors1) << " operator motors one twins=motor-1\n"
      << sha256_hex_for_test(kLines)
      << " admin models=dtmi:example:factory:ProductionLine;1"
         " lines\n"
      << sha256_hex_for_test(kNewMotors)
      << " admin twins=new-,spare- "
         "models=dtmi:example:factory:Motor;1\n";
  std::ofstream(dir.path() / "deploy.yaml")
      << "apiVersion: doppel/v1\nname: api-test\nmodels: [\"" DOPPEL_SOURCE_DIR
         "/examples/models/factory\"]\n"
         "plugins:\n  - {name: devices, kind: protocol, library: loopback, config: "
      << plugin_config
      << "}\ntwins:\n  - {id: line-1, model: \"dtmi:example:factory:ProductionLine;1\"}\n"
         "  - {id: \"motor-{i}\", count: 12, model: \"dtmi:example:factory:Motor;1\", "
         "properties: {ratedPower: 7.5}}\n"
         "relationships:\n  - {source: line-1, name: contains, target: \"motor-{i}\", count: 3}\n"
         "api: "
      << api << "\n";
  auto load = runtime::load_deployment(dir.path() / "deploy.yaml");
  if (!load.ok()) throw std::runtime_error("test deployment does not load");
  auto config = parse_api_config(load.deployment->api.node(), dir.path());
  if (!config) throw std::runtime_error("api config: " + config.status().to_string());
  server = std::make_unique<ApiServer>(std::move(*config));
  runtime::RuntimeOptions o;
  o.plugin_path = {TEST_PLUGIN_DIR};
  o.tick = 5 * sdk::kMillisecond;
  o.command_timeout = 2 * sdk::kSecond;
  o.listeners.push_back(server->listener());
  o.log = std::make_unique<runtime::Log>(
      "test", runtime::LogOptions{sdk::LogLevel::kError, runtime::LogFormat::kText});
  rt = std::make_unique<runtime::Runtime>(std::move(*load.deployment), load.models, std::move(o));
  auto started = rt->start();
  if (!started) throw std::runtime_error("runtime: " + started.status().to_string());
  if (sdk::Status s = server->start(*rt); !s) throw std::runtime_error("api: " + s.to_string());
  client = std::make_unique<httplib::Client>("127.0.0.1", server->port());
  client->set_read_timeout(10, 0);
}

ApiFixture::~ApiFixture() {
  client.reset();
  server->stop();
  rt->stop();
  rt.reset();
}

}  // namespace doppel::api::testing
