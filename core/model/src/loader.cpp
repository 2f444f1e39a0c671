#include "doppel/model/loader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fstream>
#include <memory_resource>
#include <set>
#include <sstream>
#include <thread>

#include "document.hpp"
#include "element.hpp"
#include "parser.hpp"
#include "registry_builder.hpp"
#include "reporter.hpp"
#include "resolver.hpp"

namespace doppel::model {

namespace fs = std::filesystem;
using namespace detail;

struct ModelLoaderPending {
  std::string name;
  std::string text;
  DocumentFormat format;
  bool from_disk = false;  // read `name` in load(), in parallel with the other files
};

struct ModelLoader::Impl {
  LoadOptions options;
  using Pending = ModelLoaderPending;
  std::vector<Pending> pending;
};

ModelLoader::ModelLoader(LoadOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}
ModelLoader::~ModelLoader() = default;

void ModelLoader::add_text(std::string name, std::string text, DocumentFormat format) {
  impl_->pending.push_back({std::move(name), std::move(text), format, false});
}

namespace {

bool is_model_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
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
    for (auto it = fs::recursive_directory_iterator(
             path, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec) && is_model_file(it->path())) files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files)
      add_path(f);
    return;
  }
  Impl::Pending p;
  p.name = path.string();
  p.format = DocumentFormat::kAuto;
  p.from_disk = true;
  impl_->pending.push_back(std::move(p));
}

namespace {

// Reads (when from disk) and parses one document into its own arena. Runs on worker threads.
struct Staged {
  SourceFile file;
  bool ok = false;
  Diagnostic error;
};

void stage(ModelLoaderPending& p, Staged& out, std::pmr::memory_resource& arena) {
  out.file.name = std::move(p.name);
  if (p.from_disk) {
    if (!read_whole_file(out.file.name, out.file.text)) {
      std::error_code ec;
      out.error.code = "unreadable";
      out.error.message =
          fs::exists(out.file.name, ec) ? "cannot read the file" : "no such file or folder";
      out.error.hint = "check the path and its permissions";
      out.error.location.file = out.file.name;
      return;
    }
  } else {
    out.file.text = std::move(p.text);
  }
  out.file.format = p.format == DocumentFormat::kJson   ? Format::kJson
                    : p.format == DocumentFormat::kYaml ? Format::kYaml
                                                        : format_for_path(out.file.name);
  out.ok = out.file.format == Format::kYaml ? parse_yaml(out.file, arena, out.error)
                                            : parse_json(out.file, arena, out.error);
}

}  // namespace

LoadResult ModelLoader::load() {
  LoadResult result;
  Reporter report(result.diagnostics);
  std::pmr::monotonic_buffer_resource arena;
  ElementSet set(&arena);
  Parser parser(set, report, impl_->options);

  // Stage 1, in parallel: read and parse every document into a tree (one arena per worker,
  // as monotonic arenas are not thread-safe). Stage 2, in order: turn the trees into elements.
  std::vector<Impl::Pending>& pending = impl_->pending;
  std::deque<Staged> staged(pending.size());
  const unsigned workers =
      std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(),
                                      static_cast<unsigned>(pending.size() / 32 + 1)));
  std::vector<std::unique_ptr<std::pmr::monotonic_buffer_resource>> arenas;
  for (unsigned w = 0; w < workers; ++w)
    arenas.push_back(std::make_unique<std::pmr::monotonic_buffer_resource>());
  std::atomic<std::size_t> next{0};
  auto work = [&](unsigned w) {
    for (std::size_t i; (i = next.fetch_add(1)) < pending.size();)
      stage(pending[i], staged[i], *arenas[w]);
  };
  std::vector<std::thread> threads;
  for (unsigned w = 1; w < workers; ++w)
    threads.emplace_back(work, w);
  work(0);
  for (std::thread& t : threads)
    t.join();
  pending.clear();

  std::deque<SourceFile> extra;  // documents from the resolver
  auto add_parsed = [&](SourceFile& f, bool from_resolver) {
    ++result.documents;
    parser.parse_document(f, from_resolver);
  };
  for (Staged& s : staged) {
    if (!s.ok) {
      result.diagnostics.items.push_back(std::move(s.error));
      continue;
    }
    add_parsed(s.file, false);
  }
  auto parse_text = [&](std::string name, std::string text, bool from_resolver) {
    SourceFile& f = extra.emplace_back();
    f.name = std::move(name);
    f.text = std::move(text);
    Diagnostic err;
    if (!parse_json(f, arena, err)) {
      result.diagnostics.items.push_back(std::move(err));
      return;
    }
    add_parsed(f, from_resolver);
  };

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
        parse_text("resolved:" + missing.front() + "[" + std::to_string(i++) + "]", std::move(d),
                   true);
    }
  }

  resolve_and_validate(set, report);
  if (!result.diagnostics.has_errors()) {
    std::vector<std::string_view> texts;
    for (const Staged& s : staged)
      texts.push_back(s.file.text);
    for (const SourceFile& f : extra)
      texts.push_back(f.text);
    result.registry = build_registry(set, texts);
  }
  return result;
}

LoadResult load_models(const std::vector<fs::path>& paths, LoadOptions options) {
  ModelLoader loader(std::move(options));
  for (const fs::path& p : paths)
    loader.add_path(p);
  return loader.load();
}

}  // namespace doppel::model
