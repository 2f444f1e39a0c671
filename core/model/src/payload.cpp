#include "doppel/model/payload.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <cmath>
#include <cstring>
#include <unordered_map>

namespace doppel::model {
namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return false;
  for (std::size_t i = pos; i < pos + n; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}
int number_at(std::string_view s, std::size_t pos, std::size_t n) {
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i)
    v = v * 10 + (s[i] - '0');
  return v;
}

// hh:mm:ss[.frac] starting at pos; returns the index after it or npos.
std::size_t parse_partial_time(std::string_view s, std::size_t pos) {
  if (!digits(s, pos, 2) || pos + 8 > s.size() || s[pos + 2] != ':' || !digits(s, pos + 3, 2) ||
      s[pos + 5] != ':' || !digits(s, pos + 6, 2))
    return std::string_view::npos;
  if (number_at(s, pos, 2) > 23 || number_at(s, pos + 3, 2) > 59 || number_at(s, pos + 6, 2) > 60)
    return std::string_view::npos;
  std::size_t i = pos + 8;
  if (i < s.size() && s[i] == '.') {
    std::size_t start = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
      ++i;
    if (i == start) return std::string_view::npos;
  }
  return i;
}

std::size_t parse_offset(std::string_view s, std::size_t pos) {
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) return pos + 1;
  if (pos < s.size() && (s[pos] == '+' || s[pos] == '-') && digits(s, pos + 1, 2) &&
      pos + 6 <= s.size() && s[pos + 3] == ':' && digits(s, pos + 4, 2) &&
      number_at(s, pos + 1, 2) <= 23 && number_at(s, pos + 4, 2) <= 59)
    return pos + 6;
  return std::string_view::npos;
}

struct Lookup {
  struct Entry {
    std::string_view name;
    const Content* content;  // a telemetry/property, or a component
    const void* schema;      // for fields: const Field*
  };
  std::vector<Entry> entries;
  std::unordered_map<std::string_view, std::size_t> index;  // only when large

  void finish() {
    if (entries.size() > 24)
      for (std::size_t i = 0; i < entries.size(); ++i)
        index.emplace(entries[i].name, i);
  }
  const Entry* find(std::string_view key) const {
    if (!index.empty()) {
      auto it = index.find(key);
      return it == index.end() ? nullptr : &entries[it->second];
    }
    for (const Entry& e : entries)
      if (e.name.size() == key.size() && std::memcmp(e.name.data(), key.data(), key.size()) == 0)
        return &e;
    return nullptr;
  }
};

const char* got_name(char kind) {
  switch (kind) {
    case 'n':
      return "null";
    case 'b':
      return "boolean";
    case 'i':
      return "integer";
    case 'd':
      return "number";
    case 's':
      return "string";
    case 'a':
      return "array";
    case 'o':
      return "object";
  }
  return "?";
}

int geo_depth(SchemaKind k) {
  switch (k) {
    case SchemaKind::kPoint:
      return 1;
    case SchemaKind::kMultiPoint:
    case SchemaKind::kLineString:
      return 2;
    case SchemaKind::kMultiLineString:
    case SchemaKind::kPolygon:
      return 3;
    case SchemaKind::kMultiPolygon:
      return 4;
    default:
      return 0;
  }
}

const char* geo_type(SchemaKind k) {
  switch (k) {
    case SchemaKind::kPoint:
      return "Point";
    case SchemaKind::kMultiPoint:
      return "MultiPoint";
    case SchemaKind::kLineString:
      return "LineString";
    case SchemaKind::kMultiLineString:
      return "MultiLineString";
    case SchemaKind::kPolygon:
      return "Polygon";
    case SchemaKind::kMultiPolygon:
      return "MultiPolygon";
    default:
      return "";
  }
}

}  // namespace

bool is_rfc3339_date(std::string_view s) {
  if (s.size() != 10 || !digits(s, 0, 4) || s[4] != '-' || !digits(s, 5, 2) || s[7] != '-' ||
      !digits(s, 8, 2))
    return false;
  int y = number_at(s, 0, 4), m = number_at(s, 5, 2), d = number_at(s, 8, 2);
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1 || d > kDays[m - 1]) return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return !(m == 2 && d == 29 && !leap);
}

bool is_rfc3339_date_time(std::string_view s) {
  if (s.size() < 20 || !is_rfc3339_date(s.substr(0, 10)) || (s[10] != 'T' && s[10] != 't'))
    return false;
  std::size_t i = parse_partial_time(s, 11);
  if (i == std::string_view::npos) return false;
  return parse_offset(s, i) == s.size();
}

bool is_rfc3339_time(std::string_view s) {
  std::size_t i = parse_partial_time(s, 0);
  if (i == std::string_view::npos) return false;
  if (i == s.size()) return true;  // local time is accepted, as in the DTDL examples
  return parse_offset(s, i) == s.size();
}

bool is_iso8601_duration(std::string_view s) {
  // P[nY][nM][nW][nD][T[nH][nM][n[.f]S]]
  std::size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  if (i >= s.size() || s[i] != 'P') return false;
  ++i;
  bool any = false, in_time = false;
  const char* date_units = "YMWD";
  const char* time_units = "HMS";
  std::size_t unit_pos = 0;
  while (i < s.size()) {
    if (s[i] == 'T') {
      if (in_time) return false;
      in_time = true;
      unit_pos = 0;
      ++i;
      if (i >= s.size()) return false;
      continue;
    }
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
      ++i;
    bool fraction = false;
    if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
      fraction = true;
      ++i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9')
        ++i;
    }
    if (i == start || i >= s.size()) return false;
    const char* units = in_time ? time_units : date_units;
    const char* u = std::strchr(units + unit_pos, s[i]);
    if (!u || s[i] == '\0') return false;
    if (fraction && !(in_time && s[i] == 'S')) return false;
    unit_pos = static_cast<std::size_t>(u - units) + 1;
    any = true;
    ++i;
  }
  return any;
}

// ------------------------------------------------------------------------------------------------

struct PayloadValidator::Impl {
  const Interface* interface = nullptr;
  Lookup telemetry;
  Lookup properties;
  std::unordered_map<const Interface*, std::pair<Lookup, Lookup>>
      components;  // telemetry, properties
  std::unordered_map<const Schema*, Lookup> object_fields;

  void compile(const Interface& i, Lookup& tel, Lookup& prop, bool top) {
    for (const Content* c : i.contents) {
      if (c->kind == ContentKind::kTelemetry) tel.entries.push_back({c->name, c, nullptr});
      if (c->kind == ContentKind::kProperty) prop.entries.push_back({c->name, c, nullptr});
      if (c->kind == ContentKind::kComponent && c->component && top) {
        tel.entries.push_back({c->name, c, nullptr});
        prop.entries.push_back({c->name, c, nullptr});
        if (!components.count(c->component)) {
          auto& pair = components[c->component];
          compile(*c->component, pair.first, pair.second, false);
        }
      }
      if (c->schema) compile_schema(c->schema);
      if (c->request && c->request->schema) compile_schema(c->request->schema);
      if (c->response && c->response->schema) compile_schema(c->response->schema);
    }
    tel.finish();
    prop.finish();
  }

  void compile_schema(const Schema* s) {
    if (!s) return;
    switch (s->kind) {
      case SchemaKind::kArray:
        compile_schema(s->element);
        break;
      case SchemaKind::kMap:
        compile_schema(s->map_value);
        break;
      case SchemaKind::kObject: {
        if (object_fields.count(s)) break;
        Lookup& l = object_fields[s];
        for (const Field& f : s->fields) {
          l.entries.push_back({f.name, nullptr, &f});
          compile_schema(f.schema);
        }
        l.finish();
        break;
      }
      default:
        break;
    }
  }
};

namespace {
enum class MatchFrameKind : std::uint8_t {
  kContents,
  kArray,
  kMap,
  kObject,
  kGeo,
  kCoordinates,
  kAny
};
// One level of the JSON being matched against a schema.
struct MatchFrame {
  MatchFrameKind kind;
  const Schema* schema;      // kArray/kMap/kObject/kGeo
  const Lookup* lookup;      // kContents/kObject
  const Content* component;  // kContents: the component, if any
  std::uint32_t start;       // offset of '{' or '['
  std::uint32_t index;       // number of array elements seen
  int depth;                 // kCoordinates: remaining nesting
  bool saw_type, saw_coordinates;
  std::string_view key = {};  // the member being read; a view into the in-situ buffer, so
                              // paths are only built when an error is reported
  bool in_array = false;      // the selector is [index - 1] rather than .key
};
}  // namespace

struct PayloadScratch::Impl {
  std::vector<MatchFrame> stack;
  std::string buffer;  // in-situ copy of the payload
  std::string original_copy;
  std::vector<TypedValue> values;
  PayloadError error;
  rapidjson::Reader reader;
};

PayloadScratch::PayloadScratch() : impl_(std::make_unique<Impl>()) {
  impl_->buffer.reserve(4096);
  impl_->values.reserve(64);
  impl_->stack.reserve(32);
  impl_->error.path.reserve(256);
  impl_->error.message.reserve(256);
}
PayloadScratch::~PayloadScratch() = default;

namespace {

// The SAX handler: a stack of frames mirrors the schema being matched.
class Matcher {
 public:
  using FrameKind = MatchFrameKind;
  using Frame = MatchFrame;

  Matcher(const PayloadValidator::Impl& v, PayloadScratch::Impl& s, std::string_view original,
          rapidjson::InsituStringStream& stream, PayloadKind kind)
      : v_(v), s_(s), original_(original), stream_(stream), kind_(kind), stack_(s.stack) {
    stack_.clear();
  }

  // Expect a single value of `schema` at the root (command payloads).
  void expect_root_value(const Schema* schema) { root_value_schema_ = schema; }

  bool failed() const { return failed_; }

  // ---- SAX events ----
  bool Null() { return scalar('n'); }
  bool Bool(bool b) {
    bool_ = b;
    return scalar('b');
  }
  bool Int(int i) { return integer(i); }
  bool Uint(unsigned u) { return integer(u); }
  bool Int64(std::int64_t i) { return integer(i); }
  bool Uint64(std::uint64_t u) {
    if (u > static_cast<std::uint64_t>(INT64_MAX)) {
      double_ = static_cast<double>(u);
      return scalar('d');
    }
    return integer(static_cast<std::int64_t>(u));
  }
  bool Double(double d) {
    double_ = d;
    return scalar('d');
  }
  bool RawNumber(const char*, rapidjson::SizeType, bool) { return false; }
  bool String(const char* str, rapidjson::SizeType len, bool) {
    string_ = std::string_view(str, len);
    return scalar('s');
  }
  bool Key(const char* str, rapidjson::SizeType len, bool) {
    std::string_view key(str, len);
    Frame& f = stack_.back();
    f.key = key;
    switch (f.kind) {
      case FrameKind::kContents: {
        const Lookup::Entry* e = f.lookup->find(key);
        if (!e) return fail(unknown_member_message(key, f));
        pending_content_ = e->content;
        if (e->content->kind == ContentKind::kComponent) {
          expect_ = nullptr;
          expect_component_ = e->content;
        } else {
          expect_ = e->content->schema;
          expect_component_ = nullptr;
        }
        return true;
      }
      case FrameKind::kObject: {
        const Lookup::Entry* e = f.lookup->find(key);
        if (!e)
          return fail("unknown field '" + std::string(key) + "' of Object " +
                      schema_label(f.schema));
        expect_ = static_cast<const Field*>(e->schema)->schema;
        return true;
      }
      case FrameKind::kMap:
        expect_ = f.schema->map_value;
        return true;
      case FrameKind::kGeo:
        if (key == "type") {
          geo_member_ = 't';
          f.saw_type = true;
        } else if (key == "coordinates") {
          geo_member_ = 'c';
          f.saw_coordinates = true;
        } else if (key == "bbox") {
          geo_member_ = 'x';
        } else {
          return fail("unknown member '" + std::string(key) + "' in a GeoJSON " +
                      geo_type(f.schema->kind));
        }
        return true;
      default:
        return true;
    }
  }
  bool StartObject() {
    std::uint32_t start = static_cast<std::uint32_t>(stream_.Tell()) - 1;
    if (stack_.empty()) {
      if (root_value_schema_) return open_value(root_value_schema_, 'o', start);
      const Lookup& top = kind_ == PayloadKind::kTelemetry ? v_.telemetry : v_.properties;
      push({FrameKind::kContents, nullptr, &top, nullptr, start, 0, 0, false, false});
      return true;
    }
    Frame& f = stack_.back();
    if (f.kind == FrameKind::kContents && expect_component_) {
      const Content* comp = expect_component_;
      auto it = v_.components.find(comp->component);
      const Lookup* l = it == v_.components.end()          ? nullptr
                        : kind_ == PayloadKind::kTelemetry ? &it->second.first
                                                           : &it->second.second;
      if (!l) return fail("component '" + comp->name + "' has no contents");
      expect_component_ = nullptr;
      push({FrameKind::kContents, nullptr, l, comp, start, 0, 0, false, false});
      return true;
    }
    return open_value(current_expect(), 'o', start);
  }
  bool EndObject(rapidjson::SizeType) {
    Frame f = stack_.back();
    if (f.kind == FrameKind::kGeo) {
      if (!f.saw_type || !f.saw_coordinates)
        return fail_at(stack_.size() - 1, std::string("a GeoJSON ") + geo_type(f.schema->kind) +
                                              " needs 'type' and 'coordinates'");
    }
    stack_.pop_back();
    return close(f);
  }
  bool StartArray() {
    std::uint32_t start = static_cast<std::uint32_t>(stream_.Tell()) - 1;
    if (stack_.empty()) {
      if (root_value_schema_) return open_value(root_value_schema_, 'a', start);
      return fail("a payload must be a JSON object");
    }
    Frame& f = stack_.back();
    if (f.kind == FrameKind::kCoordinates || (f.kind == FrameKind::kGeo && geo_member_ == 'c')) {
      int depth = f.kind == FrameKind::kGeo ? geo_depth(f.schema->kind) : f.depth - 1;
      if (depth <= 0) return fail("coordinates are nested too deeply");
      if (f.kind == FrameKind::kCoordinates) index_path(f);
      push({FrameKind::kCoordinates, nullptr, nullptr, nullptr, start, 0, depth, false, false});
      return true;
    }
    if (f.kind == FrameKind::kGeo && geo_member_ == 'x') {
      push({FrameKind::kAny, nullptr, nullptr, nullptr, start, 0, 0, false, false});
      return true;
    }
    return open_value(current_expect(), 'a', start);
  }
  bool EndArray(rapidjson::SizeType count) {
    Frame f = stack_.back();
    if (f.kind == FrameKind::kCoordinates && f.depth == 1 && (count < 2 || count > 3))
      return fail_at(stack_.size() - 1, "a GeoJSON position has 2 or 3 numbers");
    stack_.pop_back();
    if (!stack_.empty() &&
        (stack_.back().kind == FrameKind::kCoordinates || stack_.back().kind == FrameKind::kGeo ||
         stack_.back().kind == FrameKind::kAny))
      return true;
    return close(f);
  }

  const std::string& message() const { return s_.error.message; }

 private:
  bool fail(std::string message) { return fail_at(stack_.size(), std::move(message)); }

  // Fails with the path through the first `depth` frames.
  bool fail_at(std::size_t depth, std::string message) {
    if (!failed_) {
      failed_ = true;
      std::string path = "$";
      for (std::size_t i = 0; i < depth && i < stack_.size(); ++i) {
        const Frame& f = stack_[i];
        if (f.in_array) {
          path += '[';
          path += std::to_string(f.index - 1);
          path += ']';
        } else if (f.key.data() != nullptr) {
          path += '.';
          path.append(f.key);
        }
      }
      s_.error.path = std::move(path);
      s_.error.message = std::move(message);
    }
    return false;
  }

  std::string unknown_member_message(std::string_view key, const Frame& f) {
    std::string where =
        f.component ? "component '" + f.component->name + "'" : "interface " + v_.interface->id;
    return "'" + std::string(key) + "' is not a " +
           (kind_ == PayloadKind::kTelemetry ? "telemetry" : "property") + " of " + where;
  }

  static std::string enum_values(const Schema* s) {
    std::string out = "(";
    for (std::size_t i = 0; i < s->enum_values.size() && i < 8; ++i) {
      if (i) out += ", ";
      const EnumValue& v = s->enum_values[i];
      out += v.is_string ? v.string_value : std::to_string(v.integer_value);
    }
    if (s->enum_values.size() > 8) out += ", ...";
    return out + ")";
  }

  static std::string schema_label(const Schema* s) {
    return s && !s->id.empty() ? s->id : "(inline)";
  }

  void push(const Frame& f) { stack_.push_back(f); }

  static void index_path(Frame& f) {
    ++f.index;
    f.in_array = true;
  }

  // The schema the next value must match.
  const Schema* current_expect() {
    if (stack_.empty()) return root_value_schema_;
    Frame& f = stack_.back();
    if (f.kind == FrameKind::kArray) {
      index_path(f);
      return f.schema->element;
    }
    return expect_;
  }

  bool type_error(const Schema* s, char got) {
    std::string expected = std::string(schema_kind_name(s->kind));
    if (s->kind == SchemaKind::kEnum)
      expected = std::string("Enum of ") +
                 (s->enum_value_schema == SchemaKind::kString ? "string" : "integer");
    if (is_geospatial(s->kind)) expected = std::string("GeoJSON ") + geo_type(s->kind) + " object";
    return fail("expected " + expected + ", got " + got_name(got));
  }

  bool open_value(const Schema* s, char got, std::uint32_t start) {
    if (!s) return fail("no schema for this value");
    if (got == 'o') {
      if (s->kind == SchemaKind::kObject) {
        auto it = v_.object_fields.find(s);
        if (it == v_.object_fields.end())
          return fail("schema " + schema_label(s) + " does not belong to this interface");
        push({FrameKind::kObject, s, &it->second, nullptr, start, 0, 0, false, false});
        return true;
      }
      if (s->kind == SchemaKind::kMap) {
        push({FrameKind::kMap, s, nullptr, nullptr, start, 0, 0, false, false});
        return true;
      }
      if (is_geospatial(s->kind)) {
        push({FrameKind::kGeo, s, nullptr, nullptr, start, 0, 0, false, false});
        return true;
      }
    } else if (s->kind == SchemaKind::kArray) {
      push({FrameKind::kArray, s, nullptr, nullptr, start, 0, 0, false, false});
      return true;
    }
    return type_error(s, got);
  }

  bool integer(std::int64_t i) {
    int_ = i;
    double_ = static_cast<double>(i);
    return scalar('i');
  }

  // A primitive JSON value arrived.
  bool scalar(char got) {
    if (stack_.empty()) {
      if (!root_value_schema_) return fail("a payload must be a JSON object");
      return check_scalar(root_value_schema_, got) &&
             record_scalar(root_value_schema_, got, nullptr, nullptr);
    }
    Frame& f = stack_.back();
    switch (f.kind) {
      case FrameKind::kCoordinates:
        if (f.depth != 1)
          return fail("expected an array of positions, got " + std::string(got_name(got)));
        index_path(f);
        if (got != 'i' && got != 'd') return fail("GeoJSON coordinates must be numbers");
        return true;
      case FrameKind::kGeo:
        if (geo_member_ == 't') {
          if (got != 's' || string_ != geo_type(f.schema->kind))
            return fail(std::string("GeoJSON 'type' must be \"") + geo_type(f.schema->kind) + "\"");
          return true;
        }
        if (geo_member_ == 'c') return fail("GeoJSON 'coordinates' must be an array");
        return true;
      case FrameKind::kAny:
        return true;
      case FrameKind::kContents:
        if (expect_component_)
          return fail("component '" + expect_component_->name + "' must be a JSON object");
        if (!check_scalar(expect_, got)) return false;
        return record_scalar(expect_, got, pending_content_, f.component);
      default: {
        const Schema* s = current_expect();
        return check_scalar(s, got);
      }
    }
  }

  bool check_scalar(const Schema* s, char got) {
    if (!s) return fail("no schema for this value");
    switch (s->kind) {
      case SchemaKind::kBoolean:
        return got == 'b' || type_error(s, got);
      case SchemaKind::kInteger:
        if (got != 'i') return type_error(s, got);
        if (int_ < INT32_MIN || int_ > INT32_MAX)
          return fail("integer " + std::to_string(int_) + " is out of the 32-bit range");
        return true;
      case SchemaKind::kLong:
        return got == 'i' || type_error(s, got);
      case SchemaKind::kDouble:
        if (got != 'i' && got != 'd') return type_error(s, got);
        return std::isfinite(double_) || fail("number is not finite");
      case SchemaKind::kFloat:
        if (got != 'i' && got != 'd') return type_error(s, got);
        if (!std::isfinite(double_) || std::fabs(double_) > 3.4028234663852886e38)
          return fail("number is outside the float range");
        return true;
      case SchemaKind::kString:
        return got == 's' || type_error(s, got);
      case SchemaKind::kDate:
        if (got != 's') return type_error(s, got);
        return is_rfc3339_date(string_) ||
               fail("'" + std::string(string_) + "' is not an RFC 3339 date (YYYY-MM-DD)");
      case SchemaKind::kDateTime:
        if (got != 's') return type_error(s, got);
        return is_rfc3339_date_time(string_) ||
               fail("'" + std::string(string_) +
                    "' is not an RFC 3339 date-time (e.g. 2024-05-01T12:00:00Z)");
      case SchemaKind::kTime:
        if (got != 's') return type_error(s, got);
        return is_rfc3339_time(string_) ||
               fail("'" + std::string(string_) + "' is not an RFC 3339 time (hh:mm:ss)");
      case SchemaKind::kDuration:
        if (got != 's') return type_error(s, got);
        return is_iso8601_duration(string_) ||
               fail("'" + std::string(string_) + "' is not an ISO 8601 duration (e.g. PT5M)");
      case SchemaKind::kEnum:
        if (s->enum_value_schema == SchemaKind::kString) {
          if (got != 's') return type_error(s, got);
          for (const EnumValue& v : s->enum_values)
            if (v.is_string && v.string_value == string_) return true;
          return fail("'" + std::string(string_) + "' is not one of the enum values " +
                      enum_values(s));
        }
        if (got != 'i') return type_error(s, got);
        for (const EnumValue& v : s->enum_values)
          if (!v.is_string && v.integer_value == int_) return true;
        return fail(std::to_string(int_) + " is not one of the enum values " + enum_values(s));
      default:
        return type_error(s, got);
    }
  }

  bool record_scalar(const Schema* s, char got, const Content* content, const Content* component) {
    TypedValue v;
    v.content = content;
    v.component = component;
    v.kind = s->kind;
    v.boolean = bool_;
    v.integer = got == 'i' ? int_ : 0;
    v.number = double_;
    if (got == 's') v.string = string_;
    s_.values.push_back(v);
    return true;
  }

  // A complex value ended: record it when it is a top-level content value.
  bool close(const Frame& f) {
    if (f.kind == FrameKind::kContents) return true;  // the root or a component object
    if (!stack_.empty() && stack_.back().kind != FrameKind::kContents) return true;
    std::uint32_t end = static_cast<std::uint32_t>(stream_.Tell());
    TypedValue v;
    v.content = stack_.empty() ? nullptr : pending_content_;
    v.component = stack_.empty() ? nullptr : stack_.back().component;
    v.kind = f.schema->kind;
    v.json = original_.substr(f.start, end - f.start);
    s_.values.push_back(v);
    return true;
  }

  const PayloadValidator::Impl& v_;
  PayloadScratch::Impl& s_;
  std::string_view original_;
  rapidjson::InsituStringStream& stream_;
  PayloadKind kind_;
  const Schema* root_value_schema_ = nullptr;
  std::vector<Frame>& stack_;
  const Schema* expect_ = nullptr;
  const Content* expect_component_ = nullptr;
  const Content* pending_content_ = nullptr;
  char geo_member_ = 0;
  bool failed_ = false;
  bool bool_ = false;
  std::int64_t int_ = 0;
  double double_ = 0;
  std::string_view string_;
};

}  // namespace

PayloadValidator::PayloadValidator(const Interface& interface) : impl_(std::make_unique<Impl>()) {
  impl_->interface = &interface;
  impl_->compile(interface, impl_->telemetry, impl_->properties, true);
}
PayloadValidator::~PayloadValidator() = default;
PayloadValidator::PayloadValidator(PayloadValidator&&) noexcept = default;
PayloadValidator& PayloadValidator::operator=(PayloadValidator&&) noexcept = default;

const Interface& PayloadValidator::interface() const {
  return *impl_->interface;
}

namespace {

bool is_ascii(std::string_view s) {
  std::size_t i = 0;
  std::uint64_t acc = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    acc |= w;
  }
  for (; i < s.size(); ++i)
    acc |= static_cast<unsigned char>(s[i]);
  return (acc & 0x8080808080808080ull) == 0;
}

PayloadResult run(const PayloadValidator::Impl& impl, std::string_view json, PayloadKind kind,
                  const Schema* root, PayloadScratch::Impl& s) {
  s.values.clear();
  s.error.path.clear();
  s.error.message.clear();
  // In-situ parsing rewrites strings in place; keep the caller's text intact for raw slices.
  s.buffer.reserve(json.size() + 17);  // RapidJSON's SSE2 code reads whole 16-byte blocks
  s.buffer.assign(json.data(), json.size());
  s.buffer.push_back('\0');
  rapidjson::InsituStringStream stream(s.buffer.data());
  Matcher m(impl, s, json, stream, kind);
  if (root) m.expect_root_value(root);
  // Most payloads are ASCII; UTF-8 validation (a per-character cost) is needed only otherwise.
  constexpr unsigned kFlags = rapidjson::kParseInsituFlag | rapidjson::kParseStopWhenDoneFlag;
  rapidjson::ParseResult ok =
      is_ascii(json) ? s.reader.Parse<kFlags>(stream, m)
                     : s.reader.Parse<kFlags | rapidjson::kParseValidateEncodingFlag>(stream, m);
  PayloadResult result;
  if (!ok) {
    if (!m.failed()) {
      s.error.path = "$";
      s.error.message = std::string("not valid JSON at offset ") + std::to_string(ok.Offset()) +
                        ": " + rapidjson::GetParseError_En(ok.Code());
    }
    s.values.clear();
    result.error = &s.error;
    return result;
  }
  std::size_t end = stream.Tell();
  while (end < json.size() &&
         (json[end] == ' ' || json[end] == '\n' || json[end] == '\r' || json[end] == '\t'))
    ++end;
  if (end < json.size()) {
    s.error.path = "$";
    s.error.message = "unexpected text after the JSON value";
    s.values.clear();
    result.error = &s.error;
    return result;
  }
  result.ok = true;
  result.values = s.values;
  return result;
}

}  // namespace

PayloadResult PayloadValidator::validate(std::string_view json, PayloadKind kind,
                                         PayloadScratch& scratch) const {
  return run(*impl_, json, kind, nullptr, *scratch.impl_);
}

PayloadResult PayloadValidator::validate_value(std::string_view json, const Schema& schema,
                                               PayloadScratch& scratch) const {
  return run(*impl_, json, PayloadKind::kTelemetry, &schema, *scratch.impl_);
}

}  // namespace doppel::model
