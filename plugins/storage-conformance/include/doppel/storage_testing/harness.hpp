// What storage tests and benchmarks need to drive a storage plugin as the host would, without
// the host: load the .so (dlopen + dlsym of the entry point), check its descriptor, create,
// configure, start; plus small host services (log, clock, metrics), a map-backed config node,
// a temporary folder and a write callback one can wait on.
#pragma once

#include <dlfcn.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "doppel/sdk/plugin.hpp"
#include "doppel/sdk/storage.hpp"

namespace doppel::storage_testing {

// A config map of scalars ("key" -> typed text), as a deployment's `config:` block would be.
class MapConfig final : public sdk::ConfigNode {
 public:
  MapConfig() : MapConfig(Type::kMap, "", "test.yaml:1:1 config") {}

  MapConfig& set(const std::string& key, Type type, std::string text) {
    std::string where = "test.yaml:" + std::to_string(children_.size() + 2) + ":3 config." + key;
    for (auto& [k, node] : children_)
      if (k == key) {
        node.reset(new MapConfig(type, std::move(text), std::move(where)));
        return *this;
      }
    children_.emplace_back(
        key, std::unique_ptr<MapConfig>(new MapConfig(type, std::move(text), std::move(where))));
    return *this;
  }
  MapConfig& set(const std::string& key, std::string text) {
    return set(key, Type::kString, std::move(text));
  }
  MapConfig& set(const std::string& key, std::int64_t n) {
    return set(key, Type::kInteger, std::to_string(n));
  }

  Type type() const noexcept override { return type_; }
  std::string_view text() const noexcept override { return text_; }
  bool as_bool() const noexcept override { return text_ == "true"; }
  std::int64_t as_integer() const noexcept override {
    return std::strtoll(text_.c_str(), nullptr, 10);
  }
  double as_number() const noexcept override { return std::strtod(text_.c_str(), nullptr); }
  std::size_t size() const noexcept override { return children_.size(); }
  const ConfigNode& at(std::size_t i) const noexcept override { return *children_[i].second; }
  std::string_view key_at(std::size_t i) const noexcept override { return children_[i].first; }
  const ConfigNode& get(std::string_view key) const noexcept override {
    for (const auto& [k, node] : children_)
      if (k == key) return *node;
    static const MapConfig kMissing(Type::kMissing, "", "");
    return kMissing;
  }
  std::string where() const override { return where_; }

 private:
  MapConfig(Type type, std::string text, std::string where)
      : type_(type), text_(std::move(text)), where_(std::move(where)) {}
  Type type_;
  std::string text_, where_;
  std::vector<std::pair<std::string, std::unique_ptr<MapConfig>>> children_;
};

class TestLogger final : public sdk::Logger {
 public:
  void log(sdk::LogLevel, std::string_view message,
           std::initializer_list<sdk::LogField> fields) noexcept override {
    try {
      std::string line(message);
      for (const auto& [k, v] : fields)
        line.append(" ").append(k).append("=").append(v);
      std::lock_guard lock(mutex_);
      lines_.push_back(std::move(line));
    } catch (...) {
    }
  }
  bool enabled(sdk::LogLevel) const noexcept override { return true; }
  std::vector<std::string> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

class TestClock final : public sdk::Clock {
 public:
  sdk::Timestamp now() const noexcept override { return now_.load(); }
  void set(sdk::Timestamp t) { now_ = t; }

 private:
  std::atomic<sdk::Timestamp> now_{1'700'000'000 * sdk::kSecond};
};

class TestMetrics final : public sdk::Metrics {
 public:
  struct TestCounter final : sdk::Counter {
    std::atomic<std::uint64_t> value{0};
    void add(std::uint64_t n) noexcept override { value += n; }
  };
  struct TestGauge final : sdk::Gauge {
    std::atomic<double> value{0};
    void set(double v) noexcept override { value = v; }
  };
  sdk::Counter& counter(std::string_view name, std::string_view,
                        std::string_view) noexcept override {
    std::lock_guard lock(mutex_);
    auto& c = counters_[std::string(name)];
    if (!c) c = std::make_unique<TestCounter>();
    return *c;
  }
  sdk::Gauge& gauge(std::string_view name, std::string_view, std::string_view) noexcept override {
    std::lock_guard lock(mutex_);
    auto& g = gauges_[std::string(name)];
    if (!g) g = std::make_unique<TestGauge>();
    return *g;
  }
  std::uint64_t counter_value(const std::string& name) {
    std::lock_guard lock(mutex_);
    auto it = counters_.find(name);
    return it == counters_.end() ? 0 : it->second->value.load();
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<TestCounter>> counters_;
  std::map<std::string, std::unique_ptr<TestGauge>> gauges_;
};

// Services lent to one plugin instance; must outlive it.
struct TestServices {
  TestLogger log;
  TestClock clock;
  TestMetrics metrics;
  sdk::PluginContext context(std::string_view instance = "store") {
    sdk::PluginContext c;
    c.instance_name = instance;
    c.log = &log;
    c.clock = &clock;
    c.metrics = &metrics;
    return c;
  }
};

// A fresh folder (mkdtemp), removed with its contents at the end.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "doppel-storage-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Counts done() calls and lets a test wait for a number of them (no sleeping).
class WaitableCallback final : public sdk::WriteCallback {
 public:
  void done(const sdk::Status& status) noexcept override {
    std::lock_guard lock(mutex_);
    ++calls_;
    if (!status) failures_.push_back(status);
    cv_.notify_all();
  }
  // Waits until done() ran at least `n` times; false on timeout.
  bool wait(int n = 1, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return calls_ >= n; });
  }
  int calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  std::vector<sdk::Status> failures() const {
    std::lock_guard lock(mutex_);
    return failures_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  int calls_ = 0;
  std::vector<sdk::Status> failures_;
};

// One storage plugin instance loaded from its .so. Stops (if started) and destroys the
// instance, then unloads the library.
class LoadedStorage {
 public:
  // Loads `library`, checks that it is a storage plugin of this ABI, creates an instance with
  // `context` and configures it with `config`. Errors carry the plugin's message and where().
  static sdk::Expected<std::unique_ptr<LoadedStorage>> load(const std::string& library,
                                                            const sdk::PluginContext& context,
                                                            const sdk::ConfigNode& config) {
    std::unique_ptr<LoadedStorage> p(new LoadedStorage());
    p->handle_ = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!p->handle_) return sdk::not_found(std::string("dlopen: ") + ::dlerror());
    auto entry = reinterpret_cast<sdk::PluginEntry>(::dlsym(p->handle_, DOPPEL_PLUGIN_ENTRY_NAME));
    if (!entry) return sdk::not_found(library + " exports no " DOPPEL_PLUGIN_ENTRY_NAME);
    p->descriptor_ = entry();
    if (!p->descriptor_ || p->descriptor_->abi_major != DOPPEL_SDK_ABI_MAJOR ||
        p->descriptor_->kind != sdk::PluginKind::kStorage || !p->descriptor_->create ||
        !p->descriptor_->destroy)
      return sdk::invalid_argument(library + " is not a storage plugin of ABI 1");
    p->plugin_ = p->descriptor_->create(context);
    if (!p->plugin_) return sdk::internal_error(library + ": create() failed");
    if (sdk::Status s = p->plugin_->configure(config); !s) return s;
    return p;
  }

  ~LoadedStorage() {
    stop();
    if (plugin_) descriptor_->destroy(plugin_);
    if (handle_) ::dlclose(handle_);
  }
  LoadedStorage(const LoadedStorage&) = delete;
  LoadedStorage& operator=(const LoadedStorage&) = delete;

  sdk::Status start() {
    sdk::Status s = plugin_->start();
    started_ = s.is_ok();
    return s;
  }
  void stop() {
    if (started_) plugin_->stop();
    started_ = false;
  }
  const sdk::PluginDescriptor& descriptor() const { return *descriptor_; }
  sdk::StoragePlugin& storage() { return *static_cast<sdk::StoragePlugin*>(plugin_); }

 private:
  LoadedStorage() = default;
  void* handle_ = nullptr;
  const sdk::PluginDescriptor* descriptor_ = nullptr;
  sdk::Plugin* plugin_ = nullptr;
  bool started_ = false;
};

}  // namespace doppel::storage_testing
