#include "doppel/model/dtmi.hpp"

namespace doppel::model {
namespace {

bool is_alpha(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_word(char c) {
  return is_alpha(c) || is_digit(c) || c == '_';
}

// A segment: letters, digits and underscores; not starting with a digit, not ending with '_'.
bool valid_segment(std::string_view s) {
  if (s.empty() || is_digit(s.front()) || s.back() == '_') return false;
  for (char c : s)
    if (!is_word(c)) return false;
  return true;
}

// 1..max_digits digits without a leading zero.
bool parse_version_part(std::string_view s, std::size_t max_digits, std::uint32_t& out) {
  if (s.empty() || s.size() > max_digits || s.front() == '0') return false;
  std::uint32_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::optional<DtmiParts> parse_dtmi(std::string_view text) {
  constexpr std::string_view kScheme = "dtmi:";
  if (text.size() > 4096 || !text.starts_with(kScheme)) return std::nullopt;
  std::string_view rest = text.substr(kScheme.size());
  DtmiParts parts;

  if (auto hash = rest.find('#'); hash != std::string_view::npos) {
    parts.fragment = rest.substr(hash);
    rest = rest.substr(0, hash);
    std::string_view frag = parts.fragment.substr(1);
    if (!frag.empty()) {
      if (!valid_segment(frag)) return std::nullopt;
      if (frag.front() == '_') parts.reserved = true;
    }
  }
  if (auto semi = rest.find(';'); semi != std::string_view::npos) {
    std::string_view version = rest.substr(semi + 1);
    rest = rest.substr(0, semi);
    parts.has_version = true;
    if (auto dot = version.find('.'); dot != std::string_view::npos) {
      if (!parse_version_part(version.substr(0, dot), 9, parts.major_version) ||
          !parse_version_part(version.substr(dot + 1), 6, parts.minor_version))
        return std::nullopt;
    } else if (!parse_version_part(version, 9, parts.major_version)) {
      return std::nullopt;
    }
  }
  std::size_t start = 0;
  while (true) {
    std::size_t colon = rest.find(':', start);
    std::string_view seg =
        rest.substr(start, colon == std::string_view::npos ? rest.npos : colon - start);
    if (!valid_segment(seg)) return std::nullopt;
    if (seg.front() == '_') parts.reserved = true;
    parts.labels.push_back(seg);
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  return parts;
}

std::string versionless_dtmi(std::string_view text) {
  auto semi = text.find(';');
  if (semi == std::string_view::npos) return std::string(text);
  auto hash = text.find('#', semi);
  std::string out(text.substr(0, semi));
  if (hash != std::string_view::npos) out += text.substr(hash);
  return out;
}

}  // namespace doppel::model
