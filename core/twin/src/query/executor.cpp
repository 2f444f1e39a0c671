// Runs a parsed query: finds the root twins (planner), follows JOIN/MATCH hops, tests the
// conditions as soon as their bindings are bound, orders rows by key and cuts the page.
//
// Locking: graph callbacks run with a shard locked, so nothing here calls into the graph from
// inside one. Queries that traverse copy each twin they bind (a Snapshot) and follow
// relationships after the scan; queries over one collection test and render each twin inside
// its callback and copy nothing.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "ast.hpp"
#include "continuation.hpp"
#include "doppel/model/registry.hpp"
#include "doppel/twin/property_index.hpp"
#include "doppel/twin/query.hpp"
#include "doppel/twin/twin_graph.hpp"
#include "eval.hpp"
#include "json_writer.hpp"
#include "lexer.hpp"
#include "planner.hpp"

namespace doppel::twin {

namespace {

using query::Ast;
using query::BindingKind;
using query::BoundRelationship;
using query::Env;
using query::Evaluator;
using query::Expr;
using query::ExprKind;
using query::Func;
using query::Hop;
using query::ItemKind;
using query::Operand;
using query::SelectItem;
using query::StartPlan;

// A twin copied out of the graph, so several can be looked at together without holding locks.
struct Snapshot {
  std::string id;
  const TwinLayout* layout = nullptr;
  std::uint64_t version = 0;
  Timestamp created_at = 0;
  Timestamp last_data_at = 0;
  Duration expected_period = 0;
  bool stale = false;
  std::vector<SlotState> slots;
  std::vector<Relationship> relationships;
  TwinView view{};

  explicit Snapshot(const TwinView& v)
      : id(v.id),
        layout(v.layout),
        version(v.version),
        created_at(v.created_at),
        last_data_at(v.last_data_at),
        expected_period(v.expected_period),
        stale(v.stale),
        slots(v.slots.begin(), v.slots.end()),
        relationships(v.relationships.begin(), v.relationships.end()) {
    view = TwinView{id,    layout, version,      created_at, last_data_at, expected_period,
                    stale, slots,  relationships};
  }
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;
};

// SUM/AVG/MIN/MAX over numbers (other values are skipped); COUNT counts rows.
struct Accumulator {
  ItemKind kind = ItemKind::kCount;
  std::int64_t rows = 0;
  std::int64_t n = 0;
  bool all_int = true;
  std::int64_t int_sum = 0;
  double sum = 0, compensation = 0;  // Neumaier summation: order-independent for most inputs
  Operand best;

  void add(const Operand& v) {
    ++rows;
    if (kind == ItemKind::kCount || !v.is_number()) return;
    ++n;
    const double d = v.number();
    double t = sum + d;
    compensation += std::fabs(sum) >= std::fabs(d) ? (sum - t) + d : (d - t) + sum;
    sum = t;
    if (v.kind == Operand::Kind::kInt && all_int) {
      if (__builtin_add_overflow(int_sum, v.i, &int_sum)) all_int = false;
    } else {
      all_int = false;
    }
    if (kind == ItemKind::kMin || kind == ItemKind::kMax) {
      bool better = best.kind == Operand::Kind::kUndefined ||
                    (kind == ItemKind::kMin
                         ? query::compare(v, best, query::CmpOp::kLt)
                         : query::compare(v, best, query::CmpOp::kGt)) == query::Tri::kTrue;
      if (better) {
        best.kind = v.kind;
        best.i = v.i;
        best.d = v.d;
      }
    }
  }

  void append(std::string& out) const {
    switch (kind) {
      case ItemKind::kCount:
        out += std::to_string(rows);
        return;
      case ItemKind::kSum:
        if (all_int) {
          out += std::to_string(int_sum);
        } else {
          query::append_double(out, sum + compensation);
        }
        return;
      case ItemKind::kAvg:
        if (n == 0) {
          out += "null";
        } else {
          query::append_double(out, (sum + compensation) / static_cast<double>(n));
        }
        return;
      default:
        if (best.kind == Operand::Kind::kInt) {
          out += std::to_string(best.i);
        } else if (best.kind == Operand::Kind::kDouble) {
          query::append_double(out, best.d);
        } else {
          out += "null";
        }
    }
  }
};

// A row of a traversing query, waiting to be ordered and rendered.
struct PendingRow {
  std::vector<std::string> key;
  std::vector<const Snapshot*> twins;
  std::vector<BoundRelationship> relationships;
};

class Execution {
 public:
  Execution(const TwinGraph& graph, const PropertyIndexes* indexes, const Ast& ast,
            const QueryOptions& options, std::optional<query::Cursor> cursor)
      : graph_(graph),
        indexes_(indexes),
        ast_(ast),
        options_(options),
        cursor_(std::move(cursor)),
        eval_(ast) {
    const std::size_t n = ast.bindings.size();
    env_.twins.assign(n, nullptr);
    env_.relationships.assign(n, {});
    bound_.assign(n, nullptr);
    for (const SelectItem& item : ast.items)
      if (item.aggregate()) accumulators_.push_back(Accumulator{item.kind});
  }

  sdk::Expected<QueryResult> run() {
    plan_ = query::plan_start(ast_, graph_.models(), indexes_);
    result_.stats.plan = plan_.description;
    if (ast_.hops.empty()) {
      run_single();
    } else {
      run_traversal();
    }
    if (ast_.aggregate) {
      std::string row = "{";
      for (std::size_t i = 0; i < accumulators_.size(); ++i) {
        if (i) row += ',';
        query::append_json_string(row, ast_.items[i].key);
        row += ':';
        accumulators_[i].append(row);
      }
      row += '}';
      result_.rows.push_back(std::move(row));
    }
    return std::move(result_);
  }

 private:
  // ---- shared -----------------------------------------------------------------------------------

  std::int64_t returned() const { return cursor_ ? cursor_->returned : 0; }

  bool in_scope(const TwinView& v) const {
    return !options_.scope || options_.scope(v.id, v.layout->interface());
  }

  // How many rows this page may hold.
  std::size_t page_limit() const {
    std::size_t limit =
        options_.page_size ? options_.page_size : std::numeric_limits<std::size_t>::max();
    if (ast_.top > 0) {
      std::int64_t left = std::max<std::int64_t>(0, ast_.top - returned());
      limit = std::min(limit, static_cast<std::size_t>(left));
    }
    return limit;
  }

  void finish_page(std::size_t total, std::size_t taken, std::vector<std::string> last_key) {
    if (taken >= total) return;
    if (ast_.top > 0 && returned() + static_cast<std::int64_t>(taken) >= ast_.top) return;
    query::Cursor next;
    next.query_hash = ast_.text_hash;
    next.returned = returned() + static_cast<std::int64_t>(taken);
    next.last_key = std::move(last_key);
    result_.continuation = query::encode_cursor(next);
  }

  // Calls `fn` for each twin the plan proposes; `fn` returns false to stop.
  template <typename Fn>
  void for_each_start(Fn&& fn) {
    std::function<bool(const TwinView&)> visit = std::forward<Fn>(fn);
    if (options_.scope)
      visit = [inner = std::move(visit), this](const TwinView& v) {
        return !in_scope(v) || inner(v);
      };
    switch (plan_.kind) {
      case StartPlan::Kind::kScan: {
        // Model by model: the graph keeps a vector of twins per model and shard, which walks
        // faster than for_each()'s hash-map nodes (a 100k-twin scan took half the time).
        bool go_on = true;
        auto until_stopped = [&](const TwinView& v) { return go_on = visit(v); };
        for (const model::Interface* i : graph_.models().interfaces()) {
          graph_.for_each_of_model(i->id, true, until_stopped);
          if (!go_on) return;
        }
        return;
      }
      case StartPlan::Kind::kModel:
        graph_.for_each_of_model(plan_.model, plan_.exact, visit);
        return;
      case StartPlan::Kind::kIds:
      case StartPlan::Kind::kIndex:
        break;
    }
    std::vector<std::string> ids;
    if (plan_.kind == StartPlan::Kind::kIds) {
      ids = plan_.ids;
    } else {
      for (const Value& v : plan_.points)
        indexes_->lookup_equal(plan_.index, v, ids);
      if (plan_.range) indexes_->lookup(plan_.index, *plan_.range, ids);
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    if (plan_.kind == StartPlan::Kind::kIndex) result_.stats.index_candidates = ids.size();
    bool go_on = true;
    for (const std::string& id : ids) {
      if (cursor_ && id < cursor_->last_key[0]) continue;  // before the page: no row of it is due
      graph_.read(id, [&](const TwinView& v) { go_on = visit(v); });
      if (!go_on) break;
    }
  }

  void append_operand(std::string& out, const Operand& v) {
    switch (v.kind) {
      case Operand::Kind::kUndefined:
      case Operand::Kind::kNull:
        out += "null";
        return;
      case Operand::Kind::kBool:
        out += v.b ? "true" : "false";
        return;
      case Operand::Kind::kInt:
        out += std::to_string(v.i);
        return;
      case Operand::Kind::kDouble:
        query::append_double(out, v.d);
        return;
      case Operand::Kind::kString:
        query::append_json_string(out, v.s);
        return;
      case Operand::Kind::kJson:
        out += v.s;
        return;
      case Operand::Kind::kComponent:
        writer_.append_component(out, *v.twin, v.s);
        return;
    }
  }

  void append_binding(std::string& out, int b) {
    const auto i = static_cast<std::size_t>(b);
    if (ast_.bindings[i].kind == BindingKind::kTwin) {
      writer_.append_twin(out, *env_.twins[i]);
    } else {
      const BoundRelationship& r = env_.relationships[i];
      query::TwinJsonWriter::append_relationship(out, r.source, *r.relationship);
    }
  }

  // The row for the current bindings.
  std::string render() {
    std::string out;
    out.reserve(256);
    if (ast_.star) {
      if (ast_.bindings.size() == 1) {
        writer_.append_twin(out, *env_.twins[0]);
        return out;
      }
      out += '{';
      bool first = true;
      for (std::size_t b = 0; b < ast_.bindings.size(); ++b) {
        if (ast_.bindings[b].name.empty()) continue;
        if (!first) out += ',';
        first = false;
        query::append_json_string(out, ast_.bindings[b].name);
        out += ':';
        append_binding(out, static_cast<int>(b));
      }
      out += '}';
      return out;
    }
    out += '{';
    bool first = true;
    for (const SelectItem& item : ast_.items) {
      if (item.kind == ItemKind::kBinding) {
        if (!first) out += ',';
        first = false;
        query::append_json_string(out, item.key);
        out += ':';
        append_binding(out, item.binding);
        continue;
      }
      Operand v;
      eval_.value(*item.path, env_, v);
      if (v.kind == Operand::Kind::kUndefined) continue;  // ADT leaves out undefined values
      if (!first) out += ',';
      first = false;
      query::append_json_string(out, item.key);
      out += ':';
      append_operand(out, v);
    }
    out += '}';
    return out;
  }

  void accumulate() {
    for (std::size_t i = 0; i < accumulators_.size(); ++i) {
      Operand v;
      if (ast_.items[i].path) eval_.value(*ast_.items[i].path, env_, v);
      accumulators_[i].add(v);
    }
  }

  // ---- one collection ---------------------------------------------------------------------------

  void run_single() {
    // Without paging every match is returned: render while the twin is at hand. With paging
    // only ids are kept, and the page's twins are read again (and re-tested) once it is cut.
    const bool eager = options_.page_size == 0 && ast_.top == 0;
    const std::vector<const Expr*>& conjuncts = ast_.conjuncts[0];
    std::vector<std::pair<std::string, std::string>> rows;  // (id, row) when eager
    std::vector<std::string> ids;
    for_each_start([&](const TwinView& v) {
      if (cursor_ && v.id <= cursor_->last_key[0]) return true;
      ++result_.stats.twins_examined;
      env_.twins[0] = &v;
      if (!eval_.all(conjuncts, env_)) return true;
      if (ast_.aggregate) {
        accumulate();
      } else if (eager) {
        rows.emplace_back(std::string(v.id), render());
      } else {
        ids.emplace_back(v.id);
      }
      return true;
    });
    env_.twins[0] = nullptr;
    if (ast_.aggregate) return;
    if (eager) {
      std::sort(rows.begin(), rows.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      result_.rows.reserve(rows.size());
      for (auto& r : rows)
        result_.rows.push_back(std::move(r.second));
      return;
    }
    const std::size_t take = std::min(page_limit(), ids.size());
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(take), ids.end());
    for (std::size_t i = 0; i < take; ++i) {
      graph_.read(ids[i], [&](const TwinView& v) {
        env_.twins[0] = &v;
        if (in_scope(v) && eval_.all(conjuncts, env_)) result_.rows.push_back(render());
      });
    }
    env_.twins[0] = nullptr;
    if (take > 0) finish_page(ids.size(), take, {ids[take - 1]});
  }

  // ---- traversal --------------------------------------------------------------------------------

  const Snapshot* snapshot(std::string_view id) {
    auto it = snapshots_.find(id);
    if (it != snapshots_.end()) return it->second.get();
    std::unique_ptr<Snapshot> snap;
    graph_.read(id, [&](const TwinView& v) {
      if (in_scope(v)) snap = std::make_unique<Snapshot>(v);
    });
    ++result_.stats.twins_examined;
    const Snapshot* out = snap.get();
    if (snap) {
      std::string_view key = snap->id;
      snapshots_.emplace(key, std::move(snap));
    } else {
      auto [it2, inserted] = missing_.emplace(id);
      snapshots_.emplace(*it2, nullptr);
    }
    return out;
  }

  void run_traversal() {
    const Hop& first = ast_.hops[0];
    std::vector<const Snapshot*> roots;
    for_each_start([&](const TwinView& v) {
      if (cursor_ && v.id < cursor_->last_key[0]) return true;
      ++result_.stats.twins_examined;
      env_.twins[0] = &v;
      if (!eval_.all(ast_.conjuncts[0], env_)) return true;
      // Cheap pre-test: a root without a matching outgoing relationship yields no row.
      if (!first.incoming) {
        bool any = std::any_of(
            v.relationships.begin(), v.relationships.end(),
            [&](const Relationship& r) { return first.name.empty() || r.name() == first.name; });
        if (!any) return true;
      }
      if (snapshots_.count(v.id)) return true;
      auto snap = std::make_unique<Snapshot>(v);
      roots.push_back(snap.get());
      std::string_view key = snap->id;
      snapshots_.emplace(key, std::move(snap));
      return true;
    });
    env_.twins[0] = nullptr;
    for (const Snapshot* root : roots) {
      bind_twin(0, root);
      extend(0);
    }
    if (ast_.aggregate) return;
    const std::size_t take = std::min(page_limit(), pending_.size());
    std::partial_sort(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(take),
                      pending_.end(),
                      [](const PendingRow& a, const PendingRow& b) { return a.key < b.key; });
    for (std::size_t i = 0; i < take; ++i) {
      const PendingRow& row = pending_[i];
      for (std::size_t b = 0; b < row.twins.size(); ++b) {
        env_.twins[b] = row.twins[b] ? &row.twins[b]->view : nullptr;
        env_.relationships[b] = row.relationships[b];
      }
      result_.rows.push_back(render());
    }
    if (take > 0) finish_page(pending_.size(), take, pending_[take - 1].key);
  }

  void bind_twin(int b, const Snapshot* s) {
    bound_[static_cast<std::size_t>(b)] = s;
    env_.twins[static_cast<std::size_t>(b)] = s ? &s->view : nullptr;
  }

  bool matches_name(const Hop& hop, const Relationship& r) const {
    return hop.name.empty() || r.name() == hop.name;
  }

  // Binds hop `h` to relationship `r` (leaving `source`) arriving at `target`, then goes on.
  void step(std::size_t h, const Relationship* r, std::string_view source,
            std::string_view target) {
    const Hop& hop = ast_.hops[h];
    const Snapshot* to = nullptr;
    if (hop.to_bound) {
      to = bound_[static_cast<std::size_t>(hop.to)];
      if (to->id != target) return;
    } else {
      to = snapshot(target);
      if (!to) return;  // deleted meanwhile
      bind_twin(hop.to, to);
    }
    if (hop.relationship >= 0)
      env_.relationships[static_cast<std::size_t>(hop.relationship)] = {r, source};
    if (eval_.all(ast_.conjuncts[h + 1], env_)) extend(h + 1);
    if (!hop.to_bound) bind_twin(hop.to, nullptr);
    if (hop.relationship >= 0) env_.relationships[static_cast<std::size_t>(hop.relationship)] = {};
  }

  // Relationships of `twin` that hop `hop` may follow, as (relationship, source, other end).
  template <typename Fn>
  void edges(const Hop& hop, const Snapshot& twin, Fn&& fn) {
    if (!hop.incoming) {
      for (const Relationship& r : twin.relationships)
        if (matches_name(hop, r)) fn(&r, std::string_view(twin.id), std::string_view(r.target));
      return;
    }
    for (const auto& [source, rel_id] : graph_.incoming(twin.id)) {
      const Snapshot* s = snapshot(source);
      if (!s) continue;
      for (const Relationship& r : s->relationships)
        if (r.target == twin.id && matches_name(hop, r) && r.id() == rel_id)
          fn(&r, std::string_view(s->id), std::string_view(s->id));
    }
  }

  void extend(std::size_t h) {
    if (h == ast_.hops.size()) {
      emit();
      return;
    }
    const Hop& hop = ast_.hops[h];
    const Snapshot* from = bound_[static_cast<std::size_t>(hop.from)];
    if (!hop.variable()) {
      edges(hop, *from,
            [&](const Relationship* r, std::string_view source, std::string_view other) {
              step(h, r, source, other);
            });
      return;
    }
    // Variable length: the twins first reached at 1..max hops, each once, by levels.
    std::vector<std::string> reached;
    std::unordered_set<std::string> seen;
    std::vector<std::string> frontier{from->id};
    for (int depth = 1; depth <= hop.max_hops && !frontier.empty(); ++depth) {
      std::vector<std::string> level;
      std::unordered_set<std::string> in_level;
      for (const std::string& id : frontier) {
        const Snapshot* s = snapshot(id);
        if (!s) continue;
        edges(hop, *s, [&](const Relationship*, std::string_view, std::string_view other) {
          if (in_level.emplace(other).second) level.emplace_back(other);
        });
      }
      if (depth >= hop.min_hops)
        for (const std::string& id : level)
          if (seen.insert(id).second) reached.push_back(id);
      frontier = std::move(level);
    }
    for (const std::string& id : reached)
      step(h, nullptr, from->id, id);
  }

  void emit() {
    if (ast_.aggregate) {
      accumulate();
      return;
    }
    PendingRow row;
    const std::size_t n = ast_.bindings.size();
    row.key.reserve(n);
    row.twins.assign(bound_.begin(), bound_.end());
    row.relationships = env_.relationships;
    // Twins' ids first (rows come in twin order), then relationship ids to tell apart rows
    // joining the same twins through different relationships.
    for (std::size_t b = 0; b < n; ++b)
      if (ast_.bindings[b].kind == BindingKind::kTwin) row.key.push_back(bound_[b]->id);
    for (std::size_t b = 0; b < n; ++b) {
      if (ast_.bindings[b].kind != BindingKind::kRelationship) continue;
      const Relationship* r = row.relationships[b].relationship;
      row.key.push_back(r ? r->id() : std::string());
    }
    if (cursor_ && !(cursor_->last_key < row.key)) return;
    pending_.push_back(std::move(row));
  }

  const TwinGraph& graph_;
  const PropertyIndexes* indexes_;
  const Ast& ast_;
  const QueryOptions& options_;
  std::optional<query::Cursor> cursor_;
  Evaluator eval_;
  query::TwinJsonWriter writer_;
  StartPlan plan_;
  QueryResult result_;
  Env env_;
  std::vector<const Snapshot*> bound_;
  std::vector<Accumulator> accumulators_;
  std::unordered_map<std::string_view, std::unique_ptr<Snapshot>> snapshots_;
  std::unordered_set<std::string> missing_;
  std::vector<PendingRow> pending_;
};

// Checks against the graph's models what parsing alone cannot: that tested models exist and
// that relationship names mean something.
sdk::Status check_models(const Ast& ast, const model::ModelRegistry& models) {
  sdk::Status status;
  auto walk = [&](auto& self, const Expr& e) -> void {
    if (!status.is_ok()) return;
    if (e.kind == ExprKind::kCall && e.func == Func::kIsOfModel && !models.find(e.model)) {
      status = sdk::invalid_argument(
          "IS_OF_MODEL: the model '" + e.model +
              "' is not in the model set; check the DTMI and its version (';1')",
          query::position_of(ast.text, e.model_pos));
      return;
    }
    for (const auto& a : e.args)
      self(self, *a);
  };
  if (ast.where) walk(walk, *ast.where);
  if (!status.is_ok()) return status;
  for (const Hop& hop : ast.hops) {
    if (hop.name.empty()) continue;
    bool known = false;
    for (const model::Interface* i : models.interfaces()) {
      const model::Content* c = i->find(hop.name);
      if (c && c->kind == model::ContentKind::kRelationship) {
        known = true;
        break;
      }
    }
    if (!known)
      return sdk::invalid_argument("no model has a relationship named '" + hop.name +
                                       "'; check the name (it is case-sensitive)",
                                   query::position_of(ast.text, hop.name_pos));
  }
  return {};
}

}  // namespace

QueryEngine::QueryEngine(const TwinGraph& graph, const PropertyIndexes* indexes)
    : graph_(graph), indexes_(indexes) {}

sdk::Expected<QueryResult> QueryEngine::run(std::string_view text,
                                            const QueryOptions& options) const {
  auto parsed = parse_query(text);
  if (!parsed) return parsed.status();
  return run(*parsed, options);
}

sdk::Expected<QueryResult> QueryEngine::run(const ParsedQuery& parsed,
                                            const QueryOptions& options) const {
  const Ast& ast = parsed.ast();
  if (sdk::Status s = check_models(ast, graph_.models()); !s) return s;
  std::optional<query::Cursor> cursor;
  if (!options.continuation.empty()) {
    auto c = query::decode_cursor(options.continuation);
    if (!c) return c.status();
    if (c->query_hash != ast.text_hash)
      return sdk::invalid_argument(
          "the continuation token belongs to another query; send it with the exact query text "
          "that returned it");
    if (c->last_key.size() != ast.bindings.size())
      return sdk::invalid_argument(
          "the continuation token is not valid; pass the token of the previous page unchanged");
    cursor = std::move(*c);
  }
  if (ast.aggregate) cursor.reset();  // one row: nothing to resume
  Execution execution(graph_, indexes_, ast, options, std::move(cursor));
  return execution.run();
}

}  // namespace doppel::twin
