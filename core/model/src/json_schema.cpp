#include "doppel/model/json_schema.hpp"

#include <cstdio>

#include "doppel/model/json_text.hpp"
#include "doppel/model/registry.hpp"

namespace doppel::model {
namespace {

constexpr std::string_view kPosition =
    R"({"type":"array","items":{"type":"number"},"minItems":2,"maxItems":3})";

std::string geo(std::string_view type, std::string coordinates) {
  return R"({"type":"object","properties":{"type":{"const":)" + json_string(type) +
         R"(},"coordinates":)" + coordinates + R"(},"required":["type","coordinates"]})";
}

std::string array_of(std::string_view items, int min_items = 0) {
  std::string out = R"({"type":"array","items":)" + std::string(items);
  if (min_items) out += R"(,"minItems":)" + std::to_string(min_items);
  return out + "}";
}

std::string annotations(const LocalizedText& title, const LocalizedText& description) {
  std::string out;
  if (!title.empty()) out += R"(,"title":)" + json_string(title.get());
  if (!description.empty()) out += R"(,"description":)" + json_string(description.get());
  return out;
}

std::string schema_json(const Schema* s) {
  if (!s) return "{}";
  const std::string position(kPosition);
  const std::string line = array_of(position, 2);
  const std::string ring = array_of(position, 4);
  const std::string polygon = array_of(ring);
  switch (s->kind) {
    case SchemaKind::kBoolean:
      return R"({"type":"boolean"})";
    case SchemaKind::kInteger:
      return R"({"type":"integer","minimum":-2147483648,"maximum":2147483647})";
    case SchemaKind::kLong:
      return R"({"type":"integer","minimum":-9223372036854775808,"maximum":9223372036854775807})";
    case SchemaKind::kDouble:
      return R"({"type":"number"})";
    case SchemaKind::kFloat:
      return R"({"type":"number","minimum":-3.4028234663852886e38,"maximum":3.4028234663852886e38})";
    case SchemaKind::kString:
      return R"({"type":"string"})";
    case SchemaKind::kDate:
      return R"({"type":"string","format":"date"})";
    case SchemaKind::kDateTime:
      return R"({"type":"string","format":"date-time"})";
    case SchemaKind::kTime:
      return R"({"type":"string","format":"time"})";
    case SchemaKind::kDuration:
      return R"({"type":"string","format":"duration"})";
    case SchemaKind::kPoint:
      return geo("Point", position);
    case SchemaKind::kMultiPoint:
      return geo("MultiPoint", array_of(position));
    case SchemaKind::kLineString:
      return geo("LineString", line);
    case SchemaKind::kMultiLineString:
      return geo("MultiLineString", array_of(line));
    case SchemaKind::kPolygon:
      return geo("Polygon", polygon);
    case SchemaKind::kMultiPolygon:
      return geo("MultiPolygon", array_of(polygon));
    case SchemaKind::kArray:
      return R"({"type":"array","items":)" + schema_json(s->element) +
             annotations(s->display_name, s->description) + "}";
    case SchemaKind::kMap:
      return R"({"type":"object","additionalProperties":)" + schema_json(s->map_value) +
             annotations(s->display_name, s->description) + "}";
    case SchemaKind::kEnum: {
      bool strings = s->enum_value_schema == SchemaKind::kString;
      std::string out =
          std::string(R"({"type":)") + (strings ? R"("string")" : R"("integer")") + R"(,"enum":[)";
      for (std::size_t i = 0; i < s->enum_values.size(); ++i) {
        if (i) out += ',';
        const EnumValue& v = s->enum_values[i];
        out += v.is_string ? json_string(v.string_value) : std::to_string(v.integer_value);
      }
      return out + "]" + annotations(s->display_name, s->description) + "}";
    }
    case SchemaKind::kObject: {
      std::string out = R"({"type":"object","properties":{)";
      for (std::size_t i = 0; i < s->fields.size(); ++i) {
        if (i) out += ',';
        out += json_string(s->fields[i].name) + ":" + schema_json(s->fields[i].schema);
      }
      return out + R"(},"additionalProperties":false)" +
             annotations(s->display_name, s->description) + "}";
    }
  }
  return "{}";
}

std::string header(const Interface& i, std::string_view part) {
  // $id may not carry a fragment: the part goes in the query.
  return R"({"$schema":"https://json-schema.org/draft/2020-12/schema","$id":)" +
         json_string(i.id + "?" + std::string(part)) + annotations(i.display_name, i.description);
}

std::string members(const Interface& i, ContentKind kind, bool mark_read_only) {
  std::string out;
  bool first = true;
  for (const Content* c : i.contents) {
    if (c->kind == kind) {
      std::string s = schema_json(c->schema);
      if (mark_read_only && !c->writable) s.insert(s.size() - 1, R"(,"readOnly":true)");
      out += (first ? "" : ",") + json_string(c->name) + ":" + s;
      first = false;
    } else if (c->kind == ContentKind::kComponent && c->component) {
      std::string inner = members(*c->component, kind, mark_read_only);
      if (inner.empty()) continue;
      out += (first ? "" : ",") + json_string(c->name) + R"(:{"type":"object","properties":{)" +
             inner + R"(},"additionalProperties":false})";
      first = false;
    }
  }
  return out;
}

}  // namespace

std::string telemetry_json_schema(const Interface& i) {
  return header(i, "telemetry") + R"(,"type":"object","properties":{)" +
         members(i, ContentKind::kTelemetry, false) + R"(},"additionalProperties":false})";
}

std::string properties_json_schema(const Interface& i) {
  return header(i, "properties") + R"(,"type":"object","properties":{)" +
         members(i, ContentKind::kProperty, true) + R"(},"additionalProperties":false})";
}

std::string command_json_schema(const Content& command, bool response) {
  const std::optional<CommandPayload>& p = response ? command.response : command.request;
  std::string id = command.id + (response ? "?response" : "?request");
  std::string head =
      R"({"$schema":"https://json-schema.org/draft/2020-12/schema","$id":)" + json_string(id);
  if (!p) return head + R"(,"type":"null"})";
  std::string body = schema_json(p->schema);
  return head + R"(,"title":)" + json_string(p->name) + "," + body.substr(1);
}

std::string interface_json_schemas(const Interface& i) {
  std::string out = R"({"interface":)" + json_string(i.id) + R"(,"telemetry":)" +
                    telemetry_json_schema(i) + R"(,"properties":)" + properties_json_schema(i) +
                    R"(,"commands":{)";
  bool first = true;
  for (const Content* c : i.contents) {
    if (c->kind != ContentKind::kCommand) continue;
    out += (first ? "" : ",") + json_string(c->name) + R"(:{"request":)" +
           command_json_schema(*c, false) + R"(,"response":)" + command_json_schema(*c, true) + "}";
    first = false;
  }
  return out + "}}";
}

}  // namespace doppel::model
