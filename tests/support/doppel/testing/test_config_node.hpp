// A map-backed sdk::ConfigNode for tests (the runtime's real one reads the deployment YAML).
#pragma once

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "doppel/sdk/config.hpp"

namespace doppel::testing {

class TestConfigNode final : public sdk::ConfigNode {
 public:
  static std::unique_ptr<TestConfigNode> map() {
    return std::unique_ptr<TestConfigNode>(new TestConfigNode(Type::kMap, ""));
  }
  static std::unique_ptr<TestConfigNode> missing() {
    return std::unique_ptr<TestConfigNode>(new TestConfigNode(Type::kMissing, ""));
  }

  TestConfigNode& set(const std::string& key, Type type, const std::string& text) {
    keys_.push_back(key);
    children_.push_back(std::unique_ptr<TestConfigNode>(new TestConfigNode(type, text)));
    children_.back()->where_ = "test.yaml config." + key;
    return *this;
  }

  Type type() const noexcept override { return type_; }
  std::string_view text() const noexcept override { return text_; }
  bool as_bool() const noexcept override { return text_ == "true"; }
  std::int64_t as_integer() const noexcept override { return std::atoll(text_.c_str()); }
  double as_number() const noexcept override { return std::atof(text_.c_str()); }
  std::size_t size() const noexcept override { return children_.size(); }
  const ConfigNode& at(std::size_t i) const noexcept override { return *children_[i]; }
  std::string_view key_at(std::size_t i) const noexcept override { return keys_[i]; }
  const ConfigNode& get(std::string_view key) const noexcept override {
    for (std::size_t i = 0; i < keys_.size(); ++i)
      if (keys_[i] == key) return *children_[i];
    static const TestConfigNode kMissing(Type::kMissing, "");
    return kMissing;
  }
  std::string where() const override { return where_.empty() ? "test.yaml config" : where_; }

 private:
  TestConfigNode(Type t, std::string text) : type_(t), text_(std::move(text)) {}
  Type type_;
  std::string text_;
  std::string where_;
  std::vector<std::string> keys_;
  std::vector<std::unique_ptr<TestConfigNode>> children_;
};

}  // namespace doppel::testing
