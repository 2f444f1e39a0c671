// storage-memory beyond the shared conformance suite: no settings, nothing survives a new
// instance, late samples are kept in time order, memory is given back on trim.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>
#include <vector>

#include "doppel/sdk/storage.hpp"
#include "doppel/storage_testing/harness.hpp"

namespace doppel::storage_testing {
namespace {

using sdk::Sample;
using sdk::Table;
using sdk::Timestamp;

class Rows final : public sdk::HistoryVisitor {
 public:
  bool row(const sdk::HistoryRow& r) noexcept override {
    rows.push_back(r);
    return true;
  }
  std::vector<sdk::HistoryRow> rows;
};

class Found final : public sdk::RecordVisitor {
 public:
  bool visit(std::string_view, std::string_view) noexcept override { return true; }
};

std::unique_ptr<LoadedStorage> open(TestServices& services, const MapConfig& config = {}) {
  auto loaded = LoadedStorage::load(DOPPEL_STORAGE_MEMORY_SO, services.context(), config);
  EXPECT_TRUE(loaded) << loaded.status().to_string();
  if (!loaded) return nullptr;
  EXPECT_TRUE((*loaded)->start());
  return std::move(*loaded);
}

TEST(MemoryStorage, HasNoSettings) {
  TestServices services;
  MapConfig config;
  config.set("path", "/tmp/x");
  auto loaded = LoadedStorage::load(DOPPEL_STORAGE_MEMORY_SO, services.context(), config);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.status().code(), sdk::StatusCode::kInvalidArgument);
  EXPECT_NE(loaded.status().message().find("'path'"), std::string::npos);
  EXPECT_NE(loaded.status().where().find("config.path"), std::string::npos);
  EXPECT_EQ((*LoadedStorage::load(DOPPEL_STORAGE_MEMORY_SO, services.context(), MapConfig{}))
                ->descriptor()
                .config_field_count,
            0u);
}

TEST(MemoryStorage, ANewInstanceStartsEmpty) {
  TestServices services;
  auto first = open(services);
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->storage().durable());
  WaitableCallback cb;
  sdk::WriteOp op{Table::kTwins, false, "k", "v"};
  Sample s{"s", 1, 1.0};
  first->storage().write({std::span(&op, 1), std::span(&s, 1)}, &cb);
  ASSERT_EQ(cb.calls(), 1);  // memory acknowledges synchronously
  first.reset();
  auto second = open(services);
  ASSERT_TRUE(second);
  Found f;
  EXPECT_EQ(second->storage().get(Table::kTwins, "k", f).code(), sdk::StatusCode::kNotFound);
  EXPECT_EQ(second->storage().stats().samples, 0u);
}

TEST(MemoryStorage, LateSamplesAreKeptInTimeOrderAndTrimGivesMemoryBack) {
  TestServices services;
  auto store = open(services);
  ASSERT_TRUE(store);
  sdk::StoragePlugin& s = store->storage();
  std::vector<Timestamp> times(5000);
  for (std::size_t i = 0; i < times.size(); ++i)
    times[i] = static_cast<Timestamp>(i) * sdk::kSecond;
  std::shuffle(times.begin(), times.end(), std::mt19937(7));
  WaitableCallback cb;
  for (Timestamp t : times) {
    Sample sample{"x", t, static_cast<double>(t / sdk::kSecond)};
    s.write({{}, std::span(&sample, 1)}, &cb);
  }
  ASSERT_EQ(cb.calls(), 5000);
  Rows rows;
  ASSERT_TRUE(s.history("x", 0, std::numeric_limits<Timestamp>::max(), 0, rows));
  ASSERT_EQ(rows.rows.size(), 5000u);
  for (std::size_t i = 0; i < rows.rows.size(); ++i)
    ASSERT_EQ(rows.rows[i].start, static_cast<Timestamp>(i) * sdk::kSecond);
  const std::uint64_t before = s.stats().bytes_in_memory;
  ASSERT_TRUE(s.trim_history("", std::numeric_limits<Timestamp>::max()));
  EXPECT_LT(s.stats().bytes_in_memory, before);
  EXPECT_EQ(s.stats().samples, 0u);
}

}  // namespace
}  // namespace doppel::storage_testing
