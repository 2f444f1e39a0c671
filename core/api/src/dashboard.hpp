// The web dashboard (web/dashboard/): static files served at `/` next to the REST API.
// The files need no token (they hold no data); every data call the page makes carries one.
#pragma once

#include <filesystem>

#include "doppel/sdk/status.hpp"

namespace httplib {
class Server;
}

namespace doppel::api::detail {

// The folder served when the deployment names none: $DOPPEL_DASHBOARD_DIR if set, else the
// source tree's web/dashboard (DOPPEL_DASHBOARD_DIR compile definition), else "".
std::filesystem::path default_dashboard_dir();

// Serves the files under `dir` for GET (and HEAD) requests on every path that no route
// registered before matches: "/" and "/x/" give the folder's index.html, content types come
// from the file extension, directories are never listed, and paths that leave `dir` ("..",
// symlinks out of it) are refused with 404. Paths under /api/ are left to the server's 404.
// Call once, after the API routes are registered and before the server listens. Fails when
// `dir` has no index.html.
sdk::Status mount_dashboard(httplib::Server& server, const std::filesystem::path& dir);

}  // namespace doppel::api::detail
