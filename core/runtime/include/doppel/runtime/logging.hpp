// Structured logs: one line per event, as text or JSON, with key/value fields. spdlog stays
// inside logging.cpp.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "doppel/sdk/log.hpp"

namespace doppel::runtime {

enum class LogFormat { kText, kJson };

struct LogOptions {
  sdk::LogLevel level = sdk::LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
};

// A logger writing to stderr. `component` names the source ("runtime", a plugin's name).
class Log final : public sdk::Logger {
 public:
  Log(std::string component, LogOptions options);
  ~Log() override;
  void log(sdk::LogLevel level, std::string_view message,
           std::initializer_list<sdk::LogField> fields) noexcept override;
  bool enabled(sdk::LogLevel level) const noexcept override;
  // Another logger with the same sink and options for `component`.
  std::unique_ptr<Log> child(std::string component) const;

 private:
  std::string component_;
  LogOptions options_;
};

sdk::LogLevel parse_log_level(std::string_view text, bool* ok = nullptr);

}  // namespace doppel::runtime
