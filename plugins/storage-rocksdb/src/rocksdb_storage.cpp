// storage-rocksdb: durable twin state, relationships, dead letters, plugin state and telemetry
// history in RocksDB, one column family each. Writes from every thread are grouped into one
// RocksDB write (and one WAL sync) by a writer thread: group commit.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/transaction_log.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "doppel/sdk/config_values.hpp"
#include "doppel/sdk/plugin.hpp"
#include "doppel/sdk/storage.hpp"
#include "history_format.hpp"

namespace doppel::plugins::rocks {
namespace {

using sdk::ConfigNode;
using sdk::Status;
using sdk::StatusCode;
using sdk::Table;
using sdk::Timestamp;
using SteadyClock = std::chrono::steady_clock;

// Column families: the default one (holds only the sample counter), one per sdk::Table in
// enum order, then history. The names are on disk: never rename them.
constexpr const char* kTableFamilies[sdk::kTableCount] = {"twins", "relationships", "meta",
                                                          "dead_letters", "plugin_state"};
constexpr std::size_t kDefaultFamily = 0;
constexpr std::size_t kHistoryFamily = sdk::kTableCount + 1;
constexpr std::string_view kSampleCountKey = "doppel.history.samples";

enum class Durability { kSync, kWal, kNone };

struct Config {
  std::string path;
  Durability durability = Durability::kSync;
  std::string durability_name = "sync";
  std::chrono::milliseconds max_delay{2};
  std::size_t max_batch = 4096;
  sdk::Duration retention = 0;  // 0: keep forever
};

constexpr sdk::ConfigField kFields[] = {
    {"path", ConfigNode::Type::kString, true, "",
     "the database folder (created with its parents if missing)"},
    {"durability", ConfigNode::Type::kString, false, "sync",
     "sync: fsync the WAL before acknowledging; wal: WAL without fsync (survives a process "
     "crash, not a power loss); none: no WAL (fastest; recent writes lost on a crash)"},
    {"group_commit_max_delay_ms", ConfigNode::Type::kInteger, false, "2",
     "how long the first write of a group commit may wait for others to join (0-1000)"},
    {"group_commit_max_batch", ConfigNode::Type::kInteger, false, "4096",
     "writes per group commit at most (1-1000000)"},
    {"history_retention", ConfigNode::Type::kString, false, "",
     "drop telemetry history older than this (30m, 12h, 7d); checked at start and every "
     "minute; empty keeps everything"},
};

Status from_rocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return {};
  StatusCode code = s.IsIOError()                                    ? StatusCode::kIoError
                    : s.IsCorruption()                               ? StatusCode::kCorruption
                    : s.IsInvalidArgument()                          ? StatusCode::kInvalidArgument
                    : s.IsBusy() || s.IsTryAgain() || s.IsTimedOut() ? StatusCode::kUnavailable
                                                                     : StatusCode::kInternal;
  return Status(code, std::string(what) + ": " + s.ToString());
}

Status not_running() {
  return Status(StatusCode::kFailedPrecondition, "rocksdb storage is not running");
}

rocksdb::Slice slice(std::string_view s) {
  return {s.data(), s.size()};
}

// The smallest key greater than every key starting with `prefix` (none for "" or all 0xFF).
std::optional<std::string> prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) != 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::nullopt;
}

// Writes gathered for one RocksDB write.
struct Group {
  rocksdb::WriteBatch batch;
  std::vector<sdk::WriteCallback*> callbacks;
  std::size_t writes = 0;
  std::int64_t samples = 0;
  std::uint64_t seq = 0;          // groups are numbered in the order they are written
  SteadyClock::time_point first;  // when the first write joined
  SteadyClock::time_point last;   // when the latest write joined
};

// A gathering group is written once no write joined for this long, so that writers waiting for
// their acknowledgement (a device waiting for its QoS 1 ack) do not wait the whole max delay.
constexpr std::chrono::microseconds kLingerGap{100};

class RocksStorage final : public sdk::StoragePlugin {
 public:
  explicit RocksStorage(const sdk::PluginContext& context)
      : instance_(context.instance_name), log_(context.log), clock_(context.clock) {
    if (context.metrics) {
      std::string labels = "instance=" + instance_;
      writes_ = &context.metrics->counter("doppel_storage_writes_total", labels,
                                          "write() calls committed by the storage");
      commits_ = &context.metrics->counter(
          "doppel_storage_group_commits_total", labels,
          "RocksDB writes (WAL appends) that committed one or more write() calls");
    }
  }
  ~RocksStorage() override { stop(); }

  Status configure(const ConfigNode& c) noexcept override {
    try {
      return parse(c);
    } catch (const std::exception& e) {
      return sdk::internal_error(std::string("rocksdb config: ") + e.what());
    }
  }

  Status start() noexcept override {
    try {
      return open();
    } catch (const std::exception& e) {
      return sdk::internal_error(std::string("opening rocksdb: ") + e.what());
    }
  }

  void stop() noexcept override {
    {
      std::lock_guard lock(mutex_);
      if (!running_) return;
      running_ = false;
    }
    work_.notify_all();
    if (writer_.joinable()) writer_.join();  // drains what was accepted
    {
      std::lock_guard lock(retention_mutex_);
      retention_stop_ = true;
    }
    retention_cv_.notify_all();
    if (retention_.joinable()) retention_.join();
    std::unique_lock db_lock(db_mutex_);
    // Flushing memtables makes the next start skip WAL replay, and with durability none it is
    // what makes the last writes durable.
    rocksdb::FlushOptions fo;
    fo.wait = true;
    if (rocksdb::Status s = db_->Flush(fo, families_); !s.ok() && log_)
      log_->error("rocksdb flush on stop failed", {{"error", s.ToString()}});
    for (rocksdb::ColumnFamilyHandle* h : families_)
      (void)db_->DestroyColumnFamilyHandle(h);
    families_.clear();
    if (rocksdb::Status s = db_->Close(); !s.ok() && log_)
      log_->error("rocksdb close failed", {{"error", s.ToString()}});
    db_.reset();
  }

  void write(const sdk::WriteBatch& batch, sdk::WriteCallback* done) noexcept override {
    Status status = check(batch);
    if (status.is_ok()) {
      try {
        if (enqueue(batch, done, status)) return;  // the writer thread calls `done`
      } catch (const std::exception& e) {
        status = Status(StatusCode::kUnavailable, std::string("rocksdb write: ") + e.what());
      }
    }
    if (done) done->done(status);
  }

  Status get(Table table, std::string_view key, sdk::RecordVisitor& out) noexcept override {
    try {
      std::shared_lock lock(db_mutex_);
      if (!db_) return not_running();
      if (static_cast<std::size_t>(table) >= sdk::kTableCount)
        return sdk::invalid_argument("unknown table");
      rocksdb::PinnableSlice value;
      rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), family(table), slice(key), &value);
      if (s.IsNotFound()) return sdk::not_found("no record");
      if (!s.ok()) return from_rocks(s, "get");
      out.visit(key, {value.data(), value.size()});
      return {};
    } catch (const std::exception& e) {
      return sdk::internal_error(std::string("get: ") + e.what());
    }
  }

  Status scan(Table table, std::string_view prefix, sdk::RecordVisitor& visitor) noexcept override {
    try {
      std::shared_lock lock(db_mutex_);
      if (!db_) return not_running();
      if (static_cast<std::size_t>(table) >= sdk::kTableCount)
        return sdk::invalid_argument("unknown table");
      // The iterator reads one snapshot: a concurrent batch is seen whole or not at all.
      rocksdb::ReadOptions ro;
      std::optional<std::string> end = prefix_end(prefix);
      rocksdb::Slice upper;
      if (end) {
        upper = *end;
        ro.iterate_upper_bound = &upper;
      }
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, family(table)));
      for (it->Seek(slice(prefix)); it->Valid(); it->Next()) {
        rocksdb::Slice k = it->key(), v = it->value();
        if (!visitor.visit({k.data(), k.size()}, {v.data(), v.size()})) break;
      }
      return from_rocks(it->status(), "scan");
    } catch (const std::exception& e) {
      return sdk::internal_error(std::string("scan: ") + e.what());
    }
  }

  Status history(std::string_view series, Timestamp from, Timestamp to, sdk::Duration step,
                 sdk::HistoryVisitor& visitor) noexcept override {
    try {
      std::shared_lock lock(db_mutex_);
      if (!db_) return not_running();
      if (from >= to) return {};
      std::string start = block_key(series, align_down(from, kBlock));
      std::string end = block_key(series, align_down(to - 1, kBlock));
      end.push_back('\0');  // just past the last block
      rocksdb::ReadOptions ro;
      rocksdb::Slice upper(end);
      ro.iterate_upper_bound = &upper;
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, families_[kHistoryFamily]));
      Aggregator agg(step, visitor);
      std::vector<std::pair<Timestamp, double>> samples;
      bool more = true;
      for (it->Seek(start); it->Valid() && more; it->Next()) {
        rocksdb::Slice v = it->value();
        samples.clear();
        bool sorted = true;
        for (std::size_t off = 0; off + kPairSize <= v.size(); off += kPairSize) {
          Timestamp t = pair_time(v.data() + off);
          if (t < from || t >= to) continue;
          if (!samples.empty() && t < samples.back().first) sorted = false;
          samples.emplace_back(t, pair_value(v.data() + off));
        }
        // Pairs are in arrival order; late samples leave a block unsorted.
        if (!sorted)
          std::stable_sort(samples.begin(), samples.end(),
                           [](const auto& a, const auto& b) { return a.first < b.first; });
        for (const auto& [t, x] : samples)
          if (!(more = agg.add(t, x))) break;
      }
      agg.finish();
      return from_rocks(it->status(), "history");
    } catch (const std::exception& e) {
      return sdk::internal_error(std::string("history: ") + e.what());
    }
  }

  Status trim_history(std::string_view prefix, Timestamp older_than) noexcept override {
    try {
      std::shared_lock lock(db_mutex_);
      if (!db_) return not_running();
      return trim(prefix, older_than);
    } catch (const std::exception& e) {
      return sdk::internal_error(std::string("trim_history: ") + e.what());
    }
  }

  Status flush() noexcept override {
    try {
      {
        std::unique_lock lock(mutex_);
        if (!running_) return not_running();
        // Waits for the groups that exist now, not for writes that keep arriving later.
        const std::uint64_t target = last_seq_;
        ++flush_waiters_;  // the writer stops lingering for more writes
        work_.notify_all();
        written_.wait(lock, [&] { return written_seq_ >= target || !running_; });
        --flush_waiters_;
      }
      std::shared_lock lock(db_mutex_);
      if (!db_) return not_running();
      if (config_.durability == Durability::kWal) return from_rocks(db_->SyncWAL(), "flush");
      if (config_.durability == Durability::kNone) {
        rocksdb::FlushOptions fo;
        fo.wait = true;
        return from_rocks(db_->Flush(fo, families_), "flush");
      }
      return {};
    } catch (const std::exception& e) {
      return sdk::internal_error(std::string("flush: ") + e.what());
    }
  }

  bool durable() const noexcept override { return true; }

  sdk::StorageStats stats() noexcept override {
    sdk::StorageStats st;
    try {
      {
        std::lock_guard lock(mutex_);
        st.pending_writes = queued_ + inflight_;
      }
      std::shared_lock lock(db_mutex_);
      if (!db_) return st;
      std::uint64_t v = 0;
      for (std::size_t i = 0; i < families_.size(); ++i) {
        if (db_->GetIntProperty(families_[i], "rocksdb.total-sst-files-size", &v))
          st.bytes_on_disk += v;
        if (db_->GetIntProperty(families_[i], "rocksdb.cur-size-all-mem-tables", &v))
          st.bytes_in_memory += v;
        if (i != kDefaultFamily && i != kHistoryFamily &&
            db_->GetIntProperty(families_[i], "rocksdb.estimate-num-keys", &v))
          st.records += v;
      }
      rocksdb::VectorLogPtr wal;
      if (db_->GetSortedWalFiles(wal).ok())
        for (const auto& f : wal)
          if (f->Type() == rocksdb::kAliveLogFile) st.bytes_on_disk += f->SizeFileBytes();
      std::string count;
      if (db_->Get(rocksdb::ReadOptions(), families_[kDefaultFamily], slice(kSampleCountKey),
                   &count)
              .ok())
        st.samples = static_cast<std::uint64_t>(std::max<std::int64_t>(0, decode_int64(count)));
    } catch (...) {
      // Stats are best effort: a failure leaves zeros rather than failing the caller.
    }
    return st;
  }

 private:
  Status parse(const ConfigNode& c) {
    if (c.type() != ConfigNode::Type::kMap)
      return sdk::invalid_argument("rocksdb needs a config map with at least `path`", c.where());
    for (std::size_t i = 0; i < c.size(); ++i) {
      std::string_view key = c.key_at(i);
      if (std::none_of(std::begin(kFields), std::end(kFields),
                       [&](const sdk::ConfigField& f) { return key == f.key; }))
        return sdk::invalid_argument(
            "unknown key '" + std::string(key) +
                "'; rocksdb knows path, durability, group_commit_max_delay_ms, "
                "group_commit_max_batch and history_retention",
            c.at(i).where());
    }
    const ConfigNode& path = c.get("path");
    if (path.missing())
      return sdk::invalid_argument(
          "path is required: the database folder, e.g. path: /var/lib/doppel/line-7", c.where());
    if (path.type() != ConfigNode::Type::kString || path.text().empty())
      return sdk::invalid_argument("path must be a non-empty string (the database folder)",
                                   path.where());
    config_.path = std::string(path.text());

    if (const ConfigNode& d = c.get("durability"); !d.missing()) {
      std::string_view v = d.type() == ConfigNode::Type::kString ? d.text() : "";
      if (v == "sync")
        config_.durability = Durability::kSync;
      else if (v == "wal")
        config_.durability = Durability::kWal;
      else if (v == "none")
        config_.durability = Durability::kNone;
      else
        return sdk::invalid_argument(
            "durability must be sync (fsync the WAL per group commit), wal (WAL without fsync) "
            "or none (no WAL), not '" +
                std::string(d.text()) + "'",
            d.where());
      config_.durability_name = std::string(v);
    }
    if (const ConfigNode& m = c.get("group_commit_max_delay_ms"); !m.missing()) {
      if (m.type() != ConfigNode::Type::kInteger || m.as_integer() < 0 || m.as_integer() > 1000)
        return sdk::invalid_argument("group_commit_max_delay_ms must be an integer from 0 to 1000",
                                     m.where());
      config_.max_delay = std::chrono::milliseconds(m.as_integer());
    }
    if (const ConfigNode& b = c.get("group_commit_max_batch"); !b.missing()) {
      if (b.type() != ConfigNode::Type::kInteger || b.as_integer() < 1 ||
          b.as_integer() > 1'000'000)
        return sdk::invalid_argument("group_commit_max_batch must be an integer from 1 to 1000000",
                                     b.where());
      config_.max_batch = static_cast<std::size_t>(b.as_integer());
    }
    if (const ConfigNode& r = c.get("history_retention"); !r.missing()) {
      if (r.type() != ConfigNode::Type::kString)
        return sdk::invalid_argument(
            "history_retention must be a duration string such as 30m, 12h or 7d", r.where());
      if (!r.text().empty()) {
        std::optional<sdk::Duration> d = sdk::parse_duration(r.text());
        if (!d)
          return sdk::invalid_argument(
              "history_retention must be a positive duration such as "
              "30m, 12h or 7d (units ms, s, m, h, d), not '" +
                  std::string(r.text()) + "'",
              r.where());
        config_.retention = *d;
      }
    }
    return {};
  }

  Status open() {
    std::error_code ec;
    std::filesystem::create_directories(config_.path, ec);
    if (ec) return Status(StatusCode::kIoError, "creating " + config_.path + ": " + ec.message());

    rocksdb::DBOptions db;
    db.create_if_missing = true;
    db.create_missing_column_families = true;
    db.IncreaseParallelism(2);
    // A rarely written family (meta) would otherwise pin old WAL files forever: past this
    // size RocksDB flushes the family holding the oldest WAL.
    db.max_total_wal_size = 256ull << 20;
    db.db_write_buffer_size = 256ull << 20;  // all memtables together
    rocksdb::ColumnFamilyOptions tables;
    tables.OptimizeLevelStyleCompaction(64ull << 20);
    // OptimizeLevelStyleCompaction sets 2: a lone immutable memtable then waits for a second,
    // and a manual Flush (stop()) issued while a background flush runs can wait for it forever
    // (seen with RocksDB 7.8: WaitForFlushMemTables never returned).
    tables.min_write_buffer_number_to_merge = 1;
    rocksdb::ColumnFamilyOptions counter = tables;
    counter.merge_operator = std::make_shared<AddInt64>();
    counter.max_successive_merges = 16;  // one delta per group commit: fold them early
    rocksdb::ColumnFamilyOptions history = tables;
    history.merge_operator = std::make_shared<AppendSamples>();
    // Folds a block's appends once a few pile up in the memtable, so reading recent history
    // does not walk one entry per sample.
    history.max_successive_merges = 8;
    history.write_buffer_size = 4ull << 20;

    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    families.emplace_back(rocksdb::kDefaultColumnFamilyName, counter);
    for (const char* name : kTableFamilies)
      families.emplace_back(name, tables);
    families.emplace_back("history", history);
    rocksdb::DB* raw = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::Status s = rocksdb::DB::Open(db, config_.path, families, &handles, &raw);
    if (!s.ok()) return from_rocks(s, "opening RocksDB at " + config_.path);
    {
      std::unique_lock db_lock(db_mutex_);
      db_.reset(raw);
      families_ = handles;
    }
    write_options_.sync = config_.durability == Durability::kSync;
    write_options_.disableWAL = config_.durability == Durability::kNone;
    {
      std::lock_guard lock(mutex_);
      running_ = true;
    }
    writer_ = std::thread([this] { write_loop(); });
    if (config_.retention > 0) retention_ = std::thread([this] { retention_loop(); });
    if (log_)
      log_->info("rocksdb opened", {{"path", config_.path},
                                    {"durability", config_.durability_name},
                                    {"instance", instance_}});
    return {};
  }

  rocksdb::ColumnFamilyHandle* family(Table t) const {
    return families_[static_cast<std::size_t>(t) + 1];
  }

  static Status check(const sdk::WriteBatch& batch) {
    for (const sdk::WriteOp& op : batch.ops)
      if (static_cast<std::size_t>(op.table) >= sdk::kTableCount)
        return sdk::invalid_argument("write: unknown table " +
                                     std::to_string(static_cast<int>(op.table)));
    for (const sdk::Sample& s : batch.samples) {
      if (s.series.find(kSeriesEnd) != std::string_view::npos)
        return sdk::invalid_argument(
            "write: series names must not contain the byte 0xFF (it is not UTF-8)");
      if (s.time == kTrimMarker) return sdk::invalid_argument("write: sample time out of range");
    }
    return {};
  }

  // Appends `batch` to the group being gathered. False (with `status`) when nothing was added.
  bool enqueue(const sdk::WriteBatch& batch, sdk::WriteCallback* done, Status& status) {
    std::lock_guard lock(mutex_);
    if (!running_) {
      status = not_running();
      return false;
    }
    if (queue_.empty() || queue_.back().writes >= config_.max_batch) {
      queue_.emplace_back();
      queue_.back().first = SteadyClock::now();
      queue_.back().seq = ++last_seq_;
    }
    Group& g = queue_.back();
    g.last = SteadyClock::now();
    if (g.callbacks.size() == g.callbacks.capacity())  // no throw after the records are in
      g.callbacks.reserve(std::max<std::size_t>(16, 2 * g.callbacks.capacity()));
    g.batch.SetSavePoint();
    rocksdb::Status s;
    try {
      s = encode(g.batch, batch);
    } catch (...) {
      (void)g.batch.RollbackToSavePoint();
      throw;
    }
    if (!s.ok()) {
      (void)g.batch.RollbackToSavePoint();
      if (g.writes == 0) {  // created for this write: forget it (and its number)
        queue_.pop_back();
        --last_seq_;
      }
      status = from_rocks(s, "write");
      return false;
    }
    (void)g.batch.PopSavePoint();
    if (done) g.callbacks.push_back(done);
    ++g.writes;
    g.samples += static_cast<std::int64_t>(batch.samples.size());
    ++queued_;
    // Wake the writer for a new group, or when this one is as large as it waits for.
    if (g.writes == 1 || g.writes == last_group_size_ || g.writes >= config_.max_batch)
      work_.notify_one();
    return true;
  }

  rocksdb::Status encode(rocksdb::WriteBatch& out, const sdk::WriteBatch& batch) {
    for (const sdk::WriteOp& op : batch.ops) {
      rocksdb::Status s = op.erase ? out.Delete(family(op.table), slice(op.key))
                                   : out.Put(family(op.table), slice(op.key), slice(op.value));
      if (!s.ok()) return s;
    }
    // Consecutive samples of one block become one merge operand.
    std::string key, run;
    std::string_view series;
    Timestamp block = 0;
    for (const sdk::Sample& s : batch.samples) {
      Timestamp b = align_down(s.time, kBlock);
      if (run.empty() || s.series != series || b != block) {
        if (!run.empty())
          if (rocksdb::Status st = out.Merge(families_[kHistoryFamily], key, run); !st.ok())
            return st;
        series = s.series;
        block = b;
        key = block_key(series, block);
        run.clear();
      }
      append_pair(run, s.time, s.value);
    }
    if (!run.empty()) return out.Merge(families_[kHistoryFamily], key, run);
    return {};
  }

  void write_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      work_.wait(lock, [&] { return !queue_.empty() || !running_; });
      if (queue_.empty()) break;  // stopping, and everything accepted is written
      // Let more writes join while they keep coming, never longer than max_delay after the
      // group's first write. Writers that wait for their acknowledgement come back as a crowd
      // as large as the last group: once that many joined, waiting longer gains nothing. A full
      // group, a flush or stop() also cut it short.
      const auto deadline = queue_.front().first + config_.max_delay;
      auto cut_short = [&] {
        const Group& g = queue_.front();
        return g.writes >= config_.max_batch || g.writes >= last_group_size_ || queue_.size() > 1 ||
               flush_waiters_ > 0 || !running_;
      };
      while (!cut_short()) {
        auto idle_until = queue_.front().last + kLingerGap;
        if (SteadyClock::now() >= std::min(deadline, idle_until)) break;
        work_.wait_until(lock, std::min(deadline, idle_until));
      }
      Group g = std::move(queue_.front());
      queue_.pop_front();
      last_group_size_ = std::max<std::size_t>(1, g.writes);
      queued_ -= g.writes;
      inflight_ = g.writes;
      lock.unlock();

      rocksdb::Status s;
      if (g.samples != 0)
        s = g.batch.Merge(families_[kDefaultFamily], slice(kSampleCountKey),
                          encode_int64(g.samples));
      if (s.ok()) s = db_->Write(write_options_, &g.batch);
      Status status = from_rocks(s, "write");
      if (!status && log_) log_->error("rocksdb write failed", {{"error", status.message()}});
      if (writes_) writes_->add(g.writes);
      if (commits_) commits_->add(1);
      for (sdk::WriteCallback* cb : g.callbacks)
        cb->done(status);

      lock.lock();
      inflight_ = 0;
      written_seq_ = g.seq;
      written_.notify_all();
    }
    written_.notify_all();
  }

  // Per series: delete whole blocks before the cut, send a trim marker to the block holding
  // it, then seek straight to the next series (newer blocks are never read).
  Status trim(std::string_view prefix, Timestamp older_than) {
    rocksdb::ColumnFamilyHandle* cf = families_[kHistoryFamily];
    // Blocks before this one are wholly older than the cut; this one may straddle it.
    const Timestamp cut_block = align_down(older_than, kBlock);
    rocksdb::ReadOptions ro;
    std::optional<std::string> end = prefix_end(prefix);
    rocksdb::Slice upper;
    if (end) {
      upper = *end;
      ro.iterate_upper_bound = &upper;
    }
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf));
    rocksdb::WriteBatch batch;
    std::int64_t dropped = 0;
    auto commit = [&]() -> rocksdb::Status {
      if (dropped != 0) {
        rocksdb::Status s =
            batch.Merge(families_[kDefaultFamily], slice(kSampleCountKey), encode_int64(-dropped));
        if (!s.ok()) return s;
      }
      rocksdb::Status s = batch.Count() ? db_->Write(write_options_, &batch) : rocksdb::Status();
      batch.Clear();
      dropped = 0;
      return s;
    };
    it->Seek(slice(prefix));
    while (it->Valid()) {
      rocksdb::Slice k = it->key();
      std::string_view series;
      Timestamp block;
      if (!parse_key({k.data(), k.size()}, series, block)) {
        it->Next();
        continue;
      }
      if (block < older_than) {
        rocksdb::Slice v = it->value();
        if (block == cut_block) {
          // The block straddles the cut: the merge operator drops its older samples.
          for (std::size_t off = 0; off + kPairSize <= v.size(); off += kPairSize)
            if (pair_time(v.data() + off) < older_than) ++dropped;
          if (rocksdb::Status s = batch.Merge(cf, k, trim_marker(older_than)); !s.ok())
            return from_rocks(s, "trim_history");
        } else {
          dropped += static_cast<std::int64_t>(v.size() / kPairSize);
          if (rocksdb::Status s = batch.Delete(cf, k); !s.ok())
            return from_rocks(s, "trim_history");
        }
        if (batch.Count() >= 10'000)
          if (rocksdb::Status s = commit(); !s.ok()) return from_rocks(s, "trim_history");
        it->Next();
        continue;
      }
      std::string next_series = block_key(series, std::numeric_limits<Timestamp>::max());
      next_series.push_back('\0');
      it->Seek(next_series);
    }
    if (!it->status().ok()) return from_rocks(it->status(), "trim_history");
    return from_rocks(commit(), "trim_history");
  }

  void retention_loop() {
    std::unique_lock lock(retention_mutex_);
    while (!retention_stop_) {
      lock.unlock();
      Timestamp now = clock_ ? clock_->now() : sdk::SystemClock().now();
      if (now > std::numeric_limits<Timestamp>::min() + config_.retention) {
        Status s = trim_history("", now - config_.retention);
        if (!s && log_) log_->warn("history retention trim failed", {{"error", s.message()}});
      }
      lock.lock();
      retention_cv_.wait_for(lock, std::chrono::minutes(1), [&] { return retention_stop_; });
    }
  }

  const std::string instance_;
  sdk::Logger* log_;
  const sdk::Clock* clock_;
  sdk::Counter* writes_ = nullptr;
  sdk::Counter* commits_ = nullptr;
  Config config_;

  // The database; readers hold it shared, stop() exclusively while closing.
  std::shared_mutex db_mutex_;
  std::unique_ptr<rocksdb::DB> db_;
  // Default, then sdk::Table order, then history; destroyed in stop().
  std::vector<rocksdb::ColumnFamilyHandle*> families_;
  rocksdb::WriteOptions write_options_;

  // Group commit.
  std::mutex mutex_;
  std::condition_variable work_;     // writer: a group to write, a flush or stop
  std::condition_variable written_;  // flush(): a group was written and acknowledged
  std::deque<Group> queue_;          // groups waiting; only the back one still gathers
  std::size_t queued_ = 0;           // writes in queue_
  std::size_t inflight_ = 0;         // writes in the group being written
  std::uint64_t last_seq_ = 0;       // the newest group
  std::uint64_t written_seq_ = 0;    // the newest group written and acknowledged
  std::size_t last_group_size_ = 1;  // writes in the group written last
  int flush_waiters_ = 0;
  bool running_ = false;
  std::thread writer_;

  std::mutex retention_mutex_;
  std::condition_variable retention_cv_;
  bool retention_stop_ = false;
  std::thread retention_;
};

const sdk::PluginDescriptor kDescriptor{
    DOPPEL_SDK_ABI_MAJOR,
    DOPPEL_SDK_ABI_MINOR,
    DOPPEL_SDK_TOOLCHAIN,
    sdk::PluginKind::kStorage,
    "rocksdb",
    "1.1.0",
    "durable twin state, relationships and telemetry history in RocksDB with group commit",
    kFields,
    std::size(kFields),
    [](const sdk::PluginContext& c) noexcept -> sdk::Plugin* {
      return sdk::create_plugin<RocksStorage>(c, "rocksdb");
    },
    sdk::destroy_plugin,
};

}  // namespace
}  // namespace doppel::plugins::rocks

DOPPEL_PLUGIN_ENTRY(doppel::plugins::rocks::kDescriptor)
