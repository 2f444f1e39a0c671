// JSON string literals: the SDK's escaper (doppel/sdk/json.hpp), under the model's namespace
// for the core's code.
#pragma once

#include "doppel/sdk/json.hpp"

namespace doppel::model {

using sdk::append_json_string;
using sdk::json_string;

}  // namespace doppel::model
