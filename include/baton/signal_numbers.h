#pragma once
// The signals baton sends and takes, by number, for code that may not include <csignal> (only
// src/platform calls the operating system). The numbers are the ones POSIX gives them (`kill -N`
// means the same signal on every POSIX system); src/platform checks them against <signal.h>.

namespace baton {

inline constexpr int kSigHup = 1;
inline constexpr int kSigInt = 2;
inline constexpr int kSigKill = 9;
inline constexpr int kSigTerm = 15;

// The name of a signal that asks baton to stop: "SIGINT", "SIGTERM", "SIGHUP", or "a signal".
constexpr const char* StopSignalName(int signal) {
  switch (signal) {
    case kSigInt:
      return "SIGINT";
    case kSigTerm:
      return "SIGTERM";
    case kSigHup:
      return "SIGHUP";
    default:
      return "a signal";
  }
}

}  // namespace baton
