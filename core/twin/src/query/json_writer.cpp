#include "json_writer.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "doppel/model/json_text.hpp"
#include "doppel/twin/query.hpp"

namespace doppel::twin::query {

void append_json_string(std::string& out, std::string_view s) {
  model::append_json_string(out, s);
}

void append_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, d);
  std::string_view text(buf, static_cast<std::size_t>(p - buf));
  out += text;
  if (text.find_first_of(".eE") == std::string_view::npos) out += ".0";
}

void append_value(std::string& out, const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kNull:
      out += "null";
      return;
    case Value::Kind::kBool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Value::Kind::kInteger: {
      char buf[24];
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v.as_integer());
      out.append(buf, p);
      return;
    }
    case Value::Kind::kDouble:
      append_double(out, v.as_double());
      return;
    case Value::Kind::kString:
      append_json_string(out, v.as_string());
      return;
    case Value::Kind::kJson:
      out += v.as_string();
      return;
  }
}

namespace {

// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
}

void append_digits(std::string& out, std::int64_t v, int width) {
  char buf[24];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(buf, static_cast<std::size_t>(width));
}

}  // namespace

void append_time(std::string& out, Timestamp t) {
  constexpr std::int64_t kPerSecond = 1'000'000'000;
  std::int64_t secs = t / kPerSecond, nanos = t % kPerSecond;
  if (nanos < 0) {
    nanos += kPerSecond;
    --secs;
  }
  std::int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  std::int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  out += '"';
  append_digits(out, y, 4);
  out += '-';
  append_digits(out, m, 2);
  out += '-';
  append_digits(out, d, 2);
  out += 'T';
  append_digits(out, rem / 3600, 2);
  out += ':';
  append_digits(out, rem / 60 % 60, 2);
  out += ':';
  append_digits(out, rem % 60, 2);
  out += '.';
  append_digits(out, nanos / 100, 7);
  out += "Z\"";
}

const JsonLayout& TwinJsonWriter::layout_of(const TwinLayout* layout) {
  auto it = layouts_.find(layout);
  if (it != layouts_.end()) return it->second;
  JsonLayout jl;
  // Every component appears, even without slots, as in ADT.
  for (const model::Content* c : layout->interface().contents)
    if (c->kind == model::ContentKind::kComponent) jl.components.push_back({c->name, {}});
  const auto& slots = layout->slots();
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (!slots[i].component) {
      jl.top.push_back(static_cast<int>(i));
      continue;
    }
    for (auto& comp : jl.components)
      if (comp.name == slots[i].component->name) comp.slots.push_back(static_cast<int>(i));
  }
  return layouts_.emplace(layout, std::move(jl)).first->second;
}

void TwinJsonWriter::append_slots(std::string& out, const TwinView& twin,
                                  const std::vector<int>& slots, bool metadata_started) {
  // Closes "$metadata" after the slots' entries, then the values; a slot never written has
  // neither.
  bool comma = metadata_started;
  for (int i : slots) {
    const SlotState& s = twin.slots[static_cast<std::size_t>(i)];
    if (s.reported.is_null() && s.desired_version == 0) continue;
    if (comma) out += ',';
    comma = true;
    append_json_string(out, twin.layout->slots()[static_cast<std::size_t>(i)].content->name);
    out += ":{";
    if (!s.reported.is_null()) {
      out += "\"lastUpdateTime\":";
      append_time(out, s.reported_at);
    }
    if (s.desired_version > 0) {
      if (!s.reported.is_null()) out += ',';
      out += "\"desiredValue\":";
      append_value(out, s.desired);
      out += ",\"desiredVersion\":";
      out += std::to_string(s.desired_version);
      out += ",\"syncStatus\":";
      append_json_string(out, sync_status_name(s.sync));
    }
    out += '}';
  }
  out += '}';
  for (int i : slots) {
    const SlotState& s = twin.slots[static_cast<std::size_t>(i)];
    if (s.reported.is_null()) continue;
    out += ',';
    append_json_string(out, twin.layout->slots()[static_cast<std::size_t>(i)].content->name);
    out += ':';
    append_value(out, s.reported);
  }
}

void TwinJsonWriter::append_twin(std::string& out, const TwinView& twin) {
  const JsonLayout& jl = layout_of(twin.layout);
  out += "{\"$dtId\":";
  append_json_string(out, twin.id);
  out += ",\"$etag\":\"W/\\\"";
  out += std::to_string(twin.version);
  out += "\\\"\",\"$metadata\":{\"$model\":";
  append_json_string(out, twin.layout->interface().id);
  out += ",\"$stale\":";
  out += twin.stale ? "true" : "false";
  append_slots(out, twin, jl.top, true);
  for (const auto& comp : jl.components) {
    out += ',';
    append_json_string(out, comp.name);
    out += ":{\"$metadata\":{";
    append_slots(out, twin, comp.slots, false);
    out += '}';
  }
  out += '}';
}

void TwinJsonWriter::append_component(std::string& out, const TwinView& twin,
                                      std::string_view component) {
  const JsonLayout& jl = layout_of(twin.layout);
  for (const auto& comp : jl.components) {
    if (comp.name != component) continue;
    out += "{\"$metadata\":{";
    append_slots(out, twin, comp.slots, false);
    out += '}';
    return;
  }
  out += "null";
}

void TwinJsonWriter::append_relationship(std::string& out, std::string_view source,
                                         const Relationship& r) {
  out += "{\"$relationshipId\":";
  append_json_string(out, r.id());
  out += ",\"$sourceId\":";
  append_json_string(out, source);
  out += ",\"$relationshipName\":";
  append_json_string(out, r.name());
  out += ",\"$targetId\":";
  append_json_string(out, r.target);
  for (const auto& [name, value] : r.properties) {
    out += ',';
    append_json_string(out, name);
    out += ':';
    append_value(out, value);
  }
  out += '}';
}

}  // namespace doppel::twin::query

namespace doppel::twin {

std::string twin_to_json(const TwinView& twin) {
  std::string out;
  query::TwinJsonWriter writer;
  writer.append_twin(out, twin);
  return out;
}

}  // namespace doppel::twin
