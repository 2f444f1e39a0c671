// analytics-derived through the real host in an in-process Runtime on fake time: a line's
// sum/avg/max/min/count follow part changes incrementally (exact values after each change,
// parts removed and added), the values are visible in reads and queries, and are correct after
// a restart on RocksDB; config errors name the deployment line.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/runtime.hpp"
#include "doppel/testing/runtime_fixture.hpp"
#include "doppel/testing/test_services.hpp"
#include "doppel/twin/query.hpp"

namespace doppel::plugins::derived {
namespace {

using twin::SlotWrite;
using twin::Value;

constexpr sdk::Timestamp kT0 = 1'700'000'000'000'000'000;

const std::string kDerived = R"(derived:
  - {on: "dtmi:test:derived:Line;1", property: totalCurrent, aggregate: sum, over: contains, of: current}
  - {on: "dtmi:test:derived:Line;1", property: avgTemperature, aggregate: avg, over: contains, of: temperature}
  - {on: "dtmi:test:derived:Line;1", property: maxTemperature, aggregate: max, over: contains, of: temperature}
  - {on: "dtmi:test:derived:Line;1", property: minTemperature, aggregate: min, over: contains, of: temperature}
  - {on: "dtmi:test:derived:Line;1", property: motorCount, aggregate: count, over: contains}
)";

struct Deployment : testing::RuntimeFixture {
  Deployment() : RuntimeFixture(kT0) {}

  bool start(const std::string& derived, const std::string& storage = "") {
    std::ostringstream yaml;
    yaml << "apiVersion: doppel/v1\nname: derived\nmodels: [\"" DOPPEL_SOURCE_DIR
            "/examples/models/factory\", \"" DOPPEL_DERIVED_DIR "/tests/data\"]\nplugins:\n"
         << storage << "  - {name: systems, kind: analytics, library: derived}\n"
         << "twins:\n  - {id: \"motor-{i}\", count: 6, model: \"dtmi:example:factory:Motor;1\"}\n"
         << "  - {id: line-1, model: \"dtmi:test:derived:Line;1\"}\n"
         << "  - {id: line-2, model: \"dtmi:test:derived:Line;1\"}\n"
         << "relationships:\n"
         << "  - {source: line-1, name: contains, target: \"motor-{i}\", count: 4}\n"
         << "  - {source: line-2, name: contains, target: motor-5}\n"
         << derived;
    return RuntimeFixture::start(yaml.str());
  }
  sdk::Timestamp t = kT0;
  void report(const std::string& twin, const std::string& path, double v) {
    t += sdk::kSecond;
    sdk::Status s = RuntimeFixture::report(twin, path, v, t);
    ASSERT_TRUE(s) << s.to_string();
    rt->drain_analytics();
  }
  // The line's derived value as JSON ("" when it has none).
  std::string get(const std::string& twin, const std::string& path) {
    rt->drain_analytics();
    std::string out;
    rt->graph().read(twin, [&](const twin::TwinView& v) {
      if (const twin::SlotState* s = v.slot(path); s && !s->reported.is_null())
        out = s->reported.to_json();
    });
    return out;
  }
  std::string line(const std::string& id) {
    return get(id, "totalCurrent") + " " + get(id, "avgTemperature") + " " +
           get(id, "maxTemperature") + " " + get(id, "minTemperature") + " " +
           get(id, "motorCount");
  }
};

TEST(Derived, AggregatesFollowPartChangesIncrementally) {
  Deployment d;
  ASSERT_TRUE(d.start(kDerived)) << d.error;
  // No part has values yet: sum 0 and count 4 are written; avg/min/max have none.
  EXPECT_EQ(d.line("line-1"), "0    4");
  EXPECT_EQ(d.line("line-2"), "0    1");
  const double reads_at_start = d.metric("derived_part_reads_total");
  EXPECT_EQ(reads_at_start, 4 * 4 + 4) << "each rule with `of` read each part once";

  d.report("motor-1", "current", 10.5);
  d.report("motor-1", "temperature", 50);
  EXPECT_EQ(d.line("line-1"), "10.5 50 50 50 4");
  d.report("motor-2", "current", 7.25);
  d.report("motor-2", "temperature", 70);
  EXPECT_EQ(d.line("line-1"), "17.75 60 70 50 4");
  d.report("motor-3", "temperature", 60);
  d.report("motor-4", "temperature", 40);
  EXPECT_EQ(d.line("line-1"), "17.75 55 70 40 4");
  d.report("motor-2", "temperature", 65);  // the max part changes: the multiset keeps the rest
  EXPECT_EQ(d.line("line-1"), "17.75 53.75 65 40 4");
  d.report("motor-1", "current", 2);
  EXPECT_EQ(d.line("line-1"), "9.25 53.75 65 40 4");
  // motor-6 is in no line, motor-5 only in line-2.
  d.report("motor-6", "temperature", 99);
  d.report("motor-5", "temperature", 30);
  d.report("motor-5", "current", 1.5);
  EXPECT_EQ(d.line("line-1"), "9.25 53.75 65 40 4");
  EXPECT_EQ(d.line("line-2"), "1.5 30 30 30 1");
  EXPECT_EQ(d.metric("derived_part_reads_total"), reads_at_start)
      << "value changes never read other parts";

  // A part removed: motor-2 (the max, 65; current 7.25) leaves line-1.
  ASSERT_TRUE(d.rt->graph().unrelate("line-1", "contains-motor-2"));
  EXPECT_EQ(d.line("line-1"), "2 50 60 40 3");
  d.report("motor-2", "temperature", 200);  // no longer a part of line-1
  EXPECT_EQ(d.line("line-1"), "2 50 60 40 3");
  // A part added: motor-5 (also in line-2) joins line-1 with its current values.
  ASSERT_TRUE(d.rt->graph().relate({"line-1", "contains", "motor-5", "", {}}));
  EXPECT_EQ(d.line("line-1"), "3.5 45 60 30 4");
  d.report("motor-5", "temperature", 80);  // both lines follow
  EXPECT_EQ(d.line("line-1"), "3.5 57.5 80 40 4");
  EXPECT_EQ(d.line("line-2"), "1.5 80 80 80 1");
  EXPECT_EQ(d.metric("derived_part_reads_total"), reads_at_start + 4)
      << "only the added part was read";
  // A part deleted (its relationships go with it).
  ASSERT_TRUE(d.rt->graph().remove("motor-4", true));
  EXPECT_EQ(d.line("line-1"), "3.5 63.333333333333336 80 50 3");

  // The derived values are ordinary reported values: queries see them.
  twin::QueryEngine q(d.rt->graph());
  auto rows = q.run(
      "SELECT T.$dtId AS id, T.maxTemperature AS max FROM DIGITALTWINS T "
      "WHERE IS_OF_MODEL(T, 'dtmi:test:derived:Line;1') AND T.totalCurrent > 2");
  ASSERT_TRUE(rows) << rows.status().to_string();
  ASSERT_EQ(rows->rows.size(), 1u);
  EXPECT_EQ(rows->rows[0], "{\"id\":\"line-1\",\"max\":80}");
  auto lines = q.run(
      "SELECT line FROM DIGITALTWINS MATCH (line)-[:contains]->(m) WHERE m.$dtId = 'motor-5' "
      "AND line.avgTemperature > 60");
  ASSERT_TRUE(lines) << lines.status().to_string();
  ASSERT_EQ(lines->rows.size(), 2u);
}

TEST(Derived, ValuesAreCorrectAfterARestartOnRocksdb) {
  testing::TempDir db;
  const std::string storage = "  - {name: store, kind: storage, library: rocksdb, config: {path: " +
                              (db.path() / "db").string() + "}}\n";
  {
    Deployment d;
    ASSERT_TRUE(d.start(kDerived, storage)) << d.error;
    d.report("motor-1", "temperature", 50);
    d.report("motor-2", "temperature", 70);
    d.report("motor-3", "current", 4);
    ASSERT_TRUE(d.rt->graph().unrelate("line-1", "contains-motor-4"));
    EXPECT_EQ(d.line("line-1"), "4 60 70 50 3");
    d.rt->stop();
  }
  Deployment d;
  ASSERT_TRUE(d.start(kDerived, storage)) << d.error;
  // Rebuilt from the stored twins. The deployment still declares line-1 -> motor-4, so the
  // runtime re-created that relationship at start: the rebuild sees 4 motors and writes only
  // the count (motor-4 has no values).
  EXPECT_EQ(d.line("line-1"), "4 60 70 50 4");
  EXPECT_EQ(d.metric("derived_writes_total"), 1);
  // The rebuilt state keeps following changes.
  d.report("motor-2", "temperature", 40);
  EXPECT_EQ(d.line("line-1"), "4 45 50 40 4");
  d.report("motor-4", "temperature", 10);
  EXPECT_EQ(d.line("line-1"), "4 33.333333333333336 50 10 4");
  ASSERT_TRUE(d.rt->graph().unrelate("line-1", "contains-motor-1"));
  EXPECT_EQ(d.line("line-1"), "4 25 40 10 3");
}

TEST(Derived, ConfigIsCheckedAgainstTheModelsWithLocations) {
  auto error_of = [](const std::string& item) {
    Deployment d;
    EXPECT_FALSE(d.start("derived:\n  - " + item + "\n"));
    return d.error;
  };
  std::string e = error_of(
      "{on: \"dtmi:test:derived:Line;1\", property: totalPower, aggregate: sum, over: contains, "
      "of: current}");
  EXPECT_NE(e.find("'totalPower' is not a property or telemetry of dtmi:test:derived:Line;1"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("deploy.yaml:14:"), std::string::npos) << e;
  e = error_of(
      "{on: \"dtmi:test:derived:Line;1\", property: totalCurrent, aggregate: sum, over: feeds, "
      "of: current}");
  EXPECT_NE(e.find("'feeds' is not a relationship of"), std::string::npos) << e;
  e = error_of(
      "{on: \"dtmi:test:derived:Line;1\", property: totalCurrent, aggregate: sum, over: contains, "
      "of: serialNumber}");
  EXPECT_NE(e.find("'serialNumber' is not numeric in dtmi:example:factory:Motor;1"),
            std::string::npos)
      << e;
  e = error_of(
      "{on: \"dtmi:test:derived:Line;1\", property: totalCurrent, aggregate: median, over: "
      "contains, of: current}");
  EXPECT_NE(e.find("aggregate must be one of"), std::string::npos) << e;
  e = error_of(
      "{on: \"dtmi:test:derived:Line;1\", property: totalCurrent, aggregate: sum, over: "
      "contains}");
  EXPECT_NE(e.find("'of' (the parts' value) is required"), std::string::npos) << e;
  e = error_of(
      "{on: \"dtmi:test:derived:Line;1\", property: totalCurrent, aggregate: sum, over: "
      "contains, of: current, weight: 2}");
  EXPECT_NE(e.find("unknown key 'weight'"), std::string::npos) << e;
}

TEST(Derived, SampleYamlValidates) {
  auto load = runtime::load_deployment(std::filesystem::path(DOPPEL_DERIVED_DIR) / "sample.yaml");
  ASSERT_TRUE(load.ok());
  runtime::RuntimeOptions o;
  o.start_plugins = false;
  o.log = std::make_unique<runtime::Log>(
      "test", runtime::LogOptions{sdk::LogLevel::kError, runtime::LogFormat::kText});
  runtime::Runtime rt(std::move(*load.deployment), load.models, std::move(o));
  auto checked = rt.start();
  EXPECT_TRUE(checked) << checked.status().to_string();
}

}  // namespace
}  // namespace doppel::plugins::derived
