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

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
int Sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

std::string Base64Encode(const std::string& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                       (uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                       uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    for (int k = 3; k >= 0; --k) out += kAlphabet[(v >> (6 * k)) & 63];
  }
  const size_t left = bytes.size() - i;
  if (left > 0) {
    uint32_t v = uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (left == 2) v |= uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += left == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool Base64Decode(const std::string& text, std::string* bytes) {
  if (text.size() % 4 != 0) return false;
  bytes->clear();
  bytes->reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const int pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=') : 0;
    if (pad == 1 && text[i + 2] == '=') return false;  // "x=y=" is not padding
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const int x = k >= 4 - pad ? 0 : Sextet(text[i + k]);
      if (x < 0) return false;
      v = (v << 6) | static_cast<uint32_t>(x);
    }
    bytes->push_back(static_cast<char>((v >> 16) & 0xff));
    if (pad < 2) bytes->push_back(static_cast<char>((v >> 8) & 0xff));
    if (pad < 1) bytes->push_back(static_cast<char>(v & 0xff));
  }
  return true;
}

}  // namespace baton::store_rpc
