// Options and the YAML config: every mistake names the option or file:line:col.
#include <gtest/gtest.h>

#include <fstream>

#include "doppel/testing/test_services.hpp"
#include "src/sim_options.hpp"
#include "src/topic_template.hpp"

namespace doppel::sim {
namespace {

std::string write(const std::filesystem::path& dir, const std::string& name,
                  const std::string& text) {
  const auto path = dir / name;
  std::ofstream(path) << text;
  return path.string();
}

TEST(GenOption, DevicesNameAndSpec) {
  auto r = std::get<GenRule>(parse_gen_option("motor-[1-3]:temperature=drift:60,5,0.5,90"));
  EXPECT_EQ(r.devices, "motor-[1-3]");
  EXPECT_EQ(r.name, "temperature");
  EXPECT_TRUE(std::holds_alternative<DriftSpec>(r.spec));
  auto all = std::get<GenRule>(parse_gen_option("bearing/temperature=constant:40"));
  EXPECT_EQ(all.devices, "");
  EXPECT_EQ(all.name, "bearing/temperature");
}

TEST(GenOption, ErrorsNameTheOption) {
  auto e = std::get<ConfigError>(parse_gen_option("temperature"));
  EXPECT_EQ(e.where, "--gen 'temperature'");
  EXPECT_NE(e.message.find("name=spec"), std::string::npos);
  e = std::get<ConfigError>(parse_gen_option("temperature=walk:1"));
  EXPECT_EQ(e.format(),
            "--gen 'temperature=walk:1': walk takes start,step[,min,max] (got 1 value)");
}

TEST(RespondOption, JsonIsChecked) {
  auto r = std::get<RespondRule>(parse_respond_option("motor-2:reduceLoad={\"a\": 1}", false));
  EXPECT_EQ(r.devices, "motor-2");
  EXPECT_EQ(r.command, "reduceLoad");
  EXPECT_EQ(*r.json, "{\"a\":1}");
  auto silent = std::get<RespondRule>(parse_respond_option("reduceLoad", true));
  EXPECT_FALSE(silent.json);
  auto e = std::get<ConfigError>(parse_respond_option("reduceLoad={oops", false));
  EXPECT_EQ(e.format(), "--respond 'reduceLoad={oops': the response is not valid JSON");
}

TEST(YamlConfig, GoodFileFillsOptions) {
  testing::TempDir dir;
  const auto path = write(dir.path(), "sim.yaml", R"(broker: tcp://127.0.0.1:1999
models: [models/]
model: "dtmi:example:factory:Motor;1"
count: 50
id: "motor-{i:02}"
scope: process
interval: 500ms
time_scale: 60
seed: 42
qos: 1
generators:
  - values: {temperature: "walk:40,0.2,20,60"}
  - devices: "motor-0[1-3]"
    values:
      temperature: "drift:60,5,0.5,90"
respond:
  reduceLoad: true
no_respond: ["motor-09:reduceLoad"]
)");
  SimOptions o;
  auto errors = load_yaml_config(path, o);
  ASSERT_TRUE(errors.empty()) << errors.front().format();
  EXPECT_EQ(o.broker, "tcp://127.0.0.1:1999");
  ASSERT_EQ(o.models.size(), 1u);
  EXPECT_EQ(o.models[0], (dir.path() / "models/").string());
  EXPECT_EQ(o.count, 50);
  EXPECT_EQ(o.scope, Scope::kProcess);
  EXPECT_DOUBLE_EQ(*o.interval_s, 0.5);
  EXPECT_DOUBLE_EQ(o.time_scale, 60);
  EXPECT_EQ(*o.seed, 42u);
  EXPECT_EQ(o.qos, 1);
  ASSERT_EQ(o.generators.size(), 2u);
  EXPECT_EQ(o.generators[1].devices, "motor-0[1-3]");
  EXPECT_EQ(o.generators[1].origin, path + ":15:20");
  ASSERT_EQ(o.responds.size(), 2u);
  EXPECT_EQ(*o.responds[0].json, "true");
  EXPECT_FALSE(o.responds[1].json);
  EXPECT_TRUE(validate_options(o).empty());
}

TEST(YamlConfig, MistakesAreLocated) {
  testing::TempDir dir;
  const auto path = write(dir.path(), "bad.yaml", R"(model: "dtmi:x;1"
cuont: 5
interval: soon
scope: galaxy
generators:
  - devices: "m-*"
    values:
      temperature: "sine:1,2"
)");
  SimOptions o;
  auto errors = load_yaml_config(path, o);
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0].format(), path + ":2:1: unknown key 'cuont'");
  EXPECT_EQ(errors[1].format(),
            path + ":3:11: 'interval': 'soon' is not a duration (e.g. 500ms, 5s, 2m, 1h)");
  EXPECT_EQ(errors[2].format(), path + ":4:8: 'scope' must be component, asset or process");
  EXPECT_EQ(errors[3].format(), path + ":8:20: sine takes mean,amplitude,period (got 2 values)");
}

TEST(YamlConfig, SyntaxErrorAndMissingFile) {
  testing::TempDir dir;
  const auto path = write(dir.path(), "broken.yaml", "count: [1, 2\n");
  SimOptions o;
  auto errors = load_yaml_config(path, o);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].where.rfind(path + ":", 0), 0u) << errors[0].where;
  errors = load_yaml_config((dir.path() / "missing.yaml").string(), o);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "cannot read the file");
}

TEST(Validate, CrossFieldRules) {
  SimOptions o;
  o.models = {"m"};
  o.model = "dtmi:x;1";
  o.count = 3;
  o.id = "motor";
  o.protocol = 4;
  o.command_topic = "devices/{twin}/commands/{name}";
  auto errors = validate_options(o);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].format(), "--id: 'motor' has no {i}: 3 devices would share one id");
  EXPECT_EQ(errors[1].where, "--command-topic");
  o = SimOptions{};
  errors = validate_options(o);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].where, "--models");
  EXPECT_EQ(errors[1].where, "--model");
}

TEST(YamlConfig, CoapKeys) {
  testing::TempDir dir;
  const auto path = write(dir.path(), "coap.yaml", R"(coap: coap://127.0.0.1:5683
coap_listen: "127.0.0.1:0"
coap_type: non
coap_format: cbor
coap_telemetry_path: "d/{twin}/t"
coap_silent_after: 10s
)");
  SimOptions o;
  EXPECT_TRUE(load_yaml_config(path, o).empty());
  EXPECT_EQ(o.coap, "coap://127.0.0.1:5683");
  EXPECT_EQ(o.coap_listen, "127.0.0.1:0");
  EXPECT_FALSE(o.coap_con);
  EXPECT_TRUE(o.coap_cbor);
  EXPECT_EQ(o.coap_telemetry_path, "d/{twin}/t");
  EXPECT_EQ(o.coap_silent_after_s, 10.0);
  EXPECT_TRUE(o.uses_coap());
  EXPECT_EQ(o.coap_silent_devices, "");
  EXPECT_TRUE(parse_silent_after("motor-[1-3]:500ms", o));
  EXPECT_EQ(o.coap_silent_devices, "motor-[1-3]");
  EXPECT_EQ(o.coap_silent_after_s, 0.5);
  EXPECT_FALSE(parse_silent_after("motor-1:soon", o));
  const auto bad = write(dir.path(), "bad.yaml", "coap_type: maybe\ncoap_format: xml\n");
  auto errors = load_yaml_config(bad, o);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].format(), bad + ":1:12: 'coap-type' must be con or non");
  EXPECT_EQ(errors[1].format(), bad + ":2:14: 'coap-format' must be json or cbor");
}

TEST(Validate, CoapRules) {
  SimOptions o;
  o.models = {"m"};
  o.model = "dtmi:x;1";
  o.count = 2;
  o.id = "m-{i}";
  o.coap = "http://x";
  o.coap_command_path = "twins/{twin}/commands";
  o.coap_silent_after_s = 1;
  auto errors = validate_options(o);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].format(), "--coap-command-path: 'twins/{twin}/commands' has no {name}");
  EXPECT_EQ(errors[1].format(), "--coap: 'http://x' must be a coap:// URI");
  EXPECT_EQ(errors[2].where, "--coap-silent-after");
  o.coap = "coap://127.0.0.1:5683";
  o.coap_command_path = "twins/{twin}/commands/{name}";
  o.coap_silent_after_s.reset();
  EXPECT_TRUE(validate_options(o).empty());
}

TEST(Ids, ExpandAndGlob) {
  EXPECT_EQ(expand_id("motor-{i}", 7), "motor-7");
  EXPECT_EQ(expand_id("line/{i:03}/m", 7), "line/007/m");
  EXPECT_EQ(expand_id("{x}-{i}", 1), "{x}-1");
  EXPECT_TRUE(glob_match("motor-[1-3]", "motor-2"));
  EXPECT_FALSE(glob_match("motor-[1-3]", "motor-4"));
  EXPECT_TRUE(glob_match("", "anything"));
  EXPECT_TRUE(glob_match("motor-*", "motor-12"));
}

TEST(TopicTemplate, ExpandFilterMatch) {
  TopicTemplate t("devices/{twin}/commands/{name}/{correlation}");
  EXPECT_EQ(t.expand({{"twin", "m-1"}, {"name", "stop"}, {"correlation", "c9"}}),
            "devices/m-1/commands/stop/c9");
  EXPECT_EQ(t.filter({{"twin", "m-1"}}), "devices/m-1/commands/+/+");
  auto m = t.match("devices/m-1/commands/stop/c9");
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)["twin"], "m-1");
  EXPECT_EQ((*m)["name"], "stop");
  EXPECT_EQ((*m)["correlation"], "c9");
  EXPECT_FALSE(t.match("devices/m-1/commands/stop"));
  EXPECT_FALSE(t.match("devices/m-1/commands/stop/response/c9"));
  TopicTemplate p("plant/dev-{twin}/tele");
  EXPECT_EQ(p.filter({}), "plant/+/tele");
  EXPECT_EQ((*p.match("plant/dev-7/tele"))["twin"], "7");
  EXPECT_FALSE(p.match("plant/xdev-7/tele"));
}

}  // namespace
}  // namespace doppel::sim
