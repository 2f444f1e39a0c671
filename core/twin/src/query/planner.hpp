// Chooses how to find the first twin collection of a query: by id, from a property index, from
// the graph's model index, or by scanning. Only top-level AND conjuncts on the root twin are
// used; every candidate is still tested against the whole condition, so a plan only narrows.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ast.hpp"
#include "doppel/twin/property_index.hpp"

namespace doppel::model {
class ModelRegistry;
}

namespace doppel::twin::query {

struct StartPlan {
  enum class Kind : std::uint8_t { kScan, kModel, kIds, kIndex };
  Kind kind = Kind::kScan;
  std::string model;  // kModel
  bool exact = false;
  std::vector<std::string> ids;  // kIds
  int index = -1;                // kIndex: points (= / IN) or one range
  std::vector<Value> points;
  std::optional<IndexRange> range;
  std::string description;  // QueryStats::plan
};

StartPlan plan_start(const Ast& ast, const model::ModelRegistry& models,
                     const PropertyIndexes* indexes);

}  // namespace doppel::twin::query
