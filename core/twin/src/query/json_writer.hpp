// JSON text of twins, relationships and values as query rows show them. Appends to a string
// (rows are built in place, without intermediate documents).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "doppel/twin/twin_graph.hpp"

namespace doppel::twin::query {

void append_json_string(std::string& out, std::string_view s);
// Same text as Value::to_json(), without a temporary string.
void append_value(std::string& out, const Value& v);
void append_double(std::string& out, double d);
// RFC 3339 UTC with 100 ns digits, as ADT writes them: 2026-11-25T05:50:46.1234567Z.
void append_time(std::string& out, Timestamp t);

// Where each slot goes in a twin's JSON: top level or inside a component. Computed once per
// layout and query run.
struct JsonLayout {
  struct Component {
    std::string_view name;
    std::vector<int> slots;
  };
  std::vector<int> top;
  std::vector<Component> components;
};

class TwinJsonWriter {
 public:
  void append_twin(std::string& out, const TwinView& twin);
  // Only the component's part of the twin: {"$metadata": {...}, "<prop>": value}.
  void append_component(std::string& out, const TwinView& twin, std::string_view component);
  static void append_relationship(std::string& out, std::string_view source, const Relationship& r);

 private:
  const JsonLayout& layout_of(const TwinLayout* layout);
  static void append_slots(std::string& out, const TwinView& twin, const std::vector<int>& slots,
                           bool metadata_started);

  std::unordered_map<const TwinLayout*, JsonLayout> layouts_;
};

}  // namespace doppel::twin::query
