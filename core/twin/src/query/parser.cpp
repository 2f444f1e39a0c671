// Recursive-descent parser and the model-independent checks (aliases, aggregates, hops).
// Errors are thrown as QueryError inside this file only and come out of parse_query() as a
// Status naming the position.
#include <algorithm>
#include <array>

#include "ast.hpp"
#include "doppel/twin/query.hpp"
#include "lexer.hpp"

namespace doppel::twin {

using query::Ast;
using query::Binding;
using query::BindingKind;
using query::CmpOp;
using query::Expr;
using query::ExprKind;
using query::Func;
using query::Hop;
using query::ItemKind;
using query::SelectItem;
using query::Token;
using query::TokenKind;

namespace {

constexpr std::size_t kMaxQueryLength = 64 * 1024;
constexpr int kMaxDepth = 64;  // nested parentheses/NOTs: bounds recursion on untrusted input

struct QueryError {
  std::size_t pos;
  std::string message;
};

const std::array<std::string_view, 13> kReserved = {
    "SELECT", "FROM", "WHERE", "JOIN", "RELATED", "MATCH",       "AND",
    "OR",     "NOT",  "IN",    "AS",   "TOP",     "DIGITALTWINS"};

bool reserved(std::string_view word) {
  return std::any_of(kReserved.begin(), kReserved.end(),
                     [&](std::string_view k) { return query::iequals(k, word); });
}

std::string describe(const Token& t) {
  switch (t.kind) {
    case TokenKind::kEnd:
      return "the end of the query";
    case TokenKind::kString:
      return "the string '" + t.text + "'";
    default:
      return "'" + t.text + "'";
  }
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

struct FuncInfo {
  std::string_view name;
  Func func;
  int args;
};
constexpr std::array<FuncInfo, 10> kFunctions = {{
    {"IS_OF_MODEL", Func::kIsOfModel, -1},
    {"IS_DEFINED", Func::kIsDefined, 1},
    {"IS_NULL", Func::kIsNull, 1},
    {"IS_NUMBER", Func::kIsNumber, 1},
    {"IS_STRING", Func::kIsString, 1},
    {"IS_BOOL", Func::kIsBool, 1},
    {"IS_OBJECT", Func::kIsObject, 1},
    {"STARTSWITH", Func::kStartsWith, 2},
    {"ENDSWITH", Func::kEndsWith, 2},
    {"CONTAINS", Func::kContains, 2},
}};

constexpr std::string_view kShape =
    "a query reads SELECT <columns> FROM DIGITALTWINS [alias] [JOIN ... | MATCH ...] [WHERE ...]";

class Parser {
 public:
  Parser(std::string_view text, std::vector<Token> tokens)
      : text_(text), tokens_(std::move(tokens)) {}

  std::shared_ptr<Ast> parse() {
    ast_ = std::make_shared<Ast>();
    ast_->text = std::string(text_);
    ast_->text_hash = fnv1a(text_);
    expect_keyword("SELECT", "queries start with SELECT");
    top_pos_ = peek().pos;
    if (accept_keyword("TOP")) parse_top();
    parse_select_list();
    expect_keyword("FROM", std::string(kShape));
    if (at_keyword("RELATIONSHIPS"))
      fail(peek(),
           "FROM RELATIONSHIPS is not supported; reach relationships with JOIN ... RELATED "
           "or MATCH (a)-[r:name]->(b)");
    expect_keyword("DIGITALTWINS", "twins are queried FROM DIGITALTWINS");
    Binding root;
    root.pos = peek().pos;
    if (accept_keyword("AS")) {
      root.name = expect_alias("an alias after AS");
    } else if (peek().kind == TokenKind::kIdent && !reserved(peek().text)) {
      root.name = next().text;
    }
    if (at_keyword("MATCH")) {
      if (!root.name.empty())
        fail(peek(),
             "MATCH names its twins in the pattern; write FROM DIGITALTWINS MATCH "
             "(a)-[:name]->(b) without an alias after DIGITALTWINS");
      next();
      parse_match();
    } else {
      ast_->bindings.push_back(std::move(root));
      while (accept_keyword("JOIN"))
        parse_join();
      if (at_keyword("MATCH")) fail(peek(), "use either JOIN or MATCH, not both");
    }
    if (accept_keyword("WHERE")) ast_->where = parse_or(0);
    if (peek().kind != TokenKind::kEnd) {
      if (at_symbol("="))
        fail(peek(), "expected the end of the query, found '='; write the comparison after WHERE");
      fail(peek(), "expected the end of the query, found " + describe(peek()) +
                       "; combine conditions with AND / OR");
    }
    resolve();
    return std::move(ast_);
  }

 private:
  // ---- tokens -----------------------------------------------------------------------------------

  const Token& peek(std::size_t k = 0) const {
    return tokens_[std::min(pos_ + k, tokens_.size() - 1)];
  }
  const Token& next() {
    const Token& t = peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  [[noreturn]] void fail(const Token& t, std::string message) {
    throw QueryError{t.pos, std::move(message)};
  }
  [[noreturn]] void fail_at(std::size_t pos, std::string message) {
    throw QueryError{pos, std::move(message)};
  }
  [[noreturn]] void expected(std::string_view what, std::string_view hint = {}) {
    std::string m = "expected " + std::string(what) + ", found " + describe(peek());
    if (!hint.empty()) m += "; " + std::string(hint);
    fail(peek(), std::move(m));
  }
  bool at_keyword(std::string_view kw) const {
    return peek().kind == TokenKind::kIdent && query::iequals(peek().text, kw);
  }
  bool accept_keyword(std::string_view kw) {
    if (!at_keyword(kw)) return false;
    next();
    return true;
  }
  void expect_keyword(std::string_view kw, std::string_view hint) {
    if (!accept_keyword(kw)) expected(kw, hint);
  }
  bool at_symbol(std::string_view s) const {
    return peek().kind == TokenKind::kSymbol && peek().text == s;
  }
  bool accept_symbol(std::string_view s) {
    if (!at_symbol(s)) return false;
    next();
    return true;
  }
  void expect_symbol(std::string_view s, std::string_view hint = {}) {
    if (!accept_symbol(s)) expected("'" + std::string(s) + "'", hint);
  }
  std::string expect_alias(std::string_view what) {
    if (peek().kind != TokenKind::kIdent) expected(what);
    if (reserved(peek().text))
      fail(peek(), "'" + peek().text + "' is a keyword and cannot name a twin or column");
    return next().text;
  }

  // ---- SELECT -----------------------------------------------------------------------------------

  void parse_top() {
    expect_symbol("(", "write TOP(10)");
    const Token& n = peek();
    if (n.kind != TokenKind::kNumber || !n.integral || n.integer < 1)
      expected("a whole number of at least 1", "write TOP(10)");
    ast_->top = next().integer;
    expect_symbol(")", "write TOP(10)");
  }

  void parse_select_list() {
    if (accept_symbol("*")) {
      ast_->star = true;
      return;
    }
    do {
      parse_select_item();
    } while (accept_symbol(","));
  }

  void parse_select_item() {
    SelectItem item;
    item.pos = peek().pos;
    if (peek().kind != TokenKind::kIdent)
      expected("a column (T, T.property, COUNT(), ...)", kShape);
    static constexpr std::array<std::pair<std::string_view, ItemKind>, 5> kAggregates = {{
        {"COUNT", ItemKind::kCount},
        {"SUM", ItemKind::kSum},
        {"AVG", ItemKind::kAvg},
        {"MIN", ItemKind::kMin},
        {"MAX", ItemKind::kMax},
    }};
    bool aggregate = false;
    if (peek(1).kind == TokenKind::kSymbol && peek(1).text == "(") {
      for (auto [name, kind] : kAggregates) {
        if (!at_keyword(name)) continue;
        aggregate = true;
        item.kind = kind;
        item.key = std::string(name);
        next();
        next();
        if (kind == ItemKind::kCount) {
          accept_symbol("*");
          expect_symbol(")", "COUNT takes no argument: COUNT()");
        } else {
          item.path = parse_path();
          expect_symbol(")", "write " + std::string(name) + "(T.property)");
        }
        break;
      }
      if (!aggregate)
        fail(peek(), "'" + peek().text +
                         "' cannot be selected; SELECT takes twins, properties and COUNT, SUM, "
                         "AVG, MIN, MAX");
    }
    if (!aggregate) item.path = parse_path();
    if (accept_keyword("AS")) {
      item.key = expect_alias("a column name after AS");
      named_.push_back(true);
    } else {
      named_.push_back(false);
    }
    ast_->items.push_back(std::move(item));
  }

  std::unique_ptr<Expr> parse_path() {
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::kPath;
    e->pos = peek().pos;
    if (peek().kind != TokenKind::kIdent) expected("a twin alias or property");
    if (reserved(peek().text))
      fail(peek(), "expected a twin alias or property, found the keyword '" + peek().text + "'");
    e->segments.push_back(next().text);
    while (accept_symbol(".")) {
      if (peek().kind != TokenKind::kIdent)
        expected("a property name after '.'", "e.g. T.temperature, T.$metadata.$model");
      e->segments.push_back(next().text);
    }
    return e;
  }

  // ---- FROM: JOIN and MATCH ---------------------------------------------------------------------

  int add_binding(std::string name, BindingKind kind, std::size_t pos, int step) {
    if (!name.empty())
      for (const Binding& b : ast_->bindings)
        if (b.name == name) fail_at(pos, "'" + name + "' is already an alias in this query");
    Binding b;
    b.name = std::move(name);
    b.kind = kind;
    b.pos = pos;
    b.step = step;
    ast_->bindings.push_back(std::move(b));
    return static_cast<int>(ast_->bindings.size()) - 1;
  }

  int twin_binding(const std::string& name, std::size_t pos) {
    for (std::size_t i = 0; i < ast_->bindings.size(); ++i) {
      if (ast_->bindings[i].name != name) continue;
      if (ast_->bindings[i].kind != BindingKind::kTwin)
        fail_at(pos, "'" + name + "' is a relationship; JOIN ... RELATED needs a twin alias");
      return static_cast<int>(i);
    }
    fail_at(pos, "unknown alias '" + name + "'; " + aliases());
  }

  void parse_join() {
    const std::size_t pos = peek().pos;
    std::string alias = expect_alias("an alias after JOIN (JOIN CT RELATED T.contains)");
    expect_keyword("RELATED", "write JOIN CT RELATED T.contains");
    const std::size_t from_pos = peek().pos;
    std::string from =
        expect_alias("the alias of a twin already in the query (RELATED T.contains)");
    expect_symbol(".", "write RELATED T.<relationship name>");
    Hop hop;
    hop.from = twin_binding(from, from_pos);
    hop.name_pos = peek().pos;
    if (peek().kind != TokenKind::kIdent) expected("a relationship name after '.'");
    hop.name = next().text;
    const int step = static_cast<int>(ast_->hops.size()) + 1;
    std::string rel_alias;
    std::size_t rel_pos = peek().pos;
    if (peek().kind == TokenKind::kIdent && !reserved(peek().text)) rel_alias = next().text;
    hop.to = add_binding(std::move(alias), BindingKind::kTwin, pos, step);
    hop.relationship = add_binding(std::move(rel_alias), BindingKind::kRelationship, rel_pos, step);
    ast_->hops.push_back(std::move(hop));
  }

  // (a)-[r:name*1..3]->(b)<-[:name]-(c)
  void parse_match() {
    ast_->bindings.push_back(parse_node(0).first);
    int current = 0;
    while (at_symbol("-") || at_symbol("<")) {
      Hop hop;
      hop.from = current;
      const Token& start = peek();
      if (accept_symbol("<")) {
        if (!at_symbol("-") || peek().pos != start.pos + 1)
          expected("'<-' (an incoming relationship: (a)<-[:name]-(b))");
        hop.incoming = true;
      }
      expect_symbol("-");
      expect_symbol("[", "relationships are written -[:name]-> or -[r:name]->");
      std::string rel_name;
      std::size_t rel_pos = peek().pos;
      if (peek().kind == TokenKind::kIdent) rel_name = expect_alias("a relationship variable");
      if (accept_symbol(":")) {
        hop.name_pos = peek().pos;
        if (peek().kind != TokenKind::kIdent)
          expected("a relationship name after ':'", "write -[:contains]->");
        hop.name = next().text;
      }
      if (accept_symbol("*")) parse_hop_range(hop);
      expect_symbol("]");
      if (hop.incoming) {
        if (at_symbol("->"))
          fail(peek(), "a relationship has one direction: (a)<-[...]-(b) or (a)-[...]->(b)");
        expect_symbol("-", "close an incoming relationship with ]-(b)");
      } else if (!accept_symbol("->")) {
        if (at_symbol("-"))
          fail(peek(), "relationships need a direction: write -[...]->(b) or <-[...]-(b)");
        expected("'->'", "write (a)-[:name]->(b)");
      }
      const int step = static_cast<int>(ast_->hops.size()) + 1;
      if (hop.variable()) {
        if (!rel_name.empty())
          fail_at(rel_pos, "a relationship variable cannot stand for several hops; drop '" +
                               rel_name + "' or the hop range");
      } else {
        hop.relationship =
            add_binding(std::move(rel_name), BindingKind::kRelationship, rel_pos, step);
      }
      auto [node, node_pos] = parse_node(step);
      hop.to = -1;
      if (!node.name.empty()) {
        for (std::size_t i = 0; i < ast_->bindings.size(); ++i) {
          if (ast_->bindings[i].name != node.name) continue;
          if (ast_->bindings[i].kind != BindingKind::kTwin)
            fail_at(node_pos, "'" + node.name + "' names a relationship, not a twin");
          hop.to = static_cast<int>(i);
          hop.to_bound = true;
          break;
        }
      }
      if (hop.to < 0) hop.to = add_binding(node.name, BindingKind::kTwin, node_pos, step);
      current = hop.to;
      ast_->hops.push_back(std::move(hop));
    }
    if (at_symbol(","))
      fail(peek(), "MATCH takes one chain; continue it instead: (a)-[...]->(b)-[...]->(c)");
  }

  std::pair<Binding, std::size_t> parse_node(int step) {
    const std::size_t pos = peek().pos;
    expect_symbol("(", "MATCH nodes are written (a)");
    Binding b;
    b.pos = pos;
    b.step = step;
    if (peek().kind == TokenKind::kIdent) b.name = expect_alias("a twin variable");
    if (at_symbol(":"))
      fail(peek(),
           "nodes take no model label; test the model in WHERE: IS_OF_MODEL(a, 'dtmi:...')");
    expect_symbol(")", "MATCH nodes are written (a)");
    return {std::move(b), pos};
  }

  void parse_hop_range(Hop& hop) {
    auto number = [&]() -> int {
      const Token& t = peek();
      if (t.kind != TokenKind::kNumber || !t.integral) expected("a whole number of hops");
      if (t.integer < 1) fail(t, "hop counts start at 1");
      if (t.integer > query::kMaxHops)
        fail(t, "at most " + std::to_string(query::kMaxHops) + " hops are allowed");
      next();
      return static_cast<int>(t.integer);
    };
    hop.min_hops = 1;
    hop.max_hops = query::kMaxHops;
    if (peek().kind == TokenKind::kNumber) {
      hop.min_hops = number();
      hop.max_hops = hop.min_hops;
      if (accept_symbol(".."))
        hop.max_hops = peek().kind == TokenKind::kNumber ? number() : query::kMaxHops;
    } else if (accept_symbol("..")) {
      hop.max_hops = number();
    }
    if (hop.min_hops > hop.max_hops)
      fail_at(hop.name_pos, "the hop range " + std::to_string(hop.min_hops) + ".." +
                                std::to_string(hop.max_hops) + " is empty");
  }

  // ---- WHERE ------------------------------------------------------------------------------------

  std::unique_ptr<Expr> node(ExprKind kind, std::size_t pos) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    return e;
  }

  void deeper(int depth) {
    if (depth > kMaxDepth)
      fail(peek(), "the condition is nested more than " + std::to_string(kMaxDepth) +
                       " levels deep; simplify it");
  }

  std::unique_ptr<Expr> parse_or(int depth) {
    deeper(depth);
    auto left = parse_and(depth);
    if (!at_keyword("OR")) return left;
    auto e = node(ExprKind::kOr, left->pos);
    e->args.push_back(std::move(left));
    while (accept_keyword("OR"))
      e->args.push_back(parse_and(depth));
    return e;
  }

  std::unique_ptr<Expr> parse_and(int depth) {
    auto left = parse_not(depth);
    if (!at_keyword("AND")) return left;
    auto e = node(ExprKind::kAnd, left->pos);
    e->args.push_back(std::move(left));
    while (accept_keyword("AND"))
      e->args.push_back(parse_not(depth));
    return e;
  }

  std::unique_ptr<Expr> parse_not(int depth) {
    if (at_keyword("NOT")) {
      deeper(depth + 1);
      auto e = node(ExprKind::kNot, next().pos);
      e->args.push_back(parse_not(depth + 1));
      return e;
    }
    return parse_predicate(depth);
  }

  std::unique_ptr<Expr> parse_predicate(int depth) {
    auto left = parse_operand(depth);
    const Token& t = peek();
    if (t.kind == TokenKind::kSymbol) {
      static constexpr std::array<std::pair<std::string_view, CmpOp>, 7> kOps = {{
          {"=", CmpOp::kEq},
          {"!=", CmpOp::kNe},
          {"<>", CmpOp::kNe},
          {"<", CmpOp::kLt},
          {"<=", CmpOp::kLe},
          {">", CmpOp::kGt},
          {">=", CmpOp::kGe},
      }};
      for (auto [text, op] : kOps) {
        if (t.text != text) continue;
        if (text == "=" && peek(1).kind == TokenKind::kSymbol && peek(1).text == "=" &&
            peek(1).pos == t.pos + 1)
          fail(t, "write '=' to compare, not '=='");
        next();
        auto e = node(ExprKind::kCompare, t.pos);
        e->op = op;
        e->args.push_back(std::move(left));
        e->args.push_back(parse_operand(depth));
        return e;
      }
    }
    bool negated = false;
    if (at_keyword("NOT") && peek(1).kind == TokenKind::kIdent &&
        query::iequals(peek(1).text, "IN")) {
      next();
      negated = true;
    }
    if (accept_keyword("IN")) {
      auto e = node(ExprKind::kIn, t.pos);
      e->negated = negated;
      e->args.push_back(std::move(left));
      expect_symbol("[", "write IN ['a', 'b']");
      do {
        e->args.push_back(parse_literal("a literal in the IN list"));
      } while (accept_symbol(","));
      expect_symbol("]", "close the IN list with ']'");
      return e;
    }
    return left;
  }

  std::unique_ptr<Expr> parse_literal(std::string_view what) {
    const Token& t = peek();
    auto e = node(ExprKind::kLiteral, t.pos);
    if (t.kind == TokenKind::kString) {
      e->literal = Value::string(next().text);
    } else if (t.kind == TokenKind::kNumber) {
      e->literal = t.integral ? Value::integer(t.integer) : Value::number(t.number);
      next();
    } else if (t.kind == TokenKind::kSymbol && t.text == "-" &&
               peek(1).kind == TokenKind::kNumber) {
      next();
      const Token& n = next();
      e->literal = n.integral ? Value::integer(-n.integer) : Value::number(-n.number);
    } else if (at_keyword("true") || at_keyword("false")) {
      e->literal = Value::boolean(query::iequals(next().text, "true"));
    } else if (at_keyword("null")) {
      next();
      e->literal = Value();
    } else {
      expected(what);
    }
    return e;
  }

  std::unique_ptr<Expr> parse_operand(int depth) {
    const Token& t = peek();
    if (t.kind == TokenKind::kSymbol && t.text == "(") {
      next();
      auto e = parse_or(depth + 1);
      expect_symbol(")", "close the parenthesis");
      return e;
    }
    if (t.kind == TokenKind::kIdent && peek(1).kind == TokenKind::kSymbol && peek(1).text == "(")
      return parse_call(depth);
    if (t.kind == TokenKind::kIdent && !query::iequals(t.text, "true") &&
        !query::iequals(t.text, "false") && !query::iequals(t.text, "null")) {
      if (reserved(t.text)) expected("a value (a property, a literal or a function)");
      return parse_path();
    }
    if (t.kind == TokenKind::kEnd || (t.kind == TokenKind::kSymbol && t.text != "-"))
      expected("a value (a property, a literal or a function)");
    return parse_literal("a value (a property, a literal or a function)");
  }

  std::unique_ptr<Expr> parse_call(int depth) {
    deeper(depth + 1);
    const Token& name = next();
    next();  // '('
    const FuncInfo* info = nullptr;
    for (const FuncInfo& f : kFunctions)
      if (query::iequals(f.name, name.text)) info = &f;
    if (!info) {
      for (std::string_view agg : {"COUNT", "SUM", "AVG", "MIN", "MAX"})
        if (query::iequals(agg, name.text))
          fail(name, std::string(agg) + "() is allowed in SELECT only, not in conditions");
      fail(name, "unknown function '" + name.text +
                     "'; conditions may use IS_OF_MODEL, IS_DEFINED, IS_NULL, IS_NUMBER, "
                     "IS_STRING, IS_BOOL, IS_OBJECT, STARTSWITH, ENDSWITH, CONTAINS");
    }
    auto e = node(ExprKind::kCall, name.pos);
    e->func = info->func;
    if (info->func == Func::kIsOfModel) {
      // IS_OF_MODEL([alias,] 'dtmi' [, exact])
      if (peek().kind == TokenKind::kIdent) {
        e->pos = peek().pos;
        e->alias = expect_alias("a twin alias");
        expect_symbol(",", "write IS_OF_MODEL(T, 'dtmi:example:Motor;1')");
      }
      if (peek().kind != TokenKind::kString)
        expected("a model id in quotes", "write IS_OF_MODEL(T, 'dtmi:example:Motor;1')");
      e->model_pos = peek().pos;
      e->model = next().text;
      if (accept_symbol(",")) {
        if (!accept_keyword("exact"))
          expected("'exact'", "IS_OF_MODEL(T, 'dtmi:...', exact) leaves out extending models");
        e->exact = true;
      }
      expect_symbol(")", "close IS_OF_MODEL(...)");
      return e;
    }
    for (int k = 0; k < info->args; ++k) {
      if (k > 0)
        expect_symbol(
            ",", std::string(info->name) + " takes " + std::to_string(info->args) + " arguments");
      e->args.push_back(parse_operand(depth + 1));
    }
    if (!at_symbol(")"))
      expected("')'", std::string(info->name) + " takes " + std::to_string(info->args) +
                          (info->args == 1 ? " argument" : " arguments"));
    next();
    return e;
  }

  // ---- names and checks -------------------------------------------------------------------------

  std::string aliases() const {
    std::string names;
    for (const Binding& b : ast_->bindings) {
      if (b.name.empty()) continue;
      names += names.empty() ? "" : ", ";
      names += b.name;
    }
    return names.empty() ? "the query names no alias (write FROM DIGITALTWINS T)"
                         : "the query names: " + names;
  }

  bool implicit_root() const {
    return ast_->bindings.size() == 1 && ast_->bindings[0].name.empty();
  }

  int find_binding(const std::string& name) const {
    for (std::size_t i = 0; i < ast_->bindings.size(); ++i)
      if (!name.empty() && ast_->bindings[i].name == name) return static_cast<int>(i);
    return -1;
  }

  // Binds a path to its alias (or to the only, unnamed, collection).
  void resolve_path(Expr& e) {
    int b = find_binding(e.segments[0]);
    if (b >= 0) {
      e.alias = e.segments[0];
      e.segments.erase(e.segments.begin());
      e.binding = b;
      if (e.segments.empty())
        fail_at(e.pos, "'" + e.alias + "' is a " +
                           (ast_->bindings[static_cast<std::size_t>(b)].kind == BindingKind::kTwin
                                ? "twin; use one of its properties, e.g. " + e.alias + ".$dtId"
                                : "relationship; use one of its properties, e.g. " + e.alias +
                                      ".$relationshipId"));
    } else if (implicit_root()) {
      e.binding = 0;
    } else {
      fail_at(e.pos, "unknown alias '" + e.segments[0] + "'; " + aliases());
    }
    e.cache = ast_->cache_slots++;
  }

  void resolve_expr(Expr& e) {
    if (e.kind == ExprKind::kPath) {
      resolve_path(e);
      return;
    }
    if (e.kind == ExprKind::kCall && e.func == Func::kIsOfModel) {
      if (e.alias.empty()) {
        if (!implicit_root() && ast_->bindings.size() > 1)
          fail_at(e.pos,
                  "IS_OF_MODEL needs the twin's alias when the query binds several: "
                  "IS_OF_MODEL(T, '" +
                      e.model + "')");
        e.binding = 0;
      } else {
        e.binding = find_binding(e.alias);
        if (e.binding < 0) fail_at(e.pos, "unknown alias '" + e.alias + "'; " + aliases());
        if (ast_->bindings[static_cast<std::size_t>(e.binding)].kind != BindingKind::kTwin)
          fail_at(e.pos, "IS_OF_MODEL tests twins; '" + e.alias + "' is a relationship");
      }
      e.cache = ast_->cache_slots++;
      return;
    }
    for (auto& a : e.args)
      resolve_expr(*a);
  }

  int max_step(const Expr& e) const {
    int s = 0;
    if (e.kind == ExprKind::kPath || (e.kind == ExprKind::kCall && e.func == Func::kIsOfModel))
      s = ast_->bindings[static_cast<std::size_t>(e.binding)].step;
    for (const auto& a : e.args)
      s = std::max(s, max_step(*a));
    return s;
  }

  void split(const Expr* e) {
    if (e->kind == ExprKind::kAnd) {
      for (const auto& a : e->args)
        split(a.get());
      return;
    }
    ast_->conjuncts[static_cast<std::size_t>(max_step(*e))].push_back(e);
  }

  void resolve() {
    Ast& ast = *ast_;
    // SELECT items: an alias alone is the twin or relationship itself.
    bool has_aggregate = false, has_column = false;
    for (std::size_t i = 0; i < ast.items.size(); ++i) {
      SelectItem& item = ast.items[i];
      if (!item.aggregate()) {
        has_column = true;
        if (item.path->segments.size() == 1) {
          int b = find_binding(item.path->segments[0]);
          if (b >= 0) {
            item.kind = ItemKind::kBinding;
            item.binding = b;
            if (!named_[i]) item.key = item.path->segments[0];
            item.path.reset();
            continue;
          }
        }
        resolve_path(*item.path);
        if (!named_[i]) item.key = item.path->segments.back();
        continue;
      }
      has_aggregate = true;
      if (item.path) {
        if (item.path->segments.size() == 1 && find_binding(item.path->segments[0]) >= 0)
          fail_at(item.path->pos, item.key + " needs a property, e.g. " + item.key + "(" +
                                      item.path->segments[0] + ".temperature)");
        resolve_path(*item.path);
      }
    }
    if (has_aggregate && has_column)
      fail_at(ast.items.front().pos,
              "aggregates (COUNT, SUM, AVG, MIN, MAX) cannot be mixed with other columns; "
              "there is no GROUP BY");
    if (has_aggregate && ast.top > 0)
      fail_at(top_pos_, "TOP cannot be combined with aggregates, which return one row");
    ast.aggregate = has_aggregate;
    for (std::size_t i = 0; i < ast.items.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (ast.items[i].key == ast.items[j].key)
          fail_at(ast.items[i].pos,
                  "two columns are named '" + ast.items[i].key + "'; name one with AS");
    if (ast.star && ast.bindings.size() > 1 &&
        std::none_of(ast.bindings.begin(), ast.bindings.end(),
                     [](const Binding& b) { return !b.name.empty(); }))
      fail_at(0, "SELECT * needs named twins when the query traverses relationships");
    if (ast.where) resolve_expr(*ast.where);
    ast.conjuncts.assign(ast.hops.size() + 1, {});
    if (ast.where) split(ast.where.get());
  }

  std::string_view text_;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  std::shared_ptr<Ast> ast_;
  std::vector<bool> named_;  // per select item: named with AS
  std::size_t top_pos_ = 0;
};

}  // namespace

std::string_view ParsedQuery::text() const {
  return ast_->text;
}

bool ParsedQuery::is_aggregate() const {
  return ast_->aggregate;
}

sdk::Expected<ParsedQuery> parse_query(std::string_view text) {
  if (text.size() > kMaxQueryLength)
    return sdk::invalid_argument("the query is longer than " + std::to_string(kMaxQueryLength) +
                                 " characters");
  auto tokens = query::tokenize(text);
  if (!tokens) return tokens.status();
  try {
    Parser parser(text, std::move(*tokens));
    return ParsedQuery(parser.parse());
  } catch (const QueryError& e) {
    return sdk::invalid_argument(e.message, query::position_of(text, e.pos));
  }
}

}  // namespace doppel::twin
