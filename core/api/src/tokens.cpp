#include "tokens.hpp"

#include <openssl/evp.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "doppel/model/registry.hpp"

namespace doppel::api::detail {

bool Acl::allows_id(std::string_view id) const {
  if (prefixes.empty()) return true;
  for (const auto& p : prefixes)
    if (id.substr(0, p.size()) == p) return true;
  return false;
}

bool Acl::allows_model(const model::Interface* iface) const {
  if (models.empty()) return true;
  if (iface == nullptr) return false;
  for (const auto& m : models)
    if (iface->is_a(m)) return true;
  return false;
}

bool Acl::allows(std::string_view id, const model::Interface* iface) const {
  return allows_id(id) && allows_model(iface);
}

std::string Acl::describe() const {
  std::string out;
  auto list = [&](const char* key, const std::vector<std::string>& items) {
    if (items.empty()) return;
    if (!out.empty()) out += ' ';
    out += key;
    for (std::size_t i = 0; i < items.size(); ++i)
      out += (i ? "," : "") + items[i];
  };
  list("twins=", prefixes);
  list("models=", models);
  return out;
}

namespace {

std::vector<std::string> split_commas(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    out.emplace_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace

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
    std::string hex, role, word, name;
    if (!(fields >> hex)) continue;  // blank or comment
    fields >> role;
    std::string where = file.string() + ":" + std::to_string(n);
    auto fail = [&](const std::string& m) {
      errors += (errors.empty() ? "" : "\n") + where + ": " + m;
    };
    // The rest: the name (words joined by one space) and the ACL fields, in any order.
    Acl acl;
    bool acl_ok = true;
    while (fields >> word) {
      std::vector<std::string>* list = nullptr;
      std::string_view w = word;
      if (w.substr(0, 6) == "twins=") {
        list = &acl.prefixes;
        w.remove_prefix(6);
      } else if (w.substr(0, 7) == "models=") {
        list = &acl.models;
        w.remove_prefix(7);
      } else {
        if (word.find('=') != std::string::npos) {
          fail("unknown field '" + word.substr(0, word.find('=') + 1) +
               "' (an ACL is twins=<id prefix>,... and/or models=<dtmi>,...)");
          acl_ok = false;
        }
        name += (name.empty() ? "" : " ") + word;
        continue;
      }
      if (!list->empty()) {
        fail("'" + word.substr(0, word.find('=') + 1) +
             "' is given twice; list every value once, separated by commas");
        acl_ok = false;
        continue;
      }
      for (auto& item : split_commas(w)) {
        if (item.empty()) {
          fail("'" + word + "' has an empty value (write twins=line-1-,line-2-)");
          acl_ok = false;
          break;
        }
        if (list == &acl.models && item.rfind("dtmi:", 0) != 0) {
          fail("models= takes DTMIs (dtmi:...;1), not '" + item + "'");
          acl_ok = false;
          break;
        }
        list->push_back(std::move(item));
      }
    }
    if (!acl_ok) continue;
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
    e.acl = std::move(acl);
    e.line = n;
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
