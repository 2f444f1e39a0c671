#include "tokens.hpp"

#include <openssl/evp.h>

#include <fstream>
#include <sstream>

namespace doppel::api::detail {

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

sdk::Expected<TokenTable> TokenTable::load(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in)
    return sdk::Status(sdk::StatusCode::kNotFound,
                       "cannot read the API tokens file " + file.string(), file.string());
  TokenTable table;
  std::string errors;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream fields(line);
    std::string hex, role, name;
    if (!(fields >> hex)) continue;  // blank or comment
    fields >> role;
    std::getline(fields >> std::ws, name);
    std::string where = file.string() + ":" + std::to_string(n);
    auto fail = [&](const std::string& m) {
      errors += (errors.empty() ? "" : "\n") + where + ": " + m;
    };
    for (char& ch : hex)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
      fail(
          "expected the SHA-256 of a token as 64 hex digits (e.g. printf %s TOKEN | sha256sum), "
          "not a plain token");
      continue;
    }
    TokenEntry e;
    e.name = name;
    if (role == "reader")
      e.role = Role::kReader;
    else if (role == "operator")
      e.role = Role::kOperator;
    else if (role == "admin")
      e.role = Role::kAdmin;
    else {
      fail("role must be reader, operator or admin, not '" + role + "'");
      continue;
    }
    if (!table.by_hash_.emplace(hex, std::move(e)).second)
      fail("the same token hash is listed twice");
  }
  if (!errors.empty()) return sdk::invalid_argument(errors, file.string());
  return table;
}

std::optional<TokenEntry> TokenTable::find(std::string_view token) const {
  if (token.empty()) return std::nullopt;
  auto it = by_hash_.find(sha256_hex(token));
  if (it == by_hash_.end()) return std::nullopt;
  return it->second;
}

}  // namespace doppel::api::detail
