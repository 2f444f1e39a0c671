// The API's request/reply types and JSON helpers (RapidJSON stays in core/api's .cpp files).
// Handlers see no HTTP library: api_server.cpp translates httplib requests into these.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "doppel/api/api_config.hpp"
#include "doppel/sdk/clock.hpp"
#include "doppel/sdk/status.hpp"
#include "doppel/twin/value.hpp"
#include "tokens.hpp"

namespace doppel::model {
struct Schema;
}
namespace doppel::runtime {
class Runtime;
struct EventRecord;
}  // namespace doppel::runtime

namespace doppel::api::detail {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

struct Request {
  std::string method;
  std::string path;                          // decoded, without the query
  std::vector<std::string> params;           // path captures, decoded
  std::map<std::string, std::string> query;  // first value of each query parameter
  std::string body;
  std::string if_match;  // the If-Match header ("" when absent)
  // The caller's ACL when its token has one (null: every twin). api_server.cpp checks the twin
  // of twin-scoped routes before the handler runs; handlers filter lists and check what else
  // a request names (a relationship's target, a new twin's model).
  const Acl* acl = nullptr;

  const std::string* param(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? nullptr : &it->second;
  }
};

struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

struct Context {
  runtime::Runtime& runtime;
  const ApiConfig& config;
};

// RFC 9457 problem details. `type` is a short slug ("invalid-json"), published as
// "urn:doppel:problem:<slug>"; `field` names the offending field or JSON pointer when known.
Reply problem(const Request& req, int status, std::string_view slug, std::string_view title,
              std::string_view detail, std::string_view field = {});
// A Status as a problem: kInvalidArgument 400, kNotFound 404, kAlreadyExists and
// kFailedPrecondition 409, kDeadlineExceeded 504, kUnavailable 503, otherwise 500.
Reply problem(const Request& req, const sdk::Status& status);
std::string_view status_title(int status);

Reply json_reply(int status, std::string body);

// Parses a JSON body; on failure fills `error` with a 400 problem naming the offset.
bool parse_body(const Request& req, rapidjson::Document& doc, Reply& error,
                std::string_view what = "the request body");

// A JSON value as a twin value for `schema` (numbers typed by the schema; complex values keep
// their JSON text). The graph validates the result; this only fails on shapes it cannot hold.
bool to_value(const rapidjson::Value& json, const model::Schema* schema, twin::Value& out);
std::string to_json_text(const rapidjson::Value& json);

// "2026-11-25T09:37:23.123Z"; 0 writes null.
void write_time(Writer& w, sdk::Timestamp t);
std::string rfc3339(sdk::Timestamp t);
// A time from a query parameter: RFC 3339 or epoch seconds/ms/µs/ns.
bool parse_time_param(std::string_view text, sdk::Timestamp& out);
void write_value(Writer& w, const twin::Value& v);
inline void key(Writer& w, std::string_view k) {
  w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
}
inline void str(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
inline void raw(Writer& w, std::string_view json) {
  w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
}

// Whether the caller may see twin `id`: true without an ACL; false when the twin does not exist
// or is outside the ACL (the two are not told apart, so an ACL does not leak which ids exist).
bool twin_visible(runtime::Runtime& rt, const Request& r, std::string_view id);
// The 404 of a twin that does not exist or is outside the caller's ACL (one message for both).
Reply unknown_twin(const Request& r, const std::string& id);
// 403 outside-acl: the request would act outside the caller's ACL.
Reply outside_acl(const Request& r, std::string_view detail, std::string_view field = {});

// JSON pointer segments ("/bearing/x~1y" -> {"bearing", "x/y"}); false when malformed.
bool split_pointer(std::string_view pointer, std::vector<std::string>& out);

// Handlers, one per route (see routes() in api_server.cpp).
Reply list_models(Context& c, const Request& r);
Reply get_model(Context& c, const Request& r);
Reply get_twin(Context& c, const Request& r);
Reply query_twins(Context& c, const Request& r);
Reply put_twin(Context& c, const Request& r);
Reply delete_twin(Context& c, const Request& r);
Reply patch_desired(Context& c, const Request& r);
Reply list_relationships(Context& c, const Request& r);
Reply put_relationship(Context& c, const Request& r);
Reply delete_relationship(Context& c, const Request& r);
Reply invoke_command(Context& c, const Request& r);
Reply telemetry_history(Context& c, const Request& r);
Reply list_dead_letters(Context& c, const Request& r);
Reply count_dead_letters(Context& c, const Request& r);
Reply list_alerts(Context& c, const Request& r);
std::string event_json(const runtime::EventRecord& e);  // the API's JSON of a service event
Reply list_events(Context& c, const Request& r);
Reply acknowledge_alert(Context& c, const Request& r);

}  // namespace doppel::api::detail
