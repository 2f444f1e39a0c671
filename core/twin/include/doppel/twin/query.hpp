// Queries over the twin graph: a documented subset of the Azure Digital Twins query language
// plus unanchored MATCH, hop ranges and SUM/AVG/MIN/MAX (docs/query.md has the whole language).
//
//   SELECT T FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:example:Motor;1') AND T.speed > 80
//   SELECT line, m FROM DIGITALTWINS MATCH (line)-[:contains]->(m) WHERE m.$metadata.$stale = true
//   SELECT AVG(T.temperature) AS avgTemp FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '...')
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/sdk/status.hpp"

namespace doppel::model {
class Interface;
}

namespace doppel::twin {

class TwinGraph;
class PropertyIndexes;
struct TwinView;

namespace query {
struct Ast;
}

struct QueryOptions {
  // Rows per page; 0 returns every row at once. A page may hold fewer rows than this when a
  // twin stopped matching between finding it and reading it (the graph keeps changing).
  std::size_t page_size = 0;
  // The `continuation` of the previous page of the same query text; empty for the first page.
  std::string continuation;
  // The twins this query may see (null: all). A twin outside is treated as if it did not exist:
  // it starts no row, no hop reaches it, no condition reads it and no aggregate counts it. The
  // API passes a token's per-twin ACL here. Called often: keep it cheap and thread-safe.
  std::function<bool(std::string_view id, const model::Interface& model)> scope;
};

struct QueryStats {
  // How the first twin collection was found: "scan", "model:<dtmi>" (the model index),
  // "ids" ($dtId = / IN), or "index:<dtmi>/<path>" (a property index).
  std::string plan;
  std::size_t twins_examined = 0;    // twins read and tested, traversals included
  std::size_t index_candidates = 0;  // twins the property index proposed
};

struct QueryResult {
  std::vector<std::string> rows;  // one JSON object per row
  std::string continuation;       // empty on the last page
  QueryStats stats;
};

// A syntactically and semantically checked query, independent of any graph. Cheap to copy;
// immutable, so one parsed query may run on several threads at once.
class ParsedQuery {
 public:
  std::string_view text() const;
  bool is_aggregate() const;
  const query::Ast& ast() const { return *ast_; }

 private:
  friend sdk::Expected<ParsedQuery> parse_query(std::string_view text);
  explicit ParsedQuery(std::shared_ptr<const query::Ast> ast) : ast_(std::move(ast)) {}
  std::shared_ptr<const query::Ast> ast_;
};

// Parses and checks a query. Errors are kInvalidArgument with `where()` set to the position,
// e.g. where "line 1, column 35", message "expected FROM, found 'WHERE' (...)".
sdk::Expected<ParsedQuery> parse_query(std::string_view text);

// Runs queries against a graph. Thread-safe: run() may be called from any number of threads,
// while other threads change the graph. Each twin is read consistently (under its shard lock),
// but a query is not a snapshot of the whole graph. Rows come ordered by their twins' ids.
class QueryEngine {
 public:
  // `graph` and `indexes` (may be null: no property index) must outlive the engine.
  explicit QueryEngine(const TwinGraph& graph, const PropertyIndexes* indexes = nullptr);

  sdk::Expected<QueryResult> run(std::string_view query, const QueryOptions& options = {}) const;
  sdk::Expected<QueryResult> run(const ParsedQuery& query, const QueryOptions& options = {}) const;

 private:
  const TwinGraph& graph_;
  const PropertyIndexes* indexes_;
};

// A twin as queries return it: {"$dtId", "$etag", "$metadata": {"$model", "$stale", per
// property "lastUpdateTime"/"desiredValue"/"desiredVersion"/"syncStatus"}, values, components}.
std::string twin_to_json(const TwinView& twin);

}  // namespace doppel::twin
