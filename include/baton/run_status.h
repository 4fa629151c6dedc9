#pragma once
// The states of runs and step runs. They are enums everywhere in baton; stores convert them to
// and from their names (the strings users see in tables, JSON and the metadata schema) at the
// store boundary only.

#include <string_view>

namespace baton {

enum class RunStatus {
  kPending,      // created, not started (a scheduled run)
  kRunning,      // a baton process (or a backend's driver) is executing it
  kCompleted,    // every step completed or was cached
  kFailed,       // a step failed for good, or baton could not go on
  kStopped,      // stopped by a user, a signal or the run's timeout
  kInterrupted,  // the process driving it died; resumable
};
inline constexpr RunStatus kAllRunStatuses[] = {RunStatus::kPending, RunStatus::kRunning,
                                                RunStatus::kCompleted, RunStatus::kFailed,
                                                RunStatus::kStopped, RunStatus::kInterrupted};

enum class StepStatus {
  kRunning,      // an attempt has started and not ended
  kCompleted,    // the attempt succeeded; its outputs are stored
  kCached,       // not run: the outputs of an earlier identical step run were reused
  kFailed,       // the attempt failed (the reason says why)
  kSkipped,      // not run because an upstream step did not complete
  kStopped,      // ended by a stop, or not started because of one
  kInterrupted,  // its run's driver died while it ran
};

// "pending", "running", "completed", ... as stored and shown.
const char* ToString(RunStatus s);
const char* ToString(StepStatus s);
// False for a name that is no status.
bool ParseRunStatus(std::string_view name, RunStatus* out);
bool ParseStepStatus(std::string_view name, StepStatus* out);

// A step run whose outputs exist: completed or cached.
inline bool Succeeded(StepStatus s) { return s == StepStatus::kCompleted || s == StepStatus::kCached; }
// A run no process is executing any more.
inline bool Ended(RunStatus s) { return s != RunStatus::kPending && s != RunStatus::kRunning; }

}  // namespace baton
