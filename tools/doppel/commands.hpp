// Subcommand entry points of the doppel CLI. Each returns the process exit code:
// 0 success, 1 the input is invalid (or the check failed), 2 usage or I/O error.
#pragma once

#include <string>
#include <vector>

namespace doppel::cli {

enum ExitCode { kExitOk = 0, kExitInvalid = 1, kExitUsage = 2 };

struct ModelsCheckArgs {
  std::vector<std::string> paths;
  bool json = false;
  bool summary = false;
  std::string undefined_extensions = "per-default";
};
int models_check(const ModelsCheckArgs& args);

struct ModelsShowArgs {
  std::string dtmi;
  std::vector<std::string> models;
  bool json = false;
};
int models_show(const ModelsShowArgs& args);

struct ModelsConvertArgs {
  std::vector<std::string> paths;
  std::string to;          // "yaml" or "json"
  std::string output_dir;  // empty: print to stdout
};
int models_convert(const ModelsConvertArgs& args);

struct ModelsSchemaArgs {
  std::string dtmi;
  std::vector<std::string> models;
  std::string part = "all";  // all | telemetry | properties | command:NAME
};
int models_schema(const ModelsSchemaArgs& args);

struct ValidateArgs {
  std::string deployment;
  bool json = false;
};
int validate(const ValidateArgs& args);

struct RunArgs {
  std::string deployment;
  std::vector<std::string> plugin_path;
};
int run(const RunArgs& args);

struct PluginsInspectArgs {
  std::string library;
  bool json = false;
};
int plugins_inspect(const PluginsInspectArgs& args);

}  // namespace doppel::cli
