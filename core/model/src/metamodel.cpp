#include "metamodel.hpp"

#include <algorithm>
#include <array>
#include <map>

#include "standard_units.hpp"

namespace doppel::model::detail {
namespace {

constexpr std::uint64_t kAnySchema = kSchema;

PropertySpec literal(std::string_view term, Datatype type) {
  PropertySpec p;
  p.term = term;
  p.datatype = type;
  p.max_count = 1;
  return p;
}

PropertySpec object(std::string_view term, std::uint64_t range, bool plural = false) {
  PropertySpec p;
  p.term = term;
  p.range = range;
  p.plural = plural;
  p.max_count = plural ? -1 : 1;
  return p;
}

PropertySpec required(PropertySpec p) {
  p.min_count = 1;
  return p;
}

// comment, description, displayName: on every element.
void add_entity_properties(std::vector<PropertySpec>& props, int version) {
  PropertySpec comment = literal("comment", Datatype::kString);
  comment.max_length = 512;
  PropertySpec description = literal("description", Datatype::kLangString);
  description.max_length = 512;
  description.max_count = -1;
  description.plural = true;
  PropertySpec display = literal("displayName", Datatype::kLangString);
  display.max_length = version == 2 ? 64 : 512;
  display.max_count = -1;
  display.plural = true;
  props.push_back(comment);
  props.push_back(description);
  props.push_back(display);
}

PropertySpec name_property(int version, std::uint64_t unique_in_class,
                           std::string_view unique_in_property) {
  PropertySpec name = required(literal("name", Datatype::kString));
  name.max_length = version == 2 ? 64 : 512;
  name.name_pattern = true;
  name.unique_among = unique_in_class;
  name.unique_among_property = unique_in_property;
  return name;
}

PropertySpec schema_property(std::uint64_t range = kAnySchema) {
  PropertySpec schema = required(object("schema", range));
  return schema;
}

// `bits` starts with the class's own bit, followed by its ancestors' bits.
ClassSpec make_class(std::uint64_t own, std::uint64_t ancestors, std::string_view name,
                     int version) {
  ClassSpec c;
  c.own = own;
  c.bits = own | ancestors | kEntity;
  c.name = name;
  add_entity_properties(c.properties, version);
  return c;
}

Metamodel build(int version) {
  Metamodel m;
  m.version = version;
  const bool v2 = version == 2;

  // Interface
  {
    ClassSpec c = make_class(kInterface, 0, "Interface", version);
    c.rootable = true;
    c.partition = true;
    c.id_required = true;
    PropertySpec contents = object("contents", kContent, true);
    if (v2) contents.max_count = 300;
    PropertySpec extends = object("extends", kInterface, true);
    if (v2) extends.max_count = 2;
    PropertySpec schemas = object("schemas", kComplexSchema, true);
    schemas.values_need_id = true;
    c.properties.push_back(contents);
    c.properties.push_back(extends);
    c.properties.push_back(schemas);
    m.classes.push_back(std::move(c));
  }
  // Contents
  {
    ClassSpec c = make_class(kTelemetry, kContent | kNamedEntity, "Telemetry", version);
    c.properties.push_back(name_property(version, kInterface, "contents"));
    c.properties.push_back(schema_property());
    m.classes.push_back(std::move(c));
  }
  {
    ClassSpec c = make_class(kProperty, kContent | kNamedEntity, "Property", version);
    PropertySpec name = name_property(version, kInterface, "contents");
    c.properties.push_back(name);
    c.properties.push_back(schema_property());
    c.properties.push_back(literal("writable", Datatype::kBoolean));
    m.classes.push_back(std::move(c));
  }
  {
    ClassSpec c = make_class(kCommand, kContent | kNamedEntity, "Command", version);
    c.properties.push_back(name_property(version, kInterface, "contents"));
    std::uint64_t request_class = v2 ? kCommandPayload : kCommandRequest;
    std::uint64_t response_class = v2 ? kCommandPayload : kCommandResponse;
    PropertySpec request = object("request", request_class);
    request.default_class = request_class;
    PropertySpec response = object("response", response_class);
    response.default_class = response_class;
    c.properties.push_back(request);
    c.properties.push_back(response);
    PropertySpec command_type = object("commandType", kCommandType);
    command_type.deprecated = true;  // in both versions; its value is not used
    c.properties.push_back(command_type);
    m.classes.push_back(std::move(c));
  }
  {
    ClassSpec c = make_class(kRelationship, kContent | kNamedEntity, "Relationship", version);
    c.properties.push_back(name_property(version, kInterface, "contents"));
    PropertySpec max = literal("maxMultiplicity", Datatype::kInteger);
    max.has_min_value = true;
    max.min_value = 1;
    if (v2) {
      max.has_max_value = true;
      max.max_value = 500;
    }
    PropertySpec min = literal("minMultiplicity", Datatype::kInteger);
    min.has_min_value = min.has_max_value = true;
    min.min_value = min.max_value = 0;
    PropertySpec properties = object("properties", kProperty, true);
    if (v2) properties.max_count = 300;
    PropertySpec target = literal("target", Datatype::kIri);
    target.max_length = 2048;
    c.properties.push_back(max);
    c.properties.push_back(min);
    c.properties.push_back(properties);
    c.properties.push_back(target);
    c.properties.push_back(literal("writable", Datatype::kBoolean));
    m.classes.push_back(std::move(c));
  }
  {
    ClassSpec c = make_class(kComponent, kContent | kNamedEntity, "Component", version);
    c.properties.push_back(name_property(version, kInterface, "contents"));
    c.properties.push_back(schema_property(kInterface));
    m.classes.push_back(std::move(c));
  }
  // Command payloads
  auto payload = [&](std::uint64_t bit, std::string_view name) {
    ClassSpec c = make_class(bit ? bit : kCommandPayload,
                             kCommandPayload | kSchemaField | kNamedEntity, name, version);
    c.properties.push_back(name_property(version, 0, ""));
    c.properties.push_back(schema_property());
    m.classes.push_back(std::move(c));
  };
  if (v2) {
    payload(0, "CommandPayload");
  } else {
    payload(kCommandRequest, "CommandRequest");
    payload(kCommandResponse, "CommandResponse");
  }
  // Complex schemas
  {
    ClassSpec c = make_class(kArray, kComplexSchema | kSchema, "Array", version);
    c.properties.push_back(schema_property());
    c.properties.back().term = "elementSchema";
    m.classes.push_back(std::move(c));
  }
  {
    ClassSpec c = make_class(kEnum, kComplexSchema | kSchema, "Enum", version);
    PropertySpec values = object("enumValues", kEnumValue, true);
    values.default_class = kEnumValue;
    if (v2) {
      values.min_count = 1;
      values.max_count = 100;
    }
    c.properties.push_back(values);
    c.properties.push_back(required(object("valueSchema", kIntegerSchema | kStringSchema)));
    m.classes.push_back(std::move(c));
  }
  {
    ClassSpec c = make_class(kEnumValue, kNamedEntity, "EnumValue", version);
    c.properties.push_back(name_property(version, kEnum, "enumValues"));
    PropertySpec value = required(literal("enumValue", Datatype::kIntOrString));
    value.unique_among = kEnum;
    value.unique_among_property = "enumValues";
    c.properties.push_back(value);
    m.classes.push_back(std::move(c));
  }
  {
    ClassSpec c = make_class(kMap, kComplexSchema | kSchema, "Map", version);
    PropertySpec key = required(object("mapKey", kMapKey));
    key.default_class = kMapKey;
    PropertySpec value = required(object("mapValue", kMapValue));
    value.default_class = kMapValue;
    c.properties.push_back(key);
    c.properties.push_back(value);
    m.classes.push_back(std::move(c));
  }
  {
    ClassSpec c = make_class(kMapKey, kSchemaField | kNamedEntity, "MapKey", version);
    c.properties.push_back(name_property(version, 0, ""));
    c.properties.push_back(schema_property(kStringSchema));
    m.classes.push_back(std::move(c));
  }
  {
    ClassSpec c = make_class(kMapValue, kSchemaField | kNamedEntity, "MapValue", version);
    c.properties.push_back(name_property(version, 0, ""));
    c.properties.push_back(schema_property());
    m.classes.push_back(std::move(c));
  }
  {
    ClassSpec c = make_class(kObject, kComplexSchema | kSchema, "Object", version);
    PropertySpec fields = object("fields", kField, true);
    fields.default_class = kField;
    if (v2) {
      fields.min_count = 1;
      fields.max_count = 30;
    }
    c.properties.push_back(fields);
    m.classes.push_back(std::move(c));
  }
  {
    ClassSpec c = make_class(kField, kSchemaField | kNamedEntity, "Field", version);
    c.properties.push_back(name_property(version, kObject, "fields"));
    c.properties.push_back(schema_property());
    m.classes.push_back(std::move(c));
  }
  return m;
}

}  // namespace

const PropertySpec* ClassSpec::property(std::string_view term) const {
  for (const PropertySpec& p : properties)
    if (p.term == term) return &p;
  return nullptr;
}

const ClassSpec* Metamodel::class_named(std::string_view term) const {
  for (const ClassSpec& c : classes)
    if (c.name == term) return &c;
  return nullptr;
}

const ClassSpec* Metamodel::class_with_bit(std::uint64_t bit) const {
  for (const ClassSpec& c : classes)
    if (c.own == bit) return &c;
  return nullptr;
}

const Metamodel& metamodel(int version) {
  static const Metamodel v2 = build(2);
  static const Metamodel v3 = build(3);
  return version == 2 ? v2 : v3;
}

bool is_primitive_schema_term(std::string_view term, int version) {
  static constexpr std::array<std::string_view, 10> kPrimitives = {
      "boolean", "date",    "dateTime", "double", "duration",
      "float",   "integer", "long",     "string", "time"};
  static constexpr std::array<std::string_view, 6> kGeo = {
      "point", "multiPoint", "lineString", "multiLineString", "polygon", "multiPolygon"};
  (void)version;
  return std::find(kPrimitives.begin(), kPrimitives.end(), term) != kPrimitives.end() ||
         std::find(kGeo.begin(), kGeo.end(), term) != kGeo.end();
}

}  // namespace doppel::model::detail
