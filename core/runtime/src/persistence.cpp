#include "doppel/runtime/persistence.hpp"

#include <cstring>
#include <functional>
#include <optional>

namespace doppel::runtime {

using sdk::Sample;
using sdk::Table;
using sdk::WriteOp;
using twin::ChangeKind;
using twin::SlotState;
using twin::Value;

namespace {

// ---- binary record encoding (little-endian, length-prefixed strings) ---------------------------

constexpr char kHeaderTag = 'H';
constexpr char kSlotTag = 'S';
constexpr char kRelationshipTag = 'R';
constexpr std::uint8_t kFormat = 1;

template <typename T>
void put(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out.append(buf, sizeof(T));
}
void put_str(std::string& out, std::string_view s) {
  put<std::uint32_t>(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}
template <typename T>
bool get(std::string_view& in, T& v) {
  if (in.size() < sizeof(T)) return false;
  std::memcpy(&v, in.data(), sizeof(T));
  in.remove_prefix(sizeof(T));
  return true;
}
bool get_str(std::string_view& in, std::string_view& s) {
  std::uint32_t n;
  if (!get(in, n) || in.size() < n) return false;
  s = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

// A slot record also carries the twin's version after the change that wrote it, so reported
// updates (the hot path) need not rewrite the twin header: recovery takes the newest.
void encode_slot(const SlotState& s, std::uint64_t twin_version, std::string& out) {
  out.push_back(kSlotTag);
  Persistence::encode_value(s.reported, out);
  put<std::int64_t>(out, s.reported_at);
  put<std::uint32_t>(out, s.reported_version);
  Persistence::encode_value(s.desired, out);
  put<std::int64_t>(out, s.desired_at);
  put<std::uint32_t>(out, s.desired_version);
  put<std::uint8_t>(out, static_cast<std::uint8_t>(s.sync));
  put<std::uint64_t>(out, twin_version);
}

bool decode_slot(std::string_view in, SlotState& s, std::uint64_t& twin_version) {
  char tag;
  std::uint8_t sync;
  if (!get(in, tag) || tag != kSlotTag) return false;
  if (!Persistence::decode_value(in, s.reported) || !get(in, s.reported_at) ||
      !get(in, s.reported_version) || !Persistence::decode_value(in, s.desired) ||
      !get(in, s.desired_at) || !get(in, s.desired_version) || !get(in, sync) ||
      sync > static_cast<std::uint8_t>(twin::SyncStatus::kTimedOut) || !get(in, twin_version))
    return false;
  s.sync = static_cast<twin::SyncStatus>(sync);
  return true;
}

void encode_header(const twin::TwinView& t, std::string& out) {
  out.push_back(kHeaderTag);
  put<std::uint8_t>(out, kFormat);
  put_str(out, t.layout->interface().id);
  put<std::uint64_t>(out, t.version);
  put<std::int64_t>(out, t.created_at);
  put<std::int64_t>(out, t.last_data_at);
  put<std::int64_t>(out, t.expected_period);
  put<std::uint8_t>(out, t.stale ? 1 : 0);
}

void encode_relationship(const twin::Relationship& r, std::string& out) {
  out.push_back(kRelationshipTag);
  put_str(out, r.name());
  put_str(out, r.target);
  put_str(out, r.custom_id);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(r.properties.size()));
  for (const auto& [name, value] : r.properties) {
    put_str(out, name);
    Persistence::encode_value(value, out);
  }
}

// The calling thread's pending batch. Keys and values live in one growing buffer (offsets,
// not views, since the buffer reallocates); views are made at commit time.
struct PendingOp {
  Table table;
  bool erase;
  std::uint32_t key_begin, key_end, value_begin, value_end;
};
struct PendingSample {
  std::uint32_t series_begin, series_end;
  sdk::Timestamp time;
  double value;
};
struct Pending {
  std::string bytes;
  std::vector<PendingOp> ops;
  std::vector<PendingSample> samples;
  std::vector<WriteOp> op_views;
  std::vector<Sample> sample_views;

  void clear() {
    bytes.clear();
    ops.clear();
    samples.clear();
  }
  std::uint32_t mark() const { return static_cast<std::uint32_t>(bytes.size()); }
  void key(std::string_view twin, std::string_view suffix) {
    bytes.append(twin);
    bytes.push_back('\0');
    bytes.append(suffix);
  }
};

thread_local Pending t_pending;

struct NoopCallback final : sdk::WriteCallback {
  void done(const sdk::Status&) noexcept override {}
};
NoopCallback g_noop;

bool is_numeric(const Value& v) {
  return v.is_number();
}

}  // namespace

void Persistence::encode_value(const Value& v, std::string& out) {
  out.push_back(static_cast<char>(v.kind()));
  switch (v.kind()) {
    case Value::Kind::kNull:
      break;
    case Value::Kind::kBool:
      out.push_back(v.as_bool() ? 1 : 0);
      break;
    case Value::Kind::kInteger:
      put<std::int64_t>(out, v.as_integer());
      break;
    case Value::Kind::kDouble:
      put<double>(out, v.as_double());
      break;
    case Value::Kind::kString:
    case Value::Kind::kJson:
      put_str(out, v.as_string());
      break;
  }
}

bool Persistence::decode_value(std::string_view& in, Value& out) {
  std::uint8_t kind;
  if (!get(in, kind)) return false;
  switch (static_cast<Value::Kind>(kind)) {
    case Value::Kind::kNull:
      out = Value();
      return true;
    case Value::Kind::kBool: {
      std::uint8_t b;
      if (!get(in, b)) return false;
      out = Value::boolean(b != 0);
      return true;
    }
    case Value::Kind::kInteger: {
      std::int64_t i;
      if (!get(in, i)) return false;
      out = Value::integer(i);
      return true;
    }
    case Value::Kind::kDouble: {
      double d;
      if (!get(in, d)) return false;
      out = Value::number(d);
      return true;
    }
    case Value::Kind::kString:
    case Value::Kind::kJson: {
      std::string_view s;
      if (!get_str(in, s)) return false;
      out = static_cast<Value::Kind>(kind) == Value::Kind::kString ? Value::string(s)
                                                                   : Value::json(s);
      return true;
    }
  }
  return false;
}

std::string Persistence::series_key(std::string_view twin, std::string_view path) {
  std::string k(twin);
  k.push_back('\0');
  k.append(path);
  return k;
}

Persistence::Persistence(sdk::StoragePlugin& storage)
    : storage_(storage), state_records_(storage.durable()) {}
Persistence::~Persistence() = default;

void Persistence::on_change(const twin::ChangeEvent& e) noexcept {
  Pending& p = t_pending;
  const twin::TwinView& t = e.twin;
  auto put_op = [&](Table table, bool erase, auto&& write_key, auto&& write_value) {
    if (!state_records_) return;  // non-durable storage: the graph is the only copy of state
    PendingOp op{table, erase, p.mark(), 0, 0, 0};
    write_key();
    op.key_end = p.mark();
    op.value_begin = p.mark();
    write_value();
    op.value_end = p.mark();
    p.ops.push_back(op);
  };
  auto header = [&] {
    put_op(
        Table::kTwins, false, [&] { p.key(t.id, ""); }, [&] { encode_header(t, p.bytes); });
  };
  auto slot = [&](int i) {
    const auto& info = t.layout->slots()[static_cast<std::size_t>(i)];
    put_op(
        Table::kTwins, false, [&] { p.key(t.id, info.path); },
        [&] { encode_slot(t.slots[static_cast<std::size_t>(i)], t.version, p.bytes); });
  };
  try {
    switch (e.kind) {
      case ChangeKind::kTwinCreated:
        header();
        for (std::size_t i = 0; i < t.slots.size(); ++i)
          if (!t.slots[i].reported.is_null() || !t.slots[i].desired.is_null())
            slot(static_cast<int>(i));
        break;
      case ChangeKind::kReported:
        // No header: the slot records carry the new version (see encode_slot).
        for (const twin::SlotChange& c : e.slots) {
          slot(c.slot);
          const auto& info = t.layout->slots()[static_cast<std::size_t>(c.slot)];
          if (info.content->kind == model::ContentKind::kTelemetry && is_numeric(*c.after)) {
            PendingSample s{p.mark(), 0, c.time, c.after->as_double()};
            p.key(t.id, info.path);
            s.series_end = p.mark();
            p.samples.push_back(s);
          }
        }
        break;
      case ChangeKind::kDesired:
      case ChangeKind::kSync:
        header();
        for (const twin::SlotChange& c : e.slots)
          slot(c.slot);
        break;
      case ChangeKind::kStale:
        header();
        break;
      case ChangeKind::kRelationshipAdded:
        header();
        put_op(
            Table::kRelationships, false, [&] { p.key(t.id, e.relationship->id()); },
            [&] { encode_relationship(*e.relationship, p.bytes); });
        break;
      case ChangeKind::kRelationshipRemoved:
        header();
        put_op(
            Table::kRelationships, true, [&] { p.key(t.id, e.relationship->id()); }, [] {});
        break;
      case ChangeKind::kTwinDeleted:
        put_op(
            Table::kTwins, true, [&] { p.key(t.id, ""); }, [] {});
        for (const auto& info : t.layout->slots())
          put_op(
              Table::kTwins, true, [&] { p.key(t.id, info.path); }, [] {});
        for (const twin::Relationship& r : t.relationships)
          put_op(
              Table::kRelationships, true, [&] { p.key(t.id, r.id()); }, [] {});
        break;
    }
  } catch (...) {
    // Out of memory while encoding: the batch is incomplete; drop it rather than write half.
    p.clear();
  }
}

void Persistence::commit(sdk::WriteCallback* done) {
  Pending& p = t_pending;
  if (!done) done = &g_noop;
  if (p.ops.empty() && p.samples.empty()) {
    done->done({});
    return;
  }
  p.op_views.clear();
  p.sample_views.clear();
  const char* base = p.bytes.data();
  for (const PendingOp& op : p.ops)
    p.op_views.push_back({op.table, op.erase,
                          std::string_view(base + op.key_begin, op.key_end - op.key_begin),
                          std::string_view(base + op.value_begin, op.value_end - op.value_begin)});
  for (const PendingSample& s : p.samples)
    p.sample_views.push_back(
        {std::string_view(base + s.series_begin, s.series_end - s.series_begin), s.time, s.value});
  storage_.write(sdk::WriteBatch{p.op_views, p.sample_views}, done);
  p.clear();
}

void Persistence::discard() {
  t_pending.clear();
}

namespace {

class Collect final : public sdk::RecordVisitor {
 public:
  explicit Collect(std::function<bool(std::string_view, std::string_view)> fn)
      : fn_(std::move(fn)) {}
  bool visit(std::string_view key, std::string_view value) noexcept override {
    try {
      return fn_(key, value);
    } catch (...) {
      return false;
    }
  }

 private:
  std::function<bool(std::string_view, std::string_view)> fn_;
};

}  // namespace

sdk::Expected<RecoveryReport> Persistence::recover(twin::TwinGraph& graph) {
  RecoveryReport report;
  std::uint64_t header_version = 0;  // as the header says, before newer slot records
  std::optional<twin::TwinGraph::RestoredTwin> current;
  auto flush = [&] {
    if (!current) return;
    std::string id = current->id;
    sdk::Status s = graph.restore(std::move(*current), &report.dropped_slots);
    if (s)
      ++report.twins;
    else
      report.problems.push_back(s.to_string());
    current.reset();
  };
  Collect twins([&](std::string_view key, std::string_view value) {
    auto nul = key.find('\0');
    if (nul == std::string_view::npos) {
      report.problems.push_back("unreadable twin record key");
      return true;
    }
    std::string_view id = key.substr(0, nul), path = key.substr(nul + 1);
    if (path.empty()) {
      flush();
      std::string_view in = value, model;
      char tag;
      std::uint8_t format, stale;
      twin::TwinGraph::RestoredTwin t;
      if (!get(in, tag) || tag != kHeaderTag || !get(in, format) || format != kFormat ||
          !get_str(in, model) || !get(in, t.version) || !get(in, t.created_at) ||
          !get(in, t.last_data_at) || !get(in, t.expected_period) || !get(in, stale)) {
        report.problems.push_back(std::string(id) + ": unreadable twin header");
        return true;
      }
      t.id = std::string(id);
      t.model = std::string(model);
      t.stale = stale != 0;
      header_version = t.version;
      current = std::move(t);
      return true;
    }
    if (!current || current->id != id) {
      report.problems.push_back(std::string(id) + ": state without a twin header");
      return true;
    }
    SlotState s;
    std::uint64_t twin_version = 0;
    if (!decode_slot(value, s, twin_version)) {
      report.problems.push_back(std::string(id) + "/" + std::string(path) +
                                ": unreadable state record");
      return true;
    }
    // Written after the header (a reported update): the twin moved on, and was fresh then.
    if (twin_version > header_version) {
      current->version = std::max(current->version, twin_version);
      current->stale = false;
      current->last_data_at = std::max(current->last_data_at, s.reported_at);
    }
    current->slots.emplace_back(std::string(path), std::move(s));
    return true;
  });
  if (sdk::Status s = storage_.scan(Table::kTwins, "", twins); !s)
    return s.with_context("reading twins");
  flush();

  Collect rels([&](std::string_view key, std::string_view value) {
    auto nul = key.find('\0');
    std::string_view source = key.substr(0, nul), in = value, name, target, custom;
    char tag;
    std::uint32_t n;
    twin::Relationship r;
    if (nul == std::string_view::npos || !get(in, tag) || tag != kRelationshipTag ||
        !get_str(in, name) || !get_str(in, target) || !get_str(in, custom) || !get(in, n)) {
      report.problems.push_back(std::string(source) + ": unreadable relationship record");
      return true;
    }
    r.target = std::string(target);
    r.custom_id = std::string(custom);
    for (std::uint32_t i = 0; i < n; ++i) {
      std::string_view pname;
      Value v;
      if (!get_str(in, pname) || !decode_value(in, v)) {
        report.problems.push_back(std::string(source) + ": unreadable relationship property");
        return true;
      }
      r.properties.emplace_back(std::string(pname), std::move(v));
    }
    if (sdk::Status s = graph.restore_relationship(source, name, std::move(r)); s)
      ++report.relationships;
    else
      report.problems.push_back(s.to_string());
    return true;
  });
  if (sdk::Status s = storage_.scan(Table::kRelationships, "", rels); !s)
    return s.with_context("reading relationships");
  return report;
}

}  // namespace doppel::runtime
