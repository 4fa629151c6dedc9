#include "server/run_starter.h"

#include <algorithm>
#include <chrono>

#include "platform/fs.h"
#include "platform/process.h"

namespace baton::server {

RunStarter::RunStarter(std::string workspace_root, std::string baton_binary, std::string disabled_reason)
    : workspace_root_(std::move(workspace_root)),
      baton_binary_(std::move(baton_binary)),
      disabled_reason_(std::move(disabled_reason)),
      reaper_([this] { Reap(); }) {}

RunStarter::~RunStarter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    wake_.notify_all();
  }
  reaper_.join();
}

std::string RunStarter::LogPath(const std::string& log_name) const {
  return workspace_root_ + "/.baton/server/" + log_name + ".log";
}

Result<int64_t> RunStarter::Start(const std::vector<std::string>& args, const std::string& log_name) {
  if (!enabled()) return FailedPrecondition(disabled_reason_);
  BATON_RETURN_IF_ERROR(fs::MakeDirs(workspace_root_ + "/.baton/server"));
  std::vector<std::string> argv{baton_binary_};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string error;
  const int64_t pid = SpawnToLog(argv, LogPath(log_name), &error, workspace_root_);
  if (pid < 0) return Internal("cannot start " + baton_binary_ + ": " + error);
  std::lock_guard<std::mutex> lock(mu_);
  children_.push_back(pid);
  return pid;
}

void RunStarter::Reap() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stopping_; });
    children_.erase(std::remove_if(children_.begin(), children_.end(),
                                   [](int64_t pid) {
                                     int code = 0;
                                     return WaitChild(pid, false, &code) != 0;
                                   }),
                    children_.end());
  }
}

}  // namespace baton::server
