// deployment_check [--structure-only] [--json] FILE...
//
// Doppel's own verdict on deployment files, for the JSON Schema agreement test (until
// `doppel validate` covers it). Text: "FILE: valid" or "FILE: invalid" and the diagnostics.
// --json: one JSON object per line: {"file": ..., "valid": ..., "errors": [diagnostics]}.
// Exit status: 0 all valid, 1 some invalid, 2 usage.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "doppel/runtime/deployment.hpp"

int main(int argc, char** argv) {
  using namespace doppel;
  runtime::DeploymentOptions options;
  bool json = false;
  std::vector<const char*> files;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--structure-only") == 0)
      options.check_models = false;
    else if (std::strcmp(argv[i], "--json") == 0)
      json = true;
    else if (argv[i][0] == '-')
      return std::fprintf(stderr, "deployment_check: unknown option %s\n", argv[i]), 2;
    else
      files.push_back(argv[i]);
  }
  if (files.empty()) {
    std::fprintf(stderr, "usage: deployment_check [--structure-only] [--json] FILE...\n");
    return 2;
  }
  int status = 0;
  for (const char* file : files) {
    runtime::DeploymentLoad load = runtime::load_deployment(file, options);
    if (!load.ok()) status = 1;
    if (json) {
      // File names are test paths: no characters that need escaping.
      std::string line = "{\"file\": \"" + std::string(file) + "\", \"valid\": ";
      line += load.ok() ? "true" : "false";
      line += ", \"errors\": [";
      bool first = true;
      for (const model::Diagnostic& d : load.diagnostics.items) {
        if (d.severity != model::Severity::kError) continue;
        line += (first ? "" : ", ") + model::diagnostic_to_json(d);
        first = false;
      }
      std::printf("%s]}\n", line.c_str());
    } else {
      std::printf("%s: %s\n", file, load.ok() ? "valid" : "invalid");
      for (const model::Diagnostic& d : load.diagnostics.items)
        std::printf("  %s\n", model::format_diagnostic(d).c_str());
    }
  }
  return status;
}
