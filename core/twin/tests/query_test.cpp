#include "doppel/twin/query.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <random>
#include <set>
#include <thread>

#include "doppel/model/loader.hpp"
#include "doppel/twin/property_index.hpp"
#include "doppel/twin/twin_graph.hpp"

namespace doppel::twin {
namespace {

constexpr const char* kModels = R"([
 {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:test:Machine;1", "@type": "Interface",
  "contents": [
    {"@type": "Property", "name": "serial", "schema": "string"},
    {"@type": "Property", "name": "speed", "schema": "double", "writable": true},
    {"@type": "Property", "name": "mode", "schema": {"@type": "Enum", "valueSchema": "string",
       "enumValues": [{"name": "auto", "enumValue": "auto"}, {"name": "manual", "enumValue": "manual"}]}, "writable": true},
    {"@type": "Property", "name": "limits", "schema": {"@type": "Object", "fields": [{"name": "max", "schema": "double"}, {"name": "label", "schema": "string"}]}},
    {"@type": "Property", "name": "enabled", "schema": "boolean"},
    {"@type": "Telemetry", "name": "temperature", "schema": "double"},
    {"@type": "Telemetry", "name": "count", "schema": "integer"},
    {"@type": "Component", "name": "bearing", "schema": "dtmi:test:Bearing;1"}]},
 {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:test:Bearing;1", "@type": "Interface",
  "contents": [{"@type": "Telemetry", "name": "temperature", "schema": "double"},
               {"@type": "Property", "name": "wear", "schema": "double"}]},
 {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:test:Pump;1", "@type": "Interface", "extends": "dtmi:test:Machine;1"},
 {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:test:Line;1", "@type": "Interface",
  "contents": [
    {"@type": "Property", "name": "name", "schema": "string"},
    {"@type": "Relationship", "name": "contains", "target": "dtmi:test:Machine;1",
     "properties": [{"@type": "Property", "name": "position", "schema": "integer"}]},
    {"@type": "Relationship", "name": "feeds", "target": "dtmi:test:Line;1"}]},
 {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:test:Plant;1", "@type": "Interface",
  "contents": [
    {"@type": "Property", "name": "name", "schema": "string"},
    {"@type": "Relationship", "name": "hasLine", "target": "dtmi:test:Line;1"}]}
])";

constexpr const char* kMachine = "dtmi:test:Machine;1";
constexpr const char* kPump = "dtmi:test:Pump;1";
constexpr const char* kLine = "dtmi:test:Line;1";
constexpr const char* kPlant = "dtmi:test:Plant;1";

class FakeClock : public sdk::Clock {
 public:
  sdk::Timestamp now() const noexcept override { return now_.load(); }
  std::atomic<sdk::Timestamp> now_{1'700'000'000'000'000'000};  // 2023-11-14T22:13:20Z
};

std::shared_ptr<const model::ModelRegistry> load_models() {
  model::ModelLoader loader;
  loader.add_text("models.json", kModels);
  auto r = loader.load();
  EXPECT_TRUE(r.ok());
  return r.registry;
}

class QueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    graph_ = std::make_unique<TwinGraph>(load_models(), TwinGraphOptions{4, &clock_});
    indexes_ = std::make_unique<PropertyIndexes>(*graph_);
    graph_->add_listener(indexes_.get());
  }

  void create(const std::string& id, const std::string& model, std::vector<SlotWrite> props = {}) {
    CreateTwin spec;
    spec.id = id;
    spec.model = model;
    spec.properties = std::move(props);
    Status s = graph_->create(spec);
    ASSERT_TRUE(s) << s.to_string();
  }
  void report(const std::string& id, std::vector<SlotWrite> writes) {
    auto v = graph_->report(id, writes);
    ASSERT_TRUE(v) << v.status().to_string();
  }
  void relate(const std::string& source, const std::string& name, const std::string& target,
              std::vector<std::pair<std::string, Value>> props = {}, std::string id = {}) {
    Status s = graph_->relate({source, name, target, std::move(id), std::move(props)});
    ASSERT_TRUE(s) << s.to_string();
  }

  QueryResult run(std::string_view q, QueryOptions options = {}, bool use_indexes = true) {
    QueryEngine engine(*graph_, use_indexes ? indexes_.get() : nullptr);
    auto r = engine.run(q, options);
    EXPECT_TRUE(r) << q << "\n" << r.status().to_string();
    return r ? std::move(*r) : QueryResult{};
  }
  std::vector<std::string> rows(std::string_view q) { return run(q).rows; }
  Status error(std::string_view q, QueryOptions options = {}) {
    QueryEngine engine(*graph_, indexes_.get());
    auto r = engine.run(q, options);
    EXPECT_FALSE(r) << q;
    return r.status();
  }

  // A small plant: plant -hasLine-> line-7 -contains-> m1, m2, p1; line-7 -feeds-> line-8.
  void build_plant() {
    create("plant", kPlant, {{"name", Value::string("Plant")}});
    create("line-7", kLine, {{"name", Value::string("Line 7")}});
    create("line-8", kLine, {{"name", Value::string("Line 8")}});
    create("m1", kMachine, {{"serial", Value::string("SN-1")}, {"speed", Value::number(1200)}});
    create("m2", kMachine, {{"serial", Value::string("SN-2")}, {"speed", Value::number(800)}});
    create("p1", kPump, {{"serial", Value::string("PX-9")}, {"speed", Value::integer(300)}});
    create("m3", kMachine, {{"serial", Value::string("SN-3")}});
    relate("plant", "hasLine", "line-7");
    relate("plant", "hasLine", "line-8");
    relate("line-7", "contains", "m1", {{"position", Value::integer(1)}});
    relate("line-7", "contains", "m2", {{"position", Value::integer(2)}});
    relate("line-7", "contains", "p1", {{"position", Value::integer(3)}});
    relate("line-8", "contains", "m3", {{"position", Value::integer(1)}});
    relate("line-7", "feeds", "line-8");
  }

  FakeClock clock_;
  std::unique_ptr<TwinGraph> graph_;
  std::unique_ptr<PropertyIndexes> indexes_;
};

std::vector<std::string> ids_of(const std::vector<std::string>& rows) {
  // Rows of SELECT T.$dtId: {"$dtId":"x"}.
  std::vector<std::string> out;
  for (const std::string& r : rows) {
    auto p = r.find("\"$dtId\":\"");
    if (p == std::string::npos) {
      out.push_back("?");
      continue;
    }
    p += 9;
    out.push_back(r.substr(p, r.find('"', p) - p));
  }
  return out;
}

double number_after(const std::string& row, const std::string& key) {
  auto p = row.find("\"" + key + "\":");
  if (p == std::string::npos) return NAN;
  return std::strtod(row.c_str() + p + key.size() + 3, nullptr);
}

// ---- syntax and semantic errors -----------------------------------------------------------------

TEST(QueryParse, SyntaxErrorsNameThePositionAndWhatToDo) {
  auto r = parse_query("SELECT T FROM DIGITALTWINS T WHERE");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().where(), "line 1, column 35");
  EXPECT_NE(r.status().message().find("expected a value"), std::string::npos);

  r = parse_query("SELECT T DIGITALTWINS T WHERE T.x = 1");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().to_string().substr(0, 50),
            "line 1, column 10: expected FROM, found 'DIGITALTW");
  EXPECT_NE(r.status().message().find("SELECT <columns> FROM DIGITALTWINS"), std::string::npos);

  r = parse_query("SELECT T\nFROM DIGITALTWINS T\nWHERE T.x = 'open");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().where(), "line 3, column 13");
  EXPECT_NE(r.status().message().find("unterminated string"), std::string::npos);

  r = parse_query("SELECT T FROM DIGITALTWINS T WHERE T.x = 1 T.y = 2");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().where(), "line 1, column 44");
  EXPECT_NE(r.status().message().find("combine conditions with AND / OR"), std::string::npos);

  r = parse_query("SELECT T FROM DIGITALTWINS T WHERE T.x == 1");
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("write '=' to compare"), std::string::npos);

  r = parse_query("SELECT T FROM DIGITALTWINS T WHERE T.x # 1");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().to_string(), "line 1, column 40: unexpected character '#'");

  r = parse_query("SELECT TOP(0) T FROM DIGITALTWINS T");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().where(), "line 1, column 12");

  r = parse_query("SELECT T FROM RELATIONSHIPS T");
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("JOIN ... RELATED"), std::string::npos);

  r = parse_query("SELECT a FROM DIGITALTWINS MATCH (a)-[:contains]-(b)");
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("need a direction"), std::string::npos);

  r = parse_query("SELECT a FROM DIGITALTWINS MATCH (a:Machine)-[:contains]->(b)");
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("IS_OF_MODEL(a"), std::string::npos);

  std::string deep = "SELECT T FROM DIGITALTWINS T WHERE " + std::string(200, '(') + "T.x = 1" +
                     std::string(200, ')');
  r = parse_query(deep);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("nested more than"), std::string::npos);
}

TEST(QueryParse, SemanticErrors) {
  auto msg = [](std::string_view q) {
    auto r = parse_query(q);
    EXPECT_FALSE(r) << q;
    return r ? std::string() : r.status().to_string();
  };
  EXPECT_EQ(msg("SELECT X FROM DIGITALTWINS T"),
            "line 1, column 8: unknown alias 'X'; the query names: T");
  EXPECT_EQ(msg("SELECT T FROM DIGITALTWINS T WHERE X.speed > 1"),
            "line 1, column 36: unknown alias 'X'; the query names: T");
  EXPECT_NE(msg("SELECT T, COUNT() FROM DIGITALTWINS T").find("cannot be mixed"),
            std::string::npos);
  EXPECT_NE(msg("SELECT TOP(3) COUNT() FROM DIGITALTWINS T").find("TOP cannot"), std::string::npos);
  EXPECT_NE(msg("SELECT T.temperature, T.bearing.temperature FROM DIGITALTWINS T")
                .find("two columns are named 'temperature'; name one with AS"),
            std::string::npos);
  EXPECT_NE(msg("SELECT a FROM DIGITALTWINS MATCH (a)-[r:contains*1..3]->(b)")
                .find("cannot stand for several hops"),
            std::string::npos);
  EXPECT_NE(msg("SELECT a FROM DIGITALTWINS MATCH (a)-[:contains*3..2]->(b)").find("is empty"),
            std::string::npos);
  EXPECT_NE(msg("SELECT a FROM DIGITALTWINS MATCH (a)-[:contains*1..11]->(b)").find("at most 10"),
            std::string::npos);
  EXPECT_NE(msg("SELECT CT FROM DIGITALTWINS T JOIN CT RELATED T.contains WHERE "
                "IS_OF_MODEL('dtmi:test:Machine;1')")
                .find("needs the twin's alias"),
            std::string::npos);
  EXPECT_NE(msg("SELECT CT FROM DIGITALTWINS T JOIN CT RELATED T.contains R WHERE "
                "IS_OF_MODEL(R, 'dtmi:test:Machine;1')")
                .find("is a relationship"),
            std::string::npos);
  EXPECT_NE(msg("SELECT T FROM DIGITALTWINS T JOIN T RELATED T.contains").find("already an alias"),
            std::string::npos);
  EXPECT_NE(msg("SELECT T FROM DIGITALTWINS T WHERE COUNT() > 1").find("SELECT only"),
            std::string::npos);
  EXPECT_NE(msg("SELECT T FROM DIGITALTWINS T WHERE FOO(T.x)").find("unknown function 'FOO'"),
            std::string::npos);
  EXPECT_NE(msg("SELECT SUM(T) FROM DIGITALTWINS T").find("needs a property"), std::string::npos);
  EXPECT_NE(msg("SELECT T FROM DIGITALTWINS T WHERE T = 1").find("is a twin"), std::string::npos);
}

TEST(QueryParse, ParsesEverySupportedForm) {
  for (const char* q : {
           "SELECT * FROM DIGITALTWINS",
           "select * from digitaltwins where is_of_model('dtmi:a:B;1')",
           "SELECT T FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:a:B;1', exact)",
           "SELECT T.$dtId, T.temperature, T.bearing.temperature AS bt FROM DIGITALTWINS T",
           "SELECT TOP(10) T FROM DIGITALTWINS T",
           "SELECT COUNT() FROM DIGITALTWINS T WHERE T.x > 1",
           "SELECT COUNT(), SUM(T.x), AVG(T.x) AS a, MIN(T.x), MAX(T.x) FROM DIGITALTWINS T",
           "SELECT T FROM DIGITALTWINS T WHERE T.x >= -1.5e3 AND (T.y <> 'a' OR NOT T.z < 2)",
           "SELECT T FROM DIGITALTWINS T WHERE T.x IN ['a', 'b'] AND T.y NOT IN [1, 2.5, true]",
           "SELECT T FROM DIGITALTWINS T WHERE IS_DEFINED(T.x) AND IS_NULL(T.y) AND IS_NUMBER(T.z)"
           " AND IS_STRING(T.a) AND IS_BOOL(T.b) AND STARTSWITH(T.c, 'p') AND ENDSWITH(T.c, 's')"
           " AND CONTAINS(T.c, 'x')",
           "SELECT CT FROM DIGITALTWINS T JOIN CT RELATED T.contains WHERE T.$dtId = 'line-7'",
           "SELECT CT, R FROM DIGITALTWINS T JOIN CT RELATED T.contains R WHERE R.position > 1",
           "SELECT a, b FROM DIGITALTWINS MATCH (a)-[:contains]->(b)",
           "SELECT a, c FROM DIGITALTWINS MATCH (a)-[:hasLine]->(b)-[r:contains]->(c)",
           "SELECT a, b FROM DIGITALTWINS MATCH (a)-[:feeds*1..3]->(b)",
           "SELECT a, b FROM DIGITALTWINS MATCH (a)-[*2]->(b)",
           "SELECT a, b FROM DIGITALTWINS MATCH (a)-[]->(b)",
           "SELECT a, b FROM DIGITALTWINS MATCH (a)<-[:contains]-(b)",
           "SELECT a FROM DIGITALTWINS MATCH (a)-[:x]->()-[:y]->(a)",
           "SELECT T FROM DIGITALTWINS T WHERE T.$metadata.speed.syncStatus = 'pending' AND "
           "T.$metadata.$stale = false AND T.$metadata.$model = 'dtmi:a:B;1'",
       }) {
    auto r = parse_query(q);
    EXPECT_TRUE(r) << q << "\n" << r.status().to_string();
  }
}

// ---- rows ---------------------------------------------------------------------------------------

TEST_F(QueryTest, SelectStarReturnsTwinsAsAdtDoes) {
  create("m1", kMachine, {{"serial", Value::string("SN-1")}});
  EXPECT_EQ(rows("SELECT * FROM DIGITALTWINS"),
            std::vector<std::string>{
                R"({"$dtId":"m1","$etag":"W/\"1\"","$metadata":{"$model":"dtmi:test:Machine;1",)"
                R"("$stale":false,"serial":{"lastUpdateTime":"2023-11-14T22:13:20.0000000Z"}},)"
                R"("serial":"SN-1","bearing":{"$metadata":{}}})"});
  clock_.now_ += 1'500'000'000;  // 1.5 s
  report("m1", {{"temperature", Value::number(71.5)}, {"bearing/temperature", Value::integer(40)}});
  SlotWrite want[] = {{"speed", Value::number(900)}};
  ASSERT_TRUE(graph_->desire("m1", want));
  EXPECT_EQ(
      rows("SELECT T FROM DIGITALTWINS T"),
      std::vector<std::string>{
          R"({"T":{"$dtId":"m1","$etag":"W/\"3\"","$metadata":{"$model":"dtmi:test:Machine;1",)"
          R"("$stale":false,"serial":{"lastUpdateTime":"2023-11-14T22:13:20.0000000Z"},)"
          R"("speed":{"desiredValue":900.0,"desiredVersion":1,"syncStatus":"pending"},)"
          R"("temperature":{"lastUpdateTime":"2023-11-14T22:13:21.5000000Z"}},"serial":"SN-1",)"
          R"("temperature":71.5,"bearing":{"$metadata":{"temperature":{"lastUpdateTime":)"
          R"("2023-11-14T22:13:21.5000000Z"}},"temperature":40}}})"});
}

TEST_F(QueryTest, ProjectionsUseThePropertyNameOrAlias) {
  build_plant();
  report("m1", {{"bearing/temperature", Value::number(55.5)}});
  EXPECT_EQ(
      rows("SELECT T.$dtId, T.speed, T.bearing.temperature AS bt, T.serial FROM "
           "DIGITALTWINS T WHERE T.$dtId IN ['m1', 'm3']"),
      (std::vector<std::string>{R"({"$dtId":"m1","speed":1200.0,"bt":55.5,"serial":"SN-1"})",
                                R"({"$dtId":"m3","serial":"SN-3"})"}));  // undefined: left out
  // Without an alias, properties name the only collection.
  EXPECT_EQ(rows("SELECT $dtId FROM DIGITALTWINS WHERE serial = 'SN-2'"),
            std::vector<std::string>{R"({"$dtId":"m2"})"});
  // A component as a whole, the model and the staleness.
  EXPECT_EQ(rows("SELECT T.bearing, T.$metadata.$model AS model, T.$metadata.$stale AS stale "
                 "FROM DIGITALTWINS T WHERE T.$dtId = 'm1'"),
            std::vector<std::string>{R"({"bearing":{"$metadata":{"temperature":{"lastUpdateTime":)"
                                     R"("2023-11-14T22:13:20.0000000Z"}},"temperature":55.5},)"
                                     R"("model":"dtmi:test:Machine;1","stale":false})"});
}

TEST_F(QueryTest, ComparisonsAndLogic) {
  build_plant();
  auto ids = [&](std::string_view where) {
    return ids_of(rows("SELECT T.$dtId FROM DIGITALTWINS T WHERE " + std::string(where)));
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids("T.speed = 800"), V{"m2"});
  EXPECT_EQ(ids("T.speed = 300"), V{"p1"});  // integer twin value, integer literal
  EXPECT_EQ(ids("T.speed = 300.0"), V{"p1"});
  EXPECT_EQ(ids("T.speed != 800"), (V{"m1", "p1"}));  // m3 has no speed: undefined, left out
  EXPECT_EQ(ids("T.speed <> 800"), (V{"m1", "p1"}));
  EXPECT_EQ(ids("T.speed < 800"), V{"p1"});
  EXPECT_EQ(ids("T.speed <= 800"), (V{"m2", "p1"}));
  EXPECT_EQ(ids("T.speed > 800"), V{"m1"});
  EXPECT_EQ(ids("T.speed >= 800"), (V{"m1", "m2"}));
  EXPECT_EQ(ids("800 < T.speed"), V{"m1"});
  EXPECT_EQ(ids("T.serial > 'SN-1'"), (V{"m2", "m3"}));
  EXPECT_EQ(ids("T.serial = 800"), V{});  // different types never compare
  EXPECT_EQ(ids("T.speed > 500 AND T.serial = 'SN-1'"), V{"m1"});
  EXPECT_EQ(ids("T.speed < 500 OR T.serial = 'SN-3'"), (V{"m3", "p1"}));
  EXPECT_EQ(ids("NOT T.speed > 500"), V{"p1"});  // NOT undefined stays undefined (m3)
  EXPECT_EQ(ids("NOT (T.speed > 500 OR T.speed < 400)"), V{});
  EXPECT_EQ(ids("(T.speed > 500 OR T.speed < 400) AND NOT T.$dtId = 'm1'"), (V{"m2", "p1"}));
  EXPECT_EQ(ids("T.serial IN ['SN-1', 'PX-9']"), (V{"m1", "p1"}));
  EXPECT_EQ(ids("T.serial NOT IN ['SN-1', 'PX-9']"), (V{"m2", "m3"}));
  EXPECT_EQ(ids("T.speed IN [300, 800]"), (V{"m2", "p1"}));
  EXPECT_EQ(ids("T.name = 'Line 7'"), V{"line-7"});
  EXPECT_EQ(ids("T.$dtId = 'nope'"), V{});
  EXPECT_EQ(ids("1 = 1 AND T.$dtId = 'm2'"), V{"m2"});
  EXPECT_EQ(ids("T.speed<-1"), V{});  // '<' then -1, not an incoming arrow
  EXPECT_EQ(ids("T.speed>-1 AND T.serial = \"SN-1\""), V{"m1"});  // double quotes too
}

TEST_F(QueryTest, FunctionsAndMetadata) {
  build_plant();
  report("m1", {{"limits", Value::json(R"({"max": 95.5, "label": "hot\nzone"})")},
                {"enabled", Value::boolean(true)},
                {"count", Value::integer(7)}});
  SlotWrite want[] = {{"mode", Value::string("manual")}};
  ASSERT_TRUE(graph_->desire("m2", want));
  auto ids = [&](std::string_view where) {
    return ids_of(rows("SELECT T.$dtId FROM DIGITALTWINS T WHERE " + std::string(where)));
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids("IS_DEFINED(T.speed)"), (V{"m1", "m2", "p1"}));
  EXPECT_EQ(ids("NOT IS_DEFINED(T.speed) AND IS_OF_MODEL(T, 'dtmi:test:Machine;1')"), V{"m3"});
  EXPECT_EQ(ids("IS_NUMBER(T.count)"), V{"m1"});
  EXPECT_EQ(ids("IS_STRING(T.serial) AND STARTSWITH(T.serial, 'PX')"), V{"p1"});
  EXPECT_EQ(ids("IS_BOOL(T.enabled) AND T.enabled"), V{"m1"});
  EXPECT_EQ(ids("T.enabled = true"), V{"m1"});
  EXPECT_EQ(ids("IS_NULL(T.speed)"), V{});
  EXPECT_EQ(ids("IS_OBJECT(T.limits)"), V{"m1"});
  EXPECT_EQ(ids("ENDSWITH(T.serial, '-2')"), V{"m2"});
  EXPECT_EQ(ids("CONTAINS(T.name, 'ine 8')"), V{"line-8"});
  EXPECT_EQ(ids("CONTAINS(T.speed, '8')"), V{});  // not a string: undefined
  EXPECT_EQ(ids("T.limits.max > 90 AND T.limits.label = 'hot\\nzone'"), V{"m1"});
  EXPECT_EQ(ids("T.$metadata.$model = 'dtmi:test:Pump;1'"), V{"p1"});
  EXPECT_EQ(ids("T.$metadata.mode.syncStatus = 'pending'"), V{"m2"});
  EXPECT_EQ(ids("T.$metadata.mode.desiredValue = 'manual'"), V{"m2"});
  EXPECT_EQ(ids("T.$metadata.speed.syncStatus = 'none' AND T.speed > 1000"), V{"m1"});
  EXPECT_EQ(ids("T.$metadata.$stale = true"), V{});
  // Models: inheritance, exact, and the short form when there is one collection.
  EXPECT_EQ(ids("IS_OF_MODEL(T, 'dtmi:test:Machine;1')"), (V{"m1", "m2", "m3", "p1"}));
  EXPECT_EQ(ids("IS_OF_MODEL(T, 'dtmi:test:Machine;1', exact)"), (V{"m1", "m2", "m3"}));
  EXPECT_EQ(ids("IS_OF_MODEL(T, 'dtmi:test:Pump;1')"), V{"p1"});
  EXPECT_EQ(ids_of(rows("SELECT $dtId FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:test:Line;1')")),
            (V{"line-7", "line-8"}));
}

TEST_F(QueryTest, StaleTwins) {
  CreateTwin spec{"s1", kMachine, {}, 10 * sdk::kSecond};
  ASSERT_TRUE(graph_->create(spec));
  create("s2", kMachine);
  clock_.now_ += 60 * sdk::kSecond;
  graph_->update_staleness(clock_.now());
  EXPECT_EQ(ids_of(rows("SELECT T.$dtId FROM DIGITALTWINS T WHERE T.$metadata.$stale = true")),
            std::vector<std::string>{"s1"});
}

TEST_F(QueryTest, ModelAwareErrors) {
  build_plant();
  Status s = error("SELECT T FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:test:Motor;1')");
  EXPECT_EQ(s.where(), "line 1, column 51");
  EXPECT_NE(s.message().find("'dtmi:test:Motor;1' is not in the model set"), std::string::npos);
  s = error("SELECT b FROM DIGITALTWINS MATCH (a)-[:contain]->(b)");
  EXPECT_EQ(s.to_string(),
            "line 1, column 40: no model has a relationship named 'contain'; check the name (it is "
            "case-sensitive)");
}

// ---- relationships ------------------------------------------------------------------------------

TEST_F(QueryTest, JoinRelated) {
  build_plant();
  EXPECT_EQ(ids_of(rows("SELECT CT.$dtId FROM DIGITALTWINS T JOIN CT RELATED T.contains WHERE "
                        "T.$dtId = 'line-7'")),
            (std::vector<std::string>{"m1", "m2", "p1"}));
  auto r =
      run("SELECT CT.$dtId, R.position FROM DIGITALTWINS T JOIN CT RELATED T.contains R "
          "WHERE T.$dtId = 'line-7' AND R.position >= 2");
  EXPECT_EQ(r.stats.plan, "ids");
  EXPECT_EQ(r.rows, (std::vector<std::string>{R"({"$dtId":"m2","position":2})",
                                              R"({"$dtId":"p1","position":3})"}));
  EXPECT_EQ(rows("SELECT R FROM DIGITALTWINS T JOIN CT RELATED T.contains R WHERE "
                 "CT.$dtId = 'm3'"),
            std::vector<std::string>{
                R"({"R":{"$relationshipId":"contains-m3","$sourceId":"line-8",)"
                R"("$relationshipName":"contains","$targetId":"m3","position":1}})"});
  // Two JOINs: plant -> lines -> machines of a model.
  EXPECT_EQ(ids_of(rows("SELECT M.$dtId FROM DIGITALTWINS P JOIN L RELATED P.hasLine JOIN M "
                        "RELATED L.contains WHERE P.$dtId = 'plant' AND IS_OF_MODEL(M, "
                        "'dtmi:test:Pump;1')")),
            std::vector<std::string>{"p1"});
}

TEST_F(QueryTest, MatchWithoutAnchor) {
  build_plant();
  create("m9", kMachine, {{"speed", Value::number(2000)}});  // in no line
  using V = std::vector<std::string>;
  // Every line and its machines, with no twin id given.
  auto r =
      run("SELECT a.$dtId AS line, b.$dtId AS machine FROM DIGITALTWINS MATCH "
          "(a)-[:contains]->(b) WHERE b.speed > 500");
  EXPECT_EQ(r.stats.plan, "scan");
  EXPECT_EQ(r.rows,
            (V{R"({"line":"line-7","machine":"m1"})", R"({"line":"line-7","machine":"m2"})"}));
  // The first node's conditions choose the start: the model index.
  r =
      run("SELECT c.$dtId AS m FROM DIGITALTWINS MATCH (a)-[:hasLine]->(b)-[:contains]->(c) "
          "WHERE IS_OF_MODEL(a, 'dtmi:test:Plant;1')");
  EXPECT_EQ(r.stats.plan, "model:dtmi:test:Plant;1");
  // Ordered by the twins' ids along the pattern: (plant, line-7, ...) before (plant, line-8, ...).
  EXPECT_EQ(r.rows, (V{R"({"m":"m1"})", R"({"m":"m2"})", R"({"m":"p1"})", R"({"m":"m3"})"}));
  // Relationship variables and their properties.
  EXPECT_EQ(rows("SELECT b.$dtId AS m, r.position AS pos FROM DIGITALTWINS MATCH "
                 "(a)-[r:contains]->(b) WHERE r.position = 3"),
            V{R"({"m":"p1","pos":3})"});
  // Any relationship.
  EXPECT_EQ(rows("SELECT b.$dtId AS t FROM DIGITALTWINS MATCH (a)-[]->(b) WHERE a.$dtId = "
                 "'line-7'"),
            (V{R"({"t":"line-8"})", R"({"t":"m1"})", R"({"t":"m2"})", R"({"t":"p1"})"}));
  // Incoming.
  EXPECT_EQ(rows("SELECT b.$dtId AS line FROM DIGITALTWINS MATCH (a)<-[:contains]-(b) WHERE "
                 "a.$dtId = 'm3'"),
            V{R"({"line":"line-8"})"});
  // SELECT * names every twin and relationship.
  EXPECT_EQ(rows("SELECT * FROM DIGITALTWINS MATCH (a)-[r:feeds]->(b)").size(), 1u);
  EXPECT_NE(rows("SELECT * FROM DIGITALTWINS MATCH (a)-[r:feeds]->(b)")[0].find(
                R"("r":{"$relationshipId":"feeds-line-8")"),
            std::string::npos);
}

TEST_F(QueryTest, MatchHopRanges) {
  // A chain l0 -> l1 -> l2 -> l3 -> l4 plus a cycle back l4 -> l0.
  for (int i = 0; i < 5; ++i)
    create("l" + std::to_string(i), kLine);
  for (int i = 0; i < 4; ++i)
    relate("l" + std::to_string(i), "feeds", "l" + std::to_string(i + 1));
  relate("l4", "feeds", "l0");
  auto targets = [&](std::string_view pattern) {
    std::vector<std::string> out;
    for (const auto& r : rows("SELECT b.$dtId FROM DIGITALTWINS MATCH " + std::string(pattern) +
                              " WHERE a.$dtId = 'l0'"))
      out.push_back(ids_of({r})[0]);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(targets("(a)-[:feeds]->(b)"), V{"l1"});
  EXPECT_EQ(targets("(a)-[:feeds*2]->(b)"), V{"l2"});
  EXPECT_EQ(targets("(a)-[:feeds*1..3]->(b)"), (V{"l1", "l2", "l3"}));
  EXPECT_EQ(targets("(a)-[:feeds*..2]->(b)"), (V{"l1", "l2"}));
  // Each twin once, even when the cycle reaches it again (l0 at 5 hops).
  EXPECT_EQ(targets("(a)-[:feeds*]->(b)"), (V{"l0", "l1", "l2", "l3", "l4"}));
  EXPECT_EQ(targets("(a)<-[:feeds*1..2]-(b)"), (V{"l3", "l4"}));
  // Multi-hop chains with fixed hops, unanchored, and a cycle closing on a named node.
  EXPECT_EQ(rows("SELECT COUNT() FROM DIGITALTWINS MATCH (a)-[:feeds]->(b)-[:feeds]->(c)"),
            V{R"({"COUNT":5})"});
  EXPECT_EQ(rows("SELECT a.$dtId FROM DIGITALTWINS MATCH (a)-[:feeds*5]->(a)").size(), 5u);
  EXPECT_EQ(rows("SELECT a.$dtId FROM DIGITALTWINS MATCH (a)-[:feeds]->(b)-[:feeds]->(a)").size(),
            0u);
}

// ---- aggregates ---------------------------------------------------------------------------------

TEST_F(QueryTest, Aggregates) {
  build_plant();
  report("m1", {{"temperature", Value::number(70.5)}});
  report("m2", {{"temperature", Value::number(80)}});
  report("p1", {{"temperature", Value::integer(60)}});
  EXPECT_EQ(rows("SELECT COUNT() FROM DIGITALTWINS"), std::vector<std::string>{R"({"COUNT":7})"});
  EXPECT_EQ(
      rows("SELECT COUNT() AS machines, SUM(T.speed), AVG(T.temperature) AS avgTemp, "
           "MIN(T.temperature), MAX(T.speed) FROM DIGITALTWINS T WHERE "
           "IS_OF_MODEL(T, 'dtmi:test:Machine;1')"),
      std::vector<std::string>{R"({"machines":4,"SUM":2300.0,"avgTemp":70.16666666666667,"MIN":60,)"
                               R"("MAX":1200.0})"});
  EXPECT_EQ(rows("SELECT SUM(T.count), AVG(T.speed), MIN(T.speed), COUNT() FROM DIGITALTWINS T "
                 "WHERE T.$dtId = 'none'"),
            std::vector<std::string>{R"({"SUM":0,"AVG":null,"MIN":null,"COUNT":0})"});
  // Aggregates over traversals count rows.
  EXPECT_EQ(rows("SELECT COUNT() FROM DIGITALTWINS T JOIN CT RELATED T.contains"),
            std::vector<std::string>{R"({"COUNT":4})"});
}

TEST_F(QueryTest, ScopeHidesTwinsFromRowsConditionsHopsAndAggregates) {
  build_plant();
  // Sees line-7 and m1 only (as an API token with an ACL would).
  QueryOptions o;
  o.scope = [](std::string_view id, const model::Interface&) {
    return id == "line-7" || id == "m1";
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids_of(run("SELECT T.$dtId FROM DIGITALTWINS T", o).rows), (V{"line-7", "m1"}));
  EXPECT_EQ(run("SELECT COUNT() FROM DIGITALTWINS", o).rows, V{R"({"COUNT":2})"});
  // Hops do not reach m2 or p1; the row shows line-7 only, so a condition on a hidden twin
  // must not let it through either.
  EXPECT_EQ(run("SELECT b.$dtId AS m FROM DIGITALTWINS MATCH (a)-[:contains]->(b)", o).rows,
            V{R"({"m":"m1"})"});
  EXPECT_EQ(run("SELECT a.$dtId AS line FROM DIGITALTWINS MATCH (a)-[:contains]->(b) WHERE "
                "b.serial = 'SN-2'",
                o)
                .rows,
            V{});
  EXPECT_EQ(run("SELECT a.$dtId AS line FROM DIGITALTWINS MATCH (a)-[:contains]->(b) WHERE "
                "b.serial = 'SN-2'")
                .rows,
            V{R"({"line":"line-7"})"});  // without a scope it is found
  // Incoming hops and variable lengths too; ids given outright as well.
  EXPECT_EQ(run("SELECT b.$dtId AS p FROM DIGITALTWINS MATCH (a)<-[:hasLine]-(b) WHERE a.$dtId = "
                "'line-7'",
                o)
                .rows,
            V{});
  EXPECT_EQ(run("SELECT b.$dtId AS t FROM DIGITALTWINS MATCH (a)-[*1..2]->(b) WHERE a.$dtId = "
                "'line-7'",
                o)
                .rows,
            V{R"({"t":"m1"})"});
  EXPECT_EQ(run("SELECT * FROM DIGITALTWINS T WHERE T.$dtId IN ['m2', 'm1']", o).rows.size(), 1u);
  // Paged: pages are full (the scope is applied before the page is cut).
  o.page_size = 1;
  auto page = run("SELECT T.$dtId FROM DIGITALTWINS T", o);
  EXPECT_EQ(ids_of(page.rows), V{"line-7"});
  o.continuation = page.continuation;
  page = run("SELECT T.$dtId FROM DIGITALTWINS T", o);
  EXPECT_EQ(ids_of(page.rows), V{"m1"});
  EXPECT_TRUE(page.continuation.empty());
}

// ---- TOP and pagination -------------------------------------------------------------------------

class PagingTest : public QueryTest {
 protected:
  void SetUp() override {
    QueryTest::SetUp();
    ASSERT_TRUE(indexes_->add(kMachine, "speed"));
    for (int i = 0; i < 1000; ++i) {
      char id[16];
      std::snprintf(id, sizeof id, "m%04d", i);
      create(id, kMachine, {{"speed", Value::integer(i % 100)}});
    }
  }

  // Every page of `q`, following continuation tokens.
  std::vector<std::string> all_pages(std::string_view q, std::size_t page_size,
                                     std::size_t* pages = nullptr) {
    std::vector<std::string> out;
    QueryOptions options;
    options.page_size = page_size;
    std::size_t n = 0;
    while (true) {
      auto r = run(q, options);
      ++n;
      EXPECT_LE(r.rows.size(), page_size);
      out.insert(out.end(), r.rows.begin(), r.rows.end());
      if (r.continuation.empty() || n > 10000) break;
      options.continuation = r.continuation;
    }
    if (pages) *pages = n;
    return out;
  }
};

TEST_F(PagingTest, PagesResumeExactlyWithoutDuplicatesOrGaps) {
  for (const char* q : {
           "SELECT T.$dtId FROM DIGITALTWINS T WHERE T.speed >= 10",
           "SELECT T.$dtId FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:test:Machine;1') AND "
           "T.speed >= 10",
           "SELECT T FROM DIGITALTWINS T",
       }) {
    auto whole = rows(q);
    std::size_t pages = 0;
    auto paged = all_pages(q, 37, &pages);
    EXPECT_EQ(paged, whole) << q;
    EXPECT_EQ(pages, (whole.size() + 36) / 37) << q;
    std::set<std::string> unique(paged.begin(), paged.end());
    EXPECT_EQ(unique.size(), paged.size());
  }
  EXPECT_EQ(rows("SELECT T.$dtId FROM DIGITALTWINS T WHERE T.speed >= 10").size(), 900u);
}

TEST_F(PagingTest, TopCapsTheTotalAcrossPages) {
  auto top = rows("SELECT TOP(250) T.$dtId FROM DIGITALTWINS T WHERE T.speed < 50");
  ASSERT_EQ(top.size(), 250u);
  auto all = rows("SELECT T.$dtId FROM DIGITALTWINS T WHERE T.speed < 50");
  EXPECT_EQ(top, std::vector<std::string>(all.begin(), all.begin() + 250));
  std::size_t pages = 0;
  EXPECT_EQ(
      all_pages("SELECT TOP(250) T.$dtId FROM DIGITALTWINS T WHERE T.speed < 50", 100, &pages),
      top);
  EXPECT_EQ(pages, 3u);  // 100 + 100 + 50, and no token after the 250th row
  EXPECT_EQ(all_pages("SELECT TOP(200) T.$dtId FROM DIGITALTWINS T WHERE T.speed < 50", 100, &pages)
                .size(),
            200u);
  EXPECT_EQ(pages, 2u);
}

TEST_F(PagingTest, PagesStayExactWhileTwinsComeAndGo) {
  const std::string q = "SELECT T.$dtId FROM DIGITALTWINS T WHERE T.speed >= 0";
  QueryOptions options;
  options.page_size = 100;
  std::vector<std::string> seen;
  auto first = run(q, options);
  seen = ids_of(first.rows);
  options.continuation = first.continuation;
  // Between pages: delete a returned twin and a pending one, add one before and one after.
  ASSERT_TRUE(graph_->remove("m0005"));
  ASSERT_TRUE(graph_->remove("m0500"));
  create("m0000a", kMachine, {{"speed", Value::integer(1)}});  // sorts before the cursor
  create("m9999", kMachine, {{"speed", Value::integer(1)}});
  while (!options.continuation.empty()) {
    auto r = run(q, options);
    auto ids = ids_of(r.rows);
    seen.insert(seen.end(), ids.begin(), ids.end());
    options.continuation = r.continuation;
  }
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size());  // no duplicates
  for (int i = 0; i < 1000; ++i) {        // every twin that stayed, exactly once
    char id[16];
    std::snprintf(id, sizeof id, "m%04d", i);
    if (i != 500) {
      EXPECT_EQ(unique.count(id), 1u) << id;
    }
  }
  EXPECT_EQ(unique.count("m0500"), 0u);
  EXPECT_EQ(unique.count("m9999"), 1u);
  EXPECT_EQ(unique.count("m0000a"), 0u);  // behind the cursor when it appeared
}

TEST_F(PagingTest, TraversalsPageToo) {
  create("line", kLine);
  for (int i = 0; i < 300; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "m%04d", i);
    relate("line", "contains", id, {{"position", Value::integer(i)}});
  }
  const char* q = "SELECT b.$dtId, r.position FROM DIGITALTWINS MATCH (a)-[r:contains]->(b)";
  auto whole = rows(q);
  ASSERT_EQ(whole.size(), 300u);
  EXPECT_EQ(all_pages(q, 64), whole);
}

TEST_F(PagingTest, TokensAreCheckedAgainstTheQuery) {
  QueryOptions options;
  options.page_size = 10;
  auto first = run("SELECT T.$dtId FROM DIGITALTWINS T", options);
  ASSERT_FALSE(first.continuation.empty());
  options.continuation = first.continuation;
  Status s = error("SELECT T FROM DIGITALTWINS T", options);
  EXPECT_NE(s.message().find("belongs to another query"), std::string::npos);
  options.continuation = "not a token!";
  s = error("SELECT T.$dtId FROM DIGITALTWINS T", options);
  EXPECT_NE(s.message().find("continuation token is not valid"), std::string::npos);
  options.continuation = first.continuation.substr(0, first.continuation.size() - 3);
  s = error("SELECT T.$dtId FROM DIGITALTWINS T", options);
  EXPECT_NE(s.message().find("not valid"), std::string::npos);
}

// ---- indexes ------------------------------------------------------------------------------------

TEST_F(QueryTest, IndexDeclarationsAreChecked) {
  EXPECT_TRUE(indexes_->add(kMachine, "speed"));
  EXPECT_EQ(indexes_->add(kMachine, "speed").code(), sdk::StatusCode::kAlreadyExists);
  EXPECT_TRUE(indexes_->add(kMachine, "bearing/temperature"));
  EXPECT_EQ(indexes_->add("dtmi:test:Nope;1", "speed").code(), sdk::StatusCode::kNotFound);
  Status s = indexes_->add(kMachine, "sped");
  EXPECT_NE(s.message().find("has no property or telemetry 'sped'"), std::string::npos);
  s = indexes_->add(kMachine, "limits");
  EXPECT_NE(s.message().find("only number, string"), std::string::npos);
  EXPECT_FALSE(indexes_->add(kMachine, "enabled"));
}

TEST_F(QueryTest, PlannerUsesIndexesAndModelsAndFallsBackToScans) {
  ASSERT_TRUE(indexes_->add(kMachine, "speed"));
  ASSERT_TRUE(indexes_->add(kMachine, "serial"));
  ASSERT_TRUE(indexes_->add(kMachine, "bearing/temperature"));
  build_plant();
  report("m2", {{"bearing/temperature", Value::number(66)}});
  struct Case {
    const char* where;
    const char* plan;
    std::vector<std::string> ids;
    std::size_t candidates;
  };
  const Case cases[] = {
      {"T.speed > 500", "scan", {"m1", "m2"}, 0},  // no model: the index does not cover all
      {"IS_OF_MODEL(T, 'dtmi:test:Machine;1') AND T.speed > 500",
       "index:dtmi:test:Machine;1/speed",
       {"m1", "m2"},
       2},
      {"IS_OF_MODEL(T, 'dtmi:test:Machine;1') AND T.speed > 500 AND T.speed < 1000",
       "index:dtmi:test:Machine;1/speed",
       {"m2"},
       1},
      {"IS_OF_MODEL(T, 'dtmi:test:Machine;1') AND 800 >= T.speed",
       "index:dtmi:test:Machine;1/speed",
       {"m2", "p1"},
       2},
      {"IS_OF_MODEL(T, 'dtmi:test:Pump;1') AND T.speed >= 0",  // Pump extends Machine
       "index:dtmi:test:Machine;1/speed",
       {"p1"},
       3},
      {"IS_OF_MODEL(T, 'dtmi:test:Machine;1') AND T.serial IN ['SN-2', 'PX-9', 'zz']",
       "index:dtmi:test:Machine;1/serial",
       {"m2", "p1"},
       2},
      {"IS_OF_MODEL(T, 'dtmi:test:Machine;1') AND T.speed > 100 AND T.serial = 'SN-3'",
       "index:dtmi:test:Machine;1/serial",  // equality wins over a range
       {},
       1},
      {"IS_OF_MODEL(T, 'dtmi:test:Machine;1') AND T.bearing.temperature >= 66",
       "index:dtmi:test:Machine;1/bearing/temperature",
       {"m2"},
       1},
      {"IS_OF_MODEL(T, 'dtmi:test:Machine;1') AND (T.speed > 500 OR T.speed < 400)",
       "model:dtmi:test:Machine;1",
       {"m1", "m2", "p1"},
       0},
      {"IS_OF_MODEL(T, 'dtmi:test:Machine;1') AND T.speed != 800",
       "model:dtmi:test:Machine;1",
       {"m1", "p1"},
       0},
      {"IS_OF_MODEL(T, 'dtmi:test:Line;1') AND T.speed > 1", "model:dtmi:test:Line;1", {}, 0},
      {"T.$dtId IN ['m1', 'line-7', 'ghost'] AND IS_OF_MODEL(T, 'dtmi:test:Machine;1')",
       "ids",
       {"m1"},
       0},
  };
  for (const Case& c : cases) {
    const std::string q = "SELECT T.$dtId FROM DIGITALTWINS T WHERE " + std::string(c.where);
    auto r = run(q);
    EXPECT_EQ(r.stats.plan, c.plan) << c.where;
    EXPECT_EQ(ids_of(r.rows), c.ids) << c.where;
    EXPECT_EQ(r.stats.index_candidates, c.candidates) << c.where;
    // The same answer without indexes.
    EXPECT_EQ(run(q, {}, false).rows, r.rows) << c.where;
  }
}

TEST_F(QueryTest, IndexFollowsCreatesReportsAndDeletes) {
  ASSERT_TRUE(indexes_->add(kMachine, "speed"));
  const std::string q =
      "SELECT T.$dtId FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:test:Machine;1') AND "
      "T.speed >= 100 AND T.speed <= 200";
  using V = std::vector<std::string>;
  create("a", kMachine, {{"speed", Value::number(150)}});
  create("b", kPump, {{"speed", Value::number(50)}});
  create("c", kMachine);
  EXPECT_EQ(ids_of(run(q).rows), V{"a"});
  report("b", {{"speed", Value::integer(120)}});
  report("c", {{"speed", Value::number(199.5)}});
  report("a", {{"speed", Value::number(250)}});
  auto r = run(q);
  EXPECT_EQ(r.stats.plan, "index:dtmi:test:Machine;1/speed");
  EXPECT_EQ(ids_of(r.rows), (V{"b", "c"}));
  EXPECT_EQ(r.stats.twins_examined, 2u);
  ASSERT_TRUE(graph_->remove("b"));
  EXPECT_EQ(ids_of(run(q).rows), V{"c"});
  EXPECT_EQ(indexes_->list().at(0).entries, 2u);  // a and c
  // Desired values are not reported values: the index does not move.
  SlotWrite want[] = {{"speed", Value::number(150)}};
  ASSERT_TRUE(graph_->desire("a", want));
  EXPECT_EQ(ids_of(run(q).rows), V{"c"});
}

TEST_F(QueryTest, BuildTakesInTwinsThatSentNoEvents) {
  TwinGraph::RestoredTwin t;
  t.id = "restored";
  t.model = kMachine;
  SlotState s;
  s.reported = Value::number(150);
  s.reported_version = 1;
  t.slots.emplace_back("speed", s);
  ASSERT_TRUE(graph_->restore(t));
  ASSERT_TRUE(indexes_->add(kMachine, "speed"));
  const char* q =
      "SELECT T.$dtId FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:test:Machine;1') AND "
      "T.speed > 100";
  EXPECT_EQ(run(q).rows.size(), 0u);  // the restore sent no event
  indexes_->build();
  EXPECT_EQ(ids_of(run(q).rows), std::vector<std::string>{"restored"});
  indexes_->build();  // idempotent
  EXPECT_EQ(indexes_->list().at(0).entries, 1u);
}

TEST_F(QueryTest, IndexAndScanAgreeOnRandomData) {
  ASSERT_TRUE(indexes_->add(kMachine, "speed"));
  ASSERT_TRUE(indexes_->add(kMachine, "serial"));
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> value(0, 50);
  for (int i = 0; i < 400; ++i) {
    std::vector<SlotWrite> props;
    if (i % 7 != 0)
      props.push_back(
          {"speed", i % 2 ? Value::integer(value(rng)) : Value::number(value(rng) + 0.5)});
    props.push_back({"serial", Value::string("S" + std::to_string(value(rng)))});
    create("t" + std::to_string(i), i % 3 ? kMachine : kPump, std::move(props));
  }
  for (int i = 0; i < 200; ++i)  // churn
    report("t" + std::to_string(i * 2), {{"speed", Value::integer(value(rng))}});
  const char* ops[] = {"=", "<", "<=", ">", ">="};
  for (int k = 0; k < 60; ++k) {
    std::string q = "SELECT T.$dtId FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '" +
                    std::string(k % 2 ? kMachine : kPump) + "') AND T.speed " + ops[k % 5] + " " +
                    std::to_string(value(rng)) + (k % 3 ? ".5" : "");
    if (k % 4 == 0) q += " AND T.speed < " + std::to_string(value(rng));
    if (k % 5 == 0) q += " AND T.serial >= 'S2'";
    auto indexed = run(q);
    EXPECT_EQ(indexed.stats.plan.rfind("index:", 0), 0u) << q;
    EXPECT_EQ(indexed.rows, run(q, {}, false).rows) << q;
  }
}

// ---- concurrency --------------------------------------------------------------------------------

TEST_F(QueryTest, QueriesRunWhileOtherThreadsUpdate) {
  ASSERT_TRUE(indexes_->add(kMachine, "speed"));
  create("line", kLine);
  for (int i = 0; i < 200; ++i) {
    create("c" + std::to_string(i), kMachine, {{"speed", Value::integer(i % 100)}});
    relate("line", "contains", "c" + std::to_string(i));
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 rng(static_cast<unsigned>(w));
      int n = 0;
      while (!stop.load() || n < 2000) {
        std::string id = "c" + std::to_string(rng() % 200);
        SlotWrite writes[] = {{"speed", Value::integer(static_cast<int>(rng() % 100))}};
        (void)graph_->report(id, writes);
        ++n;
        if (n % 100 == 0) {  // creates and deletes too
          std::string extra = "x" + std::to_string(w) + "-" + std::to_string(n);
          CreateTwin spec{extra, kMachine, {{"speed", Value::integer(75)}}, 0};
          (void)graph_->create(spec);
          if (n % 200 == 0) (void)graph_->remove(extra);
        }
        if (n > 20000) break;
      }
    });
  }
  const std::string q =
      "SELECT T.$dtId, T.speed FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, "
      "'dtmi:test:Machine;1') AND T.speed > 50";
  for (int i = 0; i < 150; ++i) {
    auto r = run(q);
    ASSERT_EQ(r.stats.plan, "index:dtmi:test:Machine;1/speed");
    for (const std::string& row : r.rows)
      ASSERT_GT(number_after(row, "speed"), 50) << row;  // every row is consistent
    auto t = run("SELECT b.$dtId FROM DIGITALTWINS MATCH (a)-[:contains]->(b) WHERE b.speed < 10");
    (void)t;
  }
  stop = true;
  for (auto& t : writers)
    t.join();
  // Quiet again: the index answers exactly as a scan does.
  EXPECT_EQ(run(q).rows, run(q, {}, false).rows);
}

}  // namespace
}  // namespace doppel::twin
