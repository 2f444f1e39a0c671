#include "continuation.hpp"

#include <charconv>

namespace doppel::twin::query {

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t v = (static_cast<unsigned char>(in[i]) << 16) |
                      (static_cast<unsigned char>(in[i + 1]) << 8) |
                      static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    std::uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    if (i + 1 < in.size()) out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

bool unbase64url(std::string_view in, std::string& out) {
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    std::size_t v = kAlphabet.find(c);
    if (v == std::string_view::npos) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return true;
}

// Reads "<number><sep>" from `s`, advancing it.
template <typename T>
bool read_number(std::string_view& s, char sep, T& out, int base = 10) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  if (ec != std::errc() || p == s.data() + s.size() || *p != sep) return false;
  s.remove_prefix(static_cast<std::size_t>(p - s.data()) + 1);
  return true;
}

}  // namespace

std::string encode_cursor(const Cursor& c) {
  // v1;<hash hex>;<returned>;<parts>;<len>:<bytes>...
  char hash[17];
  auto [p, ec] = std::to_chars(hash, hash + sizeof hash, c.query_hash, 16);
  std::string raw = "v1;";
  raw.append(hash, p);
  raw += ';' + std::to_string(c.returned) + ';' + std::to_string(c.last_key.size()) + ';';
  for (const std::string& part : c.last_key) {
    raw += std::to_string(part.size()) + ':';
    raw += part;
  }
  return base64url(raw);
}

sdk::Expected<Cursor> decode_cursor(std::string_view token) {
  auto bad = [] {
    return sdk::invalid_argument(
        "the continuation token is not valid; pass the token of the previous page unchanged, or "
        "none to start again");
  };
  std::string raw;
  if (token.size() > 1 << 20 || !unbase64url(token, raw)) return bad();
  std::string_view s = raw;
  if (s.substr(0, 3) != "v1;") return bad();
  s.remove_prefix(3);
  Cursor c;
  std::size_t parts = 0;
  if (!read_number(s, ';', c.query_hash, 16) || !read_number(s, ';', c.returned) ||
      !read_number(s, ';', parts) || c.returned < 0 || parts > 64)
    return bad();
  for (std::size_t i = 0; i < parts; ++i) {
    std::size_t len = 0;
    if (!read_number(s, ':', len) || len > s.size()) return bad();
    c.last_key.emplace_back(s.substr(0, len));
    s.remove_prefix(len);
  }
  if (!s.empty()) return bad();
  return c;
}

}  // namespace doppel::twin::query
