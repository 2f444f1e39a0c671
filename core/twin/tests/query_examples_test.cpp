// The per-scope examples of docs/query.md, run against the models in examples/models.
#include <gtest/gtest.h>

#include <filesystem>

#include "doppel/model/loader.hpp"
#include "doppel/twin/property_index.hpp"
#include "doppel/twin/query.hpp"
#include "doppel/twin/twin_graph.hpp"

namespace doppel::twin {
namespace {

const std::filesystem::path kExamples =
    std::filesystem::path(DOPPEL_SOURCE_DIR) / "examples/models";

constexpr const char* kMotor = "dtmi:example:factory:Motor;1";
constexpr const char* kLine = "dtmi:example:factory:ProductionLine;1";
constexpr const char* kTurbine = "dtmi:example:energy:WindTurbine;1";
constexpr const char* kFarm = "dtmi:example:energy:WindFarm;1";

class FakeClock : public sdk::Clock {
 public:
  sdk::Timestamp now() const noexcept override { return now_; }
  sdk::Timestamp now_ = 1'700'000'000'000'000'000;
};

class ScopeExamples : public ::testing::Test {
 protected:
  void SetUp() override {
    model::ModelLoader loader;
    loader.add_path(kExamples);
    auto r = loader.load();
    ASSERT_TRUE(r.ok());
    graph_ = std::make_unique<TwinGraph>(r.registry, TwinGraphOptions{2, &clock_});
    indexes_ = std::make_unique<PropertyIndexes>(*graph_);
    graph_->add_listener(indexes_.get());
    ASSERT_TRUE(indexes_->add(kMotor, "bearing/temperature"));
    ASSERT_TRUE(indexes_->add(kTurbine, "windSpeed"));

    // Process: two lines of motors. Component: each motor's bearing.
    for (const char* line : {"line-7", "line-8"}) {
      ASSERT_TRUE(graph_->create({line, kLine, {{"name", Value::string(line)}}, 0}));
      for (int i = 1; i <= 3; ++i) {
        std::string id = std::string(line) + "-motor-" + std::to_string(i);
        ASSERT_TRUE(graph_->create({id, kMotor, {{"state", Value::string("running")}}, 0}));
        ASSERT_TRUE(graph_->relate({line, "contains", id, "", {{"position", Value::integer(i)}}}));
        SlotWrite t[] = {{"bearing/temperature", Value::number(60.0 + 10 * i)}};
        ASSERT_TRUE(graph_->report(id, t));
      }
    }
    SlotWrite fault[] = {{"state", Value::string("fault")}};
    ASSERT_TRUE(graph_->report("line-8-motor-2", fault));

    // System: a farm of turbines. Asset: each turbine.
    ASSERT_TRUE(graph_->create({"farm-1", kFarm, {}, 0}));
    for (int i = 1; i <= 4; ++i) {
      std::string id = "turbine-" + std::to_string(i);
      ASSERT_TRUE(graph_->create({id, kTurbine, {}, 5 * sdk::kMinute}));
      ASSERT_TRUE(graph_->relate({"farm-1", "hasTurbine", id, "", {}}));
      SlotWrite t[] = {{"windSpeed", Value::number(10.0 + i)},
                       {"power", Value::number(i == 4 ? 50.0 : 900.0 + i)}};
      ASSERT_TRUE(graph_->report(id, t));
    }
    SlotWrite pitch[] = {{"pitchAngle", Value::number(4.5)}};
    ASSERT_TRUE(graph_->desire("turbine-2", pitch));
    clock_.now_ += 10 * sdk::kMinute;
    SlotWrite fresh[] = {{"power", Value::number(910.0)}};
    ASSERT_TRUE(graph_->report("turbine-1", fresh));
    graph_->update_staleness(clock_.now());  // turbines 2-4 silent for 10 min: stale
  }

  QueryResult run(std::string_view q) {
    QueryEngine engine(*graph_, indexes_.get());
    auto r = engine.run(q);
    EXPECT_TRUE(r) << q << "\n" << r.status().to_string();
    return r ? std::move(*r) : QueryResult{};
  }

  FakeClock clock_;
  std::unique_ptr<TwinGraph> graph_;
  std::unique_ptr<PropertyIndexes> indexes_;
};

using Rows = std::vector<std::string>;

TEST_F(ScopeExamples, ComponentHotBearings) {
  auto r =
      run("SELECT T.$dtId, T.bearing.temperature AS bearingTemp FROM DIGITALTWINS T "
          "WHERE IS_OF_MODEL(T, 'dtmi:example:factory:Motor;1') AND T.bearing.temperature > 80");
  EXPECT_EQ(r.stats.plan, "index:dtmi:example:factory:Motor;1/bearing/temperature");
  EXPECT_EQ(r.rows, (Rows{R"({"$dtId":"line-7-motor-3","bearingTemp":90.0})",
                          R"({"$dtId":"line-8-motor-3","bearingTemp":90.0})"}));
}

TEST_F(ScopeExamples, AssetUnderperformingTurbinesAndPendingSettings) {
  auto r =
      run("SELECT T.$dtId, T.windSpeed, T.power FROM DIGITALTWINS T "
          "WHERE IS_OF_MODEL(T, 'dtmi:example:energy:WindTurbine;1') AND T.windSpeed >= 12 "
          "AND T.power < 100");
  EXPECT_EQ(r.stats.plan, "index:dtmi:example:energy:WindTurbine;1/windSpeed");
  EXPECT_EQ(r.rows, Rows{R"({"$dtId":"turbine-4","windSpeed":14.0,"power":50.0})"});
  EXPECT_EQ(run("SELECT T.$dtId, T.$metadata.pitchAngle.desiredValue AS wanted FROM DIGITALTWINS "
                "T WHERE T.$metadata.pitchAngle.syncStatus = 'pending'")
                .rows,
            Rows{R"({"$dtId":"turbine-2","wanted":4.5})"});
}

TEST_F(ScopeExamples, SystemFarmPowerAndStaleTurbines) {
  EXPECT_EQ(run("SELECT SUM(t.power) AS farmPower, COUNT() AS turbines FROM DIGITALTWINS "
                "MATCH (f)-[:hasTurbine]->(t) WHERE f.$dtId = 'farm-1'")
                .rows,
            Rows{R"({"farmPower":2765.0,"turbines":4})"});
  EXPECT_EQ(
      run("SELECT t.$dtId FROM DIGITALTWINS MATCH (f)-[:hasTurbine]->(t) "
          "WHERE f.$dtId = 'farm-1' AND t.$metadata.$stale = true")
          .rows,
      (Rows{R"({"$dtId":"turbine-2"})", R"({"$dtId":"turbine-3"})", R"({"$dtId":"turbine-4"})"}));
}

TEST_F(ScopeExamples, ProcessFaultsOnEveryLine) {
  // Unanchored: every line, no twin id given.
  EXPECT_EQ(run("SELECT line.$dtId AS line, m.$dtId AS motor, r.position FROM DIGITALTWINS "
                "MATCH (line)-[r:contains]->(m) WHERE m.state = 'fault'")
                .rows,
            Rows{R"({"line":"line-8","motor":"line-8-motor-2","position":2})"});
  // The same, anchored, as ADT writes it.
  EXPECT_EQ(run("SELECT M.$dtId FROM DIGITALTWINS L JOIN M RELATED L.contains "
                "WHERE L.$dtId = 'line-8' AND M.state = 'fault'")
                .rows,
            Rows{R"({"$dtId":"line-8-motor-2"})"});
  EXPECT_EQ(run("SELECT AVG(M.bearing.temperature) AS avgBearing, MAX(M.bearing.temperature) "
                "FROM DIGITALTWINS L JOIN M RELATED L.contains WHERE L.$dtId = 'line-7'")
                .rows,
            Rows{R"({"avgBearing":80.0,"MAX":90.0})"});
}

}  // namespace
}  // namespace doppel::twin
