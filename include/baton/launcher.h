#pragma once
// Launcher: the CommandRunner of baton. It starts step processes (or containers, or jobs) and
// reports their completion; it owns all concurrency so the executor loop needs no locks.

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "baton/status.h"

namespace baton {

// What to run for one step attempt.
struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
  std::vector<std::string> env;   // the complete environment, "KEY=VALUE"
  std::string cwd;
  std::string log_path;           // stdout and stderr both go here
  int64_t timeout_us = 0;         // 0: none
  int64_t grace_us = 10'000'000;  // between SIGTERM and SIGKILL
  // An in-process step (a C++ function) instead of a process: runs on a worker thread. It
  // returns "" on success, else why it failed; `stop` is raised on cancel or timeout (a thread
  // cannot be killed: the function should return when it sees it).
  std::function<std::string(const std::atomic<bool>& stop)> in_process;
};

struct Completion {
  int token = -1;
  int exit_code = -1;       // when the process exited
  int signal = 0;           // when it was killed by a signal
  bool timed_out = false;
  bool cancelled = false;   // terminated by Cancel/CancelAll
  int64_t duration_us = 0;
  int64_t max_rss_kb = 0;
  std::string error;        // why an in-process step failed, or what killed a process
  bool ok() const { return exit_code == 0 && signal == 0 && !timed_out && !cancelled; }
  // "exited with code 3", "killed by signal 9 (Killed)", "timed out after 10s", ...
  std::string Describe(int64_t timeout_us) const;
};

class Launcher {
 public:
  enum class WaitResult { kCompleted, kDeadline, kInterrupted };
  virtual ~Launcher() = default;
  virtual bool CanRunMore() const = 0;
  // Starts a process for `token`. An error means it did not start (e.g. program not found).
  virtual Status Start(int token, const ProcessSpec& spec) = 0;
  // Blocks until a process completes (kCompleted, *out filled), until MonotonicMicros() reaches
  // `deadline_us` (0: no deadline), or until baton is asked to stop by SIGINT/SIGTERM/SIGHUP
  // (kInterrupted; `*signal_out` says which).
  virtual WaitResult Wait(int64_t deadline_us, Completion* out, int* signal_out) = 0;
  // Terminates one / every running process: SIGTERM to its process group, SIGKILL after the
  // grace period. Their completions are still delivered by Wait, marked cancelled.
  virtual void Cancel(int token) = 0;
  virtual void CancelAll() = 0;
  virtual int running() const = 0;
  // How many of the running steps are in-process functions (their completions come fast).
  virtual int in_process_running() const { return 0; }
};

}  // namespace baton
