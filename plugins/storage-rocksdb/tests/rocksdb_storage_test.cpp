// storage-rocksdb beyond the shared conformance suite: config errors, durability settings,
// group commit, retention, trimming under concurrent appends, and kill -9 recovery.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "doppel/sdk/storage.hpp"
#include "doppel/storage_testing/harness.hpp"

namespace doppel::storage_testing {
namespace {

using namespace std::string_literals;
using sdk::ConfigNode;
using sdk::Sample;
using sdk::Status;
using sdk::StatusCode;
using sdk::Table;
using sdk::Timestamp;
using sdk::WriteOp;

constexpr sdk::Duration kSec = sdk::kSecond;
constexpr Timestamp kT0 = 1'700'000'040 * kSec;  // a whole minute

::testing::AssertionResult is_ok(const Status& s) {
  if (s) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << s.to_string();
}

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
  bool visit(std::string_view, std::string_view v) noexcept override {
    value = std::string(v);
    ++count;
    return true;
  }
  std::string value;
  std::size_t count = 0;
};

class RocksStorageTest : public ::testing::Test {
 protected:
  std::string db() const { return (dir_.path() / "db").string(); }

  // A config with path set to this test's folder, plus `extra`.
  MapConfig config(std::initializer_list<std::pair<std::string, std::string>> extra = {}) {
    MapConfig c;
    c.set("path", db());
    for (const auto& [k, v] : extra) {
      bool integer = !v.empty() && v.find_first_not_of("-0123456789") == std::string::npos;
      c.set(k, integer ? ConfigNode::Type::kInteger : ConfigNode::Type::kString, v);
    }
    return c;
  }

  sdk::Expected<std::unique_ptr<LoadedStorage>> load(const MapConfig& c) {
    return LoadedStorage::load(DOPPEL_STORAGE_ROCKSDB_SO, services_.context(), c);
  }

  // Loads and starts; fails the test on error.
  void open(std::initializer_list<std::pair<std::string, std::string>> extra = {}) {
    plugin_.reset();
    auto loaded = load(config(extra));
    ASSERT_TRUE(loaded) << loaded.status().to_string();
    plugin_ = std::move(*loaded);
    ASSERT_TRUE(is_ok(plugin_->start()));
    s_ = &plugin_->storage();
  }

  void write(std::vector<WriteOp> ops, std::vector<Sample> samples = {}) {
    WaitableCallback cb;
    s_->write({ops, samples}, &cb);
    ASSERT_TRUE(cb.wait());
    ASSERT_TRUE(cb.failures().empty()) << cb.failures()[0].to_string();
  }

  std::size_t sample_count(std::string_view series) {
    Rows rows;
    EXPECT_TRUE(is_ok(s_->history(series, std::numeric_limits<Timestamp>::min(),
                                  std::numeric_limits<Timestamp>::max(), 0, rows)));
    return rows.rows.size();
  }

  TempDir dir_;
  TestServices services_;
  std::unique_ptr<LoadedStorage> plugin_;
  sdk::StoragePlugin* s_ = nullptr;
};

// ---- configuration ----

struct BadConfig {
  std::string key;
  ConfigNode::Type type;
  std::string text;
  std::vector<std::string> message_has;
};

TEST_F(RocksStorageTest, BadConfigErrorsNameTheKeyAndWhere) {
  using T = ConfigNode::Type;
  const std::vector<BadConfig> cases = {
      {"durability", T::kString, "fast", {"durability", "sync", "wal", "none", "'fast'"}},
      {"durability", T::kInteger, "1", {"durability"}},
      {"group_commit_max_delay_ms", T::kInteger, "-1", {"group_commit_max_delay_ms", "0 to 1000"}},
      {"group_commit_max_delay_ms", T::kInteger, "5000", {"group_commit_max_delay_ms"}},
      {"group_commit_max_delay_ms", T::kString, "2ms", {"group_commit_max_delay_ms", "integer"}},
      {"group_commit_max_batch", T::kInteger, "0", {"group_commit_max_batch"}},
      {"history_retention", T::kString, "7x", {"history_retention", "7d", "'7x'"}},
      {"history_retention", T::kString, "d", {"history_retention"}},
      {"history_retention", T::kString, "0h", {"history_retention"}},
      {"history_retention", T::kString, "-1h", {"history_retention"}},
      {"history_retention", T::kString, "99999999999999999d", {"history_retention"}},
      {"history_retention", T::kInteger, "7", {"history_retention"}},
      {"path", T::kString, "", {"path"}},
      {"path", T::kInteger, "5", {"path"}},
      {"durabilty", T::kString, "sync", {"unknown key 'durabilty'", "durability"}},
  };
  for (const BadConfig& c : cases) {
    MapConfig cfg = config();
    cfg.set(c.key, c.type, c.text);
    auto loaded = load(cfg);
    ASSERT_FALSE(loaded) << c.key << ": " << c.text << " was accepted";
    Status s = loaded.status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
    for (const std::string& part : c.message_has)
      EXPECT_NE(s.message().find(part), std::string::npos)
          << c.key << "=" << c.text << ": '" << s.message() << "' lacks '" << part << "'";
    EXPECT_NE(s.where().find("config." + c.key), std::string::npos) << s.where();
  }
  MapConfig no_path;
  auto loaded = load(no_path);
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.status().message().find("path is required"), std::string::npos);
  EXPECT_EQ(loaded.status().where(), "test.yaml:1:1 config");  // the map that lacks it
  EXPECT_FALSE(std::filesystem::exists(db())) << "configure() must not create files";
}

TEST_F(RocksStorageTest, DescriptorDeclaresEveryConfigKey) {
  auto loaded = load(config());
  ASSERT_TRUE(loaded) << loaded.status().to_string();
  const sdk::PluginDescriptor& d = (*loaded)->descriptor();
  std::map<std::string, ConfigNode::Type> fields;
  for (std::size_t i = 0; i < d.config_field_count; ++i)
    fields[d.config_fields[i].key] = d.config_fields[i].type;
  EXPECT_EQ(fields, (std::map<std::string, ConfigNode::Type>{
                        {"path", ConfigNode::Type::kString},
                        {"durability", ConfigNode::Type::kString},
                        {"group_commit_max_delay_ms", ConfigNode::Type::kInteger},
                        {"group_commit_max_batch", ConfigNode::Type::kInteger},
                        {"history_retention", ConfigNode::Type::kString}}));
  EXPECT_TRUE(d.config_fields[0].required);
}

TEST_F(RocksStorageTest, GoodConfigsAreAccepted) {
  for (const char* durability : {"sync", "wal", "none"})
    for (const char* retention : {"", "90s", "30m", "12h", "7d"}) {
      auto loaded = load(config({{"durability", durability},
                                 {"history_retention", retention},
                                 {"group_commit_max_delay_ms", "0"},
                                 {"group_commit_max_batch", "1"}}));
      EXPECT_TRUE(loaded) << durability << " " << retention << ": " << loaded.status().to_string();
    }
  auto loaded = load(config({{"group_commit_max_delay_ms", "1000"}}));
  EXPECT_TRUE(loaded) << loaded.status().to_string();
}

// ---- durability and recovery ----

TEST_F(RocksStorageTest, EveryDurabilityRecoversAfterACleanStop) {
  for (const char* durability : {"sync", "wal", "none"}) {
    SCOPED_TRACE(durability);
    std::filesystem::remove_all(db());
    ASSERT_NO_FATAL_FAILURE(open({{"durability", durability}}));
    std::vector<std::string> keys;
    for (int i = 0; i < 100; ++i)
      keys.push_back("k" + std::to_string(i));
    WaitableCallback cb;
    for (int i = 0; i < 100; ++i) {
      WriteOp op{Table::kTwins, false, keys[i], durability};
      Sample sample{"s", kT0 + i * kSec, 1.0};
      s_->write({std::span(&op, 1), std::span(&sample, 1)}, &cb);
    }
    ASSERT_TRUE(cb.wait(100));
    ASSERT_TRUE(cb.failures().empty());
    ASSERT_NO_FATAL_FAILURE(open({{"durability", durability}}));
    for (const std::string& k : keys) {
      Found f;
      ASSERT_TRUE(is_ok(s_->get(Table::kTwins, k, f))) << k;
      EXPECT_EQ(f.value, durability);
    }
    EXPECT_EQ(sample_count("s"), 100u);
    EXPECT_EQ(s_->stats().samples, 100u);
  }
}

// The writer process prints each acknowledged batch; it is killed with SIGKILL after `acks`
// acknowledgements, the database is reopened and every acknowledged batch must be there whole.
void kill_writer_and_recover(const std::string& durability, int acks_wanted) {
  TempDir dir;
  const std::string db = (dir.path() / "db").string();
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::execl(DOPPEL_CRASH_WRITER, DOPPEL_CRASH_WRITER, DOPPEL_STORAGE_ROCKSDB_SO, db.c_str(),
            durability.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);

  // Read acknowledgements until enough arrived or the deadline passed.
  std::map<int, std::set<long>> acked;
  int acks = 0;
  std::string buffer;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (acks < acks_wanted) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[4096];
    ssize_t n = ::read(fds[0], chunk, sizeof chunk);
    if (n <= 0) break;  // the writer died early
    buffer.append(chunk, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = buffer.find('\n')) != std::string::npos;) {
      std::istringstream line(buffer.substr(0, nl));
      buffer.erase(0, nl + 1);
      int thread;
      long seq;
      if (line >> thread >> seq) {
        acked[thread].insert(seq);
        ++acks;
      }
    }
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(fds[0]);
  ASSERT_GE(acks, acks_wanted) << "the writer stopped or stalled early";
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;

  TestServices services;
  MapConfig config;
  config.set("path", db).set("durability", durability);
  auto loaded = LoadedStorage::load(DOPPEL_STORAGE_ROCKSDB_SO, services.context(), config);
  ASSERT_TRUE(loaded) << loaded.status().to_string();
  ASSERT_TRUE(is_ok((*loaded)->start()));
  sdk::StoragePlugin& s = (*loaded)->storage();
  std::size_t samples_total = 0;
  for (int t = 0; t < 4; ++t) {
    SCOPED_TRACE("thread " + std::to_string(t));
    // Everything present: records (by seq) and samples (by time = seq seconds).
    std::set<long> records;
    class Collect final : public sdk::RecordVisitor {
     public:
      explicit Collect(std::set<long>& out) : out_(out) {}
      bool visit(std::string_view k, std::string_view) noexcept override {
        out_.insert(std::stol(std::string(k.substr(k.rfind('/') + 1))));
        return true;
      }
      std::set<long>& out_;
    } collect(records);
    ASSERT_TRUE(is_ok(s.scan(Table::kTwins, "rec/" + std::to_string(t) + "/", collect)));
    Rows rows;
    ASSERT_TRUE(is_ok(s.history(std::string("crash\0", 6) + std::to_string(t), 0,
                                std::numeric_limits<Timestamp>::max(), 0, rows)));
    std::set<long> samples;
    for (const sdk::HistoryRow& r : rows.rows)
      samples.insert(static_cast<long>(r.start / kSec));
    samples_total += rows.rows.size();
    long missing = 0;
    for (long seq : acked[t])
      if (!records.count(seq) || !samples.count(seq)) ++missing;
    EXPECT_EQ(missing, 0) << "of " << acked[t].size() << " acknowledged batches";
    // Batches are atomic: a batch's record and its sample survive or vanish together.
    EXPECT_EQ(records, samples);
    EXPECT_GE(records.size(), acked[t].size());
  }
  EXPECT_EQ(s.stats().samples, samples_total);  // the sample counter is in the same batches
}

TEST(RocksCrash, SyncKeepsEveryAcknowledgedBatchAfterKill9) {
  kill_writer_and_recover("sync", 20000);
}

TEST(RocksCrash, WalKeepsEveryAcknowledgedBatchAfterKill9) {
  kill_writer_and_recover("wal", 50000);
}

// ---- group commit ----

TEST_F(RocksStorageTest, GroupCommitGathersConcurrentWrites) {
  ASSERT_NO_FATAL_FAILURE(open({{"durability", "sync"}}));
  constexpr int kThreads = 4, kWrites = 250;
  WaitableCallback cb;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        std::string key = std::to_string(t) + "/" + std::to_string(i);
        WriteOp op{Table::kTwins, false, key, "v"};
        s_->write({std::span(&op, 1), {}}, &cb);
      }
    });
  for (auto& th : threads)
    th.join();
  ASSERT_TRUE(cb.wait(kThreads * kWrites));
  ASSERT_TRUE(is_ok(s_->flush()));
  std::uint64_t writes = services_.metrics.counter_value("doppel_storage_writes_total");
  std::uint64_t commits = services_.metrics.counter_value("doppel_storage_group_commits_total");
  EXPECT_EQ(writes, std::uint64_t{kThreads * kWrites});
  EXPECT_LT(commits * 4, writes) << "writes were not grouped";
  EXPECT_EQ(cb.calls(), kThreads * kWrites);
}

TEST_F(RocksStorageTest, MaxBatchBoundsAGroupAndAFullGroupDoesNotWait) {
  // With max_batch 1 every group is full at once: the 1 s delay must never be waited for.
  ASSERT_NO_FATAL_FAILURE(
      open({{"group_commit_max_batch", "1"}, {"group_commit_max_delay_ms", "1000"}}));
  auto begin = std::chrono::steady_clock::now();
  WaitableCallback cb;
  std::vector<std::string> keys;
  for (int i = 0; i < 50; ++i)
    keys.push_back("k" + std::to_string(i));
  for (int i = 0; i < 50; ++i) {
    WriteOp op{Table::kTwins, false, keys[i], "v"};
    s_->write({std::span(&op, 1), {}}, &cb);
  }
  ASSERT_TRUE(cb.wait(50, std::chrono::seconds(20)));
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(10));
  EXPECT_EQ(services_.metrics.counter_value("doppel_storage_group_commits_total"), 50u);
}

TEST_F(RocksStorageTest, PendingWritesAreReportedAndFlushCutsTheDelayShort) {
  ASSERT_NO_FATAL_FAILURE(open({{"group_commit_max_delay_ms", "1000"}}));
  WaitableCallback cb;
  WriteOp op{Table::kTwins, false, "k", "v"};
  auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i)
    s_->write({std::span(&op, 1), {}}, &cb);
  EXPECT_EQ(s_->stats().pending_writes, 10u);  // gathering for up to 1 s
  ASSERT_TRUE(is_ok(s_->flush()));
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::milliseconds(900));
  EXPECT_EQ(cb.calls(), 10);
  sdk::StorageStats st = s_->stats();
  EXPECT_EQ(st.pending_writes, 0u);
  EXPECT_GT(st.bytes_on_disk, 0u);  // the live WAL at least
}

// ---- contract edges ----

TEST_F(RocksStorageTest, SeriesWith0xFFAreRejectedWithTheirBatch) {
  ASSERT_NO_FATAL_FAILURE(open());
  WaitableCallback cb;
  std::vector<WriteOp> ops{{Table::kTwins, false, "k", "v"}};
  std::vector<Sample> samples{{"ok", kT0, 1}, {"bad\xff", kT0, 2}};
  s_->write({ops, samples}, &cb);
  ASSERT_TRUE(cb.wait());
  ASSERT_EQ(cb.failures().size(), 1u);
  EXPECT_EQ(cb.failures()[0].code(), StatusCode::kInvalidArgument);
  Found f;
  EXPECT_EQ(s_->get(Table::kTwins, "k", f).code(), StatusCode::kNotFound);
  EXPECT_EQ(sample_count("ok"), 0u);
}

TEST_F(RocksStorageTest, CallsAfterStopFailCleanly) {
  ASSERT_NO_FATAL_FAILURE(open());
  write({{Table::kTwins, false, "k", "v"}});
  plugin_->stop();
  WaitableCallback cb;
  WriteOp op{Table::kTwins, false, "k2", "v"};
  s_->write({std::span(&op, 1), {}}, &cb);
  ASSERT_TRUE(cb.wait());
  ASSERT_EQ(cb.failures().size(), 1u);
  EXPECT_EQ(cb.failures()[0].code(), StatusCode::kFailedPrecondition);
  Found f;
  EXPECT_EQ(s_->get(Table::kTwins, "k", f).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s_->scan(Table::kTwins, "", f).code(), StatusCode::kFailedPrecondition);
  Rows rows;
  EXPECT_FALSE(s_->history("s", 0, 1, 0, rows));
  EXPECT_FALSE(s_->flush());
  EXPECT_EQ(s_->stats().bytes_on_disk, 0u);
}

TEST_F(RocksStorageTest, StartFailsWithAClearMessageWhenThePathIsAFile) {
  std::filesystem::create_directories(dir_.path());
  { std::ofstream(dir_.path() / "file") << "x"; }
  MapConfig c;
  c.set("path", (dir_.path() / "file").string());
  auto loaded = load(c);
  ASSERT_TRUE(loaded) << loaded.status().to_string();
  Status s = (*loaded)->start();
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find((dir_.path() / "file").string()), std::string::npos) << s.message();
}

// ---- history ----

TEST_F(RocksStorageTest, RetentionTrimsOldHistoryInTheBackground) {
  const Timestamp now = kT0 + 3 * 3600 * kSec;
  services_.clock.set(now);
  ASSERT_NO_FATAL_FAILURE(open());
  const std::string series = "t\0x"s;
  std::vector<Sample> samples;
  for (int m = 0; m <= 180; ++m)  // one sample a minute for 3 hours
    samples.push_back({series, kT0 + m * 60 * kSec, static_cast<double>(m)});
  write({}, samples);
  ASSERT_EQ(sample_count(series), 181u);
  // Restart with 1 h retention: the first trim runs at start, on the plugin's clock.
  ASSERT_NO_FATAL_FAILURE(open({{"history_retention", "1h"}}));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (sample_count(series) != 61u && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polling, with a deadline
  EXPECT_EQ(sample_count(series), 61u);                         // [now - 1 h, now]
  Rows rows;
  ASSERT_TRUE(is_ok(s_->history(series, 0, now + 1, 0, rows)));
  ASSERT_FALSE(rows.rows.empty());
  EXPECT_EQ(rows.rows.front().start, now - 3600 * kSec);
}

TEST_F(RocksStorageTest, TrimRacingAppendsNeverLosesNewerSamples) {
  // Appends land in the block that straddles the cut while trims run: a trim must never drop
  // a sample at or after its cut (a read-modify-write trim would).
  ASSERT_NO_FATAL_FAILURE(open({{"durability", "wal"}, {"group_commit_max_delay_ms", "0"}}));
  const std::string series = "race\0v"s;
  const Timestamp cut = kT0 + 30 * kSec;
  // The writer waits for each append, and goes on until many trims ran meanwhile.
  constexpr int kMinAppends = 500, kMinTrims = 20;
  std::atomic<bool> writing{true};
  std::atomic<int> trims{0};
  int appends = 0;
  std::thread writer([&] {
    WaitableCallback cb;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while ((appends < kMinAppends || trims.load() < kMinTrims) &&
           std::chrono::steady_clock::now() < deadline) {
      // One sample after the cut and one before it, both in the minute straddling the cut.
      Sample s[] = {{series, cut + appends, 1.0}, {series, kT0 + appends, 0.0}};
      s_->write({{}, s}, &cb);
      if (!cb.wait(++appends)) break;
    }
    writing = false;
  });
  while (writing.load()) {
    ASSERT_TRUE(is_ok(s_->trim_history("race", cut)));
    ++trims;
  }
  writer.join();
  EXPECT_GE(trims.load(), kMinTrims);
  ASSERT_TRUE(is_ok(s_->trim_history("race", cut)));
  Rows rows;
  ASSERT_TRUE(is_ok(s_->history(series, 0, std::numeric_limits<Timestamp>::max(), 0, rows)));
  EXPECT_EQ(rows.rows.size(), std::size_t(appends));
  for (const sdk::HistoryRow& r : rows.rows)
    ASSERT_GE(r.start, cut);
}

TEST_F(RocksStorageTest, ADayOfSecondsDownsamplesToMinutes) {
  ASSERT_NO_FATAL_FAILURE(open({{"durability", "none"}}));
  std::vector<Sample> samples;
  for (int i = 0; i < 86400; ++i)
    samples.push_back({"day", kT0 + i * kSec, static_cast<double>(i % 60)});
  for (std::size_t off = 0; off < samples.size(); off += 3600)
    write({}, {samples.begin() + static_cast<long>(off),
               samples.begin() + static_cast<long>(off + 3600)});
  Rows rows;
  ASSERT_TRUE(is_ok(s_->history("day", kT0, kT0 + 86400 * kSec, 60 * kSec, rows)));
  ASSERT_EQ(rows.rows.size(), 1440u);
  for (const sdk::HistoryRow& r : rows.rows) {
    ASSERT_EQ(r.count, 60u);
    ASSERT_EQ(r.min, 0);
    ASSERT_EQ(r.max, 59);
    ASSERT_EQ(r.last, 59);
  }
}

}  // namespace
}  // namespace doppel::storage_testing
