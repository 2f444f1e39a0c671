#include "doppel/model/registry.hpp"

#include <algorithm>
#include <array>
#include <deque>

#include "registry_storage.hpp"

namespace doppel::model {

std::string_view LocalizedText::get(std::string_view language) const {
  if (values.empty()) return {};
  for (const auto& [lang, text] : values)
    if (lang == language) return text;
  for (const auto& [lang, text] : values)
    if (lang == "en" || lang.starts_with("en-")) return text;
  return values.front().second;
}

std::string_view schema_kind_name(SchemaKind kind) {
  switch (kind) {
    case SchemaKind::kBoolean:
      return "boolean";
    case SchemaKind::kDate:
      return "date";
    case SchemaKind::kDateTime:
      return "dateTime";
    case SchemaKind::kDouble:
      return "double";
    case SchemaKind::kDuration:
      return "duration";
    case SchemaKind::kFloat:
      return "float";
    case SchemaKind::kInteger:
      return "integer";
    case SchemaKind::kLong:
      return "long";
    case SchemaKind::kString:
      return "string";
    case SchemaKind::kTime:
      return "time";
    case SchemaKind::kPoint:
      return "point";
    case SchemaKind::kMultiPoint:
      return "multiPoint";
    case SchemaKind::kLineString:
      return "lineString";
    case SchemaKind::kMultiLineString:
      return "multiLineString";
    case SchemaKind::kPolygon:
      return "polygon";
    case SchemaKind::kMultiPolygon:
      return "multiPolygon";
    case SchemaKind::kArray:
      return "Array";
    case SchemaKind::kEnum:
      return "Enum";
    case SchemaKind::kMap:
      return "Map";
    case SchemaKind::kObject:
      return "Object";
  }
  return "?";
}

bool is_primitive(SchemaKind kind) {
  return kind <= SchemaKind::kTime;
}
bool is_geospatial(SchemaKind kind) {
  return kind >= SchemaKind::kPoint && kind <= SchemaKind::kMultiPolygon;
}

const Schema* primitive_schema(SchemaKind kind) {
  static const auto table = [] {
    std::array<Schema, static_cast<std::size_t>(SchemaKind::kMultiPolygon) + 1> t{};
    for (std::size_t i = 0; i < t.size(); ++i)
      t[i].kind = static_cast<SchemaKind>(i);
    return t;
  }();
  auto i = static_cast<std::size_t>(kind);
  return i < table.size() ? &table[i] : nullptr;
}

const Field* Schema::field(std::string_view name) const {
  for (const Field& f : fields)
    if (f.name == name) return &f;
  return nullptr;
}

const EnumValue* Schema::enum_value_named(std::string_view name) const {
  for (const EnumValue& v : enum_values)
    if (v.name == name) return &v;
  return nullptr;
}

std::string_view content_kind_name(ContentKind kind) {
  switch (kind) {
    case ContentKind::kTelemetry:
      return "Telemetry";
    case ContentKind::kProperty:
      return "Property";
    case ContentKind::kCommand:
      return "Command";
    case ContentKind::kRelationship:
      return "Relationship";
    case ContentKind::kComponent:
      return "Component";
  }
  return "?";
}

const Content* Interface::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

const Content* Interface::find_path(std::string_view path) const {
  auto slash = path.find('/');
  if (slash == std::string_view::npos) return find(path);
  const Content* component = find(path.substr(0, slash));
  if (!component || component->kind != ContentKind::kComponent || !component->component)
    return nullptr;
  return component->component->find(path.substr(slash + 1));
}

bool Interface::is_a(std::string_view interface_id) const {
  return id == interface_id ||
         std::find(ancestors.begin(), ancestors.end(), interface_id) != ancestors.end();
}

ModelRegistry::ModelRegistry() : storage_(std::make_unique<Storage>()) {}
ModelRegistry::~ModelRegistry() = default;

const Interface* ModelRegistry::find(std::string_view dtmi) const {
  auto it = by_id_.find(dtmi);
  return it == by_id_.end() ? nullptr : it->second;
}

std::vector<const Interface*> ModelRegistry::subtypes_of(std::string_view id) const {
  std::vector<const Interface*> out;
  for (const Interface* i : interfaces_)
    if (i->is_a(id)) out.push_back(i);
  return out;
}

}  // namespace doppel::model
