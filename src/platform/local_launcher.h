#pragma once
// LocalLauncher: runs step commands as local processes, each in its own process group, with
// stdout/stderr to the attempt's log file, timeouts (SIGTERM, grace, SIGKILL of the group) and
// at most `parallelism` at once. While it exists SIGCHLD, SIGINT, SIGTERM and SIGHUP are blocked
// in the calling thread and taken synchronously in Wait(); construct it before starting threads.

#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "baton/launcher.h"
#include "platform/process.h"

namespace baton {

class LocalLauncher : public Launcher {
 public:
  explicit LocalLauncher(int parallelism);
  ~LocalLauncher() override;

  bool CanRunMore() const override { return running() < parallelism_; }
  Status Start(int token, const ProcessSpec& spec) override;
  WaitResult Wait(int64_t deadline_us, Completion* out, int* signal_out) override;
  void Cancel(int token) override;
  void CancelAll() override;
  // Like CancelAll, without the grace: SIGKILL to every running step's process group now (a
  // second Ctrl-C). In-process steps are asked to stop, as a thread cannot be killed.
  void KillAll();
  int running() const override { return static_cast<int>(procs_.size() + tasks_.size()); }
  int in_process_running() const override { return static_cast<int>(tasks_.size()); }
  // Records every started process in `path` (see PidJournal), for clean-up after a crash.
  void SetPidJournal(const std::string& path) { journal_.Open(path); }

 private:
  struct Proc {
    int token;
    int64_t start_us;
    int64_t deadline_us;       // timeout, 0 none
    int64_t kill_at_us = 0;    // SIGKILL time once SIGTERM was sent
    int64_t grace_us;
    int64_t timeout_us;
    bool timed_out = false;
    bool cancelled = false;
  };
  // In-process steps: a pool of worker threads, started on first use.
  struct Task {
    int token;
    int64_t start_us;
    int64_t deadline_us;
    std::function<std::string(const std::atomic<bool>&)> fn;
    std::shared_ptr<std::atomic<bool>> stop;
    bool timed_out = false;
    bool cancelled = false;
  };
  Status StartInProcess(int token, const ProcessSpec& spec);
  void WorkerLoop();
  void CollectTasks();

  void Reap();
  void CheckDeadlines(int64_t now);
  void Terminate(pid_t pid, Proc& p);
  int64_t NextTimer() const;

  int parallelism_;
  sigset_t old_mask_;
  std::map<pid_t, Proc> procs_;
  std::deque<Completion> done_;
  PidJournal journal_;

  std::map<int, Task> tasks_;  // by token; touched by the owning thread only
  std::mutex mu_;
  std::condition_variable cv_;
  struct Job {
    int token;
    std::function<std::string(const std::atomic<bool>&)> fn;
    std::shared_ptr<std::atomic<bool>> stop;
  };
  std::deque<Job> queue_;                  // to run (guarded by mu_)
  std::map<int, std::string> finished_;    // token -> error (guarded by mu_)
  std::vector<std::thread> workers_;
  bool quit_ = false;  // guarded by mu_
  int idle_ = 0;       // workers waiting for a job (guarded by mu_)
};

}  // namespace baton
