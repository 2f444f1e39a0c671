// Ordered indexes over selected twin properties (a deployment marks them: model DTMI + slot
// path), so that queries such as `IS_OF_MODEL(T, 'm') AND T.p > 5` do not read every twin.
//
// Kept current as a ChangeListener of the graph: register it with TwinGraph::add_listener()
// before the graph changes, declare the indexes with add(), then call build() once to take in
// twins that exist already (restored twins send no events). Only the reported value is indexed,
// and only numbers and strings (numbers order before strings; integers are indexed as doubles,
// so lookups return candidates that the query then checks against the twin itself).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/sdk/status.hpp"
#include "doppel/twin/twin_graph.hpp"
#include "doppel/twin/value.hpp"

namespace doppel::model {
struct Interface;
}

namespace doppel::twin {

// A range of index keys. The bounds' kind chooses the family searched: numbers or strings.
// No bound at all is an empty range.
struct IndexRange {
  std::optional<Value> low;
  std::optional<Value> high;
  bool low_inclusive = true;
  bool high_inclusive = true;
};

class PropertyIndexes final : public ChangeListener {
 public:
  // `graph` provides the models (and the twins for build()); it must outlive this object, and
  // this object must outlive the graph's last change (the graph cannot drop a listener).
  explicit PropertyIndexes(const TwinGraph& graph);
  ~PropertyIndexes() override;
  PropertyIndexes(const PropertyIndexes&) = delete;
  PropertyIndexes& operator=(const PropertyIndexes&) = delete;

  // Indexes `path` ("speed", "bearing/temperature") of twins of `model` and of every interface
  // extending it. The path must be a property or telemetry of a number, string, enum or
  // date/time schema. Thread-safe; an index added while twins exist is empty until build().
  Status add(std::string_view model, std::string_view path);
  // Indexes the twins already in the graph. Safe while the graph changes: each twin is taken
  // under its shard lock, so it cannot overtake a concurrent change event of the same twin.
  void build();

  // ChangeListener: called by the graph, from many threads, with the twin's shard locked.
  void on_change(const ChangeEvent& event) noexcept override;

  struct Info {
    std::string model;
    std::string path;
    std::size_t entries = 0;
    bool usable = true;  // false after a failure to update it (memory): queries stop using it
  };
  std::vector<Info> list() const;

  // An index covering the twins of `model` at `path` (declared on it or on an interface it
  // extends), or -1.
  int find(const model::Interface& model, std::string_view path) const;
  // "<model>/<path>" of an index returned by find().
  std::string name(int index) const;
  // Appends the ids of twins whose indexed value is in `range` / equals `value`. Ids come
  // unordered and, across calls, possibly repeated.
  void lookup(int index, const IndexRange& range, std::vector<std::string>& out) const;
  void lookup_equal(int index, const Value& value, std::vector<std::string>& out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::twin
