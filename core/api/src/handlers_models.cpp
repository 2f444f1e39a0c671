// GET /api/v1/models and /api/v1/models/{id}: the registry's interfaces, contents flattened.
#include "doppel/model/json_schema.hpp"
#include "doppel/model/registry.hpp"
#include "doppel/runtime/runtime.hpp"
#include "json_io.hpp"

namespace doppel::api::detail {

namespace {

void write_text(Writer& w, std::string_view name, const model::LocalizedText& t) {
  if (t.empty()) return;
  key(w, name);
  str(w, t.get());
}

void write_schema(Writer& w, const model::Schema* s, int depth = 0) {
  using model::SchemaKind;
  if (s == nullptr) {
    w.Null();
    return;
  }
  if (model::is_primitive(s->kind) || model::is_geospatial(s->kind) || depth > 16) {
    str(w, model::schema_kind_name(s->kind));
    return;
  }
  w.StartObject();
  key(w, "type");
  str(w, model::schema_kind_name(s->kind));
  if (!s->id.empty()) {
    key(w, "id");
    str(w, s->id);
  }
  switch (s->kind) {
    case SchemaKind::kArray:
      key(w, "elementSchema");
      write_schema(w, s->element, depth + 1);
      break;
    case SchemaKind::kEnum:
      key(w, "valueSchema");
      str(w, model::schema_kind_name(s->enum_value_schema));
      key(w, "enumValues");
      w.StartArray();
      for (const auto& e : s->enum_values) {
        w.StartObject();
        key(w, "name");
        str(w, e.name);
        key(w, "value");
        if (e.is_string)
          str(w, e.string_value);
        else
          w.Int64(e.integer_value);
        w.EndObject();
      }
      w.EndArray();
      break;
    case SchemaKind::kMap:
      key(w, "mapKey");
      str(w, s->map_key_name);
      key(w, "mapValue");
      write_schema(w, s->map_value, depth + 1);
      break;
    case SchemaKind::kObject:
      key(w, "fields");
      w.StartArray();
      for (const auto& f : s->fields) {
        w.StartObject();
        key(w, "name");
        str(w, f.name);
        key(w, "schema");
        write_schema(w, f.schema, depth + 1);
        w.EndObject();
      }
      w.EndArray();
      break;
    default:
      break;
  }
  w.EndObject();
}

void write_summary_fields(Writer& w, const model::Interface& i) {
  key(w, "id");
  str(w, i.id);
  key(w, "dtdlVersion");
  w.Int(i.dtdl_version);
  write_text(w, "displayName", i.display_name);
  write_text(w, "description", i.description);
  key(w, "extends");
  w.StartArray();
  for (const auto* base : i.extends)
    str(w, base->id);
  w.EndArray();
}

void write_content(Writer& w, const model::Content& c) {
  w.StartObject();
  key(w, "kind");
  str(w, model::content_kind_name(c.kind));
  key(w, "name");
  str(w, c.name);
  if (c.defined_in) {
    key(w, "definedIn");
    str(w, c.defined_in->id);
  }
  write_text(w, "displayName", c.display_name);
  write_text(w, "description", c.description);
  if (!c.semantic_types.empty()) {
    key(w, "semanticTypes");
    w.StartArray();
    for (const auto& t : c.semantic_types)
      str(w, t);
    w.EndArray();
  }
  if (!c.unit.empty()) {
    key(w, "unit");
    str(w, c.unit_symbol.empty() ? c.unit : c.unit_symbol);
  }
  switch (c.kind) {
    case model::ContentKind::kTelemetry:
    case model::ContentKind::kProperty:
      key(w, "schema");
      write_schema(w, c.schema);
      if (c.kind == model::ContentKind::kProperty) {
        key(w, "writable");
        w.Bool(c.writable);
      }
      break;
    case model::ContentKind::kCommand:
      for (auto [name, payload] :
           {std::pair{"request", &c.request}, std::pair{"response", &c.response}}) {
        if (!payload->has_value()) continue;
        key(w, name);
        w.StartObject();
        key(w, "name");
        str(w, (*payload)->name);
        key(w, "schema");
        write_schema(w, (*payload)->schema);
        w.EndObject();
      }
      key(w, "requestJsonSchema");
      raw(w, model::command_json_schema(c, false));
      key(w, "responseJsonSchema");
      raw(w, model::command_json_schema(c, true));
      break;
    case model::ContentKind::kRelationship:
      if (!c.target.empty()) {
        key(w, "target");
        str(w, c.target);
      }
      if (c.max_multiplicity) {
        key(w, "maxMultiplicity");
        w.Int64(*c.max_multiplicity);
      }
      break;
    case model::ContentKind::kComponent:
      if (c.component) {
        key(w, "schema");
        str(w, c.component->id);
      }
      break;
  }
  w.EndObject();
}

}  // namespace

Reply list_models(Context& c, const Request&) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  key(w, "items");
  w.StartArray();
  for (const auto* i : c.runtime.graph().models().interfaces()) {
    w.StartObject();
    write_summary_fields(w, *i);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return json_reply(200, buf.GetString());
}

Reply get_model(Context& c, const Request& r) {
  const model::Interface* i = c.runtime.graph().models().find(r.params.at(0));
  if (i == nullptr)
    return problem(r, 404, "unknown-model", "Unknown model",
                   "no model with id '" + r.params[0] + "' is loaded", "id");
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  write_summary_fields(w, *i);
  key(w, "contents");
  w.StartArray();
  for (const auto* content : i->contents)
    write_content(w, *content);
  w.EndArray();
  key(w, "jsonSchemas");
  raw(w, model::interface_json_schemas(*i));
  w.EndObject();
  return json_reply(200, buf.GetString());
}

}  // namespace doppel::api::detail
