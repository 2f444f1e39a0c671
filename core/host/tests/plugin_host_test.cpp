#include "doppel/host/plugin_host.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "doppel/testing/test_config_node.hpp"
#include "doppel/testing/test_services.hpp"

namespace doppel::host {
namespace {

using sdk::ConfigNode;
using testing::TestConfigNode;

PluginRequest request(const std::string& library, sdk::PluginKind kind, const ConfigNode* config) {
  PluginRequest r;
  r.name = "p";
  r.kind = kind;
  r.library = library;
  r.config = config;
  r.where = "deploy.yaml:3:5 plugins[0]";
  return r;
}

PluginHost host() {
  return PluginHost(PluginSearchPath{{TEST_PLUGIN_DIR}});
}

std::string error_of(const sdk::Expected<std::unique_ptr<LoadedPlugin>>& r) {
  return r ? std::string("loaded") : r.status().to_string();
}

TEST(PluginHost, LoadsConfiguresStartsAndStops) {
  auto config = TestConfigNode::map();
  config->set("target", ConfigNode::Type::kString, "ops")
      .set("threshold", ConfigNode::Type::kInteger, "5");
  auto loaded = host().load(request("good", sdk::PluginKind::kAnalytics, config.get()));
  ASSERT_TRUE(loaded) << loaded.status().to_string();
  EXPECT_STREQ((*loaded)->descriptor().name, "good");
  EXPECT_NE((*loaded)->path().string().find("doppel-analytics-good.so"), std::string::npos);
  ASSERT_TRUE((*loaded)->start());
  EXPECT_TRUE((*loaded)->started());
  (*loaded)->stop();
}

// sdk::create_plugin: a throwing constructor or a missing service is a refusal with the reason in
// the plugin's log, never an exception across the entry point.
TEST(PluginHost, ConstructorThatThrowsIsRefusedWithTheReasonLogged) {
  for (const char* instance : {"p", "needs-twins"}) {
    testing::TestLog log;
    PluginRequest r = request("throwing", sdk::PluginKind::kAnalytics, nullptr);
    r.context.instance_name = instance;
    r.context.log = &log;
    std::string e = error_of(host().load(r));
    EXPECT_NE(e.find("the plugin failed to create an instance (see its log)"), std::string::npos)
        << e;
    EXPECT_TRUE(log.contains("plugin instance not created plugin=throwing"));
    if (std::string_view(instance) == "p")
      EXPECT_TRUE(log.contains("error=cannot open /nonexistent/licence.key"));
    else
      EXPECT_TRUE(log.contains("error=it needs PluginContext::twins"));
  }
}

TEST(PluginHost, FindsLibrariesByPathToo) {
  auto config = TestConfigNode::map();
  config->set("target", ConfigNode::Type::kString, "ops");
  auto loaded = host().load(request(std::string(TEST_PLUGIN_DIR) + "/doppel-analytics-good.so",
                                    sdk::PluginKind::kAnalytics, config.get()));
  EXPECT_TRUE(loaded) << loaded.status().to_string();
}

TEST(PluginHost, MissingLibraryNamesWhatWasSearched) {
  std::string e = error_of(host().load(request("nope", sdk::PluginKind::kAnalytics, nullptr)));
  EXPECT_NE(e.find("deploy.yaml:3:5 plugins[0]"), std::string::npos) << e;
  EXPECT_NE(e.find("doppel-analytics-nope.so"), std::string::npos) << e;
  EXPECT_NE(e.find(TEST_PLUGIN_DIR), std::string::npos) << e;
}

TEST(PluginHost, LibraryThatFailsToLoad) {
  std::string path = ::testing::TempDir() + "/doppel-analytics-broken.so";
  std::ofstream(path) << "this is not an ELF file";
  std::string e = error_of(host().load(request(path, sdk::PluginKind::kAnalytics, nullptr)));
  EXPECT_NE(e.find("cannot load plugin library " + path), std::string::npos) << e;
}

TEST(PluginHost, LibraryWithoutTheEntryPoint) {
  std::string e = error_of(host().load(request("noentry", sdk::PluginKind::kAnalytics, nullptr)));
  EXPECT_NE(e.find("doppel-analytics-noentry.so is not a Doppel plugin"), std::string::npos) << e;
  EXPECT_NE(e.find("doppel_plugin_v1"), std::string::npos) << e;
}

TEST(PluginHost, AnalyticsPluginOfAbi10IsRefused) {
  std::string e = error_of(host().load(request("oldabi", sdk::PluginKind::kAnalytics, nullptr)));
  EXPECT_NE(e.find("is an analytics plugin built for Doppel SDK ABI 1.0; analytics plugins need "
                   "ABI 1.1 or later"),
            std::string::npos)
      << e;
}

TEST(PluginHost, AbiMismatchGivesBothVersions) {
  std::string e = error_of(host().load(request("wrongabi", sdk::PluginKind::kAnalytics, nullptr)));
  const std::string host_abi =
      std::to_string(DOPPEL_SDK_ABI_MAJOR) + "." + std::to_string(DOPPEL_SDK_ABI_MINOR);
  EXPECT_NE(e.find("built for Doppel SDK ABI 2.0, this host speaks " + host_abi), std::string::npos)
      << e;
}

TEST(PluginHost, ToolchainMismatchIsRefused) {
  std::string e =
      error_of(host().load(request("wrongtoolchain", sdk::PluginKind::kAnalytics, nullptr)));
  EXPECT_NE(e.find("libc++17000"), std::string::npos) << e;
}

TEST(PluginHost, WrongKindIsRefused) {
  // The file exists under the analytics name; ask for it by path as a storage plugin.
  std::string e =
      error_of(host().load(request(std::string(TEST_PLUGIN_DIR) + "/doppel-analytics-good.so",
                                   sdk::PluginKind::kStorage, nullptr)));
  EXPECT_NE(e.find("is an analytics plugin, but 'p' is declared as kind storage"),
            std::string::npos)
      << e;
}

TEST(PluginHost, ConfigTyposTypesAndRequiredKeysAreLocated) {
  auto config = TestConfigNode::map();
  config->set("treshold", ConfigNode::Type::kInteger, "5")
      .set("target", ConfigNode::Type::kInteger, "3");
  std::string e = error_of(host().load(request("good", sdk::PluginKind::kAnalytics, config.get())));
  EXPECT_NE(e.find("test.yaml config.treshold: unknown config key 'treshold' for plugin 'good'; "
                   "did you mean 'threshold'?"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("test.yaml config.target: config key 'target' must be a string, not an integer"),
            std::string::npos)
      << e;

  auto empty = TestConfigNode::map();
  std::string missing =
      error_of(host().load(request("good", sdk::PluginKind::kAnalytics, empty.get())));
  EXPECT_NE(missing.find("needs config key 'target'"), std::string::npos) << missing;
}

TEST(PluginHost, PluginOwnValidationRunsAtLoad) {
  auto config = TestConfigNode::map();
  config->set("target", ConfigNode::Type::kString, "ops")
      .set("threshold", ConfigNode::Type::kNumber, "-1");
  std::string e = error_of(host().load(request("good", sdk::PluginKind::kAnalytics, config.get())));
  EXPECT_EQ(e, "test.yaml config.threshold: threshold must be >= 0");
}

}  // namespace
}  // namespace doppel::host
