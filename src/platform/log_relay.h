#pragma once
// LogRelay: copies what step processes write (to a pipe) into their log files, on one thread
// for all of them (epoll), so that a log stops growing at its size cap and so that baton, not the
// step, decides when a log is final: once closed, no process the step left anywhere can write to
// it.

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "baton/status.h"

namespace baton {

class LogRelay {
 public:
  LogRelay() = default;
  ~LogRelay();
  LogRelay(const LogRelay&) = delete;
  LogRelay& operator=(const LogRelay&) = delete;

  // Creates (truncating) the log at `path` and a pipe feeding it, keeping at most `cap` bytes
  // of what comes through (0: no cap). Returns the stream's id; *write_fd is the pipe's write
  // end (close-on-exec) for the child's stdout and stderr, which the caller closes once the
  // child has it. With `echo_fd` >= 0, what the log keeps is also written there (a container's
  // stdout, which its platform collects), on a best-effort basis.
  Result<int> Open(const std::string& path, int64_t cap, int* write_fd, int echo_fd = -1);

  // Ends a stream: waits up to `wait_us` for every writer to close the pipe and for what they
  // wrote to reach the log, then closes both ends. Returns the bytes dropped over the cap.
  // The caller copies the rest itself, so that a step's end does not wait for the relay thread
  // to be scheduled.
  int64_t Close(int id, int64_t wait_us);

 private:
  struct Stream {
    int in = -1;   // the pipe's read end
    int out = -1;  // the log file
    int echo = -1; // also written here, or -1
    int64_t cap = 0;
    int64_t written = 0;
    int64_t dropped = 0;
    bool eof = false;    // the read end is closed (under mu_)
    bool busy = false;   // the relay thread is copying from it (under mu_)
    bool owned = false;  // Close has taken it over; the relay thread leaves it alone (under mu_)
  };
  static constexpr uint64_t kWakeId = UINT64_MAX;  // the wake pipe's tag in epoll
  Status StartThread();                            // under mu_
  void Loop();
  void Wake();
  // Copies one read's worth from `s`; false at end of file or on an error.
  static bool Pump(Stream& s);

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, Stream> streams_;  // guarded by mu_; fds and counters used by the thread
  int next_id_ = 1;
  int epoll_ = -1;  // the read ends of open streams, and the wake pipe (quit only)
  int wake_[2] = {-1, -1};
  bool quit_ = false;
  std::thread thread_;
};

}  // namespace baton
