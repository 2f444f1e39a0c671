#include "history_format.hpp"

#include <algorithm>

namespace doppel::plugins::rocks {
namespace {

// Keeps the pairs of `v` whose time is at least `cut`, in order.
void drop_older(std::string& v, sdk::Timestamp cut) {
  std::size_t w = 0;
  for (std::size_t r = 0; r + kPairSize <= v.size(); r += kPairSize) {
    if (pair_time(v.data() + r) < cut) continue;
    if (w != r) std::memmove(v.data() + w, v.data() + r, kPairSize);
    w += kPairSize;
  }
  v.resize(w);
}

}  // namespace

bool AppendSamples::FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const {
  std::string& v = out->new_value;
  std::size_t size = in.existing_value ? in.existing_value->size() : 0;
  for (const rocksdb::Slice& s : in.operand_list)
    size += s.size();
  v.clear();
  v.reserve(size);
  if (in.existing_value) v.append(in.existing_value->data(), in.existing_value->size());
  for (const rocksdb::Slice& s : in.operand_list) {
    if (is_trim_marker({s.data(), s.size()}))
      drop_older(v, static_cast<sdk::Timestamp>(decode_int64({s.data() + 8, 8})));
    else
      v.append(s.data(), s.size());
  }
  return true;
}

bool AppendSamples::PartialMergeMulti(const rocksdb::Slice&,
                                      const std::deque<rocksdb::Slice>& operands, std::string* out,
                                      rocksdb::Logger*) const {
  // A marker must stay a separate operand so that a full merge recognises it (a concatenated
  // run is taken for samples). Returning false keeps the operands as they are.
  std::size_t size = 0;
  for (const rocksdb::Slice& s : operands) {
    if (is_trim_marker({s.data(), s.size()})) return false;
    size += s.size();
  }
  out->clear();
  out->reserve(size);
  for (const rocksdb::Slice& s : operands)
    out->append(s.data(), s.size());
  return true;
}

std::string encode_int64(std::int64_t v) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &v, 8);
  return out;
}

std::int64_t decode_int64(std::string_view bytes) noexcept {
  if (bytes.size() != 8) return 0;
  std::int64_t v;
  std::memcpy(&v, bytes.data(), 8);
  return v;
}

bool AddInt64::Merge(const rocksdb::Slice&, const rocksdb::Slice* existing,
                     const rocksdb::Slice& operand, std::string* out, rocksdb::Logger*) const {
  std::int64_t sum = existing ? decode_int64({existing->data(), existing->size()}) : 0;
  sum += decode_int64({operand.data(), operand.size()});
  *out = encode_int64(sum);
  return true;
}

bool Aggregator::add(sdk::Timestamp t, double x) noexcept {
  if (stopped_) return false;
  if (step_ <= 0) {
    stopped_ = !visitor_.row({t, 1, x, x, x, x});
    return !stopped_;
  }
  sdk::Timestamp start = align_down(t, step_);
  if (open_ && start != row_.start) {
    open_ = false;
    if (!visitor_.row(row_)) {
      stopped_ = true;
      return false;
    }
  }
  if (!open_) {
    row_ = {start, 0, x, x, 0, x};
    open_ = true;
  }
  ++row_.count;
  row_.min = std::min(row_.min, x);
  row_.max = std::max(row_.max, x);
  row_.sum += x;
  row_.last = x;
  return true;
}

void Aggregator::finish() noexcept {
  if (open_ && !stopped_) stopped_ = !visitor_.row(row_);
  open_ = false;
}

}  // namespace doppel::plugins::rocks
