// Alerts and other service events: active alerts, recent events, acknowledge.
#include "doppel/runtime/runtime.hpp"
#include "json_io.hpp"

namespace doppel::api::detail {

namespace {

// An event as the API shows it: the runtime's record with the time as RFC 3339.
void write_event(Writer& w, const runtime::EventRecord& e) {
  rapidjson::Document d;
  const std::string json = e.to_json();
  d.Parse(json.data(), json.size());
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

// With an ACL only events about twins within it are listed (not those without a twin).
bool visible(Context& c, const Request& r, const runtime::EventRecord& e) {
  return r.acl == nullptr || !r.acl->limited() || twin_visible(c.runtime, r, e.twin);
}

}  // namespace

std::string event_json(const runtime::EventRecord& e) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  write_event(w, e);
  return buf.GetString();
}

Reply list_alerts(Context& c, const Request& r) {
  const std::string* twin = r.param("twin");
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  key(w, "items");
  w.StartArray();
  for (const runtime::EventRecord& e : c.runtime.active_alerts())
    if ((!twin || e.twin == *twin) && visible(c, r, e)) write_event(w, e);
  w.EndArray();
  w.EndObject();
  return json_reply(200, buf.GetString());
}

Reply list_events(Context& c, const Request& r) {
  std::size_t limit = 100;
  if (const std::string* p = r.param("limit")) {
    char* end = nullptr;
    long n = std::strtol(p->c_str(), &end, 10);
    if (p->empty() || *end != '\0' || n < 1 || n > 10000)
      return problem(r, 400, "invalid-parameter", "Invalid parameter",
                     "limit must be an integer from 1 to 10000", "limit");
    limit = static_cast<std::size_t>(n);
  }
  const std::string* twin = r.param("twin");
  const std::string* type = r.param("type");
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  key(w, "items");
  w.StartArray();
  std::size_t n = 0;
  for (const runtime::EventRecord& e : c.runtime.recent_events(10000)) {
    if ((twin && e.twin != *twin) || (type && e.type != *type) || !visible(c, r, e)) continue;
    write_event(w, e);
    if (++n == limit) break;
  }
  w.EndArray();
  w.EndObject();
  return json_reply(200, buf.GetString());
}

Reply acknowledge_alert(Context& c, const Request& r) {
  const std::string& twin = r.params.at(0);
  const std::string& source = r.params.at(1);
  if (!c.runtime.acknowledge_alert(twin, source))
    return problem(r, 404, "not-found", "Not found",
                   "no active alert from '" + source + "' on twin '" + twin + "'");
  Reply reply;
  reply.status = 204;
  reply.content_type.clear();
  return reply;
}

}  // namespace doppel::api::detail
