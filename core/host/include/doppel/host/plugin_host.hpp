// The plugin host: finds plugin libraries, loads them with Boost.DLL, checks their descriptor
// (ABI version, toolchain, kind) and their config, and owns their instances. Nothing from
// Boost.DLL appears in this header.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "doppel/sdk/plugin.hpp"
#include "doppel/sdk/status.hpp"

namespace doppel::host {

// Folders searched for plugin libraries, in order.
struct PluginSearchPath {
  std::vector<std::filesystem::path> dirs;

  // DOPPEL_PLUGIN_PATH (colon-separated), then `extra`, then the build tree's plugins/ folder
  // next to the running executable, then <install prefix>/lib/doppel/plugins.
  static PluginSearchPath standard(const std::vector<std::filesystem::path>& extra = {});
};

struct PluginRequest {
  std::string name;      // the deployment's instance name
  sdk::PluginKind kind;  // what the deployment expects
  std::string library;   // "rocksdb" (=> doppel-<kind>-rocksdb.so) or a path to a .so
  const sdk::ConfigNode* config = nullptr;  // the `config:` block (may be a missing node)
  sdk::PluginContext context;               // services lent to the instance
  std::string where;                        // "deploy.yaml:12:5 plugins[1]" for messages
};

// One loaded plugin instance. Destroys the instance, then unloads the library.
class LoadedPlugin {
 public:
  ~LoadedPlugin();
  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;

  const std::string& name() const { return name_; }
  const sdk::PluginDescriptor& descriptor() const { return *descriptor_; }
  const std::filesystem::path& path() const { return path_; }
  sdk::Plugin& instance() { return *instance_; }
  // The instance as its kind's interface (the descriptor's kind decides; checked at load).
  template <typename T>
  T& as() {
    return static_cast<T&>(*instance_);
  }

  // start()/stop() guards: stop() runs only after a successful start(), at most once.
  sdk::Status start();
  void stop();
  bool started() const { return started_; }

 private:
  friend class PluginHost;
  LoadedPlugin() = default;
  struct Library;
  std::unique_ptr<Library> library_;  // declared first: destroyed last
  std::string name_;
  std::filesystem::path path_;
  const sdk::PluginDescriptor* descriptor_ = nullptr;
  sdk::Plugin* instance_ = nullptr;
  bool started_ = false;
  bool stopped_ = false;
};

class PluginHost {
 public:
  explicit PluginHost(PluginSearchPath path);

  const PluginSearchPath& search_path() const { return path_; }

  // Finds the library file for a request (by path, or by kind and short name).
  sdk::Expected<std::filesystem::path> find(const PluginRequest& request) const;

  // Loads, checks and configures one plugin (does not start it). Every refusal names the
  // library file and what to do: missing library, load failure, missing entry point, ABI or
  // toolchain mismatch, wrong kind, unknown/mistyped/missing config keys, configure() errors.
  sdk::Expected<std::unique_ptr<LoadedPlugin>> load(const PluginRequest& request) const;

  // Loads a library only to read its descriptor (no kind expectation, no instance created).
  struct Info {
    std::filesystem::path path;
    std::uint32_t abi_major, abi_minor;
    std::string toolchain, kind, name, version, description;
    struct Field {
      std::string key, type, default_value, description;
      bool required;
    };
    std::vector<Field> config_fields;  // copied: the library is unloaded again
  };
  sdk::Expected<Info> inspect(const std::filesystem::path& library) const;

  // Checks a config block against declared fields; all problems, one per Status.
  static std::vector<sdk::Status> check_config(const sdk::PluginDescriptor& descriptor,
                                               const sdk::ConfigNode& config);

 private:
  PluginSearchPath path_;
};

}  // namespace doppel::host
