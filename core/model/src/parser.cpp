#include "parser.hpp"

#include <algorithm>

#include "doppel/model/dtmi.hpp"
#include "reporter.hpp"
#include "standard_units.hpp"

namespace doppel::model::detail {
namespace {

constexpr std::string_view kXsd = "http://www.w3.org/2001/XMLSchema#";

bool is_term(std::string_view s) {
  return !s.empty() && s.find(':') == std::string_view::npos;
}

std::string q(std::string_view s) {
  return "'" + std::string(s) + "'";
}

std::string member_path(const std::string& path, std::string_view key) {
  std::string out = path;
  bool plain = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
  if (plain) {
    out += '.';
    out += key;
  } else {
    out += "['";
    out += key;
    out += "']";
  }
  return out;
}

std::string index_path(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// Length as .NET counts it (UTF-16 code units), so limits agree with the reference parser.
std::size_t utf16_length(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    n += len == 4 ? 2 : 1;
    i += len;
  }
  return n;
}

bool is_ascii_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_ascii_alnum(char c) {
  return is_ascii_alpha(c) || (c >= '0' && c <= '9');
}

// BCP 47 shape as the reference checks it: a 2-3 letter language, then '-'-separated
// subtags of 1-8 letters or digits.
bool valid_language_tag(std::string_view tag) {
  std::size_t i = 0;
  while (i < tag.size() && is_ascii_alpha(tag[i]))
    ++i;
  if (i < 2 || i > 3) return false;
  while (i < tag.size()) {
    if (tag[i] != '-') return false;
    std::size_t start = ++i;
    while (i < tag.size() && is_ascii_alnum(tag[i]))
      ++i;
    if (i - start < 1 || i - start > 8) return false;
  }
  return true;
}

// ^[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?$
bool valid_name(std::string_view s) {
  if (s.empty() || !is_ascii_alpha(s.front()) || s.back() == '_') return false;
  for (char c : s)
    if (!is_ascii_alnum(c) && c != '_') return false;
  return true;
}

bool xsd_type_matches(std::string_view type, std::string_view local) {
  if (type.starts_with("xsd:")) return type.substr(4) == local;
  if (type.starts_with(kXsd)) return type.substr(kXsd.size()) == local;
  return false;
}

std::string_view datatype_name(Datatype t) {
  switch (t) {
    case Datatype::kString:
      return "string";
    case Datatype::kLangString:
      return "localizable string";
    case Datatype::kInteger:
      return "integer";
    case Datatype::kBoolean:
      return "boolean";
    case Datatype::kIri:
      return "DTMI";
    case Datatype::kIntOrString:
      return "integer or string";
    case Datatype::kNone:
      return "element";
  }
  return "?";
}

std::string_view xsd_local(Datatype t, const Node& v) {
  switch (t) {
    case Datatype::kString:
    case Datatype::kIri:
      return "string";
    case Datatype::kInteger:
      return "integer";
    case Datatype::kBoolean:
      return "boolean";
    case Datatype::kIntOrString:
      return v.type == NodeType::kString ? "string" : "integer";
    default:
      return "string";
  }
}

const CotypeSpec* find_cotype(const ActiveContext& ctx, std::string_view type) {
  for (auto it = ctx.extensions.rbegin(); it != ctx.extensions.rend(); ++it)
    for (const CotypeSpec& c : (*it)->cotypes)
      if (c.term == type || c.dtmi == type) return &c;
  if (const ContextSpec* core =
          find_context(ctx.version == 2 ? "dtmi:dtdl:context;2" : "dtmi:dtdl:context;3"))
    for (const CotypeSpec& c : core->cotypes)
      if (c.term == type || c.dtmi == type) return &c;
  return nullptr;
}

std::string class_dtmi(std::string_view name, int version) {
  return "dtmi:dtdl:class:" + std::string(name) + ";" + std::to_string(version);
}

std::string property_dtmi(std::string_view name, int version) {
  return "dtmi:dtdl:property:" + std::string(name) + ";" + std::to_string(version);
}

// True when `term` is defined by the active contexts at all (as class, property, co-type,
// unit or instance), so that an unexpected use is "irrelevant" rather than "undefined".
bool is_defined_term(const ActiveContext& ctx, std::string_view term) {
  const Metamodel& mm = metamodel(ctx.version);
  if (mm.class_named(term)) return true;
  for (const ClassSpec& c : mm.classes)
    if (c.property(term)) return true;
  if (find_cotype(ctx, term)) return true;
  for (const ContextSpec* ext : ctx.extensions)
    for (const CotypeSpec& c : ext->cotypes)
      if (c.property(term)) return true;
  if (is_primitive_schema_term(term, ctx.version)) return true;
  static constexpr std::string_view kOthers[] = {
      "Schema",          "ComplexSchema",  "Content",    "Entity",
      "NamedEntity",     "SchemaField",    "Unit",       "CommandType",
      "synchronous",     "asynchronous",   "unit",       "languageMajorVersion",
      "PrimitiveSchema", "CommandPayload", "LatentType", "UnitAttribute",
      "SemanticType"};
  for (std::string_view o : kOthers)
    if (o == term) return true;
  for (const UnitRow& u : units(ctx.version))
    if (u.term == term) return true;
  for (const SemanticTypeRow& s : semantic_types(ctx.version))
    if (s.term == term || s.unit_type == term) return true;
  return false;
}

}  // namespace

std::string Element::path_of(const PropertyValues& pv, const Value& v) const {
  std::string out = member_path(std::string(path), pv.key);
  if (v.index >= 0) out = index_path(out, static_cast<std::size_t>(v.index));
  return out;
}

const PropertySpec* CotypeSpec::property(std::string_view term) const {
  for (const PropertySpec& p : properties)
    if (p.term == term) return &p;
  return nullptr;
}

Parser::Parser(ElementSet& set, Reporter& report, const LoadOptions& options)
    : set_(set), report_(report), options_(options) {}

bool Parser::tolerated(Tolerance t, const ActiveContext& ctx) const {
  switch (t) {
    case Tolerance::kValid:
      return true;
    case Tolerance::kTenable:
      return ctx.undefined_extension;
    case Tolerance::kInvalid:
      return false;
  }
  return false;
}

void Parser::parse_document(SourceFile& file, bool from_resolver) {
  file_ = &file;
  from_resolver_ = from_resolver;
  const Node* root = file.root;
  if (!root) return;
  auto parse_top = [&](const Node& n, const std::string& path) {
    if (!n.is_object()) {
      report_.error("invalidTopLevel",
                    "a model document must hold an object or an array of objects, found " +
                        std::string(node_type_name(n.type)),
                    "write each Interface as a JSON object", &file, n.offset, "", path);
      return;
    }
    const Node* ctx_node = n.find("@context");
    if (!ctx_node) {
      report_.error("missingContext", "the top-level element has no @context",
                    "add \"@context\": \"dtmi:dtdl:context;3\" (or ;2 for DTDL v2)", &file,
                    n.offset, "", path);
      return;
    }
    const ActiveContext* ctx = parse_context(*ctx_node, nullptr, member_path(path, "@context"));
    if (!ctx) return;
    Element* e = parse_element(n, ctx, nullptr, nullptr, 0, path, 0);
    if (e) set_.roots.push_back(e);
  };
  if (root->is_array()) {
    for (std::size_t i = 0; i < root->items.size(); ++i)
      parse_top(*root->items[i], index_path("$", i));
  } else {
    parse_top(*root, "$");
  }
}

const ActiveContext* Parser::parse_context(const Node& node, const ActiveContext* inherited,
                                           const std::string& path) {
  std::vector<const Node*> entries;
  if (node.is_string()) {
    entries.push_back(&node);
  } else if (node.is_array()) {
    for (const Node* item : node.items) {
      if (!item->is_string()) {
        report_.error(
            "badContext",
            "@context entries must be strings, found " + std::string(node_type_name(item->type)),
            "list context DTMIs such as \"dtmi:dtdl:context;3\"", file_, item->offset, "", path);
        return nullptr;
      }
      entries.push_back(item);
    }
  } else {
    report_.error("badContext",
                  "@context must be a string or an array of strings, found " +
                      std::string(node_type_name(node.type)),
                  "use \"@context\": \"dtmi:dtdl:context;3\"", file_, node.offset, "", path);
    return nullptr;
  }

  ActiveContext ctx;
  if (inherited) ctx = *inherited;
  bool ok = true;
  bool deferred_affiliate = false;
  std::vector<std::string_view> seen;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::string_view id = entries[i]->text;
    const std::uint32_t at = entries[i]->offset;
    auto parts = parse_dtmi(id);
    if (!parts || !parts->has_version) {
      report_.error("badContext", "context " + q(id) + " is not a DTMI with a version",
                    "use a context such as \"dtmi:dtdl:context;3\"", file_, at, "", path);
      ok = false;
      continue;
    }
    std::string versionless = versionless_dtmi(id);
    bool repeated = false;
    for (std::string_view prev : seen) {
      if (prev == id) {
        repeated = true;
      } else if (versionless_dtmi(prev) == versionless && versionless != "dtmi:dtdl:context") {
        report_.error(
            "duplicateContext",
            "contexts " + q(prev) + " and " + q(id) + " are two versions of the same context",
            "keep only one version", file_, at, "", path);
        ok = false;
      }
    }
    if (repeated) {
      report_.warning("duplicateContext", "context " + q(id) + " is listed twice",
                      "remove the repetition", file_, at, "", path);
      continue;
    }
    seen.push_back(id);
    if (versionless == "dtmi:dtdl:context") {
      int v = static_cast<int>(parts->major_version);
      if (v != 2 && v != 3) {
        report_.error("unsupportedVersion",
                      "DTDL version " + std::to_string(v) + " is not supported",
                      "use dtmi:dtdl:context;3 or dtmi:dtdl:context;2", file_, at, "", path);
        ok = false;
        continue;
      }
      if (i != 0) {
        bool only_dtdl_before = true;
        for (std::size_t k = 0; k < i; ++k)
          if (versionless_dtmi(entries[k]->text) != "dtmi:dtdl:context" &&
              !(deferred_affiliate && k == 0))
            only_dtdl_before = false;
        if (!only_dtdl_before) {
          report_.error("badContext", "the DTDL context must come first in @context",
                        "move " + q(id) + " to the front", file_, at, "", path);
          ok = false;
          continue;
        }
        report_.warning(
            "duplicateContext",
            "@context names more than one DTDL version; the last one, " + q(id) + ", applies",
            "keep only one DTDL context", file_, at, "", path);
      }
      if (inherited && inherited->version < v) {
        report_.error("badContext",
                      "DTDL v" + std::to_string(v) + " element inside a DTDL v" +
                          std::to_string(inherited->version) + " element",
                      "an element may use an older DTDL version than its parent, not a newer one",
                      file_, at, "", path);
        ok = false;
        continue;
      }
      if (inherited && inherited->version != v) {
        ctx.extensions.clear();  // extensions of the outer version do not carry over
        ctx.undefined_extension = false;
      }
      ctx.version = v;
      continue;
    }
    if (i == 0 && !inherited && id == "dtmi:iotcentral:context;2") {
      // IoT Central's affiliate context may precede the DTDL v2 context.
      bool later_v2 = false;
      for (std::size_t k = 1; k < entries.size(); ++k)
        if (entries[k]->text == "dtmi:dtdl:context;2") later_v2 = true;
      if (later_v2) {
        deferred_affiliate = true;
        continue;
      }
    }
    if (i == 0 && !inherited) {
      report_.error(
          "badContext",
          "the first @context entry of a top-level element must be the DTDL context, not " + q(id),
          "start @context with \"dtmi:dtdl:context;3\"", file_, at, "", path);
      ok = false;
      continue;
    }
    if (ctx.version == 0) continue;  // reported above
    const ContextSpec* ext = find_context(id);
    if (ext && !ext->is_core()) {
      if (std::find(ext->for_versions.begin(), ext->for_versions.end(), ctx.version) ==
          ext->for_versions.end()) {
        report_.error(
            "badContext",
            "extension " + q(id) + " is not available in DTDL v" + std::to_string(ctx.version),
            "check the extension's documentation for the DTDL versions it supports", file_, at, "",
            path);
        ok = false;
        continue;
      }
      if (std::find(ctx.extensions.begin(), ctx.extensions.end(), ext) == ctx.extensions.end())
        ctx.extensions.push_back(ext);
      continue;
    }
    // An extension Doppel does not know.
    bool allowed =
        options_.undefined_extensions == UndefinedExtensions::kAlways ||
        (options_.undefined_extensions == UndefinedExtensions::kPerDefault && ctx.version == 2);
    if (!allowed) {
      report_.error("undefinedExtension", "extension context " + q(id) + " is not known",
                    "remove it, or allow undefined extensions (--undefined-extensions always)",
                    file_, at, "", path);
      ok = false;
      continue;
    }
    ctx.undefined_extension = true;
  }
  if (deferred_affiliate && ctx.version == 2)
    if (const ContextSpec* ext = find_context("dtmi:iotcentral:context;2"))
      ctx.extensions.push_back(ext);
  if (!ok) return nullptr;
  if (ctx.version == 0) {
    report_.error("missingContext", "@context does not name a DTDL version",
                  "start @context with \"dtmi:dtdl:context;3\"", file_, node.offset, "", path);
    return nullptr;
  }
  set_.contexts.push_back(std::move(ctx));
  return &set_.contexts.back();
}

std::string Parser::generated_id(const Element& parent, std::string_view property, const Node& node,
                                 std::size_t index) const {
  std::string_view pid = parent.id;
  std::string_view version;
  if (auto semi = pid.find(';'); semi != std::string_view::npos) {
    version = pid.substr(semi);
    pid = pid.substr(0, semi);
  }
  std::string id(pid);
  id += ":_";
  id += property;
  const PropertySpec* spec = parent.cls ? parent.cls->property(property) : nullptr;
  if (spec && spec->plural) {
    const Node* name = node.is_object() ? node.find("name") : nullptr;
    id += ":__";
    if (name && name->is_string() && !name->text.empty() && is_term(name->text))
      id += name->text;
    else
      id += std::to_string(index);
  }
  id += version;
  return id;
}

Element* Parser::parse_element(const Node& node, const ActiveContext* context, Element* parent,
                               const PropertySpec* property, std::uint64_t default_class,
                               const std::string& path, std::size_t index) {
  const ActiveContext* ctx = context;
  if (const Node* c = node.find("@context"); c && parent) {
    ctx = parse_context(*c, context, member_path(path, "@context"));
    if (!ctx) return nullptr;
  }
  set_.elements.emplace_back(set_.arena);
  Element& e = set_.elements.back();
  e.version = ctx->version;
  e.context = ctx;
  e.file = file_;
  e.node = &node;
  e.path = set_.intern(path);
  e.parent = parent;
  e.parent_property = property;
  e.from_resolver = from_resolver_;
  e.tolerant = e.version == 2 && (from_resolver_ ? options_.quirks.tolerate_solecisms_in_resolve
                                                 : options_.quirks.tolerate_solecisms_in_parse);

  // @id first: every later message names the element.
  if (const Node* id = node.find("@id")) {
    if (!id->is_string()) {
      report_.error("badId", "@id must be a string, found " + std::string(node_type_name(id->type)),
                    "use a DTMI such as \"dtmi:com:example:Thing;1\"", file_, id->offset, "",
                    member_path(path, "@id"));
    } else {
      auto parts = parse_dtmi(id->text);
      std::string where = member_path(path, "@id");
      if (!parts) {
        report_.error("invalidDtmi", "@id " + q(id->text) + " is not a valid DTMI",
                      "a DTMI looks like dtmi:com:example:Thing;1 (segments of letters, digits and "
                      "underscores)",
                      file_, id->offset, "", where);
      } else if (parts->reserved) {
        report_.error("reservedDtmi",
                      "@id " + q(id->text) + " has a system segment (starting with '_')",
                      "start every segment with a letter", file_, id->offset, "", where);
      } else if ((id->text.starts_with("dtmi:dtdl:") || id->text.starts_with("dtmi:standard:")) &&
                 !e.tolerant) {
        report_.error("reservedDtmi", "@id " + q(id->text) + " uses a prefix reserved by DTDL",
                      "use your own prefix, e.g. dtmi:com:yourcompany:", file_, id->offset, "",
                      where);
      } else if (e.version == 2 && (!parts->has_version || parts->minor_version != 0)) {
        report_.error("invalidDtmi", "@id " + q(id->text) + " needs a one-part version in DTDL v2",
                      "end it with ;1 (two-part and missing versions need DTDL v3)", file_,
                      id->offset, "", where);
      } else if (utf16_length(id->text) > 2048) {
        report_.error("dtmiTooLong", "@id is longer than 2048 characters", "shorten it", file_,
                      id->offset, "", where);
      } else if (!parts->fragment.empty()) {
        report_.error("invalidDtmi", "@id " + q(id->text) + " must not have a fragment",
                      "remove the '#...' part", file_, id->offset, "", where);
      } else {
        e.id = id->text;  // the document tree lives as long as the set
        e.id_given = true;
      }
    }
  }
  if (e.id.empty() && parent && property)
    e.id = set_.intern(generated_id(*parent, property->term, node, index));
  if (e.id.empty())
    e.id = set_.intern("dtmi:doppel:anonymous:_" + std::to_string(set_.elements.size()) + ";1");

  if (!parse_types(e, node.find("@type"), default_class, path)) return nullptr;

  if (parent == nullptr && !e.cls->rootable) {
    report_.error(
        "notRootable",
        e.cls->name == "" ? "this element may not be at the top level"
                          : std::string(e.cls->name) + " may not be at the top level of a document",
        "put it inside an Interface's contents or schemas", file_, node.offset, e.id, path);
    return nullptr;
  }
  if (e.cls->id_required && !e.id_given && !node.find("@id")) {
    report_.error("missingRequiredProperty", std::string(e.cls->name) + " has no @id",
                  "add an \"@id\" such as \"dtmi:com:example:Thing;1\"", file_, node.offset, e.id,
                  path);
  }
  if (e.cls->id_required && e.id_given && e.cls->bits & kInterface && utf16_length(e.id) > 128) {
    report_.error("dtmiTooLong",
                  "an Interface @id may have at most 128 characters, this one has " +
                      std::to_string(utf16_length(e.id)),
                  "shorten the DTMI", file_, node.find("@id")->offset, e.id,
                  member_path(path, "@id"));
  }
  if (property && property->values_need_id && parent && parent->version != e.version) {
    // The reference parser accepts older-version elements nested in most places, but not as
    // an Interface's reusable schemas.
    report_.error("badContext",
                  "a reusable schema must use the DTDL version of its Interface (v" +
                      std::to_string(parent->version) + ")",
                  "remove the nested @context", file_, node.offset, e.id, path);
  }
  if (property && property->values_need_id && !node.find("@id")) {
    report_.error(
        "missingRequiredProperty",
        std::string(e.cls->name) + " in '" + std::string(property->term) + "' needs an @id",
        "give each reusable schema an \"@id\"", file_, node.offset, e.id, path);
  }
  e.partition = (e.cls->bits & kInterface) ? &e : (parent ? parent->partition : nullptr);

  for (const Member& m : node.members) {
    if (m.key == "@id" || m.key == "@type" || m.key == "@context") continue;
    parse_property(e, m, path);
  }
  // Required properties.
  auto check_required = [&](const std::vector<PropertySpec>& props) {
    for (const PropertySpec& p : props) {
      if (p.min_count == 0) continue;
      const PropertyValues* pv = e.get(p.term);
      std::size_t n = pv ? pv->values.size() : 0;
      if (n == 0 && !pv) {
        report_.error("missingRequiredProperty",
                      std::string(e.cls->name) + " has no '" + std::string(p.term) + "'",
                      "add the required property '" + std::string(p.term) + "'", file_, node.offset,
                      e.id, path);
      }
    }
  };
  check_required(e.cls->properties);
  for (const CotypeSpec* c : e.cotypes)
    check_required(c->properties);

  if (e.id_given) {
    auto [it, inserted] = set_.by_id.emplace(e.id, &e);
    if (!inserted) {
      Element* other = it->second;
      SourceLocation where =
          other->file ? other->file->locate(other->node->offset) : SourceLocation{};
      report_.error("duplicateId",
                    "@id " + q(e.id) + " is defined twice (also at " + where.file + ":" +
                        std::to_string(where.line) + ":" + std::to_string(where.column) + ")",
                    "give each element its own @id", file_, node.find("@id")->offset, e.id,
                    member_path(path, "@id"));
    }
  } else {
    set_.by_id.emplace(e.id, &e);
  }
  return &e;
}

bool Parser::parse_types(Element& e, const Node* type_node, std::uint64_t default_class,
                         const std::string& path) {
  const Metamodel& mm = metamodel(e.version);
  std::string where = member_path(path, "@type");
  std::vector<const Node*> types;
  if (!type_node) {
    if (default_class && e.parent && e.parent->version != e.version) {
      report_.error("missingRequiredProperty",
                    "element has no @type, and its class cannot be inferred across DTDL versions",
                    "add \"@type\"", file_, e.node->offset, e.id, path);
      return false;
    }
    if (default_class) {
      e.cls = mm.class_with_bit(default_class);
      if (e.cls) return true;
    }
    report_.error("missingRequiredProperty", "element has no @type",
                  "add \"@type\", e.g. \"Telemetry\" or \"Property\"", file_, e.node->offset, e.id,
                  path);
    return false;
  }
  if (type_node->is_string()) {
    types.push_back(type_node);
  } else if (type_node->is_array() && !type_node->items.empty()) {
    for (const Node* t : type_node->items) {
      if (!t->is_string()) {
        report_.error("badType", "@type entries must be strings",
                      "write @type as a string or array of strings", file_, t->offset, e.id, where);
        return false;
      }
      types.push_back(t);
    }
  } else {
    report_.error("badType", "@type must be a string or a non-empty array of strings",
                  "write e.g. \"@type\": \"Telemetry\"", file_, type_node->offset, e.id, where);
    return false;
  }
  const ActiveContext& ctx = *e.context;
  const bool v2 = e.version == 2;
  bool ok = true;
  for (const Node* t : types) {
    std::string_view s = t->text;
    const ClassSpec* cls = nullptr;
    if (is_term(s)) {
      cls = mm.class_named(s);
    } else if (s.starts_with("dtmi:dtdl:class:")) {
      for (const ClassSpec& c : mm.classes)
        if (class_dtmi(c.name, e.version) == s) cls = &c;
    }
    if (cls && !is_term(s)) {
      report_.warning("preferTerm", "@type " + q(s) + " is written as a DTMI",
                      "write the term " + q(cls->name) + " instead", file_, t->offset, e.id, where);
    }
    if (cls && e.cls == cls) {
      report_.warning("duplicateType", "@type names " + std::string(cls->name) + " twice",
                      "list each type once", file_, t->offset, e.id, where);
    }
    if (cls) {
      if (e.cls && e.cls != cls) {
        report_.error("multipleMaterialTypes",
                      "@type names two element classes, " + std::string(e.cls->name) + " and " +
                          std::string(cls->name),
                      "an element has exactly one class; keep one", file_, t->offset, e.id, where);
        ok = false;
      }
      e.cls = cls;
      continue;
    }
    if (const CotypeSpec* co = find_cotype(ctx, s)) {
      if (!is_term(s))
        report_.warning("preferTerm", "co-type " + q(s) + " is written as a DTMI",
                        "write the term " + q(co->term) + " instead", file_, t->offset, e.id,
                        where);
      if (std::find(e.cotypes.begin(), e.cotypes.end(), co) == e.cotypes.end())
        e.cotypes.push_back(co);
      else
        report_.warning("duplicateType", "@type names " + q(co->term) + " twice",
                        "list each type once", file_, t->offset, e.id, where);
      continue;
    }
    Tolerance tol;
    std::string what;
    if (s.starts_with("dtmi:") && !parse_dtmi(s)) {
      tol = Tolerance::kInvalid;
      what = "is not a valid DTMI";
    } else if (parse_dtmi(s)) {
      tol = Tolerance::kTenable;
      what = "is not a type DTDL knows";
    } else if (is_term(s)) {
      if (is_defined_term(ctx, s)) {
        tol = Tolerance::kTenable;
        what = "cannot be used as a co-type here";
      } else {
        tol = v2 ? Tolerance::kValid : Tolerance::kTenable;
        what = "is not defined by any context in scope";
      }
    } else {
      tol = v2 ? Tolerance::kValid : Tolerance::kInvalid;
      what = "is neither a DTMI nor a term";
    }
    if (!tolerated(tol, ctx)) {
      report_.error(
          "badType", "@type " + q(s) + " " + what,
          "use a DTDL class such as Telemetry, or import the extension that defines it in @context",
          file_, t->offset, e.id, where);
      ok = false;
    }
    e.undefined_cotype = true;
  }
  if (!ok) return false;
  if (!e.cls) {
    report_.error("badType", "@type names no DTDL element class",
                  "include one class such as Interface, Telemetry, Property, Command, Relationship "
                  "or Component",
                  file_, type_node->offset, e.id, where);
    return false;
  }
  // Co-types must fit the class.
  for (auto it = e.cotypes.begin(); it != e.cotypes.end();) {
    if (((*it)->applies_to & e.cls->bits) == 0) {
      if (!tolerated(Tolerance::kTenable, ctx)) {
        report_.error(
            "badType",
            "co-type " + q((*it)->term) + " does not apply to " + std::string(e.cls->name),
            "remove it", file_, type_node->offset, e.id, where);
        ok = false;
      }
      e.undefined_cotype = true;
      it = e.cotypes.erase(it);
    } else {
      ++it;
    }
  }
  return ok;
}

void Parser::parse_property(Element& e, const Member& m, const std::string& path) {
  std::string where = member_path(path, m.key);
  const ActiveContext& ctx = *e.context;
  const bool v2 = e.version == 2;
  std::string_view key = m.key;

  if (key.starts_with("@")) {
    if (v2 && key != "@graph") {
      report_.warning("badKeyword", "keyword " + q(key) + " is ignored in a DTDL element",
                      "remove it; DTDL elements use @id, @type and @context only", file_,
                      m.key_offset, e.id, where);
    } else {
      report_.error("badKeyword", "keyword " + q(key) + " is not allowed in a DTDL element",
                    "remove it; DTDL elements use @id, @type and @context only", file_,
                    m.key_offset, e.id, where);
    }
    return;
  }
  // Resolve the key to a property of the class or of a co-type.
  const PropertySpec* spec = nullptr;
  std::string_view term;
  auto lookup = [&](std::string_view t) -> const PropertySpec* {
    if (const PropertySpec* p = e.cls->property(t)) return p;
    for (const CotypeSpec* c : e.cotypes)
      if (const PropertySpec* p = c->property(t)) return p;
    return nullptr;
  };
  if (is_term(key)) {
    spec = lookup(key);
    term = key;
  } else if (key.starts_with("dtmi:dtdl:property:")) {
    for (const PropertySpec& p : e.cls->properties)
      if (property_dtmi(p.term, e.version) == key) spec = &p, term = p.term;
    for (const CotypeSpec* c : e.cotypes)
      for (const PropertySpec& p : c->properties)
        if (property_dtmi(p.term, e.version) == key) spec = &p, term = p.term;
  }
  if (!spec) {
    Tolerance tol;
    std::string what;
    if (key.starts_with("dtmi:") && !parse_dtmi(key)) {
      tol = v2 ? Tolerance::kValid : Tolerance::kInvalid;
      what = "is not a valid DTMI";
    } else if (parse_dtmi(key)) {
      tol = v2 ? Tolerance::kValid : Tolerance::kTenable;
      what = "is not a property of " + std::string(e.cls->name);
    } else if (is_term(key)) {
      if (is_defined_term(ctx, key)) {
        tol = v2 ? Tolerance::kValid : Tolerance::kTenable;
        what = "is not a property of " + std::string(e.cls->name);
      } else {
        tol = v2 ? Tolerance::kValid : Tolerance::kTenable;
        what = "is not defined by any context in scope";
      }
    } else {
      tol = v2 ? Tolerance::kValid : Tolerance::kInvalid;
      what = "is neither a DTMI nor a term";
    }
    // Unknown properties can only belong to an unknown co-type.
    if (!e.undefined_cotype || !tolerated(tol, ctx)) {
      std::string hint = "remove it";
      if (!e.undefined_cotype)
        hint += ", or check its spelling against the " + std::string(e.cls->name) + " properties";
      report_.error("unknownProperty", "property " + q(key) + " " + what, hint, file_, m.key_offset,
                    e.id, where);
    }
    return;
  }
  if (!is_term(key)) {
    report_.warning("preferTerm", "property " + q(key) + " is written as a DTMI",
                    "write the term " + q(spec->term) + " instead", file_, m.key_offset, e.id,
                    where);
  }
  if (spec->deprecated) {
    report_.warning("deprecated", "property '" + std::string(spec->term) + "' is deprecated",
                    "remove it", file_, m.key_offset, e.id, where);
  }
  for (const PropertyValues& prev : e.properties) {
    if (prev.spec == spec) {
      report_.error("duplicateProperty",
                    "property '" + std::string(spec->term) + "' is given twice",
                    "merge the two values into one", file_, m.key_offset, e.id, where);
      return;
    }
  }
  e.properties.emplace_back(set_.arena);
  PropertyValues& pv = e.properties.back();
  pv.spec = spec;
  pv.term = spec->term;
  pv.key_offset = m.key_offset;
  pv.key = m.key;
  if (spec->datatype == Datatype::kNone)
    parse_object_values(e, pv, *m.value, where);
  else
    parse_literal_values(e, pv, *m.value, where);

  // Count what was written, not what parsed: a bad value is reported once, not also as missing.
  const int n = m.value->is_array() ? static_cast<int>(m.value->items.size()) : 1;
  if (spec->max_count >= 0 && n > spec->max_count) {
    report_.error("tooManyValues",
                  "'" + std::string(spec->term) + "' has " + std::to_string(n) +
                      " values, at most " + std::to_string(spec->max_count) + " allowed",
                  "remove values", file_, m.value->offset, e.id, where);
  }
  if (n < spec->min_count) {
    report_.error("tooFewValues",
                  "'" + std::string(spec->term) + "' has " + std::to_string(n) +
                      " values, at least " + std::to_string(spec->min_count) + " needed",
                  "add values", file_, m.value->offset, e.id, where);
  }
}

void Parser::parse_literal_values(Element& e, PropertyValues& pv, const Node& node,
                                  const std::string& path) {
  const PropertySpec& spec = *pv.spec;
  if (spec.datatype == Datatype::kLangString) {
    parse_lang_string(e, pv, node, path);
    return;
  }
  auto bad = [&](const Node& at, const std::string& why) {
    report_.error("badValue", "'" + std::string(spec.term) + "' " + why,
                  "give a " + std::string(datatype_name(spec.datatype)) + " value", file_,
                  at.offset, e.id, path);
  };
  auto one = [&](const Node& v, const std::string& vpath) {
    const Node* value = &v;
    if (v.is_object() && spec.datatype == Datatype::kIri) {
      bad(v, "must be a DTMI string, not an object");
      return;
    }
    if (v.is_object()) {
      const Node* inner = v.find("@value");
      if (!inner) {
        bad(v, "must be a " + std::string(datatype_name(spec.datatype)) +
                   ", not an object without @value");
        return;
      }
      for (const Member& m : v.members) {
        if (m.key != "@value" && m.key != "@type") {
          if (e.version == 2 && m.key.starts_with("@") && m.key != "@id" && m.key != "@context" &&
              m.key != "@graph") {
            report_.warning("badKeyword", "keyword " + q(m.key) + " is ignored in a value object",
                            "remove it", file_, m.key_offset, e.id, path);
            continue;
          }
          bad(v, "value object may only have @value and @type, not " + q(m.key));
          return;
        }
      }
      if (const Node* t = v.find("@type")) {
        const Node* tv = t;
        if (t->is_array() && t->items.size() == 1) tv = t->items[0];
        if (!tv->is_string() || !xsd_type_matches(tv->text, xsd_local(spec.datatype, *inner))) {
          bad(*t, "value object has a @type that does not match its datatype");
          return;
        }
      }
      value = inner;
      report_.warning("preferPlainValue",
                      "'" + std::string(spec.term) + "' is written as a JSON-LD value object",
                      "write the plain value", file_, v.offset, e.id, vpath);
    }
    Value out;
    out.node = value;
    switch (spec.datatype) {
      case Datatype::kString:
      case Datatype::kIri:
        if (!value->is_string())
          return bad(*value, "must be a string, not " + std::string(node_type_name(value->type)));
        out.kind = Value::Kind::kString;
        out.text = value->text;
        if (spec.datatype == Datatype::kIri) {
          auto parts = parse_dtmi(value->text);
          if (!parts) return bad(*value, "value " + q(value->text) + " is not a valid DTMI");
          if (parts->reserved)
            return bad(*value,
                       "value " + q(value->text) + " is a system DTMI (a segment starts with '_')");
          if (e.version == 2 && (!parts->has_version || parts->minor_version != 0))
            return bad(*value, "value " + q(value->text) + " needs a one-part version in DTDL v2");
        }
        break;
      case Datatype::kInteger:
        if (value->type != NodeType::kInteger || value->integer_overflow ||
            value->integer < INT32_MIN || value->integer > INT32_MAX)
          return bad(*value, "must be an integer, not " + std::string(node_type_name(value->type)));
        out.kind = Value::Kind::kInteger;
        out.integer = value->integer;
        break;
      case Datatype::kBoolean:
        if (value->type != NodeType::kBool)
          return bad(*value,
                     "must be true or false, not " + std::string(node_type_name(value->type)));
        out.kind = Value::Kind::kBoolean;
        out.boolean = value->boolean;
        break;
      case Datatype::kIntOrString:
        if (value->is_string()) {
          out.kind = Value::Kind::kString;
          out.text = value->text;
        } else if (value->type == NodeType::kInteger && !value->integer_overflow &&
                   value->integer >= INT32_MIN && value->integer <= INT32_MAX) {
          out.kind = Value::Kind::kInteger;
          out.integer = value->integer;
        } else {
          return bad(*value, "must be an integer or a string, not " +
                                 std::string(node_type_name(value->type)));
        }
        break;
      default:
        break;
    }
    if (spec.max_length > 0 && out.kind == Value::Kind::kString &&
        utf16_length(out.text) > static_cast<std::size_t>(spec.max_length)) {
      report_.error("valueTooLong",
                    "'" + std::string(spec.term) + "' is " +
                        std::to_string(utf16_length(out.text)) + " characters long; at most " +
                        std::to_string(spec.max_length) + " allowed",
                    "shorten it", file_, value->offset, e.id, vpath);
      return;
    }
    if (spec.name_pattern && out.kind == Value::Kind::kString) {
      if (!valid_name(out.text)) {
        report_.error(
            "badName",
            "'" + std::string(spec.term) + "' value " + q(out.text) + " is not a valid name",
            std::string("use ") + std::string(kNamePatternText), file_, value->offset, e.id, vpath);
        return;
      }
    }
    if (out.kind == Value::Kind::kInteger) {
      if (spec.has_min_value && out.integer < spec.min_value) {
        report_.error(
            "valueOutOfRange",
            "'" + std::string(spec.term) + "' must be at least " + std::to_string(spec.min_value),
            "change the value", file_, value->offset, e.id, vpath);
        return;
      }
      if (spec.has_max_value && out.integer > spec.max_value) {
        report_.error(
            "valueOutOfRange",
            "'" + std::string(spec.term) + "' must be at most " + std::to_string(spec.max_value),
            "change the value", file_, value->offset, e.id, vpath);
        return;
      }
    }
    pv.values.push_back(out);
  };
  if (node.is_array()) {
    for (std::size_t i = 0; i < node.items.size(); ++i)
      one(*node.items[i], index_path(path, i));
  } else {
    one(node, path);
  }
}

bool Parser::parse_lang_string(Element& e, PropertyValues& pv, const Node& node,
                               const std::string& path) {
  const PropertySpec& spec = *pv.spec;
  auto bad = [&](const Node& at, const std::string& why) {
    report_.error("badValue", "'" + std::string(spec.term) + "' " + why,
                  "give a string, or a language map such as {\"en\": \"...\"}", file_, at.offset,
                  e.id, path);
    return false;
  };
  auto add = [&](const Node& text_node, std::string_view lang, const std::string& vpath) {
    // A string without a language is in the default language, English.
    auto effective = [](std::string_view l) { return l.empty() ? std::string_view("en") : l; };
    for (const Value& prev : pv.values) {
      if (effective(prev.language) == effective(lang)) {
        report_.error("duplicateLanguage",
                      "'" + std::string(spec.term) + "' has two values for language " +
                          q(lang.empty() ? "en (default)" : lang),
                      "keep one value per language", file_, text_node.offset, e.id, vpath);
        return false;
      }
    }
    if (spec.max_length > 0 &&
        utf16_length(text_node.text) > static_cast<std::size_t>(spec.max_length)) {
      report_.error("valueTooLong",
                    "'" + std::string(spec.term) + "' is " +
                        std::to_string(utf16_length(text_node.text)) +
                        " characters long; at most " + std::to_string(spec.max_length) + " allowed",
                    "shorten it", file_, text_node.offset, e.id, vpath);
      return false;
    }
    Value v;
    v.kind = Value::Kind::kLangString;
    v.node = &text_node;
    v.text = text_node.text;
    v.language = lang;
    pv.values.push_back(v);
    return true;
  };
  if (node.is_string()) return add(node, "", path);
  if (node.is_object()) {
    for (const Member& m : node.members) {
      if (m.key.starts_with("@") || !valid_language_tag(m.key))
        return bad(node, "has key " + q(m.key) + ", which is not a language tag");
      if (!m.value->is_string()) return bad(*m.value, "language map values must be strings");
      if (!add(*m.value, m.key, member_path(path, m.key))) return false;
    }
    return true;
  }
  if (node.is_array()) {
    for (std::size_t i = 0; i < node.items.size(); ++i) {
      const Node& item = *node.items[i];
      std::string ipath = index_path(path, i);
      if (item.is_string()) {
        if (!add(item, "", ipath)) return false;
      } else if (item.is_object()) {
        const Node* value = item.find("@value");
        const Node* lang = item.find("@language");
        if (!value)
          return bad(item, "array elements must be strings or {\"@value\", \"@language\"} objects");
        for (const Member& m : item.members) {
          if (m.key == "@value" || m.key == "@language") continue;
          if (e.version == 2 && m.key.starts_with("@") && m.key != "@id" && m.key != "@context" &&
              m.key != "@graph") {
            report_.warning("badKeyword", "keyword " + q(m.key) + " is ignored in a value object",
                            "remove it", file_, m.key_offset, e.id, path);
            continue;
          }
          return bad(item, "value object may only have @value and @language");
        }
        if (!value->is_string()) return bad(*value, "@value must be a string");
        if (lang && (!lang->is_string() || !valid_language_tag(lang->text)))
          return bad(*lang, "@language must be a language tag such as \"en\"");
        if (!add(*value, lang ? lang->text : std::string_view(), ipath)) return false;
        report_.warning(
            "preferPlainValue", "'" + std::string(spec.term) + "' uses @value/@language objects",
            "write a language map such as {\"en\": \"...\"}", file_, item.offset, e.id, ipath);
      } else {
        return bad(item, "array elements must be strings or value objects");
      }
    }
    return true;
  }
  return bad(node,
             "must be a string or a language map, not " + std::string(node_type_name(node.type)));
}

void Parser::parse_object_values(Element& e, PropertyValues& pv, const Node& node,
                                 const std::string& path) {
  const PropertySpec& spec = *pv.spec;
  auto one = [&](const Node& v, const std::string& vpath, std::size_t index) {
    const bool id_only = v.is_object() && v.members.size() == 1 && v.members[0].key == "@id" &&
                         v.members[0].value->is_string();
    if (v.is_string()) {
      add_reference(e, pv, v, vpath);
    } else if (id_only && e.version == 2 &&
               (from_resolver_ ? options_.quirks.tolerate_solecisms_in_resolve
                               : options_.quirks.tolerate_solecisms_in_parse)) {
      add_reference(e, pv, *v.members[0].value, vpath);
    } else if (v.is_object()) {
      Element* child = parse_element(v, e.context, &e, &spec, spec.default_class, vpath, index);
      if (!child) return;
      if ((child->cls->bits & spec.range) == 0) {
        report_.error(
            "badType",
            "'" + std::string(spec.term) + "' cannot hold a " + std::string(child->cls->name),
            "use an element of the right class here", file_, v.offset, child->id, vpath);
        return;
      }
      Value out;
      out.kind = Value::Kind::kElement;
      out.node = &v;
      out.element = child;
      pv.values.push_back(out);
    } else {
      report_.error("badValue",
                    "'" + std::string(spec.term) + "' must be an element or an identifier, not " +
                        std::string(node_type_name(v.type)),
                    "give an object, or a DTMI that refers to one", file_, v.offset, e.id, vpath);
    }
  };
  if (node.is_array()) {
    for (std::size_t i = 0; i < node.items.size(); ++i) {
      std::size_t before = pv.values.size();
      one(*node.items[i], index_path(path, i), i);
      if (pv.values.size() > before) pv.values.back().index = static_cast<int>(i);
    }
  } else {
    one(node, path, 0);
  }
}

void Parser::add_reference(Element& e, PropertyValues& pv, const Node& node,
                           const std::string& path) {
  const PropertySpec& spec = *pv.spec;
  std::string_view s = node.text;
  Value out;
  out.kind = Value::Kind::kReference;
  out.node = &node;
  if (is_term(s)) {
    std::string expanded = expand_value_term(*e.context, s);
    if (expanded.empty()) {
      report_.error("undefinedTerm",
                    "'" + std::string(spec.term) + "' value " + q(s) + " is not a defined term",
                    (spec.range & (kSchema | kStringSchema | kIntegerSchema))
                        ? "use a primitive schema such as double or string, or the DTMI of a schema"
                        : "use the DTMI of an element",
                    file_, node.offset, e.id, path);
      return;
    }
    out.reference = set_.intern(expanded);
    out.text = s;
  } else {
    auto parts = parse_dtmi(s);
    if (!parts) {
      report_.error("invalidDtmi",
                    "'" + std::string(spec.term) + "' value " + q(s) + " is not a valid DTMI",
                    "a DTMI looks like dtmi:com:example:Thing;1", file_, node.offset, e.id, path);
      return;
    }
    out.reference = s;
    if (s.starts_with("dtmi:dtdl:instance:") || s.starts_with("dtmi:standard:")) {
      std::string_view term = s.substr(s.rfind(':') + 1);
      term = term.substr(0, term.find(';'));
      report_.warning("preferTerm",
                      "'" + std::string(spec.term) + "' value " + q(s) + " is written as a DTMI",
                      "write the term " + q(term) + " instead", file_, node.offset, e.id, path);
    }
  }
  pv.values.push_back(out);
}

}  // namespace doppel::model::detail
