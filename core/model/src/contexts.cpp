// The contexts Doppel knows: the DTDL v2 and v3 core contexts and the language extensions.
#include <algorithm>
#include <deque>

#include "metamodel.hpp"
#include "standard_units.hpp"

namespace doppel::model::detail {
namespace {

PropertySpec unit_property() {
  PropertySpec p;
  p.term = "unit";
  p.range = kUnit;
  p.min_count = 1;
  p.max_count = 1;
  return p;
}

// Semantic types: co-types of Telemetry and Property that add an optional `unit`.
std::vector<CotypeSpec> semantic_cotypes(int version, std::string_view dtmi_prefix,
                                         std::string_view suffix) {
  std::vector<CotypeSpec> out;
  for (const SemanticTypeRow& s : semantic_types(version)) {
    CotypeSpec c;
    c.term = s.term;
    c.dtmi = std::string(dtmi_prefix) + std::string(s.term) + std::string(suffix);
    // DTDL v2: Telemetry and Property; QuantitativeTypes (v3) adds payloads, Fields and MapValues.
    c.applies_to = kTelemetry | kProperty |
                   (version == 2 ? 0 : kCommandRequest | kCommandResponse | kField | kMapValue);
    c.unit_type = s.unit_type;
    c.properties.push_back(unit_property());
    out.push_back(std::move(c));
  }
  return out;
}

PropertySpec string_property(std::string_view term, bool required) {
  PropertySpec p;
  p.term = term;
  p.datatype = Datatype::kString;
  p.min_count = required ? 1 : 0;
  p.max_count = 1;
  return p;
}

CotypeSpec adjunct(std::string_view term, std::string dtmi, std::uint64_t applies_to,
                   std::vector<PropertySpec> properties = {}) {
  CotypeSpec c;
  c.term = term;
  c.dtmi = std::move(dtmi);
  c.applies_to = applies_to;
  c.properties = std::move(properties);
  return c;
}

// IoT Central's semantic types, implied in every DTDL v2 document.
std::vector<CotypeSpec> iotcentral_cotypes() {
  std::vector<CotypeSpec> out;
  for (std::string_view t : {"Event", "State", "Location"})
    out.push_back(
        adjunct(t, "dtmi:iotcentral:class:" + std::string(t) + ";2", kTelemetry | kProperty));
  for (auto [t, unit_type] :
       {std::pair<std::string_view, std::string_view>{"VelocityVector", "VelocityUnit"},
        {"AccelerationVector", "AccelerationUnit"}}) {
    CotypeSpec c =
        adjunct(t, "dtmi:iotcentral:class:" + std::string(t) + ";2", kTelemetry | kProperty);
    c.unit_type = unit_type;
    c.vector_unit = true;
    PropertySpec unit = unit_property();
    unit.min_count = 0;
    c.properties.push_back(unit);
    out.push_back(std::move(c));
  }
  return out;
}

std::deque<ContextSpec> build() {
  std::deque<ContextSpec> all;
  {
    ContextSpec c;
    c.id = "dtmi:dtdl:context;2";
    c.dtdl_version = 2;
    c.cotypes = semantic_cotypes(2, "dtmi:standard:class:", ";2");
    for (CotypeSpec& ic : iotcentral_cotypes())
      c.cotypes.push_back(std::move(ic));
    all.push_back(std::move(c));
  }
  {
    ContextSpec c;
    c.id = "dtmi:dtdl:context;3";
    c.dtdl_version = 3;
    all.push_back(std::move(c));
  }
  {
    ContextSpec c;
    c.id = "dtmi:dtdl:extension:quantitativeTypes;1";
    c.for_versions = {3};
    c.cotypes = semantic_cotypes(3, "dtmi:standard:class:", ";3");
    all.push_back(std::move(c));
  }
  for (std::string_view id :
       {"dtmi:dtdl:extension:historization;1", "dtmi:dtdl:extension:historization;2"}) {
    ContextSpec c;
    c.id = id;
    c.for_versions = {3};
    c.cotypes.push_back(adjunct("Historized", "dtmi:dtdl:extension:historization:Historized",
                                kProperty | kTelemetry));
    all.push_back(std::move(c));
  }
  {
    ContextSpec c;
    c.id = "dtmi:dtdl:extension:streaming;1";
    c.for_versions = {3};
    c.cotypes.push_back(
        adjunct("Streamed", "dtmi:dtdl:extension:streaming:v1:Streamed", kProperty));
    all.push_back(std::move(c));
  }
  for (std::string_view id :
       {"dtmi:dtdl:extension:annotation;1", "dtmi:dtdl:extension:annotation;2"}) {
    ContextSpec c;
    c.id = id;
    c.for_versions = {3};
    PropertySpec annotates = string_property("annotates", true);
    annotates.name_pattern = true;
    c.cotypes.push_back(adjunct("ValueAnnotation", "dtmi:dtdl:extension:annotation:ValueAnnotation",
                                kProperty | kTelemetry, {annotates}));
    all.push_back(std::move(c));
  }
  {
    ContextSpec c;
    c.id = "dtmi:dtdl:extension:overriding;1";
    c.for_versions = {3};
    c.cotypes.push_back(adjunct("Override", "dtmi:dtdl:extension:overriding:v1:Override", kProperty,
                                {string_property("overrides", true)}));
    all.push_back(std::move(c));
  }
  {
    ContextSpec c;
    c.id = "dtmi:dtdl:extension:requirement;1";
    c.for_versions = {3};
    c.cotypes.push_back(adjunct("Required", "dtmi:dtdl:extension:requirement:v1:Required", kField));
    all.push_back(std::move(c));
  }
  for (std::string_view id : {"dtmi:dtdl:extension:mqtt;1", "dtmi:dtdl:extension:mqtt;2"}) {
    ContextSpec c;
    c.id = id;
    c.for_versions = {3};
    c.cotypes.push_back(
        adjunct("Mqtt", "dtmi:dtdl:extension:mqtt:Mqtt", kInterface,
                {string_property("payloadFormat", true), string_property("telemetryTopic", false),
                 string_property("commandTopic", false)}));
    c.cotypes.push_back(adjunct("Idempotent", "dtmi:dtdl:extension:mqtt:Idempotent", kCommand));
    c.cotypes.push_back(adjunct("Cacheable", "dtmi:dtdl:extension:mqtt:Cacheable", kCommand,
                                {string_property("ttl", true)}));
    PropertySpec index;
    index.term = "index";
    index.datatype = Datatype::kInteger;
    index.min_count = 1;
    index.max_count = 1;
    index.has_min_value = true;
    c.cotypes.push_back(adjunct("Indexed", "dtmi:dtdl:extension:mqtt:Indexed",
                                kTelemetry | kField | kEnumValue, {index}));
    if (id.ends_with(";2"))
      c.cotypes.push_back(adjunct("Transparent", "dtmi:dtdl:extension:mqtt:Transparent",
                                  kCommandRequest | kCommandResponse));
    all.push_back(std::move(c));
  }
  {
    ContextSpec c;
    c.id = "dtmi:iotcentral:context;2";
    c.for_versions = {2};
    c.cotypes = iotcentral_cotypes();
    all.push_back(std::move(c));
  }
  return all;
}

}  // namespace

const ContextSpec* find_context(std::string_view id) {
  static const std::deque<ContextSpec> all = build();
  for (const ContextSpec& c : all)
    if (c.id == id) return &c;
  return nullptr;
}

}  // namespace doppel::model::detail

#include "element.hpp"

namespace doppel::model::detail {

std::string expand_value_term(const ActiveContext& ctx, std::string_view term) {
  const std::string ver = ";" + std::to_string(ctx.version);
  static constexpr std::string_view kGeo[] = {"point",           "multiPoint", "lineString",
                                              "multiLineString", "polygon",    "multiPolygon"};
  if (std::find(std::begin(kGeo), std::end(kGeo), term) != std::end(kGeo))
    return "dtmi:standard:schema:geospatial:" + std::string(term) + ver;
  if (is_primitive_schema_term(term, ctx.version))
    return "dtmi:dtdl:instance:Schema:" + std::string(term) + ver;
  if (term == "synchronous" || term == "asynchronous")
    return "dtmi:dtdl:instance:CommandType:" + std::string(term) + ver;
  if (ctx.version == 2) {
    // The IoT Central context is implied in DTDL v2.
    if (term == "geopoint" || term == "vector")
      return "dtmi:iotcentral:schema:" + std::string(term) + ver;
  }
  bool units_in_scope = ctx.version == 2;
  for (const ContextSpec* ext : ctx.extensions)
    if (ext->id == "dtmi:dtdl:extension:quantitativeTypes;1") units_in_scope = true;
  if (units_in_scope) {
    for (const UnitRow& u : units(ctx.version))
      if (u.term == term) return "dtmi:standard:unit:" + std::string(term) + ver;
    // Unit types are Enum schemas of their units (used by the overriding extension).
    for (const UnitRow& u : units(ctx.version))
      if (u.unit_type == term) return "dtmi:standard:class:" + std::string(term) + ver;
  }
  return {};
}

}  // namespace doppel::model::detail
