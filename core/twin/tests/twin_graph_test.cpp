#include "doppel/twin/twin_graph.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "doppel/model/loader.hpp"

namespace doppel::twin {
namespace {

constexpr const char* kModels = R"([
 {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:test:Machine;1", "@type": "Interface",
  "contents": [
    {"@type": "Property", "name": "serial", "schema": "string"},
    {"@type": "Property", "name": "speed", "schema": "double", "writable": true},
    {"@type": "Property", "name": "mode", "schema": {"@type": "Enum", "valueSchema": "string",
       "enumValues": [{"name": "auto", "enumValue": "auto"}, {"name": "manual", "enumValue": "manual"}]}, "writable": true},
    {"@type": "Property", "name": "limits", "schema": {"@type": "Object", "fields": [{"name": "max", "schema": "double"}]}},
    {"@type": "Telemetry", "name": "temperature", "schema": "double"},
    {"@type": "Telemetry", "name": "count", "schema": "integer"},
    {"@type": "Component", "name": "bearing", "schema": "dtmi:test:Bearing;1"}]},
 {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:test:Bearing;1", "@type": "Interface",
  "contents": [{"@type": "Telemetry", "name": "temperature", "schema": "double"}]},
 {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:test:Pump;1", "@type": "Interface", "extends": "dtmi:test:Machine;1"},
 {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:test:Line;1", "@type": "Interface",
  "contents": [
    {"@type": "Relationship", "name": "contains", "target": "dtmi:test:Machine;1",
     "properties": [{"@type": "Property", "name": "position", "schema": "integer"}]},
    {"@type": "Relationship", "name": "feeds", "target": "dtmi:test:Line;1", "maxMultiplicity": 1}]}
])";

class FakeClock : public sdk::Clock {
 public:
  sdk::Timestamp now() const noexcept override { return now_.load(); }
  void advance(sdk::Duration d) { now_ += d; }
  std::atomic<sdk::Timestamp> now_{1'700'000'000'000'000'000};
};

// Listeners are called from every shard's writer concurrently.
struct Recorder : ChangeListener {
  std::mutex mutex;
  std::vector<ChangeKind> kinds;
  std::vector<std::string> twins;
  void on_change(const ChangeEvent& e) noexcept override {
    std::lock_guard lock(mutex);
    kinds.push_back(e.kind);
    twins.emplace_back(e.twin.id);
  }
};

class TwinGraphTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model::ModelLoader loader;
    loader.add_text("models.json", kModels);
    auto r = loader.load();
    ASSERT_TRUE(r.ok());
    graph_ = std::make_unique<TwinGraph>(r.registry, TwinGraphOptions{4, &clock_});
    graph_->add_listener(&events_);
  }

  Status create(const std::string& id, const std::string& model,
                std::vector<SlotWrite> props = {}) {
    CreateTwin spec;
    spec.id = id;
    spec.model = model;
    spec.properties = std::move(props);
    return graph_->create(spec);
  }

  FakeClock clock_;
  Recorder events_;
  std::unique_ptr<TwinGraph> graph_;
};

TEST_F(TwinGraphTest, CreateLaysOutPropertiesTelemetryAndComponents) {
  ASSERT_TRUE(create("m1", "dtmi:test:Machine;1", {{"serial", Value::string("SN-1")}}));
  bool found = graph_->read("m1", [](const TwinView& t) {
    EXPECT_EQ(t.layout->slots().size(), 7u);  // 4 properties, 2 telemetry, bearing/temperature
    ASSERT_NE(t.slot("bearing/temperature"), nullptr);
    EXPECT_EQ(t.slot("serial")->reported.as_string(), "SN-1");
    EXPECT_EQ(t.slot("serial")->reported_version, 1u);
    EXPECT_EQ(t.version, 1u);
  });
  EXPECT_TRUE(found);
  EXPECT_EQ(graph_->size(), 1u);
  EXPECT_EQ(events_.kinds, std::vector<ChangeKind>{ChangeKind::kTwinCreated});
}

TEST_F(TwinGraphTest, CreateRejectsUnknownModelDuplicateIdAndBadProperties) {
  EXPECT_EQ(create("x", "dtmi:test:Nope;1").code(), sdk::StatusCode::kNotFound);
  ASSERT_TRUE(create("m1", "dtmi:test:Machine;1"));
  EXPECT_EQ(create("m1", "dtmi:test:Machine;1").code(), sdk::StatusCode::kAlreadyExists);
  EXPECT_FALSE(create("m2", "dtmi:test:Machine;1", {{"nope", Value::number(1)}}));
  EXPECT_FALSE(
      create("m3", "dtmi:test:Machine;1", {{"temperature", Value::number(1)}}));  // telemetry
  Status bad = create("m4", "dtmi:test:Machine;1", {{"serial", Value::number(1)}});
  EXPECT_FALSE(bad);
  EXPECT_NE(bad.message().find("expected string"), std::string::npos);
  EXPECT_EQ(graph_->size(), 1u);
}

TEST_F(TwinGraphTest, ReportUpdatesStateAndVersions) {
  ASSERT_TRUE(create("m1", "dtmi:test:Machine;1"));
  SlotWrite writes[] = {{"temperature", Value::number(81.5)},
                        {"bearing/temperature", Value::integer(60)},
                        {"limits", Value::json(R"({"max": 90})")}};
  auto v = graph_->report("m1", writes);
  ASSERT_TRUE(v) << v.status().to_string();
  EXPECT_EQ(*v, 2u);
  graph_->read("m1", [&](const TwinView& t) {
    EXPECT_DOUBLE_EQ(t.slot("temperature")->reported.as_double(), 81.5);
    EXPECT_EQ(t.slot("temperature")->reported_at, clock_.now());
    EXPECT_EQ(t.slot("bearing/temperature")->reported.as_integer(), 60);
    EXPECT_EQ(t.slot("limits")->reported.as_string(), R"({"max": 90})");
    EXPECT_EQ(t.last_data_at, clock_.now());
  });
}

TEST_F(TwinGraphTest, RejectedUpdateLeavesTheTwinUnchanged) {
  ASSERT_TRUE(create("m1", "dtmi:test:Machine;1"));
  SlotWrite good_then_bad[] = {{"temperature", Value::number(20)}, {"count", Value::number(1.5)}};
  auto r = graph_->report("m1", good_then_bad);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().to_string().find("m1.count"), std::string::npos);
  SlotWrite bad_json[] = {{"limits", Value::json(R"({"max": "high"})")}};
  EXPECT_FALSE(graph_->report("m1", bad_json));
  SlotWrite out_of_range[] = {{"count", Value::integer(5'000'000'000)}};
  EXPECT_FALSE(graph_->report("m1", out_of_range));
  graph_->read("m1", [](const TwinView& t) {
    EXPECT_TRUE(t.slot("temperature")->reported.is_null());
    EXPECT_EQ(t.version, 1u);
  });
}

TEST_F(TwinGraphTest, IfMatchGuardsConcurrentWriters) {
  ASSERT_TRUE(create("m1", "dtmi:test:Machine;1"));
  SlotWrite w[] = {{"temperature", Value::number(1)}};
  EXPECT_TRUE(graph_->report("m1", w, 1u));
  auto stale = graph_->report("m1", w, 1u);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.status().code(), sdk::StatusCode::kFailedPrecondition);
}

TEST_F(TwinGraphTest, DesiredReportedSync) {
  ASSERT_TRUE(create("m1", "dtmi:test:Machine;1"));
  SlotWrite want[] = {{"speed", Value::number(1200)}};
  ASSERT_TRUE(graph_->desire("m1", want));
  graph_->read("m1", [](const TwinView& t) {
    EXPECT_EQ(t.slot("speed")->sync, SyncStatus::kPending);
    EXPECT_EQ(t.slot("speed")->desired_version, 1u);
  });
  SlotWrite not_yet[] = {{"speed", Value::number(900)}};
  ASSERT_TRUE(graph_->report("m1", not_yet));
  graph_->read("m1",
               [](const TwinView& t) { EXPECT_EQ(t.slot("speed")->sync, SyncStatus::kPending); });
  SlotWrite ack[] = {{"speed", Value::integer(1200)}};  // integer 1200 == double 1200
  ASSERT_TRUE(graph_->report("m1", ack));
  graph_->read("m1",
               [](const TwinView& t) { EXPECT_EQ(t.slot("speed")->sync, SyncStatus::kInSync); });
}

TEST_F(TwinGraphTest, AcknowledgedDesiredVersionIsInSyncOnlyIfCurrent) {
  ASSERT_TRUE(create("m1", "dtmi:test:Machine;1"));
  SlotWrite first[] = {{"speed", Value::number(1)}};
  SlotWrite second[] = {{"speed", Value::number(2)}};
  ASSERT_TRUE(graph_->desire("m1", first));
  ASSERT_TRUE(graph_->desire("m1", second));
  EXPECT_FALSE(graph_->acknowledge("m1", "speed", 1)) << "an ack of a replaced version";
  graph_->read("m1",
               [](const TwinView& t) { EXPECT_EQ(t.slot("speed")->sync, SyncStatus::kPending); });
  EXPECT_TRUE(graph_->acknowledge("m1", "speed", 2));
  graph_->read("m1",
               [](const TwinView& t) { EXPECT_EQ(t.slot("speed")->sync, SyncStatus::kInSync); });
  EXPECT_FALSE(graph_->acknowledge("m1", "nope", 2));
  EXPECT_FALSE(graph_->acknowledge("m9", "speed", 2));
}

TEST_F(TwinGraphTest, IncomingIsSafeWhileSourcesAreDeleted) {
  ASSERT_TRUE(create("pump", "dtmi:test:Machine;1"));
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done)
      for (const auto& [source, rel] : graph_->incoming("pump"))
        EXPECT_TRUE(source.starts_with("line-")) << source << " " << rel;
  });
  for (int i = 0; i < 2000; ++i) {
    std::string line = "line-" + std::to_string(i);
    ASSERT_TRUE(create(line, "dtmi:test:Line;1"));
    ASSERT_TRUE(graph_->relate({line, "contains", "pump", "", {}}));
    ASSERT_TRUE(graph_->remove(line, /*cascade=*/true));
  }
  done = true;
  reader.join();
  EXPECT_TRUE(graph_->incoming("pump").empty());
}

TEST_F(TwinGraphTest, DesiredNeedsWritableProperties) {
  ASSERT_TRUE(create("m1", "dtmi:test:Machine;1"));
  SlotWrite serial[] = {{"serial", Value::string("x")}};
  auto r = graph_->desire("m1", serial);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("not writable"), std::string::npos);
  SlotWrite telemetry[] = {{"temperature", Value::number(1)}};
  EXPECT_FALSE(graph_->desire("m1", telemetry));
  SlotWrite bad_enum[] = {{"mode", Value::string("turbo")}};
  EXPECT_FALSE(graph_->desire("m1", bad_enum));
}

TEST_F(TwinGraphTest, PendingDesiredPropertiesTimeOut) {
  ASSERT_TRUE(create("m1", "dtmi:test:Machine;1"));
  SlotWrite want[] = {{"mode", Value::string("manual")}};
  ASSERT_TRUE(graph_->desire("m1", want));
  EXPECT_EQ(graph_->expire_pending(clock_.now()), 0u);  // not older than the deadline yet
  clock_.advance(30 * sdk::kSecond);
  EXPECT_EQ(graph_->expire_pending(clock_.now() - 10 * sdk::kSecond), 1u);
  graph_->read("m1",
               [](const TwinView& t) { EXPECT_EQ(t.slot("mode")->sync, SyncStatus::kTimedOut); });
  SlotWrite late_ack[] = {{"mode", Value::string("manual")}};
  ASSERT_TRUE(graph_->report("m1", late_ack));
  graph_->read("m1",
               [](const TwinView& t) { EXPECT_EQ(t.slot("mode")->sync, SyncStatus::kInSync); });
}

TEST_F(TwinGraphTest, StaleWhenSilentLongerThanTheExpectedPeriod) {
  CreateTwin spec{"m1", "dtmi:test:Machine;1", {}, 10 * sdk::kSecond};
  ASSERT_TRUE(graph_->create(spec));
  clock_.advance(9 * sdk::kSecond);
  EXPECT_EQ(graph_->update_staleness(clock_.now()), 0u);
  clock_.advance(2 * sdk::kSecond);
  EXPECT_EQ(graph_->update_staleness(clock_.now()), 1u);
  graph_->read("m1", [](const TwinView& t) { EXPECT_TRUE(t.stale); });
  SlotWrite w[] = {{"temperature", Value::number(1)}};
  ASSERT_TRUE(graph_->report("m1", w));
  graph_->read("m1", [](const TwinView& t) { EXPECT_FALSE(t.stale); });
  EXPECT_EQ(std::count(events_.kinds.begin(), events_.kinds.end(), ChangeKind::kStale), 2);
}

TEST_F(TwinGraphTest, RelationshipsAreTypedByTheModel) {
  ASSERT_TRUE(create("line", "dtmi:test:Line;1"));
  ASSERT_TRUE(create("line2", "dtmi:test:Line;1"));
  ASSERT_TRUE(create("line3", "dtmi:test:Line;1"));
  ASSERT_TRUE(create("pump", "dtmi:test:Pump;1"));
  // A Pump extends Machine: it is a valid target of `contains`.
  EXPECT_TRUE(graph_->relate({"line", "contains", "pump", "", {{"position", Value::integer(3)}}}));
  EXPECT_FALSE(graph_->relate({"line", "contains", "line2", "", {}}));  // wrong target model
  EXPECT_FALSE(graph_->relate({"line", "powers", "pump", "", {}}));     // no such relationship
  EXPECT_FALSE(graph_->relate({"line", "contains", "ghost", "", {}}));  // no such twin
  EXPECT_FALSE(graph_->relate({"line", "contains", "pump", "", {}}));   // same id twice
  EXPECT_FALSE(
      graph_->relate({"line", "contains", "pump", "c2", {{"position", Value::string("x")}}}));
  EXPECT_TRUE(graph_->relate({"line", "feeds", "line2", "", {}}));
  auto r = graph_->relate({"line", "feeds", "line3", "", {}});  // maxMultiplicity 1
  EXPECT_EQ(r.code(), sdk::StatusCode::kFailedPrecondition);
  graph_->read("line", [](const TwinView& t) {
    ASSERT_EQ(t.relationships.size(), 2u);
    EXPECT_EQ(t.relationships[0].id(), "contains-pump");
    EXPECT_EQ(t.relationships[0].properties[0].second.as_integer(), 3);
  });
  auto in = graph_->incoming("pump");
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].first, "line");
  EXPECT_EQ(in[0].second, "contains-pump");
}

TEST_F(TwinGraphTest, DeleteIsRefusedWhileRelatedUnlessCascading) {
  ASSERT_TRUE(create("line", "dtmi:test:Line;1"));
  ASSERT_TRUE(create("m1", "dtmi:test:Machine;1"));
  ASSERT_TRUE(graph_->relate({"line", "contains", "m1", "", {}}));
  EXPECT_EQ(graph_->remove("m1").code(), sdk::StatusCode::kFailedPrecondition);
  EXPECT_EQ(graph_->remove("line").code(), sdk::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(graph_->remove("m1", /*cascade=*/true));
  EXPECT_FALSE(graph_->contains("m1"));
  graph_->read("line", [](const TwinView& t) { EXPECT_TRUE(t.relationships.empty()); });
  EXPECT_TRUE(graph_->remove("line"));
  EXPECT_EQ(graph_->size(), 0u);
}

TEST_F(TwinGraphTest, UnrelateRemovesBothEnds) {
  ASSERT_TRUE(create("line", "dtmi:test:Line;1"));
  ASSERT_TRUE(create("m1", "dtmi:test:Machine;1"));
  ASSERT_TRUE(graph_->relate({"line", "contains", "m1", "slot-1", {}}));
  EXPECT_FALSE(graph_->unrelate("line", "contains-m1"));
  ASSERT_TRUE(graph_->unrelate("line", "slot-1"));
  EXPECT_TRUE(graph_->incoming("m1").empty());
  EXPECT_TRUE(graph_->remove("m1"));
}

TEST_F(TwinGraphTest, ModelQueriesFollowExtends) {
  ASSERT_TRUE(create("m1", "dtmi:test:Machine;1"));
  ASSERT_TRUE(create("p1", "dtmi:test:Pump;1"));
  ASSERT_TRUE(create("l1", "dtmi:test:Line;1"));
  std::size_t machines = 0, exact = 0;
  graph_->for_each_of_model("dtmi:test:Machine;1", false,
                            [&](const TwinView&) { return ++machines, true; });
  graph_->for_each_of_model("dtmi:test:Machine;1", true,
                            [&](const TwinView&) { return ++exact, true; });
  EXPECT_EQ(machines, 2u);
  EXPECT_EQ(exact, 1u);
}

TEST_F(TwinGraphTest, UpdatesOfDifferentTwinsRunInParallelAndOneTwinsStayOrdered) {
  constexpr int kTwins = 64, kUpdates = 500;
  for (int i = 0; i < kTwins; ++i)
    ASSERT_TRUE(create("m" + std::to_string(i), "dtmi:test:Machine;1"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int u = 1; u <= kUpdates; ++u)
        for (int i = t; i < kTwins; i += 4) {
          SlotWrite w[] = {{"count", Value::integer(u)}};
          ASSERT_TRUE(graph_->report("m" + std::to_string(i), w));
        }
    });
  }
  for (auto& th : threads)
    th.join();
  for (int i = 0; i < kTwins; ++i)
    graph_->read("m" + std::to_string(i), [&](const TwinView& v) {
      EXPECT_EQ(v.slot("count")->reported.as_integer(), kUpdates);
      EXPECT_EQ(v.version, 1u + kUpdates);
    });
}

}  // namespace
}  // namespace doppel::twin
