// Structured logging handed to plugins by the host. Secrets must never be passed here.
#pragma once

#include <initializer_list>
#include <string_view>
#include <utility>

namespace doppel::sdk {

enum class LogLevel : unsigned char { kTrace, kDebug, kInfo, kWarn, kError };

using LogField = std::pair<std::string_view, std::string_view>;

class Logger {
 public:
  virtual ~Logger() = default;
  // Thread-safe. `fields` become structured key/value pairs (e.g. {"twin", id}).
  virtual void log(LogLevel level, std::string_view message,
                   std::initializer_list<LogField> fields = {}) noexcept = 0;
  virtual bool enabled(LogLevel level) const noexcept = 0;

  void info(std::string_view m, std::initializer_list<LogField> f = {}) noexcept {
    log(LogLevel::kInfo, m, f);
  }
  void warn(std::string_view m, std::initializer_list<LogField> f = {}) noexcept {
    log(LogLevel::kWarn, m, f);
  }
  void error(std::string_view m, std::initializer_list<LogField> f = {}) noexcept {
    log(LogLevel::kError, m, f);
  }
  void debug(std::string_view m, std::initializer_list<LogField> f = {}) noexcept {
    if (enabled(LogLevel::kDebug)) log(LogLevel::kDebug, m, f);
  }
};

}  // namespace doppel::sdk
