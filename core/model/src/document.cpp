#include "document.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

namespace doppel::model::detail {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

std::string_view copy_string(std::pmr::memory_resource& arena, std::string_view s) {
  if (s.empty()) return {};
  char* p = static_cast<char*>(arena.allocate(s.size(), 1));
  std::memcpy(p, s.data(), s.size());
  return {p, s.size()};
}

Node* new_node(std::pmr::memory_resource& arena, NodeType type, std::uint32_t offset) {
  Node* n = new (arena.allocate(sizeof(Node), alignof(Node))) Node();
  n->type = type;
  n->offset = offset;
  return n;
}

// Classifies a JSON/YAML number literal; returns false when it is not a number.
bool set_number(Node& n, std::string_view lit) {
  if (lit.empty()) return false;
  bool integral = lit.find_first_of(".eE") == std::string_view::npos;
  std::string_view digits = lit.front() == '+' ? lit.substr(1) : lit;
  if (integral) {
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n.integer);
    if (p != digits.data() + digits.size() && ec == std::errc()) return false;
    n.type = NodeType::kInteger;
    if (ec == std::errc::result_out_of_range)
      n.integer_overflow = true;
    else if (ec != std::errc())
      return false;
  } else {
    n.type = NodeType::kNumber;
  }
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n.number);
  if (ec == std::errc::invalid_argument || p != digits.data() + digits.size()) return false;
  if (n.type == NodeType::kNumber && std::isfinite(n.number) && std::trunc(n.number) == n.number &&
      std::fabs(n.number) < 9.2e18) {
    n.integer = static_cast<std::int64_t>(n.number);
  }
  return true;
}

// RapidJSON SAX handler building Nodes. Token start offsets are found by skipping the
// separators after the previous token, which is exact and cheap.
class JsonBuilder {
 public:
  JsonBuilder(std::pmr::memory_resource& arena, std::string_view text, std::uint32_t base)
      : arena_(arena), text_(text), base_(base) {}

  const Node* root() const { return root_; }

  bool Null() { return add(new_node(arena_, NodeType::kNull, start(4))); }
  bool Bool(bool b) {
    Node* n = new_node(arena_, NodeType::kBool, start(b ? 4 : 5));
    n->boolean = b;
    return add(n);
  }
  bool RawNumber(const char* s, rapidjson::SizeType len, bool) {
    Node* n = new_node(arena_, NodeType::kNumber, start(len));
    n->text = copy_string(arena_, {s, len});
    set_number(*n, n->text);
    return add(n);
  }
  bool String(const char* s, rapidjson::SizeType len, bool) {
    Node* n = new_node(arena_, NodeType::kString, start_string());
    n->text = copy_string(arena_, {s, len});
    return add(n);
  }
  bool Key(const char* s, rapidjson::SizeType len, bool) {
    pending_key_ = copy_string(arena_, {s, len});
    pending_key_offset_ = start_string();
    has_key_ = true;
    return true;
  }
  bool StartObject() { return open(NodeType::kObject); }
  bool EndObject(rapidjson::SizeType) { return close(); }
  bool StartArray() { return open(NodeType::kArray); }
  bool EndArray(rapidjson::SizeType) { return close(); }
  // Unused by RapidJSON with kParseNumbersAsStringsFlag, but required by the concept.
  bool Int(int) { return false; }
  bool Uint(unsigned) { return false; }
  bool Int64(std::int64_t) { return false; }
  bool Uint64(std::uint64_t) { return false; }
  bool Double(double) { return false; }

 private:
  struct Frame {
    Node* node;
    std::size_t first;  // index into items_ or members_
    std::string_view key;
    std::uint32_t key_offset;
  };

  // RapidJSON reports events without positions (and parses strings on a copy of the
  // stream), so a tiny lexer follows the already validated text: skip separators, note the
  // token start, then step over the token.
  std::size_t skip_separators() {
    std::size_t pos = scan_;
    while (pos < text_.size()) {
      char c = text_[pos];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ':')
        ++pos;
      else
        break;
    }
    return pos;
  }
  std::uint32_t start(std::size_t token_length) {
    std::size_t pos = skip_separators();
    scan_ = pos + token_length;
    return static_cast<std::uint32_t>(pos) + base_;
  }
  std::uint32_t start_string() {
    std::size_t pos = skip_separators();
    std::size_t i = pos + 1;
    while (i < text_.size() && text_[i] != '"')
      i += text_[i] == '\\' ? 2 : 1;
    scan_ = i + 1;
    return static_cast<std::uint32_t>(pos) + base_;
  }

  bool add(Node* n) {
    if (stack_.empty()) {
      root_ = n;
    } else if (stack_.back().node->type == NodeType::kArray) {
      items_.push_back(n);
    } else {
      members_.push_back({pending_key_, pending_key_offset_, n});
      has_key_ = false;
    }
    return true;
  }

  bool open(NodeType type) {
    Node* n = new_node(arena_, type, start(1));
    stack_.push_back({n, type == NodeType::kArray ? items_.size() : members_.size(), pending_key_,
                      pending_key_offset_});
    has_key_ = false;
    return true;
  }

  bool close() {
    start(1);
    Frame f = stack_.back();
    stack_.pop_back();
    if (f.node->type == NodeType::kArray) {
      std::size_t count = items_.size() - f.first;
      auto* mem = static_cast<const Node**>(
          arena_.allocate(sizeof(Node*) * std::max<std::size_t>(count, 1), alignof(Node*)));
      std::copy(items_.begin() + static_cast<std::ptrdiff_t>(f.first), items_.end(), mem);
      f.node->items = {mem, count};
      items_.resize(f.first);
    } else {
      std::size_t count = members_.size() - f.first;
      auto* mem = static_cast<Member*>(
          arena_.allocate(sizeof(Member) * std::max<std::size_t>(count, 1), alignof(Member)));
      std::copy(members_.begin() + static_cast<std::ptrdiff_t>(f.first), members_.end(), mem);
      f.node->members = {mem, count};
      members_.resize(f.first);
    }
    pending_key_ = f.key;
    pending_key_offset_ = f.key_offset;
    return add(f.node);
  }

  std::pmr::memory_resource& arena_;
  std::string_view text_;
  std::uint32_t base_;
  std::size_t scan_ = 0;
  const Node* root_ = nullptr;
  std::vector<Frame> stack_;
  std::vector<const Node*> items_;
  std::vector<Member> members_;
  std::string_view pending_key_;
  std::uint32_t pending_key_offset_ = 0;
  bool has_key_ = false;
};

// YAML 1.2 core schema resolution of a plain scalar.
void resolve_plain_scalar(Node& n, std::pmr::memory_resource& arena, const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
    n.type = NodeType::kNull;
    return;
  }
  if (s == "true" || s == "True" || s == "TRUE" || s == "false" || s == "False" || s == "FALSE") {
    n.type = NodeType::kBool;
    n.boolean = s[0] == 't' || s[0] == 'T';
    return;
  }
  auto numeric = [&] {
    std::size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (i >= s.size()) return false;
    bool digits = false, dot = false, exp = false;
    for (; i < s.size(); ++i) {
      char c = s[i];
      if (c >= '0' && c <= '9')
        digits = true;
      else if (c == '.' && !dot && !exp)
        dot = true;
      else if ((c == 'e' || c == 'E') && digits && !exp) {
        exp = true;
        if (i + 1 < s.size() && (s[i + 1] == '-' || s[i + 1] == '+')) ++i;
        digits = false;
      } else
        return false;
    }
    return digits;
  };
  if (numeric()) {
    n.text = copy_string(arena, s);
    if (set_number(n, n.text)) return;
  }
  n.type = NodeType::kString;
  n.text = copy_string(arena, s);
}

const Node* convert_yaml(const YAML::Node& y, std::pmr::memory_resource& arena, std::uint32_t base,
                         Diagnostic& error, SourceFile& file) {
  auto offset = static_cast<std::uint32_t>(std::max(0, y.Mark().pos)) + base;
  switch (y.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return new_node(arena, NodeType::kNull, offset);
    case YAML::NodeType::Scalar: {
      Node* n = new_node(arena, NodeType::kString, offset);
      if (y.Tag() == "!")
        n->text = copy_string(arena, y.Scalar());  // quoted: always a string
      else
        resolve_plain_scalar(*n, arena, y.Scalar());
      return n;
    }
    case YAML::NodeType::Sequence: {
      Node* n = new_node(arena, NodeType::kArray, offset);
      auto* mem = static_cast<const Node**>(
          arena.allocate(sizeof(Node*) * std::max<std::size_t>(y.size(), 1), alignof(Node*)));
      std::size_t i = 0;
      for (const auto& item : y) {
        const Node* c = convert_yaml(item, arena, base, error, file);
        if (!c) return nullptr;
        mem[i++] = c;
      }
      n->items = {mem, i};
      return n;
    }
    case YAML::NodeType::Map: {
      Node* n = new_node(arena, NodeType::kObject, offset);
      auto* mem = static_cast<Member*>(
          arena.allocate(sizeof(Member) * std::max<std::size_t>(y.size(), 1), alignof(Member)));
      std::size_t i = 0;
      for (const auto& kv : y) {
        auto key_offset = static_cast<std::uint32_t>(std::max(0, kv.first.Mark().pos)) + base;
        if (!kv.first.IsScalar()) {
          SourceLocation loc = file.locate(key_offset);
          error = {Severity::kError,
                   "yamlSyntax",
                   "mapping keys must be plain strings",
                   "",
                   "",
                   "",
                   loc};
          return nullptr;
        }
        const Node* c = convert_yaml(kv.second, arena, base, error, file);
        if (!c) return nullptr;
        mem[i++] = {copy_string(arena, kv.first.Scalar()), key_offset, c};
      }
      n->members = {mem, i};
      return n;
    }
  }
  return nullptr;
}

}  // namespace

const Node* Node::find(std::string_view key) const {
  for (const Member& m : members)
    if (m.key == key) return m.value;
  return nullptr;
}

const char* node_type_name(NodeType t) {
  switch (t) {
    case NodeType::kNull:
      return "null";
    case NodeType::kBool:
      return "boolean";
    case NodeType::kInteger:
      return "integer";
    case NodeType::kNumber:
      return "number";
    case NodeType::kString:
      return "string";
    case NodeType::kArray:
      return "array";
    case NodeType::kObject:
      return "object";
  }
  return "?";
}

SourceLocation SourceFile::locate(std::uint32_t offset) {
  if (line_starts.empty()) {
    line_starts.push_back(0);
    const char* begin = text.data();
    const char* end = begin + text.size();
    for (const char* p = begin;
         (p = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p))));) {
      ++p;
      line_starts.push_back(static_cast<std::uint32_t>(p - begin));
    }
  }
  auto it = std::upper_bound(line_starts.begin(), line_starts.end(), offset);
  auto line = static_cast<std::uint32_t>(it - line_starts.begin());
  std::uint32_t col = offset - line_starts[line - 1] + 1;
  if (line == 1 && text.starts_with(kBom) && col > 3) col -= 3;
  return {name, line, col};
}

bool parse_json(SourceFile& file, std::pmr::memory_resource& arena, Diagnostic& error) {
  // RapidJSON's SSE2 whitespace skipping reads whole 16-byte blocks: keep them allocated.
  file.text.reserve(file.text.size() + 16);
  std::string_view text = file.text;
  std::uint32_t base = 0;
  if (text.starts_with(kBom)) {
    text.remove_prefix(kBom.size());
    base = static_cast<std::uint32_t>(kBom.size());
  }
  // RapidJSON needs a NUL-terminated buffer; std::string guarantees one.
  rapidjson::StringStream stream(text.data());
  JsonBuilder builder(arena, text, base);
  rapidjson::Reader reader;
  constexpr unsigned kFlags = rapidjson::kParseNumbersAsStringsFlag |
                              rapidjson::kParseValidateEncodingFlag |
                              rapidjson::kParseStopWhenDoneFlag;
  rapidjson::ParseResult ok = reader.Parse<kFlags>(stream, builder);
  if (ok && stream.Tell() < text.size()) {
    // Only whitespace may follow the document.
    std::size_t pos = stream.Tell();
    while (pos < text.size() &&
           (text[pos] == ' ' || text[pos] == '\n' || text[pos] == '\r' || text[pos] == '\t'))
      ++pos;
    if (pos < text.size() && text[pos] != '\0') {
      error = {Severity::kError,
               "jsonSyntax",
               "unexpected text after the end of the JSON document",
               "remove it, or wrap several documents in a JSON array",
               "",
               "",
               file.locate(static_cast<std::uint32_t>(pos) + base)};
      return false;
    }
  }
  if (!ok) {
    error = {Severity::kError,
             "jsonSyntax",
             std::string("not valid JSON: ") + rapidjson::GetParseError_En(ok.Code()),
             "fix the JSON syntax at this position",
             "",
             "",
             file.locate(static_cast<std::uint32_t>(ok.Offset()) + base)};
    return false;
  }
  file.root = builder.root();
  return true;
}

bool parse_yaml(SourceFile& file, std::pmr::memory_resource& arena, Diagnostic& error) {
  std::string_view text = file.text;
  std::uint32_t base = 0;
  if (text.starts_with(kBom)) {
    text.remove_prefix(kBom.size());
    base = static_cast<std::uint32_t>(kBom.size());
  }
  try {
    YAML::Node doc = YAML::Load(std::string(text));
    const Node* root = convert_yaml(doc, arena, base, error, file);
    if (!root) return false;
    file.root = root;
    return true;
  } catch (const YAML::Exception& e) {
    SourceLocation loc{file.name, static_cast<std::uint32_t>(e.mark.line + 1),
                       static_cast<std::uint32_t>(e.mark.column + 1)};
    if (e.mark.is_null()) loc = {file.name, 0, 0};
    error = {Severity::kError,
             "yamlSyntax",
             "not valid YAML: " + e.msg,
             "fix the YAML syntax at this position",
             "",
             "",
             loc};
    return false;
  }
}

Format format_for_path(std::string_view path) {
  auto ends_with = [&](std::string_view suffix) {
    if (path.size() < suffix.size()) return false;
    return std::equal(suffix.rbegin(), suffix.rend(), path.rbegin(), [](char a, char b) {
      return a == std::tolower(static_cast<unsigned char>(b));
    });
  };
  return ends_with(".yaml") || ends_with(".yml") ? Format::kYaml : Format::kJson;
}

}  // namespace doppel::model::detail
