// Evaluation of WHERE expressions and projected paths against bound twins and relationships.
// Logic is three-valued as in ADT (Cosmos DB): a missing property makes a comparison
// undefined, NOT keeps it undefined, and WHERE keeps only rows that are true.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ast.hpp"
#include "doppel/twin/twin_graph.hpp"

namespace doppel::twin::query {

enum class Tri : std::uint8_t { kFalse, kTrue, kUndefined };

// A value met during evaluation. Strings view the twin's memory (valid while the twin is read)
// or `owned` (for unescaped JSON strings and computed ids).
struct Operand {
  enum class Kind : std::uint8_t {
    kUndefined,
    kNull,
    kBool,
    kInt,
    kDouble,
    kString,
    kJson,       // an object or array, as JSON text
    kComponent,  // a twin's component (projections only)
  };
  Kind kind = Kind::kUndefined;
  bool b = false;
  std::int64_t i = 0;
  double d = 0;
  std::string_view s;
  std::string owned;
  const TwinView* twin = nullptr;  // kComponent: whose component `s` names

  bool is_number() const { return kind == Kind::kInt || kind == Kind::kDouble; }
  double number() const { return kind == Kind::kInt ? static_cast<double>(i) : d; }
  void set(const Value& v);
  void set_owned(std::string text, Kind k = Kind::kString);
};

// A relationship bound in a row; `source` is the id of the twin it leaves.
struct BoundRelationship {
  const Relationship* relationship = nullptr;
  std::string_view source;
};

// What a row has bound so far, indexed like Ast::bindings.
struct Env {
  std::vector<const TwinView*> twins;
  std::vector<BoundRelationship> relationships;
};

// Per-run caches, indexed by Expr::cache: a path's resolution and IS_OF_MODEL's answer for the
// last few layouts seen (a scan meets a handful of models, interleaved).
class Evaluator {
 public:
  explicit Evaluator(const Ast& ast) : caches_(static_cast<std::size_t>(ast.cache_slots)) {}

  Tri test(const Expr& e, const Env& env);
  void value(const Expr& e, const Env& env, Operand& out);
  // Tests every conjunct; stops at the first that is not true.
  bool all(const std::vector<const Expr*>& conjuncts, const Env& env);

 private:
  enum class PathKind : std::uint8_t {
    kUndefined,
    kDtId,
    kEtag,
    kModel,
    kStale,
    kValue,  // slot's reported value, then JSON members from `json_from`
    kSyncStatus,
    kDesiredValue,
    kDesiredVersion,
    kLastUpdateTime,
    kComponent,
  };
  struct Resolved {
    PathKind kind = PathKind::kUndefined;
    int slot = -1;
    std::size_t json_from = 0;
  };
  struct Entry {
    const TwinLayout* layout = nullptr;
    Resolved resolved;
    bool is_of_model = false;
  };
  struct Cache {
    static constexpr std::size_t kWays = 4;
    Entry entries[kWays];
    std::size_t next = 0;  // round-robin replacement
    // The entry for `layout`; `fresh` tells whether the caller must fill it.
    Entry& find(const TwinLayout* layout, bool& fresh) {
      for (Entry& e : entries)
        if (e.layout == layout) {
          fresh = false;
          return e;
        }
      Entry& e = entries[next];
      next = (next + 1) % kWays;
      e.layout = layout;
      fresh = true;
      return e;
    }
  };

  void twin_path(const Expr& e, const TwinView& twin, Operand& out);
  void relationship_path(const Expr& e, const BoundRelationship& r, Operand& out);
  static Resolved resolve(const TwinLayout& layout, const std::vector<std::string>& segments);
  Tri call(const Expr& e, const Env& env);

  std::vector<Cache> caches_;
};

Tri compare(const Operand& a, const Operand& b, CmpOp op);

// The member `key` of a JSON object text, as JSON text; empty when absent or not an object.
std::string_view json_member(std::string_view json, std::string_view key);
// Turns JSON value text into an operand (strings unescaped into `owned`).
void json_to_operand(std::string_view json, Operand& out);

}  // namespace doppel::twin::query
