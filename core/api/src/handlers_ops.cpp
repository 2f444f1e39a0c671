// Commands, telemetry history and dead letters.
#include <deque>
#include <map>

#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/persistence.hpp"
#include "doppel/runtime/runtime.hpp"
#include "doppel/twin/twin_graph.hpp"
#include "json_io.hpp"

namespace doppel::api::detail {

namespace {

// A command blocks one worker thread while it waits for the device: keep that bounded.
constexpr sdk::Duration kMaxCommandTimeout = 60 * sdk::kSecond;
constexpr std::size_t kMaxHistoryRows = 10000;
constexpr std::size_t kMaxDeadLetters = 1000;

Reply bad_param(const Request& r, std::string_view name, std::string_view detail) {
  return problem(r, 400, "invalid-parameter", "Invalid parameter", detail, name);
}

}  // namespace

Reply invoke_command(Context& c, const Request& r) {
  runtime::CommandInvocation inv;
  inv.twin = r.params.at(0);
  inv.name = r.params.at(1);
  if (const std::string* p = r.param("component")) inv.component = *p;
  if (const std::string* p = r.param("timeout")) {
    auto d = runtime::parse_duration(*p);
    if (!d || *d > kMaxCommandTimeout)
      return bad_param(r, "timeout", "timeout must be a duration up to 60s, e.g. 5s or 500ms");
    inv.timeout = *d;
  }
  const twin::TwinLayout* layout = nullptr;
  if (!c.runtime.graph().read(inv.twin, [&](const twin::TwinView& t) { layout = t.layout; }))
    return problem(r, 404, "unknown-twin", "Unknown twin", "no twin with id '" + inv.twin + "'",
                   "id");
  const model::Interface* iface = &layout->interface();
  if (!inv.component.empty()) {
    const model::Content* comp = iface->find(inv.component);
    if (comp == nullptr || comp->kind != model::ContentKind::kComponent || !comp->component)
      return problem(r, 404, "unknown-component", "Unknown component",
                     iface->id + " has no component '" + inv.component + "'", "component");
    iface = comp->component;
  }
  const model::Content* cmd = iface->find(inv.name);
  if (cmd == nullptr || cmd->kind != model::ContentKind::kCommand)
    return problem(r, 404, "unknown-command", "Unknown command",
                   iface->id + " has no command '" + inv.name + "'", "name");
  if (!r.body.empty()) {
    rapidjson::Document doc;
    Reply error;
    if (!parse_body(r, doc, error, "the command request")) return error;
    inv.request = r.body;
  }
  runtime::CommandResult result = c.runtime.invoke_and_wait(inv);
  if (!result.status) {
    const sdk::Status& s = result.status;
    if (s.code() == sdk::StatusCode::kDeadlineExceeded)
      return problem(r, 504, "command-timeout", "Command timed out",
                     "the device did not answer '" + inv.name + "' in time (correlation " +
                         result.correlation + ")");
    if (s.code() == sdk::StatusCode::kInvalidArgument)
      return problem(r, 400, "invalid-command-request", "Invalid command request", s.to_string(),
                     s.where().empty() ? "/" : s.where());
    return problem(r, s);
  }
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  key(w, "correlationId");
  str(w, result.correlation);
  key(w, "response");
  if (result.response.empty())
    w.Null();
  else
    raw(w, result.response);
  w.EndObject();
  return json_reply(200, buf.GetString());
}

Reply telemetry_history(Context& c, const Request& r) {
  const std::string& id = r.params.at(0);
  const std::string& path = r.params.at(1);
  bool known_path = false;
  if (!c.runtime.graph().read(id, [&](const twin::TwinView& t) {
        int i = t.layout->find(path);
        known_path = i >= 0 && !t.layout->slots()[static_cast<std::size_t>(i)].is_property();
      }))
    return problem(r, 404, "unknown-twin", "Unknown twin", "no twin with id '" + id + "'", "id");
  if (!known_path)
    return problem(r, 404, "unknown-telemetry", "Unknown telemetry",
                   "twin '" + id + "' has no telemetry '" + path + "'", "path");
  sdk::Timestamp to = c.runtime.graph().clock().now() + 1;
  sdk::Timestamp from = to - 3600 * sdk::kSecond - 1;
  sdk::Duration step = 0;
  if (const std::string* p = r.param("to"); p && !parse_time_param(*p, to))
    return bad_param(r, "to", "to must be an RFC 3339 time or epoch seconds/milliseconds");
  if (const std::string* p = r.param("from"); p && !parse_time_param(*p, from))
    return bad_param(r, "from", "from must be an RFC 3339 time or epoch seconds/milliseconds");
  if (!r.param("from")) from = to - 3600 * sdk::kSecond;
  if (from >= to) return bad_param(r, "from", "from must be before to");
  if (const std::string* p = r.param("step")) {
    auto d = runtime::parse_duration(*p);
    if (!d) return bad_param(r, "step", "step must be a duration such as 10s, 1m or 1h");
    step = *d;
  }

  struct Collect final : sdk::HistoryVisitor {
    Writer* w;
    std::size_t rows = 0;
    bool truncated = false;
    bool row(const sdk::HistoryRow& h) noexcept override {
      if (rows == kMaxHistoryRows) {
        truncated = true;
        return false;
      }
      ++rows;
      w->StartObject();
      key(*w, "time");
      str(*w, rfc3339(h.start));
      key(*w, "count");
      w->Uint64(h.count);
      key(*w, "min");
      w->Double(h.min);
      key(*w, "max");
      w->Double(h.max);
      key(*w, "avg");
      w->Double(h.count ? h.sum / static_cast<double>(h.count) : 0.0);
      key(*w, "last");
      w->Double(h.last);
      w->EndObject();
      return true;
    }
  };
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  key(w, "twin");
  str(w, id);
  key(w, "path");
  str(w, path);
  key(w, "from");
  str(w, rfc3339(from));
  key(w, "to");
  str(w, rfc3339(to));
  key(w, "stepSeconds");
  w.Double(static_cast<double>(step) / sdk::kSecond);
  key(w, "rows");
  w.StartArray();
  Collect collect;
  collect.w = &w;
  sdk::Status s = c.runtime.storage().history(runtime::Persistence::series_key(id, path), from, to,
                                              step, collect);
  if (!s) return problem(r, s);
  w.EndArray();
  key(w, "truncated");
  w.Bool(collect.truncated);
  w.EndObject();
  return json_reply(200, buf.GetString());
}

namespace {

struct DeadLetterScan final : sdk::RecordVisitor {
  std::size_t limit = 100;
  std::string reason;              // "" = all
  std::deque<std::string> newest;  // the last `limit` matching values
  std::map<std::string, std::uint64_t> by_reason;
  std::uint64_t total = 0;
  bool counts_only = false;

  bool visit(std::string_view, std::string_view value) noexcept override {
    rapidjson::Document d;
    d.Parse(value.data(), value.size());
    std::string why = d.IsObject() && d.HasMember("reason") && d["reason"].IsString()
                          ? d["reason"].GetString()
                          : "unknown";
    if (counts_only) {
      ++by_reason[why];
      ++total;
      return true;
    }
    if (!reason.empty() && why != reason) return true;
    ++total;
    newest.emplace_back(value);
    if (newest.size() > limit) newest.pop_front();
    return true;
  }
};

}  // namespace

Reply list_dead_letters(Context& c, const Request& r) {
  DeadLetterScan scan;
  if (const std::string* p = r.param("limit")) {
    char* end = nullptr;
    long n = std::strtol(p->c_str(), &end, 10);
    if (p->empty() || *end != '\0' || n < 1 || n > static_cast<long>(kMaxDeadLetters))
      return bad_param(r, "limit", "limit must be an integer from 1 to 1000");
    scan.limit = static_cast<std::size_t>(n);
  }
  if (const std::string* p = r.param("reason")) scan.reason = *p;
  sdk::Status s = c.runtime.storage().scan(sdk::Table::kDeadLetters, "", scan);
  if (!s) return problem(r, s);
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  key(w, "items");
  w.StartArray();
  for (auto it = scan.newest.rbegin(); it != scan.newest.rend(); ++it) {
    rapidjson::Document d;
    d.Parse(it->data(), it->size());
    if (!d.IsObject()) continue;
    w.StartObject();
    for (auto m = d.MemberBegin(); m != d.MemberEnd(); ++m) {
      std::string_view k(m->name.GetString(), m->name.GetStringLength());
      key(w, k);
      if (k == "time" && m->value.IsInt64())
        str(w, rfc3339(m->value.GetInt64()));
      else
        m->value.Accept(w);
    }
    w.EndObject();
  }
  w.EndArray();
  key(w, "total");
  w.Uint64(scan.total);
  w.EndObject();
  return json_reply(200, buf.GetString());
}

Reply count_dead_letters(Context& c, const Request& r) {
  DeadLetterScan scan;
  scan.counts_only = true;
  sdk::Status s = c.runtime.storage().scan(sdk::Table::kDeadLetters, "", scan);
  if (!s) return problem(r, s);
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  key(w, "total");
  w.Uint64(scan.total);
  key(w, "byReason");
  w.StartObject();
  for (const auto& [why, n] : scan.by_reason) {
    key(w, why);
    w.Uint64(n);
  }
  w.EndObject();
  w.EndObject();
  return json_reply(200, buf.GetString());
}

}  // namespace doppel::api::detail
