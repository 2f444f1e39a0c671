// Bearer tokens: a file of "<sha256-hex-of-token> <role> [<name>]" lines ('#' comments). Only
// hashes are stored, so the file is no secret by itself; tokens are never logged.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "doppel/api/api_config.hpp"
#include "doppel/sdk/status.hpp"

namespace doppel::api::detail {

struct TokenEntry {
  Role role = Role::kReader;
  std::string name;  // for logs ("" when the line gives none)
};

class TokenTable {
 public:
  // Every malformed line is an error naming file:line.
  static sdk::Expected<TokenTable> load(const std::filesystem::path& file);
  // The entry of a presented (plain) token, or nullopt.
  std::optional<TokenEntry> find(std::string_view token) const;
  std::size_t size() const { return by_hash_.size(); }

 private:
  std::unordered_map<std::string, TokenEntry> by_hash_;  // lower-case hex SHA-256
};

std::string sha256_hex(std::string_view data);

}  // namespace doppel::api::detail
