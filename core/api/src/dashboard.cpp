#include "dashboard.hpp"

#include <httplib.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>
#include <system_error>

namespace doppel::api::detail {

namespace {

namespace fs = std::filesystem;

// Files the dashboard ships are small; anything bigger is not one of them.
constexpr std::uintmax_t kMaxFileBytes = 8u << 20;

std::string_view content_type(const fs::path& file) {
  std::string ext = file.extension().string();
  for (char& c : ext)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".html" || ext == ".htm") return "text/html; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".json" || ext == ".map") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".woff2") return "font/woff2";
  if (ext == ".txt" || ext == ".md") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

// True when `p` is `root` or below it (both canonical).
bool within(const fs::path& root, const fs::path& p) {
  auto r = root.begin();
  auto i = p.begin();
  for (; r != root.end(); ++r, ++i)
    if (i == p.end() || *r != *i) return false;
  return true;
}

// The file a request path names, or "" when it names none that may be served.
fs::path resolve(const fs::path& root, const std::string& request_path) {
  std::string_view rel = request_path;
  if (rel.empty() || rel.front() != '/') return {};
  rel.remove_prefix(1);
  // Refuse rather than normalise: a well-formed page never asks for these.
  if (rel.find('\0') != std::string_view::npos || rel.find('\\') != std::string_view::npos)
    return {};
  std::string path(rel);
  if (path.empty() || path.back() == '/') path += "index.html";
  for (const auto& segment : fs::path(path))
    if (segment == ".." || segment == ".") return {};
  std::error_code ec;
  fs::path file = fs::weakly_canonical(root / path, ec);
  if (ec || !within(root, file)) return {};       // a symlink that leads out of the folder
  if (!fs::is_regular_file(file, ec)) return {};  // directories are not listed
  return file;
}

}  // namespace

std::filesystem::path default_dashboard_dir() {
  if (const char* env = std::getenv("DOPPEL_DASHBOARD_DIR"); env && *env) return env;
#ifdef DOPPEL_DASHBOARD_DIR
  return DOPPEL_DASHBOARD_DIR;
#else
  return {};
#endif
}

sdk::Status mount_dashboard(httplib::Server& server, const std::filesystem::path& dir) {
  std::error_code ec;
  fs::path root = fs::canonical(dir, ec);
  if (ec || !fs::is_regular_file(root / "index.html", ec))
    return sdk::not_found("the dashboard folder " + dir.string() + " has no index.html");
  server.Get("/.*", [root](const httplib::Request& req, httplib::Response& res) {
    // API paths no route matched: leave them to the server's problem+json 404.
    std::string_view path = req.path;
    if (path.starts_with("/api/")) {
      res.status = 404;
      return;
    }
    fs::path file = resolve(root, req.path);
    std::error_code size_ec;
    std::uintmax_t size = file.empty() ? 0 : fs::file_size(file, size_ec);
    if (file.empty() || size_ec || size > kMaxFileBytes) {
      res.status = 404;
      res.set_content("not found\n", "text/plain; charset=utf-8");
      return;
    }
    std::ifstream in(file, std::ios::binary);
    std::ostringstream body;
    body << in.rdbuf();
    if (!in && !in.eof()) {
      res.status = 500;
      res.set_content("cannot read the file\n", "text/plain; charset=utf-8");
      return;
    }
    // Always revalidated: the page and the server it talks to change together.
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; img-src 'self' data:; connect-src 'self'; "
                   "frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    res.set_content(std::move(body).str(), std::string(content_type(file)));
  });
  return {};
}

}  // namespace doppel::api::detail
