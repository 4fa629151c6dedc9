#pragma once
// Status and Result<T>: the one error vocabulary of baton. A failed *step* is not an error of
// baton (see StepOutcome); Status reports baton's own failures and bad input.

#include <string>
#include <utility>
#include <variant>

namespace baton {

enum class Code {
  kOk = 0,
  kInvalidArgument,     // bad user input: pipeline file, flags, config (exit code 2)
  kNotFound,            // a named run, artifact, store... does not exist (exit code 2)
  kAlreadyExists,
  kFailedPrecondition,  // the state does not allow the operation (exit code 2)
  kResourceExhausted,   // disk full, quota
  kUnavailable,         // transient: a busy database, a service not reachable; retryable
  kDeadlineExceeded,
  kCancelled,
  kInternal,            // a bug or an unexpected system error
  kUnauthenticated,     // no credentials, or ones that are unknown or expired (exit code 2)
  kPermissionDenied,    // credentials that do not allow the operation (exit code 2)
};

const char* CodeName(Code code);

// Status: an error code and a message. Cheap to copy when ok.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

  // Prefixes the message with context ("while X: ").
  Status Annotate(const std::string& context) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {Code::kFailedPrecondition, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
inline Status Cancelled(std::string m) { return {Code::kCancelled, std::move(m)}; }
inline Status Unauthenticated(std::string m) { return {Code::kUnauthenticated, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }

// Result<T>: a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

// Exit code for a status returned by a command: 2 for bad input, 1 otherwise.
int ExitCodeFor(const Status& s);

}  // namespace baton

#define BATON_RETURN_IF_ERROR(expr)        \
  do {                                     \
    ::baton::Status _st = (expr);          \
    if (!_st.ok()) return _st;             \
  } while (0)

#define BATON_CONCAT_INNER(a, b) a##b
#define BATON_CONCAT(a, b) BATON_CONCAT_INNER(a, b)
#define BATON_ASSIGN_OR_RETURN(lhs, expr) \
  BATON_ASSIGN_OR_RETURN_IMPL(BATON_CONCAT(_res_, __LINE__), lhs, expr)
#define BATON_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
