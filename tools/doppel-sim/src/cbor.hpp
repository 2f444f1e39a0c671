// A small CBOR encoder (RFC 8949) for JSON documents: the payloads doppel-sim sends with
// --coap-format cbor (Content-Format 60). Preferred serialization: shortest integer heads,
// floats in the shortest of half/single/double that keeps the value exactly, definite lengths.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace doppel::sim {

// Encodes `value`; maps keep the document's member order (nlohmann::json: sorted).
std::string cbor_encode(const nlohmann::json& value);

// Appends one encoded double (shortest exact float width) to `out`; exposed for tests.
void cbor_append_double(std::string& out, double value);

}  // namespace doppel::sim
