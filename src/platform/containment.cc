#include "platform/containment.h"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <sstream>

#include "platform/fs.h"
#include "platform/process.h"

namespace baton {
namespace {

// What /proc/PID/stat says about a process.
struct Stat {
  char state = '?';
  pid_t ppid = 0;
  pid_t pgid = 0;
  int64_t start_ticks = 0;
  std::string name;
};

bool ReadStat(pid_t pid, Stat* st) {
  auto text = fs::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text.ok()) return false;
  // The name sits in parentheses and may itself hold spaces and parentheses.
  auto open = text->find('('), close = text->rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  st->name = text->substr(open + 1, close - open - 1);
  std::istringstream in(text->substr(close + 1));
  std::string f;
  for (int i = 0; i < 20 && (in >> f); ++i) {
    if (i == 0) st->state = f.empty() ? '?' : f[0];
    if (i == 1) st->ppid = static_cast<pid_t>(std::strtol(f.c_str(), nullptr, 10));
    if (i == 2) st->pgid = static_cast<pid_t>(std::strtol(f.c_str(), nullptr, 10));
    if (i == 19) st->start_ticks = std::strtoll(f.c_str(), nullptr, 10);
  }
  return true;
}

bool HasEnvEntry(const std::string& env, const std::string& entry) {
  // Entries are NUL-terminated; match a whole entry only.
  for (size_t at = 0; at < env.size();) {
    size_t nul = env.find('\0', at);
    if (nul == std::string::npos) nul = env.size();
    if (nul - at == entry.size() && env.compare(at, nul - at, entry) == 0) return true;
    at = nul + 1;
  }
  return false;
}

// Calls `f(pid)` for every process in /proc.
template <typename F>
void ForEachProcess(F f) {
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return;
  while (struct dirent* e = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 1 || *end != '\0') continue;
    f(static_cast<pid_t>(pid));
  }
  ::closedir(proc);
}

std::mutex& OwnChildrenMutex() {
  static std::mutex mu;
  return mu;
}

std::set<pid_t>& OwnChildren() {
  static std::set<pid_t> children;
  return children;
}

// The children of this process, as the kernel lists them per thread; false when it does not (a
// kernel without CONFIG_PROC_CHILDREN). `all_threads` false reads the main thread's list only:
// an orphan re-parents to the subreaper's first live thread, the main thread while it runs, so
// that list is where adopted processes appear (children other threads started are elsewhere).
bool ListChildren(std::vector<pid_t>* out, bool all_threads = true) {
  auto read_list = [out](const std::string& task) {
    auto text = fs::ReadFile("/proc/self/task/" + task + "/children");
    if (!text.ok()) return false;
    std::istringstream in(*text);
    for (long pid; in >> pid;) out->push_back(static_cast<pid_t>(pid));
    return true;
  };
  if (!all_threads) return read_list(std::to_string(::getpid()));
  DIR* tasks = ::opendir("/proc/self/task");
  if (tasks == nullptr) return false;
  bool listed = true;
  while (struct dirent* e = ::readdir(tasks)) {
    if (e->d_name[0] == '.') continue;
    if (!read_list(e->d_name) && fs::Exists(std::string("/proc/self/task/") + e->d_name))
      listed = false;  // a thread that ended meanwhile lists nothing, rightly
  }
  ::closedir(tasks);
  return listed;
}

// Children of this process that it did not start itself, as (pid, stat).
std::vector<std::pair<pid_t, Stat>> AdoptedChildren() {
  std::vector<std::pair<pid_t, Stat>> out;
  const pid_t self = ::getpid();
  std::vector<pid_t> children;
  if (ListChildren(&children)) {
    for (pid_t pid : children) {
      Stat st;
      if (ReadStat(pid, &st) && st.ppid == self) out.emplace_back(pid, st);
    }
  } else {
    ForEachProcess([&](pid_t pid) {
      Stat st;
      if (ReadStat(pid, &st) && st.ppid == self) out.emplace_back(pid, st);
    });
  }
  std::lock_guard<std::mutex> l(OwnChildrenMutex());
  std::erase_if(out, [](const auto& c) { return OwnChildren().count(c.first) > 0; });
  return out;
}

}  // namespace

bool BecomeSubreaper() { return ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0; }

std::string NewProcessTag() {
  static std::atomic<int64_t> seq{0};
  // This process's pid and start time, read once (a fork gets a new pid, so the prefix is
  // remembered with the pid it belongs to).
  static std::mutex mu;
  static pid_t prefix_pid = 0;
  static std::string prefix;
  const pid_t self = ::getpid();
  std::string p;
  {
    std::lock_guard<std::mutex> l(mu);
    if (prefix_pid != self) {
      prefix = std::to_string(self) + "." + std::to_string(ProcessStartTicks(self)) + ".";
      prefix_pid = self;
    }
    p = prefix;
  }
  return p + std::to_string(++seq);
}

std::vector<ProcessInfo> FindContained(const std::string& env_entry, pid_t pgid,
                                       int64_t since_ticks) {
  std::vector<ProcessInfo> out;
  const uid_t me = ::geteuid();
  const pid_t self = ::getpid();
  ForEachProcess([&](pid_t pid) {
    if (pid == self) return;
    Stat st;
    if (!ReadStat(pid, &st) || st.state == 'Z' || st.state == 'X') return;
    // Tick counts round: a margin of two keeps a process started in the same tick.
    if (st.start_ticks + 2 < since_ticks) return;
    bool in_group = pgid > 0 && st.pgid == pgid;
    if (!in_group) {
      struct stat ps;
      std::string dir = "/proc/" + std::to_string(pid);
      if (::stat(dir.c_str(), &ps) != 0 || ps.st_uid != me) return;
      auto env = fs::ReadFile(dir + "/environ");
      if (!env.ok() || !HasEnvEntry(*env, env_entry)) return;
    }
    out.push_back({pid, st.start_ticks, st.name, st.pgid});
  });
  return out;
}

bool MayHaveAdoptedChildren() {
  // Without the subreaper flag, orphans go elsewhere: only a scan finds them.
  int subreaper = 0;
  if (::prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0) != 0 || subreaper == 0) return true;
  std::vector<pid_t> children;
  if (!ListChildren(&children, /*all_threads=*/false)) return true;
  std::lock_guard<std::mutex> l(OwnChildrenMutex());
  for (pid_t pid : children)
    if (OwnChildren().count(pid) == 0) return true;
  return false;
}

bool StillRunning(const ProcessInfo& p) {
  Stat st;
  if (!ReadStat(p.pid, &st)) return false;
  return st.state != 'Z' && st.state != 'X' && st.start_ticks == p.start_ticks;
}

bool DyingOf(pid_t pid, std::initializer_list<int> signals) {
  auto read = fs::ReadFile("/proc/" + std::to_string(pid) + "/status");
  if (!read.ok()) return false;
  const std::string& status = *read;
  // Masks in hex, bit N-1 for signal N: SigPnd (to the thread), ShdPnd (to the process, as a
  // group's signal is), SigBlk, SigIgn, SigCgt.
  auto mask = [&](const char* field) -> uint64_t {
    size_t at = status.find(std::string("\n") + field + ":");
    if (at == std::string::npos) return 0;
    return std::strtoull(status.c_str() + at + std::strlen(field) + 2, nullptr, 16);
  };
  const uint64_t pending = mask("SigPnd") | mask("ShdPnd");
  const uint64_t held = mask("SigBlk") | mask("SigIgn") | mask("SigCgt");
  for (int signal : signals) {
    const uint64_t bit = uint64_t{1} << (signal - 1);
    if ((pending & bit) != 0 && (signal == SIGKILL || (held & bit) == 0)) return true;
  }
  return false;
}

std::unique_lock<std::mutex> LockOwnChildren() {
  return std::unique_lock<std::mutex>(OwnChildrenMutex());
}

void NoteOwnChild(pid_t pid) { OwnChildren().insert(pid); }

void ForgetOwnChild(pid_t pid) {
  std::lock_guard<std::mutex> l(OwnChildrenMutex());
  OwnChildren().erase(pid);
}

int ReapAdoptedOrphans() {
  int n = 0;
  for (const auto& [pid, st] : AdoptedChildren()) {
    if (st.state != 'Z') continue;
    if (::waitpid(pid, nullptr, WNOHANG) == pid) ++n;
  }
  return n;
}

void SignalAdoptedOrphans(int signal) {
  for (const auto& [pid, st] : AdoptedChildren())
    if (st.state != 'Z') ::kill(pid, signal);
}

}  // namespace baton
