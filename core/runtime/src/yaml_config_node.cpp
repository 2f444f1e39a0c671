#include "yaml_config_node.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <limits>

namespace doppel::runtime {

namespace {

using Type = sdk::ConfigNode::Type;

bool all_of(std::string_view s, bool (*pred)(char)) {
  if (s.empty()) return false;
  for (char c : s)
    if (!pred(c)) return false;
  return true;
}
bool is_dec(char c) {
  return c >= '0' && c <= '9';
}
bool is_oct(char c) {
  return c >= '0' && c <= '7';
}
bool is_hex(char c) {
  return is_dec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
bool is_float_literal(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  std::size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && is_dec(s[i]))
    ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_dec(s[i]))
      ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (!all_of(s.substr(i), is_dec)) return false;
    i = s.size();
  }
  return i == s.size();
}

}  // namespace

// Builds nodes from yaml-cpp, resolving plain scalars with YAML 1.2's core schema (the same
// rules as the model loader): quoted scalars are always strings.
struct YamlBuilder {
  const std::string* file;

  std::unique_ptr<YamlConfigNode> missing_at(const YamlConfigNode& parent) {
    std::unique_ptr<YamlConfigNode> m(new YamlConfigNode());
    m->type_ = Type::kMissing;
    m->file_ = file;
    m->path_ = parent.path_;
    m->line_ = parent.line_;
    m->column_ = parent.column_;
    return m;
  }

  static void resolve_scalar(YamlConfigNode& n, const YAML::Node& y) {
    n.text_ = y.Scalar();
    const std::string& tag = y.Tag();
    if (tag == "!" || tag == "tag:yaml.org,2002:str") {
      n.type_ = Type::kString;
      return;
    }
    std::string_view s = n.text_;
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
      n.type_ = Type::kNull;
      return;
    }
    if (s == "true" || s == "True" || s == "TRUE" || s == "false" || s == "False" || s == "FALSE") {
      n.type_ = Type::kBool;
      n.boolean_ = s[0] == 't' || s[0] == 'T';
      return;
    }
    // Integers: decimal with an optional sign, 0o octal, 0x hexadecimal.
    int base = 0;
    std::string_view digits = s;
    bool negative = false;
    if (s.size() > 2 && s[0] == '0' && s[1] == 'o' && all_of(s.substr(2), is_oct)) {
      base = 8, digits = s.substr(2);
    } else if (s.size() > 2 && s[0] == '0' && s[1] == 'x' && all_of(s.substr(2), is_hex)) {
      base = 16, digits = s.substr(2);
    } else {
      std::string_view d = s;
      if (d[0] == '-' || d[0] == '+') negative = d[0] == '-', d.remove_prefix(1);
      if (all_of(d, is_dec)) base = 10, digits = d;
    }
    if (base) {
      std::uint64_t magnitude = 0;
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
      constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
      if (ec == std::errc() && p == digits.data() + digits.size() &&
          magnitude <= kMax + (negative ? 1 : 0)) {
        n.type_ = Type::kInteger;
        n.integer_ = negative ? static_cast<std::int64_t>(0 - magnitude)
                              : static_cast<std::int64_t>(magnitude);
        n.number_ = static_cast<double>(n.integer_);
        return;
      }
      // Too large for 64 bits: a number, flagged so that integer fields can refuse it.
      n.type_ = Type::kNumber;
      n.overflow_ = true;
      n.number_ = std::strtod(n.text_.c_str(), nullptr);
      return;
    }
    std::string_view t = s;
    bool neg = false;
    if (!t.empty() && (t[0] == '-' || t[0] == '+')) neg = t[0] == '-', t.remove_prefix(1);
    if (t == ".inf" || t == ".Inf" || t == ".INF") {
      n.type_ = Type::kNumber;
      n.number_ =
          neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
      return;
    }
    if (s == ".nan" || s == ".NaN" || s == ".NAN") {
      n.type_ = Type::kNumber;
      n.number_ = std::numeric_limits<double>::quiet_NaN();
      return;
    }
    if (is_float_literal(s)) {
      n.type_ = Type::kNumber;
      n.number_ = std::strtod(n.text_.c_str(), nullptr);
      return;
    }
    n.type_ = Type::kString;
  }

  std::unique_ptr<YamlConfigNode> build(const YAML::Node& y, std::string path, std::uint32_t line,
                                        std::uint32_t column) {
    std::unique_ptr<YamlConfigNode> n(new YamlConfigNode());
    n->file_ = file;
    n->path_ = std::move(path);
    n->line_ = line;
    n->column_ = column;
    switch (y.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        n->type_ = Type::kNull;
        break;
      case YAML::NodeType::Scalar:
        resolve_scalar(*n, y);
        break;
      case YAML::NodeType::Sequence: {
        n->type_ = Type::kList;
        n->children_.reserve(y.size());
        std::size_t i = 0;
        for (const YAML::Node& item : y) {
          n->children_.push_back(build(item, n->path_ + "[" + std::to_string(i++) + "]",
                                       mark_line(item), mark_column(item)));
        }
        break;
      }
      case YAML::NodeType::Map: {
        n->type_ = Type::kMap;
        n->children_.reserve(y.size());
        n->keys_.reserve(y.size());
        for (const auto& kv : y) {
          YamlConfigNode::Key key;
          key.scalar = kv.first.IsScalar();
          key.text = key.scalar ? kv.first.Scalar() : std::string();
          key.line = mark_line(kv.first);
          key.column = mark_column(kv.first);
          // An empty value (`key:` then a new line) is marked where the next token starts;
          // place it at its key instead.
          std::uint32_t vline = mark_line(kv.second), vcolumn = mark_column(kv.second);
          if (kv.second.IsNull() && (vline != key.line || vline == 0))
            vline = key.line, vcolumn = key.column;
          std::string child_path = n->path_.empty() ? key.text : n->path_ + "." + key.text;
          n->children_.push_back(build(kv.second, std::move(child_path), vline, vcolumn));
          n->keys_.push_back(std::move(key));
        }
        break;
      }
    }
    n->missing_ = missing_at(*n);
    return n;
  }

  static std::uint32_t mark_line(const YAML::Node& y) {
    return y.Mark().is_null() ? 0 : static_cast<std::uint32_t>(y.Mark().line + 1);
  }
  static std::uint32_t mark_column(const YAML::Node& y) {
    return y.Mark().is_null() ? 0 : static_cast<std::uint32_t>(y.Mark().column + 1);
  }
};

YamlDocument::~YamlDocument() = default;

std::shared_ptr<const YamlDocument> YamlDocument::parse(std::string file, std::string_view text,
                                                        model::Diagnostic& error) {
  std::shared_ptr<YamlDocument> doc(new YamlDocument());
  doc->file_ = std::move(file);
  YAML::Node y;
  try {
    y = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    error = {};
    error.code = "yamlSyntax";
    error.message = "not valid YAML: " + e.msg;
    error.hint = "fix the YAML syntax at this position";
    error.location.file = doc->file_;
    if (!e.mark.is_null()) {
      error.location.line = static_cast<std::uint32_t>(e.mark.line + 1);
      error.location.column = static_cast<std::uint32_t>(e.mark.column + 1);
    }
    return nullptr;
  }
  YamlBuilder builder{&doc->file_};
  std::uint32_t line = YamlBuilder::mark_line(y), column = YamlBuilder::mark_column(y);
  if (line == 0) line = 1, column = 1;
  doc->root_ = builder.build(y, "", line, column);
  return doc;
}

std::shared_ptr<const YamlDocument> YamlDocument::empty(std::string where) {
  std::shared_ptr<YamlDocument> doc(new YamlDocument());
  doc->file_ = std::move(where);
  doc->root_.reset(new YamlConfigNode());
  doc->root_->file_ = &doc->file_;
  YamlBuilder builder{&doc->file_};
  doc->root_->missing_ = builder.missing_at(*doc->root_);
  return doc;
}

std::shared_ptr<const sdk::ConfigNode> node_handle(const std::shared_ptr<const YamlDocument>& doc,
                                                   const sdk::ConfigNode& node) {
  return std::shared_ptr<const sdk::ConfigNode>(doc, &node);
}

const YamlConfigNode& YamlConfigNode::find(std::string_view key) const noexcept {
  for (std::size_t i = 0; i < keys_.size(); ++i)
    if (keys_[i].scalar && keys_[i].text == key) return *children_[i];
  return missing_node();
}

std::string YamlConfigNode::where() const {
  std::string out = file_ ? *file_ : std::string();
  if (line_) {
    out += ':' + std::to_string(line_);
    if (column_) out += ':' + std::to_string(column_);
  }
  if (!path_.empty()) {
    if (!out.empty()) out += ' ';
    out += path_;
  }
  return out;
}

}  // namespace doppel::runtime
