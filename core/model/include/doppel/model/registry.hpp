// The immutable model registry: resolved DTDL interfaces with flattened contents.
// Built once by ModelLoader; afterwards read-only and safe to share between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "doppel/model/diagnostic.hpp"

namespace doppel::model {

struct Interface;
struct Schema;

// Language-tagged strings of displayName/description ({"en": "..."}).
struct LocalizedText {
  std::vector<std::pair<std::string, std::string>> values;  // (language, text)

  bool empty() const { return values.empty(); }
  // The text in `language`, else English, else the first one; empty when none.
  std::string_view get(std::string_view language = "en") const;
};

enum class SchemaKind : std::uint8_t {
  // primitives
  kBoolean,
  kDate,
  kDateTime,
  kDouble,
  kDuration,
  kFloat,
  kInteger,
  kLong,
  kString,
  kTime,
  // geospatial (GeoJSON geometries)
  kPoint,
  kMultiPoint,
  kLineString,
  kMultiLineString,
  kPolygon,
  kMultiPolygon,
  // complex
  kArray,
  kEnum,
  kMap,
  kObject,
};

std::string_view schema_kind_name(SchemaKind kind);
bool is_primitive(SchemaKind kind);
bool is_geospatial(SchemaKind kind);

struct EnumValue {
  std::string id;
  std::string name;
  bool is_string = false;  // the value is a string, else an integer
  std::string string_value;
  std::int64_t integer_value = 0;
  LocalizedText display_name;
  LocalizedText description;
};

struct Field {
  std::string id;
  std::string name;
  const Schema* schema = nullptr;
  LocalizedText display_name;
  LocalizedText description;
};

// A data type. Primitive schemas are shared singletons; complex ones belong to the registry.
struct Schema {
  SchemaKind kind = SchemaKind::kString;
  std::string id;
  LocalizedText display_name;
  LocalizedText description;
  const Schema* element = nullptr;                      // kArray: elementSchema
  SchemaKind enum_value_schema = SchemaKind::kInteger;  // kEnum: integer or string
  std::vector<EnumValue> enum_values;                   // kEnum
  std::string map_key_name;                             // kMap
  std::string map_value_name;                           // kMap
  const Schema* map_value = nullptr;                    // kMap
  std::vector<Field> fields;                            // kObject

  const Field* field(std::string_view name) const;
  const EnumValue* enum_value_named(std::string_view name) const;
};

// The primitive schema singleton for a primitive or geospatial kind.
const Schema* primitive_schema(SchemaKind kind);

enum class ContentKind : std::uint8_t {
  kTelemetry,
  kProperty,
  kCommand,
  kRelationship,
  kComponent
};
std::string_view content_kind_name(ContentKind kind);

struct CommandPayload {
  std::string name;
  const Schema* schema = nullptr;
  LocalizedText display_name;
  LocalizedText description;
};

struct Content {
  ContentKind kind = ContentKind::kProperty;
  std::string id;
  std::string name;
  const Interface* defined_in = nullptr;  // the interface that declares it (maybe an ancestor)
  LocalizedText display_name;
  LocalizedText description;
  std::string comment;
  std::vector<std::string> semantic_types;  // co-types such as "Temperature" (DTMIs)
  std::string unit;                         // unit DTMI, e.g. dtmi:standard:unit:degreeCelsius;2
  std::string unit_symbol;                  // short name, e.g. "degreeCelsius"

  // Telemetry, Property
  const Schema* schema = nullptr;
  bool writable = false;  // Property, Relationship

  // Command
  std::optional<CommandPayload> request;
  std::optional<CommandPayload> response;

  // Relationship
  std::string target;  // interface DTMI, empty: any interface
  std::optional<std::int64_t> min_multiplicity;
  std::optional<std::int64_t> max_multiplicity;
  std::vector<const Content*> properties;  // relationship properties

  // Component
  const Interface* component = nullptr;

  SourceLocation location;
};

struct Interface {
  std::string id;
  int dtdl_version = 3;
  LocalizedText display_name;
  LocalizedText description;
  std::string comment;
  std::vector<const Interface*> extends;  // direct bases
  std::vector<std::string> ancestors;     // every base, transitively (not itself)
  std::vector<const Content*> contents;   // own and inherited contents, flattened
  std::vector<const Schema*> schemas;     // interface-level reusable schemas
  SourceLocation location;

  const Content* find(std::string_view name) const;
  // Resolves "component/name" paths (one level of components, as DTDL allows).
  const Content* find_path(std::string_view path) const;
  bool is_a(std::string_view interface_id) const;  // itself or an ancestor

 private:
  friend class RegistryBuilder;
  std::unordered_map<std::string_view, const Content*> by_name_;
};

class ModelRegistry {
 public:
  const Interface* find(std::string_view dtmi) const;
  std::span<const Interface* const> interfaces() const { return interfaces_; }
  // Interfaces that are `id` or extend it, directly or not.
  std::vector<const Interface*> subtypes_of(std::string_view id) const;
  // A stable hash of the model set (ids and their definitions), for storage compatibility.
  const std::string& fingerprint() const { return fingerprint_; }

  ~ModelRegistry();

 private:
  friend class RegistryBuilder;
  ModelRegistry();
  struct Storage;
  std::unique_ptr<Storage> storage_;
  std::vector<const Interface*> interfaces_;
  std::unordered_map<std::string_view, const Interface*> by_id_;
  std::string fingerprint_;
};

}  // namespace doppel::model
