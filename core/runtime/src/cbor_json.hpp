// CBOR (RFC 8949) to JSON text, so CBOR payloads go through the same mapping engine as JSON ones.
// Written here rather than taken from libcbor: libcbor builds a tree of heap items per payload,
// while this walks the bytes once and appends JSON text (no allocation besides `out`).
#pragma once

#include <string>
#include <string_view>

namespace doppel::runtime {

// Appends the JSON form of the one CBOR data item in `cbor` to `out`. Maps need text or integer
// keys (integers become their decimal text); byte strings become base64 text; tags are dropped
// (their content is kept); undefined becomes null. Returns false, with `error` naming the byte
// offset and the problem, for malformed or truncated input, trailing bytes, nesting deeper than
// 64, invalid UTF-8, NaN or infinity (JSON has neither), or simple values other than
// false/true/null/undefined.
bool cbor_to_json(std::string_view cbor, std::string& out, std::string& error);

}  // namespace doppel::runtime
