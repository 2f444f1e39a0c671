// One conformance suite for every storage plugin: the sdk::StoragePlugin contract, run against
// each plugin's real .so (dlopen + the doppel_plugin_v1 entry point). To add a plugin, add a
// line to backends() below and its .so path to CMakeLists.txt.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "doppel/sdk/storage.hpp"
#include "doppel/storage_testing/harness.hpp"

namespace doppel::storage_testing {
namespace {

using namespace std::string_literals;
using sdk::HistoryRow;
using sdk::Sample;
using sdk::Status;
using sdk::Table;
using sdk::Timestamp;
using sdk::WriteOp;

constexpr sdk::Duration kSec = sdk::kSecond;
constexpr Timestamp kT0 = 1'700'000'040 * kSec;  // a whole minute
static_assert(kT0 % sdk::kMinute == 0);

struct Backend {
  std::string name;
  std::string library;
  bool durable;  // what is written survives stop + destroy + create
};

void PrintTo(const Backend& b, std::ostream* os) {
  *os << b.name;
}

std::vector<Backend> backends() {
  return {{"memory", DOPPEL_STORAGE_MEMORY_SO, false},
          {"rocksdb", DOPPEL_STORAGE_ROCKSDB_SO, true}};
}

::testing::AssertionResult is_ok(const Status& s) {
  if (s) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << s.to_string();
}

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
    return limit == 0 || rows.size() < limit;
  }
  std::vector<HistoryRow> rows;
  std::size_t limit = 0;
};

class StorageConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(open()); }

  // Creates (again) an instance; for durable plugins on the same database folder.
  void open() {
    loaded_.reset();
    MapConfig config;
    if (GetParam().name == "rocksdb") config.set("path", (dir_.path() / "db").string());
    auto loaded = LoadedStorage::load(GetParam().library, services_.context(), config);
    ASSERT_TRUE(loaded) << loaded.status().to_string();
    loaded_ = std::move(*loaded);
    ASSERT_TRUE(is_ok(loaded_->start()));
    s_ = &loaded_->storage();
  }

  void write(std::vector<WriteOp> ops, std::vector<Sample> samples = {}) {
    WaitableCallback cb;
    s_->write({ops, samples}, &cb);
    ASSERT_TRUE(cb.wait()) << "no callback";
    ASSERT_TRUE(cb.failures().empty()) << cb.failures()[0].to_string();
  }
  std::optional<std::string> get(Table t, std::string_view key) {
    Records r;
    Status s = s_->get(t, key, r);
    if (s.code() == sdk::StatusCode::kNotFound) return std::nullopt;
    EXPECT_TRUE(is_ok(s));
    EXPECT_EQ(r.items.size(), 1u);
    return r.items.empty() ? std::nullopt : std::optional(r.items[0].second);
  }
  std::vector<std::pair<std::string, std::string>> scan(Table t, std::string_view prefix) {
    Records r;
    EXPECT_TRUE(is_ok(s_->scan(t, prefix, r)));
    return r.items;
  }
  std::vector<std::string> keys(Table t, std::string_view prefix) {
    std::vector<std::string> out;
    for (auto& [k, v] : scan(t, prefix))
      out.push_back(k);
    return out;
  }
  std::vector<HistoryRow> history(std::string_view series, Timestamp from, Timestamp to,
                                  sdk::Duration step) {
    Rows rows;
    EXPECT_TRUE(is_ok(s_->history(series, from, to, step, rows)));
    return rows.rows;
  }
  std::vector<double> raw_values(std::string_view series, Timestamp from = 0,
                                 Timestamp to = std::numeric_limits<Timestamp>::max()) {
    std::vector<double> out;
    for (const HistoryRow& r : history(series, from, to, 0))
      out.push_back(r.last);
    return out;
  }

  TempDir dir_;
  TestServices services_;
  std::unique_ptr<LoadedStorage> loaded_;
  sdk::StoragePlugin* s_ = nullptr;
};

TEST_P(StorageConformance, DescriptorNamesTheStoragePlugin) {
  EXPECT_EQ(loaded_->descriptor().kind, sdk::PluginKind::kStorage);
  EXPECT_EQ(std::string(loaded_->descriptor().name), GetParam().name);
  EXPECT_EQ(s_->durable(), GetParam().durable);
}

TEST_P(StorageConformance, PutGetErase) {
  write({{Table::kTwins, false, "a", "1"}, {Table::kTwins, false, "b", "2"}});
  EXPECT_EQ(get(Table::kTwins, "a"), "1");
  EXPECT_EQ(get(Table::kTwins, "b"), "2");
  write({{Table::kTwins, false, "a", "3"}, {Table::kTwins, true, "b", ""}});
  EXPECT_EQ(get(Table::kTwins, "a"), "3");
  EXPECT_EQ(get(Table::kTwins, "b"), std::nullopt);
  Records r;
  EXPECT_EQ(s_->get(Table::kTwins, "missing", r).code(), sdk::StatusCode::kNotFound);
  EXPECT_TRUE(r.items.empty());
  write({{Table::kTwins, true, "never-written", ""}});  // erasing nothing is fine
  write({{Table::kTwins, false, "empty", ""}});         // an empty value is a value
  EXPECT_EQ(get(Table::kTwins, "empty"), "");
}

TEST_P(StorageConformance, OpsOfOneBatchApplyInOrder) {
  write({{Table::kTwins, false, "k", "1"},
         {Table::kTwins, false, "k", "2"},
         {Table::kTwins, false, "gone", "x"},
         {Table::kTwins, true, "gone", ""},
         {Table::kTwins, true, "back", ""},
         {Table::kTwins, false, "back", "y"}});
  EXPECT_EQ(get(Table::kTwins, "k"), "2");
  EXPECT_EQ(get(Table::kTwins, "gone"), std::nullopt);
  EXPECT_EQ(get(Table::kTwins, "back"), "y");
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
  write({{Table::kMeta, true, "k", ""}});
  EXPECT_EQ(get(Table::kMeta, "k"), std::nullopt);
  EXPECT_EQ(get(Table::kTwins, "k"), "twins");
  EXPECT_EQ(scan(Table::kDeadLetters, "").size(), 1u);
}

TEST_P(StorageConformance, PrefixScansAreInByteOrderAndBinarySafe) {
  write({{Table::kTwins, false, "m2\0b"s, "x"},
         {Table::kTwins, false, "m1\0"s, "h1"},
         {Table::kTwins, false, "m1\0temp"s, "t"},
         {Table::kTwins, false, "m10\0"s, "h10"},
         {Table::kTwins, false, "m1\0a"s, "a"},
         {Table::kTwins, false, "m1\xff"s, "hi"},  // bytes compare unsigned: 0xFF sorts last
         {Table::kTwins, false, "m1\x80"s, "mid"},
         {Table::kTwins, false, "\xff\xff"s, "top"}});
  EXPECT_EQ(keys(Table::kTwins, ""), (std::vector{"m1\0"s, "m1\0a"s, "m1\0temp"s, "m10\0"s,
                                                  "m1\x80"s, "m1\xff"s, "m2\0b"s, "\xff\xff"s}));
  EXPECT_EQ(keys(Table::kTwins, "m1\0"s), (std::vector{"m1\0"s, "m1\0a"s, "m1\0temp"s}));
  EXPECT_EQ(keys(Table::kTwins, "m1"),
            (std::vector{"m1\0"s, "m1\0a"s, "m1\0temp"s, "m10\0"s, "m1\x80"s, "m1\xff"s}));
  EXPECT_EQ(keys(Table::kTwins, "m1\xff"s), (std::vector{"m1\xff"s}));
  EXPECT_EQ(keys(Table::kTwins, "\xff"s), (std::vector{"\xff\xff"s}));
  EXPECT_TRUE(scan(Table::kTwins, "zz").empty());
  EXPECT_TRUE(scan(Table::kRelationships, "").empty());
  auto m1 = scan(Table::kTwins, "m1\0"s);
  ASSERT_EQ(m1.size(), 3u);
  EXPECT_EQ(m1[2].second, "t");
  Records first_two;
  first_two.limit = 2;
  ASSERT_TRUE(is_ok(s_->scan(Table::kTwins, "", first_two)));
  EXPECT_EQ(first_two.items.size(), 2u);  // the visitor stopped the scan
}

TEST_P(StorageConformance, ReadersSeeABatchWholeOrNotAtAll) {
  // One batch sets 16 twins (spread over any internal partitioning) to the same value.
  auto batch_ops = [](const std::vector<std::string>& keys, const std::string& value) {
    std::vector<WriteOp> ops;
    for (const std::string& k : keys)
      ops.push_back({Table::kTwins, false, k, value});
    return ops;
  };
  std::vector<std::string> twins;
  for (int i = 0; i < 16; ++i)
    twins.push_back("t" + std::to_string(100 + i) + "\0x"s);
  write(batch_ops(twins, "0"));
  // The writer goes on until the reader has scanned many times while batches were landing.
  constexpr int kMinBatches = 200, kMinScans = 100;
  std::atomic<bool> writing{true};
  std::atomic<int> torn{0}, scans{0};
  std::thread reader([&] {
    while (writing.load()) {
      Records r;
      if (!s_->scan(Table::kTwins, "t", r) || r.items.size() != twins.size()) {
        ++torn;
        continue;
      }
      for (auto& [k, v] : r.items)
        if (v != r.items[0].second) ++torn;
      ++scans;
    }
  });
  WaitableCallback cb;
  int batches = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((batches < kMinBatches || scans.load() < kMinScans) &&
         std::chrono::steady_clock::now() < deadline) {
    const std::string value = std::to_string(++batches);  // the ops view it
    auto ops = batch_ops(twins, value);
    s_->write({ops, {}}, &cb);
  }
  ASSERT_TRUE(cb.wait(batches));
  writing = false;
  reader.join();
  EXPECT_EQ(torn.load(), 0) << "a reader saw part of a batch";
  EXPECT_GE(scans.load(), kMinScans);
  EXPECT_TRUE(cb.failures().empty());
  for (auto& [k, v] : scan(Table::kTwins, "t"))
    EXPECT_EQ(v, std::to_string(batches)) << k;
}

TEST_P(StorageConformance, CallbackRunsExactlyOncePerWrite) {
  constexpr int kThreads = 4, kWrites = 250;
  std::vector<std::unique_ptr<WaitableCallback>> cbs;
  for (int t = 0; t < kThreads; ++t)
    cbs.push_back(std::make_unique<WaitableCallback>());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      const std::string series = "s" + std::to_string(t);
      for (int i = 0; i < kWrites; ++i) {
        std::string key = "k" + std::to_string(t) + "-" + std::to_string(i);
        WriteOp op{Table::kTwins, false, key, "v"};
        Sample sample{series, kT0 + i * kSec, 1.0};
        s_->write({std::span(&op, 1), std::span(&sample, i % 2)}, cbs[t].get());
      }
    });
  for (auto& th : threads)
    th.join();
  for (auto& cb : cbs)
    ASSERT_TRUE(cb->wait(kWrites));
  ASSERT_TRUE(is_ok(s_->flush()));
  EXPECT_EQ(scan(Table::kTwins, "k").size(), std::size_t{kThreads * kWrites});
  for (auto& cb : cbs) {
    EXPECT_EQ(cb->calls(), kWrites);
    EXPECT_TRUE(cb->failures().empty());
  }
  // An empty batch is acknowledged too, once.
  WaitableCallback empty;
  s_->write({}, &empty);
  ASSERT_TRUE(empty.wait());
  ASSERT_TRUE(is_ok(s_->flush()));
  EXPECT_EQ(empty.calls(), 1);
  // No callback at all is allowed (fire and forget).
  WriteOp op{Table::kTwins, false, "no-callback", "v"};
  s_->write({std::span(&op, 1), {}}, nullptr);
  ASSERT_TRUE(is_ok(s_->flush()));
  EXPECT_EQ(get(Table::kTwins, "no-callback"), "v");
}

TEST_P(StorageConformance, OpsAndSamplesOfABatchLandTogether) {
  const std::string series = "pump\0flow"s;
  write({{Table::kTwins, false, "pump\0flow"s, "42"}}, {{series, kT0, 42}});
  EXPECT_EQ(get(Table::kTwins, "pump\0flow"s), "42");
  EXPECT_EQ(raw_values(series), std::vector<double>{42});
}

TEST_P(StorageConformance, RawHistoryIsInTimeOrderFromInclusiveToExclusive) {
  const std::string series = "m1\0temperature"s;
  // Out of order on purpose, across minute boundaries and in several batches.
  write({}, {{series, kT0 + 62 * kSec, 62}, {series, kT0, 0}, {series, kT0 + 1 * kSec, 1}});
  write({}, {{series, kT0 + 59 * kSec, 59}, {series, kT0 + 60 * kSec, 60}});
  write({}, {{series, kT0 + 30 * kSec, 30}});
  auto rows = history(series, kT0, kT0 + 62 * kSec, 0);  // `to` excludes the sample at 62 s
  ASSERT_EQ(rows.size(), 5u);
  std::vector<Timestamp> times;
  for (const HistoryRow& r : rows) {
    times.push_back(r.start);
    EXPECT_EQ(r.count, 1u);
    EXPECT_EQ(r.min, r.last);
    EXPECT_EQ(r.max, r.last);
    EXPECT_EQ(r.sum, r.last);
  }
  EXPECT_EQ(times, (std::vector<Timestamp>{kT0, kT0 + 1 * kSec, kT0 + 30 * kSec, kT0 + 59 * kSec,
                                           kT0 + 60 * kSec}));
  EXPECT_EQ(raw_values(series, kT0 + 1 * kSec, kT0 + 60 * kSec), (std::vector<double>{1, 30, 59}));
  EXPECT_EQ(raw_values(series, kT0 + 60 * kSec, kT0 + 61 * kSec), std::vector<double>{60});
  EXPECT_TRUE(history(series, kT0 + 2 * kSec, kT0 + 30 * kSec, 0).empty());
  EXPECT_TRUE(history(series, kT0 + 60 * kSec, kT0 + 60 * kSec, 0).empty());  // empty range
  EXPECT_TRUE(history(series, kT0 + 61 * kSec, kT0, 0).empty());              // reversed range
  EXPECT_TRUE(history("other", kT0, kT0 + 100 * kSec, 0).empty());
  // The whole time axis.
  EXPECT_EQ(history(series, std::numeric_limits<Timestamp>::min(),
                    std::numeric_limits<Timestamp>::max(), 0)
                .size(),
            6u);
}

TEST_P(StorageConformance, HistoryKeepsSamplesWithEqualTimesInArrivalOrder) {
  write({}, {{"s", kT0, 1}, {"s", kT0, 2}});
  write({}, {{"s", kT0, 3}});
  EXPECT_EQ(raw_values("s"), (std::vector<double>{1, 2, 3}));
}

TEST_P(StorageConformance, SeriesAreSeparateEvenWhenOneNamePrefixesAnother) {
  write({}, {{"a\0x"s, kT0, 1}, {"a\0xy"s, kT0, 2}, {"a\0"s, kT0, 3}, {"a"s, kT0, 4}});
  EXPECT_EQ(raw_values("a\0x"s), std::vector<double>{1});
  EXPECT_EQ(raw_values("a\0xy"s), std::vector<double>{2});
  EXPECT_EQ(raw_values("a\0"s), std::vector<double>{3});
  EXPECT_EQ(raw_values("a"s), std::vector<double>{4});
}

TEST_P(StorageConformance, DownsampledHistoryAggregatesPerStep) {
  const std::string series("pump\0flow", 9);
  std::vector<Sample> samples;
  for (int i = 0; i < 180; ++i)
    samples.push_back({series, kT0 + i * kSec, static_cast<double>(i)});
  write({}, samples);
  auto rows = history(series, kT0, kT0 + 180 * kSec, 60 * kSec);
  ASSERT_EQ(rows.size(), 3u);
  for (int b = 0; b < 3; ++b) {
    EXPECT_EQ(rows[b].start, kT0 + b * 60 * kSec);
    EXPECT_EQ(rows[b].count, 60u);
    EXPECT_DOUBLE_EQ(rows[b].min, 60 * b);
    EXPECT_DOUBLE_EQ(rows[b].max, 60 * b + 59);
    EXPECT_DOUBLE_EQ(rows[b].sum / rows[b].count, 60 * b + 29.5);
    EXPECT_DOUBLE_EQ(rows[b].last, 60 * b + 59);
  }
  // A range starting mid-bucket counts only samples inside the range, but buckets stay aligned.
  auto partial = history(series, kT0 + 30 * kSec, kT0 + 90 * kSec, 60 * kSec);
  ASSERT_EQ(partial.size(), 2u);
  EXPECT_EQ(partial[0].start, kT0);
  EXPECT_EQ(partial[0].count, 30u);
  EXPECT_DOUBLE_EQ(partial[0].min, 30);
  EXPECT_EQ(partial[1].start, kT0 + 60 * kSec);
  EXPECT_EQ(partial[1].count, 30u);
  EXPECT_DOUBLE_EQ(partial[1].last, 89);
  // Steps that do not divide a minute, and steps wider than a minute.
  auto ninety = history(series, kT0, kT0 + 180 * kSec, 90 * kSec);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < ninety.size(); ++i) {
    EXPECT_EQ(ninety[i].start % (90 * kSec), 0) << i;
    if (i) {
      EXPECT_GT(ninety[i].start, ninety[i - 1].start);
    }
    total += ninety[i].count;
  }
  EXPECT_EQ(total, 180u);
  auto five_min = history(series, kT0, kT0 + 180 * kSec, 300 * kSec);
  total = 0;
  for (const HistoryRow& r : five_min)
    total += r.count;
  EXPECT_EQ(total, 180u);
  EXPECT_LE(five_min.size(), 2u);
  auto seven = history(series, kT0, kT0 + 180 * kSec, 7 * kSec);
  EXPECT_EQ(seven.front().start, kT0 - kT0 % (7 * kSec));
  EXPECT_EQ(seven.size(), 27u);  // ceil over [kT0, kT0+180s) of 7 s buckets it touches
}

TEST_P(StorageConformance, BucketBoundariesAndLastAreByTime) {
  const std::string s = "b";
  // A sample exactly on a boundary opens the next bucket; `last` is the latest time, not the
  // latest arrival; empty buckets produce no row.
  write({}, {{s, kT0 + 59 * kSec, 1}, {s, kT0 + 60 * kSec, 2}, {s, kT0 + 10 * kSec, 3}});
  write({}, {{s, kT0 + 5 * kSec, 4}, {s, kT0 + 200 * kSec, 5}});
  auto rows = history(s, kT0, kT0 + 300 * kSec, 60 * kSec);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].start, kT0);
  EXPECT_EQ(rows[0].count, 3u);
  EXPECT_DOUBLE_EQ(rows[0].last, 1);  // 59 s is the latest sample of the first minute
  EXPECT_DOUBLE_EQ(rows[0].min, 1);
  EXPECT_DOUBLE_EQ(rows[0].max, 4);
  EXPECT_DOUBLE_EQ(rows[0].sum, 8);
  EXPECT_EQ(rows[1].start, kT0 + 60 * kSec);
  EXPECT_EQ(rows[1].count, 1u);
  EXPECT_EQ(rows[2].start, kT0 + 180 * kSec);
  EXPECT_DOUBLE_EQ(rows[2].last, 5);
  // `to` on a boundary excludes the sample there.
  rows = history(s, kT0, kT0 + 60 * kSec, 60 * kSec);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].count, 3u);
}

TEST_P(StorageConformance, BucketsBeforeTheEpochAlignDown) {
  write({}, {{"neg", -1 * kSec, 1}, {"neg", -60 * kSec, 2}, {"neg", -61 * kSec, 3}, {"neg", 0, 4}});
  auto rows = history("neg", -120 * kSec, 60 * kSec, 60 * kSec);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].start, -120 * kSec);
  EXPECT_DOUBLE_EQ(rows[0].last, 3);
  EXPECT_EQ(rows[1].start, -60 * kSec);
  EXPECT_EQ(rows[1].count, 2u);
  EXPECT_DOUBLE_EQ(rows[1].last, 1);
  EXPECT_EQ(rows[2].start, 0);
  EXPECT_EQ(raw_values("neg", std::numeric_limits<Timestamp>::min()),
            (std::vector<double>{3, 2, 1, 4}));
}

TEST_P(StorageConformance, HistoryVisitorCanStop) {
  std::vector<Sample> samples;
  for (int i = 0; i < 300; ++i)
    samples.push_back({"v", kT0 + i * kSec, static_cast<double>(i)});
  write({}, samples);
  for (sdk::Duration step : {sdk::Duration{0}, 60 * kSec}) {
    Rows rows;
    rows.limit = 2;
    ASSERT_TRUE(is_ok(s_->history("v", kT0, kT0 + 300 * kSec, step, rows)));
    EXPECT_EQ(rows.rows.size(), 2u) << "step " << step;
  }
}

TEST_P(StorageConformance, TrimHistoryDropsOlderSamplesOfMatchingSeries) {
  const std::string ax = "a\0x"s, ay = "a\0y"s, bx = "b\0x"s;
  std::vector<Sample> samples;
  for (int i = 0; i < 150; ++i)
    for (const std::string* s : {&ax, &ay, &bx})
      samples.push_back({*s, kT0 + i * kSec, static_cast<double>(i)});
  write({}, samples);
  ASSERT_TRUE(is_ok(s_->flush()));
  EXPECT_EQ(s_->stats().samples, 450u);
  // Cut in the middle of the second minute: whole and partial blocks go.
  const Timestamp cut = kT0 + 75 * kSec;
  ASSERT_TRUE(is_ok(s_->trim_history("a\0"s, cut)));
  for (const std::string* s : {&ax, &ay}) {
    auto v = raw_values(*s, std::numeric_limits<Timestamp>::min());
    ASSERT_EQ(v.size(), 75u);
    EXPECT_DOUBLE_EQ(v.front(), 75);
    EXPECT_DOUBLE_EQ(v.back(), 149);
  }
  EXPECT_EQ(raw_values(bx).size(), 150u);  // other prefixes untouched
  auto rows = history(ax, kT0, kT0 + 180 * kSec, 60 * kSec);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].start, kT0 + 60 * kSec);
  EXPECT_EQ(rows[0].count, 45u);
  EXPECT_DOUBLE_EQ(rows[0].min, 75);
  EXPECT_EQ(s_->stats().samples, 300u);
  // Appending to a trimmed block, trimming again (idempotent), then trimming everything.
  write({}, {{ax, kT0 + 80 * kSec, 1000}, {ax, kT0 + 10 * kSec, 2000}});
  ASSERT_TRUE(is_ok(s_->trim_history("a\0"s, cut)));
  ASSERT_TRUE(is_ok(s_->trim_history("a\0"s, cut)));
  auto v = raw_values(ax, std::numeric_limits<Timestamp>::min());
  ASSERT_EQ(v.size(), 76u);
  EXPECT_EQ(std::count(v.begin(), v.end(), 1000.0), 1);
  EXPECT_EQ(std::count(v.begin(), v.end(), 2000.0), 0);
  ASSERT_TRUE(is_ok(s_->trim_history("", std::numeric_limits<Timestamp>::max())));
  EXPECT_TRUE(raw_values(ax).empty());
  EXPECT_TRUE(raw_values(bx).empty());
  EXPECT_EQ(s_->stats().samples, 0u);
  write({}, {{bx, kT0, 7}});  // a trimmed series takes new samples
  EXPECT_EQ(raw_values(bx), std::vector<double>{7});
}

TEST_P(StorageConformance, FlushMakesEverythingAcceptedDurableAndStatsCount) {
  WaitableCallback cb;
  std::vector<std::string> keys;
  for (int i = 0; i < 50; ++i)
    keys.push_back("twin" + std::to_string(i));
  for (int i = 0; i < 50; ++i) {
    WriteOp op{i % 2 ? Table::kTwins : Table::kMeta, false, keys[i], "value"};
    Sample s{"series", kT0 + i * kSec, 1.0};
    s_->write({std::span(&op, 1), std::span(&s, 1)}, &cb);
  }
  ASSERT_TRUE(is_ok(s_->flush()));
  // flush() returns once every accepted write is durable and acknowledged.
  EXPECT_EQ(cb.calls(), 50);
  sdk::StorageStats st = s_->stats();
  EXPECT_EQ(st.pending_writes, 0u);
  EXPECT_GE(st.records, 50u);  // an estimate for some plugins, never below the truth here
  EXPECT_EQ(st.samples, 50u);
  EXPECT_GT(st.bytes_in_memory, 0u);
  if (GetParam().durable)
    EXPECT_GT(st.bytes_on_disk, 0u);
  else
    EXPECT_EQ(st.bytes_on_disk, 0u);
}

TEST_P(StorageConformance, ConcurrentWritersAndReaders) {
  constexpr int kWriters = 4, kWrites = 200;
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<WaitableCallback>> cbs;
  for (int t = 0; t < kWriters; ++t)
    cbs.push_back(std::make_unique<WaitableCallback>());
  for (int t = 0; t < kWriters; ++t)
    threads.emplace_back([&, t] {
      std::string series = "w" + std::to_string(t) + "\0s"s;
      for (int i = 0; i < kWrites; ++i) {
        std::string key = "w" + std::to_string(t) + "\0"s + std::to_string(1000 + i);
        const std::string value = std::to_string(i);
        WriteOp op{Table::kTwins, false, key, value};
        Sample s{series, kT0 + i * kSec, static_cast<double>(i)};
        s_->write({std::span(&op, 1), std::span(&s, 1)}, cbs[t].get());
      }
    });
  std::thread reader([&] {
    while (!done) {
      Records r;
      (void)s_->scan(Table::kTwins, "w1", r);
      Rows rows;
      (void)s_->history("w2\0s"s, kT0, kT0 + kWrites * kSec, 60 * kSec, rows);
      (void)s_->stats();
    }
  });
  for (auto& th : threads)
    th.join();
  for (auto& cb : cbs)
    ASSERT_TRUE(cb->wait(kWrites));
  done = true;
  reader.join();
  for (int t = 0; t < kWriters; ++t) {
    std::string prefix = "w" + std::to_string(t) + "\0"s;
    EXPECT_EQ(scan(Table::kTwins, prefix).size(), std::size_t{kWrites});
    EXPECT_EQ(raw_values(prefix + "s").size(), std::size_t{kWrites});
  }
}

TEST_P(StorageConformance, UnknownTablesAreRejected) {
  const auto bad = static_cast<Table>(sdk::kTableCount);
  Records r;
  EXPECT_EQ(s_->get(bad, "k", r).code(), sdk::StatusCode::kInvalidArgument);
  EXPECT_EQ(s_->scan(bad, "", r).code(), sdk::StatusCode::kInvalidArgument);
  WaitableCallback cb;
  std::vector<WriteOp> ops{{Table::kTwins, false, "fine", "v"}, {bad, false, "k", "v"}};
  s_->write({ops, {}}, &cb);
  ASSERT_TRUE(cb.wait());
  ASSERT_EQ(cb.failures().size(), 1u);
  EXPECT_EQ(cb.failures()[0].code(), sdk::StatusCode::kInvalidArgument);
  EXPECT_EQ(get(Table::kTwins, "fine"), std::nullopt);  // nothing of the batch applied
}

TEST_P(StorageConformance, DurablePluginsRecoverExactlyWhatWasWritten) {
  if (!GetParam().durable)
    GTEST_SKIP() << GetParam().name << " keeps nothing across restarts by design";
  const std::string series = "twin\0t"s;
  std::vector<WriteOp> ops;
  std::vector<std::string> keys, values;
  for (int i = 0; i < 100; ++i) {
    keys.push_back("twin" + std::to_string(i) + "\0"s);
    values.push_back("header" + keys.back());
  }
  for (int i = 0; i < 100; ++i)
    ops.push_back({Table::kTwins, false, keys[i], values[i]});
  ops.push_back({Table::kRelationships, false, "r", "x"});
  std::vector<Sample> samples;
  for (int i = 0; i < 150; ++i)
    samples.push_back({series, kT0 + i * kSec, static_cast<double>(i)});
  write(ops, samples);
  write({{Table::kTwins, true, keys[7], ""}});
  ASSERT_TRUE(is_ok(s_->trim_history(series, kT0 + 30 * kSec)));
  ASSERT_NO_FATAL_FAILURE(open());  // stop + destroy + create + start on the same folder
  EXPECT_EQ(scan(Table::kTwins, "twin").size(), 99u);
  EXPECT_EQ(get(Table::kTwins, keys[8]), "header" + keys[8]);
  EXPECT_EQ(get(Table::kTwins, keys[7]), std::nullopt);
  EXPECT_EQ(get(Table::kRelationships, "r"), "x");
  EXPECT_EQ(raw_values(series).size(), 120u);
  EXPECT_EQ(s_->stats().samples, 120u);
  // New samples join the recovered blocks, in time order.
  write({}, {{series, kT0 + 31 * kSec + 1, -1}});
  ASSERT_NO_FATAL_FAILURE(open());
  auto v = raw_values(series);
  ASSERT_EQ(v.size(), 121u);
  EXPECT_DOUBLE_EQ(v[0], 30);
  EXPECT_DOUBLE_EQ(v[1], 31);
  EXPECT_DOUBLE_EQ(v[2], -1);
  auto rows = history(series, kT0, kT0 + 180 * kSec, 60 * kSec);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].count, 31u);
  EXPECT_EQ(rows[1].count, 60u);
  EXPECT_EQ(rows[2].count, 30u);
}

INSTANTIATE_TEST_SUITE_P(Plugins, StorageConformance, ::testing::ValuesIn(backends()),
                         [](const auto& p) { return p.param.name; });

}  // namespace
}  // namespace doppel::storage_testing
