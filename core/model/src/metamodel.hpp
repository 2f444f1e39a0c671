// The DTDL metamodel as tables: classes, their properties per language version, contexts
// and the standard elements (primitive schemas, semantic types, units). The parser is
// generic over these tables, so a rule of the language is one row here.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace doppel::model::detail {

// Classes, concrete and abstract. Bits so "is a" is one AND.
enum ClassBit : std::uint64_t {
  kEntity = 1ull << 0,
  kNamedEntity = 1ull << 1,
  kContent = 1ull << 2,
  kInterface = 1ull << 3,
  kTelemetry = 1ull << 4,
  kProperty = 1ull << 5,
  kCommand = 1ull << 6,
  kRelationship = 1ull << 7,
  kComponent = 1ull << 8,
  kSchemaField = 1ull << 9,
  kCommandPayload = 1ull << 10,
  kCommandRequest = 1ull << 11,
  kCommandResponse = 1ull << 12,
  kSchema = 1ull << 13,
  kComplexSchema = 1ull << 14,
  kPrimitiveSchema = 1ull << 15,
  kArray = 1ull << 16,
  kEnum = 1ull << 17,
  kEnumValue = 1ull << 18,
  kMap = 1ull << 19,
  kMapKey = 1ull << 20,
  kMapValue = 1ull << 21,
  kObject = 1ull << 22,
  kField = 1ull << 23,
  kStringSchema = 1ull << 24,   // the primitive "string" (MapKey schema, Enum valueSchema)
  kIntegerSchema = 1ull << 25,  // the primitive "integer" (Enum valueSchema)
  kCommandType = 1ull << 26,    // v2 commandType values
  kUnit = 1ull << 27,
  kGeospatialSchema = 1ull << 28,
  kLatentType = 1ull << 29,
  kUnitAttribute = 1ull << 30,
};

enum class Datatype : std::uint8_t {
  kNone,  // object-valued (elements or references)
  kString,
  kLangString,  // localizable: string, language map or @language value objects
  kInteger,
  kBoolean,
  kIri,          // a DTMI given as a plain string (Relationship target)
  kIntOrString,  // EnumValue enumValue
};

// How strongly a property value may be auto-identified etc. One row per property per version.
struct PropertySpec {
  std::string_view term;
  Datatype datatype = Datatype::kNone;
  std::uint64_t range = 0;  // accepted class bits for object-valued properties
  std::uint64_t default_class =
      0;  // class assumed for inline values without @type (0: @type required)
  bool plural = false;
  int min_count = 0;
  int max_count = -1;
  int max_length = 0;
  bool name_pattern = false;    // ^[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?$
  bool values_need_id = false;  // inline values must carry @id (Interface schemas)
  bool has_min_value = false;
  std::int64_t min_value = 0;
  bool has_max_value = false;
  std::int64_t max_value = 0;
  bool deprecated = false;         // allowed, with a warning
  std::uint64_t unique_among = 0;  // class bits of the parent whose property holds the siblings
  std::string_view unique_among_property;
};

struct ClassSpec {
  std::uint64_t own = 0;   // its own class bit
  std::uint64_t bits = 0;  // its own bit plus every ancestor bit
  std::string_view name;   // "Telemetry"
  bool rootable = false;
  bool partition = false;  // Interface: references into it from elsewhere are not allowed
  bool id_required = false;
  std::vector<PropertySpec> properties;

  const PropertySpec* property(std::string_view term) const;
};

// A co-type that is not a material class: semantic types (add `unit`) and extension adjuncts
// (Historized, ValueAnnotation, ...). `applies_to` are the classes it may decorate.
struct CotypeSpec {
  std::string_view term;
  std::string dtmi;
  std::uint64_t applies_to = 0;
  std::vector<PropertySpec> properties;
  std::string_view unit_type;  // semantic types: the unit type whose units `unit` accepts
  bool vector_unit = false;    // IoT Central vector types: unit without a numeric schema

  const PropertySpec* property(std::string_view term) const;
};

struct UnitSpec {
  std::string_view term;
  std::string_view unit_type;
};

// One context: a DTDL version or a language extension.
struct ContextSpec {
  std::string_view id;            // "dtmi:dtdl:context;3"
  int dtdl_version = 0;           // core contexts: 2 or 3; extensions: 0
  std::vector<int> for_versions;  // extensions: DTDL versions that may import it
  std::vector<CotypeSpec> cotypes;
  std::vector<UnitSpec> units;
  bool is_core() const { return dtdl_version != 0; }
};

struct Metamodel {
  int version;  // 2 or 3
  std::vector<ClassSpec> classes;
  // DTMI prefix of class/property names, e.g. "dtmi:dtdl:class:", suffix ";3".
  const ClassSpec* class_named(std::string_view term) const;
  const ClassSpec* class_with_bit(std::uint64_t bit) const;
};

const Metamodel& metamodel(int version);

// Known contexts (core and extensions) by id; nullptr when unknown.
const ContextSpec* find_context(std::string_view id);

// Primitive and geospatial schema terms valid in `version` ("double", "point").
bool is_primitive_schema_term(std::string_view term, int version);

struct ActiveContext;
// The DTMI a term stands for when used as a value (schemas, units, command types), or "" when
// the contexts in scope do not define it as an instance.
std::string expand_value_term(const ActiveContext& context, std::string_view term);

inline constexpr std::string_view kNamePatternText =
    "letters, digits and underscores, starting with a letter and not ending with an underscore";

}  // namespace doppel::model::detail
