#pragma once
// The step entrypoint (`baton step run`), the one thing every backend executes for a step:
// resolve inputs, check the cache, run the command, store outputs, record, with the step's retry
// policy and hooks. Shared by the baton binary and users' C++ pipeline binaries.

#include <string>

#include "app/workspace.h"
#include "core/spec.h"
#include "core/step_runner.h"

namespace baton {

struct StepEntrypointOptions {
  std::string snapshot;  // file path or sha256:HASH
  std::string step;
  std::string run;
  int attempt = 0;       // > 0: run exactly this attempt; 0: the next ones, per the retry policy
  bool no_cache = false;
};

// Runs one step of a run to its final outcome. Returns the last attempt's outcome.
Result<StepOutcome> RunStepEntrypoint(Workspace& ws, const StepEntrypointOptions& opts);

}  // namespace baton
