// Tokens of the query language. Keywords are identifiers compared case-insensitively by the
// parser, so a property may be called "count" or "top".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/sdk/status.hpp"

namespace doppel::twin::query {

enum class TokenKind : std::uint8_t { kEnd, kIdent, kString, kNumber, kSymbol };

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;  // identifier as written, unescaped string, number text, or symbol
  std::size_t pos = 0;
  std::size_t end = 0;    // one past the last character
  bool integral = false;  // kNumber without fraction or exponent
  std::int64_t integer = 0;
  double number = 0;
};

// "line 1, column 35" for an offset into `text`.
std::string position_of(std::string_view text, std::size_t pos);

// Splits a query into tokens; the last one is kEnd. Fails on an unterminated string or a
// character the language does not use.
sdk::Expected<std::vector<Token>> tokenize(std::string_view text);

// Case-insensitive ASCII comparison, for keywords and function names.
bool iequals(std::string_view a, std::string_view b);

}  // namespace doppel::twin::query
