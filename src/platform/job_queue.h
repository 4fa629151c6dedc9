#pragma once
// A directory of step jobs, the way a warm container takes steps without a `podman exec` each.
//
// The orchestrator writes JOB.job (JSON: {"argv": [...], "log": PATH}) into a directory both
// sides see (under the run's log directory, inside the bind-mounted workspace), renamed into
// place so that it appears whole. ServeStepQueue, the main process of the warm container, starts
// every new job's argv (stdout and stderr appended to its log) and, when it ends, writes
// JOB.exit holding its exit code (128 + signal when killed), also renamed into place. On
// SIGTERM/SIGINT it passes the signal on to every running job, waits for them, and returns.

#include <string>

namespace baton {

// Runs until SIGTERM/SIGINT/SIGHUP; returns the process exit code.
int ServeStepQueue(const std::string& dir);

// Writes `content` to `path` through a temporary file renamed into place (no fsync: job files
// need not survive a crash). Returns false on failure.
bool PublishQueueFile(const std::string& path, const std::string& content);

}  // namespace baton
