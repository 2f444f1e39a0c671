// sdk::ConfigNode over a yaml-cpp node: plugins read their `config:` block through it, and
// every node knows "file:line:col path" for located errors.
#pragma once

#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>
#include <vector>

#include "doppel/sdk/config.hpp"

namespace doppel::runtime {

class YamlConfigNode final : public sdk::ConfigNode {
 public:
  // `path` is the node's place in the document ("plugins[1].config"); `missing` builds the
  // placeholder returned for absent keys (its where() is the parent's place).
  YamlConfigNode(const YAML::Node& node, std::string file, std::string path, bool missing = false);

  Type type() const noexcept override { return type_; }
  std::string_view text() const noexcept override { return text_; }
  bool as_bool() const noexcept override;
  std::int64_t as_integer() const noexcept override;
  double as_number() const noexcept override;
  std::size_t size() const noexcept override { return children_.size(); }
  const ConfigNode& at(std::size_t i) const noexcept override { return *children_[i]; }
  std::string_view key_at(std::size_t i) const noexcept override {
    return i < keys_.size() ? std::string_view(keys_[i]) : std::string_view();
  }
  const ConfigNode& get(std::string_view key) const noexcept override;
  std::string where() const override { return where_; }

  // 1-based position, 0 when unknown.
  int line() const { return line_; }
  int column() const { return column_; }
  const std::string& path() const { return path_; }

  // The scalar type YAML's core schema gives a plain scalar.
  static Type scalar_type(const YAML::Node& node);

 private:
  Type type_ = Type::kMissing;
  std::string text_;
  std::string path_;
  std::string where_;
  int line_ = 0, column_ = 0;
  std::vector<std::string> keys_;
  std::vector<std::unique_ptr<YamlConfigNode>> children_;
  std::unique_ptr<YamlConfigNode> missing_;
};

}  // namespace doppel::runtime
