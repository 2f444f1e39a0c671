// storage-rocksdb: durable twin state, relationships, dead letters, plugin state and telemetry
// history in RocksDB, one column family each. Writes from every thread are grouped into one
// RocksDB write (and one WAL sync) by a writer thread: group commit.
#include <rocksdb/db.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "doppel/sdk/plugin.hpp"
#include "doppel/sdk/storage.hpp"

namespace doppel::plugins::rocks {
namespace {

using sdk::Status;
using sdk::StatusCode;
using sdk::Table;
using sdk::Timestamp;

constexpr sdk::Duration kBucket = 60 * sdk::kSecond;  // history is stored in one-minute blocks
constexpr char kSeriesEnd = '\xff';                   // never in UTF-8 text: ends the series name

Status from_rocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return {};
  return Status(s.IsIOError()      ? StatusCode::kIoError
                : s.IsCorruption() ? StatusCode::kCorruption
                                   : StatusCode::kInternal,
                std::string(what) + ": " + s.ToString());
}

void put_be64(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint64_t get_be64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Orders timestamps as unsigned big-endian keys (signed values shifted).
std::uint64_t key_time(Timestamp t) {
  return static_cast<std::uint64_t>(t) ^ (1ull << 63);
}
Timestamp bucket_of(Timestamp t) {
  return t - (((t % kBucket) + kBucket) % kBucket);
}

std::string history_key(std::string_view series, Timestamp bucket) {
  std::string k(series);
  k.push_back(kSeriesEnd);
  put_be64(k, key_time(bucket));
  return k;
}

// History values are runs of (time, value) pairs; merging appends them. Full and partial
// merges concatenate all operands in one pass (pairwise merging would copy quadratically).
class AppendSamples final : public rocksdb::MergeOperator {
 public:
  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    std::size_t size = in.existing_value ? in.existing_value->size() : 0;
    for (const rocksdb::Slice& s : in.operand_list)
      size += s.size();
    out->new_value.clear();
    out->new_value.reserve(size);
    if (in.existing_value)
      out->new_value.append(in.existing_value->data(), in.existing_value->size());
    for (const rocksdb::Slice& s : in.operand_list)
      out->new_value.append(s.data(), s.size());
    return true;
  }
  bool PartialMergeMulti(const rocksdb::Slice&, const std::deque<rocksdb::Slice>& operands,
                         std::string* out, rocksdb::Logger*) const override {
    out->clear();
    for (const rocksdb::Slice& s : operands)
      out->append(s.data(), s.size());
    return true;
  }
  const char* Name() const override { return "DoppelAppendSamples"; }
};

struct Durability {
  bool sync = true;
  bool wal = true;
};

struct Config {
  std::string path;
  Durability durability;
  std::string durability_name = "sync";
  std::chrono::milliseconds max_delay{1};
  std::size_t max_batch = 4096;
  sdk::Duration retention = 0;
};

bool parse_retention(std::string_view t, sdk::Duration& out) {
  std::size_t digits = 0;
  while (digits < t.size() && std::isdigit(static_cast<unsigned char>(t[digits])))
    ++digits;
  if (digits == 0 || digits == t.size()) return false;
  std::int64_t n = std::stoll(std::string(t.substr(0, digits)));
  std::string_view u = t.substr(digits);
  sdk::Duration scale = u == "s"   ? sdk::kSecond
                        : u == "m" ? sdk::kMinute
                        : u == "h" ? 60 * sdk::kMinute
                        : u == "d" ? 24 * 60 * sdk::kMinute
                                   : 0;
  if (!scale) return false;
  out = n * scale;
  return true;
}

class RocksStorage final : public sdk::StoragePlugin {
 public:
  explicit RocksStorage(const sdk::PluginContext& context) : context_(context) {}
  ~RocksStorage() override { stop(); }

  Status configure(const sdk::ConfigNode& c) noexcept override {
    try {
      const auto& path = c.get("path");
      if (path.missing() || path.text().empty())
        return sdk::invalid_argument("rocksdb needs `path`, the database folder", c.where());
      config_.path = std::string(path.text());
      if (const auto& d = c.get("durability"); !d.missing()) {
        std::string_view v = d.text();
        if (v == "sync")
          config_.durability = {true, true};
        else if (v == "wal")
          config_.durability = {false, true};
        else if (v == "none")
          config_.durability = {false, false};
        else
          return sdk::invalid_argument(
              "durability must be sync (fsync per group commit), wal (WAL without fsync) or "
              "none (no WAL), not '" +
                  std::string(v) + "'",
              d.where());
        config_.durability_name = std::string(v);
      }
      if (const auto& m = c.get("group_commit_max_delay_ms"); !m.missing()) {
        if (m.as_integer() < 0 || m.as_integer() > 1000)
          return sdk::invalid_argument("group_commit_max_delay_ms must be between 0 and 1000",
                                       m.where());
        config_.max_delay = std::chrono::milliseconds(m.as_integer());
      }
      if (const auto& b = c.get("group_commit_max_batch"); !b.missing()) {
        if (b.as_integer() < 1)
          return sdk::invalid_argument("group_commit_max_batch must be at least 1", b.where());
        config_.max_batch = static_cast<std::size_t>(b.as_integer());
      }
      if (const auto& r = c.get("history_retention"); !r.missing() && !r.text().empty()) {
        if (!parse_retention(r.text(), config_.retention))
          return sdk::invalid_argument("history_retention must be a duration such as 12h or 30d",
                                       r.where());
      }
      return {};
    } catch (const std::exception& e) {
      return sdk::internal_error(e.what());
    }
  }

  Status start() noexcept override {
    try {
      rocksdb::DBOptions db;
      db.create_if_missing = true;
      db.create_missing_column_families = true;
      db.IncreaseParallelism(2);
      db.manual_wal_flush = false;
      rocksdb::ColumnFamilyOptions cf;
      cf.OptimizeLevelStyleCompaction();
      rocksdb::ColumnFamilyOptions history_cf = cf;
      history_cf.merge_operator = std::make_shared<AppendSamples>();
      // Folds a block's appends once a few pile up in the memtable, so reading recent history
      // does not walk one entry per sample.
      history_cf.max_successive_merges = 8;
      std::vector<rocksdb::ColumnFamilyDescriptor> families = {
          {rocksdb::kDefaultColumnFamilyName, cf},
          {"twins", cf},
          {"relationships", cf},
          {"meta", cf},
          {"dead_letters", cf},
          {"plugin_state", cf},
          {"history", history_cf}};
      rocksdb::DB* raw = nullptr;
      std::vector<rocksdb::ColumnFamilyHandle*> handles;
      rocksdb::Status s = rocksdb::DB::Open(db, config_.path, families, &handles, &raw);
      if (!s.ok()) return from_rocks(s, "opening RocksDB at " + config_.path);
      db_.reset(raw);
      handles_ = handles;
      write_options_.sync = config_.durability.sync;
      write_options_.disableWAL = !config_.durability.wal;
      running_ = true;
      writer_ = std::thread([this] { write_loop(); });
      if (config_.retention > 0) trimmer_ = std::thread([this] { trim_loop(); });
      if (context_.log)
        context_.log->info("rocksdb opened",
                           {{"path", config_.path}, {"durability", config_.durability_name}});
      return {};
    } catch (const std::exception& e) {
      return sdk::internal_error(e.what());
    }
  }

  void stop() noexcept override {
    {
      std::lock_guard lock(mutex_);
      if (!running_) return;
      running_ = false;
      work_.notify_all();
    }
    if (writer_.joinable()) writer_.join();
    {
      std::lock_guard lock(trim_mutex_);
      trim_cv_.notify_all();
    }
    if (trimmer_.joinable()) trimmer_.join();
    if (db_) {
      rocksdb::FlushOptions fo;
      fo.wait = true;
      db_->Flush(fo, handles_);
      for (auto* h : handles_)
        db_->DestroyColumnFamilyHandle(h);
      handles_.clear();
      db_->Close();
      db_.reset();
    }
  }

  void write(const sdk::WriteBatch& batch, sdk::WriteCallback* done) noexcept override {
    std::unique_lock lock(mutex_);
    if (!running_) {
      lock.unlock();
      if (done) done->done(unavailable_status());
      return;
    }
    try {
      // Append to the batch being gathered: the writer thread commits it with one write.
      for (const sdk::WriteOp& op : batch.ops) {
        auto* cf = handles_[static_cast<std::size_t>(op.table) + 1];
        if (op.erase)
          current_.Delete(cf, rocksdb::Slice(op.key.data(), op.key.size()));
        else
          current_.Put(cf, rocksdb::Slice(op.key.data(), op.key.size()),
                       rocksdb::Slice(op.value.data(), op.value.size()));
      }
      // Samples of one block in one batch become one merge operand.
      std::string key, run;
      for (const sdk::Sample& s : batch.samples) {
        std::string k = history_key(s.series, bucket_of(s.time));
        if (k != key) {
          if (!run.empty()) current_.Merge(handles_[6], key, run);
          key = std::move(k);
          run.clear();
        }
        char pair[16];
        std::memcpy(pair, &s.time, 8);
        std::memcpy(pair + 8, &s.value, 8);
        run.append(pair, 16);
      }
      if (!run.empty()) current_.Merge(handles_[6], key, run);
      if (done) callbacks_.push_back(done);
      ++pending_;
      if (pending_ >= config_.max_batch)
        work_.notify_one();
      else if (pending_ == 1)
        work_.notify_one();
    } catch (const std::exception& e) {
      lock.unlock();
      if (done) done->done(sdk::internal_error(e.what()));
    }
  }

  Status get(Table table, std::string_view key, sdk::RecordVisitor& out) noexcept override {
    try {
      std::string value;
      rocksdb::Status s =
          db_->Get(rocksdb::ReadOptions(), handles_[static_cast<std::size_t>(table) + 1],
                   rocksdb::Slice(key.data(), key.size()), &value);
      if (s.IsNotFound()) return sdk::not_found("no record");
      if (!s.ok()) return from_rocks(s, "get");
      out.visit(key, value);
      return {};
    } catch (const std::exception& e) {
      return sdk::internal_error(e.what());
    }
  }

  Status scan(Table table, std::string_view prefix, sdk::RecordVisitor& visitor) noexcept override {
    try {
      std::unique_ptr<rocksdb::Iterator> it(
          db_->NewIterator(rocksdb::ReadOptions(), handles_[static_cast<std::size_t>(table) + 1]));
      for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
        rocksdb::Slice k = it->key();
        if (!std::string_view(k.data(), k.size()).starts_with(prefix)) break;
        rocksdb::Slice v = it->value();
        if (!visitor.visit({k.data(), k.size()}, {v.data(), v.size()})) break;
      }
      return from_rocks(it->status(), "scan");
    } catch (const std::exception& e) {
      return sdk::internal_error(e.what());
    }
  }

  Status history(std::string_view series, Timestamp from, Timestamp to, sdk::Duration step,
                 sdk::HistoryVisitor& visitor) noexcept override {
    try {
      std::string start = history_key(series, bucket_of(from));
      std::string end = history_key(series, bucket_of(to - 1) + kBucket);
      rocksdb::ReadOptions ro;
      rocksdb::Slice upper(end);
      ro.iterate_upper_bound = &upper;
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[6]));
      std::vector<std::pair<Timestamp, double>> samples;
      sdk::HistoryRow row{};
      bool open = false;
      bool stopped = false;
      for (it->Seek(start); it->Valid() && !stopped; it->Next()) {
        rocksdb::Slice v = it->value();
        samples.clear();
        for (std::size_t off = 0; off + 16 <= v.size(); off += 16) {
          Timestamp t;
          double x;
          std::memcpy(&t, v.data() + off, 8);
          std::memcpy(&x, v.data() + off + 8, 8);
          if (t >= from && t < to) samples.emplace_back(t, x);
        }
        // Samples append in arrival order; late ones make a bucket unsorted.
        if (!std::is_sorted(samples.begin(), samples.end(),
                            [](auto& a, auto& b) { return a.first < b.first; }))
          std::stable_sort(samples.begin(), samples.end(),
                           [](auto& a, auto& b) { return a.first < b.first; });
        for (const auto& [t, x] : samples) {
          if (step <= 0) {
            if (!visitor.row({t, 1, x, x, x, x})) {
              stopped = true;
              break;
            }
            continue;
          }
          Timestamp b = t - (((t % step) + step) % step);
          if (open && b != row.start) {
            if (!visitor.row(row)) {
              stopped = true;
              open = false;
              break;
            }
            open = false;
          }
          if (!open) {
            row = {b, 0, x, x, 0, x};
            open = true;
          }
          ++row.count;
          row.min = std::min(row.min, x);
          row.max = std::max(row.max, x);
          row.sum += x;
          row.last = x;
        }
      }
      if (open) visitor.row(row);
      return from_rocks(it->status(), "history");
    } catch (const std::exception& e) {
      return sdk::internal_error(e.what());
    }
  }

  Status trim_history(std::string_view prefix, Timestamp older_than) noexcept override {
    try {
      rocksdb::WriteBatch batch;
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[6]));
      for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
        rocksdb::Slice k = it->key();
        std::string_view key(k.data(), k.size());
        if (!key.starts_with(prefix)) break;
        if (key.size() < 9 || key[key.size() - 9] != kSeriesEnd) continue;
        Timestamp bucket =
            static_cast<Timestamp>(get_be64(key.data() + key.size() - 8) ^ (1ull << 63));
        if (bucket + kBucket <= older_than) {
          batch.Delete(handles_[6], k);
        } else if (bucket < older_than) {
          // A bucket straddling the cut: keep its newer samples.
          rocksdb::Slice v = it->value();
          std::string kept;
          for (std::size_t off = 0; off + 16 <= v.size(); off += 16) {
            Timestamp t;
            std::memcpy(&t, v.data() + off, 8);
            if (t >= older_than) kept.append(v.data() + off, 16);
          }
          batch.Put(handles_[6], k, kept);
        }
      }
      if (!it->status().ok()) return from_rocks(it->status(), "trim");
      rocksdb::WriteOptions wo = write_options_;
      return from_rocks(db_->Write(wo, &batch), "trim");
    } catch (const std::exception& e) {
      return sdk::internal_error(e.what());
    }
  }

  Status flush() noexcept override {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return (pending_ == 0 && !writing_) || !running_; });
    if (!config_.durability.wal && db_) {
      lock.unlock();
      rocksdb::FlushOptions fo;
      fo.wait = true;
      return from_rocks(db_->Flush(fo, handles_), "flush");
    }
    return {};
  }

  bool durable() const noexcept override { return true; }

  sdk::StorageStats stats() noexcept override {
    sdk::StorageStats st;
    try {
      std::uint64_t v = 0;
      for (std::size_t i = 1; i < handles_.size(); ++i) {
        if (db_->GetIntProperty(handles_[i], "rocksdb.total-sst-files-size", &v))
          st.bytes_on_disk += v;
        if (db_->GetIntProperty(handles_[i], "rocksdb.cur-size-all-mem-tables", &v))
          st.bytes_in_memory += v;
        if (db_->GetIntProperty(handles_[i], "rocksdb.estimate-num-keys", &v)) {
          if (i == 6)
            st.samples += v;
          else
            st.records += v;
        }
      }
      std::lock_guard lock(mutex_);
      st.pending_writes = pending_;
    } catch (...) {
    }
    return st;
  }

 private:
  Status unavailable_status() const { return sdk::unavailable("rocksdb storage is not running"); }

  void write_loop() {
    std::unique_lock lock(mutex_);
    while (true) {
      work_.wait(lock, [&] { return pending_ > 0 || !running_; });
      if (pending_ == 0 && !running_) break;
      // Let a group gather for a moment unless it is already large.
      if (pending_ < config_.max_batch && config_.max_delay.count() > 0 && running_)
        work_.wait_for(lock, config_.max_delay,
                       [&] { return pending_ >= config_.max_batch || !running_; });
      rocksdb::WriteBatch batch;
      std::swap(batch, current_);
      std::vector<sdk::WriteCallback*> callbacks;
      callbacks.swap(callbacks_);
      pending_ = 0;
      writing_ = true;
      lock.unlock();
      Status status = from_rocks(db_->Write(write_options_, &batch), "write");
      for (sdk::WriteCallback* cb : callbacks)
        cb->done(status);
      lock.lock();
      writing_ = false;
      idle_.notify_all();
    }
    idle_.notify_all();
  }

  void trim_loop() {
    std::unique_lock lock(trim_mutex_);
    while (running_) {
      trim_cv_.wait_for(lock, std::chrono::minutes(1));
      if (!running_) break;
      Timestamp now = context_.clock ? context_.clock->now() : 0;
      if (now > 0) (void)trim_history("", now - config_.retention);
    }
  }

  sdk::PluginContext context_;
  Config config_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*>
      handles_;  // default, then sdk::Table order, then history
  rocksdb::WriteOptions write_options_;
  std::mutex mutex_;
  std::condition_variable work_;
  std::condition_variable idle_;
  rocksdb::WriteBatch current_;
  std::vector<sdk::WriteCallback*> callbacks_;
  std::size_t pending_ = 0;
  bool writing_ = false;
  std::atomic<bool> running_{false};
  std::thread writer_;
  std::mutex trim_mutex_;
  std::condition_variable trim_cv_;
  std::thread trimmer_;
};

constexpr sdk::ConfigField kConfig[] = {
    {"path", sdk::ConfigNode::Type::kString, true, "", "the database folder (created if missing)"},
    {"durability", sdk::ConfigNode::Type::kString, false, "sync",
     "sync: fsync the WAL before acknowledging; wal: WAL without fsync; none: no WAL"},
    {"group_commit_max_delay_ms", sdk::ConfigNode::Type::kInteger, false, "1",
     "how long a group commit may wait for more writes"},
    {"group_commit_max_batch", sdk::ConfigNode::Type::kInteger, false, "4096",
     "writes per group commit at most"},
    {"history_retention", sdk::ConfigNode::Type::kString, false, "",
     "drop telemetry history older than this (12h, 30d)"},
};

const sdk::PluginDescriptor kDescriptor{
    DOPPEL_SDK_ABI_MAJOR,
    DOPPEL_SDK_ABI_MINOR,
    DOPPEL_SDK_TOOLCHAIN,
    sdk::PluginKind::kStorage,
    "rocksdb",
    "1.0.0",
    "durable twin state, relationships and telemetry history in RocksDB with group commit",
    kConfig,
    sizeof(kConfig) / sizeof(kConfig[0]),
    [](const sdk::PluginContext& context) noexcept -> sdk::Plugin* {
      return new (std::nothrow) RocksStorage(context);
    },
    [](sdk::Plugin* p) noexcept { delete p; },
};

}  // namespace
}  // namespace doppel::plugins::rocks

DOPPEL_PLUGIN_ENTRY(doppel::plugins::rocks::kDescriptor)
