// api_deployment_check [--json] FILE...
//
// deployment_check (core/runtime/tests) plus the `api:` block, as `doppel validate` checks it:
// load_deployment, then parse_api_config. For the JSON Schema agreement test over
// tests/data/deployments/bad-api/ (deployment_schema_test.py --with-api).
// --json: one JSON object per line: {"file": ..., "valid": ..., "errors": [...]}.
// Exit status: 0 all valid, 1 some invalid, 2 usage.
#include <cstdio>
#include <cstring>
#include <regex>
#include <string>
#include <vector>

#include "doppel/api/api_config.hpp"
#include "doppel/runtime/deployment.hpp"
#include "doppel/twin/value.hpp"

namespace {

std::string quoted(const std::string& s) {
  return doppel::twin::Value::string(s).to_json();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace doppel;
  bool json = false;
  std::vector<const char*> files;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0)
      json = true;
    else if (argv[i][0] == '-')
      return std::fprintf(stderr, "api_deployment_check: unknown option %s\n", argv[i]), 2;
    else
      files.push_back(argv[i]);
  }
  if (files.empty()) {
    std::fprintf(stderr, "usage: api_deployment_check [--json] FILE...\n");
    return 2;
  }
  int status = 0;
  const std::regex position(R"(:(\d+):(\d+)(?: |$))");
  for (const char* file : files) {
    runtime::DeploymentLoad load = runtime::load_deployment(file);
    std::vector<std::string> errors;  // JSON objects
    for (const model::Diagnostic& d : load.diagnostics.items)
      if (d.severity == model::Severity::kError) errors.push_back(model::diagnostic_to_json(d));
    if (load.ok()) {
      if (const sdk::ConfigNode& block = load.deployment->api.node(); !block.missing()) {
        std::vector<api::ApiConfigIssue> issues;
        auto config = api::parse_api_config(block, load.deployment->file.parent_path(), &issues);
        for (const auto& i : issues) {
          std::smatch m;
          std::string line = "0", column = "0";
          if (std::regex_search(i.where, m, position)) line = m[1], column = m[2];
          errors.push_back("{\"code\": " + quoted(i.code) + ", \"message\": " + quoted(i.message) +
                           ", \"line\": " + line + ", \"column\": " + column +
                           ", \"where\": " + quoted(i.where) + "}");
        }
        if (!config && issues.empty())
          errors.push_back(
              "{\"code\": \"badValue\", \"message\": " + quoted(config.status().message()) + "}");
      }
    }
    bool valid = errors.empty();
    if (!valid) status = 1;
    if (json) {
      std::string out = "{\"file\": " + quoted(file) +
                        ", \"valid\": " + (valid ? "true" : "false") + ", \"errors\": [";
      for (std::size_t i = 0; i < errors.size(); ++i)
        out += (i ? ", " : "") + errors[i];
      std::printf("%s]}\n", out.c_str());
    } else {
      std::printf("%s: %s\n", file, valid ? "valid" : "invalid");
      for (const auto& e : errors)
        std::printf("  %s\n", e.c_str());
    }
  }
  return status;
}
