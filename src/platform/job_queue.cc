#include "platform/job_queue.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "platform/fs.h"
#include "platform/process.h"

extern char** environ;

namespace baton {

bool PublishQueueFile(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".part";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ::close(fd);
  if (ok) ok = ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) ::unlink(tmp.c_str());
  return ok;
}

namespace {

constexpr const char* kJob = ".job";

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Starts a job's argv in its own process group; returns its pid, or -1 after writing the exit
// file (127) for a job that cannot start.
pid_t StartJob(const std::string& dir, const std::string& id) {
  auto text = fs::ReadFile(dir + "/" + id + kJob);
  nlohmann::json job = text.ok() ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
  std::vector<std::string> argv;
  if (job.is_object() && job["argv"].is_array())
    for (const auto& a : job["argv"])
      if (a.is_string()) argv.push_back(a.get<std::string>());
  const std::string log = job.is_object() ? job.value("log", std::string("/dev/null")) : "/dev/null";
  if (argv.empty()) {
    PublishQueueFile(dir + "/" + id + ".exit", "127\n");
    return -1;
  }
  std::string error;
  pid_t pid = SpawnToLog(argv, log, &error);
  if (pid < 0) {
    PublishQueueFile(dir + "/" + id + ".exit", "127\n");
    return -1;
  }
  return pid;
}

}  // namespace

int ServeStepQueue(const std::string& dir) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&set, s);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  std::set<std::string> taken;
  std::map<pid_t, std::string> running;
  bool stopping = false;
  for (;;) {
    // Reap what ended.
    for (;;) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      auto it = running.find(pid);
      if (it == running.end()) continue;  // an orphan reparented to this process 1
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
      PublishQueueFile(dir + "/" + it->second + ".exit", std::to_string(code) + "\n");
      running.erase(it);
    }
    if (stopping && running.empty()) return 0;
    // Start new jobs.
    if (!stopping) {
      auto names = fs::ListDir(dir);
      if (names.ok())
        for (const auto& n : *names) {
          if (!EndsWith(n, kJob)) continue;
          std::string id = n.substr(0, n.size() - std::string(kJob).size());
          if (!taken.insert(id).second) continue;
          pid_t pid = StartJob(dir, id);
          if (pid > 0) running[pid] = id;
        }
    }
    struct timespec tick = {0, 5'000'000};
    int sig = ::sigtimedwait(&set, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
      stopping = true;
      for (const auto& [pid, id] : running) ::kill(-pid, SIGTERM);
    }
  }
}

}  // namespace baton
