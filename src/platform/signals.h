#pragma once
// The signals that ask baton to stop (SIGINT, SIGTERM, SIGHUP), taken synchronously.

#include <cstdint>

namespace baton {

// While it lives, SIGINT, SIGTERM and SIGHUP are blocked in the constructing thread (and in the
// threads it starts), so that they can be taken with Wait; the old mask is restored at the end.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Takes one stop signal, waiting up to `timeout_us`; returns it, or 0 when none came.
  int Wait(int64_t timeout_us);

  // Whether a stop signal is pending for this thread (blocked and not yet taken).
  static bool Pending();
  // "SIGINT", "SIGTERM", "SIGHUP", or "signal N".
  static const char* Name(int signal);
  // Takes one stop signal that is blocked in this thread, waiting up to `timeout_us` (for
  // threads whose stop signals another owner blocked, such as a launcher); 0 when none came.
  static int WaitBlocked(int64_t timeout_us);

 private:
  unsigned char old_mask_[128];  // sigset_t, kept opaque to callers
};

// Blocks every signal in the calling thread. Helper threads (a display timer) call it first, so
// that SIGINT, SIGTERM and SIGCHLD reach the thread that takes them synchronously instead of
// being acted on (or dropped) in a thread that never looks.
void BlockAllSignalsInThisThread();

}  // namespace baton
