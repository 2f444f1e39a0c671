// storage-memory: every table and telemetry series in RAM. The default storage of a deployment
// that names none; nothing survives a restart. Keys are spread over lock stripes so that
// writers of different twins do not queue on one lock.
#include <algorithm>
#include <array>
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

constexpr std::size_t kStripes = 16;

struct Hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Records hash to a stripe by their twin (the key up to its first NUL), so one twin's records
// share a stripe and a batch usually locks one.
std::size_t stripe_of(std::string_view key) {
  return Hash{}(key.substr(0, key.find('\0'))) % kStripes;
}

struct Stripe {
  mutable std::shared_mutex mutex;
  std::map<std::string, std::string, std::less<>> tables[sdk::kTableCount];
  std::unordered_map<std::string, std::vector<std::pair<Timestamp, double>>, Hash, std::equal_to<>>
      series;
};

class MemoryStorage final : public sdk::StoragePlugin {
 public:
  Status configure(const sdk::ConfigNode&) noexcept override { return {}; }
  Status start() noexcept override { return {}; }
  void stop() noexcept override {}

  void write(const sdk::WriteBatch& batch, sdk::WriteCallback* done) noexcept override {
    Status status;
    try {
      // Lock every stripe the batch touches, in index order: readers see all of it or none.
      std::uint32_t mask = 0;
      for (const sdk::WriteOp& op : batch.ops)
        mask |= 1u << stripe_of(op.key);
      for (const sdk::Sample& s : batch.samples)
        mask |= 1u << stripe_of(s.series);
      std::array<std::unique_lock<std::shared_mutex>, kStripes> locks;
      for (std::size_t i = 0; i < kStripes; ++i)
        if (mask & (1u << i)) locks[i] = std::unique_lock(stripes_[i].mutex);
      for (const sdk::WriteOp& op : batch.ops) {
        auto& table = stripes_[stripe_of(op.key)].tables[static_cast<std::size_t>(op.table)];
        if (op.erase) {
          auto it = table.find(op.key);
          if (it != table.end()) table.erase(it);
        } else {
          auto [it, inserted] = table.try_emplace(std::string(op.key));
          it->second.assign(op.value);
        }
      }
      for (const sdk::Sample& s : batch.samples) {
        auto& series = stripes_[stripe_of(s.series)].series;
        auto it = series.find(s.series);
        if (it == series.end())
          it = series.emplace(std::string(s.series), std::vector<std::pair<Timestamp, double>>{})
                   .first;
        auto& v = it->second;
        if (v.empty() || v.back().first <= s.time)
          v.emplace_back(s.time, s.value);
        else
          v.insert(std::upper_bound(v.begin(), v.end(), s.time,
                                    [](Timestamp t, const auto& x) { return t < x.first; }),
                   {s.time, s.value});
      }
    } catch (const std::bad_alloc&) {
      status = Status(sdk::StatusCode::kUnavailable, "out of memory");
    }
    if (done) done->done(status);
  }

  Status get(Table table, std::string_view key, sdk::RecordVisitor& out) noexcept override {
    const Stripe& s = stripes_[stripe_of(key)];
    std::shared_lock lock(s.mutex);
    const auto& t = s.tables[static_cast<std::size_t>(table)];
    auto it = t.find(key);
    if (it == t.end()) return sdk::not_found("no record");
    out.visit(it->first, it->second);
    return {};
  }

  Status scan(Table table, std::string_view prefix, sdk::RecordVisitor& visitor) noexcept override {
    try {
      // Gather the matching records of every stripe, then visit them in key order.
      std::vector<std::pair<std::string, std::string>> rows;
      for (const Stripe& s : stripes_) {
        std::shared_lock lock(s.mutex);
        const auto& t = s.tables[static_cast<std::size_t>(table)];
        for (auto it = t.lower_bound(prefix);
             it != t.end() && std::string_view(it->first).starts_with(prefix); ++it)
          rows.emplace_back(it->first, it->second);
      }
      std::sort(rows.begin(), rows.end());
      for (const auto& [k, v] : rows)
        if (!visitor.visit(k, v)) break;
      return {};
    } catch (const std::bad_alloc&) {
      return Status(sdk::StatusCode::kUnavailable, "out of memory");
    }
  }

  Status history(std::string_view series, Timestamp from, Timestamp to, sdk::Duration step,
                 sdk::HistoryVisitor& visitor) noexcept override {
    const Stripe& stripe = stripes_[stripe_of(series)];
    std::shared_lock lock(stripe.mutex);
    auto it = stripe.series.find(series);
    if (it == stripe.series.end()) return {};
    const auto& v = it->second;
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
    for (Stripe& stripe : stripes_) {
      std::unique_lock lock(stripe.mutex);
      for (auto& [name, v] : stripe.series) {
        if (!std::string_view(name).starts_with(prefix)) continue;
        auto end = std::lower_bound(v.begin(), v.end(), older_than,
                                    [](const auto& x, Timestamp t) { return x.first < t; });
        v.erase(v.begin(), end);
      }
    }
    return {};
  }

  Status flush() noexcept override { return {}; }
  bool durable() const noexcept override { return false; }

  sdk::StorageStats stats() noexcept override {
    sdk::StorageStats st;
    for (const Stripe& s : stripes_) {
      std::shared_lock lock(s.mutex);
      for (const auto& t : s.tables) {
        st.records += t.size();
        for (const auto& [k, v] : t)
          st.bytes_in_memory += k.size() + v.size();
      }
      for (const auto& [name, v] : s.series) {
        st.samples += v.size();
        st.bytes_in_memory += name.size() + v.size() * sizeof(v[0]);
      }
    }
    return st;
  }

 private:
  std::array<Stripe, kStripes> stripes_;
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
