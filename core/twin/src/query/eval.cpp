#include "eval.hpp"

#include <cassert>
#include <charconv>

#include "doppel/model/registry.hpp"
#include "json_writer.hpp"

namespace doppel::twin::query {

void Operand::set(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kNull:
      kind = Kind::kNull;
      return;
    case Value::Kind::kBool:
      kind = Kind::kBool;
      b = v.as_bool();
      return;
    case Value::Kind::kInteger:
      kind = Kind::kInt;
      i = v.as_integer();
      return;
    case Value::Kind::kDouble:
      kind = Kind::kDouble;
      d = v.as_double();
      return;
    case Value::Kind::kString:
      kind = Kind::kString;
      s = v.as_string();
      return;
    case Value::Kind::kJson:
      // Complex values are stored as JSON text; a JSON string or number stays what it is.
      json_to_operand(v.as_string(), *this);
      return;
  }
}

void Operand::set_owned(std::string text, Kind k) {
  owned = std::move(text);
  s = owned;
  kind = k;
}

// ---- JSON text access ---------------------------------------------------------------------------

namespace {

std::size_t skip_ws(std::string_view j, std::size_t p) {
  while (p < j.size() && (j[p] == ' ' || j[p] == '\t' || j[p] == '\n' || j[p] == '\r'))
    ++p;
  return p;
}

// One past the end of the string starting at j[p] == '"', or npos.
std::size_t skip_string(std::string_view j, std::size_t p) {
  for (++p; p < j.size(); ++p) {
    if (j[p] == '\\') {
      ++p;
    } else if (j[p] == '"') {
      return p + 1;
    }
  }
  return std::string_view::npos;
}

// One past the end of the value starting at j[p], or npos.
std::size_t skip_value(std::string_view j, std::size_t p) {
  if (p >= j.size()) return std::string_view::npos;
  char c = j[p];
  if (c == '"') return skip_string(j, p);
  if (c == '{' || c == '[') {
    int depth = 0;
    while (p < j.size()) {
      char d = j[p];
      if (d == '"') {
        p = skip_string(j, p);
        if (p == std::string_view::npos) return p;
        continue;
      }
      if (d == '{' || d == '[') ++depth;
      if (d == '}' || d == ']') {
        if (--depth == 0) return p + 1;
      }
      ++p;
    }
    return std::string_view::npos;
  }
  while (p < j.size() && j[p] != ',' && j[p] != '}' && j[p] != ']' && j[p] != ' ' && j[p] != '\t' &&
         j[p] != '\n' && j[p] != '\r')
    ++p;
  return p;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The content of a JSON string literal (with its quotes), unescaped.
std::string unescape(std::string_view quoted) {
  std::string out;
  std::string_view s = quoted.substr(1, quoted.size() >= 2 ? quoted.size() - 2 : 0);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out += s[i];
      continue;
    }
    char e = s[++i];
    switch (e) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'u': {
        if (i + 4 >= s.size()) break;  // truncated: the text was validated, so not expected
        std::uint32_t cp = 0;
        std::from_chars(s.data() + i + 1, s.data() + i + 5, cp, 16);
        i += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < s.size() && s[i + 1] == '\\' &&
            s[i + 2] == 'u') {
          std::uint32_t lo = 0;
          std::from_chars(s.data() + i + 3, s.data() + i + 7, lo, 16);
          if (lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          }
        }
        append_utf8(out, cp);
        break;
      }
      default:
        out += e;
    }
  }
  return out;
}

}  // namespace

std::string_view json_member(std::string_view j, std::string_view key) {
  std::size_t p = skip_ws(j, 0);
  if (p >= j.size() || j[p] != '{') return {};
  p = skip_ws(j, p + 1);
  while (p < j.size() && j[p] == '"') {
    std::size_t key_end = skip_string(j, p);
    if (key_end == std::string_view::npos) return {};
    std::string_view raw = j.substr(p + 1, key_end - p - 2);
    bool match = raw.find('\\') == std::string_view::npos
                     ? raw == key
                     : unescape(j.substr(p, key_end - p)) == key;
    p = skip_ws(j, key_end);
    if (p >= j.size() || j[p] != ':') return {};
    p = skip_ws(j, p + 1);
    std::size_t value_end = skip_value(j, p);
    if (value_end == std::string_view::npos) return {};
    if (match) return j.substr(p, value_end - p);
    p = skip_ws(j, value_end);
    if (p < j.size() && j[p] == ',') p = skip_ws(j, p + 1);
  }
  return {};
}

void json_to_operand(std::string_view j, Operand& out) {
  std::size_t p = skip_ws(j, 0);
  std::size_t e = j.size();
  while (e > p && (j[e - 1] == ' ' || j[e - 1] == '\n' || j[e - 1] == '\t' || j[e - 1] == '\r'))
    --e;
  j = j.substr(p, e - p);
  if (j.empty()) {
    out.kind = Operand::Kind::kUndefined;
    return;
  }
  switch (j[0]) {
    case '"':
      out.set_owned(unescape(j));
      return;
    case '{':
    case '[':
      out.kind = Operand::Kind::kJson;
      out.s = j;
      return;
    case 't':
      out.kind = Operand::Kind::kBool;
      out.b = true;
      return;
    case 'f':
      out.kind = Operand::Kind::kBool;
      out.b = false;
      return;
    case 'n':
      out.kind = Operand::Kind::kNull;
      return;
    default:
      break;
  }
  if (j.find_first_of(".eE") == std::string_view::npos) {
    auto [ptr, ec] = std::from_chars(j.data(), j.data() + j.size(), out.i);
    if (ec == std::errc()) {
      out.kind = Operand::Kind::kInt;
      return;
    }
  }
  out.kind = Operand::Kind::kDouble;
  out.d = std::strtod(std::string(j).c_str(), nullptr);
}

// ---- comparisons --------------------------------------------------------------------------------

namespace {

template <typename T>
Tri order(const T& a, const T& b, CmpOp op) {
  bool r = false;
  switch (op) {
    case CmpOp::kEq:
      r = a == b;
      break;
    case CmpOp::kNe:
      r = !(a == b);
      break;
    case CmpOp::kLt:
      r = a < b;
      break;
    case CmpOp::kLe:
      r = !(b < a);
      break;
    case CmpOp::kGt:
      r = b < a;
      break;
    case CmpOp::kGe:
      r = !(a < b);
      break;
  }
  return r ? Tri::kTrue : Tri::kFalse;
}

Tri of(bool b) {
  return b ? Tri::kTrue : Tri::kFalse;
}

}  // namespace

Tri compare(const Operand& a, const Operand& b, CmpOp op) {
  using K = Operand::Kind;
  if (a.kind == K::kUndefined || b.kind == K::kUndefined) return Tri::kUndefined;
  if (a.is_number() && b.is_number()) {
    if (a.kind == K::kInt && b.kind == K::kInt) return order(a.i, b.i, op);
    return order(a.number(), b.number(), op);
  }
  if (a.kind != b.kind) return Tri::kUndefined;  // different types do not compare (ADT)
  switch (a.kind) {
    case K::kString:
      return order(a.s, b.s, op);
    case K::kBool:
      return order(a.b, b.b, op);
    case K::kNull:
      if (op == CmpOp::kEq || op == CmpOp::kLe || op == CmpOp::kGe) return Tri::kTrue;
      return op == CmpOp::kNe ? Tri::kFalse : Tri::kUndefined;
    case K::kJson:
      if (op == CmpOp::kEq) return of(a.s == b.s);
      if (op == CmpOp::kNe) return of(a.s != b.s);
      return Tri::kUndefined;
    default:
      return Tri::kUndefined;
  }
}

// ---- paths --------------------------------------------------------------------------------------

Evaluator::Resolved Evaluator::resolve(const TwinLayout& layout,
                                       const std::vector<std::string>& segs) {
  Resolved r;
  const std::size_t n = segs.size();
  if (n == 0) return r;
  auto metadata_field = [&](int slot, const std::string& field) {
    if (slot < 0) return r;
    r.slot = slot;
    if (field == "syncStatus") {
      r.kind = PathKind::kSyncStatus;
    } else if (field == "desiredValue") {
      r.kind = PathKind::kDesiredValue;
    } else if (field == "desiredVersion") {
      r.kind = PathKind::kDesiredVersion;
    } else if (field == "lastUpdateTime") {
      r.kind = PathKind::kLastUpdateTime;
    }
    return r;
  };
  const std::string& s0 = segs[0];
  if (n == 1 && s0 == "$dtId") return Resolved{PathKind::kDtId};
  if (n == 1 && s0 == "$etag") return Resolved{PathKind::kEtag};
  if (s0 == "$metadata") {
    if (n == 2 && segs[1] == "$model") return Resolved{PathKind::kModel};
    if (n == 2 && segs[1] == "$stale") return Resolved{PathKind::kStale};
    if (n == 3) return metadata_field(layout.find(segs[1]), segs[2]);
    if (n == 4) return metadata_field(layout.find(segs[1] + "/" + segs[2]), segs[3]);
    return r;
  }
  if (n == 4 && segs[1] == "$metadata")  // component.$metadata.prop.field, as ADT nests it
    return metadata_field(layout.find(s0 + "/" + segs[2]), segs[3]);
  if (n >= 2) {
    int slot = layout.find(s0 + "/" + segs[1]);
    if (slot >= 0) return Resolved{PathKind::kValue, slot, 2};
  }
  int slot = layout.find(s0);
  if (slot >= 0) return Resolved{PathKind::kValue, slot, 1};
  if (n == 1) {
    const model::Content* c = layout.interface().find(s0);
    if (c && c->kind == model::ContentKind::kComponent) return Resolved{PathKind::kComponent};
  }
  return r;
}

namespace {

// Follows JSON members `segs[from..]` into a complex value.
void navigate(std::string_view json, const std::vector<std::string>& segs, std::size_t from,
              Operand& out) {
  for (std::size_t k = from; k < segs.size(); ++k) {
    json = json_member(json, segs[k]);
    if (json.empty()) {
      out.kind = Operand::Kind::kUndefined;
      return;
    }
  }
  json_to_operand(json, out);
}

}  // namespace

void Evaluator::twin_path(const Expr& e, const TwinView& twin, Operand& out) {
  bool fresh = false;
  Entry& c = caches_[static_cast<std::size_t>(e.cache)].find(twin.layout, fresh);
  if (fresh) c.resolved = resolve(*twin.layout, e.segments);
  const Resolved& r = c.resolved;
  const SlotState* slot = r.slot >= 0 ? &twin.slots[static_cast<std::size_t>(r.slot)] : nullptr;
  switch (r.kind) {
    case PathKind::kUndefined:
      out.kind = Operand::Kind::kUndefined;
      return;
    case PathKind::kDtId:
      out.kind = Operand::Kind::kString;
      out.s = twin.id;
      return;
    case PathKind::kEtag:
      out.set_owned("W/\"" + std::to_string(twin.version) + "\"");
      return;
    case PathKind::kModel:
      out.kind = Operand::Kind::kString;
      out.s = twin.layout->interface().id;
      return;
    case PathKind::kStale:
      out.kind = Operand::Kind::kBool;
      out.b = twin.stale;
      return;
    case PathKind::kValue:
      if (slot->reported.is_null()) {
        out.kind = Operand::Kind::kUndefined;
      } else if (r.json_from == e.segments.size()) {
        out.set(slot->reported);
      } else if (slot->reported.kind() == Value::Kind::kJson) {
        navigate(slot->reported.as_string(), e.segments, r.json_from, out);
      } else {
        out.kind = Operand::Kind::kUndefined;
      }
      return;
    case PathKind::kSyncStatus:
      out.kind = Operand::Kind::kString;
      out.s = sync_status_name(slot->sync);
      return;
    case PathKind::kDesiredValue:
      if (slot->desired_version == 0 || slot->desired.is_null()) {
        out.kind = Operand::Kind::kUndefined;
      } else {
        out.set(slot->desired);
      }
      return;
    case PathKind::kDesiredVersion:
      out.kind = Operand::Kind::kInt;
      out.i = slot->desired_version;
      return;
    case PathKind::kLastUpdateTime: {
      if (slot->reported.is_null()) {
        out.kind = Operand::Kind::kUndefined;
        return;
      }
      std::string text;
      append_time(text, slot->reported_at);
      out.set_owned(text.substr(1, text.size() - 2));  // without the quotes
      return;
    }
    case PathKind::kComponent:
      out.kind = Operand::Kind::kComponent;
      out.s = e.segments[0];
      out.twin = &twin;
      return;
  }
}

void Evaluator::relationship_path(const Expr& e, const BoundRelationship& b, Operand& out) {
  const Relationship& r = *b.relationship;
  const std::string& s0 = e.segments[0];
  if (e.segments.size() == 1 && !s0.empty() && s0[0] == '$') {
    if (s0 == "$relationshipId") {
      out.set_owned(r.id());
    } else if (s0 == "$targetId") {
      out.kind = Operand::Kind::kString;
      out.s = r.target;
    } else if (s0 == "$sourceId") {
      out.kind = Operand::Kind::kString;
      out.s = b.source;
    } else if (s0 == "$relationshipName") {
      out.kind = Operand::Kind::kString;
      out.s = r.name();
    } else {
      out.kind = Operand::Kind::kUndefined;
    }
    return;
  }
  for (const auto& [name, v] : r.properties) {
    if (name != s0) continue;
    if (v.is_null()) break;
    if (e.segments.size() == 1) {
      out.set(v);
    } else if (v.kind() == Value::Kind::kJson) {
      navigate(v.as_string(), e.segments, 1, out);
    } else {
      break;
    }
    return;
  }
  out.kind = Operand::Kind::kUndefined;
}

// ---- evaluation ---------------------------------------------------------------------------------

void Evaluator::value(const Expr& e, const Env& env, Operand& out) {
  switch (e.kind) {
    case ExprKind::kLiteral:
      out.set(e.literal);
      return;
    case ExprKind::kPath: {
      const auto b = static_cast<std::size_t>(e.binding);
      if (env.twins[b]) {
        twin_path(e, *env.twins[b], out);
      } else {
        assert(env.relationships[b].relationship && "conjuncts run after their bindings");
        relationship_path(e, env.relationships[b], out);
      }
      return;
    }
    default: {
      Tri t = test(e, env);
      if (t == Tri::kUndefined) {
        out.kind = Operand::Kind::kUndefined;
      } else {
        out.kind = Operand::Kind::kBool;
        out.b = t == Tri::kTrue;
      }
    }
  }
}

Tri Evaluator::test(const Expr& e, const Env& env) {
  switch (e.kind) {
    case ExprKind::kAnd: {
      Tri result = Tri::kTrue;
      for (const auto& a : e.args) {
        Tri t = test(*a, env);
        if (t == Tri::kFalse) return t;
        if (t == Tri::kUndefined) result = t;
      }
      return result;
    }
    case ExprKind::kOr: {
      Tri result = Tri::kFalse;
      for (const auto& a : e.args) {
        Tri t = test(*a, env);
        if (t == Tri::kTrue) return t;
        if (t == Tri::kUndefined) result = t;
      }
      return result;
    }
    case ExprKind::kNot: {
      Tri t = test(*e.args[0], env);
      return t == Tri::kUndefined ? t : (t == Tri::kTrue ? Tri::kFalse : Tri::kTrue);
    }
    case ExprKind::kCompare: {
      Operand a, b;
      value(*e.args[0], env, a);
      value(*e.args[1], env, b);
      return compare(a, b, e.op);
    }
    case ExprKind::kIn: {
      Operand a;
      value(*e.args[0], env, a);
      if (a.kind == Operand::Kind::kUndefined) return Tri::kUndefined;
      for (std::size_t k = 1; k < e.args.size(); ++k) {
        Operand b;
        b.set(e.args[k]->literal);
        if (compare(a, b, CmpOp::kEq) == Tri::kTrue) return e.negated ? Tri::kFalse : Tri::kTrue;
      }
      return e.negated ? Tri::kTrue : Tri::kFalse;
    }
    case ExprKind::kCall:
      return call(e, env);
    case ExprKind::kLiteral:
    case ExprKind::kPath: {
      Operand v;
      value(e, env, v);
      return v.kind == Operand::Kind::kBool ? of(v.b) : Tri::kUndefined;
    }
  }
  return Tri::kUndefined;
}

Tri Evaluator::call(const Expr& e, const Env& env) {
  using K = Operand::Kind;
  if (e.func == Func::kIsOfModel) {
    const TwinView* twin = env.twins[static_cast<std::size_t>(e.binding)];
    bool fresh = false;
    Entry& c = caches_[static_cast<std::size_t>(e.cache)].find(twin->layout, fresh);
    if (fresh) {
      const model::Interface& i = twin->layout->interface();
      c.is_of_model = e.exact ? i.id == e.model : i.is_a(e.model);
    }
    return of(c.is_of_model);
  }
  Operand a;
  value(*e.args[0], env, a);
  switch (e.func) {
    case Func::kIsDefined:
      return of(a.kind != K::kUndefined);
    case Func::kIsNull:
      return of(a.kind == K::kNull);
    case Func::kIsNumber:
      return of(a.is_number());
    case Func::kIsString:
      return of(a.kind == K::kString);
    case Func::kIsBool:
      return of(a.kind == K::kBool);
    case Func::kIsObject:
      return of(a.kind == K::kComponent || (a.kind == K::kJson && a.s[0] == '{'));
    default:
      break;
  }
  Operand b;
  value(*e.args[1], env, b);
  if (a.kind != K::kString || b.kind != K::kString) return Tri::kUndefined;
  switch (e.func) {
    case Func::kStartsWith:
      return of(a.s.substr(0, b.s.size()) == b.s);
    case Func::kEndsWith:
      return of(a.s.size() >= b.s.size() && a.s.substr(a.s.size() - b.s.size()) == b.s);
    case Func::kContains:
      return of(a.s.find(b.s) != std::string_view::npos);
    default:
      return Tri::kUndefined;
  }
}

bool Evaluator::all(const std::vector<const Expr*>& conjuncts, const Env& env) {
  for (const Expr* c : conjuncts)
    if (test(*c, env) != Tri::kTrue) return false;
  return true;
}

}  // namespace doppel::twin::query
