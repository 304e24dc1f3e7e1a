// fw/status.h — the one error model of libfw's control plane.
//
// Usage:
//   fw::Status s = engine.attach_vnic({.id = 7, .mac = mac});
//   if (!s.ok()) std::cerr << s.to_string() << "\n";
//
//   fw::StatusOr<fw::MacAddress> m = fw::parse_mac("02:00:00:00:00:01");
//   if (!m.ok()) return m.status();
//   use(*m);
//
// Both types are [[nodiscard]]: ignoring an error is a compile warning.
// Thread-safety: values; safe to use from any thread, not shared without
// synchronisation.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace fw {

enum class StatusCode : unsigned char {
  kOk = 0,
  kInvalidArgument,    // the caller's input is malformed (names the field)
  kNotFound,           // a referenced object does not exist
  kAlreadyExists,      // an id is already in use
  kResourceExhausted,  // a documented limit was reached
  kFailedPrecondition, // the object is not in a state that allows the call
  kIoError,            // a file or socket could not be read or written
  kInternal,           // a bug in libfw
};

std::string_view status_code_name(StatusCode code) noexcept;

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const noexcept { return code_ == StatusCode::kOk; }
  StatusCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  // "INVALID_ARGUMENT: rule 12: src_mac: 'zz' is not a MAC address"
  std::string to_string() const;

  // Explicitly drop a status when failure is genuinely irrelevant.
  void ignore_error() const noexcept {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status already_exists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status failed_precondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "StatusOr built from an OK status without a value");
    if (status_.ok()) status_ = internal_error("StatusOr constructed from OK status");
  }

  bool ok() const noexcept { return value_.has_value(); }
  const Status& status() const noexcept { return status_; }

  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace fw
