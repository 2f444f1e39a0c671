#include "doppel/runtime/persistence.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "doppel/model/loader.hpp"
#include "doppel/runtime/update_pipeline.hpp"
#include "doppel/testing/storage_fixture.hpp"

namespace doppel::runtime {
namespace {

using twin::SlotWrite;
using twin::Value;

constexpr const char* kModels = R"([
 {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:test:Motor;1", "@type": "Interface",
  "contents": [
    {"@type": "Property", "name": "serial", "schema": "string"},
    {"@type": "Property", "name": "speed", "schema": "double", "writable": true},
    {"@type": "Property", "name": "limits", "schema": {"@type": "Object", "fields": [{"name": "max", "schema": "double"}]}},
    {"@type": "Telemetry", "name": "temperature", "schema": "double"}]},
 {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:test:Line;1", "@type": "Interface",
  "contents": [{"@type": "Relationship", "name": "contains", "target": "dtmi:test:Motor;1",
                "properties": [{"@type": "Property", "name": "position", "schema": "integer"}]}]}
])";

std::shared_ptr<const model::ModelRegistry> models() {
  model::ModelLoader loader;
  loader.add_text("m.json", kModels);
  auto r = loader.load();
  EXPECT_TRUE(r.ok());
  return r.registry;
}

// Everything observable about a graph, as text, to compare two graphs.
std::string dump(const twin::TwinGraph& g) {
  std::vector<std::string> lines;
  g.for_each([&](const twin::TwinView& t) {
    std::string s = std::string(t.id) + " " + t.layout->interface().id + " v" +
                    std::to_string(t.version) + " stale=" + std::to_string(t.stale) +
                    " last=" + std::to_string(t.last_data_at);
    for (std::size_t i = 0; i < t.slots.size(); ++i) {
      const auto& sl = t.slots[i];
      s += " | " + t.layout->slots()[i].path + "=" + sl.reported.to_json() + "@" +
           std::to_string(sl.reported_at) + "#" + std::to_string(sl.reported_version) +
           " want=" + sl.desired.to_json() + "#" + std::to_string(sl.desired_version) + " " +
           std::string(twin::sync_status_name(sl.sync));
    }
    for (const auto& r : t.relationships) {
      s += " -> " + r.id() + ":" + r.target;
      for (const auto& [k, v] : r.properties)
        s += " " + k + "=" + v.to_json();
    }
    lines.push_back(s);
    return true;
  });
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (auto& l : lines)
    out += l + "\n";
  return out;
}

struct Waiter final : sdk::WriteCallback {
  std::atomic<bool> done_{false};
  sdk::Status status;
  void done(const sdk::Status& s) noexcept override {
    status = s;
    done_ = true;
  }
};

void commit(Persistence& p) {
  Waiter w;
  p.commit(&w);
  ASSERT_TRUE(testing::wait_until([&] { return w.done_.load(); }));
  ASSERT_TRUE(w.status) << w.status.to_string();
}

TEST(Persistence, NonDurableStorageGetsHistoryButNoStateRecords) {
  testing::StorageFixture store("memory");
  ASSERT_TRUE(store.open());
  ASSERT_FALSE(store.storage().durable());
  Persistence persistence(store.storage());
  twin::TwinGraph graph(models(), {1});
  graph.add_listener(&persistence);
  ASSERT_TRUE(graph.create({"m1", "dtmi:test:Motor;1", {{"serial", Value::string("x")}}, 0}));
  SlotWrite t[] = {{"temperature", Value::number(1)}};
  ASSERT_TRUE(graph.report("m1", t));
  commit(persistence);
  struct Count final : sdk::RecordVisitor {
    int n = 0;
    bool visit(std::string_view, std::string_view) noexcept override { return ++n, true; }
  } records;
  ASSERT_TRUE(store.storage().scan(sdk::Table::kTwins, "", records));
  EXPECT_EQ(records.n, 0);
  EXPECT_EQ(store.storage().stats().samples, 1u);
}

TEST(Persistence, ValuesRoundTrip) {
  for (const Value& v : {Value(), Value::boolean(true), Value::integer(-7), Value::number(2.5),
                         Value::string("a\0b"), Value::json(R"({"max": 3})")}) {
    std::string buf;
    Persistence::encode_value(v, buf);
    std::string_view in = buf;
    Value back;
    ASSERT_TRUE(Persistence::decode_value(in, back));
    EXPECT_TRUE(in.empty());
    EXPECT_EQ(back, v);
    EXPECT_EQ(back.kind(), v.kind());
  }
  std::string_view truncated("\x03\x01", 2);
  Value v;
  EXPECT_FALSE(Persistence::decode_value(truncated, v));
}

TEST(Persistence, RecoveryRestoresTheExactState) {
  testing::TempDir dir;
  testing::StorageFixture store("rocksdb", (dir.path() / "db").string());
  ASSERT_TRUE(store.open());
  auto registry = models();
  testing::FakeClock clock;
  Persistence persistence(store.storage());
  {
    twin::TwinGraph graph(registry, {2, &clock});
    graph.add_listener(&persistence);
    ASSERT_TRUE(graph.create({"line", "dtmi:test:Line;1", {}, 0}));
    commit(persistence);
    for (int i = 1; i <= 3; ++i) {
      ASSERT_TRUE(graph.create({"m" + std::to_string(i),
                                "dtmi:test:Motor;1",
                                {{"serial", Value::string("SN-" + std::to_string(i))}},
                                10 * sdk::kSecond}));
      commit(persistence);
      ASSERT_TRUE(graph.relate(
          {"line", "contains", "m" + std::to_string(i), "", {{"position", Value::integer(i)}}}));
      commit(persistence);
    }
    clock.advance(sdk::kSecond);
    SlotWrite t[] = {{"temperature", Value::number(81.5)},
                     {"limits", Value::json(R"({"max": 90})")}};
    ASSERT_TRUE(graph.report("m1", t));
    commit(persistence);
    SlotWrite want[] = {{"speed", Value::number(1200)}};
    ASSERT_TRUE(graph.desire("m2", want));
    commit(persistence);
    ASSERT_TRUE(graph.remove("m3", true));
    commit(persistence);
    clock.advance(60 * sdk::kSecond);
    graph.update_staleness(clock.now());
    commit(persistence);
    std::string before = dump(graph);

    twin::TwinGraph recovered(registry, {3, &clock});
    auto report = persistence.recover(recovered);
    ASSERT_TRUE(report) << report.status().to_string();
    EXPECT_EQ(report->twins, 3u);
    EXPECT_EQ(report->relationships, 2u);
    EXPECT_TRUE(report->problems.empty());
    EXPECT_EQ(dump(recovered), before);
    // The recovered graph keeps working: incoming edges and versions are back.
    EXPECT_EQ(recovered.incoming("m1").size(), 1u);
    SlotWrite more[] = {{"temperature", Value::number(82)}};
    auto v = recovered.report("m1", more);
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, 3u);  // created 1, reported 2; relating changed the line, not the motor
  }
}

TEST(Persistence, TelemetryGoesToHistory) {
  testing::StorageFixture store("memory");
  ASSERT_TRUE(store.open());
  testing::FakeClock clock;
  Persistence persistence(store.storage());
  twin::TwinGraph graph(models(), {1, &clock});
  graph.add_listener(&persistence);
  ASSERT_TRUE(graph.create({"m1", "dtmi:test:Motor;1", {}, 0}));
  for (int i = 0; i < 5; ++i) {
    SlotWrite t[] = {{"temperature", Value::number(20 + i), clock.now() + i * sdk::kSecond}};
    ASSERT_TRUE(graph.report("m1", t));
  }
  commit(persistence);  // one batch for five graph calls on this thread
  struct Rows final : sdk::HistoryVisitor {
    std::vector<sdk::HistoryRow> rows;
    bool row(const sdk::HistoryRow& r) noexcept override { return rows.push_back(r), true; }
  } rows;
  ASSERT_TRUE(store.storage().history(Persistence::series_key("m1", "temperature"), 0,
                                      clock.now() + 60 * sdk::kSecond, 0, rows));
  ASSERT_EQ(rows.rows.size(), 5u);
  EXPECT_DOUBLE_EQ(rows.rows[4].last, 24);
}

TEST(UpdatePipeline, AppliesInOrderPerTwinAndAcknowledgesWhenDurable) {
  testing::StorageFixture store("memory");
  ASSERT_TRUE(store.open());
  Persistence persistence(store.storage());
  twin::TwinGraph graph(models(), {4});
  graph.add_listener(&persistence);
  for (int i = 0; i < 8; ++i)
    ASSERT_TRUE(graph.create({"m" + std::to_string(i), "dtmi:test:Motor;1", {}, 0}));
  persistence.discard();
  std::atomic<int> acked{0}, failed{0};
  {
    UpdatePipeline pipeline(graph, &persistence, 3);
    for (int u = 1; u <= 200; ++u)
      for (int i = 0; i < 8; ++i) {
        TwinUpdate up{
            "m" + std::to_string(i), {{"temperature", Value::integer(u)}}, false, std::nullopt};
        pipeline.submit(std::move(up),
                        [&](const sdk::Status& s, std::uint64_t) { s ? ++acked : ++failed; });
      }
    TwinUpdate bad{"m0", {{"temperature", Value::string("hot")}}, false, std::nullopt};
    std::string error;
    std::mutex m;
    pipeline.submit(std::move(bad), [&](const sdk::Status& s, std::uint64_t) {
      std::lock_guard lock(m);
      error = s.message();
    });
    pipeline.drain();
    std::lock_guard lock(m);
    EXPECT_NE(error.find("expected double"), std::string::npos);
  }
  EXPECT_TRUE(testing::wait_until([&] { return acked.load() == 1600; }));
  EXPECT_EQ(failed.load(), 0);
  for (int i = 0; i < 8; ++i)
    graph.read("m" + std::to_string(i), [](const twin::TwinView& t) {
      EXPECT_EQ(t.slot("temperature")->reported.as_integer(), 200);  // the last one submitted wins
    });
}

}  // namespace
}  // namespace doppel::runtime
