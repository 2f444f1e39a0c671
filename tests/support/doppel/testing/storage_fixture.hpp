// Loads a storage plugin (.so from the build tree) through the real host, for tests.
#pragma once

#include <memory>
#include <string>

#include "doppel/host/plugin_host.hpp"
#include "doppel/sdk/storage.hpp"
#include "doppel/testing/test_config_node.hpp"
#include "doppel/testing/test_services.hpp"

namespace doppel::testing {

class StorageFixture {
 public:
  // library: "memory" or "rocksdb" (then `dir` holds the database).
  explicit StorageFixture(std::string library, std::string dir = "",
                          std::string durability = "sync")
      : library_(std::move(library)), dir_(std::move(dir)), durability_(std::move(durability)) {}

  sdk::Status open() {
    plugin_.reset();
    config_ = TestConfigNode::map();
    if (library_ == "rocksdb") {
      config_->set("path", sdk::ConfigNode::Type::kString, dir_);
      config_->set("durability", sdk::ConfigNode::Type::kString, durability_);
    }
    host::PluginRequest req;
    req.name = "store";
    req.kind = sdk::PluginKind::kStorage;
    req.library = library_;
    req.config = config_.get();
    req.context.instance_name = "store";
    req.context.log = &log_;
    req.context.clock = &clock_;
    req.context.metrics = &metrics_;
    host::PluginHost host(host::PluginSearchPath::standard());
    auto loaded = host.load(req);
    if (!loaded) return loaded.status();
    plugin_ = std::move(*loaded);
    if (sdk::Status s = plugin_->start(); !s) return s;
    return {};
  }
  void close() { plugin_.reset(); }
  sdk::StoragePlugin& storage() { return plugin_->as<sdk::StoragePlugin>(); }

 private:
  std::string library_, dir_, durability_;
  TestLog log_;
  FakeClock clock_;
  TestMetrics metrics_;
  std::unique_ptr<TestConfigNode> config_;
  std::unique_ptr<host::LoadedPlugin> plugin_;
};

}  // namespace doppel::testing
