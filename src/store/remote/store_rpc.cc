#include "store/remote/store_rpc.h"

#include <cstdint>

namespace baton::store_rpc {

namespace {
constexpr std::pair<Code, const char*> kNames[] = {
    {Code::kInvalidArgument, "invalid_argument"},
    {Code::kNotFound, "not_found"},
    {Code::kAlreadyExists, "already_exists"},
    {Code::kFailedPrecondition, "failed_precondition"},
    {Code::kResourceExhausted, "resource_exhausted"},
    {Code::kUnavailable, "unavailable"},
    {Code::kDeadlineExceeded, "deadline_exceeded"},
    {Code::kCancelled, "cancelled"},
    {Code::kInternal, "internal"},
    {Code::kUnauthenticated, "unauthenticated"},
    {Code::kPermissionDenied, "permission_denied"},
};
}  // namespace

bool IsRead(const std::string& method) {
  static const char* const kReads[] = {
      "GetSnapshot", "RunsWithStatus", "GetRun", "RunUsers", "ListRuns", "ListStepRuns",
      "GetStepRun", "FindRunOutput", "GetArtifact", "ListArtifacts", "StepOutputs", "StepInputs",
      "ArtifactDigests", "Consumers", "FindCacheHit", "PreviousStepRun", "GetComponent",
      "ListComponents", "GetStack", "ListStacks", "GetSetting", "ListPlugins", "StepDurations",
      "GetUser", "ListUsers", "FindToken", "ListTokens", "GetSchedule", "ListSchedules", "Ping"};
  for (const char* r : kReads)
    if (method == r) return true;
  return false;
}

const char* CodeName(Code code) {
  for (const auto& [c, name] : kNames)
    if (c == code) return name;
  return "internal";
}

Code CodeFromName(const std::string& name) {
  for (const auto& [c, n] : kNames)
    if (name == n) return c;
  return Code::kInternal;
}

int HttpStatus(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kUnauthenticated: return 401;
    case Code::kPermissionDenied: return 403;
    case Code::kNotFound: return 404;
    case Code::kAlreadyExists:
    case Code::kFailedPrecondition: return 409;
    case Code::kCancelled: return 499;
    case Code::kResourceExhausted: return 507;
    case Code::kUnavailable: return 503;
    case Code::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

}  // namespace baton::store_rpc
