#include "platform/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

#include "platform/containment.h"
#include "platform/fs.h"

namespace baton {
namespace {

// Fields of /proc/PID/stat after the command name (which may hold spaces and parentheses).
bool StatFields(pid_t pid, std::string* rest) {
  auto text = fs::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text.ok()) return false;
  auto close = text->rfind(')');
  if (close == std::string::npos) return false;
  *rest = text->substr(close + 2);
  return true;
}

int64_t BootTimeSeconds() {
  static int64_t boot = [] {
    auto text = fs::ReadFile("/proc/stat");
    if (!text.ok()) return int64_t{0};
    auto pos = text->find("\nbtime ");
    return pos == std::string::npos ? int64_t{0} : static_cast<int64_t>(std::strtoll(text->c_str() + pos + 7, nullptr, 10));
  }();
  return boot;
}

}  // namespace

int64_t ProcessStartTicks(pid_t pid) {
  std::string rest;
  if (!StatFields(pid, &rest)) return 0;
  // After the name: state(3) ppid(4) ... starttime is field 22, i.e. index 19 here.
  std::istringstream in(rest);
  std::string f;
  for (int i = 0; i < 20 && (in >> f); ++i) {
    if (i == 0 && f == "Z") return 0;  // a zombie is as good as dead
    if (i == 19) return std::strtoll(f.c_str(), nullptr, 10);
  }
  return 0;
}

bool ProcessAlive(pid_t pid, int64_t start_ticks) {
  if (pid <= 0) return false;
  int64_t t = ProcessStartTicks(pid);
  if (t == 0) return false;
  return start_ticks == 0 || t == start_ticks;
}

int64_t ProcessStartMicros(pid_t pid) {
  int64_t t = ProcessStartTicks(pid);
  if (t == 0) return 0;
  long hz = ::sysconf(_SC_CLK_TCK);
  return BootTimeSeconds() * 1000000 + t * 1000000 / (hz > 0 ? hz : 100);
}

pid_t ProcessGroup(pid_t pid) {
  pid_t g = ::getpgid(pid);
  return g;
}

PidJournal::~PidJournal() {
  if (fd_ >= 0) ::close(fd_);
}

bool PidJournal::Open(const std::string& path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  return fd_ >= 0;
}

void PidJournal::Add(pid_t pid) {
  if (fd_ < 0) return;
  char buf[24];
  int n = std::snprintf(buf, sizeof buf, "%d\n", static_cast<int>(pid));
  if (::write(fd_, buf, static_cast<size_t>(n)) < 0) {
    // Best effort: the journal only helps clean up after a crash.
  }
}

void KillJournaledGroups(const std::string& path, int64_t not_before_us, std::set<pid_t>* killed) {
  auto text = fs::ReadFile(path);
  if (!text.ok()) return;
  std::istringstream in(*text);
  long pid;
  while (in >> pid) {
    auto p = static_cast<pid_t>(pid);
    if (ProcessGroup(p) != p) continue;  // gone, or not the leader of its own group any more
    int64_t started = ProcessStartMicros(p);
    if (started == 0 || started + 1000000 < not_before_us) continue;  // an unrelated, older process
    if (::killpg(p, SIGKILL) == 0) killed->insert(p);
  }
}

int64_t BootTicksNow() {
  struct timespec ts;
  if (::clock_gettime(CLOCK_BOOTTIME, &ts) != 0) return 0;
  long hz = ::sysconf(_SC_CLK_TCK);
  if (hz <= 0) hz = 100;
  return static_cast<int64_t>(ts.tv_sec) * hz + static_cast<int64_t>(ts.tv_nsec) / (1000000000 / hz);
}

void KillGroupsWithEnv(const std::string& env_entry, int64_t started_by_ticks, std::set<pid_t>* killed) {
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return;
  const uid_t me = ::geteuid();
  const pid_t own_group = ::getpgrp();
  std::set<pid_t> groups;
  while (struct dirent* e = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 1 || *end != '\0') continue;
    std::string dir = std::string("/proc/") + e->d_name;
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || st.st_uid != me) continue;
    auto env = fs::ReadFile(dir + "/environ");
    if (!env.ok()) continue;
    // Entries are NUL-terminated; match a whole entry only.
    bool found = false;
    for (size_t at = 0; at < env->size();) {
      size_t nul = env->find('\0', at);
      if (nul == std::string::npos) nul = env->size();
      if (nul - at == env_entry.size() && env->compare(at, nul - at, env_entry) == 0) {
        found = true;
        break;
      }
      at = nul + 1;
    }
    if (!found) continue;
    int64_t started = ProcessStartTicks(static_cast<pid_t>(pid));
    if (started == 0 || started > started_by_ticks) continue;
    pid_t g = ::getpgid(static_cast<pid_t>(pid));
    if (g <= 1 || g == own_group || killed->count(g)) continue;
    groups.insert(g);
  }
  ::closedir(proc);
  for (pid_t g : groups)
    if (::killpg(g, SIGKILL) == 0) killed->insert(g);
}

namespace {

// Spawn attributes for children: a process group of their own, no blocked signals, default
// dispositions.
struct ChildAttr {
  posix_spawnattr_t attr;
  ChildAttr() {
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  }
  ~ChildAttr() { posix_spawnattr_destroy(&attr); }
};

std::vector<char*> ArgvOf(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  return args;
}

}  // namespace

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

pid_t SpawnToLog(const std::vector<std::string>& argv, const std::string& log_path, std::string* error,
                 const std::string& cwd) {
  if (argv.empty()) {
    *error = "empty command";
    return -1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  ChildAttr attr;
  auto args = ArgvOf(argv);
  pid_t pid = -1;
  int rc;
  {
    auto own = LockOwnChildren();
    rc = ::posix_spawnp(&pid, args[0], &fa, &attr.attr, args.data(), environ);
    if (rc == 0) NoteOwnChild(pid);
  }
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    *error = argv[0] + ": " + std::strerror(rc);
    return -1;
  }
  return pid;
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
                                 const std::string& input) {
  if (argv.empty()) return InvalidArgument("empty command");
  int out_pipe[2], err_pipe[2], in_pipe[2] = {-1, -1};
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0 || (!input.empty() && ::pipe2(in_pipe, O_CLOEXEC) != 0)) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    return Internal(std::string("pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (input.empty()) posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  else posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  ChildAttr attr;
  auto args = ArgvOf(argv);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
  for (const auto& e : extra_env) env_store.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid;
  int rc;
  {
    auto own = LockOwnChildren();
    rc = ::posix_spawnp(&pid, args[0], &fa, &attr.attr, args.data(), envp.data());
    if (rc == 0) NoteOwnChild(pid);
  }
  posix_spawn_file_actions_destroy(&fa);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (in_pipe[0] >= 0) ::close(in_pipe[0]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    if (in_pipe[1] >= 0) ::close(in_pipe[1]);
    return FailedPrecondition("cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  if (in_pipe[1] >= 0) {
    // Small inputs (a password) fit the pipe. A child that exits without reading must not kill
    // baton with SIGPIPE: block it for the write, and drop one the write raised.
    sigset_t pipe_set, old_mask;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
    (void)!::write(in_pipe[1], input.data(), input.size());
    sigset_t pending;
    if (!sigismember(&old_mask, SIGPIPE) && ::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
      struct timespec zero = {0, 0};
      (void)::sigtimedwait(&pipe_set, nullptr, &zero);
    }
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    ::close(in_pipe[1]);
  }
  CommandResult res;
  struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&res.out, &res.err};
  int open_fds = 2;
  char buf[8192];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ForgetOwnChild(pid);
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return res;
}

Status ExecProgram(const std::string& path, const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(path.c_str(), args.data());
  return Internal("cannot run " + path + ": " + std::strerror(errno));
}

std::string SelfExecutable() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "baton";
  buf[n] = 0;
  return buf;
}

bool SignalProcess(int64_t pid, int signal) { return pid > 0 && ::kill(static_cast<pid_t>(pid), signal) == 0; }

int64_t CurrentProcessId() { return ::getpid(); }

int OnlineCpus() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

int64_t PhysicalMemoryBytes() {
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : 0;
}

int WaitChild(int64_t pid, bool block, int* exit_code) {
  for (;;) {
    int status = 0;
    pid_t w = ::waitpid(static_cast<pid_t>(pid), &status, block ? 0 : WNOHANG);
    if (w == 0) return 0;
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    ForgetOwnChild(static_cast<pid_t>(pid));
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
    return 1;
  }
}

bool FindInPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  size_t at = 0;
  while (at <= p.size()) {
    size_t colon = p.find(':', at);
    if (colon == std::string::npos) colon = p.size();
    std::string dir = p.substr(at, colon - at);
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    at = colon + 1;
  }
  return false;
}

std::vector<std::string> GpuDevices() {
  std::vector<std::string> out;
  if (DIR* d = ::opendir("/dev")) {
    while (dirent* e = ::readdir(d))
      if (std::strncmp(e->d_name, "nvidia", 6) == 0 && std::isdigit(static_cast<unsigned char>(e->d_name[6])))
        out.push_back(std::string("/dev/") + e->d_name);
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string HostName() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

void ExitNow(int code) { _exit(code); }

}  // namespace baton
