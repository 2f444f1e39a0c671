// storage-memory: every table and telemetry series in RAM. The default storage of a deployment
// that names none; nothing survives a restart.
#include <algorithm>
#include <map>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "doppel/sdk/plugin.hpp"
#include "doppel/sdk/storage.hpp"

namespace doppel::plugins::memory {
namespace {

using sdk::HistoryRow;
using sdk::Status;
using sdk::Table;
using sdk::Timestamp;

struct Series {
  std::vector<std::pair<Timestamp, double>> samples;  // sorted by time
};

class MemoryStorage final : public sdk::StoragePlugin {
 public:
  Status configure(const sdk::ConfigNode&) noexcept override { return {}; }
  Status start() noexcept override { return {}; }
  void stop() noexcept override {}

  void write(const sdk::WriteBatch& batch, sdk::WriteCallback* done) noexcept override {
    Status status;
    try {
      std::unique_lock lock(mutex_);  // one lock: the batch is atomic for readers
      for (const sdk::WriteOp& op : batch.ops) {
        auto& table = tables_[static_cast<std::size_t>(op.table)];
        if (op.erase) {
          auto it = table.find(op.key);
          if (it != table.end()) {
            bytes_ -= it->first.size() + it->second.size();
            table.erase(it);
          }
        } else {
          auto [it, inserted] = table.try_emplace(std::string(op.key));
          if (!inserted)
            bytes_ -= it->second.size();
          else
            bytes_ += it->first.size();
          it->second.assign(op.value);
          bytes_ += op.value.size();
        }
      }
      for (const sdk::Sample& s : batch.samples) {
        auto it = series_.find(s.series);
        if (it == series_.end()) it = series_.emplace(std::string(s.series), Series{}).first;
        auto& v = it->second.samples;
        if (v.empty() || v.back().first <= s.time)
          v.emplace_back(s.time, s.value);
        else
          v.insert(std::upper_bound(v.begin(), v.end(), std::make_pair(s.time, -1e308),
                                    [](const auto& a, const auto& b) { return a.first < b.first; }),
                   {s.time, s.value});
        ++samples_;
      }
    } catch (const std::bad_alloc&) {
      status = Status(sdk::StatusCode::kUnavailable, "out of memory");
    }
    if (done) done->done(status);
  }

  Status get(Table table, std::string_view key, sdk::RecordVisitor& out) noexcept override {
    std::shared_lock lock(mutex_);
    const auto& t = tables_[static_cast<std::size_t>(table)];
    auto it = t.find(key);
    if (it == t.end()) return sdk::not_found("no record");
    out.visit(it->first, it->second);
    return {};
  }

  Status scan(Table table, std::string_view prefix, sdk::RecordVisitor& visitor) noexcept override {
    std::shared_lock lock(mutex_);
    const auto& t = tables_[static_cast<std::size_t>(table)];
    for (auto it = t.lower_bound(prefix);
         it != t.end() && std::string_view(it->first).starts_with(prefix); ++it)
      if (!visitor.visit(it->first, it->second)) break;
    return {};
  }

  Status history(std::string_view series, Timestamp from, Timestamp to, sdk::Duration step,
                 sdk::HistoryVisitor& visitor) noexcept override {
    std::shared_lock lock(mutex_);
    auto it = series_.find(series);
    if (it == series_.end()) return {};
    const auto& v = it->second.samples;
    auto first = std::lower_bound(v.begin(), v.end(), from,
                                  [](const auto& s, Timestamp t) { return s.first < t; });
    if (step <= 0) {
      for (auto p = first; p != v.end() && p->first < to; ++p)
        if (!visitor.row({p->first, 1, p->second, p->second, p->second, p->second})) break;
      return {};
    }
    // Buckets aligned to absolute multiples of `step`.
    HistoryRow row{};
    bool open = false;
    for (auto p = first; p != v.end() && p->first < to; ++p) {
      Timestamp start = p->first - ((p->first % step) + step) % step;
      if (open && start != row.start) {
        if (!visitor.row(row)) return {};
        open = false;
      }
      if (!open) {
        row = {start, 0, p->second, p->second, 0, p->second};
        open = true;
      }
      ++row.count;
      row.min = std::min(row.min, p->second);
      row.max = std::max(row.max, p->second);
      row.sum += p->second;
      row.last = p->second;
    }
    if (open) visitor.row(row);
    return {};
  }

  Status trim_history(std::string_view prefix, Timestamp older_than) noexcept override {
    std::unique_lock lock(mutex_);
    for (auto& [name, s] : series_) {
      if (!std::string_view(name).starts_with(prefix)) continue;
      auto end = std::lower_bound(s.samples.begin(), s.samples.end(), older_than,
                                  [](const auto& x, Timestamp t) { return x.first < t; });
      samples_ -= static_cast<std::uint64_t>(end - s.samples.begin());
      s.samples.erase(s.samples.begin(), end);
    }
    return {};
  }

  Status flush() noexcept override { return {}; }

  sdk::StorageStats stats() noexcept override {
    std::shared_lock lock(mutex_);
    sdk::StorageStats st;
    st.bytes_in_memory = bytes_ + samples_ * sizeof(std::pair<Timestamp, double>);
    for (const auto& t : tables_)
      st.records += t.size();
    st.samples = samples_;
    return st;
  }

 private:
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::string, std::less<>> tables_[sdk::kTableCount];
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Series, Hash, std::equal_to<>> series_;
  std::uint64_t bytes_ = 0;
  std::uint64_t samples_ = 0;
};

const sdk::PluginDescriptor kDescriptor{
    DOPPEL_SDK_ABI_MAJOR,
    DOPPEL_SDK_ABI_MINOR,
    DOPPEL_SDK_TOOLCHAIN,
    sdk::PluginKind::kStorage,
    "memory",
    "1.0.0",
    "twin state, relationships and telemetry history in RAM; nothing survives a restart",
    nullptr,
    0,
    [](const sdk::PluginContext&) noexcept -> sdk::Plugin* {
      return new (std::nothrow) MemoryStorage();
    },
    [](sdk::Plugin* p) noexcept { delete p; },
};

}  // namespace
}  // namespace doppel::plugins::memory

DOPPEL_PLUGIN_ENTRY(doppel::plugins::memory::kDescriptor)
