#include "platform/local_launcher.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "platform/fs.h"

namespace baton {

namespace {
sigset_t HandledSignals() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGCHLD);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGHUP);
  return s;
}
// Time what a step left running gets between SIGTERM and SIGKILL (at most its kill grace).
constexpr int64_t kLeftoverGraceUs = 2'000'000;
// How often a step that left processes behind is looked at again while they end.
constexpr int64_t kSweepPollUs = 50'000;
// How often zombies of adopted orphans are collected while steps run.
constexpr int64_t kOrphanReapUs = 1'000'000;

// "100 MiB", "1 KiB", "1500 bytes".
std::string FormatLogSize(int64_t b) {
  if (b >= (1LL << 30) && b % (1LL << 30) == 0) return std::to_string(b >> 30) + " GiB";
  if (b >= (1LL << 20) && b % (1LL << 20) == 0) return std::to_string(b >> 20) + " MiB";
  if (b >= (1LL << 10) && b % (1LL << 10) == 0) return std::to_string(b >> 10) + " KiB";
  return std::to_string(b) + " bytes";
}

// "baton: killed 2 processes the step left running: 1234 (sleep), 1240 (sleep)".
std::string KilledNote(const std::vector<ProcessInfo>& left) {
  std::string s = "baton: killed " + std::to_string(left.size()) +
                  (left.size() == 1 ? " process" : " processes") + " the step left running: ";
  for (size_t i = 0; i < left.size(); ++i)
    s += (i ? ", " : "") + std::to_string(left[i].pid) + " (" + left[i].name + ")";
  return s;
}

// Appends baton's own lines to a finished log, on a line of their own.
void AppendNotes(const std::string& path, const std::vector<std::string>& notes) {
  if (notes.empty()) return;
  std::string text;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st;
    char last = '\n';
    if (::fstat(fd, &st) == 0 && st.st_size > 0 && ::pread(fd, &last, 1, st.st_size - 1) == 1 &&
        last != '\n')
      text = "\n";
    ::close(fd);
  }
  for (const auto& n : notes) text += n + "\n";
  (void)fs::AppendFile(path, text);
}
}  // namespace

LocalLauncher::LocalLauncher(int parallelism) : parallelism_(std::max(1, parallelism)) {
  sigset_t s = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &s, &old_mask_);
  // Orphans of steps (a double fork, setsid) re-parent to baton instead of to init: they stay
  // within reach, and their exit wakes Wait().
  (void)BecomeSubreaper();
}

LocalLauncher::~LocalLauncher() {
  // In-process steps are asked to stop; their threads are joined (a function that ignores the
  // stop flag keeps baton waiting, as a thread cannot be killed).
  {
    std::lock_guard<std::mutex> l(mu_);
    quit_ = true;
    queue_.clear();
  }
  for (auto& [token, t] : tasks_) *t.stop = true;
  cv_.notify_all();
  for (auto& w : workers_) w.join();
  // Never leave a process behind: not a step's, nor anything its steps left running.
  for (auto& [pid, p] : procs_) {
    ::killpg(pid, SIGKILL);
    for (const auto& q :
         FindContained(std::string(kProcessTagVar) + "=" + p.tag, pid, p.start_ticks))
      ::kill(q.pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ForgetOwnChild(pid);
    relay_.Close(p.relay, 0);
  }
  SignalAdoptedOrphans(SIGKILL);
  ReapAdoptedOrphans();
  // Drop signals that arrived for us before restoring the mask.
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGCHLD);
  struct timespec zero = {0, 0};
  while (sigtimedwait(&s, nullptr, &zero) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

Status LocalLauncher::Start(int token, const ProcessSpec& spec) {
  if (spec.in_process) return StartInProcess(token, spec);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  // Output goes through a pipe that baton relays to the log, so that the log keeps its cap and
  // ends when baton closes it.
  int out_fd = -1;
  auto relay = relay_.Open(spec.log_path, max_log_bytes_, &out_fd, echo_fd_);
  if (!relay.ok()) {
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return relay.status();
  }
  posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, spec.cwd.c_str());
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  defaults = HandledSignals();
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGQUIT);
  posix_spawnattr_setsigdefault(&attr, &defaults);

  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // The tag marks every process of this attempt, wherever it goes (setsid, a double fork).
  const std::string tag = NewProcessTag();
  const std::string tag_entry = std::string(kProcessTagVar) + "=" + tag;
  for (const auto& e : spec.env)
    if (e.compare(0, std::strlen(kProcessTagVar) + 1, std::string(kProcessTagVar) + "=") != 0)
      envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(const_cast<char*>(tag_entry.c_str()));
  envp.push_back(nullptr);

  const int64_t start_ticks = BootTicksNow();
  pid_t pid = 0;
  int rc;
  {
    auto own = LockOwnChildren();
    rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
    if (rc == 0) NoteOwnChild(pid);
  }
  ::close(out_fd);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    relay_.Close(*relay, 0);
    std::string why = std::strerror(rc);
    if (rc == ENOENT) {
      if (!spec.cwd.empty() && !fs::IsDir(spec.cwd))
        why = "working directory " + spec.cwd + " does not exist";
      else
        why = "program not found";
    }
    return FailedPrecondition("cannot execute '" + spec.argv[0] + "': " + why);
  }
  journal_.Add(pid);
  int64_t now = MonotonicMicros();
  Proc p;
  p.token = token;
  p.start_us = now;
  p.deadline_us = spec.timeout_us > 0 ? now + spec.timeout_us : 0;
  p.grace_us = spec.grace_us;
  p.timeout_us = spec.timeout_us;
  p.tag = tag;
  p.start_ticks = start_ticks;
  p.log_path = spec.log_path;
  p.relay = *relay;
  procs_.emplace(pid, std::move(p));
  return Status::Ok();
}

Status LocalLauncher::StartInProcess(int token, const ProcessSpec& spec) {
  int64_t now = MonotonicMicros();
  Task t{token, now, spec.timeout_us > 0 ? now + spec.timeout_us : 0, spec.in_process,
         std::make_shared<std::atomic<bool>>(false)};
  Job job{token, t.fn, t.stop};
  auto [it, inserted] = tasks_.emplace(token, std::move(t));
  if (!inserted) return Internal("token " + std::to_string(token) + " is already running");
  std::lock_guard<std::mutex> l(mu_);
  if (workers_.size() < static_cast<size_t>(parallelism_) && workers_.size() < tasks_.size()) {
    // Workers inherit this thread's blocked signals, so SIGINT/SIGTERM still reach Wait().
    workers_.emplace_back([this] { WorkerLoop(); });
  }
  queue_.push_back(std::move(job));
  if (idle_ > 0) cv_.notify_one();
  return Status::Ok();
}

void LocalLauncher::WorkerLoop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    ++idle_;
    cv_.wait(l, [this] { return quit_ || !queue_.empty(); });
    --idle_;
    if (quit_) return;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    l.unlock();
    std::string error;
    try {
      error = job.fn(*job.stop);
    } catch (const std::exception& e) {
      error = std::string("uncaught exception: ") + e.what();
    } catch (...) {
      error = "uncaught exception of unknown type";
    }
    l.lock();
    bool first = finished_.empty();
    finished_[job.token] = error;
    // Wakes Wait() in the owning thread, which takes SIGCHLD synchronously and then collects
    // every finished task: one signal per batch is enough.
    if (first) ::kill(::getpid(), SIGCHLD);
  }
}

void LocalLauncher::CollectTasks() {
  std::map<int, std::string> finished;
  {
    std::lock_guard<std::mutex> l(mu_);
    finished.swap(finished_);
  }
  for (auto& [token, error] : finished) {
    auto it = tasks_.find(token);
    if (it == tasks_.end()) continue;
    Completion c;
    c.token = token;
    c.exit_code = error.empty() ? 0 : 1;
    c.error = error;
    c.timed_out = it->second.timed_out;
    c.cancelled = it->second.cancelled && !it->second.timed_out;
    c.duration_us = MonotonicMicros() - it->second.start_us;
    done_.push_back(c);
    tasks_.erase(it);
  }
}

void LocalLauncher::Terminate(pid_t pid, Proc& p) {
  if (p.kill_at_us != 0) return;
  ::killpg(pid, SIGTERM);
  p.kill_at_us = MonotonicMicros() + p.grace_us;
}

void LocalLauncher::Cancel(int token) {
  if (auto t = tasks_.find(token); t != tasks_.end()) {
    t->second.cancelled = true;
    *t->second.stop = true;
  }
  for (auto& [pid, p] : procs_) {
    if (p.token == token && !p.exited) {
      p.cancelled = true;
      Terminate(pid, p);
    }
  }
}

void LocalLauncher::CancelAll() {
  for (auto& [token, t] : tasks_) {
    t.cancelled = true;
    *t.stop = true;
  }
  for (auto& [pid, p] : procs_) {
    if (p.exited) continue;  // it ended by itself; only what it left behind is being ended
    p.cancelled = true;
    Terminate(pid, p);
  }
}

void LocalLauncher::KillAll() {
  CancelAll();
  for (auto& [pid, p] : procs_) {
    ::killpg(pid, SIGKILL);
    p.kill_at_us = INT64_MAX;
    if (p.exited) p.sweep_kill_at_us = MonotonicMicros();
  }
}

void LocalLauncher::Reap() {
  const int64_t now = MonotonicMicros();
  for (auto it = procs_.begin(); it != procs_.end();) {
    pid_t pid = it->first;
    Proc& p = it->second;
    if (!p.exited) {
      // Look without reaping: while the leader is a zombie its pid cannot be reused, so its
      // group and what carries its tag are only what the step left behind.
      siginfo_t info;
      info.si_pid = 0;
      if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
          info.si_pid == 0) {
        ++it;
        continue;
      }
      p.exited = true;
      p.sweep_kill_at_us = now + std::min(p.grace_us, kLeftoverGraceUs);
      if (p.kill_at_us != 0) p.sweep_kill_at_us = std::min(p.sweep_kill_at_us, p.kill_at_us);
    }
    if (!SweepDone(pid, p, now)) {
      ++it;
      continue;
    }
    Complete(pid, p);
    it = procs_.erase(it);
  }
  if (now >= next_orphan_reap_us_) {
    ReapAdoptedOrphans();
    next_orphan_reap_us_ = now + kOrphanReapUs;
  }
}

bool LocalLauncher::SweepDone(pid_t pid, Proc& p, int64_t now) {
  // The common case, without reading every process: the leader has ended, so anything of the
  // step still alive was re-parented to this process (a subreaper).
  if (p.left.empty() && !MayHaveAdoptedChildren()) return true;
  const std::string entry = std::string(kProcessTagVar) + "=" + p.tag;
  auto alive = FindContained(entry, pid, p.start_ticks);
  if (alive.empty()) return true;
  // Members of the step's group that the group's signal reached and that have not run since.
  std::vector<pid_t> dying;
  for (const auto& a : alive) {
    bool known = false;
    for (const auto& l : p.left)
      known = known || (l.pid == a.pid && l.start_ticks == a.start_ticks);
    if (known) continue;
    // A member of the step's own group that the group's SIGTERM (a timeout, a stop) reached
    // with the leader may still be exiting: it is left behind only if it is there at the next
    // look and is not still waiting to be scheduled to die of that signal.
    if (p.kill_at_us != 0 && a.pgid == pid) {
      const bool first = std::find(p.exiting.begin(), p.exiting.end(), a.pid) == p.exiting.end();
      if (first) p.exiting.push_back(a.pid);
      if (DyingOf(a.pid, {SIGTERM, SIGKILL})) {
        dying.push_back(a.pid);
        continue;
      }
      if (first) continue;
    }
    p.left.push_back(a);
    if (now < p.sweep_kill_at_us) ::kill(a.pid, SIGTERM);
  }
  if (now < p.sweep_kill_at_us) return false;
  // The grace is over: SIGKILL, and wait (briefly: SIGKILL cannot be caught) until they are gone,
  // so that nothing of the step writes after it is recorded as ended.
  for (int round = 0; round < 100 && !alive.empty(); ++round) {
    for (const auto& a : alive) ::kill(a.pid, SIGKILL);
    ::killpg(pid, SIGKILL);
    ::usleep(10'000);
    ReapAdoptedOrphans();
    alive = FindContained(entry, pid, p.start_ticks);
    for (const auto& a : alive) {
      bool known = false;
      for (const auto& l : p.left)
        known = known || (l.pid == a.pid && l.start_ticks == a.start_ticks);
      // Dying of the group's SIGTERM when the grace ran out: not something the step left.
      known = known || std::find(dying.begin(), dying.end(), a.pid) != dying.end();
      if (!known) p.left.push_back(a);
    }
  }
  return true;
}

void LocalLauncher::Complete(pid_t pid, Proc& p) {
  int status = 0;
  struct rusage ru;
  std::memset(&ru, 0, sizeof ru);
  ::wait4(pid, &status, 0, &ru);
  ForgetOwnChild(pid);
  if (!p.left.empty()) ReapAdoptedOrphans();  // else the periodic reaping sees to them
  // Every writer is gone: what they wrote reaches the log, then the log is closed for good.
  const int64_t dropped = relay_.Close(p.relay, 2'000'000);
  std::vector<std::string> notes;
  if (!p.left.empty()) notes.push_back(KilledNote(p.left));
  if (dropped > 0)
    notes.push_back("[baton: log truncated at " + FormatLogSize(max_log_bytes_) + "; " +
                    std::to_string(dropped) + " bytes dropped]");
  AppendNotes(p.log_path, notes);
  Completion c;
  c.token = p.token;
  if (WIFEXITED(status)) c.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) c.signal = WTERMSIG(status);
  c.timed_out = p.timed_out;
  c.cancelled = p.cancelled && !p.timed_out;
  c.duration_us = MonotonicMicros() - p.start_us;
  c.max_rss_kb = ru.ru_maxrss;
  done_.push_back(c);
}

void LocalLauncher::CheckDeadlines(int64_t now) {
  for (auto& [token, t] : tasks_) {
    if (t.deadline_us != 0 && now >= t.deadline_us && !t.timed_out) {
      t.timed_out = true;
      *t.stop = true;
    }
  }
  for (auto& [pid, p] : procs_) {
    if (p.exited) continue;  // Reap() ends what it left behind
    if (p.kill_at_us != 0 && now >= p.kill_at_us) {
      ::killpg(pid, SIGKILL);
      p.kill_at_us = INT64_MAX;
    } else if (p.deadline_us != 0 && now >= p.deadline_us && p.kill_at_us == 0) {
      p.timed_out = true;
      Terminate(pid, p);
    }
  }
}

int64_t LocalLauncher::NextTimer() const {
  int64_t next = 0;
  for (const auto& [token, t] : tasks_)
    if (t.deadline_us != 0 && !t.timed_out && (next == 0 || t.deadline_us < next))
      next = t.deadline_us;
  const int64_t now = MonotonicMicros();
  for (const auto& [pid, p] : procs_) {
    int64_t t = p.kill_at_us != 0 ? (p.kill_at_us == INT64_MAX ? 0 : p.kill_at_us) : p.deadline_us;
    // What a step left behind may end without a SIGCHLD to baton: look again soon.
    if (p.exited) t = std::min(p.sweep_kill_at_us, now + kSweepPollUs);
    if (t != 0 && (next == 0 || t < next)) next = t;
  }
  return next;
}

Launcher::WaitResult LocalLauncher::Wait(int64_t deadline_us, Completion* out, int* signal_out) {
  sigset_t set = HandledSignals();
  for (;;) {
    if (done_.empty()) {
      CollectTasks();
      Reap();
    }
    if (!done_.empty()) {
      *out = done_.front();
      done_.pop_front();
      return WaitResult::kCompleted;
    }
    int64_t now = MonotonicMicros();
    CheckDeadlines(now);
    if (deadline_us != 0 && now >= deadline_us) return WaitResult::kDeadline;
    int64_t wake = NextTimer();
    if (deadline_us != 0 && (wake == 0 || deadline_us < wake)) wake = deadline_us;
    siginfo_t info;
    int sig;
    if (wake == 0 && procs_.empty() && tasks_.empty())
      return WaitResult::kDeadline;  // nothing could ever wake us
    if (wake == 0) {
      sig = sigwaitinfo(&set, &info);
    } else {
      int64_t d = std::max<int64_t>(0, wake - now);
      struct timespec ts = {static_cast<time_t>(d / 1000000),
                            static_cast<long>((d % 1000000) * 1000)};
      sig = sigtimedwait(&set, &info, &ts);
    }
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
      if (signal_out) *signal_out = sig;
      return WaitResult::kInterrupted;
    }
  }
}

}  // namespace baton
