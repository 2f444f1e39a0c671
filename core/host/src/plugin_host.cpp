#include "doppel/host/plugin_host.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/dll/shared_library.hpp>
#include <boost/system/system_error.hpp>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace doppel::host {

namespace fs = std::filesystem;
using sdk::ConfigNode;
using sdk::Status;
using sdk::StatusCode;

// Plugin libraries stay mapped until the process exits. Objects made by a plugin's code can
// outlive its instance: a Status it returned (its shared state is freed through code in the
// library), results handed to callbacks. Unloading under them crashes, so a Library gives its
// handle to a process-wide list instead of closing it (the cost: one mapping per library).
struct LoadedPlugin::Library {
  boost::dll::shared_library library;
  ~Library() {
    if (!library.is_loaded()) return;
    static std::mutex mutex;
    static auto* retained = new std::vector<boost::dll::shared_library>();  // never freed
    std::lock_guard lock(mutex);
    retained->push_back(std::move(library));
  }
};

LoadedPlugin::~LoadedPlugin() {
  stop();
  if (instance_ && descriptor_) descriptor_->destroy(instance_);
  instance_ = nullptr;
  // library_ is destroyed after this body; the library itself stays mapped (see Library).
}

Status LoadedPlugin::start() {
  if (started_) return {};
  Status s = instance_->start();
  if (!s) return s.with_context("starting plugin '" + name_ + "' (" + path_.string() + ")");
  started_ = true;
  return {};
}

void LoadedPlugin::stop() {
  if (started_ && !stopped_) {
    stopped_ = true;
    instance_->stop();
  }
}

namespace {

fs::path executable_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  buf[n] = '\0';
  return fs::path(buf).parent_path();
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] =
          std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string article(std::string_view word) {
  bool vowel = !word.empty() && std::string_view("aeiou").find(word[0]) != std::string_view::npos;
  return (vowel ? "an " : "a ") + std::string(word);
}

bool type_fits(ConfigNode::Type declared, ConfigNode::Type actual) {
  if (declared == actual) return true;
  return declared == ConfigNode::Type::kNumber && actual == ConfigNode::Type::kInteger;
}

}  // namespace

PluginSearchPath PluginSearchPath::standard(const std::vector<fs::path>& extra) {
  PluginSearchPath p;
  if (const char* env = std::getenv("DOPPEL_PLUGIN_PATH")) {
    std::string_view s(env);
    while (!s.empty()) {
      auto colon = s.find(':');
      std::string_view part = s.substr(0, colon);
      if (!part.empty()) p.dirs.emplace_back(part);
      if (colon == std::string_view::npos) break;
      s.remove_prefix(colon + 1);
    }
  }
  p.dirs.insert(p.dirs.end(), extra.begin(), extra.end());
  fs::path exe = executable_dir();
#if defined(DOPPEL_BUILD_PLUGIN_DIR) && defined(DOPPEL_BUILD_DIR)
  // The build tree's plugins serve programs run from the build tree (tests, a developer's
  // doppel); an installed doppel must load the installed plugins, not a stale build's.
  {
    const std::string build_dir = DOPPEL_BUILD_DIR;
    const std::string exe_dir = exe.string();
    if (exe.empty() || exe_dir == build_dir || exe_dir.starts_with(build_dir + "/"))
      p.dirs.emplace_back(DOPPEL_BUILD_PLUGIN_DIR);
  }
#endif
  if (!exe.empty()) p.dirs.push_back(exe.parent_path() / "lib" / "doppel" / "plugins");
#ifdef DOPPEL_INSTALL_PLUGIN_DIR
  p.dirs.emplace_back(DOPPEL_INSTALL_PLUGIN_DIR);
#endif
  return p;
}

PluginHost::PluginHost(PluginSearchPath path) : path_(std::move(path)) {}

sdk::Expected<fs::path> PluginHost::find(const PluginRequest& request) const {
  const std::string& lib = request.library;
  if (lib.find('/') != std::string::npos || lib.ends_with(".so")) {
    std::error_code ec;
    if (fs::exists(lib, ec)) return fs::path(lib);
    return Status(StatusCode::kNotFound, "plugin library " + lib + " does not exist",
                  request.where);
  }
  std::string file =
      "doppel-" + std::string(sdk::plugin_kind_name(request.kind)) + "-" + lib + ".so";
  std::string searched;
  for (const fs::path& dir : path_.dirs) {
    std::error_code ec;
    fs::path candidate = dir / file;
    if (fs::exists(candidate, ec)) return candidate;
    searched += (searched.empty() ? "" : ", ") + dir.string();
  }
  return Status(
      StatusCode::kNotFound,
      "no plugin library " + file + " for '" + request.name + "' (searched: " + searched +
          "); check `library:` and `kind:`, or add its folder to plugin_path or DOPPEL_PLUGIN_PATH",
      request.where);
}

std::vector<Status> PluginHost::check_config(const sdk::PluginDescriptor& d,
                                             const ConfigNode& config) {
  std::vector<Status> problems;
  if (config.missing()) {
    for (std::size_t i = 0; i < d.config_field_count; ++i)
      if (d.config_fields[i].required)
        problems.push_back(sdk::invalid_argument(std::string("plugin '") + d.name +
                                                     "' needs config key '" +
                                                     d.config_fields[i].key + "'",
                                                 config.where()));
    return problems;
  }
  if (config.type() != ConfigNode::Type::kMap) {
    problems.push_back(
        sdk::invalid_argument("config must be a map of keys to values", config.where()));
    return problems;
  }
  auto field = [&](std::string_view key) -> const sdk::ConfigField* {
    for (std::size_t i = 0; i < d.config_field_count; ++i)
      if (key == d.config_fields[i].key) return &d.config_fields[i];
    return nullptr;
  };
  for (std::size_t i = 0; i < config.size(); ++i) {
    std::string_view key = config.key_at(i);
    const ConfigNode& value = config.at(i);
    const sdk::ConfigField* f = field(key);
    if (!f) {
      std::string hint;
      std::size_t best = 3;
      for (std::size_t k = 0; k < d.config_field_count; ++k) {
        std::size_t dist = edit_distance(key, d.config_fields[k].key);
        if (dist < best) {
          best = dist;
          hint = std::string("; did you mean '") + d.config_fields[k].key + "'?";
        }
      }
      std::string known;
      for (std::size_t k = 0; k < d.config_field_count; ++k)
        known += std::string(k ? ", " : "") + d.config_fields[k].key;
      problems.push_back(sdk::invalid_argument(
          "unknown config key '" + std::string(key) + "' for plugin '" + d.name + "'" + hint +
              (hint.empty() ? " (known keys: " + known + ")" : ""),
          value.where()));
      continue;
    }
    if (!type_fits(f->type, value.type()))
      problems.push_back(sdk::invalid_argument("config key '" + std::string(key) + "' must be " +
                                                   article(sdk::config_type_name(f->type)) +
                                                   ", not " +
                                                   article(sdk::config_type_name(value.type())),
                                               value.where()));
  }
  for (std::size_t k = 0; k < d.config_field_count; ++k)
    if (d.config_fields[k].required && config.get(d.config_fields[k].key).missing())
      problems.push_back(sdk::invalid_argument(std::string("plugin '") + d.name +
                                                   "' needs config key '" + d.config_fields[k].key +
                                                   "' (" + d.config_fields[k].description + ")",
                                               config.where()));
  return problems;
}

sdk::Expected<PluginHost::Info> PluginHost::inspect(const fs::path& library) const {
  PluginRequest r;
  r.name = library.filename().string();
  r.library = library.string();
  boost::dll::shared_library lib;
  try {
    lib.load(boost::dll::fs::path(library.string()),
             boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const boost::system::system_error& e) {
    return Status(StatusCode::kFailedPrecondition,
                  "cannot load plugin library " + library.string() + ": " + e.what());
  }
  if (!lib.has(DOPPEL_PLUGIN_ENTRY_NAME))
    return Status(
        StatusCode::kFailedPrecondition,
        library.string() +
            " is not a Doppel plugin for this host: it does not export " DOPPEL_PLUGIN_ENTRY_NAME);
  const sdk::PluginDescriptor* d =
      lib.get<const sdk::PluginDescriptor*()>(DOPPEL_PLUGIN_ENTRY_NAME)();
  if (!d || !d->name)
    return Status(StatusCode::kFailedPrecondition, library.string() + ": incomplete descriptor");
  Info info{library,
            d->abi_major,
            d->abi_minor,
            d->toolchain ? d->toolchain : "",
            std::string(sdk::plugin_kind_name(d->kind)),
            d->name,
            d->version ? d->version : "",
            d->description ? d->description : "",
            {}};
  for (std::size_t i = 0; i < d->config_field_count; ++i) {
    const sdk::ConfigField& f = d->config_fields[i];
    info.config_fields.push_back({f.key, std::string(sdk::config_type_name(f.type)),
                                  f.default_value ? f.default_value : "",
                                  f.description ? f.description : "", f.required});
  }
  return info;
}

sdk::Expected<std::unique_ptr<LoadedPlugin>> PluginHost::load(const PluginRequest& request) const {
  auto path = find(request);
  if (!path) return path.status();
  std::unique_ptr<LoadedPlugin> plugin(new LoadedPlugin());
  plugin->name_ = request.name;
  plugin->path_ = *path;
  plugin->library_ = std::make_unique<LoadedPlugin::Library>();
  const std::string file = path->string();
  try {
    plugin->library_->library.load(
        boost::dll::fs::path(file),
        boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const boost::system::system_error& e) {
    return Status(StatusCode::kFailedPrecondition,
                  "cannot load plugin library " + file + ": " + e.what(), request.where);
  }
  if (!plugin->library_->library.has(DOPPEL_PLUGIN_ENTRY_NAME))
    return Status(
        StatusCode::kFailedPrecondition,
        file + " is not a Doppel plugin for this host: it does not export " DOPPEL_PLUGIN_ENTRY_NAME
               " (plugins built for another SDK ABI major version export another entry point; "
               "rebuild it "
               "against this SDK)",
        request.where);
  const sdk::PluginDescriptor* d = nullptr;
  try {
    auto& entry =
        plugin->library_->library.get<const sdk::PluginDescriptor*()>(DOPPEL_PLUGIN_ENTRY_NAME);
    d = entry();
  } catch (const std::exception& e) {
    return Status(StatusCode::kFailedPrecondition,
                  file + ": cannot read its plugin descriptor: " + e.what(), request.where);
  }
  if (!d || !d->create || !d->destroy || !d->name)
    return Status(StatusCode::kFailedPrecondition,
                  file + " returned an incomplete plugin descriptor", request.where);
  if (d->abi_major != DOPPEL_SDK_ABI_MAJOR || d->abi_minor > DOPPEL_SDK_ABI_MINOR)
    return Status(StatusCode::kFailedPrecondition,
                  file + " was built for Doppel SDK ABI " + std::to_string(d->abi_major) + "." +
                      std::to_string(d->abi_minor) + ", this host speaks " +
                      std::to_string(DOPPEL_SDK_ABI_MAJOR) + "." +
                      std::to_string(DOPPEL_SDK_ABI_MINOR) +
                      "; rebuild the plugin against this SDK",
                  request.where);
  // Protocol and analytics plugins implement interfaces that appeared in ABI 1.1
  // (ProtocolPlugin, AnalyticsPlugin); a 1.0 plugin of those kinds lacks their functions.
  // Protocol plugins fill InboundMessage, which grew in 1.2 (device_twins) and 1.3
  // (refused_reason, refused_detail).
  const std::uint32_t needed_minor = d->kind == sdk::PluginKind::kProtocol    ? 3
                                     : d->kind == sdk::PluginKind::kAnalytics ? 1
                                                                              : 0;
  if (d->abi_minor < needed_minor)
    return Status(StatusCode::kFailedPrecondition,
                  file + (d->kind == sdk::PluginKind::kAnalytics ? " is an " : " is a ") +
                      std::string(sdk::plugin_kind_name(d->kind)) +
                      " plugin built for Doppel SDK ABI " + std::to_string(d->abi_major) + "." +
                      std::to_string(d->abi_minor) + "; " +
                      std::string(sdk::plugin_kind_name(d->kind)) + " plugins need ABI 1." +
                      std::to_string(needed_minor) + " or later (doppel/sdk/" +
                      (d->kind == sdk::PluginKind::kProtocol ? "protocol" : "analytics") +
                      ".hpp): rebuild the plugin against this SDK",
                  request.where);
  if (std::string_view(d->toolchain ? d->toolchain : "") != DOPPEL_SDK_TOOLCHAIN)
    return Status(
        StatusCode::kFailedPrecondition,
        file + " was built with C++ library " + std::string(d->toolchain ? d->toolchain : "?") +
            ", this host uses " DOPPEL_SDK_TOOLCHAIN "; rebuild it with the same toolchain",
        request.where);
  if (d->kind != request.kind)
    return Status(
        StatusCode::kFailedPrecondition,
        file + " is " +
            (d->kind == sdk::PluginKind::kAnalytics || d->kind == sdk::PluginKind::kActuator
                 ? "an "
                 : "a ") +
            std::string(sdk::plugin_kind_name(d->kind)) + " plugin, but '" + request.name +
            "' is declared as kind " + std::string(sdk::plugin_kind_name(request.kind)),
        request.where);
  plugin->descriptor_ = d;
  if (request.config) {
    std::vector<Status> problems = check_config(*d, *request.config);
    if (!problems.empty()) {
      std::string all;
      for (const Status& p : problems)
        all += (all.empty() ? "" : "\n") + p.to_string();
      return Status(StatusCode::kInvalidArgument, all, "");
    }
  }
  plugin->instance_ = d->create(request.context);
  if (!plugin->instance_)
    return Status(StatusCode::kInternal,
                  file + ": the plugin failed to create an instance (see its log)", request.where);
  if (request.config) {
    if (Status s = plugin->instance_->configure(*request.config); !s) return s;
  }
  return plugin;
}

}  // namespace doppel::host
