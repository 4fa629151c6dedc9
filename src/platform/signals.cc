#include "platform/signals.h"

#include <signal.h>

#include <cstring>

#include "baton/signal_numbers.h"

namespace baton {

static_assert(kSigHup == SIGHUP && kSigInt == SIGINT && kSigKill == SIGKILL && kSigTerm == SIGTERM,
              "baton/signal_numbers.h does not match <signal.h>");

namespace {

sigset_t StopSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

static_assert(sizeof(sigset_t) <= 128, "sigset_t does not fit StopSignals::old_mask_");

StopSignals::StopSignals() {
  sigset_t set = StopSet(), old;
  ::pthread_sigmask(SIG_BLOCK, &set, &old);
  std::memcpy(old_mask_, &old, sizeof old);
}

StopSignals::~StopSignals() {
  sigset_t old;
  std::memcpy(&old, old_mask_, sizeof old);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

int StopSignals::Wait(int64_t timeout_us) { return WaitBlocked(timeout_us); }

int StopSignals::WaitBlocked(int64_t timeout_us) {
  sigset_t set = StopSet();
  if (timeout_us < 0) timeout_us = 0;
  struct timespec ts = {static_cast<time_t>(timeout_us / 1000000), static_cast<long>((timeout_us % 1000000) * 1000)};
  int sig = ::sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

bool StopSignals::Pending() {
  sigset_t pending;
  if (::sigpending(&pending) != 0) return false;
  return sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM) || sigismember(&pending, SIGHUP);
}

const char* StopSignals::Name(int signal) { return StopSignalName(signal); }

void BlockAllSignalsInThisThread() {
  sigset_t all;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
}

}  // namespace baton
