// Read-only view of a plugin's `config:` block in the deployment file. Implemented by the
// host (it hides yaml-cpp); every node knows where it was written, for located errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace doppel::sdk {

class ConfigNode {
 public:
  enum class Type : std::uint8_t {
    kMissing,
    kNull,
    kBool,
    kInteger,
    kNumber,
    kString,
    kList,
    kMap
  };

  virtual ~ConfigNode() = default;
  virtual Type type() const noexcept = 0;
  bool missing() const noexcept { return type() == Type::kMissing; }

  // Scalars. Integers are also numbers; every scalar has its text.
  virtual std::string_view text() const noexcept = 0;
  virtual bool as_bool() const noexcept = 0;
  virtual std::int64_t as_integer() const noexcept = 0;
  virtual double as_number() const noexcept = 0;

  // Lists and maps. get() returns a node of type kMissing (never null) when the key is absent.
  virtual std::size_t size() const noexcept = 0;
  virtual const ConfigNode& at(std::size_t index) const noexcept = 0;
  virtual std::string_view key_at(std::size_t index) const noexcept = 0;  // maps: the i-th key
  virtual const ConfigNode& get(std::string_view key) const noexcept = 0;

  // Where the node is: "deploy.yaml:14:7 plugins[2].config.qos". For a missing key, the place
  // of the map that lacks it.
  virtual std::string where() const = 0;
};

std::string_view config_type_name(ConfigNode::Type type) noexcept;

// One top-level key of a plugin's config, declared in its descriptor: the host checks types,
// required keys and unknown keys (typos) before the plugin sees the config.
struct ConfigField {
  const char* key;
  ConfigNode::Type type;  // kInteger also accepts nothing else; kNumber accepts integers
  bool required;
  const char* default_value;  // documentation only; may be ""
  const char* description;
};

inline std::string_view config_type_name(ConfigNode::Type type) noexcept {
  switch (type) {
    case ConfigNode::Type::kMissing:
      return "missing";
    case ConfigNode::Type::kNull:
      return "null";
    case ConfigNode::Type::kBool:
      return "boolean";
    case ConfigNode::Type::kInteger:
      return "integer";
    case ConfigNode::Type::kNumber:
      return "number";
    case ConfigNode::Type::kString:
      return "string";
    case ConfigNode::Type::kList:
      return "list";
    case ConfigNode::Type::kMap:
      return "map";
  }
  return "?";
}

}  // namespace doppel::sdk
