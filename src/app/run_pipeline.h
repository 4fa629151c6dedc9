#pragma once
// Running pipelines: compile a pipeline into a snapshot, create the run, and execute it, on this
// machine with the in-process executor (plan on this machine's capacity, local launcher) or
// through the stack's orchestrator (app/orchestrated_run.h); resume a run.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "app/workspace.h"
#include "core/executor.h"
#include "core/spec.h"
#include "app/stack.h"

namespace baton {

struct RunOptions {
  int jobs = 0;                 // 0: number of cores
  bool use_cache = true;
  std::vector<std::string> tags;  // recorded with the run (RunRecord::tags)
  std::string note;
  bool explain = false;
  std::optional<FailureMode> failure_mode;
  int64_t run_timeout_us = 0;
  std::string run_name;                   // the run's id; "" for NAME-DATE-TIME-RANDOM
  std::string started_by_schedule;        // the schedule starting the run (RunRecord::schedule)
  const Flavors* flavors = nullptr;       // needed for runs on other orchestrators than local
  const ResolvedStack* stack = nullptr;   // null: the default stack
  std::string schedule, schedule_name;    // from the run config
  // Called (from the executor's thread) for every stop signal a local run takes: `count` 1 stops
  // the run gracefully (steps get SIGTERM and their kill grace), 2 and more kill its steps now.
  // A run on another orchestrator reports its first stop signal with `count` 0: the orchestrator
  // stops the steps its own way, and later signals change nothing.
  std::function<void(int signal, int count)> on_stop_signal;
  // `baton run --detach`: the run's driver runs in the orchestrator's backend
  // (Orchestrator::Detach); RunPipeline returns once the backend took the run.
  bool detach = false;
  // A driver taking over a run whose driver died (`runs drive`): steps whose latest attempt is
  // recorded as running are followed (StepJob::adopt), not started again.
  bool adopt_running = false;
  // Asked at a stop signal on a run on another orchestrator: true when the process should exit
  // at once and leave the backend's work running for the next driver (a detached driver whose
  // pod is being deleted), false to stop the run.
  std::function<bool()> leave_on_signal;
};

// The stack's orchestrator flavor ("" without a stack).
std::string StackFlavor(const PipelineSpec& spec);

// The snapshot of a pipeline: canonical JSON and its SHA-256.
struct Snapshot {
  std::string body;
  std::string hash;
};
Snapshot MakeSnapshot(const PipelineSpec& spec);
// Stores the snapshot in the metadata store and the artifact store (idempotent).
Status StoreSnapshot(Workspace& ws, const PipelineSpec& spec, const Snapshot& snap);
// Loads a snapshot by URI: a file path, or "sha256:HASH" from the metadata store.
Result<PipelineSpec> LoadSnapshot(MetadataStore& meta, const std::string& uri, std::string* hash);

std::string NewRunId(const std::string& pipeline);
// Renders a run_name template ({{date}}, {{time}}, {{random}}, {{pipeline.name}}, {{params.X}}).
std::string RenderRunName(const std::string& tmpl, const PipelineSpec& spec);

// The URI of the artifact store the spec's stack names (through its flavor), or "" for the
// workspace's own store.
Result<std::string> StackArtifactsUri(const PipelineSpec& spec, const std::string& workspace_root);
// Opens the artifact store the spec's stack names in place of the workspace's own.
Status UseStackArtifactStore(Workspace& ws, const PipelineSpec& spec);
// The kill grace the stack's orchestrator config sets (`kill_grace`), or 0.
int64_t StackKillGrace(const PipelineSpec& spec);

// What a StepRunner needs for steps of `run_id` (clock and files of this process, the stack's
// kill grace and flavor); caching on, no --explain.
RunContext MakeRunContext(const PipelineSpec& spec, const std::string& run_id, const std::string& snapshot_hash,
                          const std::string& logs_dir);

// Steps at once: -j wins over the orchestrator component's `jobs`, then one per core.
int JobsFor(const PipelineSpec& spec, const RunOptions& opts);
Capacity LocalCapacity(int jobs);
int DefaultJobs();

// Runs `spec` to the end. `run_id` receives the new run's id as soon as it exists.
Result<RunSummary> RunPipeline(Workspace& ws, const PipelineSpec& spec, const RunOptions& opts,
                               ExecutionObserver* observer, std::string* run_id);

// Runs again the steps of an existing run that did not complete (failed, skipped, stopped,
// interrupted, never started), reusing the outputs of those that did, as a new attempt of the
// same run. `spec` is the run's pipeline, from LoadRunSpec.
Result<RunSummary> ResumeRun(Workspace& ws, const RunRecord& run, const PipelineSpec& spec,
                             const RunOptions& opts, ExecutionObserver* observer);
// FailedPrecondition, saying why, for a run that cannot be resumed (running, completed).
Status CheckResumable(const RunRecord& run);

// Asks the baton driving a run to stop it, from anywhere that reaches the run's metadata store
// (another host, the server): recorded in the store for the run's current attempt, and taken by
// the driving baton within about a second as if it had been sent SIGTERM. `by` says who asked.
Status RequestRunStop(MetadataStore& meta, const RunRecord& run, const std::string& by);
// Whether a stop was asked for through the store (RequestRunStop) for the run's current attempt.
bool RunStopRequested(MetadataStore& meta, const RunRecord& run);

// The host recorded on a detached run (`baton run --detach`, a backend's schedule): its driver
// runs in the backend of orchestrator flavor `flavor`, not on any machine baton can look at.
std::string DetachedHost(const std::string& flavor);
// Whether a run is driven in its backend (its host is DetachedHost's).
bool IsDetachedRun(const RunRecord& run);

// `baton runs drive`: drives a detached run in the backend (run by the backend's driver job,
// also after a restart of that job, when it takes the run over: finished steps stay, running
// attempts are followed). A run that is no longer running is left as it is.
Result<RunSummary> DriveRun(Workspace& ws, const std::string& run_id, const RunOptions& opts, ExecutionObserver* observer);
// The same for a firing of a backend's schedule: creates the run of snapshot `snapshot_hash`
// for schedule `schedule`, named after the firing's driver id, or takes it over when a restarted
// driver finds it.
Result<RunSummary> DriveScheduledRun(Workspace& ws, const std::string& schedule, const std::string& snapshot_hash,
                                     const std::string& driver_id, const RunOptions& opts, ExecutionObserver* observer,
                                     std::string* run_id);

// The pipeline a run executes, from its snapshot.
Result<PipelineSpec> LoadRunSpec(Workspace& ws, const RunRecord& run);

// The steps of `run_id` that completed (or were cached) and whose outputs are all still in the
// artifact store, and the next attempt number of every step that has run.
struct RunProgress {
  std::vector<std::string> done;
  std::map<std::string, int> next_attempt;
};
Result<RunProgress> LoadRunProgress(Workspace& ws, const std::string& run_id);

}  // namespace baton
