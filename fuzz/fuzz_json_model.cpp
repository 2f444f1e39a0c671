// Any bytes given as a JSON model document must load or fail with diagnostics, never crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "doppel/model/loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  doppel::model::ModelLoader loader;
  loader.add_text("fuzz.json", std::string(reinterpret_cast<const char*>(data), size));
  doppel::model::LoadResult r = loader.load();
  if (!r.ok() && !r.diagnostics.has_errors()) __builtin_trap();  // a failure must say why
  return 0;
}
