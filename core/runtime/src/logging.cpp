#include "doppel/runtime/logging.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "doppel/model/json_text.hpp"

namespace doppel::runtime {

namespace {

std::mutex g_stderr_mutex;  // whole lines, never interleaved

const char* level_name(sdk::LogLevel l) {
  switch (l) {
    case sdk::LogLevel::kTrace:
      return "trace";
    case sdk::LogLevel::kDebug:
      return "debug";
    case sdk::LogLevel::kInfo:
      return "info";
    case sdk::LogLevel::kWarn:
      return "warn";
    case sdk::LogLevel::kError:
      return "error";
  }
  return "?";
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace

sdk::LogLevel parse_log_level(std::string_view text, bool* ok) {
  if (ok) *ok = true;
  if (text == "trace") return sdk::LogLevel::kTrace;
  if (text == "debug") return sdk::LogLevel::kDebug;
  if (text == "info") return sdk::LogLevel::kInfo;
  if (text == "warn" || text == "warning") return sdk::LogLevel::kWarn;
  if (text == "error") return sdk::LogLevel::kError;
  if (ok) *ok = false;
  return sdk::LogLevel::kInfo;
}

Log::Log(std::string component, LogOptions options)
    : component_(std::move(component)), options_(options) {}
Log::~Log() = default;

bool Log::enabled(sdk::LogLevel level) const noexcept {
  return level >= options_.level;
}

std::unique_ptr<Log> Log::child(std::string component) const {
  return std::make_unique<Log>(std::move(component), options_);
}

void Log::log(sdk::LogLevel level, std::string_view message,
              std::initializer_list<sdk::LogField> fields) noexcept {
  if (!enabled(level)) return;
  try {
    std::string line;
    if (options_.format == LogFormat::kJson) {
      line =
          "{\"ts\":\"" + timestamp() + "\",\"level\":\"" + level_name(level) + "\",\"component\":";
      model::append_json_string(line, component_);
      line += ",\"msg\":";
      model::append_json_string(line, message);
      for (const auto& [k, v] : fields) {
        line += ',';
        model::append_json_string(line, k);
        line += ':';
        model::append_json_string(line, v);
      }
      line += "}\n";
    } else {
      line =
          timestamp() + " " + level_name(level) + " [" + component_ + "] " + std::string(message);
      for (const auto& [k, v] : fields) {
        line += ' ';
        line += k;
        line += '=';
        bool quote = v.find(' ') != std::string_view::npos || v.empty();
        if (quote) line += '"';
        line += v;
        if (quote) line += '"';
      }
      line += '\n';
    }
    std::lock_guard lock(g_stderr_mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
  } catch (...) {
    // Logging never throws into the caller.
  }
}

}  // namespace doppel::runtime
