// How telemetry history is laid out in the "history" column family, and the merge operators
// that let a write append samples without reading first. Private to the plugin.
//
// key   = series, 0xFF, big-endian (block start ^ sign bit)     one key per series per minute
// value = (int64 time, double value) pairs, 16 bytes each, in arrival order
//
// 0xFF never occurs in UTF-8, so it ends the series name: every key of a series shares the
// prefix `series + 0xFF`, and no other series' keys fall inside that range.
#pragma once

#include <rocksdb/merge_operator.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "doppel/sdk/clock.hpp"
#include "doppel/sdk/storage.hpp"

namespace doppel::plugins::rocks {

static_assert(std::endian::native == std::endian::little,
              "history values are stored as native little-endian pairs");

constexpr sdk::Duration kBlock = sdk::kMinute;
constexpr char kSeriesEnd = '\xff';
constexpr std::size_t kBlockSuffix = 9;  // 0xFF + 8-byte block start
constexpr std::size_t kPairSize = 16;
// A pair with this time is not a sample but an instruction for the merge operator: "drop the
// pairs before it that are older than <value, as int64>". trim_history uses it so that a
// block straddling the cut is trimmed without a read-modify-write racing concurrent appends.
constexpr sdk::Timestamp kTrimMarker = std::numeric_limits<sdk::Timestamp>::min();

// floor(t / step) * step, clamped to the int64 range.
inline sdk::Timestamp align_down(sdk::Timestamp t, sdk::Duration step) noexcept {
  sdk::Timestamp r = t % step;
  if (r < 0) r += step;
  if (t < std::numeric_limits<sdk::Timestamp>::min() + r)
    return std::numeric_limits<sdk::Timestamp>::min();
  return t - r;
}

inline void append_key(std::string& key, std::string_view series, sdk::Timestamp block) {
  key.append(series);
  key.push_back(kSeriesEnd);
  // Flipping the sign bit makes signed times sort as unsigned big-endian bytes.
  std::uint64_t v = static_cast<std::uint64_t>(block) ^ (1ull << 63);
  for (int i = 7; i >= 0; --i)
    key.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

inline std::string block_key(std::string_view series, sdk::Timestamp block) {
  std::string key;
  key.reserve(series.size() + kBlockSuffix);
  append_key(key, series, block);
  return key;
}

// Splits a history key; false when it is not one.
inline bool parse_key(std::string_view key, std::string_view& series, sdk::Timestamp& block) {
  if (key.size() < kBlockSuffix || key[key.size() - kBlockSuffix] != kSeriesEnd) return false;
  series = key.substr(0, key.size() - kBlockSuffix);
  std::uint64_t v = 0;
  for (std::size_t i = key.size() - 8; i < key.size(); ++i)
    v = (v << 8) | static_cast<unsigned char>(key[i]);
  block = static_cast<sdk::Timestamp>(v ^ (1ull << 63));
  return true;
}

inline void append_pair(std::string& out, sdk::Timestamp t, double x) {
  char pair[kPairSize];
  std::memcpy(pair, &t, 8);
  std::memcpy(pair + 8, &x, 8);
  out.append(pair, kPairSize);
}

inline sdk::Timestamp pair_time(const char* p) noexcept {
  sdk::Timestamp t;
  std::memcpy(&t, p, 8);
  return t;
}

inline double pair_value(const char* p) noexcept {
  double x;
  std::memcpy(&x, p + 8, 8);
  return x;
}

inline std::string trim_marker(sdk::Timestamp older_than) {
  std::string out;
  char pair[kPairSize];
  std::memcpy(pair, &kTrimMarker, 8);
  std::memcpy(pair + 8, &older_than, 8);
  out.append(pair, kPairSize);
  return out;
}

inline bool is_trim_marker(std::string_view operand) noexcept {
  return operand.size() == kPairSize && pair_time(operand.data()) == kTrimMarker;
}

// Appends sample runs; applies trim markers in order. Full merges concatenate every operand in
// one pass (pairwise merging would copy quadratically).
class AppendSamples final : public rocksdb::MergeOperator {
 public:
  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override;
  bool PartialMergeMulti(const rocksdb::Slice& key, const std::deque<rocksdb::Slice>& operands,
                         std::string* out, rocksdb::Logger* logger) const override;
  const char* Name() const override { return "DoppelAppendSamples"; }
};

// A little-endian int64 counter; operands are deltas. Keeps the exact sample count.
class AddInt64 final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& key, const rocksdb::Slice* existing,
             const rocksdb::Slice& operand, std::string* out,
             rocksdb::Logger* logger) const override;
  const char* Name() const override { return "DoppelAddInt64"; }
};

std::string encode_int64(std::int64_t v);
std::int64_t decode_int64(std::string_view bytes) noexcept;  // 0 when malformed

// Turns samples in time order into HistoryRows: one per sample (step 0) or one per bucket
// aligned to absolute multiples of `step`.
class Aggregator {
 public:
  Aggregator(sdk::Duration step, sdk::HistoryVisitor& visitor) : step_(step), visitor_(visitor) {}
  // False once the visitor asked to stop.
  bool add(sdk::Timestamp t, double x) noexcept;
  void finish() noexcept;

 private:
  sdk::Duration step_;
  sdk::HistoryVisitor& visitor_;
  sdk::HistoryRow row_{};
  bool open_ = false;
  bool stopped_ = false;
};

}  // namespace doppel::plugins::rocks
