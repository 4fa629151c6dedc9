#pragma once
// Runs the server starts itself (a resume asked for through the API, a schedule's runs): `baton`
// commands in the server's workspace, as processes of their own that outlive the request and a
// restart of the server. Each writes its output to .baton/server/NAME.log there. The workspace
// records into the store the server serves, so what the runs do is seen like any other run's.

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "baton/status.h"

namespace baton::server {

class RunStarter {
 public:
  // `workspace_root` "": the server starts no runs; Start says `disabled_reason`.
  RunStarter(std::string workspace_root, std::string baton_binary, std::string disabled_reason);
  ~RunStarter();
  RunStarter(const RunStarter&) = delete;
  RunStarter& operator=(const RunStarter&) = delete;

  bool enabled() const { return !workspace_root_.empty(); }
  const std::string& workspace_root() const { return workspace_root_; }
  // Starts `baton ARGS...` in the workspace. Returns its pid. Thread-safe.
  Result<int64_t> Start(const std::vector<std::string>& args, const std::string& log_name);
  // The log a started command writes to.
  std::string LogPath(const std::string& log_name) const;

 private:
  void Reap();

  const std::string workspace_root_;
  const std::string baton_binary_;
  const std::string disabled_reason_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<int64_t> children_;
  std::thread reaper_;
};

}  // namespace baton::server
