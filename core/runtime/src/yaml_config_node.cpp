#include "yaml_config_node.hpp"

#include <charconv>
#include <cstdlib>

namespace doppel::runtime {

namespace {

bool is_int(const std::string& s) {
  std::size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i >= s.size()) return false;
  for (; i < s.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

bool is_float(const std::string& s) {
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end && *end == '\0' && s.find_first_of("0123456789") != std::string::npos &&
         s.find_first_not_of("0123456789+-.eE") == std::string::npos;
}

}  // namespace

sdk::ConfigNode::Type YamlConfigNode::scalar_type(const YAML::Node& node) {
  if (node.Tag() == "!") return Type::kString;  // quoted
  const std::string& s = node.Scalar();
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return Type::kNull;
  if (s == "true" || s == "True" || s == "TRUE" || s == "false" || s == "False" || s == "FALSE")
    return Type::kBool;
  if (is_int(s)) return Type::kInteger;
  if (is_float(s)) return Type::kNumber;
  return Type::kString;
}

YamlConfigNode::YamlConfigNode(const YAML::Node& node, std::string file, std::string path,
                               bool missing)
    : path_(std::move(path)) {
  if (!missing && node.IsDefined()) {
    line_ = node.Mark().line + 1;
    column_ = node.Mark().column + 1;
  }
  where_ = file + (line_ ? ":" + std::to_string(line_) + ":" + std::to_string(column_) : "") +
           (path_.empty() ? "" : " " + path_);
  if (missing || !node.IsDefined()) {
    type_ = Type::kMissing;
    return;
  }
  switch (node.Type()) {
    case YAML::NodeType::Null:
      type_ = Type::kNull;
      break;
    case YAML::NodeType::Scalar:
      type_ = scalar_type(node);
      text_ = node.Scalar();
      break;
    case YAML::NodeType::Sequence: {
      type_ = Type::kList;
      std::size_t i = 0;
      for (const YAML::Node& item : node)
        children_.push_back(
            std::make_unique<YamlConfigNode>(item, file, path_ + "[" + std::to_string(i++) + "]"));
      break;
    }
    case YAML::NodeType::Map:
      type_ = Type::kMap;
      for (const auto& kv : node) {
        std::string key = kv.first.Scalar();
        keys_.push_back(key);
        children_.push_back(std::make_unique<YamlConfigNode>(
            kv.second, file, path_.empty() ? key : path_ + "." + key));
      }
      break;
    default:
      type_ = Type::kMissing;
  }
  // Absent keys report the place of this map.
  missing_.reset(new YamlConfigNode(YAML::Node(), "", path_, true));
  missing_->where_ = where_;
  missing_->line_ = line_;
  missing_->column_ = column_;
}

bool YamlConfigNode::as_bool() const noexcept {
  return !text_.empty() && (text_[0] == 't' || text_[0] == 'T');
}

std::int64_t YamlConfigNode::as_integer() const noexcept {
  std::int64_t v = 0;
  std::from_chars(text_.data() + (text_.starts_with('+') ? 1 : 0), text_.data() + text_.size(), v);
  return v;
}

double YamlConfigNode::as_number() const noexcept {
  return std::strtod(text_.c_str(), nullptr);
}

const sdk::ConfigNode& YamlConfigNode::get(std::string_view key) const noexcept {
  for (std::size_t i = 0; i < keys_.size(); ++i)
    if (keys_[i] == key) return *children_[i];
  return *missing_;
}

}  // namespace doppel::runtime
