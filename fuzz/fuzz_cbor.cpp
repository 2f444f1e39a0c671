// Any bytes given as a CBOR payload either convert to text that is valid JSON, or fail with a
// message; never crash, hang or read out of bounds.
#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cbor_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string json, error;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (doppel::runtime::cbor_to_json(in, json, error)) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
    if (doc.HasParseError()) std::abort();  // the converter wrote text that is not JSON
  } else if (error.empty()) {
    std::abort();  // a refusal always says why
  }
  return 0;
}
