// The analytics host with real plugins (.so): changes are delivered in order on the plugin's
// thread, ticks follow the runtime clock, plugins act through TwinAccess (desired values and
// commands reach the loopback device), alerts are kept, acknowledged, streamed, and restored
// after a restart on RocksDB.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/runtime.hpp"
#include "doppel/testing/runtime_fixture.hpp"
#include "doppel/testing/test_services.hpp"

namespace doppel::runtime {
namespace {

using twin::SlotWrite;
using twin::Value;

struct Twins : testing::RuntimeFixture {
  void start(const std::string& storage, bool act, const std::string& telemetry = "temperature",
             bool expect_ok = true) {
    const std::string yaml =
        "apiVersion: doppel/v1\nname: analytics\nmodels: [\"" DOPPEL_SOURCE_DIR
        "/examples/models/factory\"]\nplugins:\n" +
        storage +
        "  - {name: devices, kind: protocol, library: loopback, config: {respond: 'true'}}\n"
        "  - {name: hot, kind: analytics, library: threshold, config: {telemetry: " +
        telemetry + ", above: 80, act: " + (act ? "true" : "false") +
        "}}\ntwins:\n  - {id: \"motor-{i}\", count: 3, model: \"dtmi:example:factory:Motor;1\"}\n";
    const bool started =
        RuntimeFixture::start(yaml, [](RuntimeOptions& o) { o.plugin_path = {TEST_PLUGIN_DIR}; });
    if (!expect_ok) {
      ASSERT_FALSE(started);
      return;
    }
    ASSERT_TRUE(started) << error;
  }
  void temperature(const std::string& twin, double t) {
    sdk::Status s = report(twin, "temperature", t, 0);
    ASSERT_TRUE(s) << s.to_string();
  }
  double metric(const std::string& name) { return RuntimeFixture::metric(name, -1); }
};

TEST(AnalyticsHost, PluginsCheckTheirConfigAgainstTheModels) {
  Twins t;
  t.start("", false, "vibrations", false);
  EXPECT_NE(t.error.find("'vibrations' is not a numeric telemetry"), std::string::npos) << t.error;
  EXPECT_NE(t.error.find("deploy.yaml:6:"), std::string::npos) << t.error;
}

TEST(AnalyticsHost, DeliversChangesInOrderAndTicks) {
  Twins t;
  t.start("", false);
  for (int i = 0; i < 500; ++i)
    t.temperature("motor-" + std::to_string(1 + i % 3), 20 + i % 10);
  t.rt->tick_now();
  t.rt->tick_now();
  t.rt->drain_analytics();
  EXPECT_EQ(t.metric("threshold_changes_total"), 500);
  EXPECT_EQ(t.metric("threshold_out_of_order_total"), 0);
  EXPECT_EQ(t.metric("threshold_ticks_total"), 2);
}

TEST(AnalyticsHost, AlertIsRaisedOnceClearedOnceAndStreamed) {
  Twins t;
  t.start("", false);
  std::vector<std::string> seen;
  std::mutex m;
  int id = t.rt->subscribe_events([&](const EventRecord& e) {
    std::lock_guard l(m);
    seen.push_back(e.type + " " + e.twin);
  });
  t.temperature("motor-1", 85);
  t.temperature("motor-1", 90);  // still hot: no second alert
  t.rt->drain_analytics();
  auto active = t.rt->active_alerts();
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].twin, "motor-1");
  EXPECT_EQ(active[0].source, "hot");
  EXPECT_EQ(active[0].severity, "critical");
  EXPECT_NE(active[0].to_json().find("\"value\":85"), std::string::npos) << active[0].to_json();
  EXPECT_TRUE(t.rt->acknowledge_alert("motor-1", "hot"));
  EXPECT_FALSE(t.rt->acknowledge_alert("motor-2", "hot"));
  EXPECT_TRUE(t.rt->active_alerts()[0].acknowledged);
  t.temperature("motor-1", 70);
  t.rt->drain_analytics();
  EXPECT_TRUE(t.rt->active_alerts().empty());
  t.rt->unsubscribe_events(id);
  std::lock_guard l(m);
  EXPECT_EQ(seen, (std::vector<std::string>{"alert.raised motor-1", "alert.cleared motor-1"}));
  auto recent = t.rt->recent_events(10);
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent[0].type, "alert.cleared") << "newest first";
}

TEST(AnalyticsHost, ActionsReachTheDeviceThroughTheProtocolPlugin) {
  Twins t;
  t.start("", true);
  t.temperature("motor-2", 99);
  t.rt->drain_analytics();
  ASSERT_TRUE(testing::wait_until([&] { return t.metric("threshold_command_ok_total") == 1; }));
  ASSERT_TRUE(testing::wait_until([&] { return t.metric("loopback_desired_total") >= 1; }));
  double desired = -1;
  t.rt->graph().read("motor-2", [&](const twin::TwinView& v) {
    desired = v.slot("targetSpeed")->desired.as_double();
  });
  EXPECT_EQ(desired, 0);
}

TEST(AnalyticsHost, ActiveAlertsAndPluginStateSurviveARestart) {
  testing::TempDir db;
  const std::string storage = "  - {name: store, kind: storage, library: rocksdb, config: {path: " +
                              (db.path() / "db").string() + "}}\n";
  {
    Twins t;
    t.start(storage, false);
    t.temperature("motor-3", 81);
    t.rt->drain_analytics();
    ASSERT_EQ(t.rt->active_alerts().size(), 1u);
    t.rt->stop();
  }
  Twins t;
  t.start(storage, false);
  auto active = t.rt->active_alerts();
  ASSERT_EQ(active.size(), 1u) << "restored from storage";
  EXPECT_EQ(active[0].twin, "motor-3");
  // The plugin restored its own state too: still hot, so no second alert.
  t.temperature("motor-3", 95);
  t.rt->drain_analytics();
  EXPECT_EQ(t.metric("doppel_events_total"), -1) << "nothing published after the restart";
  t.temperature("motor-3", 60);
  t.rt->drain_analytics();
  EXPECT_TRUE(t.rt->active_alerts().empty());
}

}  // namespace
}  // namespace doppel::runtime
