// The payload mapping engine shared by protocol plugins: routes from YAML, topic templates, twin
// ids, JSON paths, units, constants, batches, event time, and the reasons messages are refused.
#include "doppel/runtime/mapping.hpp"

#include <gtest/gtest.h>

#include "doppel/model/loader.hpp"
#include "yaml_config_node.hpp"

namespace doppel::runtime {
namespace {

std::shared_ptr<const model::ModelRegistry> factory() {
  model::ModelLoader loader;
  loader.add_path(DOPPEL_SOURCE_DIR "/examples/models/factory");
  auto r = loader.load();
  EXPECT_TRUE(r.ok());
  return r.registry;
}

struct Mapping : ::testing::Test {
  std::shared_ptr<const model::ModelRegistry> models = factory();
  twin::TwinGraph graph{models};
  std::shared_ptr<const YamlDocument> doc;
  std::vector<Route> routes;

  void SetUp() override {
    for (const char* id : {"motor-1", "motor-2", "line7-motor-3"})
      ASSERT_TRUE(graph.create({id, "dtmi:example:factory:Motor;1", {}, 0}));
  }
  sdk::Status compile(std::string_view yaml) {
    model::Diagnostic error;
    doc = YamlDocument::parse("deploy.yaml", yaml, error);
    EXPECT_NE(doc, nullptr) << error.message;
    auto r = compile_routes(doc->root().find("ingest"));
    if (r) routes = std::move(*r);
    return r ? sdk::Status() : r.status();
  }
  // Maps with the first matching route.
  bool map(std::string_view topic, std::string_view payload, std::vector<MappedUpdate>& out,
           MappingError& error) {
    for (const Route& r : routes)
      if (r.matches(topic)) return r.map(topic, payload, 1000, graph, out, error);
    error = {"no-route", ""};
    return false;
  }
  double number(const MappedUpdate& u, std::string_view path) {
    for (const auto& w : u.writes)
      if (w.path == path) return w.value.as_double();
    ADD_FAILURE() << "no write for " << path;
    return -1;
  }
};

TEST_F(Mapping, MembersNamedLikeTheModelNeedNoRules) {
  ASSERT_TRUE(compile("ingest: [{topic: 'devices/{twin}/telemetry'}]"));
  EXPECT_EQ(routes[0].topic_filter(), "devices/+/telemetry");
  std::vector<MappedUpdate> out;
  MappingError e;
  ASSERT_TRUE(map("devices/motor-1/telemetry",
                  R"({"temperature": 81.5, "current": 12, "bearing": {"temperature": 40}})", out,
                  e))
      << e.message;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].twin, "motor-1");
  EXPECT_EQ(number(out[0], "temperature"), 81.5);
  EXPECT_EQ(number(out[0], "current"), 12);
  EXPECT_EQ(number(out[0], "bearing/temperature"), 40);
  EXPECT_EQ(out[0].writes[0].time, 1000) << "arrival time when no timestamp path";
}

TEST_F(Mapping, PathsUnitsScalesConstantsAndTwinTemplates) {
  ASSERT_TRUE(compile(R"(
ingest:
  - topic: "plant/{line}/{twin}/telemetry"
    twin: "{line}-{twin}"
    timestamp: "$.ts"
    values:
      temperature: {path: "$.t", from_unit: degreeFahrenheit}
      vibration: {path: "$.vib.rms", scale: 0.001}
      current: {path: "$.i", scale: 2, offset: 1}
      "bearing/temperature": "$.b"
)"));
  std::vector<MappedUpdate> out;
  MappingError e;
  ASSERT_TRUE(
      map("plant/line7/motor-3/telemetry",
          R"({"t": 212, "vib": {"rms": 500}, "i": 3, "b": 30.5, "ts": "2026-11-25T10:00:00Z"})",
          out, e))
      << e.message;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].twin, "line7-motor-3");
  EXPECT_NEAR(number(out[0], "temperature"), 100.0, 1e-9) << "212 °F is 100 °C";
  EXPECT_NEAR(number(out[0], "vibration"), 0.5, 1e-12);
  EXPECT_EQ(number(out[0], "current"), 7);
  EXPECT_EQ(number(out[0], "bearing/temperature"), 30.5);
  sdk::Timestamp t = 0;
  ASSERT_TRUE(parse_event_time("\"2026-11-25T10:00:00Z\"", t));
  EXPECT_EQ(out[0].writes[0].time, t);
}

TEST_F(Mapping, BatchesMapEachElementAndTakeTwinIdsFromThePayload) {
  ASSERT_TRUE(compile(R"(
ingest:
  - topic: "gateway/readings"
    batch: "$.readings"
    twin: "{$.id}"
    timestamp: "$.ts"
    values: {temperature: "$.t"}
)"));
  std::vector<MappedUpdate> out;
  MappingError e;
  ASSERT_TRUE(map("gateway/readings",
                  R"({"readings": [{"id": "motor-1", "t": 50, "ts": 1700000000000},
                                   {"id": "motor-2", "t": 60, "ts": 1700000001000}]})",
                  out, e))
      << e.message;
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].twin, "motor-1");
  EXPECT_EQ(number(out[0], "temperature"), 50);
  EXPECT_EQ(out[1].twin, "motor-2");
  EXPECT_EQ(out[1].writes[0].time, 1'700'000'001'000LL * 1'000'000);
}

TEST_F(Mapping, PropertiesRoutesTakeReportedProperties) {
  ASSERT_TRUE(compile("ingest: [{topic: 'devices/{twin}/reported', kind: properties}]"));
  std::vector<MappedUpdate> out;
  MappingError e;
  ASSERT_TRUE(map("devices/motor-2/reported", R"({"targetSpeed": 1500, "state": "fault"})", out, e))
      << e.message;
  EXPECT_EQ(number(out[0], "targetSpeed"), 1500);
  MappingError e2;
  std::vector<MappedUpdate> out2;
  EXPECT_FALSE(map("devices/motor-2/reported", R"({"temperature": 1})", out2, e2))
      << "telemetry on a properties route";
  EXPECT_EQ(e2.reason, "unknown-field");
}

TEST_F(Mapping, RefusedMessagesSayWhy) {
  ASSERT_TRUE(compile("ingest: [{topic: 'devices/{twin}/telemetry', timestamp: '$.ts'}]"));
  auto reason = [&](std::string_view topic, std::string_view payload) {
    std::vector<MappedUpdate> out;
    MappingError e;
    EXPECT_FALSE(map(topic, payload, out, e)) << payload;
    EXPECT_FALSE(e.message.empty() && e.reason != "no-route");
    return e.reason;
  };
  EXPECT_EQ(reason("devices/motor-1/telemetry", "{not json"), "not-json");
  EXPECT_EQ(reason("devices/motor-9/telemetry", R"({"temperature": 1, "ts": 1})"), "unknown-twin");
  EXPECT_EQ(reason("devices/motor-1/telemetry", R"({"temperature": "hot", "ts": 1})"),
            "wrong-type");
  EXPECT_EQ(reason("devices/motor-1/telemetry", R"({"pressure": 1, "ts": 1})"), "unknown-field");
  EXPECT_EQ(reason("devices/motor-1/telemetry", R"({"temperature": 1})"), "bad-timestamp");
  EXPECT_EQ(reason("other/topic", "{}"), "no-route");
}

TEST_F(Mapping, RouteErrorsAreLocated) {
  auto error = [&](std::string_view yaml) {
    sdk::Status s = compile(yaml);
    EXPECT_FALSE(s) << yaml;
    return s.to_string();
  };
  EXPECT_NE(error("ingest: [{topik: 'a/{twin}'}]").find("deploy.yaml:1:"), std::string::npos);
  EXPECT_NE(error("ingest: [{topic: 'a/{twin}', kind: metrics}]").find("kind"), std::string::npos);
  EXPECT_NE(error("ingest: [{topic: 'a/{twin}', values: {temperature: {path: '$.t', "
                  "from_unit: furlong}}}]")
                .find("furlong"),
            std::string::npos);
  EXPECT_NE(error("ingest: [{topic: 'a/#/b'}]").find("'#' may only be the last"),
            std::string::npos);
}

TEST(UnitConversion, WithinATypeOnly) {
  double out = 0;
  ASSERT_TRUE(convert_unit(32, "degreeFahrenheit", "degreeCelsius", out));
  EXPECT_NEAR(out, 0, 1e-9);
  ASSERT_TRUE(convert_unit(1, "kilowatt", "watt", out));
  EXPECT_NEAR(out, 1000, 1e-9);
  EXPECT_FALSE(convert_unit(1, "kilowatt", "degreeCelsius", out));
  EXPECT_FALSE(convert_unit(1, "furlong", "metre", out));
}

TEST(EventTime, Rfc3339AndEpochNumbersOfEveryPrecision) {
  sdk::Timestamp t = 0;
  ASSERT_TRUE(parse_event_time("1700000000", t));
  EXPECT_EQ(t, 1'700'000'000LL * 1'000'000'000);
  ASSERT_TRUE(parse_event_time("1700000000000", t));
  EXPECT_EQ(t, 1'700'000'000LL * 1'000'000'000);
  ASSERT_TRUE(parse_event_time("1700000000000000", t));
  EXPECT_EQ(t, 1'700'000'000LL * 1'000'000'000);
  ASSERT_TRUE(parse_event_time("\"2023-11-14T22:13:20Z\"", t));
  EXPECT_EQ(t, 1'700'000'000LL * 1'000'000'000);
  ASSERT_TRUE(parse_event_time("\"2023-11-14T23:13:20.5+01:00\"", t));
  EXPECT_EQ(t, 1'700'000'000LL * 1'000'000'000 + 500'000'000);
  EXPECT_FALSE(parse_event_time("\"yesterday\"", t));
  EXPECT_FALSE(parse_event_time("true", t));
}

}  // namespace
}  // namespace doppel::runtime
