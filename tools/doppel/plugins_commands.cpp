// doppel plugins inspect
#include <cstdio>

#include "commands.hpp"
#include "doppel/host/plugin_host.hpp"

namespace doppel::cli {

int plugins_inspect(const PluginsInspectArgs& args) {
  host::PluginHost host(host::PluginSearchPath::standard());
  auto info = host.inspect(args.library);
  if (!info) {
    std::fprintf(stderr, "doppel: %s\n", info.status().to_string().c_str());
    return kExitInvalid;
  }
  if (args.json) {
    std::printf(
        "{\"name\": \"%s\", \"kind\": \"%s\", \"version\": \"%s\", \"abi\": \"%u.%u\", \"config\": "
        "[",
        info->name.c_str(), info->kind.c_str(), info->version.c_str(), info->abi_major,
        info->abi_minor);
    for (std::size_t i = 0; i < info->config_fields.size(); ++i)
      std::printf("%s{\"key\": \"%s\", \"type\": \"%s\", \"required\": %s}", i ? ", " : "",
                  info->config_fields[i].key.c_str(), info->config_fields[i].type.c_str(),
                  info->config_fields[i].required ? "true" : "false");
    std::printf("]}\n");
    return kExitOk;
  }
  std::printf(
      "%s\n  name: %s\n  kind: %s\n  version: %s\n  SDK ABI: %u.%u (this host: %d.%d)\n  "
      "toolchain: %s\n",
      info->path.c_str(), info->name.c_str(), info->kind.c_str(), info->version.c_str(),
      info->abi_major, info->abi_minor, DOPPEL_SDK_ABI_MAJOR, DOPPEL_SDK_ABI_MINOR,
      info->toolchain.c_str());
  if (!info->description.empty()) std::printf("  description: %s\n", info->description.c_str());
  if (!info->config_fields.empty()) std::printf("  config keys:\n");
  for (const auto& f : info->config_fields)
    std::printf("    %-24s %-8s %s%s%s\n", f.key.c_str(), f.type.c_str(),
                f.required ? "required. " : "", f.description.c_str(),
                f.default_value.empty() ? "" : (" (default " + f.default_value + ")").c_str());
  return kExitOk;
}

}  // namespace doppel::cli
