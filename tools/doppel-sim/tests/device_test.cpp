// Devices built from the example Motor model: defaults per schema, configured generators,
// desired properties, command answers, and rule mistakes named with their origin.
#include "src/device.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "doppel/model/loader.hpp"

namespace doppel::sim {
namespace {

constexpr const char* kMotor = "dtmi:example:factory:Motor;1";

class DeviceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    loaded_ = new model::LoadResult(
        model::load_models({std::filesystem::path(DOPPEL_SOURCE_DIR) / "examples/models/factory"}));
    ASSERT_TRUE(loaded_->ok());
  }
  static void TearDownTestSuite() { delete loaded_; }

  const model::Interface& motor() { return *loaded_->registry->find(kMotor); }

  SimOptions options(int count = 3) {
    SimOptions o;
    o.models = {"x"};
    o.model = kMotor;
    o.count = count;
    o.id = "motor-{i}";
    return o;
  }

  Fleet fleet(const SimOptions& o, std::uint64_t seed = 1) {
    auto r = build_fleet(motor(), o, seed);
    if (auto* e = std::get_if<std::vector<ConfigError>>(&r)) {
      ADD_FAILURE() << e->front().format();
      return {};
    }
    return std::move(std::get<Fleet>(r));
  }

  std::vector<ConfigError> errors(const SimOptions& o) {
    auto r = build_fleet(motor(), o, 1);
    auto* e = std::get_if<std::vector<ConfigError>>(&r);
    return e ? *e : std::vector<ConfigError>{};
  }

  static model::LoadResult* loaded_;
};
model::LoadResult* DeviceTest::loaded_ = nullptr;

TEST_F(DeviceTest, TelemetryHasEveryValueNestedComponentsAndTs) {
  auto f = fleet(options());
  ASSERT_EQ(f.devices.size(), 3u);
  EXPECT_EQ(f.devices[2]->id(), "motor-3");
  auto doc = nlohmann::json::parse(f.devices[0]->telemetry_json(0, 1234));
  EXPECT_TRUE(doc["temperature"].is_number());
  EXPECT_TRUE(doc["vibration"].is_number());
  EXPECT_TRUE(doc["current"].is_number());
  EXPECT_TRUE(doc["bearing"]["temperature"].is_number());
  EXPECT_TRUE(doc["bearing"]["vibrationSpectrum"].is_object());
  EXPECT_EQ(doc["ts"], 1234);
  // The payload is valid for the model (minus "ts", which is transport metadata).
  doc.erase("ts");
  model::PayloadScratch scratch;
  auto check = f.validator->validate(doc.dump(), model::PayloadKind::kTelemetry, scratch);
  EXPECT_TRUE(check.ok) << (check.error ? check.error->path + ": " + check.error->message : "");
  auto reported = f.devices[0]->reported_json(0);
  ASSERT_TRUE(reported);
  check = f.validator->validate(*reported, model::PayloadKind::kProperties, scratch);
  EXPECT_TRUE(check.ok) << *reported;
}

TEST_F(DeviceTest, DefaultsArePlausibleAndIntervalsFollowTheScope) {
  auto o = options(20);
  o.scope = Scope::kAsset;
  auto f = fleet(o);
  for (auto& d : f.devices) {
    EXPECT_GE(d->interval_s(), 60);
    EXPECT_LE(d->interval_s(), 300);
    auto doc = nlohmann::json::parse(d->telemetry_json(0, 0));
    EXPECT_GE(doc["temperature"].get<double>(), 20);
    EXPECT_LE(doc["temperature"].get<double>(), 60);
  }
}

TEST_F(DeviceTest, SameSeedSameFleet) {
  auto a = fleet(options(), 9);
  auto b = fleet(options(), 9);
  auto c = fleet(options(), 10);
  std::string sa, sb, sc;
  for (int i = 0; i < 50; ++i) {
    sa += a.devices[1]->telemetry_json(i, i);
    sb += b.devices[1]->telemetry_json(i, i);
    sc += c.devices[1]->telemetry_json(i, i);
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
  EXPECT_EQ(*a.devices[1]->reported_json(0), *b.devices[1]->reported_json(0));
}

TEST_F(DeviceTest, RulesApplyToTheirDevicesOnly) {
  auto o = options();
  o.generators.push_back(std::get<GenRule>(parse_gen_option("temperature=constant:40")));
  o.generators.push_back(std::get<GenRule>(parse_gen_option("motor-3:temperature=constant:99")));
  o.generators.push_back(std::get<GenRule>(parse_gen_option("bearing/temperature=constant:33")));
  auto f = fleet(o);
  EXPECT_EQ(nlohmann::json::parse(f.devices[0]->telemetry_json(0, 0))["temperature"], 40);
  EXPECT_EQ(nlohmann::json::parse(f.devices[2]->telemetry_json(0, 0))["temperature"], 99);
  EXPECT_EQ(nlohmann::json::parse(f.devices[1]->telemetry_json(0, 0))["bearing"]["temperature"],
            33);
}

TEST_F(DeviceTest, DesiredBecomesConstantAndIsAcked) {
  auto f = fleet(options(1));
  auto& d = *f.devices[0];
  auto r = d.apply_desired(R"({"name": "targetSpeed", "value": 1200, "version": 4})", 0);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(nlohmann::json::parse(r.ack_json),
            nlohmann::json::parse(R"({"name": "targetSpeed", "version": 4})"));
  EXPECT_EQ(nlohmann::json::parse(r.reported_json)["targetSpeed"], 1200);
  EXPECT_EQ(nlohmann::json::parse(*d.reported_json(10))["targetSpeed"], 1200);

  EXPECT_EQ(d.apply_desired(R"({"name": "state", "value": "fault", "version": 1})", 0).error,
            "property 'state' is not writable");
  EXPECT_EQ(d.apply_desired(R"({"name": "nope", "value": 1, "version": 1})", 0).error,
            "no property 'nope'");
  EXPECT_EQ(d.apply_desired(R"({"name": "targetSpeed", "value": "fast"})", 0).error,
            "value for 'targetSpeed': expected double, got string");
  EXPECT_EQ(d.apply_desired("not json", 0).error, "not a JSON object");
}

TEST_F(DeviceTest, CommandAnswersDefaultConfiguredOrSilent) {
  auto o = options(2);
  o.responds.push_back(
      std::get<RespondRule>(parse_respond_option("motor-2:reduceLoad=false", false)));
  auto f = fleet(o);
  bool known = false;
  EXPECT_EQ(f.devices[0]->command_response("reduceLoad", known), "true");
  EXPECT_TRUE(known);
  EXPECT_EQ(f.devices[1]->command_response("reduceLoad", known), "false");
  EXPECT_FALSE(f.devices[0]->command_response("explode", known));
  EXPECT_FALSE(known);

  o.responds.push_back(std::get<RespondRule>(parse_respond_option("reduceLoad", true)));
  auto silent = fleet(o);
  EXPECT_FALSE(silent.devices[0]->command_response("reduceLoad", known));
  EXPECT_TRUE(known);
}

TEST_F(DeviceTest, DefaultResponsesFitTheirSchemas) {
  const auto* spectrum = motor().find_path("bearing/vibrationSpectrum");
  ASSERT_NE(spectrum, nullptr);
  EXPECT_EQ(nlohmann::json::parse(default_json(*spectrum->schema)),
            nlohmann::json::parse(R"({"rms": 0.0, "peakFrequency": 0.0, "bands": []})"));
  EXPECT_EQ(default_json(*motor().find("state")->schema), "\"running\"");
}

TEST_F(DeviceTest, RulesMatchingNoDeviceAreWarnings) {
  auto o = options();
  o.generators.push_back(std::get<GenRule>(parse_gen_option("pump-*:temperature=constant:1")));
  auto f = fleet(o);
  ASSERT_EQ(f.warnings.size(), 1u);
  EXPECT_EQ(f.warnings[0].format(),
            "--gen 'pump-*:temperature=constant:1': devices 'pump-*' match none of the 3 "
            "simulated ids (motor-1 ...)");
}

TEST_F(DeviceTest, RuleMistakesNameTheirOrigin) {
  auto o = options();
  o.generators.push_back(std::get<GenRule>(parse_gen_option("tempx=constant:1")));
  o.generators.push_back(std::get<GenRule>(parse_gen_option("serialNumber=sine:1,2,3")));
  o.generators.push_back(std::get<GenRule>(parse_gen_option("pump-*:temperature=constant:1")));
  o.responds.push_back(std::get<RespondRule>(parse_respond_option("reduceLoad=\"yes\"", false)));
  o.responds.push_back(std::get<RespondRule>(parse_respond_option("explode", true)));
  auto e = errors(o);
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].where, "--gen 'tempx=constant:1'");
  EXPECT_NE(e[0].message.find("has no telemetry or property 'tempx' (it has: temperature"),
            std::string::npos)
      << e[0].message;
  EXPECT_EQ(e[1].message,
            "'serialNumber' has schema string: only constant: fits (sine, walk and drift are "
            "numeric)");
  EXPECT_EQ(e[2].where, "--respond 'reduceLoad=\"yes\"'");
  EXPECT_NE(e[2].message.find("not valid for the response schema of 'reduceLoad'"),
            std::string::npos);
  EXPECT_EQ(e[3].message,
            "'dtmi:example:factory:Motor;1' has no command 'explode' (it has: reduceLoad)");
}

}  // namespace
}  // namespace doppel::sim

namespace doppel::sim {
namespace {

TEST(SampleYaml, LoadsAndBuildsItsFleet) {
  SimOptions o;
  const std::string path = std::string(DOPPEL_SOURCE_DIR) + "/tools/doppel-sim/sample.yaml";
  auto errors = load_yaml_config(path, o);
  ASSERT_TRUE(errors.empty()) << errors.front().format();
  ASSERT_TRUE(validate_options(o).empty());
  std::vector<std::filesystem::path> paths(o.models.begin(), o.models.end());
  auto loaded = model::load_models(paths);
  ASSERT_TRUE(loaded.ok());
  const auto* iface = loaded.registry->find(o.model);
  ASSERT_NE(iface, nullptr);
  auto r = build_fleet(*iface, o, *o.seed);
  ASSERT_TRUE(std::holds_alternative<Fleet>(r))
      << std::get<std::vector<ConfigError>>(r)[0].format();
  auto& f = std::get<Fleet>(r);
  ASSERT_EQ(f.devices.size(), 50u);
  // motor-2 drifts: after 40 simulated minutes it is near 80 °C; motor-4 does not drift.
  const double hot = nlohmann::json::parse(f.devices[1]->telemetry_json(2400, 0))["temperature"];
  const double normal = nlohmann::json::parse(f.devices[3]->telemetry_json(2400, 0))["temperature"];
  EXPECT_NEAR(hot, 80, 2.5);
  EXPECT_LT(normal, 61);
  bool known = false;
  EXPECT_FALSE(f.devices[49]->command_response("reduceLoad", known));
  EXPECT_EQ(f.devices[0]->command_response("reduceLoad", known), "true");
}

}  // namespace
}  // namespace doppel::sim
