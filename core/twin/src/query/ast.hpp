// The parsed form of a query. Built once by the parser (which also resolves aliases and checks
// what can be checked without models), then shared read-only by any number of runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "doppel/twin/value.hpp"

namespace doppel::twin::query {

enum class CmpOp : std::uint8_t { kEq, kNe, kLt, kLe, kGt, kGe };

enum class Func : std::uint8_t {
  kIsOfModel,
  kIsDefined,
  kIsNull,
  kIsNumber,
  kIsString,
  kIsBool,
  kIsObject,
  kStartsWith,
  kEndsWith,
  kContains,
};

enum class ExprKind : std::uint8_t {
  kLiteral,  // literal
  kPath,     // binding + segments ("T.bearing.temperature": binding T, {bearing, temperature})
  kCompare,  // args[0] op args[1]
  kIn,       // args[0] [NOT] IN (args[1..]), every list element a literal
  kAnd,      // args...
  kOr,       // args...
  kNot,      // args[0]
  kCall,     // func(args...); IS_OF_MODEL keeps its binding, model and exact flag here
};

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  std::size_t pos = 0;  // offset in the query text, for messages

  Value literal;  // kLiteral

  // kPath; kCall IS_OF_MODEL (the twin it tests)
  std::string alias;  // as written; empty when the collection has no alias
  int binding = -1;
  std::vector<std::string> segments;
  int cache = -1;  // per-run cache slot (path resolution, model test), assigned by the parser

  CmpOp op = CmpOp::kEq;  // kCompare
  bool negated = false;   // kIn: NOT IN
  Func func = Func::kIsDefined;
  std::string model;   // IS_OF_MODEL
  bool exact = false;  // IS_OF_MODEL(T, '...', exact)
  std::size_t model_pos = 0;

  std::vector<std::unique_ptr<Expr>> args;
};

enum class BindingKind : std::uint8_t { kTwin, kRelationship };

// Something a row binds: a twin (FROM alias, JOIN alias, MATCH node) or a relationship.
struct Binding {
  std::string name;  // empty: anonymous (MATCH "()" or an unnamed fixed-length hop)
  BindingKind kind = BindingKind::kTwin;
  std::size_t pos = 0;
  int step = 0;  // the traversal step that binds it: 0 for the root, hop index + 1 otherwise
};

inline constexpr int kMaxHops = 10;

// One traversal step: from an already bound twin along relationships to another twin.
struct Hop {
  int from = 0;           // twin binding
  int to = 0;             // twin binding (bound here unless `to_bound`)
  bool to_bound = false;  // MATCH names a node twice: the target must be that twin
  int relationship = -1;  // relationship binding, -1 for variable-length hops
  std::string name;       // relationship name; empty: any
  std::size_t name_pos = 0;
  bool incoming = false;  // "<-": follow relationships that end at `from`
  int min_hops = 1;
  int max_hops = 1;
  bool variable() const { return !(min_hops == 1 && max_hops == 1); }
};

enum class ItemKind : std::uint8_t { kBinding, kPath, kCount, kSum, kAvg, kMin, kMax };

struct SelectItem {
  ItemKind kind = ItemKind::kPath;
  std::string key;             // output member name (alias after AS, or derived)
  int binding = -1;            // kBinding
  std::unique_ptr<Expr> path;  // kPath and SUM/AVG/MIN/MAX argument
  std::size_t pos = 0;
  bool aggregate() const { return kind != ItemKind::kBinding && kind != ItemKind::kPath; }
};

struct Ast {
  std::string text;
  std::uint64_t text_hash = 0;
  std::int64_t top = 0;  // 0: no TOP
  bool star = false;     // SELECT *
  bool aggregate = false;
  std::vector<SelectItem> items;
  std::vector<Binding> bindings;  // [0] is the root collection
  std::vector<Hop> hops;          // in binding order
  std::unique_ptr<Expr> where;    // may be null
  int cache_slots = 0;
  // The WHERE clause split at top-level ANDs, grouped by the step after which every binding a
  // conjunct mentions is bound: conjuncts[s] is tested right after step s. Points into `where`.
  std::vector<std::vector<const Expr*>> conjuncts;
  // Twin/relationship bindings in order, for row keys: a row is identified by its twins' ids
  // and its relationships' ids (pagination resumes after the last key returned).
  int key_width() const { return static_cast<int>(bindings.size()); }
};

}  // namespace doppel::twin::query
