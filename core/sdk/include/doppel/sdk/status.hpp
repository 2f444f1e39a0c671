// Status and Expected<T>: how every call across the plugin boundary reports failure.
// No exceptions cross a shared-library boundary; success is cheap (no allocation).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace doppel::sdk {

enum class StatusCode : std::uint8_t {
  kOk = 0,
  kInvalidArgument,  // bad input: config, payload, request
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,  // e.g. version mismatch (If-Match), twin still has relationships
  kUnavailable,         // transient: broker or disk away; retry later
  kDeadlineExceeded,
  kIoError,
  kCorruption,
  kUnimplemented,
  kInternal,
};

std::string_view status_code_name(StatusCode code) noexcept;

class [[nodiscard]] Status {
 public:
  Status() noexcept = default;  // OK
  Status(StatusCode code, std::string message, std::string where = {})
      : rep_(code == StatusCode::kOk
                 ? nullptr
                 : std::make_shared<Rep>(Rep{code, std::move(message), std::move(where)})) {}

  static Status ok() noexcept { return {}; }
  bool is_ok() const noexcept { return rep_ == nullptr; }
  explicit operator bool() const noexcept { return is_ok(); }
  StatusCode code() const noexcept { return rep_ ? rep_->code : StatusCode::kOk; }
  // What went wrong and what to do.
  const std::string& message() const noexcept { return rep_ ? rep_->message : empty(); }
  // Where in the user's input: "deploy.yaml:14:7", a DTMI, a JSON path, a topic. May be empty.
  const std::string& where() const noexcept { return rep_ ? rep_->where : empty(); }
  // "where: message" (or the message alone).
  std::string to_string() const;
  // Adds context on the way up: "loading plugins[2] (mqtt): <message>".
  Status with_context(std::string_view context) const;

 private:
  struct Rep {
    StatusCode code;
    std::string message;
    std::string where;
  };
  static const std::string& empty() noexcept {
    static const std::string kEmpty;
    return kEmpty;
  }
  std::shared_ptr<const Rep> rep_;
};

inline Status invalid_argument(std::string message, std::string where = {}) {
  return {StatusCode::kInvalidArgument, std::move(message), std::move(where)};
}
inline Status not_found(std::string message, std::string where = {}) {
  return {StatusCode::kNotFound, std::move(message), std::move(where)};
}
inline Status unavailable(std::string message) {
  return {StatusCode::kUnavailable, std::move(message)};
}
inline Status internal_error(std::string message) {
  return {StatusCode::kInternal, std::move(message)};
}

// A value or the Status explaining its absence.
template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Expected(Status status) : v_(std::move(status)) {}  // NOLINT(google-explicit-constructor)
  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  Status status() const { return has_value() ? Status() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

inline std::string_view status_code_name(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid argument";
    case StatusCode::kNotFound:
      return "not found";
    case StatusCode::kAlreadyExists:
      return "already exists";
    case StatusCode::kFailedPrecondition:
      return "failed precondition";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kDeadlineExceeded:
      return "deadline exceeded";
    case StatusCode::kIoError:
      return "I/O error";
    case StatusCode::kCorruption:
      return "corruption";
    case StatusCode::kUnimplemented:
      return "unimplemented";
    case StatusCode::kInternal:
      return "internal error";
  }
  return "unknown";
}

inline std::string Status::to_string() const {
  if (is_ok()) return "ok";
  return where().empty() ? message() : where() + ": " + message();
}

inline Status Status::with_context(std::string_view context) const {
  if (is_ok()) return *this;
  return Status(code(), std::string(context) + ": " + message(), where());
}

}  // namespace doppel::sdk
