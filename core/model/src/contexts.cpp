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
std::vector<CotypeSpec> semantic_cotypes(int version, std::string_view dtmi_prefix, std::string_view suffix) {
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

CotypeSpec adjunct(std::string_view term, std::string dtmi, std::uint64_t applies_to,
                   std::vector<PropertySpec> properties = {}) {
  CotypeSpec c;
  c.term = term;
  c.dtmi = std::move(dtmi);
  c.applies_to = applies_to;
  c.properties = std::move(properties);
  return c;
}

std::deque<ContextSpec> build() {
  std::deque<ContextSpec> all;
  {
    ContextSpec c;
    c.id = "dtmi:dtdl:context;2";
    c.dtdl_version = 2;
    c.cotypes = semantic_cotypes(2, "dtmi:standard:class:", ";2");
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
  {
    ContextSpec c;
    c.id = "dtmi:dtdl:extension:historization;1";
    c.for_versions = {3};
    c.cotypes.push_back(adjunct("Historized", "dtmi:dtdl:extension:historization:v1:Historized",
                                kProperty | kTelemetry));
    all.push_back(std::move(c));
  }
  {
    ContextSpec c;
    c.id = "dtmi:dtdl:extension:streaming;1";
    c.for_versions = {3};
    c.cotypes.push_back(adjunct("Streamed", "dtmi:dtdl:extension:streaming:v1:Streamed", kProperty));
    all.push_back(std::move(c));
  }
  {
    ContextSpec c;
    c.id = "dtmi:dtdl:extension:annotation;1";
    c.for_versions = {3};
    PropertySpec annotates;
    annotates.term = "annotates";
    annotates.datatype = Datatype::kString;
    annotates.min_count = 1;
    annotates.max_count = 1;
    annotates.name_pattern = true;
    annotates.max_length = 512;
    c.cotypes.push_back(adjunct("ValueAnnotation", "dtmi:dtdl:extension:annotation:v1:ValueAnnotation",
                                kProperty | kTelemetry, {annotates}));
    all.push_back(std::move(c));
  }
  {
    ContextSpec c;
    c.id = "dtmi:dtdl:extension:overriding;1";
    c.for_versions = {3};
    PropertySpec overrides;
    overrides.term = "overrides";
    overrides.datatype = Datatype::kString;
    overrides.min_count = 1;
    overrides.max_count = 1;
    c.cotypes.push_back(adjunct("Override", "dtmi:dtdl:extension:overriding:v1:Override",
                                kProperty | kTelemetry | kCommand, {overrides}));
    all.push_back(std::move(c));
  }
  {
    ContextSpec c;
    c.id = "dtmi:iotcentral:context;2";
    c.for_versions = {2};
    for (std::string_view t : {"Event", "State", "Location", "VelocityVector", "Acceleration"})
      c.cotypes.push_back(adjunct(t, "dtmi:iotcentral:class:" + std::string(t) + ";2", kTelemetry | kProperty));
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
  static constexpr std::string_view kGeo[] = {"point", "multiPoint", "lineString", "multiLineString", "polygon", "multiPolygon"};
  if (std::find(std::begin(kGeo), std::end(kGeo), term) != std::end(kGeo))
    return "dtmi:standard:schema:geospatial:" + std::string(term) + ver;
  if (is_primitive_schema_term(term, ctx.version)) return "dtmi:dtdl:instance:Schema:" + std::string(term) + ver;
  if (term == "synchronous" || term == "asynchronous") return "dtmi:dtdl:instance:CommandType:" + std::string(term) + ver;
  if (ctx.version == 2) {
    // The IoT Central context is implied in DTDL v2.
    if (term == "geopoint" || term == "vector") return "dtmi:iotcentral:schema:" + std::string(term) + ver;
  }
  bool units_in_scope = ctx.version == 2;
  for (const ContextSpec* ext : ctx.extensions)
    if (ext->id == "dtmi:dtdl:extension:quantitativeTypes;1") units_in_scope = true;
  if (units_in_scope)
    for (const UnitRow& u : units(ctx.version))
      if (u.term == term) return "dtmi:standard:unit:" + std::string(term) + ver;
  return {};
}

}  // namespace doppel::model::detail
