// Running independent command-line clients from tests (mosquitto_pub, coap-client, curl).
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace doppel::testing {

// Runs `cmd` with /bin/sh; returns its stdout, and its exit status in *rc (-1 if it did not
// exit normally).
inline std::string run_shell(const std::string& cmd, int* rc = nullptr) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    if (rc) *rc = -1;
    return out;
  }
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    out.append(buf, n);
  int status = ::pclose(p);
  if (rc) *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// `s` as one single-quoted shell word.
inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace doppel::testing
