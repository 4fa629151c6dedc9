#pragma once
// The step entrypoint (`baton step run`), the one thing every backend executes for a step:
// resolve inputs, check the cache, run the command, store outputs, record, with the step's retry
// policy and hooks. It opens the stores it is given by URI, so it runs wherever they are
// reachable, with or without a workspace. Shared by the baton binary and users' C++ pipeline
// binaries.

#include <string>

#include "baton/orchestrator.h"
#include "core/step_runner.h"

namespace baton {

struct StepEntrypointOptions {
  std::string snapshot;      // file path or sha256:HASH (from the metadata store)
  std::string step;
  std::string run;
  int attempt = 0;           // > 0: run exactly this attempt; 0: the next ones, per the retry policy
  bool final_attempt = false;  // with `attempt`: no retry follows, so the step's hook runs
                               // whatever the outcome (otherwise only on success or a stop)
  bool no_cache = false;
  std::string metadata_uri;  // the stores to record into (baton/stores.h)
  std::string artifacts_uri;  // "" with `workspace_root`: the store the snapshot's stack names
  std::string workspace_root;  // a workspace the stores belong to, or ""
  std::string logs_dir;      // the run's log directory (created if missing)
  std::string result_file;   // "" or where to write the StepResult (baton/orchestrator.h)
  bool echo_logs = false;    // the step's output also goes to this process's stdout (pods)
};

// Writes a StepResult to `path`: atomically where it can, else in place (a file the container
// platform mounted, such as Kubernetes' /dev/termination-log, cannot be replaced).
Status WriteStepResultFile(const std::string& path, const StepResult& r);

// Runs one step of a run to its final outcome and returns the last attempt's outcome. With
// `result_file`, writes the result there whatever happens (the step's outcome, or the error
// that kept the entrypoint from running it).
Result<StepOutcome> RunStepEntrypoint(const StepEntrypointOptions& opts);

}  // namespace baton
