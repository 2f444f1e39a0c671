// Loading DTDL model sets (JSON or YAML documents) into an immutable ModelRegistry.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/model/diagnostic.hpp"

namespace doppel::model {

class ModelRegistry;

// The official parser's AllowUndefinedExtensions option: whether an extension context that
// Doppel does not know is an error (kNever), tolerated (kAlways), or tolerated in DTDL v2 and
// an error in v3 (kPerDefault, the default).
enum class UndefinedExtensions { kPerDefault, kNever, kAlways };

enum class DocumentFormat { kAuto, kJson, kYaml };

// The official parser's quirks: tolerate common DTDL v2 mistakes ("solecisms") that existing
// models rely on: {"@id": ...} objects used as references, ids with the reserved prefixes
// dtmi:dtdl: and dtmi:standard:, duplicate content names. "InParse" applies to the documents
// given to the loader, "InResolve" to those returned by the resolver. Never applied to v3.
struct Quirks {
  bool tolerate_solecisms_in_parse = false;
  bool tolerate_solecisms_in_resolve = false;
};

struct LoadOptions {
  UndefinedExtensions undefined_extensions = UndefinedExtensions::kPerDefault;
  Quirks quirks;
  // Asked for definitions of DTMIs that are referenced but not defined in the loaded
  // documents; returns JSON texts of documents (possibly empty). Called repeatedly until no
  // new definitions arrive. Must not throw.
  std::function<std::vector<std::string>(const std::vector<std::string>& dtmis)> resolver;
};

struct LoadResult {
  std::shared_ptr<const ModelRegistry> registry;  // null when there are errors
  Diagnostics diagnostics;
  std::size_t documents = 0;

  bool ok() const { return registry != nullptr; }
};

// Collects documents, then parses, resolves and validates them as ONE model set: all errors
// are collected in one pass. Not thread-safe; the resulting registry is.
class ModelLoader {
 public:
  explicit ModelLoader(LoadOptions options = {});
  ~ModelLoader();
  ModelLoader(const ModelLoader&) = delete;
  ModelLoader& operator=(const ModelLoader&) = delete;

  // Adds one document from memory; `name` is used in error locations.
  void add_text(std::string name, std::string text, DocumentFormat format = DocumentFormat::kAuto);

  // Adds a file, or every .json/.yaml/.yml file under a folder (sorted, recursive).
  // Unreadable paths are reported by load().
  void add_path(const std::filesystem::path& path);

  LoadResult load();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Convenience: load the given files/folders with default options.
LoadResult load_models(const std::vector<std::filesystem::path>& paths, LoadOptions options = {});

}  // namespace doppel::model
