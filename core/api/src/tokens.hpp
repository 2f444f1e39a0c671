// Bearer tokens: a file of "<sha256-hex-of-token> <role> [<name>] [twins=P,..] [models=M,..]"
// lines ('#' comments). Only hashes are stored, so the file is no secret by itself; tokens are
// never logged. twins= and models= limit a token to some twins (docs/api.md, "Per-twin ACL").
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "doppel/api/api_config.hpp"
#include "doppel/sdk/status.hpp"

namespace doppel::model {
struct Interface;
}

namespace doppel::api::detail {

// Which twins a token may see and act on. Empty lists do not limit; when both are given a twin
// must pass both (an id prefix and a model).
struct Acl {
  std::vector<std::string> prefixes;  // twins=: the twin id starts with one of these
  std::vector<std::string> models;    // models=: the twin's model is one of these or extends it

  bool limited() const { return !prefixes.empty() || !models.empty(); }
  // Whether an id may name a twin in scope (the prefix part only; for twin creation).
  bool allows_id(std::string_view id) const;
  // Whether the twin `id` of model `iface` is in scope (`iface` null: unknown model).
  bool allows(std::string_view id, const model::Interface* iface) const;
  bool allows_model(const model::Interface* iface) const;
  // "twins=line-1-,line-2- models=dtmi:...;1", for problem details.
  std::string describe() const;
};

struct TokenEntry {
  Role role = Role::kReader;
  std::string name;  // for logs ("" when the line gives none)
  Acl acl;
  int line = 0;  // in the tokens file, for messages about the entry
};

class TokenTable {
 public:
  // Every malformed line is an error naming file:line.
  static sdk::Expected<TokenTable> load(const std::filesystem::path& file);
  // The entry of a presented (plain) token, or nullopt.
  std::optional<TokenEntry> find(std::string_view token) const;
  std::size_t size() const { return by_hash_.size(); }
  // Every entry, for checks that need more than the file (the models an ACL names).
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (const auto& [hash, entry] : by_hash_)
      fn(entry);
  }

 private:
  std::unordered_map<std::string, TokenEntry> by_hash_;  // lower-case hex SHA-256
};

std::string sha256_hex(std::string_view data);

}  // namespace doppel::api::detail
