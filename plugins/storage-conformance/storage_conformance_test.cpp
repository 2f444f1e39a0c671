// One conformance suite for every storage plugin, loaded as a .so through the real plugin host.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "doppel/host/plugin_host.hpp"
#include "doppel/sdk/storage.hpp"
#include "doppel/testing/test_config_node.hpp"
#include "doppel/testing/test_services.hpp"

namespace doppel::plugins::conformance {
namespace {

using sdk::HistoryRow;
using sdk::Status;
using sdk::Table;
using testing::TempDir;
using testing::TestConfigNode;

struct Param {
  std::string library;
  bool durable;  // survives stop + reload
};

class Records final : public sdk::RecordVisitor {
 public:
  bool visit(std::string_view k, std::string_view v) noexcept override {
    items.emplace_back(std::string(k), std::string(v));
    return limit == 0 || items.size() < limit;
  }
  std::vector<std::pair<std::string, std::string>> items;
  std::size_t limit = 0;
};

class Rows final : public sdk::HistoryVisitor {
 public:
  bool row(const HistoryRow& r) noexcept override {
    rows.push_back(r);
    return true;
  }
  std::vector<HistoryRow> rows;
};

class CountingCallback final : public sdk::WriteCallback {
 public:
  void done(const Status& s) noexcept override {
    ++calls;
    if (!s) failed = true;
  }
  std::atomic<int> calls{0};
  std::atomic<bool> failed{false};
};

class StorageConformance : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override { open(); }
  void TearDown() override { plugin_.reset(); }

  void open() {
    plugin_.reset();
    config_ = TestConfigNode::map();
    if (GetParam().library == "rocksdb")
      config_->set("path", sdk::ConfigNode::Type::kString, (dir_.path() / "db").string());
    host::PluginRequest req;
    req.name = "store";
    req.kind = sdk::PluginKind::kStorage;
    req.library = GetParam().library;
    req.config = config_.get();
    req.context.instance_name = "store";
    req.context.log = &log_;
    req.context.clock = &clock_;
    req.context.metrics = &metrics_;
    host::PluginHost host(host::PluginSearchPath{{STORAGE_PLUGIN_DIR}});
    auto loaded = host.load(req);
    ASSERT_TRUE(loaded) << loaded.status().to_string();
    plugin_ = std::move(*loaded);
    ASSERT_TRUE(plugin_->start());
    storage_ = &plugin_->as<sdk::StoragePlugin>();
  }

  void write(std::vector<sdk::WriteOp> ops, std::vector<sdk::Sample> samples = {}) {
    CountingCallback cb;
    storage_->write({ops, samples}, &cb);
    ASSERT_TRUE(testing::wait_until([&] { return cb.calls.load() > 0; }));
    ASSERT_FALSE(cb.failed);
  }
  std::optional<std::string> get(Table t, std::string_view key) {
    Records r;
    if (!storage_->get(t, key, r)) return std::nullopt;
    return r.items.empty() ? std::nullopt : std::optional<std::string>(r.items[0].second);
  }
  std::vector<std::pair<std::string, std::string>> scan(Table t, std::string_view prefix) {
    Records r;
    EXPECT_TRUE(storage_->scan(t, prefix, r));
    return r.items;
  }
  std::vector<HistoryRow> history(std::string_view series, sdk::Timestamp from, sdk::Timestamp to,
                                  sdk::Duration step) {
    Rows rows;
    EXPECT_TRUE(storage_->history(series, from, to, step, rows));
    return rows.rows;
  }

  TempDir dir_;
  testing::TestLog log_;
  testing::FakeClock clock_;
  testing::TestMetrics metrics_;
  std::unique_ptr<TestConfigNode> config_;
  std::unique_ptr<host::LoadedPlugin> plugin_;
  sdk::StoragePlugin* storage_ = nullptr;
};

constexpr sdk::Duration kSec = sdk::kSecond;

TEST_P(StorageConformance, PutGetErase) {
  write({{Table::kTwins, false, "a", "1"}, {Table::kTwins, false, "b", "2"}});
  EXPECT_EQ(get(Table::kTwins, "a"), "1");
  write({{Table::kTwins, false, "a", "3"}, {Table::kTwins, true, "b", ""}});
  EXPECT_EQ(get(Table::kTwins, "a"), "3");
  EXPECT_EQ(get(Table::kTwins, "b"), std::nullopt);
  EXPECT_EQ(get(Table::kTwins, "missing"), std::nullopt);
}

TEST_P(StorageConformance, TablesAreSeparate) {
  write({{Table::kTwins, false, "k", "twins"},
         {Table::kRelationships, false, "k", "rels"},
         {Table::kMeta, false, "k", "meta"},
         {Table::kDeadLetters, false, "k", "dead"},
         {Table::kPluginState, false, "k", "state"}});
  EXPECT_EQ(get(Table::kTwins, "k"), "twins");
  EXPECT_EQ(get(Table::kRelationships, "k"), "rels");
  EXPECT_EQ(get(Table::kMeta, "k"), "meta");
  EXPECT_EQ(get(Table::kDeadLetters, "k"), "dead");
  EXPECT_EQ(get(Table::kPluginState, "k"), "state");
}

TEST_P(StorageConformance, PrefixScansAreOrderedAndBinarySafe) {
  using namespace std::string_literals;
  write({{Table::kTwins, false, "m2\0b"s, "x"},
         {Table::kTwins, false, "m1\0"s, "h1"},
         {Table::kTwins, false, "m1\0temp"s, "t"},
         {Table::kTwins, false, "m10\0"s, "h10"},
         {Table::kTwins, false, "m1\0a"s, "a"}});
  auto all = scan(Table::kTwins, "");
  ASSERT_EQ(all.size(), 5u);
  for (std::size_t i = 1; i < all.size(); ++i)
    EXPECT_LT(all[i - 1].first, all[i].first);
  auto m1 = scan(Table::kTwins, "m1\0"s);
  ASSERT_EQ(m1.size(), 3u);
  EXPECT_EQ(m1[0].first, "m1\0"s);
  EXPECT_EQ(m1[1].first, "m1\0a"s);
  EXPECT_EQ(m1[2].first, "m1\0temp"s);
  EXPECT_TRUE(scan(Table::kTwins, "zz").empty());
  Records first_two;
  first_two.limit = 2;
  ASSERT_TRUE(storage_->scan(Table::kTwins, "", first_two));
  EXPECT_EQ(first_two.items.size(), 2u);  // the visitor stopped the scan
}

TEST_P(StorageConformance, CallbackRunsExactlyOncePerWrite) {
  std::vector<std::unique_ptr<CountingCallback>> cbs;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    cbs.push_back(std::make_unique<CountingCallback>());
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        std::string key = "k" + std::to_string(t) + "-" + std::to_string(i);
        sdk::WriteOp op{Table::kTwins, false, key, "v"};
        storage_->write({std::span(&op, 1), {}}, cbs[t].get());
      }
    });
  for (auto& th : threads)
    th.join();
  for (auto& cb : cbs)
    ASSERT_TRUE(testing::wait_until([&] { return cb->calls.load() == 100; }));
  ASSERT_TRUE(storage_->flush());
  EXPECT_EQ(scan(Table::kTwins, "k").size(), 400u);
  for (auto& cb : cbs)
    EXPECT_EQ(cb->calls.load(), 100);
}

TEST_P(StorageConformance, RawHistoryInTimeOrderWithExclusiveEnd) {
  const sdk::Timestamp t0 = 1'700'000'000 * kSec;
  std::string series = std::string("m1\0temperature", 14);
  // Out of order on purpose: late data is stored in place.
  write({}, {{series, t0 + 2 * kSec, 22},
             {series, t0, 20},
             {series, t0 + kSec, 21},
             {series, t0 + 3 * kSec, 23}});
  auto rows = history(series, t0, t0 + 3 * kSec, 0);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].start, t0);
  EXPECT_DOUBLE_EQ(rows[0].last, 20);
  EXPECT_DOUBLE_EQ(rows[2].last, 22);
  EXPECT_TRUE(history("other", t0, t0 + 10 * kSec, 0).empty());
}

TEST_P(StorageConformance, DownsampledHistoryAggregatesPerStep) {
  const sdk::Timestamp t0 = 1'700'000'040 * kSec;  // a whole minute
  ASSERT_EQ(t0 % (60 * kSec), 0);
  std::vector<sdk::Sample> samples;
  const std::string series("pump\0flow", 9);
  for (int i = 0; i < 180; ++i)
    samples.push_back({series, t0 + i * kSec, static_cast<double>(i)});
  write({}, samples);
  auto rows = history(series, t0, t0 + 180 * kSec, 60 * kSec);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].start, t0 + 60 * kSec);
  EXPECT_EQ(rows[1].count, 60u);
  EXPECT_DOUBLE_EQ(rows[1].min, 60);
  EXPECT_DOUBLE_EQ(rows[1].max, 119);
  EXPECT_DOUBLE_EQ(rows[1].sum / rows[1].count, 89.5);
  EXPECT_DOUBLE_EQ(rows[1].last, 119);
  // A range starting mid-bucket only counts samples inside the range.
  auto partial = history(series, t0 + 30 * kSec, t0 + 90 * kSec, 60 * kSec);
  ASSERT_EQ(partial.size(), 2u);
  EXPECT_EQ(partial[0].count, 30u);
  EXPECT_EQ(partial[1].count, 30u);
}

TEST_P(StorageConformance, TrimHistoryDropsOldSamples) {
  const sdk::Timestamp t0 = 1'700'000'000 * kSec;
  const std::string ax("a\0x", 3), bx("b\0x", 3);
  write({}, {{ax, t0, 1}, {ax, t0 + 10 * kSec, 2}, {bx, t0, 3}});
  ASSERT_TRUE(storage_->trim_history("a", t0 + 5 * kSec));
  auto a = history(ax, 0, t0 + 100 * kSec, 0);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_DOUBLE_EQ(a[0].last, 2);
  EXPECT_EQ(history(bx, 0, t0 + 100 * kSec, 0).size(), 1u);  // other prefixes untouched
}

TEST_P(StorageConformance, StatsCountRecords) {
  write({{Table::kTwins, false, "a", "1"}, {Table::kMeta, false, "b", "2"}}, {{"s", 1, 1.0}});
  ASSERT_TRUE(storage_->flush());
  sdk::StorageStats st = storage_->stats();
  EXPECT_GE(st.records, 2u);
  EXPECT_GE(st.samples, 1u);
  EXPECT_EQ(st.pending_writes, 0u);
}

TEST_P(StorageConformance, DurablePluginsRecoverEverythingAfterReload) {
  if (!GetParam().durable)
    GTEST_SKIP() << GetParam().library << " keeps nothing across restarts by design";
  using namespace std::string_literals;
  const std::string header_key = "twin\0"s, series = "twin\0t"s;
  write({{Table::kTwins, false, header_key, "header"}, {Table::kRelationships, false, "r", "x"}},
        {{series, 5 * kSec, 42}});
  ASSERT_TRUE(storage_->flush());
  open();
  EXPECT_EQ(get(Table::kTwins, std::string("twin\0", 5)), "header");
  EXPECT_EQ(get(Table::kRelationships, "r"), "x");
  auto rows = history(std::string("twin\0t", 6), 0, 10 * kSec, 0);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_DOUBLE_EQ(rows[0].last, 42);
}

std::vector<Param> plugins() {
  std::vector<Param> p{{"memory", false}};
#ifdef HAVE_ROCKSDB_PLUGIN
  p.push_back({"rocksdb", true});
#endif
  return p;
}

INSTANTIATE_TEST_SUITE_P(Plugins, StorageConformance, ::testing::ValuesIn(plugins()),
                         [](const auto& p) { return p.param.library; });

}  // namespace
}  // namespace doppel::plugins::conformance
