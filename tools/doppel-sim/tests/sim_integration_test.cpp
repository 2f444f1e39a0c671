// doppel-sim against a real mosquitto, checked by independent clients (mosquitto_sub and
// mosquitto_pub). No sleeps: every wait is on a condition with a deadline.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "child_process.hpp"
#include "doppel/testing/mosquitto_broker.hpp"
#include "doppel/testing/test_services.hpp"

namespace doppel::sim {
namespace {

using namespace std::chrono_literals;
using doppel::testing::MosquittoBroker;
using doppel::testing::TempDir;
using doppel::testing::wait_until;
using testing::ChildProcess;
using json = nlohmann::json;

constexpr const char* kMotor = "dtmi:example:factory:Motor;1";

MosquittoBroker::Options broker_options() {
  MosquittoBroker::Options o;
  o.extra_config = {"log_type subscribe"};  // lets tests wait until a subscription is active
  return o;
}

class SimIntegration : public ::testing::Test {
 protected:
  MosquittoBroker broker{broker_options()};
  TempDir dir;

  std::string port() const { return std::to_string(broker.port()); }

  std::vector<std::string> sim_args(std::vector<std::string> extra) const {
    std::vector<std::string> args = {DOPPEL_SIM_BINARY,
                                     "--broker",
                                     broker.uri(),
                                     "--models",
                                     std::string(DOPPEL_SOURCE_DIR) + "/examples/models/factory",
                                     "--model",
                                     kMotor,
                                     "--id",
                                     "motor-{i}",
                                     "--seed",
                                     "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  // mosquitto_sub with a client id, started and waited for until the broker logged its
  // subscription.
  std::unique_ptr<ChildProcess> subscribe(const std::string& id, std::vector<std::string> args) {
    std::vector<std::string> full = {"mosquitto_sub", "-p", port(), "-i", id};
    full.insert(full.end(), args.begin(), args.end());
    auto p = std::make_unique<ChildProcess>(full, dir.path(), id);
    wait_subscribed(id);
    return p;
  }

  void wait_subscribed(const std::string& client_id, const std::string& filter = "") {
    const bool ok = wait_until(
        [&] {
          const auto log = broker.log();
          const auto at = log.find(": " + client_id + " ");
          return at != std::string::npos &&
                 (filter.empty() || log.find(filter, at) != std::string::npos);
        },
        10s);
    ASSERT_TRUE(ok) << client_id << " did not subscribe; broker log:\n" << broker.log();
  }

  static json last_json(const std::string& text) {
    // The report is the last JSON document on stdout.
    const auto at = text.rfind("\n{");
    return json::parse(at == std::string::npos ? text : text.substr(at + 1));
  }
};

TEST_F(SimIntegration, LoadModeEveryTelemetryArrivesWithItsShape) {
  auto sub = subscribe("sub-load", {"-q", "1", "-v", "-C", "500", "-t", "devices/+/telemetry"});
  ChildProcess sim(sim_args({"--count", "5", "--messages", "500", "--rate", "2000", "--qos", "1",
                             "--json", "-q"}),
                   dir.path(), "sim");
  ASSERT_EQ(sim.wait(30s), 0) << sim.err();
  ASSERT_EQ(sub->wait(10s), 0) << "mosquitto_sub got " << sub->out_lines().size();

  const auto report = last_json(sim.out());
  EXPECT_EQ(report["telemetry"], 500);
  EXPECT_EQ(report["acknowledged"], report["sent"]);
  EXPECT_EQ(report["failed"], 0);
  EXPECT_EQ(report["dropped"], 0);
  EXPECT_GT(report["rate"].get<double>(), 0);

  const auto lines = sub->out_lines();
  ASSERT_EQ(lines.size(), 500u);
  std::map<std::string, int> per_device;
  for (const auto& line : lines) {
    const auto space = line.find(' ');
    const auto topic = line.substr(0, space);
    ++per_device[topic];
    const auto doc = json::parse(line.substr(space + 1));
    ASSERT_TRUE(doc["temperature"].is_number()) << line;
    ASSERT_TRUE(doc["vibration"].is_number()) << line;
    ASSERT_TRUE(doc["current"].is_number()) << line;
    ASSERT_TRUE(doc["bearing"]["temperature"].is_number()) << line;
    ASSERT_TRUE(doc["ts"].is_number_integer()) << line;
  }
  ASSERT_EQ(per_device.size(), 5u);
  for (const auto& [topic, n] : per_device)
    EXPECT_EQ(n, 100) << topic;  // round robin
}

TEST_F(SimIntegration, ScheduledModeKeepsEachDevicesPeriod) {
  auto sub = subscribe("sub-rate", {"-q", "1", "-v", "-t", "devices/+/telemetry"});
  ChildProcess sim(sim_args({"--count", "2", "--interval", "100ms", "--duration", "2s", "--qos",
                             "1", "--json", "-q"}),
                   dir.path(), "sim");
  ASSERT_EQ(sim.wait(20s), 0) << sim.err();
  const auto report = last_json(sim.out());
  const int sent = report["telemetry"].get<int>();
  // 2 devices x 2 s / 100 ms; the first message of each device is staggered within a period.
  EXPECT_GE(sent, 38);
  EXPECT_LE(sent, 42);
  ASSERT_TRUE(wait_until([&] { return static_cast<int>(sub->out_lines().size()) >= sent; }, 10s));
  EXPECT_EQ(static_cast<int>(sub->out_lines().size()), sent);

  std::vector<std::int64_t> ts;
  for (const auto& line : sub->out_lines())
    if (line.rfind("devices/motor-1/", 0) == 0)
      ts.push_back(json::parse(line.substr(line.find(' ') + 1))["ts"].get<std::int64_t>());
  ASSERT_GE(ts.size(), 10u);
  std::vector<std::int64_t> gaps;
  for (std::size_t i = 1; i < ts.size(); ++i)
    gaps.push_back(ts[i] - ts[i - 1]);
  std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
  EXPECT_NEAR(gaps[gaps.size() / 2], 100, 15);
}

TEST_F(SimIntegration, TimeScaleCompressesADriftToFailure) {
  // 60 -> 90 at 60/h fails after 30 simulated minutes: half a second at 3600x.
  auto sub = subscribe("sub-drift", {"-q", "1", "-t", "devices/motor-1/telemetry"});
  ChildProcess sim(sim_args({"--interval", "1m", "--time-scale", "3600", "--duration", "1500ms",
                             "--gen", "temperature=drift:60,60,0,90", "-q", "--qos", "1"}),
                   dir.path(), "sim");
  ASSERT_EQ(sim.wait(20s), 0) << sim.err();
  ASSERT_TRUE(wait_until([&] { return sub->out_lines().size() >= 60; }, 10s))
      << sub->out_lines().size();
  const auto lines = sub->out_lines();
  const auto first = json::parse(lines.front());
  const auto last = json::parse(lines.back());
  EXPECT_LT(first["temperature"].get<double>(), 62);
  EXPECT_EQ(last["temperature"].get<double>(), 90);
  // Timestamps are simulated time: ~1.5 h in 1.5 s.
  const auto span_min = (last["ts"].get<std::int64_t>() - first["ts"].get<std::int64_t>()) / 60000;
  EXPECT_GE(span_min, 70);
  EXPECT_LE(span_min, 95);
}

TEST_F(SimIntegration, DesiredPropertyIsAppliedAckedAndReported) {
  ChildProcess sim(sim_args({"--count", "2", "--interval", "1s", "--client-id", "sim-desired",
                             "--qos", "1", "--json", "-q"}),
                   dir.path(), "sim");
  wait_subscribed("sim-desired", "devices/motor-2/desired");
  auto sub = subscribe("sub-ack", {"-q", "1", "-v", "-t", "devices/motor-2/desired/ack", "-t",
                                   "devices/motor-2/reported"});
  ChildProcess bad({"mosquitto_pub", "-p", port(), "-q", "1", "-t", "devices/motor-2/desired", "-m",
                    R"({"name": "targetSpeed", "value": "fast", "version": 6})"},
                   dir.path(), "pub-bad");
  ASSERT_EQ(bad.wait(10s), 0);
  ChildProcess pub({"mosquitto_pub", "-p", port(), "-q", "1", "-t", "devices/motor-2/desired", "-m",
                    R"({"name": "targetSpeed", "value": 1234.5, "version": 7})"},
                   dir.path(), "pub");
  ASSERT_EQ(pub.wait(10s), 0);

  // The start-up report of every property may or may not be seen (it races with our
  // subscription); the answers to our message must come, and only one ack (the bad value has none).
  std::vector<json> acks, reported;
  ASSERT_TRUE(wait_until(
      [&] {
        acks.clear();
        reported.clear();
        for (const auto& line : sub->out_lines()) {
          const auto doc = json::parse(line.substr(line.find(' ') + 1));
          (line.rfind("devices/motor-2/desired/ack ", 0) == 0 ? acks : reported).push_back(doc);
        }
        return !acks.empty() && !reported.empty() && reported.back().size() == 1;
      },
      10s))
      << sub->out();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0], json::parse(R"({"name":"targetSpeed","version":7})"));
  EXPECT_EQ(reported.back(), json::parse(R"({"targetSpeed":1234.5})"));

  // Ctrl-C: a clean stop with the report.
  sim.signal(SIGINT);
  ASSERT_EQ(sim.wait(15s), 0) << sim.err();
  const auto report = last_json(sim.out());
  EXPECT_EQ(report["desired"]["applied"], 1);
  EXPECT_EQ(report["desired"]["rejected"], 1);
  EXPECT_NE(sim.err().find("expected double, got string"), std::string::npos) << sim.err();
}

TEST_F(SimIntegration, CommandsV5AnswerOnTheResponseTopicWithCorrelationData) {
  ChildProcess sim(sim_args({"--count", "2", "--interval", "1s", "--client-id", "sim-cmd",
                             "--no-respond", "motor-2:reduceLoad", "--json", "-q"}),
                   dir.path(), "sim");
  wait_subscribed("sim-cmd", "devices/motor-2/commands/+");
  auto sub = subscribe("sub-replies",
                       {"-V", "mqttv5", "-q", "1", "-C", "1", "-F", "%t|%D|%p", "-t", "replies/#"});
  auto command = [&](const std::string& twin, const std::string& corr) {
    ChildProcess pub(
        {"mosquitto_pub", "-V", "mqttv5", "-p", port(), "-q", "1", "-t",
         "devices/" + twin + "/commands/reduceLoad", "-m", R"({"percent": 20})", "-D", "publish",
         "response-topic", "replies/" + twin, "-D", "publish", "correlation-data", corr},
        dir.path(), "pub-" + twin);
    return pub.wait(10s);
  };
  // The dead device first: when motor-1's answer arrives, motor-2's command was handled too.
  ASSERT_EQ(command("motor-2", "corr-2"), 0);
  ASSERT_EQ(command("motor-1", "corr-1"), 0);
  ASSERT_EQ(sub->wait(10s), 0);
  EXPECT_EQ(sub->out_lines(), std::vector<std::string>{"replies/motor-1|corr-1|true"});

  sim.signal(SIGINT);
  ASSERT_EQ(sim.wait(15s), 0) << sim.err();
  const auto report = last_json(sim.out());
  EXPECT_EQ(report["commands"]["answered"], 1);
  EXPECT_EQ(report["commands"]["ignored"], 1);
}

TEST_F(SimIntegration, CommandsV311CarryTheCorrelationInTheTopic) {
  ChildProcess sim(sim_args({"--protocol", "4", "--interval", "1s", "--client-id", "sim-v3",
                             "--respond", "reduceLoad=false", "-q"}),
                   dir.path(), "sim");
  wait_subscribed("sim-v3", "devices/motor-1/commands/+/+");
  auto sub = subscribe("sub-v3", {"-q", "1", "-v", "-C", "1", "-t",
                                  "devices/motor-1/commands/reduceLoad/response/+"});
  ChildProcess pub({"mosquitto_pub", "-p", port(), "-q", "1", "-t",
                    "devices/motor-1/commands/reduceLoad/c-77", "-m", R"({"percent": 5})"},
                   dir.path(), "pub");
  ASSERT_EQ(pub.wait(10s), 0);
  ASSERT_EQ(sub->wait(10s), 0);
  EXPECT_EQ(sub->out_lines(),
            std::vector<std::string>{"devices/motor-1/commands/reduceLoad/response/c-77 false"});
  sim.signal(SIGTERM);
  EXPECT_EQ(sim.wait(15s), 0) << sim.err();
}

TEST_F(SimIntegration, ReconnectsAfterTheBrokerRestarts) {
  ChildProcess sim(sim_args({"--rate", "200", "--qos", "1", "--client-id", "sim-restart", "--json",
                             "--progress", "1"}),
                   dir.path(), "sim");
  wait_subscribed("sim-restart");
  {
    auto before = subscribe("sub-before", {"-q", "1", "-C", "20", "-t", "devices/+/telemetry"});
    ASSERT_EQ(before->wait(10s), 0);
  }
  broker.stop();
  broker.start();  // same port
  auto after = subscribe("sub-after", {"-q", "1", "-C", "50", "-t", "devices/+/telemetry"});
  ASSERT_EQ(after->wait(20s), 0) << sim.err();
  sim.signal(SIGINT);
  ASSERT_EQ(sim.wait(20s), 0) << sim.err();
  const auto report = last_json(sim.out());
  EXPECT_GE(report["reconnects"].get<int>(), 1);
  EXPECT_NE(sim.err().find("reconnected"), std::string::npos);
  // Everything sent either completed, failed or is accounted as dropped; nothing vanished.
  EXPECT_EQ(report["sent"].get<std::uint64_t>(),
            report["acknowledged"].get<std::uint64_t>() + report["failed"].get<std::uint64_t>())
      << report.dump();
}

TEST_F(SimIntegration, RatePacingHoldsTheTargetRate) {
  ChildProcess sim(sim_args({"--count", "7", "--rate", "400", "--duration", "2s", "--json", "-q"}),
                   dir.path(), "sim");
  ASSERT_EQ(sim.wait(20s), 0) << sim.err();
  const auto report = last_json(sim.out());
  EXPECT_NEAR(report["telemetry"].get<double>(), 800, 40) << report.dump();
}

TEST_F(SimIntegration, WhileTheBrokerIsAwayMessagesAreBufferedThenDropped) {
  ChildProcess sim(sim_args({"--rate", "500", "--qos", "1", "--buffer", "100", "--client-id",
                             "sim-away", "--json", "--progress", "0.1"}),
                   dir.path(), "sim");
  wait_subscribed("sim-away");
  broker.stop();
  // Progress lines show the drop counter; wait until the bounded buffer overflowed.
  ASSERT_TRUE(wait_until(
      [&] {
        const auto err = sim.err();
        const auto at = err.rfind(" dropped");
        if (at == std::string::npos) return false;
        const auto num = err.rfind(' ', at - 1);
        return std::stoll(err.substr(num + 1, at - num - 1)) > 0;
      },
      20s))
      << sim.err();
  broker.start();
  ASSERT_TRUE(wait_until([&] { return sim.err().find("reconnected") != std::string::npos; }, 30s))
      << sim.err();
  auto after = subscribe("sub-after", {"-q", "1", "-C", "20", "-t", "devices/+/telemetry"});
  ASSERT_EQ(after->wait(20s), 0);
  sim.signal(SIGTERM);
  ASSERT_EQ(sim.wait(20s), 0) << sim.err();
  const auto report = last_json(sim.out());
  EXPECT_GT(report["dropped"].get<int>(), 0);
  EXPECT_GE(report["reconnects"].get<int>(), 1);
  EXPECT_EQ(report["unconfirmed"].get<int>(), 0) << report.dump();
  EXPECT_EQ(report["sent"].get<std::uint64_t>(),
            report["acknowledged"].get<std::uint64_t>() + report["failed"].get<std::uint64_t>())
      << report.dump();
}

TEST_F(SimIntegration, ConfigFileWithCommandLineOverrides) {
  auto sub = subscribe("sub-sample", {"-q", "1", "-v", "-C", "6", "-t", "devices/+/telemetry"});
  ChildProcess sim(
      {DOPPEL_SIM_BINARY, "--config",
       std::string(DOPPEL_SOURCE_DIR) + "/tools/doppel-sim/sample.yaml", "--broker", broker.uri(),
       "--count", "2", "--rate", "100", "--messages", "6", "--json", "-q"},
      dir.path(), "sim");
  ASSERT_EQ(sim.wait(20s), 0) << sim.err();
  EXPECT_EQ(last_json(sim.out())["telemetry"], 6);
  ASSERT_EQ(sub->wait(10s), 0);
  std::set<std::string> topics;
  for (const auto& line : sub->out_lines())
    topics.insert(line.substr(0, line.find(' ')));
  EXPECT_EQ(topics,
            (std::set<std::string>{"devices/motor-1/telemetry", "devices/motor-2/telemetry"}));
}

TEST_F(SimIntegration, UnreachableBrokerExitsWithOne) {
  const std::string uri = broker.uri();
  broker.stop();
  ChildProcess sim(sim_args({"--connect-retries", "1", "-q"}), dir.path(), "sim");
  EXPECT_EQ(sim.wait(30s), 1);
  EXPECT_NE(sim.err().find("cannot connect to " + uri), std::string::npos) << sim.err();
}

TEST(SimCli, UsageErrorsExitWithTwoAndNameTheOption) {
  TempDir dir;
  const std::string models = std::string(DOPPEL_SOURCE_DIR) + "/examples/models/factory";
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--models", models}, "--model: required"},
      {{"--models", models, "--model", "dtmi:nope;1"},
       "--model: 'dtmi:nope;1' is not in the models"},
      {{"--models", models, "--model", kMotor, "--gen", "temp=sine:1"},
       "--gen 'temp=sine:1': sine takes mean,amplitude,period (got 1 value)"},
      {{"--models", models, "--model", kMotor, "--gen", "tempx=constant:1"},
       "--gen 'tempx=constant:1': 'dtmi:example:factory:Motor;1' has no telemetry or property "
       "'tempx'"},
      {{"--models", models, "--model", kMotor, "--qos", "3"}, "--qos"},
      {{"--models", models, "--model", kMotor, "--interval", "soon"},
       "--interval: 'soon' is not a duration"},
      {{"--models", models, "--model", kMotor, "--count", "3", "--id", "m"},
       "--id: 'm' has no {i}"},
      {{"--config", (dir.path() / "missing.yaml").string()}, "missing.yaml: error: cannot read"},
  };
  int i = 0;
  for (const auto& c : cases) {
    std::vector<std::string> args = {DOPPEL_SIM_BINARY};
    args.insert(args.end(), c.args.begin(), c.args.end());
    ChildProcess sim(args, dir.path(), "case" + std::to_string(i++));
    EXPECT_EQ(sim.wait(10s), 2) << c.message;
    EXPECT_NE(sim.err().find(c.message), std::string::npos) << c.message << "\n" << sim.err();
  }
  ChildProcess help({DOPPEL_SIM_BINARY, "--help"}, dir.path(), "help");
  EXPECT_EQ(help.wait(10s), 0);
  EXPECT_NE(help.out().find("--rate"), std::string::npos);
}

}  // namespace
}  // namespace doppel::sim
