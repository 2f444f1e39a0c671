#include "planner.hpp"

#include "doppel/model/registry.hpp"

namespace doppel::twin::query {

namespace {

const Expr* root_path(const Expr& e) {
  return e.kind == ExprKind::kPath && e.binding == 0 ? &e : nullptr;
}

bool is_dtid(const Expr* e) {
  return e && e->segments.size() == 1 && e->segments[0] == "$dtId";
}

bool indexable_literal(const Expr& e) {
  return e.kind == ExprKind::kLiteral &&
         (e.literal.is_number() || e.literal.kind() == Value::Kind::kString);
}

// The slot path an index would be declared on, or "" for system properties.
std::string slot_path(const Expr& path) {
  std::string out;
  for (const std::string& s : path.segments) {
    if (!s.empty() && s[0] == '$') return {};
    if (!out.empty()) out += '/';
    out += s;
  }
  return out;
}

CmpOp flip(CmpOp op) {
  switch (op) {
    case CmpOp::kLt:
      return CmpOp::kGt;
    case CmpOp::kLe:
      return CmpOp::kGe;
    case CmpOp::kGt:
      return CmpOp::kLt;
    case CmpOp::kGe:
      return CmpOp::kLe;
    default:
      return op;
  }
}

// Numbers before strings, as the index orders them.
bool key_less(const Value& a, const Value& b) {
  if (a.is_number() != b.is_number()) return a.is_number();
  if (a.is_number()) return a.as_double() < b.as_double();
  return a.as_string() < b.as_string();
}

// A comparison of a root property with a literal: `T.p op lit` (or mirrored).
struct Bound {
  const Expr* path;
  CmpOp op;
  const Value* literal;
};

std::optional<Bound> as_bound(const Expr& c) {
  if (c.kind != ExprKind::kCompare || c.op == CmpOp::kNe) return std::nullopt;
  const Expr& l = *c.args[0];
  const Expr& r = *c.args[1];
  if (root_path(l) && indexable_literal(r)) return Bound{&l, c.op, &r.literal};
  if (root_path(r) && indexable_literal(l)) return Bound{&r, flip(c.op), &l.literal};
  return std::nullopt;
}

}  // namespace

StartPlan plan_start(const Ast& ast, const model::ModelRegistry& models,
                     const PropertyIndexes* indexes) {
  StartPlan plan;
  const std::vector<const Expr*>& conjuncts = ast.conjuncts[0];

  // 1. Twin ids: $dtId = 'x' or $dtId IN ['x', 'y'].
  for (const Expr* c : conjuncts) {
    if (c->kind == ExprKind::kCompare && c->op == CmpOp::kEq) {
      const Expr* l = c->args[0].get();
      const Expr* r = c->args[1].get();
      if (is_dtid(root_path(*r))) std::swap(l, r);
      if (is_dtid(root_path(*l)) && r->kind == ExprKind::kLiteral &&
          r->literal.kind() == Value::Kind::kString) {
        plan.kind = StartPlan::Kind::kIds;
        plan.ids.emplace_back(r->literal.as_string());
        plan.description = "ids";
        return plan;
      }
    }
    if (c->kind == ExprKind::kIn && !c->negated && is_dtid(root_path(*c->args[0]))) {
      plan.kind = StartPlan::Kind::kIds;
      for (std::size_t k = 1; k < c->args.size(); ++k)
        if (c->args[k]->literal.kind() == Value::Kind::kString)
          plan.ids.emplace_back(c->args[k]->literal.as_string());
      plan.description = "ids";
      return plan;
    }
  }

  // 2. The model: IS_OF_MODEL on the root twin.
  const Expr* model_test = nullptr;
  for (const Expr* c : conjuncts) {
    if (c->kind == ExprKind::kCall && c->func == Func::kIsOfModel && c->binding == 0) {
      model_test = c;
      break;
    }
  }
  if (!model_test) {
    plan.description = "scan";
    return plan;
  }
  plan.kind = StartPlan::Kind::kModel;
  plan.model = model_test->model;
  plan.exact = model_test->exact;
  plan.description = "model:" + plan.model;

  // 3. A property index covering that model: equality / IN first (fewest candidates), else the
  // tightest range of all comparisons on one indexed path.
  const model::Interface* interface = indexes ? models.find(model_test->model) : nullptr;
  if (!interface) return plan;
  int range_index = -1;
  std::string range_path;
  for (const Expr* c : conjuncts) {
    if (c->kind == ExprKind::kIn && !c->negated && root_path(*c->args[0])) {
      bool all = true;
      for (std::size_t k = 1; k < c->args.size(); ++k)
        all = all && indexable_literal(*c->args[k]);
      std::string path = slot_path(*c->args[0]);
      int ix = all && !path.empty() ? indexes->find(*interface, path) : -1;
      if (ix < 0) continue;
      plan.kind = StartPlan::Kind::kIndex;
      plan.index = ix;
      for (std::size_t k = 1; k < c->args.size(); ++k)
        plan.points.push_back(c->args[k]->literal);
      plan.description = "index:" + indexes->name(ix);
      return plan;
    }
    auto b = as_bound(*c);
    if (!b) continue;
    std::string path = slot_path(*b->path);
    int ix = path.empty() ? -1 : indexes->find(*interface, path);
    if (ix < 0) continue;
    if (b->op == CmpOp::kEq) {
      plan.kind = StartPlan::Kind::kIndex;
      plan.index = ix;
      plan.points.push_back(*b->literal);
      plan.description = "index:" + indexes->name(ix);
      return plan;
    }
    if (range_index < 0) {
      range_index = ix;
      range_path = path;
    }
  }
  if (range_index < 0) return plan;
  // Bounds are inclusive even for < and >: integers are indexed as doubles, and candidates are
  // tested exactly afterwards.
  IndexRange range;
  std::optional<bool> strings;
  for (const Expr* c : conjuncts) {
    auto b = as_bound(*c);
    if (!b || b->op == CmpOp::kEq || slot_path(*b->path) != range_path) continue;
    const Value& v = *b->literal;
    const bool is_string = v.kind() == Value::Kind::kString;
    if (!strings) strings = is_string;
    if (*strings != is_string) continue;  // mixed families: the test afterwards sorts it out
    if (b->op == CmpOp::kGt || b->op == CmpOp::kGe) {
      if (!range.low || key_less(*range.low, v)) range.low = v;
    } else if (!range.high || key_less(v, *range.high)) {
      range.high = v;
    }
  }
  plan.kind = StartPlan::Kind::kIndex;
  plan.index = range_index;
  plan.range = std::move(range);
  plan.description = "index:" + indexes->name(range_index);
  return plan;
}

}  // namespace doppel::twin::query
