#include "json_io.hpp"

#include <rapidjson/error/en.h>

#include <cmath>
#include <ctime>

#include "doppel/model/registry.hpp"
#include "doppel/runtime/mapping.hpp"

namespace doppel::api::detail {

std::string_view status_title(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 428:
      return "Precondition Required";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return status >= 500 ? "Server Error" : "Client Error";
  }
}

Reply problem(const Request& req, int status, std::string_view slug, std::string_view title,
              std::string_view detail, std::string_view field) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  key(w, "type");
  str(w, "urn:doppel:problem:" + std::string(slug));
  key(w, "title");
  str(w, title.empty() ? status_title(status) : title);
  key(w, "status");
  w.Int(status);
  key(w, "detail");
  str(w, detail);
  key(w, "instance");
  str(w, req.path);
  if (!field.empty()) {
    key(w, "field");
    str(w, field);
  }
  w.EndObject();
  Reply r;
  r.status = status;
  r.body = buf.GetString();
  r.content_type = "application/problem+json";
  return r;
}

Reply problem(const Request& req, const sdk::Status& status) {
  using sdk::StatusCode;
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return problem(req, 400, "invalid-request", "Invalid request", status.message(),
                     status.where());
    case StatusCode::kNotFound:
      return problem(req, 404, "not-found", "Not found", status.message(), status.where());
    case StatusCode::kAlreadyExists:
      return problem(req, 409, "already-exists", "Already exists", status.message(),
                     status.where());
    case StatusCode::kFailedPrecondition:
      return problem(req, 409, "conflict", "Conflict", status.message(), status.where());
    case StatusCode::kDeadlineExceeded:
      return problem(req, 504, "timeout", "Timed out", status.message(), status.where());
    case StatusCode::kUnavailable:
      return problem(req, 503, "unavailable", "Unavailable", status.message(), status.where());
    default:
      return problem(req, 500, "internal", "Internal error", status.to_string());
  }
}

Reply json_reply(int status, std::string body) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

bool parse_body(const Request& req, rapidjson::Document& doc, Reply& error, std::string_view what) {
  if (req.body.empty()) {
    error = problem(req, 400, "invalid-json", "Invalid JSON",
                    std::string(what) + " is empty; send a JSON document");
    return false;
  }
  doc.Parse(req.body.data(), req.body.size());
  if (doc.HasParseError()) {
    error = problem(req, 400, "invalid-json", "Invalid JSON",
                    std::string(what) +
                        " is not valid JSON: " + rapidjson::GetParseError_En(doc.GetParseError()) +
                        " (at byte " + std::to_string(doc.GetErrorOffset()) + ")");
    return false;
  }
  return true;
}

std::string to_json_text(const rapidjson::Value& json) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  json.Accept(w);
  return buf.GetString();
}

bool to_value(const rapidjson::Value& json, const model::Schema* schema, twin::Value& out) {
  using model::SchemaKind;
  if (json.IsNull()) {
    out = twin::Value();
    return true;
  }
  if (json.IsBool()) {
    out = twin::Value::boolean(json.GetBool());
    return true;
  }
  if (json.IsNumber()) {
    SchemaKind k = schema ? schema->kind : SchemaKind::kDouble;
    if (k == SchemaKind::kEnum) k = schema->enum_value_schema;
    bool integral = k == SchemaKind::kInteger || k == SchemaKind::kLong;
    if (integral && json.IsInt64())
      out = twin::Value::integer(json.GetInt64());
    else if (integral && json.IsDouble() && std::trunc(json.GetDouble()) == json.GetDouble() &&
             std::fabs(json.GetDouble()) < 9.2e18)
      out = twin::Value::integer(static_cast<std::int64_t>(json.GetDouble()));
    else if (!schema && json.IsInt64())
      out = twin::Value::integer(json.GetInt64());
    else
      out = twin::Value::number(json.GetDouble());
    return true;
  }
  if (json.IsString()) {
    out = twin::Value::string(std::string_view(json.GetString(), json.GetStringLength()));
    return true;
  }
  out = twin::Value::json(to_json_text(json));  // objects, arrays
  return true;
}

std::string rfc3339(sdk::Timestamp t) {
  std::time_t secs = static_cast<std::time_t>(t / sdk::kSecond);
  long long ms = (t % sdk::kSecond) / sdk::kMillisecond;
  if (ms < 0) {
    ms += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

void write_time(Writer& w, sdk::Timestamp t) {
  if (t == 0)
    w.Null();
  else
    str(w, rfc3339(t));
}

bool parse_time_param(std::string_view text, sdk::Timestamp& out) {
  if (text.empty()) return false;
  bool digits = text.find_first_not_of("0123456789") == std::string_view::npos;
  if (digits) return runtime::parse_event_time(text, out);
  if (text.find_first_of("\"\\") != std::string_view::npos) return false;
  return runtime::parse_event_time("\"" + std::string(text) + "\"", out);
}

void write_value(Writer& w, const twin::Value& v) {
  if (v.is_null()) {
    w.Null();
    return;
  }
  std::string json = v.to_json();
  w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
}

bool split_pointer(std::string_view pointer, std::vector<std::string>& out) {
  out.clear();
  if (pointer.empty() || pointer.front() != '/') return false;
  std::size_t at = 1;
  while (true) {
    std::size_t slash = pointer.find('/', at);
    std::string_view seg = pointer.substr(at, slash == std::string_view::npos ? slash : slash - at);
    std::string s;
    for (std::size_t i = 0; i < seg.size(); ++i) {
      if (seg[i] != '~') {
        s += seg[i];
        continue;
      }
      if (i + 1 >= seg.size() || (seg[i + 1] != '0' && seg[i + 1] != '1')) return false;
      s += seg[i + 1] == '0' ? '~' : '/';
      ++i;
    }
    if (s.empty()) return false;
    out.push_back(std::move(s));
    if (slash == std::string_view::npos) return true;
    at = slash + 1;
  }
}

}  // namespace doppel::api::detail
