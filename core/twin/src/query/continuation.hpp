// Continuation tokens: where the next page starts. Rows are ordered by their key (the ids of
// the twins and relationships they bind), so a token holds the last key returned and the next
// page starts strictly after it. Rows added or removed meanwhile neither shift nor repeat the
// others, as an offset would. The token also carries how many rows were returned (for TOP) and
// a hash of the query text, so a token cannot resume a different query.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/sdk/status.hpp"

namespace doppel::twin::query {

struct Cursor {
  std::uint64_t query_hash = 0;
  std::int64_t returned = 0;
  std::vector<std::string> last_key;
};

std::string encode_cursor(const Cursor& cursor);
sdk::Expected<Cursor> decode_cursor(std::string_view token);

}  // namespace doppel::twin::query
