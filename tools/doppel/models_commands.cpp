// doppel models check | show | convert | schema
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "commands.hpp"
#include "doppel/model/convert.hpp"
#include "doppel/model/json_schema.hpp"
#include "doppel/model/json_text.hpp"
#include "doppel/model/loader.hpp"
#include "doppel/model/registry.hpp"

namespace doppel::cli {
namespace {

namespace fs = std::filesystem;
using namespace doppel::model;

// `s` escaped for the inside of a JSON string literal (the quotes are in the format strings).
std::string json_escape(std::string_view s) {
  std::string quoted = json_string(s);
  return quoted.substr(1, quoted.size() - 2);
}

bool paths_exist(const std::vector<std::string>& paths) {
  bool ok = true;
  for (const std::string& p : paths) {
    if (!fs::exists(p)) {
      std::fprintf(stderr, "doppel: %s: no such file or folder\n", p.c_str());
      ok = false;
    }
  }
  return ok;
}

LoadResult load(const std::vector<std::string>& paths,
                UndefinedExtensions ext = UndefinedExtensions::kPerDefault) {
  LoadOptions options;
  options.undefined_extensions = ext;
  ModelLoader loader(options);
  for (const std::string& p : paths)
    loader.add_path(p);
  return loader.load();
}

void print_diagnostics(const Diagnostics& diags) {
  for (const Diagnostic& d : diags.items)
    std::fprintf(stderr, "%s\n", format_diagnostic(d).c_str());
}

std::string schema_text(const Schema* s) {
  if (!s) return "?";
  switch (s->kind) {
    case SchemaKind::kArray:
      return "Array<" + schema_text(s->element) + ">";
    case SchemaKind::kMap:
      return "Map<string, " + schema_text(s->map_value) + ">";
    case SchemaKind::kEnum: {
      std::string out = "Enum{";
      for (std::size_t i = 0; i < s->enum_values.size(); ++i) {
        if (i) out += ", ";
        out += s->enum_values[i].name;
      }
      return out + "}";
    }
    case SchemaKind::kObject: {
      std::string out = "Object{";
      for (std::size_t i = 0; i < s->fields.size(); ++i) {
        if (i) out += ", ";
        out += s->fields[i].name + ": " + schema_text(s->fields[i].schema);
      }
      return out + "}";
    }
    default:
      return std::string(schema_kind_name(s->kind));
  }
}

void show_contents(const Interface& i, const std::string& indent) {
  for (const Content* c : i.contents) {
    std::string detail;
    switch (c->kind) {
      case ContentKind::kTelemetry:
      case ContentKind::kProperty:
        detail = schema_text(c->schema);
        if (c->writable) detail += ", writable";
        if (!c->unit_symbol.empty()) detail += ", unit " + c->unit_symbol;
        break;
      case ContentKind::kCommand:
        detail = "(" +
                 (c->request ? c->request->name + ": " + schema_text(c->request->schema)
                             : std::string()) +
                 ")";
        if (c->response)
          detail += " -> " + c->response->name + ": " + schema_text(c->response->schema);
        break;
      case ContentKind::kRelationship:
        detail = "-> " + (c->target.empty() ? std::string("any") : c->target);
        if (c->max_multiplicity) detail += fmt::format(", max {}", *c->max_multiplicity);
        break;
      case ContentKind::kComponent:
        detail = c->component ? c->component->id : "?";
        break;
    }
    std::string from =
        c->defined_in && c->defined_in != &i ? "  (from " + c->defined_in->id + ")" : "";
    std::printf("%s%-12s %-28s %s%s\n", indent.c_str(),
                std::string(content_kind_name(c->kind)).c_str(), c->name.c_str(), detail.c_str(),
                from.c_str());
    if (c->kind == ContentKind::kComponent && c->component)
      show_contents(*c->component, indent + "    ");
  }
}

}  // namespace

int models_check(const ModelsCheckArgs& args) {
  if (!paths_exist(args.paths)) return kExitUsage;
  UndefinedExtensions ext = args.undefined_extensions == "never" ? UndefinedExtensions::kNever
                            : args.undefined_extensions == "always"
                                ? UndefinedExtensions::kAlways
                                : UndefinedExtensions::kPerDefault;
  auto t0 = std::chrono::steady_clock::now();
  // Deliberately never freed: the process exits right after, and tearing down a large model
  // set costs more than the OS reclaiming the pages. Held by a static (volatile, so the store
  // is not optimised away), so LeakSanitizer sees it as still reachable rather than leaked.
  static LoadResult* volatile kept = nullptr;
  kept = new LoadResult(load(args.paths, ext));
  LoadResult& r = *kept;
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::size_t interfaces = r.registry ? r.registry->interfaces().size() : 0;
  if (args.json) {
    std::string out = fmt::format("{{\"interfaces\": {}, \"documents\": {}, \"errors\": [",
                                  interfaces, r.documents);
    bool first = true;
    for (const Diagnostic& d : r.diagnostics.items) {
      if (d.severity != Severity::kError) continue;
      out += (first ? "" : ", ") + diagnostic_to_json(d);
      first = false;
    }
    out += "], \"warnings\": [";
    first = true;
    for (const Diagnostic& d : r.diagnostics.items) {
      if (d.severity != Severity::kWarning) continue;
      out += (first ? "" : ", ") + diagnostic_to_json(d);
      first = false;
    }
    out += "]}";
    std::printf("%s\n", out.c_str());
  } else {
    print_diagnostics(r.diagnostics);
    std::size_t errors = r.diagnostics.error_count();
    std::size_t warnings = r.diagnostics.warning_count();
    if (r.ok()) {
      std::printf("ok: %zu interface%s in %zu document%s", interfaces, interfaces == 1 ? "" : "s",
                  r.documents, r.documents == 1 ? "" : "s");
      if (warnings) std::printf(", %zu warning%s", warnings, warnings == 1 ? "" : "s");
      std::printf(" (%.1f ms)\n", ms);
    } else {
      std::fprintf(stderr, "%zu error%s, %zu warning%s in %zu document%s\n", errors,
                   errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s", r.documents,
                   r.documents == 1 ? "" : "s");
    }
    if (args.summary && r.registry) {
      std::map<ContentKind, std::size_t> own;
      std::size_t schemas = 0, max_depth = 0;
      for (const Interface* i : r.registry->interfaces()) {
        for (const Content* c : i->contents)
          if (c->defined_in == i) ++own[c->kind];
        schemas += i->schemas.size();
        max_depth = std::max(max_depth, i->ancestors.size());
      }
      std::printf(
          "  contents: %zu telemetry, %zu properties, %zu commands, %zu relationships, %zu "
          "components\n",
          own[ContentKind::kTelemetry], own[ContentKind::kProperty], own[ContentKind::kCommand],
          own[ContentKind::kRelationship], own[ContentKind::kComponent]);
      std::printf(
          "  reusable schemas: %zu; most ancestors of one interface: %zu; model set fingerprint "
          "%s\n",
          schemas, max_depth, r.registry->fingerprint().c_str());
    }
  }
  return r.ok() ? kExitOk : kExitInvalid;
}

int models_show(const ModelsShowArgs& args) {
  if (!paths_exist(args.models)) return kExitUsage;
  LoadResult r = load(args.models);
  if (!r.ok()) {
    print_diagnostics(r.diagnostics);
    return kExitInvalid;
  }
  const Interface* i = r.registry->find(args.dtmi);
  if (!i) {
    std::fprintf(stderr, "doppel: interface %s is not defined in the given models\n",
                 args.dtmi.c_str());
    return kExitInvalid;
  }
  if (args.json) {
    std::string out = fmt::format(
        "{{\"id\": \"{}\", \"dtdlVersion\": {}, \"displayName\": \"{}\", \"extends\": [",
        json_escape(i->id), i->dtdl_version, json_escape(i->display_name.get()));
    for (std::size_t k = 0; k < i->extends.size(); ++k)
      out += (k ? ", \"" : "\"") + json_escape(i->extends[k]->id) + "\"";
    out += "], \"contents\": [";
    for (std::size_t k = 0; k < i->contents.size(); ++k) {
      const Content* c = i->contents[k];
      out += fmt::format("{}{{\"kind\": \"{}\", \"name\": \"{}\", \"definedIn\": \"{}\"",
                         k ? ", " : "", content_kind_name(c->kind), json_escape(c->name),
                         json_escape(c->defined_in->id));
      if (c->schema)
        out += fmt::format(", \"schema\": \"{}\"", json_escape(schema_text(c->schema)));
      if (c->writable) out += ", \"writable\": true";
      if (!c->unit_symbol.empty()) out += fmt::format(", \"unit\": \"{}\"", c->unit_symbol);
      if (c->kind == ContentKind::kRelationship && !c->target.empty())
        out += fmt::format(", \"target\": \"{}\"", c->target);
      if (c->component) out += fmt::format(", \"interface\": \"{}\"", c->component->id);
      out += "}";
    }
    out += "]}";
    std::printf("%s\n", out.c_str());
    return kExitOk;
  }
  std::printf("%s  (DTDL v%d)\n", i->id.c_str(), i->dtdl_version);
  if (!i->display_name.empty())
    std::printf("  displayName: %s\n", std::string(i->display_name.get()).c_str());
  if (!i->ancestors.empty()) {
    std::printf("  extends:");
    for (const std::string& a : i->ancestors)
      std::printf(" %s", a.c_str());
    std::printf("\n");
  }
  std::printf("  contents (%zu, flattened):\n", i->contents.size());
  show_contents(*i, "    ");
  return kExitOk;
}

int models_convert(const ModelsConvertArgs& args) {
  if (!paths_exist(args.paths)) return kExitUsage;
  std::vector<fs::path> files;
  for (const std::string& p : args.paths) {
    if (fs::is_directory(p)) {
      for (auto& e : fs::recursive_directory_iterator(p)) {
        std::string ext = e.path().extension().string();
        if (e.is_regular_file() && (ext == ".json" || ext == ".yaml" || ext == ".yml"))
          files.push_back(e.path());
      }
    } else {
      files.push_back(p);
    }
  }
  std::sort(files.begin(), files.end());
  DocumentFormat to = args.to == "yaml" ? DocumentFormat::kYaml : DocumentFormat::kJson;
  int status = kExitOk;
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Diagnostic err;
    std::optional<std::string> out =
        convert_document(f.string(), text, DocumentFormat::kAuto, to, err);
    if (!out) {
      std::fprintf(stderr, "%s\n", format_diagnostic(err).c_str());
      status = kExitInvalid;
      continue;
    }
    if (args.output_dir.empty()) {
      if (files.size() > 1) std::printf("%s# %s\n", args.to == "yaml" ? "---\n" : "", f.c_str());
      std::fwrite(out->data(), 1, out->size(), stdout);
    } else {
      fs::path target = fs::path(args.output_dir) / f.filename();
      target.replace_extension(args.to == "yaml" ? ".yaml" : ".json");
      fs::create_directories(target.parent_path());
      std::ofstream o(target, std::ios::binary);
      o << *out;
      if (!o) {
        std::fprintf(stderr, "doppel: cannot write %s\n", target.c_str());
        return kExitUsage;
      }
    }
  }
  return status;
}

int models_schema(const ModelsSchemaArgs& args) {
  if (!paths_exist(args.models)) return kExitUsage;
  LoadResult r = load(args.models);
  if (!r.ok()) {
    print_diagnostics(r.diagnostics);
    return kExitInvalid;
  }
  const Interface* i = r.registry->find(args.dtmi);
  if (!i) {
    std::fprintf(stderr, "doppel: interface %s is not defined in the given models\n",
                 args.dtmi.c_str());
    return kExitInvalid;
  }
  std::string out;
  if (args.part == "all") {
    out = interface_json_schemas(*i);
  } else if (args.part == "telemetry") {
    out = telemetry_json_schema(*i);
  } else if (args.part == "properties") {
    out = properties_json_schema(*i);
  } else if (args.part.starts_with("command:")) {
    std::string rest = args.part.substr(8);
    bool response = rest.ends_with(":response");
    if (response)
      rest.resize(rest.size() - 9);
    else if (rest.ends_with(":request"))
      rest.resize(rest.size() - 8);
    const Content* c = i->find(rest);
    if (!c || c->kind != ContentKind::kCommand) {
      std::fprintf(stderr, "doppel: %s has no command named %s\n", i->id.c_str(), rest.c_str());
      return kExitUsage;
    }
    out = command_json_schema(*c, response);
  } else {
    std::fprintf(
        stderr,
        "doppel: --part must be all, telemetry, properties or command:NAME[:request|:response]\n");
    return kExitUsage;
  }
  std::printf("%s\n", out.c_str());
  return kExitOk;
}

}  // namespace doppel::cli
