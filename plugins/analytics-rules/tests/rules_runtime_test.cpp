// The rules plugin as deployed: the real .so loaded by a Runtime on a FakeClock, fed with
// explicit event times through the twin graph. No sleeps: drain_analytics() waits until the
// plugin handled everything reported before the call, tick_now() runs its timers.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/runtime.hpp"
#include "doppel/testing/runtime_fixture.hpp"
#include "doppel/testing/test_services.hpp"

namespace doppel::runtime {
namespace {

using twin::SlotWrite;
using twin::Value;

constexpr sdk::Timestamp kT0 = 1'700'000'000'000'000'000;
constexpr sdk::Duration kS = sdk::kSecond;
constexpr sdk::Duration kMin = sdk::kMinute;

const char* const kOverheating = R"yaml(
  - name: overheating
    on: "dtmi:example:factory:Motor;1"
    when: "temperature > 80 degC"
    for: 5m
    clear: "temperature < 75 degC"
    severity: warning
    then: [{alert: {severity: warning, message: "{twin}: above 80 °C for 5 min ({temperature})"
}
}]
)yaml";

struct Harness : testing::RuntimeFixture {
  std::mutex mutex;
  std::vector<EventRecord> events;
  int subscription = 0;

  Harness() : RuntimeFixture(kT0) {}

  // `rules`: the YAML of the top-level rules list (entries indented by two spaces).
  void start(const std::string& rules, const std::string& storage = "",
             const std::string& rules_plugin_config = "{}", bool expect_ok = true) {
    std::ostringstream yaml;
    yaml << "apiVersion: doppel/v1\nname: rules-test\nmodels: [\"" DOPPEL_SOURCE_DIR
            "/examples/models/factory\"]\nplugins:\n"
         << storage
         << "  - {name: devices, kind: protocol, library: loopback, config: {respond: 'true'}}\n"
         << "  - {name: rules, kind: analytics, library: rules, config: " << rules_plugin_config
         << "}\n"
         << "twins:\n"
            "  - {id: line-1, model: \"dtmi:example:factory:ProductionLine;1\"}\n"
            "  - {id: \"motor-{i}\", count: 3, model: \"dtmi:example:factory:Motor;1\",\n"
            "     properties: {state: running}}\n"
            "relationships:\n"
            "  - {source: line-1, name: contains, target: \"motor-{i}\", count: 3}\n"
            "rules:"
         << rules;
    const bool started = RuntimeFixture::start(
        yaml.str(),
        [](RuntimeOptions& o) {
          o.plugin_path = {DOPPEL_PLUGIN_DIR, DOPPEL_TEST_PLUGIN_DIR};
        },
        [this](Runtime& r) {
          subscription = r.subscribe_events([this](const EventRecord& e) {
            std::lock_guard l(mutex);
            events.push_back(e);
          });
        });
    if (!expect_ok) {
      ASSERT_FALSE(started);
      return;
    }
    ASSERT_TRUE(started) << error;
  }

  void report(const std::string& twin, std::string_view path, Value v, sdk::Duration at) {
    SlotWrite w{path, std::move(v), kT0 + at};
    auto r = rt->graph().report(twin, std::span(&w, 1));
    ASSERT_TRUE(r) << r.status().to_string();
  }
  void temperature(const std::string& twin, double t, sdk::Duration at) {
    report(twin, "temperature", Value::number(t), at);
  }
  // "raised motor-1 overheating @300s" lines of every alert event so far.
  std::vector<std::string> alerts() {
    rt->drain_analytics();
    std::lock_guard l(mutex);
    std::vector<std::string> out;
    for (const EventRecord& e : events)
      if (e.type.starts_with("alert."))
        out.push_back(e.type.substr(6) + " " + e.twin + " " + e.source + " @" +
                      std::to_string((e.time - kT0) / sdk::kMillisecond) + "ms");
    return out;
  }
  ~Harness() {
    if (rt) rt->unsubscribe_events(subscription);
  }
};

using Alerts = std::vector<std::string>;

TEST(RulesPlugin, FiresExactlyAtFiveMinutesOfContinuousExcess) {
  Harness d;
  d.start(kOverheating);
  // motor-1: hot from 0 s, a sample every 30 s, the last one before 5 min at 4:59.
  for (int s = 0; s < 300; s += 30)
    d.temperature("motor-1", 85, s * kS);
  d.temperature("motor-1", 86, 299 * kS);
  EXPECT_EQ(d.alerts(), Alerts{}) << "not at 4:59";
  d.temperature("motor-1", 86, 300 * kS);
  EXPECT_EQ(d.alerts(), (Alerts{"raised motor-1 overheating @300000ms"}));
  d.temperature("motor-1", 90, 330 * kS);
  EXPECT_EQ(d.alerts().size(), 1u) << "raised once";
  auto active = d.rt->active_alerts();
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].severity, "warning");
  EXPECT_EQ(active[0].message, "motor-1: above 80 °C for 5 min (86)");
  EXPECT_NE(active[0].data.find("\"temperature\":86"), std::string::npos) << active[0].data;

  // motor-2: an excursion interrupted at 3:20 starts again at 3:30 and fires 5 min later.
  for (int s = 0; s <= 180; s += 30)
    d.temperature("motor-2", 85, s * kS);
  d.temperature("motor-2", 79, 200 * kS);
  for (int s = 210; s < 510; s += 30)
    d.temperature("motor-2", 85, s * kS);
  d.temperature("motor-2", 85, 509 * kS);
  EXPECT_EQ(d.alerts().size(), 1u) << "not for the interrupted excursion";
  d.temperature("motor-2", 85, 510 * kS);
  EXPECT_EQ(d.alerts().back(), "raised motor-2 overheating @510000ms");

  // motor-3: 4:59 of excess, then it cools: never fires.
  for (int s = 0; s < 300; s += 13)
    d.temperature("motor-3", 95, s * kS);
  d.temperature("motor-3", 95, 299 * kS);
  d.temperature("motor-3", 70, 300 * kS);
  d.temperature("motor-3", 95, 301 * kS);
  EXPECT_EQ(d.alerts().size(), 2u);
}

TEST(RulesPlugin, TickFiresWhenTheClockPassesTheDurationWithoutNewData) {
  Harness d;
  d.start(kOverheating);
  d.temperature("motor-1", 85, 0);
  d.clock.set(kT0 + 299 * kS);
  d.rt->tick_now();
  EXPECT_EQ(d.alerts(), Alerts{});
  d.clock.set(kT0 + 301 * kS);
  d.rt->tick_now();
  EXPECT_EQ(d.alerts(), (Alerts{"raised motor-1 overheating @300000ms"}))
      << "at the event time the duration was reached";
}

TEST(RulesPlugin, HysteresisClearsOnceAtTheClearThreshold) {
  Harness d;
  d.start(kOverheating);
  d.temperature("motor-1", 85, 0);
  d.temperature("motor-1", 85, 300 * kS);
  d.temperature("motor-1", 78, 310 * kS);  // below 80 but not below 75: still active
  d.temperature("motor-1", 76, 320 * kS);
  EXPECT_EQ(d.alerts(), (Alerts{"raised motor-1 overheating @300000ms"}));
  d.temperature("motor-1", 74, 330 * kS);
  d.temperature("motor-1", 73, 340 * kS);
  d.temperature("motor-1", 78, 350 * kS);  // between the thresholds while clear: nothing
  EXPECT_EQ(d.alerts(), (Alerts{"raised motor-1 overheating @300000ms",
                                "cleared motor-1 overheating @330000ms"}));
  EXPECT_TRUE(d.rt->active_alerts().empty());
  d.temperature("motor-1", 81, 360 * kS);
  d.temperature("motor-1", 81, 660 * kS);
  EXPECT_EQ(d.alerts().back(), "raised motor-1 overheating @660000ms") << "a new excursion";
}

TEST(RulesPlugin, WindowFunctions) {
  Harness d;
  d.start(R"yaml(
  - {name: avg-hot, on: "dtmi:example:factory:Motor;1", when: "avg(temperature, 10m) > 80"}
  - {name: peak, on: "dtmi:example:factory:Motor;1", when: "max(temperature, 2m) >= 100"}
  - {name: floor, on: "dtmi:example:factory:Motor;1", when: "min(temperature, 3m) > 85"}
  - {name: chatty, on: "dtmi:example:factory:Motor;1", when: "count(temperature, 1m) >= 4"}
  - {name: rising, on: "dtmi:example:factory:Motor;1", when: "rate(temperature, 5m) > 0.1"}
)yaml");
  auto seen = [&](const std::string& a) {
    Alerts all = d.alerts();
    return std::find(all.begin(), all.end(), a) != all.end();
  };
  // Windows are (now - span, now] in event time.
  d.temperature("motor-1", 70, 0);
  d.temperature("motor-1", 70, 4 * kMin);
  EXPECT_EQ(d.alerts(), Alerts{});
  d.temperature("motor-1", 90, 5 * kMin);  // rate over (0, 5m]: 20 degC in 60 s
  EXPECT_EQ(d.alerts(), (Alerts{"raised motor-1 rising @300000ms"}));
  d.temperature("motor-1", 90, 6 * kMin);  // avg of 70,70,90,90 = 80: not above
  EXPECT_EQ(d.alerts().size(), 1u);
  d.temperature("motor-1", 90, 7 * kMin);  // avg 82; min over (4m, 7m] = 90
  EXPECT_EQ(d.alerts(),
            (Alerts{"raised motor-1 rising @300000ms", "raised motor-1 avg-hot @420000ms",
                    "raised motor-1 floor @420000ms"}));
  d.temperature("motor-1", 100, 8 * kMin);
  EXPECT_EQ(d.alerts().back(), "raised motor-1 peak @480000ms");
  d.temperature("motor-1", 90, 10 * kMin + 1);  // 100 left the 2 min window; rate is 0
  EXPECT_TRUE(seen("cleared motor-1 peak @600000ms"));
  EXPECT_TRUE(seen("cleared motor-1 rising @600000ms"));
  EXPECT_FALSE(seen("cleared motor-1 avg-hot @600000ms"));
  // chatty: four samples within a minute.
  for (int i = 1; i <= 3; ++i)
    d.temperature("motor-3", 20, 10 * kMin + i * 10 * kS);
  EXPECT_FALSE(seen("raised motor-3 chatty @630000ms"));
  d.temperature("motor-3", 20, 10 * kMin + 40 * kS);
  EXPECT_EQ(d.alerts().back(), "raised motor-3 chatty @640000ms");
}

TEST(RulesPlugin, CrossTwinConditionsOverContains) {
  Harness d;
  d.start(R"yaml(
  - {name: any-hot, on: "dtmi:example:factory:ProductionLine;1",
     when: "any(contains, temperature > 90)"
}
  - {name: two-faults, on: "dtmi:example:factory:ProductionLine;1",
     when: "count(contains, state == 'fault') >= 2", severity: critical}
  - {name: all-cool, on: "dtmi:example:factory:ProductionLine;1",
     when: "all(contains, temperature < 30)"}
)yaml");
  d.temperature("motor-1", 95, 1 * kS);
  EXPECT_EQ(d.alerts(), (Alerts{"raised line-1 any-hot @1000ms"}));
  d.report("motor-2", "state", Value::string("fault"), 2 * kS);
  EXPECT_EQ(d.alerts().size(), 1u) << "one fault is not two";
  d.report("motor-3", "state", Value::string("fault"), 3 * kS);
  EXPECT_EQ(d.alerts().back(), "raised line-1 two-faults @3000ms");
  d.temperature("motor-1", 85, 4 * kS);
  EXPECT_EQ(d.alerts().back(), "cleared line-1 any-hot @4000ms");
  d.temperature("motor-1", 20, 5 * kS);
  d.temperature("motor-2", 20, 6 * kS);
  EXPECT_EQ(d.alerts().size(), 3u) << "motor-3 has no temperature yet";
  d.temperature("motor-3", 20, 7 * kS);
  EXPECT_EQ(d.alerts().back(), "raised line-1 all-cool @7000ms");
  auto active = d.rt->active_alerts();
  ASSERT_EQ(active.size(), 2u);
}

TEST(RulesPlugin, StalenessRule) {
  Harness d;
  d.start(R"yaml(
  - {name: silent, on: "dtmi:example:factory:Motor;1", when: "stale for 10m", severity: info}
)yaml");
  d.clock.set(kT0);
  for (const char* m : {"motor-1", "motor-2", "motor-3"})
    d.temperature(m, 20, 0);
  d.clock.set(kT0 + 9 * kMin);
  d.temperature("motor-2", 20, 9 * kMin);
  d.rt->tick_now();
  EXPECT_EQ(d.alerts(), Alerts{});
  d.clock.set(kT0 + 10 * kMin);
  d.rt->tick_now();
  Alerts raised = d.alerts();
  std::sort(raised.begin(), raised.end());
  EXPECT_EQ(raised, (Alerts{"raised motor-1 silent @600000ms", "raised motor-3 silent @600000ms"}));
  d.temperature("motor-1", 21, 10 * kMin + kS);
  EXPECT_EQ(d.alerts().back(), "cleared motor-1 silent @601000ms");
}

TEST(RulesPlugin, FahrenheitConstantAgainstCelsiusTelemetry) {
  Harness d;
  d.start(R"yaml(
  - {name: hot-f, on: "dtmi:example:factory:Motor;1", when: "temperature > 176 degF"}
)yaml");
  d.temperature("motor-1", 79.9, 0);
  d.temperature("motor-2", 80.1, 0);  // 176.18 degF
  EXPECT_EQ(d.alerts(), (Alerts{"raised motor-2 hot-f @0ms"}));
}

TEST(RulesPlugin, ConfigErrorsAreLocatedWithHints) {
  Harness d;
  d.start(R"yaml(
  - name: typo
    on: "dtmi:example:factory:Motor;1"
    when: "temprature > 80"
  - name: units
    on: "dtmi:example:factory:Motor;1"
    when: "temperature > 80 kW"
  - name: actions
    on: "dtmi:example:factory:Motor;1"
    when: "temperature > 80"
    for: 5 minutes
    then: [{command: {name: reduceLod}}, {command: {name: reduceLoad, payload: {percent: high}}},
           {desired: {serialNumber: "x"}}]
  - name: graph
    on: "dtmi:example:factory:ProductionLine;1"
    when: "any(feeds, temperature > 80)"
    colour: red
  - name: nomodel
    on: "dtmi:example:factory:Pump;1"
    when: "x > 1"
)yaml",
          "", "{}", false);
  const std::string& e = d.error;
  EXPECT_NE(e.find("deploy.yaml:16:11"), std::string::npos) << e;
  EXPECT_NE(e.find("'temprature' is not a property or telemetry of the model (hint: known: "
                   "temperature,"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("deploy.yaml:19:"), std::string::npos) << e;
  EXPECT_NE(e.find("cannot convert kilowatt to degreeCelsius"), std::string::npos) << e;
  EXPECT_NE(e.find("deploy.yaml:23:10"), std::string::npos) << e;
  EXPECT_NE(e.find("'for' must be a duration"), std::string::npos) << e;
  EXPECT_NE(e.find("'reduceLod' is not a command of dtmi:example:factory:Motor;1 (hint: "
                   "commands: reduceLoad"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("the payload of 'reduceLoad' must be a number"), std::string::npos) << e;
  EXPECT_NE(e.find("'serialNumber' is not a writable property of dtmi:example:factory:Motor;1 "
                   "(hint: writable: targetSpeed)"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("'feeds' is not a relationship of the model (hint: known: contains)"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("unknown rule key 'colour'"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown model 'dtmi:example:factory:Pump;1'"), std::string::npos) << e;
}

TEST(RulesPlugin, RulesInThePluginsOwnConfigToo) {
  Harness d;
  d.start(" []\n", "",
          "{lateness: 10s, rules: [{name: own, \"on\": \"dtmi:example:factory:Motor;1\", "
          "when: \"current > 15 A\"}]}");
  d.report("motor-1", "current", Value::number(16), kS);
  EXPECT_EQ(d.alerts(), (Alerts{"raised motor-1 own @1000ms"}));
}

TEST(RulesPlugin, BadLatenessIsLocated) {
  Harness d;
  d.start(" []\n", "", "{lateness: soon}", false);
  EXPECT_NE(d.error.find("deploy.yaml:6:"), std::string::npos) << d.error;
  EXPECT_NE(d.error.find("'lateness' must be a duration"), std::string::npos) << d.error;
}

// The checked-in bad config: one mistake per rule, every one reported at once with its place.
TEST(RulesPlugin, TestdataBadRules) {
  auto load = load_deployment(DOPPEL_RULES_TESTDATA "/bad_rules.yaml");
  ASSERT_TRUE(load.ok());
  RuntimeOptions o;
  o.plugin_path = {DOPPEL_PLUGIN_DIR};
  o.start_plugins = false;
  o.log = std::make_unique<Log>("test", LogOptions{sdk::LogLevel::kError, LogFormat::kText});
  Runtime rt(std::move(*load.deployment), load.models, std::move(o));
  auto started = rt.start();
  ASSERT_FALSE(started);
  const std::string e = started.status().to_string();
  for (const char* expected : {
           "bad_rules.yaml:11:62 rules[0].when: in 'temprature > 80' at column 1: 'temprature' "
           "is not a property or telemetry of the model",
           "bad_rules.yaml:12:63 rules[1].when: in 'temperature > 80 rpm' at column 13: cannot "
           "convert revolutionPerMinute to degreeCelsius",
           "bad_rules.yaml:13:63 rules[2].when: in 'state > 2' at column 7: comparison needs "
           "numbers on both sides, not a string",
           "at column 13: a rule condition must be true or false, not a number",
           "'motors' is not a relationship of the model (hint: known: contains)",
           "'stop' is not a command of dtmi:example:factory:Motor;1 (hint: commands: reduceLoad)",
           "the payload of 'reduceLoad' must be a number",
           "bad_rules.yaml:18:12 rules[7].name: two rules are named 'typo'",
           "'for' must be a duration",
           "severity must be info, warning or critical",
       })
    EXPECT_NE(e.find(expected), std::string::npos) << expected << "\n--- in:\n" << e;
}

TEST(RulesPlugin, RestartResumesDurationsAndDoesNotRaiseTwice) {
  testing::TempDir db;
  const std::string storage = "  - {name: store, kind: storage, library: rocksdb, config: {path: " +
                              (db.path() / "db").string() + "}}\n";
  {
    Harness d;
    d.start(kOverheating, storage);
    for (int s = 0; s <= 180; s += 30)
      d.temperature("motor-1", 85, s * kS);  // 3 minutes of excess before the restart
    d.temperature("motor-2", 85, 0);
    d.temperature("motor-2", 85, 300 * kS);  // motor-2's alert is active at the restart
    EXPECT_EQ(d.alerts(), (Alerts{"raised motor-2 overheating @300000ms"}));
    d.rt->stop();
  }
  {
    Harness d;
    d.clock.set(kT0 + 200 * kS);
    d.start(kOverheating, storage);
    d.temperature("motor-1", 85, 210 * kS);
    d.temperature("motor-1", 85, 299 * kS);
    d.temperature("motor-2", 90, 310 * kS);  // still hot: not raised again
    EXPECT_EQ(d.alerts(), Alerts{});
    d.temperature("motor-1", 85, 300 * kS);  // 2 minutes after the restart, not 5
    EXPECT_EQ(d.alerts(), (Alerts{"raised motor-1 overheating @300000ms"}));
    EXPECT_EQ(d.rt->active_alerts().size(), 2u);
    d.temperature("motor-2", 70, 320 * kS);
    EXPECT_EQ(d.alerts().back(), "cleared motor-2 overheating @320000ms") << "cleared once";
    d.rt->stop();
  }
}

TEST(RulesPlugin, WindowsSurviveARestart) {
  testing::TempDir db;
  const std::string storage = "  - {name: store, kind: storage, library: rocksdb, config: {path: " +
                              (db.path() / "db").string() + "}}\n";
  const std::string rule = R"yaml(
  - {name: avg-hot, on: "dtmi:example:factory:Motor;1", when: "avg(temperature, 10m) > 80"}
)yaml";
  {
    Harness d;
    d.start(rule, storage);
    d.temperature("motor-1", 100, 0);
    d.temperature("motor-1", 100, kMin);
    d.temperature("motor-1", 10, 2 * kMin);  // avg 70
    EXPECT_EQ(d.alerts().back(), "cleared motor-1 avg-hot @120000ms");
    d.rt->stop();
  }
  Harness d;
  d.start(rule, storage);
  d.temperature("motor-1", 90, 3 * kMin);   // avg(100,100,10,90) = 75: the window was kept
  d.temperature("motor-1", 140, 4 * kMin);  // avg 88
  EXPECT_EQ(d.alerts(), (Alerts{"raised motor-1 avg-hot @240000ms"}));
}

// A recorded stream with out-of-order samples (within and beyond the lateness), replayed into
// two fresh deployments: the same alerts, at the same event times.
TEST(RulesPlugin, ReplayingARecordedStreamGivesTheSameAlerts) {
  struct Sample {
    const char* twin;
    int at_s;
    double value;
  };
  std::vector<Sample> stream;
  std::uint32_t seed = 7;
  for (int s = 0; s < 3600; s += 10) {
    for (const char* m : {"motor-1", "motor-2", "motor-3"}) {
      seed = seed * 1664525u + 1013904223u;
      double v = 70 + (seed >> 24) % 25;  // 70..94
      int at = s;
      if ((seed >> 8) % 10 == 0) at -= 25;  // late by 25 s: within the 30 s lateness
      if ((seed >> 8) % 17 == 0) at -= 60;  // late by 60 s: ignored
      stream.push_back({m, at, v});
    }
  }
  const std::string rules =
      std::string(kOverheating).replace(std::string(kOverheating).find("for: 5m"), 7, "for: 1m") +
      R"yaml(
  - {name: avg-hot, on: "dtmi:example:factory:Motor;1", when: "avg(temperature, 2m) > 83",
     clear: "avg(temperature, 2m) < 81"}
)yaml";
  std::vector<std::string> runs[2];
  double late[2];
  for (int run = 0; run < 2; ++run) {
    Harness d;
    d.start(rules, "", "{lateness: 30s}");
    for (const Sample& s : stream)
      d.temperature(s.twin, s.value, s.at_s * kS);
    runs[run] = d.alerts();
    late[run] = d.metric("doppel_rules_late_samples_total");
  }
  EXPECT_GT(runs[0].size(), 10u);
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_GT(late[0], 0);
  EXPECT_EQ(late[0], late[1]);
}

TEST(RulesPlugin, CommandAndDesiredActionsReachTheDeviceWithACooldown) {
  Harness d;
  d.start(R"yaml(
  - name: overheating
    on: "dtmi:example:factory:Motor;1"
    when: "temperature > 80 degC"
    cooldown: 10m
    then: [{alert: {severity: critical}},
           {command: {name: reduceLoad, payload: {percent: 20}}},
           {desired: {targetSpeed: 900}}]
)yaml");
  d.temperature("motor-1", 85, 0);
  d.rt->drain_analytics();
  ASSERT_TRUE(testing::wait_until([&] { return d.metric("loopback_commands_total") == 1; }));
  ASSERT_TRUE(testing::wait_until([&] { return d.metric("loopback_desired_total") >= 1; }));
  double desired = -1;
  d.rt->graph().read("motor-1", [&](const twin::TwinView& v) {
    desired = v.slot("targetSpeed")->desired.as_double();
  });
  EXPECT_EQ(desired, 900);
  // Cleared and raised again within the cooldown: the alert repeats, the actions do not.
  d.temperature("motor-1", 70, 60 * kS);
  d.temperature("motor-1", 85, 120 * kS);
  EXPECT_EQ(d.alerts().size(), 3u);
  EXPECT_EQ(d.metric("doppel_rules_actions_total"), 2);
  // After the cooldown they run again.
  d.temperature("motor-1", 70, 11 * kMin);
  d.temperature("motor-1", 85, 12 * kMin);
  d.rt->drain_analytics();
  EXPECT_EQ(d.metric("doppel_rules_actions_total"), 4);
  ASSERT_TRUE(testing::wait_until([&] { return d.metric("loopback_commands_total") == 2; }));
  EXPECT_EQ(d.metric("doppel_rules_action_failures_total"), 0);
}

TEST(RulesPlugin, SampleDeploymentValidates) {
  auto load = load_deployment(DOPPEL_RULES_SAMPLE);
  ASSERT_TRUE(load.ok());
  RuntimeOptions o;
  o.plugin_path = {DOPPEL_PLUGIN_DIR};
  o.start_plugins = false;  // what doppel validate does
  o.log = std::make_unique<Log>("test", LogOptions{sdk::LogLevel::kError, LogFormat::kText});
  Runtime rt(std::move(*load.deployment), load.models, std::move(o));
  auto started = rt.start();
  EXPECT_TRUE(started) << started.status().to_string();
}

}  // namespace
}  // namespace doppel::runtime
