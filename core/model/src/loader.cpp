#include "doppel/model/loader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <memory_resource>
#include <set>
#include <sstream>

#include "document.hpp"
#include "element.hpp"
#include "parser.hpp"
#include "registry_builder.hpp"
#include "reporter.hpp"
#include "resolver.hpp"

namespace doppel::model {

namespace fs = std::filesystem;
using namespace detail;

struct ModelLoader::Impl {
  LoadOptions options;
  struct Pending {
    std::string name;
    std::string text;
    DocumentFormat format;
    bool unreadable = false;
    std::string error;
  };
  std::vector<Pending> pending;
};

ModelLoader::ModelLoader(LoadOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}
ModelLoader::~ModelLoader() = default;

void ModelLoader::add_text(std::string name, std::string text, DocumentFormat format) {
  impl_->pending.push_back({std::move(name), std::move(text), format});
}

namespace {

bool is_model_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".json" || ext == ".yaml" || ext == ".yml";
}

// One open, one fstat and (usually) one read: iostreams cost more than the parse itself for
// ontologies of many small files.
bool read_whole_file(const fs::path& p, std::string& out) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return false;
  }
  out.resize(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  ::close(fd);
  return true;
}

}  // namespace

void ModelLoader::add_path(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec) && is_model_file(it->path())) files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) add_path(f);
    return;
  }
  Impl::Pending p;
  p.name = path.string();
  p.format = DocumentFormat::kAuto;
  if (!read_whole_file(path, p.text)) {
    p.unreadable = true;
    p.error = fs::exists(path, ec) ? "cannot read the file" : "no such file or folder";
  }
  impl_->pending.push_back(std::move(p));
}

LoadResult ModelLoader::load() {
  LoadResult result;
  Reporter report(result.diagnostics);
  std::pmr::monotonic_buffer_resource arena;
  std::deque<SourceFile> files;
  ElementSet set(&arena);
  Parser parser(set, report, impl_->options);

  auto parse_text = [&](std::string name, std::string text, DocumentFormat format, bool from_resolver) {
    SourceFile& f = files.emplace_back();
    f.name = std::move(name);
    f.text = std::move(text);
    Format fmt = format == DocumentFormat::kJson   ? Format::kJson
                 : format == DocumentFormat::kYaml ? Format::kYaml
                                                   : format_for_path(f.name);
    f.format = fmt;
    Diagnostic err;
    bool ok = fmt == Format::kYaml ? parse_yaml(f, arena, err) : parse_json(f, arena, err);
    if (!ok) {
      result.diagnostics.items.push_back(std::move(err));
      return;
    }
    ++result.documents;
    parser.parse_document(f, from_resolver);
  };

  for (Impl::Pending& p : impl_->pending) {
    if (p.unreadable) {
      Diagnostic d;
      d.code = "unreadable";
      d.message = p.error;
      d.hint = "check the path";
      d.location.file = p.name;
      result.diagnostics.items.push_back(std::move(d));
      continue;
    }
    parse_text(std::move(p.name), std::move(p.text), p.format, false);
  }
  impl_->pending.clear();

  if (impl_->options.resolver) {
    std::set<std::string> asked;
    for (int round = 0; round < 64; ++round) {
      std::vector<std::string> missing;
      for (std::string& m : undefined_references(set))
        if (asked.insert(m).second) missing.push_back(std::move(m));
      if (missing.empty()) break;
      std::vector<std::string> docs = impl_->options.resolver(missing);
      if (docs.empty()) break;
      int i = 0;
      for (std::string& d : docs)
        parse_text("resolved:" + missing.front() + "[" + std::to_string(i++) + "]", std::move(d), DocumentFormat::kJson, true);
    }
  }

  resolve_and_validate(set, report);
  if (!result.diagnostics.has_errors()) {
    std::vector<std::string_view> texts;
    for (const SourceFile& f : files) texts.push_back(f.text);
    result.registry = build_registry(set, texts);
  }
  return result;
}

LoadResult load_models(const std::vector<fs::path>& paths, LoadOptions options) {
  ModelLoader loader(std::move(options));
  for (const fs::path& p : paths) loader.add_path(p);
  return loader.load();
}

}  // namespace doppel::model
