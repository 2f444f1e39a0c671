// Prints ApiServer::routes() as JSON lines: {"method", "path", "auth", "role"}.
#include <cstdio>

#include "doppel/api/api_server.hpp"

int main() {
  for (const auto& r : doppel::api::ApiServer::routes())
    std::printf("{\"method\": \"%s\", \"path\": \"%s\", \"auth\": %s, \"role\": \"%s\"}\n",
                r.method.c_str(), r.path.c_str(), r.authenticated ? "true" : "false",
                std::string(doppel::api::role_name(r.role)).c_str());
  return 0;
}
