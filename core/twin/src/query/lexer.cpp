#include "lexer.hpp"

#include <cerrno>
#include <charconv>
#include <cstdlib>

namespace doppel::twin::query {

namespace {

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}
bool is_ident_char(char c) {
  return is_ident_start(c) || (c >= '0' && c <= '9');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

std::string position_of(std::string_view text, std::size_t pos) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < pos && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

sdk::Expected<std::vector<Token>> tokenize(std::string_view s) {
  std::vector<Token> out;
  std::size_t i = 0;
  auto fail = [&](std::size_t pos, std::string message) -> sdk::Status {
    return sdk::invalid_argument(std::move(message), position_of(s, pos));
  };
  while (i < s.size()) {
    const char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    Token t;
    t.pos = i;
    if (is_ident_start(c)) {
      while (i < s.size() && is_ident_char(s[i]))
        ++i;
      t.kind = TokenKind::kIdent;
      t.text.assign(s.substr(t.pos, i - t.pos));
    } else if (is_digit(c) || (c == '.' && i + 1 < s.size() && is_digit(s[i + 1]))) {
      bool fraction = false;
      while (i < s.size() && is_digit(s[i]))
        ++i;
      // "1..3" (hop ranges) is a number, "..", a number: stop before "..".
      if (i + 1 < s.size() && s[i] == '.' && is_digit(s[i + 1])) {
        fraction = true;
        ++i;
        while (i < s.size() && is_digit(s[i]))
          ++i;
      } else if (i < s.size() && s[i] == '.' && !(i + 1 < s.size() && s[i + 1] == '.')) {
        fraction = true;  // "5." is 5.0
        ++i;
      }
      if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        std::size_t j = i + 1;
        if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
        if (j < s.size() && is_digit(s[j])) {
          fraction = true;
          i = j;
          while (i < s.size() && is_digit(s[i]))
            ++i;
        }
      }
      if (i < s.size() && is_ident_start(s[i]))
        return fail(i, "unexpected '" + std::string(1, s[i]) +
                           "' after a number; separate names from numbers with a space");
      t.kind = TokenKind::kNumber;
      t.text.assign(s.substr(t.pos, i - t.pos));
      t.number = std::strtod(t.text.c_str(), nullptr);
      if (!fraction) {
        auto [p, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), t.integer);
        t.integral = ec == std::errc();  // too large for 64 bits: keep it as a double
      }
    } else if (c == '\'' || c == '"') {
      const char quote = c;
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char d = s[i];
        if (d == quote) {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\') {
          if (i + 1 >= s.size()) break;
          char e = s[i + 1];
          i += 2;
          switch (e) {
            case 'n':
              t.text += '\n';
              break;
            case 't':
              t.text += '\t';
              break;
            case 'r':
              t.text += '\r';
              break;
            case 'u': {
              std::uint32_t cp = 0;
              if (i + 4 > s.size() ||
                  std::from_chars(s.data() + i, s.data() + i + 4, cp, 16).ptr != s.data() + i + 4)
                return fail(i - 2, "bad \\u escape in a string; write four hex digits (\\u00e9)");
              append_utf8(t.text, cp);
              i += 4;
              break;
            }
            default:
              t.text += e;  // \' \" \\ and anything else stand for themselves
          }
          continue;
        }
        t.text += d;
        ++i;
      }
      if (!closed) return fail(t.pos, std::string("unterminated string; close it with ") + quote);
      t.kind = TokenKind::kString;
    } else {
      t.kind = TokenKind::kSymbol;
      auto two = s.substr(i, 2);
      // "<-" is not one token: "T.x <-5" compares with -5; MATCH joins '<' '-' itself.
      if (two == "->" || two == "<=" || two == ">=" || two == "!=" || two == "<>" || two == "..") {
        t.text.assign(two);
        i += 2;
      } else if (std::string_view("()[],.*=<>-:").find(c) != std::string_view::npos) {
        t.text.assign(1, c);
        ++i;
      } else {
        return fail(i, "unexpected character '" + std::string(1, c) + "'");
      }
    }
    t.end = i;
    out.push_back(std::move(t));
  }
  Token end;
  end.pos = end.end = s.size();
  out.push_back(std::move(end));
  return out;
}

}  // namespace doppel::twin::query
