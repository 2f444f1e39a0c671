// JSON Schema (draft 2020-12) export of an interface's payloads, so that tools in any
// language validate payloads the way Doppel's PayloadValidator does.
#pragma once

#include <string>

namespace doppel::model {

struct Interface;
struct Content;

// A telemetry message: {"<telemetry name>": value, "<component>": {...}}; every member optional,
// unknown members rejected.
std::string telemetry_json_schema(const Interface& interface);
// The properties document (reported state); non-writable properties are marked readOnly.
std::string properties_json_schema(const Interface& interface);
// A command's request (or response) payload value; {"type": "null"} when it has none.
std::string command_json_schema(const Content& command, bool response);
// All of the above as one object: {"telemetry":…, "properties":…, "commands": {name: {request,
// response}}}.
std::string interface_json_schemas(const Interface& interface);

}  // namespace doppel::model
