#pragma once
// The orchestrator's side of a warm container's job directory: a long-lived container whose
// main process (`baton step serve`, platform/job_queue.h) takes step entrypoints as job files,
// so that a step needs no `exec` into the container. Jobs are JOB.job files holding
// {"argv": [...], "log": PATH}, published whole by rename; the server writes JOB.exit with the
// exit code when the job ends.

#include <optional>
#include <string>
#include <vector>

#include "baton/status.h"

namespace baton {

class StepQueue {
 public:
  // `dir` must be visible at the same path inside the container (a mounted directory).
  explicit StepQueue(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }

  // Empties the directory (jobs of an earlier submission) and creates it.
  Status Reset();
  // Publishes job `id` ([A-Za-z0-9_.-]): `argv` runs with stdout and stderr appended to `log`.
  Status Publish(const std::string& id, const std::vector<std::string>& argv, const std::string& log);
  // The exit code of job `id` once it has ended (128 + signal when killed), else nullopt.
  std::optional<int> ExitCode(const std::string& id) const;

 private:
  std::string dir_;
};

}  // namespace baton
