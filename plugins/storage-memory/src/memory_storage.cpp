// storage-memory: every table and telemetry series in RAM. The default storage of a deployment
// that names none; nothing survives a restart. Keys are spread over lock stripes so that
// writers of different twins do not queue on one lock. Visitors are called with no lock held,
// so they may call back into the storage.
#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <stdexcept>
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

// floor(t / step) * step, clamped to the int64 range.
Timestamp align_down(Timestamp t, sdk::Duration step) noexcept {
  Timestamp r = t % step;
  if (r < 0) r += step;
  if (t < std::numeric_limits<Timestamp>::min() + r) return std::numeric_limits<Timestamp>::min();
  return t - r;
}

bool valid(Table t) noexcept {
  return static_cast<std::size_t>(t) < sdk::kTableCount;
}

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
  explicit MemoryStorage(const sdk::PluginContext&) {}
  Status configure(const sdk::ConfigNode& config) noexcept override {
    try {
      if (config.type() == sdk::ConfigNode::Type::kMap && config.size() > 0)
        return sdk::invalid_argument(
            "memory storage has no settings; remove '" + std::string(config.key_at(0)) + "'",
            config.at(0).where());
      return {};
    } catch (const std::exception& e) {
      return sdk::internal_error(e.what());
    }
  }
  Status start() noexcept override { return {}; }
  void stop() noexcept override {}

  void write(const sdk::WriteBatch& batch, sdk::WriteCallback* done) noexcept override {
    Status status;
    try {
      for (const sdk::WriteOp& op : batch.ops)
        if (!valid(op.table)) throw std::invalid_argument("write: unknown table");
      // Lock every stripe the batch touches, in index order: readers see all of it or none.
      std::uint32_t mask = 0;
      for (const sdk::WriteOp& op : batch.ops)
        mask |= 1u << stripe_of(op.key);
      for (const sdk::Sample& s : batch.samples)
        mask |= 1u << stripe_of(s.series);
      std::array<std::unique_lock<std::shared_mutex>, kStripes> locks;
      for (std::size_t i = 0; i < kStripes; ++i)
        if (mask & (1u << i)) locks[i] = std::unique_lock(stripes_[i].mutex);
      apply(batch);
    } catch (const std::invalid_argument& e) {
      status = sdk::invalid_argument(e.what());  // checked before anything was applied
    } catch (const std::exception& e) {
      status = Status(sdk::StatusCode::kUnavailable, std::string("memory storage: ") + e.what());
    }
    if (done) done->done(status);
  }

  Status get(Table table, std::string_view key, sdk::RecordVisitor& out) noexcept override {
    if (!valid(table)) return sdk::invalid_argument("get: unknown table");
    try {
      std::string value;
      {
        const Stripe& s = stripes_[stripe_of(key)];
        std::shared_lock lock(s.mutex);
        const auto& t = s.tables[static_cast<std::size_t>(table)];
        auto it = t.find(key);
        if (it == t.end()) return sdk::not_found("no record");
        value = it->second;
      }
      out.visit(key, value);
      return {};
    } catch (const std::exception& e) {
      return Status(sdk::StatusCode::kUnavailable, std::string("memory storage: ") + e.what());
    }
  }

  Status scan(Table table, std::string_view prefix, sdk::RecordVisitor& visitor) noexcept override {
    if (!valid(table)) return sdk::invalid_argument("scan: unknown table");
    try {
      // Copy the matching records of every stripe under all stripe locks at once (a batch
      // spanning stripes is seen whole or not at all), then visit them in key order.
      std::vector<std::pair<std::string, std::string>> rows;
      std::array<std::shared_lock<std::shared_mutex>, kStripes> locks;
      for (std::size_t i = 0; i < kStripes; ++i)
        locks[i] = std::shared_lock(stripes_[i].mutex);
      for (const Stripe& s : stripes_) {
        const auto& t = s.tables[static_cast<std::size_t>(table)];
        for (auto it = t.lower_bound(prefix);
             it != t.end() && std::string_view(it->first).starts_with(prefix); ++it)
          rows.emplace_back(it->first, it->second);
      }
      for (auto& l : locks)
        l.unlock();
      std::sort(rows.begin(), rows.end());
      for (const auto& [k, v] : rows)
        if (!visitor.visit(k, v)) break;
      return {};
    } catch (const std::exception& e) {
      return Status(sdk::StatusCode::kUnavailable, std::string("memory storage: ") + e.what());
    }
  }

  Status history(std::string_view series, Timestamp from, Timestamp to, sdk::Duration step,
                 sdk::HistoryVisitor& visitor) noexcept override {
    try {
      std::vector<HistoryRow> rows;
      {
        const Stripe& stripe = stripes_[stripe_of(series)];
        std::shared_lock lock(stripe.mutex);
        auto it = stripe.series.find(series);
        if (it == stripe.series.end() || from >= to) return {};
        const auto& v = it->second;
        auto p = std::lower_bound(v.begin(), v.end(), from,
                                  [](const auto& s, Timestamp t) { return s.first < t; });
        for (; p != v.end() && p->first < to; ++p) {
          const auto& [t, x] = *p;
          // Raw rows are one sample each; otherwise buckets start at absolute multiples of step.
          Timestamp start = step > 0 ? align_down(t, step) : t;
          if (step <= 0 || rows.empty() || rows.back().start != start)
            rows.push_back({start, 0, x, x, 0, x});
          HistoryRow& row = rows.back();
          ++row.count;
          row.min = std::min(row.min, x);
          row.max = std::max(row.max, x);
          row.sum += x;
          row.last = x;
        }
      }
      for (const HistoryRow& row : rows)
        if (!visitor.row(row)) break;
      return {};
    } catch (const std::exception& e) {
      return Status(sdk::StatusCode::kUnavailable, std::string("memory storage: ") + e.what());
    }
  }

  Status trim_history(std::string_view prefix, Timestamp older_than) noexcept override {
    for (Stripe& stripe : stripes_) {
      std::unique_lock lock(stripe.mutex);
      for (auto it = stripe.series.begin(); it != stripe.series.end();) {
        auto& v = it->second;
        if (std::string_view(it->first).starts_with(prefix)) {
          auto end = std::lower_bound(v.begin(), v.end(), older_than,
                                      [](const auto& x, Timestamp t) { return x.first < t; });
          v.erase(v.begin(), end);
        }
        it = v.empty() ? stripe.series.erase(it) : std::next(it);
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
  using Series = std::vector<std::pair<Timestamp, double>>;
  using TableMap = std::map<std::string, std::string, std::less<>>;

  // Applies a batch with its stripes locked. Everything that allocates happens first, so an
  // allocation failure leaves the data untouched (the batch stays atomic).
  void apply(const sdk::WriteBatch& batch) {
    // Stage: one map node per put, room for every new sample.
    std::vector<TableMap::node_type> nodes;
    nodes.reserve(batch.ops.size());
    TableMap staging;
    for (const sdk::WriteOp& op : batch.ops)
      if (!op.erase) nodes.push_back(staging.extract(staging.emplace(op.key, op.value).first));
    std::vector<Series*> targets;
    targets.reserve(batch.samples.size());
    for (const sdk::Sample& s : batch.samples) {
      auto& series = stripes_[stripe_of(s.series)].series;
      auto it = series.find(s.series);
      if (it == series.end()) it = series.emplace(std::string(s.series), Series{}).first;
      targets.push_back(&it->second);
    }
    std::vector<Series*> sorted = targets;
    std::sort(sorted.begin(), sorted.end());
    for (auto run = sorted.begin(); run != sorted.end();) {
      auto next = std::upper_bound(run, sorted.end(), *run);
      std::size_t need = (*run)->size() + static_cast<std::size_t>(next - run);
      if (need > (*run)->capacity())  // grow geometrically: one sample per write stays O(1)
        (*run)->reserve(std::max(need, 2 * (*run)->capacity()));
      run = next;
    }
    // Apply, in batch order, with operations that do not allocate.
    std::size_t node = 0;
    for (const sdk::WriteOp& op : batch.ops) {
      TableMap& table = stripes_[stripe_of(op.key)].tables[static_cast<std::size_t>(op.table)];
      if (op.erase) {
        if (auto it = table.find(op.key); it != table.end()) table.erase(it);
        continue;
      }
      auto result = table.insert(std::move(nodes[node++]));
      if (!result.inserted) result.position->second.swap(result.node.mapped());
    }
    for (std::size_t i = 0; i < batch.samples.size(); ++i) {
      const sdk::Sample& s = batch.samples[i];
      Series& v = *targets[i];
      if (v.empty() || v.back().first <= s.time)
        v.emplace_back(s.time, s.value);
      else  // late sample: in place, after equal times (arrival order)
        v.insert(std::upper_bound(v.begin(), v.end(), s.time,
                                  [](Timestamp t, const auto& x) { return t < x.first; }),
                 {s.time, s.value});
    }
  }

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
    [](const sdk::PluginContext& c) noexcept -> sdk::Plugin* {
      return sdk::create_plugin<MemoryStorage>(c, "memory");
    },
    sdk::destroy_plugin,
};

}  // namespace
}  // namespace doppel::plugins::memory

DOPPEL_PLUGIN_ENTRY(doppel::plugins::memory::kDescriptor)
