#include "doppel/model/convert.hpp"

#include <charconv>
#include <cstdio>
#include <memory_resource>

#include "document.hpp"
#include "doppel/model/json_text.hpp"

namespace doppel::model {
namespace {

using detail::Node;
using detail::NodeType;

bool is_json_number(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  if (s[i] == '0' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))
    return false;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])))
    ++i;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])))
      ++i;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])))
      ++i;
  }
  return i == s.size();
}

void write_number(std::string& out, const Node& n) {
  if (is_json_number(n.text)) {
    out += n.text;
    return;
  }
  if (n.type == NodeType::kInteger) {
    out += std::to_string(n.integer);
    return;
  }
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, n.number);
  out.append(buf, p);
}

void write_json(std::string& out, const Node& n, int indent) {
  auto newline = [&](int level) {
    out += '\n';
    out.append(static_cast<std::size_t>(level) * 2, ' ');
  };
  switch (n.type) {
    case NodeType::kNull:
      out += "null";
      break;
    case NodeType::kBool:
      out += n.boolean ? "true" : "false";
      break;
    case NodeType::kInteger:
    case NodeType::kNumber:
      write_number(out, n);
      break;
    case NodeType::kString:
      append_json_string(out, n.text);
      break;
    case NodeType::kArray:
      if (n.items.empty()) {
        out += "[]";
        break;
      }
      out += '[';
      for (std::size_t i = 0; i < n.items.size(); ++i) {
        if (i) out += ',';
        newline(indent + 1);
        write_json(out, *n.items[i], indent + 1);
      }
      newline(indent);
      out += ']';
      break;
    case NodeType::kObject:
      if (n.members.empty()) {
        out += "{}";
        break;
      }
      out += '{';
      for (std::size_t i = 0; i < n.members.size(); ++i) {
        if (i) out += ',';
        newline(indent + 1);
        append_json_string(out, n.members[i].key);
        out += ": ";
        write_json(out, *n.members[i].value, indent + 1);
      }
      newline(indent);
      out += '}';
      break;
  }
}

// A string can be written as a plain YAML scalar when it reads back as the same string.
bool plain_yaml_safe(std::string_view s) {
  if (s.empty() || s.size() > 200) return false;
  static constexpr std::string_view kSpecialFirst = "-?:,[]{}#&*!|>'\"%@`~ ";
  if (kSpecialFirst.find(s.front()) != std::string_view::npos) return false;
  if (s.back() == ' ' || s.back() == ':') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (s[i] == '#' && i > 0 && s[i - 1] == ' ') return false;
    if (s[i] == ':' && (i + 1 == s.size() || s[i + 1] == ' ')) return false;
    if (s[i] == ',' || s[i] == '[' || s[i] == ']' || s[i] == '{' || s[i] == '}') return false;
  }
  // Must not resolve to null, bool or a number.
  static constexpr std::string_view kReserved[] = {
      "~",  "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "yes",
      "no", "on",   "off",  "Yes",  "No",   "On",   "Off",  "YES",   "NO",    "ON",    "OFF"};
  for (std::string_view r : kReserved)
    if (s == r) return false;
  bool numeric = true;
  for (char c : s)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' ||
          c == 'e' || c == 'E' || c == '_'))
      numeric = false;
  if (numeric) return false;
  if (s.starts_with(".") || s.starts_with("0x") || s.starts_with("0o")) return false;
  return true;
}

void write_yaml_scalar(std::string& out, const Node& n) {
  switch (n.type) {
    case NodeType::kNull:
      out += "null";
      break;
    case NodeType::kBool:
      out += n.boolean ? "true" : "false";
      break;
    case NodeType::kInteger:
    case NodeType::kNumber:
      write_number(out, n);
      break;
    case NodeType::kString:
      if (plain_yaml_safe(n.text))
        out += n.text;
      else
        append_json_string(out, n.text);  // JSON escapes are valid YAML double-quoted scalars
      break;
    default:
      break;
  }
}

bool is_scalar(const Node& n) {
  return n.type != NodeType::kArray && n.type != NodeType::kObject;
}
bool is_empty_container(const Node& n) {
  return (n.type == NodeType::kArray && n.items.empty()) ||
         (n.type == NodeType::kObject && n.members.empty());
}

void write_yaml_key(std::string& out, std::string_view key) {
  if (plain_yaml_safe(key))
    out += key;
  else
    append_json_string(out, key);
}

void write_yaml(std::string& out, const Node& n, int indent, bool inline_first);

void write_yaml_value_after_key(std::string& out, const Node& v, int indent) {
  if (is_scalar(v)) {
    out += ' ';
    write_yaml_scalar(out, v);
    out += '\n';
  } else if (is_empty_container(v)) {
    out += v.type == NodeType::kArray ? " []\n" : " {}\n";
  } else {
    out += '\n';
    write_yaml(out, v, v.type == NodeType::kArray ? indent : indent + 1, false);
  }
}

// Block style; `inline_first`: the first line continues after "- ".
void write_yaml(std::string& out, const Node& n, int indent, bool inline_first) {
  std::string pad(static_cast<std::size_t>(indent) * 2, ' ');
  if (n.type == NodeType::kObject) {
    for (std::size_t i = 0; i < n.members.size(); ++i) {
      if (!(inline_first && i == 0)) out += pad;
      write_yaml_key(out, n.members[i].key);
      out += ':';
      write_yaml_value_after_key(out, *n.members[i].value, indent);
    }
  } else if (n.type == NodeType::kArray) {
    for (std::size_t i = 0; i < n.items.size(); ++i) {
      const Node& item = *n.items[i];
      if (!(inline_first && i == 0)) out += pad;
      out += "- ";
      if (is_scalar(item)) {
        write_yaml_scalar(out, item);
        out += '\n';
      } else if (is_empty_container(item)) {
        out += item.type == NodeType::kArray ? "[]\n" : "{}\n";
      } else {
        write_yaml(out, item, indent + 1, true);
      }
    }
  } else {
    out += pad;
    write_yaml_scalar(out, n);
    out += '\n';
  }
}

}  // namespace

std::optional<std::string> convert_document(std::string_view name, std::string_view text,
                                            DocumentFormat from, DocumentFormat to,
                                            Diagnostic& error) {
  std::pmr::monotonic_buffer_resource arena;
  detail::SourceFile file;
  file.name = std::string(name);
  file.text = std::string(text);
  detail::Format fmt = from == DocumentFormat::kJson   ? detail::Format::kJson
                       : from == DocumentFormat::kYaml ? detail::Format::kYaml
                                                       : detail::format_for_path(name);
  bool ok = fmt == detail::Format::kYaml ? detail::parse_yaml(file, arena, error)
                                         : detail::parse_json(file, arena, error);
  if (!ok) return std::nullopt;
  std::string out;
  if (to == DocumentFormat::kYaml) {
    if (is_scalar(*file.root) || is_empty_container(*file.root)) {
      write_json(out, *file.root, 0);
      out += '\n';
    } else {
      write_yaml(out, *file.root, 0, false);
    }
  } else {
    write_json(out, *file.root, 0);
    out += '\n';
  }
  return out;
}

}  // namespace doppel::model
