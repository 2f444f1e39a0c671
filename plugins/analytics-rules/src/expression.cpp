#include "expression.hpp"

#include <cctype>
#include <cmath>
#include <limits>
#include <optional>

#include "units.hpp"

namespace doppel::plugins::rules {

int SlotTable::intern(std::string_view path) {
  int i = find(path);
  if (i >= 0) return i;
  names_.emplace_back(path);
  return static_cast<int>(names_.size() - 1);
}

int SlotTable::find(std::string_view path) const noexcept {
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == path) return static_cast<int>(i);
  return -1;
}

bool parse_duration(std::string_view text, Duration& out) noexcept {
  out = 0;
  std::size_t i = 0;
  if (text.empty()) return false;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
    double n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])))
      n = n * 10 + (text[i++] - '0');
    if (i < text.size() && text[i] == '.') {
      double f = 0.1;
      for (++i; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i, f /= 10)
        n += (text[i] - '0') * f;
    }
    std::size_t u = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i])))
      ++i;
    std::string_view unit = text.substr(u, i - u);
    double scale = 0;
    if (unit == "ms")
      scale = 1e6;
    else if (unit == "s")
      scale = 1e9;
    else if (unit == "m" || unit == "min")
      scale = 60e9;
    else if (unit == "h")
      scale = 3600e9;
    else if (unit == "d")
      scale = 86400e9;
    else
      return false;
    out += static_cast<Duration>(std::llround(n * scale));
  }
  return true;
}

namespace {

// ---- lexer ---------------------------------------------------------------------------------

enum class Tok : std::uint8_t {
  kEnd,
  kNumber,
  kDuration,
  kString,
  kIdent,
  kLParen,
  kRParen,
  kComma,
  kPlus,
  kMinus,
  kStar,
  kSlash,
  kLt,
  kLe,
  kGt,
  kGe,
  kEq,
  kNe,
  kAnd,
  kOr,
  kNot,
  kBad,
};

struct Token {
  Tok kind = Tok::kEnd;
  std::size_t pos = 0;
  std::string_view text;
  double number = 0;
  Duration duration = 0;
  std::string_view unit;  // number immediately followed by a unit: "80degC"
};

bool ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool ident_char(char c) {
  return ident_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '/';
}

std::vector<Token> lex(std::string_view s) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (true) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
      ++i;
    Token t;
    t.pos = i;
    if (i >= s.size()) {
      out.push_back(t);
      return out;
    }
    char c = s[i];
    auto two = [&](char next) { return i < s.size() && s[i] == next; };  // after the first char
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      std::size_t start = i;
      while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.'))
        ++i;
      if (i < s.size() && (s[i] == 'e' || s[i] == 'E') && i + 1 < s.size() &&
          (std::isdigit(static_cast<unsigned char>(s[i + 1])) || s[i + 1] == '-' ||
           s[i + 1] == '+')) {
        i += 2;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])))
          ++i;
      }
      std::string num(s.substr(start, i - start));
      t.kind = Tok::kNumber;
      t.number = std::strtod(num.c_str(), nullptr);
      std::size_t suffix = i;
      while (i < s.size() && (ident_start(s[i]) || s[i] == '%'))
        ++i;
      if (i > suffix) {
        std::string_view word = s.substr(start, i - start);
        Duration d;
        // A suffix glued to the number: a duration ("5m", "1h30m") or a unit ("80degC").
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
          std::size_t j = i;
          while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j])))
            ++j;
          std::size_t k = j;
          while (k < s.size() && std::isalpha(static_cast<unsigned char>(s[k])))
            ++k;
          if (k == j) break;
          i = k;
          word = s.substr(start, i - start);
        }
        if (parse_duration(word, d)) {
          t.kind = Tok::kDuration;
          t.duration = d;
        } else {
          t.unit = s.substr(suffix, i - suffix);
        }
      }
      t.text = s.substr(start, i - start);
    } else if (ident_start(c)) {
      std::size_t start = i;
      while (i < s.size() && ident_char(s[i]))
        ++i;
      t.text = s.substr(start, i - start);
      t.kind = t.text == "and"   ? Tok::kAnd
               : t.text == "or"  ? Tok::kOr
               : t.text == "not" ? Tok::kNot
                                 : Tok::kIdent;
    } else if (c == '\'' || c == '"') {
      std::size_t start = ++i;
      while (i < s.size() && s[i] != c)
        ++i;
      if (i >= s.size()) {
        t.kind = Tok::kBad;
        t.text = "unterminated string";
        out.push_back(t);
        return out;
      }
      t.kind = Tok::kString;
      t.text = s.substr(start, i - start);
      ++i;
    } else {
      t.text = s.substr(i, 1);
      ++i;
      switch (c) {
        case '(':
          t.kind = Tok::kLParen;
          break;
        case ')':
          t.kind = Tok::kRParen;
          break;
        case ',':
          t.kind = Tok::kComma;
          break;
        case '+':
          t.kind = Tok::kPlus;
          break;
        case '-':
          t.kind = Tok::kMinus;
          break;
        case '*':
          t.kind = Tok::kStar;
          break;
        case '/':
          t.kind = Tok::kSlash;
          break;
        case '<':
          t.kind = two('=') ? (++i, Tok::kLe) : Tok::kLt;
          break;
        case '>':
          t.kind = two('=') ? (++i, Tok::kGe) : Tok::kGt;
          break;
        case '=':
          if (two('=')) ++i;
          t.kind = Tok::kEq;
          break;
        case '!':
          t.kind = two('=') ? (++i, Tok::kNe) : Tok::kNot;
          break;
        case '&':
          if (two('&')) ++i;
          t.kind = Tok::kAnd;
          break;
        case '|':
          if (two('|')) ++i;
          t.kind = Tok::kOr;
          break;
        default:
          t.kind = Tok::kBad;
          t.text = "unexpected character";
      }
    }
    out.push_back(t);
  }
}

// ---- parser: tokens -> tree ----------------------------------------------------------------

enum class NodeKind : std::uint8_t {
  kNumber,
  kDuration,
  kString,
  kBool,
  kName,
  kUnary,
  kBinary,
  kCall,
  kStale
};

struct Node {
  NodeKind kind;
  std::size_t pos = 0;
  Tok op = Tok::kEnd;
  std::string_view text;  // name, string, function
  std::string_view unit;  // numbers with a unit
  double number = 0;
  Duration duration = -1;
  std::vector<int> kids;
};

struct ParseFailure {
  std::size_t pos;
  std::string message;
  std::string hint;
};

class Parser {
 public:
  Parser(std::vector<Token> toks, std::vector<Node>& nodes)
      : toks_(std::move(toks)), nodes_(nodes) {}

  int parse() {
    int root = parse_or();
    if (peek().kind != Tok::kEnd) fail(peek().pos, "unexpected '" + std::string(peek().text) + "'");
    return root;
  }

 private:
  const Token& peek() const { return toks_[at_]; }
  const Token& next() { return toks_[at_ < toks_.size() - 1 ? at_++ : at_]; }
  bool accept(Tok k) {
    if (peek().kind != k) return false;
    next();
    return true;
  }
  [[noreturn]] void fail(std::size_t pos, std::string message, std::string hint = {}) {
    throw ParseFailure{pos, std::move(message), std::move(hint)};
  }
  int add(Node n) {
    nodes_.push_back(std::move(n));
    return static_cast<int>(nodes_.size() - 1);
  }
  int binary(Tok op, std::size_t pos, int l, int r) {
    Node n{NodeKind::kBinary};
    n.op = op;
    n.pos = pos;
    n.kids = {l, r};
    return add(std::move(n));
  }

  int parse_or() {
    int l = parse_and();
    while (peek().kind == Tok::kOr) {
      std::size_t pos = next().pos;
      l = binary(Tok::kOr, pos, l, parse_and());
    }
    return l;
  }
  int parse_and() {
    int l = parse_not();
    while (peek().kind == Tok::kAnd) {
      std::size_t pos = next().pos;
      l = binary(Tok::kAnd, pos, l, parse_not());
    }
    return l;
  }
  int parse_not() {
    if (peek().kind == Tok::kNot) {
      Node n{NodeKind::kUnary};
      n.pos = next().pos;
      n.op = Tok::kNot;
      n.kids = {parse_not()};
      return add(std::move(n));
    }
    return parse_cmp();
  }
  int parse_cmp() {
    int l = parse_sum();
    Tok k = peek().kind;
    if (k == Tok::kLt || k == Tok::kLe || k == Tok::kGt || k == Tok::kGe || k == Tok::kEq ||
        k == Tok::kNe) {
      std::size_t pos = next().pos;
      l = binary(k, pos, l, parse_sum());
      Tok k2 = peek().kind;
      if (k2 == Tok::kLt || k2 == Tok::kLe || k2 == Tok::kGt || k2 == Tok::kGe || k2 == Tok::kEq ||
          k2 == Tok::kNe)
        fail(peek().pos, "comparisons do not chain", "write 'a < b and b < c'");
    }
    return l;
  }
  int parse_sum() {
    int l = parse_product();
    while (peek().kind == Tok::kPlus || peek().kind == Tok::kMinus) {
      const Token& t = next();
      l = binary(t.kind, t.pos, l, parse_product());
    }
    return l;
  }
  int parse_product() {
    int l = parse_unary();
    while (peek().kind == Tok::kStar || peek().kind == Tok::kSlash) {
      const Token& t = next();
      l = binary(t.kind, t.pos, l, parse_unary());
    }
    return l;
  }
  int parse_unary() {
    if (peek().kind == Tok::kMinus) {
      Node n{NodeKind::kUnary};
      n.pos = next().pos;
      n.op = Tok::kMinus;
      n.kids = {parse_unary()};
      return add(std::move(n));
    }
    return parse_primary();
  }
  int parse_primary() {
    const Token t = next();
    switch (t.kind) {
      case Tok::kNumber: {
        Node n{NodeKind::kNumber};
        n.pos = t.pos;
        n.number = t.number;
        n.unit = t.unit;
        // "80 degC": a unit written after a space.
        if (n.unit.empty() && peek().kind == Tok::kIdent && find_unit(peek().text))
          n.unit = next().text;
        else if (n.unit.empty() && peek().kind == Tok::kIdent && peek().text != "stale")
          fail(peek().pos, "unknown unit '" + std::string(peek().text) + "'",
               "units are DTDL names (degreeCelsius) or short forms (degC, degF, K, kW, A, "
               "rpm); a duration is written without a space (5m)");
        if (!n.unit.empty() && !find_unit(n.unit))
          fail(t.pos, "unknown unit '" + std::string(n.unit) + "'",
               "units are DTDL names (degreeCelsius) or short forms (degC, degF, K, kW, A, rpm)");
        return add(std::move(n));
      }
      case Tok::kDuration: {
        Node n{NodeKind::kDuration};
        n.pos = t.pos;
        n.duration = t.duration;
        return add(std::move(n));
      }
      case Tok::kString: {
        Node n{NodeKind::kString};
        n.pos = t.pos;
        n.text = t.text;
        return add(std::move(n));
      }
      case Tok::kLParen: {
        int inner = parse_or();
        if (!accept(Tok::kRParen)) fail(peek().pos, "expected ')'");
        return inner;
      }
      case Tok::kIdent: {
        if (t.text == "true" || t.text == "false") {
          Node n{NodeKind::kBool};
          n.pos = t.pos;
          n.number = t.text == "true";
          return add(std::move(n));
        }
        if (t.text == "stale") {
          Node n{NodeKind::kStale};
          n.pos = t.pos;
          if (peek().kind == Tok::kIdent && peek().text == "for") {
            next();
            const Token d = next();
            if (d.kind != Tok::kDuration)
              fail(d.pos, "expected a duration after 'stale for'", "write 'stale for 10m'");
            n.duration = d.duration;
          }
          return add(std::move(n));
        }
        if (peek().kind == Tok::kLParen) {
          next();
          Node n{NodeKind::kCall};
          n.pos = t.pos;
          n.text = t.text;
          if (!accept(Tok::kRParen)) {
            do {
              n.kids.push_back(parse_or());
            } while (accept(Tok::kComma));
            if (!accept(Tok::kRParen)) fail(peek().pos, "expected ',' or ')'");
          }
          return add(std::move(n));
        }
        Node n{NodeKind::kName};
        n.pos = t.pos;
        n.text = t.text;
        return add(std::move(n));
      }
      case Tok::kEnd:
        fail(t.pos, "the expression ends too early");
      case Tok::kBad:
        fail(t.pos, std::string(t.text));
      default:
        fail(t.pos, "unexpected '" + std::string(t.text) + "'");
    }
  }

  std::vector<Token> toks_;
  std::vector<Node>& nodes_;
  std::size_t at_ = 0;
};

// ---- checker and code generator ------------------------------------------------------------

enum class Type : std::uint8_t { kNumber, kBool, kString, kDuration };

struct Info {
  Type type = Type::kNumber;
  const Unit* unit = nullptr;  // numbers: the model unit of the value
  bool delta = false;          // a difference or rate (converted without offset)
  bool literal_unit = false;   // a constant written with a unit, converted by its context
  int string_slot = -1;        // strings: a slot (compared with a string constant)
};

const char* type_name(Type t) {
  switch (t) {
    case Type::kNumber:
      return "a number";
    case Type::kBool:
      return "a condition";
    case Type::kString:
      return "a string";
    case Type::kDuration:
      return "a duration";
  }
  return "?";
}

class Compiler {
 public:
  Compiler(const std::vector<Node>& nodes, const Schema& schema, SlotTable& slots, Program& out)
      : nodes_(nodes), schema_(schema), slots_(slots), out_(out) {}

  void compile_root(int root) {
    Info i = info(root);
    if (i.type != Type::kBool)
      fail(nodes_[root].pos,
           std::string("a rule condition must be true or false, not ") + type_name(i.type),
           "compare it: 'temperature > 80'");
    emit(root, nullptr, false);
  }

 private:
  [[noreturn]] void fail(std::size_t pos, std::string message, std::string hint = {}) {
    throw ParseFailure{pos, std::move(message), std::move(hint)};
  }
  const Node& n(int i) const { return nodes_[static_cast<std::size_t>(i)]; }

  const sdk::ModelSlot& slot_of(const Node& node) {
    const sdk::ModelSlot* s = schema_.slot(node.text);
    if (!s)
      fail(node.pos, "'" + std::string(node.text) + "' is not a property or telemetry of the model",
           "known: " + schema_.slot_names());
    return *s;
  }

  bool is_window_call(const Node& c) const {
    if (c.kids.size() != 2 || n(c.kids[1]).kind != NodeKind::kDuration) return false;
    return c.text == "avg" || c.text == "min" || c.text == "max" || c.text == "count" ||
           c.text == "rate";
  }
  bool is_related_call(const Node& c) const {
    return (c.text == "any" || c.text == "all" || c.text == "count") && c.kids.size() == 2 &&
           n(c.kids[0]).kind == NodeKind::kName && n(c.kids[1]).kind != NodeKind::kDuration;
  }

  Info info(int index) {
    const Node& x = n(index);
    switch (x.kind) {
      case NodeKind::kNumber:
        return Info{Type::kNumber, x.unit.empty() ? nullptr : find_unit(x.unit), false,
                    !x.unit.empty()};
      case NodeKind::kDuration:
        return Info{Type::kDuration};
      case NodeKind::kString:
        return Info{Type::kString};
      case NodeKind::kBool:
      case NodeKind::kStale:
        return Info{Type::kBool};
      case NodeKind::kName: {
        const sdk::ModelSlot& s = slot_of(x);
        switch (s.type) {
          case sdk::ValueType::kNumber:
            return Info{Type::kNumber, s.unit.empty() ? nullptr : find_unit(s.unit)};
          case sdk::ValueType::kBoolean:
            return Info{Type::kBool};
          case sdk::ValueType::kString:
          case sdk::ValueType::kEnum: {
            Info i{Type::kString};
            i.string_slot = slots_.intern(x.text);
            return i;
          }
          default:
            fail(x.pos,
                 "'" + std::string(x.text) +
                     "' is an object, array or map; rules compare numbers, booleans, "
                     "strings and enums",
                 "name a field through a component or a scalar property");
        }
      }
      case NodeKind::kUnary: {
        Info i = info(x.kids[0]);
        if (x.op == Tok::kNot) {
          if (i.type != Type::kBool)
            fail(x.pos, std::string("'not' needs a condition, not ") + type_name(i.type));
          return i;
        }
        if (i.type != Type::kNumber)
          fail(x.pos, std::string("'-' needs a number, not ") + type_name(i.type));
        return i;
      }
      case NodeKind::kBinary:
        return binary_info(x);
      case NodeKind::kCall:
        return call_info(x);
    }
    return {};
  }

  // The unit two numeric operands share; converts constants written with units.
  const Unit* common_unit(const Node& at, const Info& l, const Info& r, bool& delta) {
    delta = l.delta || r.delta;
    if (l.literal_unit && r.literal_unit) return l.unit;
    if (l.literal_unit || r.literal_unit) {
      const Info& lit = l.literal_unit ? l : r;
      const Info& val = l.literal_unit ? r : l;
      if (!val.unit)
        fail(at.pos,
             "the value compared with a constant in " + std::string(lit.unit->name) +
                 " has no unit in the model",
             "drop the unit from the constant");
      if (lit.unit->dimension != val.unit->dimension)
        fail(at.pos,
             "cannot convert " + std::string(lit.unit->name) + " to " +
                 std::string(val.unit->name) + " (" + std::string(lit.unit->dimension) + " vs " +
                 std::string(val.unit->dimension) + ")",
             "use a unit of " + std::string(val.unit->dimension) + " or no unit");
      return val.unit;
    }
    return l.unit ? l.unit : r.unit;
  }

  Info binary_info(const Node& x) {
    Info l = info(x.kids[0]);
    Info r = info(x.kids[1]);
    switch (x.op) {
      case Tok::kAnd:
      case Tok::kOr:
        if (l.type != Type::kBool || r.type != Type::kBool)
          fail(x.pos, std::string("'and'/'or' join conditions, not ") +
                          type_name(l.type != Type::kBool ? l.type : r.type));
        return Info{Type::kBool};
      case Tok::kEq:
      case Tok::kNe:
        if (l.type == Type::kString || r.type == Type::kString) {
          if (l.type != r.type)
            fail(x.pos, std::string("cannot compare a string with ") +
                            type_name(l.type == Type::kString ? r.type : l.type));
          if ((l.string_slot >= 0) == (r.string_slot >= 0))
            fail(x.pos, "compare a string or enum property with a constant",
                 "write state == 'fault'");
          return Info{Type::kBool};
        }
        if (l.type == Type::kBool && r.type == Type::kBool) return Info{Type::kBool};
        [[fallthrough]];
      case Tok::kLt:
      case Tok::kLe:
      case Tok::kGt:
      case Tok::kGe: {
        if (l.type != Type::kNumber || r.type != Type::kNumber)
          fail(x.pos, std::string("comparison needs numbers on both sides, not ") +
                          type_name(l.type != Type::kNumber ? l.type : r.type));
        bool delta;
        common_unit(x, l, r, delta);
        return Info{Type::kBool};
      }
      case Tok::kPlus:
      case Tok::kMinus: {
        if (l.type != Type::kNumber || r.type != Type::kNumber)
          fail(x.pos, std::string("arithmetic needs numbers, not ") +
                          type_name(l.type != Type::kNumber ? l.type : r.type));
        Info i{Type::kNumber};
        i.unit = common_unit(x, l, r, i.delta);
        i.literal_unit = l.literal_unit && r.literal_unit;
        if (x.op == Tok::kMinus && !l.literal_unit && !r.literal_unit && l.unit && r.unit)
          i.delta = true;  // temperature - bearing/temperature is a difference
        return i;
      }
      default: {  // * and /
        if (l.type != Type::kNumber || r.type != Type::kNumber)
          fail(x.pos, std::string("arithmetic needs numbers, not ") +
                          type_name(l.type != Type::kNumber ? l.type : r.type));
        if (l.literal_unit || r.literal_unit)
          fail(x.pos, "a constant with a unit can only be compared, added or subtracted",
               "drop the unit");
        Info i{Type::kNumber};
        // Scaling keeps the unit (2 * temperature); a ratio of two quantities has none.
        i.unit = (l.unit && r.unit) ? nullptr : (l.unit ? l.unit : r.unit);
        i.delta = l.delta || r.delta;
        return i;
      }
    }
  }

  Info call_info(const Node& x) {
    if (is_window_call(x)) {
      const Node& s = n(x.kids[0]);
      if (s.kind != NodeKind::kName)
        fail(s.pos, std::string(x.text) + "(...) over a window takes a telemetry or property name",
             "write " + std::string(x.text) + "(temperature, 10m)");
      Info v = info(x.kids[0]);
      if (v.type != Type::kNumber && x.text != "count")
        fail(s.pos, "'" + std::string(s.text) + "' is not numeric");
      if (n(x.kids[1]).duration <= 0) fail(n(x.kids[1]).pos, "the window must be longer than 0");
      if (x.text == "count") return Info{Type::kNumber};
      Info i{Type::kNumber, v.unit};
      i.delta = x.text == "rate";
      return i;
    }
    if (is_related_call(x)) {
      const Node& rel = n(x.kids[0]);
      const Schema* target = schema_.related(rel.text);
      if (!target)
        fail(rel.pos, "'" + std::string(rel.text) + "' is not a relationship of the model",
             "known: " + schema_.relationship_names());
      return Info{x.text == "count" ? Type::kNumber : Type::kBool};
    }
    if (x.text == "abs") {
      if (x.kids.size() != 1) fail(x.pos, "abs takes one argument");
      Info i = info(x.kids[0]);
      if (i.type != Type::kNumber) fail(x.pos, "abs needs a number");
      i.delta = true;
      return i;
    }
    if (x.text == "min" || x.text == "max") {
      if (x.kids.size() < 2)
        fail(x.pos, std::string(x.text) + " takes two or more numbers, or (name, window)",
             "write " + std::string(x.text) + "(temperature, 10m)");
      Info acc = info(x.kids[0]);
      for (std::size_t k = 1; k < x.kids.size(); ++k) {
        Info r = info(x.kids[k]);
        if (acc.type != Type::kNumber || r.type != Type::kNumber)
          fail(x.pos, std::string(x.text) + " needs numbers");
        bool delta;
        const Unit* u = common_unit(x, acc, r, delta);
        acc.literal_unit = acc.literal_unit && r.literal_unit;
        acc.unit = u;
        acc.delta = delta;
      }
      return acc;
    }
    if (x.text == "avg" || x.text == "count" || x.text == "rate" || x.text == "any" ||
        x.text == "all")
      fail(x.pos, "wrong arguments for " + std::string(x.text),
           x.text == "any" || x.text == "all"
               ? "write " + std::string(x.text) + "(contains, temperature > 80)"
               : "write " + std::string(x.text) + "(temperature, 10m)");
    fail(x.pos, "unknown function '" + std::string(x.text) + "'",
         "functions: abs, min, max, avg, count, rate, any, all");
  }

  void op(Op o, std::int32_t a = 0, std::int32_t b = 0, double k = 0) {
    out_.code.push_back({o, a, b, k});
  }

  // Emits `index`; `unit` is the unit a constant written with a unit converts to.
  void emit(int index, const Unit* unit, bool delta) {
    const Node& x = n(index);
    switch (x.kind) {
      case NodeKind::kNumber: {
        double v = x.number;
        if (!x.unit.empty() && unit) v = *convert(v, *find_unit(x.unit), *unit, delta);
        op(Op::kConst, 0, 0, v);
        return;
      }
      case NodeKind::kBool:
        op(Op::kConst, 0, 0, x.number);
        return;
      case NodeKind::kStale:
        out_.uses_stale = true;
        op(Op::kStale, 0, 0, static_cast<double>(x.duration));
        return;
      case NodeKind::kName: {
        int s = slots_.intern(x.text);
        note_slot(s);
        op(Op::kSlot, s);
        return;
      }
      case NodeKind::kUnary:
        emit(x.kids[0], unit, delta);
        op(x.op == Tok::kNot ? Op::kNot : Op::kNeg);
        return;
      case NodeKind::kBinary: {
        Info l = info(x.kids[0]);
        Info r = info(x.kids[1]);
        if ((x.op == Tok::kEq || x.op == Tok::kNe) && l.type == Type::kString) {
          int slot = l.string_slot >= 0 ? l.string_slot : r.string_slot;
          const Node& lit = n(l.string_slot >= 0 ? x.kids[1] : x.kids[0]);
          note_slot(slot);
          out_.strings.emplace_back(lit.text);
          op(x.op == Tok::kEq ? Op::kStrEq : Op::kStrNe, slot,
             static_cast<std::int32_t>(out_.strings.size() - 1));
          return;
        }
        const Unit* u = unit;
        bool d = delta;
        if (l.type == Type::kNumber && r.type == Type::kNumber) {
          if (l.literal_unit && r.literal_unit && unit == nullptr) {
            u = l.unit;
          } else if (!(l.literal_unit && r.literal_unit)) {
            u = common_unit(x, l, r, d);
          }
        }
        emit(x.kids[0], u, d);
        emit(x.kids[1], u, d);
        switch (x.op) {
          case Tok::kAnd:
            op(Op::kAnd);
            break;
          case Tok::kOr:
            op(Op::kOr);
            break;
          case Tok::kEq:
            op(Op::kEq);
            break;
          case Tok::kNe:
            op(Op::kNe);
            break;
          case Tok::kLt:
            op(Op::kLt);
            break;
          case Tok::kLe:
            op(Op::kLe);
            break;
          case Tok::kGt:
            op(Op::kGt);
            break;
          case Tok::kGe:
            op(Op::kGe);
            break;
          case Tok::kPlus:
            op(Op::kAdd);
            break;
          case Tok::kMinus:
            op(Op::kSub);
            break;
          case Tok::kStar:
            op(Op::kMul);
            break;
          default:
            op(Op::kDiv);
        }
        return;
      }
      case NodeKind::kCall:
        emit_call(x, unit, delta);
        return;
      case NodeKind::kDuration:
        fail(x.pos,
             "a duration is only allowed as a window (avg(temperature, 10m)) or after "
             "'stale for'");
      case NodeKind::kString:
        fail(x.pos, "a string is only allowed in == or != with a string or enum property");
    }
  }

  void emit_call(const Node& x, const Unit* unit, bool delta) {
    if (is_window_call(x)) {
      WindowFn fn = x.text == "avg"     ? WindowFn::kAvg
                    : x.text == "min"   ? WindowFn::kMin
                    : x.text == "max"   ? WindowFn::kMax
                    : x.text == "count" ? WindowFn::kCount
                                        : WindowFn::kRate;
      int s = slots_.intern(n(x.kids[0]).text);
      note_slot(s);
      out_.windows.push_back({fn, s, n(x.kids[1]).duration});
      out_.uses_windows = true;
      op(Op::kWindow, static_cast<std::int32_t>(out_.windows.size() - 1));
      return;
    }
    if (is_related_call(x)) {
      const Node& rel = n(x.kids[0]);
      const Schema* target = schema_.related(rel.text);
      Program sub;
      Compiler inner(nodes_, *target, slots_, sub);
      Info body = inner.info(x.kids[1]);
      if (body.type != Type::kBool)
        fail(n(x.kids[1]).pos,
             std::string(x.text) + "(" + std::string(rel.text) +
                 ", ...) needs a condition on the related twins",
             "write " + std::string(x.text) + "(" + std::string(rel.text) + ", temperature > 80)");
      inner.emit(x.kids[1], nullptr, false);
      if (sub.uses_windows)
        fail(n(x.kids[1]).pos, "windows are not available for related twins",
             "compare their current values");
      sub.max_stack = max_depth(sub);
      out_.uses_stale = out_.uses_stale || sub.uses_stale;
      RelatedFn fn = x.text == "any"   ? RelatedFn::kAny
                     : x.text == "all" ? RelatedFn::kAll
                                       : RelatedFn::kCount;
      out_.subprograms.push_back(std::move(sub));
      out_.related.push_back(
          {fn, std::string(rel.text), static_cast<int>(out_.subprograms.size() - 1)});
      op(Op::kRelated, static_cast<std::int32_t>(out_.related.size() - 1));
      return;
    }
    if (x.text == "abs") {
      emit(x.kids[0], unit, true);
      op(Op::kAbs);
      return;
    }
    // min / max of values
    for (std::size_t k = 0; k < x.kids.size(); ++k) {
      Info i = info(x.kids[k]);
      emit(x.kids[k], i.literal_unit ? unit_for(x, unit) : unit, delta);
      if (k > 0) op(x.text == "min" ? Op::kMin : Op::kMax);
    }
  }

  // For min/max with mixed constants: the unit of the first argument that has a model unit.
  const Unit* unit_for(const Node& x, const Unit* fallback) {
    for (int k : x.kids) {
      Info i = info(k);
      if (!i.literal_unit && i.unit) return i.unit;
    }
    return fallback;
  }

  void note_slot(int s) {
    for (int have : out_.slots)
      if (have == s) return;
    out_.slots.push_back(s);
  }

 public:
  static int max_depth(const Program& p) {
    int depth = 0, most = 0;
    for (const Instr& i : p.code) {
      switch (i.op) {
        case Op::kConst:
        case Op::kSlot:
        case Op::kStrEq:
        case Op::kStrNe:
        case Op::kWindow:
        case Op::kStale:
        case Op::kRelated:
          ++depth;
          break;
        case Op::kNeg:
        case Op::kAbs:
        case Op::kNot:
          break;
        default:
          --depth;
      }
      most = std::max(most, depth);
    }
    return most;
  }

 private:
  const std::vector<Node>& nodes_;
  const Schema& schema_;
  SlotTable& slots_;
  Program& out_;
};

}  // namespace

bool compile(std::string_view source, const Schema& schema, SlotTable& slots, Program& out,
             CompileError& error) {
  out = Program{};
  out.source = std::string(source);
  std::vector<Node> nodes;
  try {
    Parser parser(lex(out.source), nodes);
    int root = parser.parse();
    Compiler c(nodes, schema, slots, out);
    c.compile_root(root);
    out.max_stack = Compiler::max_depth(out);
    if (out.max_stack > kMaxStack) {
      error = {1, "the expression is too deeply nested", "split it into simpler rules"};
      return false;
    }
    return true;
  } catch (const ParseFailure& f) {
    error = {f.pos + 1, f.message, f.hint};
    return false;
  }
}

double evaluate(const Program& p, const EvalInput& in) noexcept {
  double stack[kMaxStack];
  int top = -1;
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  for (const Instr& i : p.code) {
    switch (i.op) {
      case Op::kConst:
        stack[++top] = i.k;
        break;
      case Op::kSlot:
        stack[++top] = in.numbers[i.a];
        break;
      case Op::kStrEq:
      case Op::kStrNe: {
        const std::string& have = in.texts[i.a];
        bool eq = have == p.strings[static_cast<std::size_t>(i.b)];
        // An unknown value equals nothing and differs from nothing.
        stack[++top] = have.empty() ? 0.0 : ((eq == (i.op == Op::kStrEq)) ? 1.0 : 0.0);
        break;
      }
      case Op::kNeg:
        stack[top] = -stack[top];
        break;
      case Op::kAbs:
        stack[top] = std::fabs(stack[top]);
        break;
      case Op::kNot:
        stack[top] = holds(stack[top]) ? 0.0 : 1.0;
        break;
      case Op::kAdd:
        --top;
        stack[top] = stack[top] + stack[top + 1];
        break;
      case Op::kSub:
        --top;
        stack[top] = stack[top] - stack[top + 1];
        break;
      case Op::kMul:
        --top;
        stack[top] = stack[top] * stack[top + 1];
        break;
      case Op::kDiv:
        --top;
        stack[top] = stack[top + 1] == 0 ? kNaN : stack[top] / stack[top + 1];
        break;
      case Op::kMin:
        --top;
        stack[top] = std::fmin(stack[top], stack[top + 1]);
        break;
      case Op::kMax:
        --top;
        stack[top] = std::fmax(stack[top], stack[top + 1]);
        break;
      case Op::kLt:
        --top;
        stack[top] = stack[top] < stack[top + 1];
        break;
      case Op::kLe:
        --top;
        stack[top] = stack[top] <= stack[top + 1];
        break;
      case Op::kGt:
        --top;
        stack[top] = stack[top] > stack[top + 1];
        break;
      case Op::kGe:
        --top;
        stack[top] = stack[top] >= stack[top + 1];
        break;
      case Op::kEq:
        --top;
        stack[top] = stack[top] == stack[top + 1];
        break;
      case Op::kNe:
        --top;
        stack[top] = stack[top] != stack[top + 1];
        break;
      case Op::kAnd:
        --top;
        stack[top] = holds(stack[top]) && holds(stack[top + 1]);
        break;
      case Op::kOr:
        --top;
        stack[top] = holds(stack[top]) || holds(stack[top + 1]);
        break;
      case Op::kWindow:
        stack[++top] = in.sources
                           ? in.sources->window(p.windows[static_cast<std::size_t>(i.a)], in.now)
                           : kNaN;
        break;
      case Op::kStale:
        stack[++top] = i.k < 0 ? (in.stale ? 1.0 : 0.0)
                               : (in.now - in.last_data >= static_cast<Duration>(i.k) ? 1.0 : 0.0);
        break;
      case Op::kRelated: {
        const RelatedRef& r = p.related[static_cast<std::size_t>(i.a)];
        stack[++top] =
            in.sources ? in.sources->related(r, p.subprograms[static_cast<std::size_t>(r.program)])
                       : kNaN;
        break;
      }
    }
  }
  return top == 0 ? stack[0] : kNaN;
}

}  // namespace doppel::plugins::rules
