// Topic templates with {twin}, {name} and {correlation} placeholders.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace doppel::sim {

class TopicTemplate {
 public:
  explicit TopicTemplate(std::string text);

  const std::string& text() const { return text_; }

  // Replaces the given placeholders; others stay as they are.
  std::string expand(const std::map<std::string, std::string>& values) const;

  // A subscription filter: the given placeholders replaced, every level that still holds a
  // placeholder becomes '+'.
  std::string filter(const std::map<std::string, std::string>& values) const;

  // Matches a concrete topic; returns the placeholder values, or nullopt.
  std::optional<std::map<std::string, std::string>> match(const std::string& topic) const;

 private:
  struct Piece {
    bool placeholder;
    std::string text;  // literal text or the placeholder's name
  };
  std::string text_;
  std::vector<std::vector<Piece>> levels_;
};

}  // namespace doppel::sim
