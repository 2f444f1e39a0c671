// Twins and relationships: get, query, create, delete, JSON Patch of desired properties.
#include <charconv>
#include <optional>

#include "doppel/model/registry.hpp"
#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/runtime.hpp"
#include "doppel/twin/query.hpp"
#include "doppel/twin/twin_graph.hpp"
#include "json_io.hpp"

namespace doppel::api::detail {

namespace {

std::string etag(std::uint64_t version) {
  return "\"" + std::to_string(version) + "\"";
}

void write_twin(Writer& w, const twin::TwinView& t) {
  w.StartObject();
  key(w, "id");
  str(w, t.id);
  key(w, "model");
  str(w, t.layout->interface().id);
  key(w, "version");
  w.Uint64(t.version);
  key(w, "createdAt");
  write_time(w, t.created_at);
  key(w, "lastDataAt");
  write_time(w, t.last_data_at);
  key(w, "stale");
  w.Bool(t.stale);
  key(w, "expectedUpdatePeriodSeconds");
  if (t.expected_period > 0)
    w.Double(static_cast<double>(t.expected_period) / sdk::kSecond);
  else
    w.Null();
  const auto& slots = t.layout->slots();
  key(w, "properties");
  w.StartObject();
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (!slots[i].is_property()) continue;
    const twin::SlotState& s = t.slots[i];
    key(w, slots[i].path);
    w.StartObject();
    key(w, "reported");
    write_value(w, s.reported);
    key(w, "reportedAt");
    write_time(w, s.reported_at);
    key(w, "reportedVersion");
    w.Uint(s.reported_version);
    key(w, "writable");
    w.Bool(slots[i].content->writable);
    if (slots[i].content->writable) {
      key(w, "desired");
      write_value(w, s.desired);
      key(w, "desiredAt");
      write_time(w, s.desired_at);
      key(w, "desiredVersion");
      w.Uint(s.desired_version);
      key(w, "sync");
      str(w, twin::sync_status_name(s.sync));
    }
    w.EndObject();
  }
  w.EndObject();
  key(w, "telemetry");
  w.StartObject();
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].is_property()) continue;
    key(w, slots[i].path);
    w.StartObject();
    key(w, "value");
    write_value(w, t.slots[i].reported);
    key(w, "time");
    write_time(w, t.slots[i].reported_at);
    w.EndObject();
  }
  w.EndObject();
  key(w, "relationshipCount");
  w.Uint64(t.relationships.size());
  w.EndObject();
}

// The twin as JSON plus its ETag; false when there is no such twin.
bool twin_json(runtime::Runtime& rt, const std::string& id, Reply& out) {
  rapidjson::StringBuffer buf;
  std::uint64_t version = 0;
  bool found = rt.graph().read(id, [&](const twin::TwinView& t) {
    Writer w(buf);
    write_twin(w, t);
    version = t.version;
  });
  if (!found) return false;
  out.body = buf.GetString();
  out.headers.emplace_back("ETag", etag(version));
  return true;
}

// If-Match: "\"7\"", "7" or W/"7"; "*" or absent: no check. False when malformed.
bool parse_if_match(const std::string& header, std::optional<std::uint64_t>& out) {
  out.reset();
  std::string_view h = header;
  while (!h.empty() && h.front() == ' ')
    h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ')
    h.remove_suffix(1);
  if (h.empty() || h == "*") return true;
  if (h.substr(0, 2) == "W/") h.remove_prefix(2);
  if (h.size() >= 2 && h.front() == '"' && h.back() == '"') h = h.substr(1, h.size() - 2);
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(h.data(), h.data() + h.size(), v);
  if (ec != std::errc() || end != h.data() + h.size() || h.empty()) return false;
  out = v;
  return true;
}

bool only_keys(const Request& r, const rapidjson::Value& obj,
               std::initializer_list<std::string_view> keys, Reply& error) {
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
    std::string_view k(it->name.GetString(), it->name.GetStringLength());
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
      std::string list;
      for (auto known : keys)
        list += (list.empty() ? "" : ", ") + std::string(known);
      error = problem(r, 400, "unknown-field", "Unknown field",
                      "unknown member '" + std::string(k) + "' (known: " + list + ")",
                      "/" + std::string(k));
      return false;
    }
  }
  return true;
}

void write_relationship(Writer& w, std::string_view source, const twin::Relationship& rel) {
  w.StartObject();
  key(w, "id");
  str(w, rel.id());
  key(w, "name");
  str(w, rel.name());
  key(w, "source");
  str(w, source);
  key(w, "target");
  str(w, rel.target);
  key(w, "properties");
  w.StartObject();
  for (const auto& [name, value] : rel.properties) {
    key(w, name);
    write_value(w, value);
  }
  w.EndObject();
  w.EndObject();
}

}  // namespace

bool twin_visible(runtime::Runtime& rt, const Request& r, std::string_view id) {
  if (r.acl == nullptr || !r.acl->limited()) return rt.graph().contains(id);
  if (!r.acl->allows_id(id)) return false;
  const model::Interface* iface = nullptr;
  if (!rt.graph().read(id, [&](const twin::TwinView& t) { iface = &t.layout->interface(); }))
    return false;
  return r.acl->allows_model(iface);
}

Reply unknown_twin(const Request& r, const std::string& id) {
  if (r.acl != nullptr && r.acl->limited())
    return problem(
        r, 404, "unknown-twin", "Unknown twin",
        "no twin with id '" + id + "' within this token's ACL (" + r.acl->describe() + ")", "id");
  return problem(r, 404, "unknown-twin", "Unknown twin", "no twin with id '" + id + "'", "id");
}

Reply outside_acl(const Request& r, std::string_view detail, std::string_view field) {
  return problem(r, 403, "outside-acl", "Outside the token's ACL",
                 std::string(detail) + " (the token is limited to " +
                     (r.acl ? r.acl->describe() : std::string("?")) + ")",
                 field);
}

Reply get_twin(Context& c, const Request& r) {
  Reply out;
  if (!twin_json(c.runtime, r.params.at(0), out)) return unknown_twin(r, r.params[0]);
  return out;
}

Reply query_twins(Context& c, const Request& r) {
  rapidjson::Document doc;
  Reply error;
  if (!parse_body(r, doc, error)) return error;
  if (!doc.IsObject())
    return problem(r, 400, "invalid-request", "Invalid request",
                   "the body must be an object: {\"query\": \"SELECT ...\", \"page_size\": 100}",
                   "/");
  if (!only_keys(r, doc, {"query", "page_size", "continuation"}, error)) return error;
  auto q = doc.FindMember("query");
  if (q == doc.MemberEnd() || !q->value.IsString())
    return problem(r, 400, "invalid-request", "Invalid request", "query must be a string",
                   "/query");
  twin::QueryOptions options;
  options.page_size = 100;
  if (auto p = doc.FindMember("page_size"); p != doc.MemberEnd()) {
    if (!p->value.IsUint64() || p->value.GetUint64() < 1 || p->value.GetUint64() > 10000)
      return problem(r, 400, "invalid-request", "Invalid request",
                     "page_size must be an integer from 1 to 10000", "/page_size");
    options.page_size = p->value.GetUint64();
  }
  if (auto p = doc.FindMember("continuation"); p != doc.MemberEnd() && !p->value.IsNull()) {
    if (!p->value.IsString())
      return problem(r, 400, "invalid-request", "Invalid request",
                     "continuation must be the string of the previous page", "/continuation");
    options.continuation = p->value.GetString();
  }
  // A token with an ACL queries the twins in it as if no others existed: rows, conditions,
  // hops and aggregates alike (an aggregate counts the token's twins).
  if (r.acl != nullptr && r.acl->limited())
    options.scope = [acl = r.acl](std::string_view id, const model::Interface& model) {
      return acl->allows(id, &model);
    };
  twin::QueryEngine engine(c.runtime.graph(), c.runtime.indexes());
  auto result =
      engine.run(std::string_view(q->value.GetString(), q->value.GetStringLength()), options);
  if (!result) {
    const sdk::Status& s = result.status();
    if (s.code() == sdk::StatusCode::kInvalidArgument)
      return problem(r, 400, "invalid-query", "Invalid query",
                     s.where().empty() ? s.message() : s.where() + ": " + s.message(),
                     options.continuation.empty() ? "/query" : "/continuation");
    return problem(r, s);
  }
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  key(w, "items");
  w.StartArray();
  for (const auto& row : result->rows)
    raw(w, row);
  w.EndArray();
  key(w, "continuation");
  if (result->continuation.empty())
    w.Null();
  else
    str(w, result->continuation);
  w.EndObject();
  return json_reply(200, buf.GetString());
}

Reply put_twin(Context& c, const Request& r) {
  const std::string& id = r.params.at(0);
  rapidjson::Document doc;
  Reply error;
  if (!parse_body(r, doc, error)) return error;
  if (!doc.IsObject())
    return problem(r, 400, "invalid-request", "Invalid request",
                   "the body must be an object: {\"model\": \"dtmi:...;1\", \"properties\": {...}}",
                   "/");
  if (!only_keys(r, doc, {"model", "properties", "expectedUpdatePeriod"}, error)) return error;
  auto m = doc.FindMember("model");
  if (m == doc.MemberEnd() || !m->value.IsString())
    return problem(r, 400, "invalid-request", "Invalid request", "model must be a DTMI string",
                   "/model");
  twin::CreateTwin spec;
  spec.id = id;
  spec.model = m->value.GetString();
  const twin::TwinLayout* layout = c.runtime.graph().layout(spec.model);
  if (layout == nullptr)
    return problem(r, 400, "unknown-model", "Unknown model",
                   "no model '" + spec.model + "' is loaded", "/model");
  if (r.acl != nullptr && !r.acl->allows_model(&layout->interface()))
    return outside_acl(r, "a twin of model " + spec.model + " is outside the token's ACL",
                       "/model");
  if (auto p = doc.FindMember("expectedUpdatePeriod"); p != doc.MemberEnd()) {
    std::optional<sdk::Duration> d;
    if (p->value.IsString()) d = runtime::parse_duration(p->value.GetString());
    if (!d)
      return problem(r, 400, "invalid-request", "Invalid request",
                     "expectedUpdatePeriod must be a duration such as \"10s\" or \"5m\"",
                     "/expectedUpdatePeriod");
    spec.expected_period = *d;
  }
  std::vector<std::string> paths;
  std::vector<twin::Value> values;
  if (auto p = doc.FindMember("properties"); p != doc.MemberEnd()) {
    if (!p->value.IsObject())
      return problem(r, 400, "invalid-request", "Invalid request",
                     "properties must be an object of property name -> value", "/properties");
    // Component properties as {"bearing": {"lubricatedAt": ...}} or {"bearing/lubricatedAt": ...}.
    std::vector<std::pair<std::string, const rapidjson::Value*>> flat;
    for (auto it = p->value.MemberBegin(); it != p->value.MemberEnd(); ++it) {
      std::string name = it->name.GetString();
      const model::Content* content = layout->interface().find(name);
      if (content && content->kind == model::ContentKind::kComponent && it->value.IsObject()) {
        for (auto f = it->value.MemberBegin(); f != it->value.MemberEnd(); ++f)
          flat.emplace_back(name + "/" + f->name.GetString(), &f->value);
      } else {
        flat.emplace_back(std::move(name), &it->value);
      }
    }
    for (auto& [path, json] : flat) {
      int slot = layout->find(path);
      if (slot < 0 || !layout->slots()[static_cast<std::size_t>(slot)].is_property())
        return problem(r, 400, "unknown-property", "Unknown property",
                       "model " + spec.model + " has no property '" + path + "'",
                       "/properties/" + path);
      twin::Value v;
      to_value(*json, layout->slots()[static_cast<std::size_t>(slot)].content->schema, v);
      paths.push_back(path);
      values.push_back(std::move(v));
    }
  }
  for (std::size_t i = 0; i < paths.size(); ++i)
    spec.properties.push_back(twin::SlotWrite{paths[i], values[i], 0});
  sdk::Status s = c.runtime.graph().create(spec);
  if (s) s = c.runtime.commit();  // durable before the reply
  if (!s) {
    if (s.code() == sdk::StatusCode::kAlreadyExists)
      return problem(r, 409, "twin-exists", "Twin exists",
                     "a twin with id '" + id + "' exists; DELETE it first", "id");
    if (s.code() == sdk::StatusCode::kInvalidArgument) {
      std::string field;
      for (const auto& path : paths)  // name the property the model check refused
        if (s.to_string().find("." + path + ":") != std::string::npos)
          field = "/properties/" + path;
      return problem(r, 400, "invalid-value", "Invalid value", s.to_string(), field);
    }
    return problem(r, s);
  }
  Reply out;
  if (!twin_json(c.runtime, id, out)) return unknown_twin(r, id);  // deleted meanwhile
  out.status = 201;
  out.headers.emplace_back("Location", "/api/v1/twins/" + id);
  return out;
}

Reply delete_twin(Context& c, const Request& r) {
  const std::string& id = r.params.at(0);
  bool cascade = false;
  if (const std::string* p = r.param("cascade")) {
    if (*p != "true" && *p != "false")
      return problem(r, 400, "invalid-parameter", "Invalid parameter",
                     "cascade must be true or false", "cascade");
    cascade = *p == "true";
  }
  sdk::Status s = c.runtime.graph().remove(id, cascade);
  if (s) s = c.runtime.commit();  // durable before the reply
  if (!s) {
    if (s.code() == sdk::StatusCode::kNotFound) return unknown_twin(r, id);
    if (s.code() == sdk::StatusCode::kFailedPrecondition)
      return problem(r, 409, "has-relationships", "Twin has relationships",
                     s.message() + " (use ?cascade=true to remove them too)", "cascade");
    return problem(r, s);
  }
  Reply out;
  out.status = 204;
  return out;
}

Reply patch_desired(Context& c, const Request& r) {
  const std::string& id = r.params.at(0);
  std::optional<std::uint64_t> if_match;
  if (!parse_if_match(r.if_match, if_match))
    return problem(r, 400, "invalid-header", "Invalid header",
                   "If-Match must be a twin version as the ETag gives it, e.g. \"7\"", "If-Match");
  const twin::TwinLayout* layout = nullptr;
  if (!c.runtime.graph().read(id, [&](const twin::TwinView& t) { layout = t.layout; }))
    return unknown_twin(r, id);
  rapidjson::Document doc;
  Reply error;
  if (!parse_body(r, doc, error)) return error;
  if (!doc.IsArray() || doc.Empty())
    return problem(r, 400, "invalid-patch", "Invalid JSON Patch",
                   "the body must be a non-empty JSON Patch array (RFC 6902), e.g. "
                   "[{\"op\": \"replace\", \"path\": \"/targetSpeed\", \"value\": 1200}]",
                   "/");
  std::vector<std::string> paths;
  std::vector<twin::Value> values;
  std::vector<std::string> segments;
  for (rapidjson::SizeType i = 0; i < doc.Size(); ++i) {
    const auto& op = doc[i];
    std::string at = "/" + std::to_string(i);
    if (!op.IsObject())
      return problem(r, 400, "invalid-patch", "Invalid JSON Patch",
                     "each operation must be an object", at);
    auto o = op.FindMember("op");
    if (o == op.MemberEnd() || !o->value.IsString())
      return problem(r, 400, "invalid-patch", "Invalid JSON Patch", "op must be a string",
                     at + "/op");
    std::string_view name(o->value.GetString(), o->value.GetStringLength());
    if (name != "replace" && name != "add")
      return problem(r, 400, "unsupported-patch-op", "Unsupported JSON Patch operation",
                     "op '" + std::string(name) +
                         "' is not supported for desired properties; use replace or add",
                     at + "/op");
    auto p = op.FindMember("path");
    if (p == op.MemberEnd() || !p->value.IsString() ||
        !split_pointer(p->value.GetString(), segments) || segments.size() > 2)
      return problem(r, 400, "invalid-patch", "Invalid JSON Patch",
                     "path must be a JSON pointer to a property: /name or /component/name",
                     at + "/path");
    std::string path = segments.size() == 1 ? segments[0] : segments[0] + "/" + segments[1];
    int slot = layout->find(path);
    if (slot < 0 || !layout->slots()[static_cast<std::size_t>(slot)].is_property())
      return problem(r, 400, "unknown-property", "Unknown property",
                     "model " + layout->interface().id + " has no property '" + path + "'",
                     at + "/path");
    const auto& info = layout->slots()[static_cast<std::size_t>(slot)];
    if (!info.content->writable)
      return problem(r, 400, "read-only-property", "Read-only property",
                     "property '" + path + "' is not writable in " + layout->interface().id,
                     at + "/path");
    auto v = op.FindMember("value");
    if (v == op.MemberEnd())
      return problem(r, 400, "invalid-patch", "Invalid JSON Patch",
                     std::string(name) + " needs a value", at + "/value");
    twin::Value value;
    to_value(v->value, info.content->schema, value);
    paths.push_back(std::move(path));
    values.push_back(std::move(value));
  }
  std::vector<twin::SlotWrite> writes;
  for (std::size_t i = 0; i < paths.size(); ++i)
    writes.push_back({paths[i], values[i], 0});
  auto version = c.runtime.desire(id, writes, if_match);
  if (!version) {
    const sdk::Status& s = version.status();
    switch (s.code()) {
      case sdk::StatusCode::kFailedPrecondition:
        return problem(r, 412, "version-mismatch", "Precondition failed",
                       s.message() + " (GET the twin for its current ETag)", "If-Match");
      case sdk::StatusCode::kNotFound:
        return unknown_twin(r, id);
      case sdk::StatusCode::kInvalidArgument: {
        // Name the operation whose path the error mentions.
        std::string field = s.where();
        for (std::size_t i = 0; i < paths.size(); ++i)
          if (s.message().find(paths[i]) != std::string::npos || s.where() == paths[i]) {
            field = "/" + std::to_string(i) + "/value";
            break;
          }
        return problem(r, 400, "invalid-value", "Invalid value", s.to_string(), field);
      }
      default:
        return problem(r, s);
    }
  }
  Reply out;
  out.body = "{\"version\":" + std::to_string(*version) + "}";
  out.headers.emplace_back("ETag", etag(*version));
  return out;
}

Reply list_relationships(Context& c, const Request& r) {
  const std::string& id = r.params.at(0);
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  key(w, "outgoing");
  w.StartArray();
  // With an ACL, relationships to or from twins outside it are left out.
  bool scoped = r.acl != nullptr && r.acl->limited();
  std::vector<twin::Relationship> outgoing;
  bool found = c.runtime.graph().read(id, [&](const twin::TwinView& t) {
    outgoing.assign(t.relationships.begin(), t.relationships.end());
  });
  if (!found) return unknown_twin(r, id);
  for (const auto& rel : outgoing)
    if (!scoped || twin_visible(c.runtime, r, rel.target)) write_relationship(w, id, rel);
  w.EndArray();
  key(w, "incoming");
  w.StartArray();
  for (const auto& [source, rel_id] : c.runtime.graph().incoming(id)) {
    if (scoped && !twin_visible(c.runtime, r, source)) continue;
    c.runtime.graph().read(source, [&](const twin::TwinView& t) {
      for (const auto& rel : t.relationships)
        if (rel.id() == rel_id) write_relationship(w, t.id, rel);
    });
  }
  w.EndArray();
  w.EndObject();
  return json_reply(200, buf.GetString());
}

Reply put_relationship(Context& c, const Request& r) {
  const std::string& source = r.params.at(0);
  const std::string& rel_id = r.params.at(1);
  const twin::TwinLayout* layout = nullptr;
  if (!c.runtime.graph().read(source, [&](const twin::TwinView& t) { layout = t.layout; }))
    return unknown_twin(r, source);
  rapidjson::Document doc;
  Reply error;
  if (!parse_body(r, doc, error)) return error;
  if (!doc.IsObject())
    return problem(r, 400, "invalid-request", "Invalid request",
                   "the body must be an object: {\"name\": \"contains\", \"target\": \"motor-1\"}",
                   "/");
  if (!only_keys(r, doc, {"name", "target", "properties"}, error)) return error;
  twin::CreateRelationship spec;
  spec.source = source;
  spec.id = rel_id;
  for (auto [field, out] : {std::pair{"name", &spec.name}, std::pair{"target", &spec.target}}) {
    auto m = doc.FindMember(field);
    if (m == doc.MemberEnd() || !m->value.IsString())
      return problem(r, 400, "invalid-request", "Invalid request",
                     std::string(field) + " must be a string", "/" + std::string(field));
    *out = m->value.GetString();
  }
  const model::Content* def = layout->relationship(spec.name);
  if (def == nullptr)
    return problem(r, 400, "unknown-relationship", "Unknown relationship",
                   "model " + layout->interface().id + " has no relationship '" + spec.name + "'",
                   "/name");
  if (auto p = doc.FindMember("properties"); p != doc.MemberEnd()) {
    if (!p->value.IsObject())
      return problem(r, 400, "invalid-request", "Invalid request", "properties must be an object",
                     "/properties");
    for (auto it = p->value.MemberBegin(); it != p->value.MemberEnd(); ++it) {
      const model::Schema* schema = nullptr;
      for (const auto* prop : def->properties)
        if (prop->name == it->name.GetString()) schema = prop->schema;
      twin::Value v;
      to_value(it->value, schema, v);
      spec.properties.emplace_back(it->name.GetString(), std::move(v));
    }
  }
  if (!twin_visible(c.runtime, r, spec.target))
    return problem(r, 400, "unknown-target", "Unknown target",
                   "no twin with id '" + spec.target + "'" +
                       (r.acl != nullptr && r.acl->limited() ? " within this token's ACL" : ""),
                   "/target");
  sdk::Status s = c.runtime.graph().relate(spec);
  if (s) s = c.runtime.commit();  // durable before the reply
  if (!s) {
    if (s.code() == sdk::StatusCode::kAlreadyExists)
      return problem(r, 409, "relationship-exists", "Relationship exists", s.message(),
                     "relationshipId");
    return problem(r, s);
  }
  rapidjson::StringBuffer buf;
  c.runtime.graph().read(source, [&](const twin::TwinView& t) {
    Writer w(buf);
    for (const auto& rel : t.relationships)
      if (rel.id() == rel_id) write_relationship(w, t.id, rel);
  });
  Reply out = json_reply(201, buf.GetString());
  if (out.body.empty()) out.body = "{}";
  out.headers.emplace_back("Location", "/api/v1/twins/" + source + "/relationships/" + rel_id);
  return out;
}

Reply delete_relationship(Context& c, const Request& r) {
  const std::string& source = r.params.at(0);
  if (!c.runtime.graph().contains(source)) return unknown_twin(r, source);
  if (r.acl != nullptr && r.acl->limited()) {
    // A relationship to a twin outside the ACL is not there for this token.
    std::string target;
    c.runtime.graph().read(source, [&](const twin::TwinView& t) {
      for (const auto& rel : t.relationships)
        if (rel.id() == r.params.at(1)) target = rel.target;
    });
    if (!target.empty() && !twin_visible(c.runtime, r, target))
      return problem(r, 404, "unknown-relationship", "Unknown relationship",
                     "twin '" + source + "' has no relationship '" + r.params[1] + "'",
                     "relationshipId");
  }
  sdk::Status s = c.runtime.graph().unrelate(source, r.params.at(1));
  if (s) s = c.runtime.commit();  // durable before the reply
  if (!s) {
    if (s.code() == sdk::StatusCode::kNotFound)
      return problem(r, 404, "unknown-relationship", "Unknown relationship",
                     "twin '" + source + "' has no relationship '" + r.params[1] + "'",
                     "relationshipId");
    return problem(r, s);
  }
  Reply out;
  out.status = 204;
  return out;
}

}  // namespace doppel::api::detail
