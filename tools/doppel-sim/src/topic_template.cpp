#include "topic_template.hpp"

namespace doppel::sim {

TopicTemplate::TopicTemplate(std::string text) : text_(std::move(text)) {
  std::size_t start = 0;
  while (true) {
    const auto slash = text_.find('/', start);
    const std::string level =
        text_.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    std::vector<Piece> pieces;
    std::size_t pos = 0;
    while (pos < level.size()) {
      const auto open = level.find('{', pos);
      const auto close = open == std::string::npos ? open : level.find('}', open);
      if (open == std::string::npos || close == std::string::npos) {
        pieces.push_back({false, level.substr(pos)});
        break;
      }
      if (open > pos) pieces.push_back({false, level.substr(pos, open - pos)});
      pieces.push_back({true, level.substr(open + 1, close - open - 1)});
      pos = close + 1;
    }
    levels_.push_back(std::move(pieces));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
}

std::string TopicTemplate::expand(const std::map<std::string, std::string>& values) const {
  std::string out;
  for (std::size_t l = 0; l < levels_.size(); ++l) {
    if (l) out += '/';
    for (const auto& p : levels_[l]) {
      if (!p.placeholder) {
        out += p.text;
      } else if (auto it = values.find(p.text); it != values.end()) {
        out += it->second;
      } else {
        out += '{' + p.text + '}';
      }
    }
  }
  return out;
}

std::string TopicTemplate::filter(const std::map<std::string, std::string>& values) const {
  std::string out;
  for (std::size_t l = 0; l < levels_.size(); ++l) {
    if (l) out += '/';
    std::string level;
    bool open = false;
    for (const auto& p : levels_[l]) {
      if (!p.placeholder) {
        level += p.text;
      } else if (auto it = values.find(p.text); it != values.end()) {
        level += it->second;
      } else {
        open = true;
      }
    }
    out += open ? "+" : level;
  }
  return out;
}

namespace {

// Matches one level against its pieces; a placeholder takes as few characters as possible
// before the next literal (levels rarely have more than one placeholder).
bool match_level(const std::string& level, const std::vector<std::pair<bool, std::string>>& ps,
                 std::map<std::string, std::string>& out) {
  std::size_t pos = 0;
  for (std::size_t i = 0; i < ps.size(); ++i) {
    const auto& [placeholder, text] = ps[i];
    if (!placeholder) {
      if (level.compare(pos, text.size(), text) != 0) return false;
      pos += text.size();
      continue;
    }
    std::size_t end = level.size();
    if (i + 1 < ps.size() && !ps[i + 1].first) {
      end = level.find(ps[i + 1].second, pos + 1);
      if (end == std::string::npos) return false;
    }
    if (end <= pos) return false;
    out[text] = level.substr(pos, end - pos);
    pos = end;
  }
  return pos == level.size();
}

}  // namespace

std::optional<std::map<std::string, std::string>> TopicTemplate::match(
    const std::string& topic) const {
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  for (std::size_t l = 0; l < levels_.size(); ++l) {
    if (start > topic.size()) return std::nullopt;
    const auto slash = topic.find('/', start);
    const bool last = l + 1 == levels_.size();
    if (last != (slash == std::string::npos)) return std::nullopt;
    const std::string level =
        topic.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    std::vector<std::pair<bool, std::string>> ps;
    for (const auto& p : levels_[l])
      ps.emplace_back(p.placeholder, p.text);
    if (!match_level(level, ps, out)) return std::nullopt;
    start = slash == std::string::npos ? topic.size() + 1 : slash + 1;
  }
  return out;
}

}  // namespace doppel::sim
