// Any bytes given as a telemetry or property payload validate or fail with a message.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "doppel/model/loader.hpp"
#include "doppel/model/payload.hpp"

namespace {

constexpr const char* kModel = R"([
 {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:fuzz:Machine;1", "@type": "Interface",
  "contents": [
   {"@type": "Telemetry", "name": "t", "schema": "double"},
   {"@type": "Telemetry", "name": "i", "schema": "integer"},
   {"@type": "Telemetry", "name": "s", "schema": "string"},
   {"@type": "Telemetry", "name": "d", "schema": "dateTime"},
   {"@type": "Telemetry", "name": "u", "schema": "duration"},
   {"@type": "Telemetry", "name": "e", "schema": {"@type": "Enum", "valueSchema": "integer",
      "enumValues": [{"name": "a", "enumValue": 1}]}},
   {"@type": "Telemetry", "name": "o", "schema": {"@type": "Object", "fields": [
      {"name": "x", "schema": {"@type": "Array", "elementSchema": {"@type": "Map",
        "mapKey": {"name": "k", "schema": "string"}, "mapValue": {"name": "v", "schema": "float"}}}}]}},
   {"@type": "Telemetry", "name": "g", "schema": "multiPolygon"},
   {"@type": "Property", "name": "p", "schema": "boolean", "writable": true},
   {"@type": "Component", "name": "c", "schema": "dtmi:fuzz:Part;1"}]},
 {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:fuzz:Part;1", "@type": "Interface",
  "contents": [{"@type": "Telemetry", "name": "t", "schema": "long"}]}
])";

struct Fixture {
  doppel::model::LoadResult result;
  std::unique_ptr<doppel::model::PayloadValidator> validator;
  doppel::model::PayloadScratch scratch;
  Fixture() {
    doppel::model::ModelLoader loader;
    loader.add_text("fuzz-model.json", kModel);
    result = loader.load();
    if (!result.ok()) __builtin_trap();
    validator = std::make_unique<doppel::model::PayloadValidator>(
        *result.registry->find("dtmi:fuzz:Machine;1"));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture f;
  std::string_view json(reinterpret_cast<const char*>(data), size);
  for (auto kind :
       {doppel::model::PayloadKind::kTelemetry, doppel::model::PayloadKind::kProperties}) {
    doppel::model::PayloadResult r = f.validator->validate(json, kind, f.scratch);
    if (!r.ok && (!r.error || r.error->message.empty())) __builtin_trap();
  }
  return 0;
}
