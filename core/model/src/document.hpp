// A small read-only document tree shared by the JSON and YAML readers: every node keeps the
// byte offset where it starts, so any finding can be reported as file:line:col.
#pragma once

#include <cstdint>
#include <memory_resource>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/model/diagnostic.hpp"

namespace doppel::model::detail {

enum class NodeType : std::uint8_t { kNull, kBool, kInteger, kNumber, kString, kArray, kObject };

struct Node;

struct Member {
  std::string_view key;
  std::uint32_t key_offset;
  const Node* value;
};

struct Node {
  NodeType type = NodeType::kNull;
  bool boolean = false;
  std::uint32_t offset = 0;
  std::int64_t integer = 0;       // kInteger (when it fits), also set for kNumber when integral
  double number = 0;              // kInteger and kNumber
  bool integer_overflow = false;  // kInteger that does not fit in int64
  std::string_view text;          // kString value; the literal text of numbers
  std::span<const Node* const> items;  // kArray
  std::span<const Member> members;     // kObject

  bool is_object() const { return type == NodeType::kObject; }
  bool is_array() const { return type == NodeType::kArray; }
  bool is_string() const { return type == NodeType::kString; }
  const Node* find(std::string_view key) const;
};

const char* node_type_name(NodeType t);

enum class Format : std::uint8_t { kJson, kYaml };

// A source file and its parsed tree. Nodes live in the arena owned by the caller.
struct SourceFile {
  std::string name;
  std::string text;
  Format format = Format::kJson;
  const Node* root = nullptr;
  std::vector<std::uint32_t> line_starts;  // filled lazily by locate()

  SourceLocation locate(std::uint32_t offset);
};

// Parses `file.text` into `file.root`. On a syntax error returns false and fills `error`
// with a located diagnostic.
bool parse_json(SourceFile& file, std::pmr::memory_resource& arena, Diagnostic& error);
bool parse_yaml(SourceFile& file, std::pmr::memory_resource& arena, Diagnostic& error);

// Picks the reader by extension (.yaml/.yml -> YAML, anything else JSON).
Format format_for_path(std::string_view path);

}  // namespace doppel::model::detail
