// sdk::ConfigNode over a parsed YAML document: plugins read their `config:` block through it,
// and the deployment parser reads the whole file through it. Every node knows its place
// ("deploy.yaml:14:7 plugins[2].config.qos") for located errors.
//
// Private to core/runtime: yaml-cpp stays in yaml_config_node.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/model/diagnostic.hpp"
#include "doppel/sdk/config.hpp"

namespace doppel::runtime {

class YamlConfigNode;

// A parsed YAML text. Nodes are owned by the document and live as long as it does; hand out
// std::shared_ptr<const sdk::ConfigNode> that alias the document (see node_handle()).
class YamlDocument {
 public:
  // Parses `text`; `file` names it in every where() and diagnostic. On a syntax error returns
  // null and fills `error` (code "yamlSyntax", located at the offending position).
  static std::shared_ptr<const YamlDocument> parse(std::string file, std::string_view text,
                                                   model::Diagnostic& error);
  // A document with no content: its root is a missing node whose where() is `where`.
  static std::shared_ptr<const YamlDocument> empty(std::string where);

  ~YamlDocument();
  YamlDocument(const YamlDocument&) = delete;
  YamlDocument& operator=(const YamlDocument&) = delete;

  const std::string& file() const noexcept { return file_; }
  const YamlConfigNode& root() const noexcept { return *root_; }

 private:
  YamlDocument() = default;
  std::string file_;
  std::unique_ptr<YamlConfigNode> root_;
};

// A node that keeps its document alive.
std::shared_ptr<const sdk::ConfigNode> node_handle(const std::shared_ptr<const YamlDocument>& doc,
                                                   const sdk::ConfigNode& node);

class YamlConfigNode final : public sdk::ConfigNode {
 public:
  Type type() const noexcept override { return type_; }
  std::string_view text() const noexcept override { return text_; }
  bool as_bool() const noexcept override { return boolean_; }
  std::int64_t as_integer() const noexcept override { return integer_; }
  double as_number() const noexcept override { return number_; }
  std::size_t size() const noexcept override { return children_.size(); }
  const ConfigNode& at(std::size_t i) const noexcept override { return child(i); }
  std::string_view key_at(std::size_t i) const noexcept override {
    return i < keys_.size() ? std::string_view(keys_[i].text) : std::string_view();
  }
  // The first child with this key (maps); a missing node placed at this node otherwise.
  const ConfigNode& get(std::string_view key) const noexcept override { return find(key); }
  std::string where() const override;

  const YamlConfigNode& child(std::size_t i) const noexcept {
    return i < children_.size() ? *children_[i] : missing_node();
  }
  const YamlConfigNode& find(std::string_view key) const noexcept;
  // The node returned for absent keys and indexes (a missing node is its own).
  const YamlConfigNode& missing_node() const noexcept { return missing_ ? *missing_ : *this; }

  // Where the node starts (1-based; 0 when unknown). A missing node has its parent's place.
  std::uint32_t line() const noexcept { return line_; }
  std::uint32_t column() const noexcept { return column_; }
  // Where the i-th key of a map is written; keys that are not plain scalars are flagged.
  std::uint32_t key_line(std::size_t i) const noexcept { return keys_[i].line; }
  std::uint32_t key_column(std::size_t i) const noexcept { return keys_[i].column; }
  bool key_is_scalar(std::size_t i) const noexcept { return keys_[i].scalar; }
  // Place in the document: "plugins[2].config.qos"; "" for the root.
  const std::string& path() const noexcept { return path_; }
  const std::string& file() const noexcept { return *file_; }
  // An integer literal too large for 64 bits is typed kNumber and flagged here.
  bool integer_overflow() const noexcept { return overflow_; }

 private:
  friend class YamlDocument;
  friend struct YamlBuilder;
  YamlConfigNode() = default;

  struct Key {
    std::string text;
    std::uint32_t line = 0, column = 0;
    bool scalar = true;
  };

  Type type_ = Type::kMissing;
  bool boolean_ = false;
  bool overflow_ = false;
  std::int64_t integer_ = 0;
  double number_ = 0;
  std::string text_;
  std::string path_;
  const std::string* file_ = nullptr;  // the document's name; the document owns it
  std::uint32_t line_ = 0, column_ = 0;
  std::vector<Key> keys_;  // maps: one per child, in document order (duplicates kept)
  std::vector<std::unique_ptr<YamlConfigNode>> children_;
  std::unique_ptr<YamlConfigNode> missing_;  // returned for absent keys and indexes
};

}  // namespace doppel::runtime
