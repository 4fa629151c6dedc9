#pragma once
// LocalLauncher: runs step commands as local processes, each in its own process group, with
// stdout/stderr relayed to the attempt's log file (up to a size cap), timeouts (SIGTERM, grace,
// SIGKILL of the group) and at most `parallelism` at once. It contains what a step starts: baton
// becomes a child subreaper, every process of a step carries a tag in its environment, and a
// step is complete only once nothing of it runs any more (see platform/containment.h). While it
// exists SIGCHLD, SIGINT, SIGTERM and SIGHUP are blocked in the calling thread and taken
// synchronously in Wait(); construct it before starting threads.

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
#include "platform/containment.h"
#include "platform/log_relay.h"
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
  // The most bytes of output a step's log keeps (0: no limit); what comes after is dropped and
  // counted, and the log ends with a note that says so.
  void SetMaxLogBytes(int64_t bytes) { max_log_bytes_ = bytes; }
  static constexpr int64_t kDefaultMaxLogBytes = 100LL << 20;
  // Also writes what the steps' logs keep to this process's stdout (the step entrypoint in a
  // container or pod, whose platform collects its stdout).
  void EchoOutputToStdout() { echo_fd_ = 1; }

 private:
  struct Proc {
    int token = 0;
    int64_t start_us = 0;
    int64_t deadline_us = 0;  // timeout, 0 none
    int64_t kill_at_us = 0;   // SIGKILL time once SIGTERM was sent
    int64_t grace_us = 0;
    int64_t timeout_us = 0;
    bool timed_out = false;
    bool cancelled = false;
    std::string tag;          // BATON_PROCESS_TAG=... in the environment of all its processes
    int64_t start_ticks = 0;  // when it was started, in clock ticks since boot
    std::string log_path;
    int relay = 0;                  // the LogRelay stream of its output
    bool exited = false;            // the leader ended; what it left behind is being ended
    int64_t sweep_kill_at_us = 0;   // SIGKILL for what it left behind
    std::vector<ProcessInfo> left;  // what it left running, as found (for the log)
    std::vector<pid_t> exiting;     // members of its group seen once after a group SIGTERM
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
  // Ends what the step of an exited leader left running: SIGTERM, SIGKILL after a short grace.
  // True once nothing of it runs.
  bool SweepDone(pid_t pid, Proc& p, int64_t now);
  // Reaps the leader, closes its log (with notes on what was killed and dropped) and queues its
  // completion.
  void Complete(pid_t pid, Proc& p);
  void CheckDeadlines(int64_t now);
  void Terminate(pid_t pid, Proc& p);
  int64_t NextTimer() const;

  int parallelism_;
  sigset_t old_mask_;
  std::map<pid_t, Proc> procs_;
  std::deque<Completion> done_;
  PidJournal journal_;
  LogRelay relay_;
  int64_t max_log_bytes_ = kDefaultMaxLogBytes;
  int echo_fd_ = -1;
  int64_t next_orphan_reap_us_ = 0;

  std::map<int, Task> tasks_;  // by token; touched by the owning thread only
  std::mutex mu_;
  std::condition_variable cv_;
  struct Job {
    int token;
    std::function<std::string(const std::atomic<bool>&)> fn;
    std::shared_ptr<std::atomic<bool>> stop;
  };
  std::deque<Job> queue_;                // to run (guarded by mu_)
  std::map<int, std::string> finished_;  // token -> error (guarded by mu_)
  std::vector<std::thread> workers_;
  bool quit_ = false;  // guarded by mu_
  int idle_ = 0;       // workers waiting for a job (guarded by mu_)
};

}  // namespace baton
