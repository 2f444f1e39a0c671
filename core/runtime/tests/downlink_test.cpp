// Twin -> device through a real protocol plugin (.so) loaded by the runtime: desired values are
// delivered, resent, acknowledged and timed out; commands are validated both ways. And device ->
// twin: content types (CBOR decoded, others refused) and an authenticated device's twin scope.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/runtime.hpp"
#include "doppel/sdk/ingest.hpp"
#include "doppel/testing/runtime_fixture.hpp"
#include "doppel/testing/test_services.hpp"

namespace doppel::runtime {
namespace {

using twin::SlotWrite;
using twin::SyncStatus;
using twin::Value;

struct Device : testing::RuntimeFixture {
  explicit Device(const std::string& plugin_config, sdk::Duration resend = 20 * sdk::kMillisecond,
                  sdk::Duration sync_timeout = 30 * sdk::kSecond) {
    bool started =
        start("apiVersion: doppel/v1\nname: downlink\nmodels: [\"" DOPPEL_SOURCE_DIR
              "/examples/models/factory\"]\n"
              "plugins:\n  - {name: devices, kind: protocol, library: loopback, config: " +
                  plugin_config +
                  "}\ntwins:\n  - {id: motor-1, model: \"dtmi:example:factory:Motor;1\"}\n"
                  "  - {id: line-1, model: \"dtmi:example:factory:ProductionLine;1\"}\n",
              [&](RuntimeOptions& o) {
                o.plugin_path = {TEST_PLUGIN_DIR};
                o.clock = nullptr;  // resends and timeouts run on the system clock here
                o.tick = 5 * sdk::kMillisecond;
                o.desired_resend = resend;
                o.sync_timeout = sync_timeout;
                o.command_timeout = 100 * sdk::kMillisecond;
              });
    EXPECT_TRUE(started) << error;
  }

  SyncStatus sync(const std::string& path) {
    SyncStatus s = SyncStatus::kNone;
    rt->graph().read("motor-1", [&](const twin::TwinView& t) { s = t.slot(path)->sync; });
    return s;
  }
  double metric(const std::string& name) { return RuntimeFixture::metric(name, -1); }
};

TEST(Downlink, DesiredValueIsDeliveredAndAcknowledgedByVersion) {
  Device d("{ack: true}");
  SlotWrite w{"targetSpeed", Value::number(1200), 0};
  auto v = d.rt->desire("motor-1", std::span(&w, 1));
  ASSERT_TRUE(v) << v.status().to_string();
  ASSERT_TRUE(testing::wait_until([&] { return d.sync("targetSpeed") == SyncStatus::kInSync; }));
  EXPECT_GE(d.metric("loopback_desired_total"), 1);
  EXPECT_EQ(d.metric("doppel_desired_acknowledged_total"), 1);
}

TEST(Downlink, UnacknowledgedValueIsResentUntilReportedBack) {
  Device d("{ack: false}");
  SlotWrite w{"targetSpeed", Value::number(900), 0};
  ASSERT_TRUE(d.rt->desire("motor-1", std::span(&w, 1)));
  ASSERT_TRUE(testing::wait_until([&] { return d.metric("loopback_desired_total") >= 3; }))
      << "resent every 20 ms while pending";
  EXPECT_EQ(d.sync("targetSpeed"), SyncStatus::kPending);
  // The device reports the value: in sync, and the resends stop.
  SlotWrite r{"targetSpeed", Value::number(900), 0};
  ASSERT_TRUE(d.rt->graph().report("motor-1", std::span(&r, 1)));
  EXPECT_EQ(d.sync("targetSpeed"), SyncStatus::kInSync);
  double sent = d.metric("loopback_desired_total");
  double after = sent;
  // Ten resend periods later nothing more was sent (the scheduler ticks every 5 ms).
  testing::wait_until([&] { return (after = d.metric("loopback_desired_total")) > sent; },
                      std::chrono::milliseconds(200));
  EXPECT_EQ(after, sent);
}

TEST(Downlink, NewerDesiredVersionReplacesTheOlder) {
  Device d("{ack: true}");
  SlotWrite a{"targetSpeed", Value::number(1), 0};
  SlotWrite b{"targetSpeed", Value::number(2), 0};
  ASSERT_TRUE(d.rt->desire("motor-1", std::span(&a, 1)));
  ASSERT_TRUE(d.rt->desire("motor-1", std::span(&b, 1)));
  ASSERT_TRUE(testing::wait_until([&] { return d.sync("targetSpeed") == SyncStatus::kInSync; }));
  double desired = 0;
  d.rt->graph().read("motor-1", [&](const twin::TwinView& t) {
    desired = t.slot("targetSpeed")->desired.as_double();
  });
  EXPECT_EQ(desired, 2);
}

TEST(Downlink, PendingValueTimesOutAndResendsStop) {
  Device d("{ack: false}", 10 * sdk::kMillisecond, 60 * sdk::kMillisecond);
  SlotWrite w{"targetSpeed", Value::number(5), 0};
  ASSERT_TRUE(d.rt->desire("motor-1", std::span(&w, 1)));
  ASSERT_TRUE(testing::wait_until([&] { return d.sync("targetSpeed") == SyncStatus::kTimedOut; }));
  double sent = d.metric("loopback_desired_total");
  double after = sent;
  testing::wait_until([&] { return (after = d.metric("loopback_desired_total")) > sent; },
                      std::chrono::milliseconds(150));
  EXPECT_EQ(after, sent);
}

TEST(Downlink, InvalidDesiredValueIsRefusedAndNothingIsSent) {
  Device d("{ack: true}");
  SlotWrite w{"targetSpeed", Value::string("fast"), 0};
  auto v = d.rt->desire("motor-1", std::span(&w, 1));
  ASSERT_FALSE(v);
  EXPECT_NE(v.status().to_string().find("targetSpeed"), std::string::npos)
      << v.status().to_string();
  SlotWrite ro{"ratedPower", Value::number(3), 0};
  EXPECT_FALSE(d.rt->desire("motor-1", std::span(&ro, 1))) << "not writable";
  EXPECT_EQ(d.metric("loopback_desired_total"), 0) << "nothing was sent";
}

TEST(Downlink, CommandRoundTripValidatesRequestAndResponse) {
  Device d("{respond: 'true'}");
  auto ok = d.rt->invoke_and_wait({"motor-1", "", "reduceLoad", "20", 0});
  ASSERT_TRUE(ok.status) << ok.status.to_string();
  EXPECT_EQ(ok.response, "true");
  EXPECT_FALSE(ok.correlation.empty());

  auto bad_request = d.rt->invoke_and_wait({"motor-1", "", "reduceLoad", "\"lots\"", 0});
  EXPECT_EQ(bad_request.status.code(), sdk::StatusCode::kInvalidArgument);
  auto missing = d.rt->invoke_and_wait({"motor-1", "", "reduceLoad", "", 0});
  EXPECT_EQ(missing.status.code(), sdk::StatusCode::kInvalidArgument);
  auto unknown = d.rt->invoke_and_wait({"motor-1", "", "explode", "", 0});
  EXPECT_EQ(unknown.status.code(), sdk::StatusCode::kNotFound);
  auto no_twin = d.rt->invoke_and_wait({"motor-9", "", "reduceLoad", "1", 0});
  EXPECT_EQ(no_twin.status.code(), sdk::StatusCode::kNotFound);
  auto no_payload = d.rt->invoke_and_wait({"line-1", "", "stop", "{}", 0});
  EXPECT_EQ(no_payload.status.code(), sdk::StatusCode::kInvalidArgument) << "stop takes none";
  EXPECT_EQ(d.metric("loopback_commands_total"), 1) << "refused requests are never sent";
}

TEST(Downlink, ResponseThatDoesNotFitTheModelIsAnError) {
  Device d("{respond: '\"yes\"'}");
  auto r = d.rt->invoke_and_wait({"motor-1", "", "reduceLoad", "20", 0});
  EXPECT_EQ(r.status.code(), sdk::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status.message().find("response"), std::string::npos) << r.status.to_string();
  EXPECT_EQ(r.response, "\"yes\"");
}

TEST(Downlink, SilentDeviceTimesOut) {
  Device d("{silent: true}");
  auto r = d.rt->invoke_and_wait({"motor-1", "", "reduceLoad", "20", 30 * sdk::kMillisecond});
  EXPECT_EQ(r.status.code(), sdk::StatusCode::kDeadlineExceeded);
}

TEST(Downlink, NoRouteIsReported) {
  Device d("{routes: false}");
  auto r = d.rt->invoke_and_wait({"motor-1", "", "reduceLoad", "20", 0});
  EXPECT_EQ(r.status.code(), sdk::StatusCode::kNotFound);
  SlotWrite w{"targetSpeed", Value::number(7), 0};
  ASSERT_TRUE(d.rt->desire("motor-1", std::span(&w, 1)));
  ASSERT_TRUE(
      testing::wait_until([&] { return d.metric("doppel_desired_send_failed_total") >= 1; }));
  EXPECT_EQ(d.sync("targetSpeed"), SyncStatus::kPending) << "still pending until it times out";
}

// What a protocol plugin hands the core: CBOR is decoded and mapped like JSON; an unknown
// content type, undecodable CBOR and a device writing a twin outside its scope are rejected and
// dead-lettered with their reason; a device inside its scope is accepted.
TEST(Ingest, ContentTypesAndDeviceScope) {
  testing::RuntimeFixture f;
  // {"temperature": 28.0} as CBOR (half float)
  const std::string inject = R"([
      {topic: dev/motor-1/telemetry, payload_hex: a16b74656d7065726174757265f94f00,
       content_type: application/cbor},
      {topic: dev/motor-1/telemetry, payload: "{\"vibration\": 1.5}", content_type: text/plain},
      {topic: dev/motor-1/telemetry, payload_hex: a1, content_type: application/cbor},
      {topic: dev/motor-2/telemetry, payload: "{\"temperature\": 30}", device: dev-a,
       device_twins: "motor-1, line-*"},
      {topic: dev/motor-1/telemetry, payload: "{\"vibration\": 2.5}", device: dev-a,
       device_twins: "line-*, motor-1"},
      {topic: dev/motor-2/telemetry, payload: "{\"current\": 3}", device: dev-b,
       device_twins: "motor-*"}])";
  ASSERT_TRUE(f.start(
      "apiVersion: doppel/v1\nname: ingest\nmodels: [\"" DOPPEL_SOURCE_DIR
      "/examples/models/factory\"]\n"
      "plugins:\n  - name: devices\n    kind: protocol\n    library: loopback\n    config:\n"
      "      ingest: [{topic: \"dev/{twin}/telemetry\"}]\n      inject: " +
          inject +
          "\ntwins:\n  - {id: motor-1, model: \"dtmi:example:factory:Motor;1\"}\n"
          "  - {id: motor-2, model: \"dtmi:example:factory:Motor;1\"}\n",
      [](RuntimeOptions& o) { o.plugin_path = {TEST_PLUGIN_DIR}; }))
      << f.error;
  auto outcome = [&](const char* o) {
    return f.metric(std::string("loopback_ingested_total{outcome=\"") + o + "\"}");
  };
  ASSERT_TRUE(testing::wait_until([&] {
    return outcome("ok") + outcome("unsupported-content-type") + outcome("not-cbor") +
               outcome("not-owner") ==
           6;
  })) << f.rt->metrics().render_prometheus();
  EXPECT_EQ(outcome("ok"), 3);
  EXPECT_EQ(outcome("unsupported-content-type"), 1);
  EXPECT_EQ(outcome("not-cbor"), 1);
  EXPECT_EQ(outcome("not-owner"), 1);
  EXPECT_EQ(f.metric("doppel_dead_letters_total{reason=\"not-owner\"}"), 1);
  EXPECT_EQ(f.metric("doppel_dead_letters_total{reason=\"not-cbor\"}"), 1);
  EXPECT_EQ(f.metric("doppel_dead_letters_total{reason=\"unsupported-content-type\"}"), 1);
  f.rt->graph().read("motor-1", [&](const twin::TwinView& t) {
    EXPECT_EQ(t.slot("temperature")->reported.as_double(), 28.0) << "from CBOR";
    EXPECT_EQ(t.slot("vibration")->reported.as_double(), 2.5) << "dev-a may write motor-1";
  });
  f.rt->graph().read("motor-2", [&](const twin::TwinView& t) {
    EXPECT_TRUE(t.slot("temperature")->reported.is_null()) << "dev-a may not write motor-2";
    EXPECT_EQ(t.slot("current")->reported.as_double(), 3.0) << "dev-b may write motor-*";
  });
}

TEST(PluginData, EachInstanceGetsAFolderOfItsOwnUnderDataDir) {
  testing::RuntimeFixture f;
  const std::string head = "apiVersion: doppel/v1\nname: data\nmodels: [\"" DOPPEL_SOURCE_DIR
                           "/examples/models/factory\"]\n";
  const std::string plugins =
      "plugins:\n  - {name: devices, kind: protocol, library: loopback, config: {}}\n";
  auto with_path = [](RuntimeOptions& o) { o.plugin_path = {TEST_PLUGIN_DIR}; };
  ASSERT_TRUE(f.start(head + "data_dir: state\n" + plugins, with_path)) << f.error;
  std::ifstream started(f.dir.path() / "state" / "devices" / "started");
  std::string name;
  started >> name;
  EXPECT_EQ(name, "devices");
  EXPECT_TRUE(std::filesystem::is_directory(f.dir.path() / "state" / "store"))
      << "the default storage instance gets one too";
  f.rt->stop();

  // A data_dir that cannot be made stops the start, naming the folder and the plugin.
  testing::RuntimeFixture g;
  std::ofstream(g.dir.path() / "taken") << "a file, not a folder";
  ASSERT_FALSE(g.start(head + "data_dir: taken\n" + plugins, with_path));
  EXPECT_NE(g.error.find("data_dir: cannot create"), std::string::npos) << g.error;
  EXPECT_NE(g.error.find("for plugin 'devices'"), std::string::npos) << g.error;
}

TEST(Ingest, TwinScopePatterns) {
  EXPECT_TRUE(sdk::twin_in_scope("motor-3", "motor-3"));
  EXPECT_FALSE(sdk::twin_in_scope("motor-3", "motor-30"));
  EXPECT_TRUE(sdk::twin_in_scope("motor-3*", "motor-30"));
  EXPECT_TRUE(sdk::twin_in_scope(" a , line-7/* ", "line-7/m1"));
  EXPECT_FALSE(sdk::twin_in_scope("line-7/*", "line-8/m1"));
  EXPECT_TRUE(sdk::twin_in_scope("*", "anything"));
  EXPECT_FALSE(sdk::twin_in_scope("", "motor-1"));
  EXPECT_FALSE(sdk::twin_in_scope(",,", "motor-1"));
}

}  // namespace
}  // namespace doppel::runtime
