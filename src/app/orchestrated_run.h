#pragma once
// Runs on orchestrators other than the in-process executor: what an orchestrator is handed for
// a run (the SubmitRequest), handing it over and following the run through the metadata store,
// compiling without submitting, building images, and ending what a dead baton's backend still
// runs. Nothing here knows any flavor by name: flavors are looked up in the registry.

#include <memory>
#include <string>
#include <vector>

#include "app/run_pipeline.h"
#include "app/stack.h"
#include "app/workspace.h"
#include "baton/orchestrator.h"
#include "core/executor.h"
#include "core/spec.h"

namespace baton {

// The flavor of the orchestrator `spec.stack` names; FailedPrecondition naming why when the
// registry lacks it (a plugin that no longer loads).
Result<const FlavorInfo*> OrchestratorFlavor(const PipelineSpec& spec, const Flavors& flavors);
// The orchestrator of `spec.stack`, configured (defaults, secrets, the stack's container
// registry as config "registry"). With `lenient_secrets`, a secret this process cannot resolve
// stays a reference instead of being an error (cleaning up needs none).
Result<std::unique_ptr<Orchestrator>> MakeOrchestrator(const PipelineSpec& spec, const Flavors& flavors,
                                                        const FlavorInfo** flavor_out, bool lenient_secrets = false);

// What an orchestrator receives for a run: the step entrypoint of every step not in `done`,
// with the stores it records into, secrets resolved. Writes the snapshot into the run's logs.
Result<SubmitRequest> BuildSubmitRequest(Workspace& ws, const PipelineSpec& spec, const FlavorInfo& flavor,
                                         const std::string& run_id, const std::string& snapshot_hash,
                                         const RunOptions& opts, const std::vector<std::string>& done);

// Hands a run that is recorded as running to its orchestrator and follows it to its end, then
// records the run's final status (a baton error fails the run with it).
Result<RunSummary> RunOrchestrated(Workspace& ws, const PipelineSpec& spec, const std::string& run_id,
                                   const std::string& snapshot_hash, const RunOptions& opts,
                                   ExecutionObserver* observer, const RunProgress& progress);

// `baton compile`: writes the snapshot and what the stack's orchestrator would submit into
// `out_dir`, submitting nothing. `spec.stack` must be set.
Status CompilePipeline(Workspace& ws, const PipelineSpec& spec, const RunOptions& opts, const std::string& out_dir);

// `baton build`: the container images a run of `spec` on its stack's orchestrator uses, built
// where missing (and pushed where the stack has a container registry).
Result<std::vector<BuiltImage>> BuildPipelineImages(Workspace& ws, const PipelineSpec& spec, const RunOptions& opts);

// The command a backend runs to drive a detached run: `baton runs drive WHAT... --metadata URI
// --artifacts URI`.
std::vector<std::string> DriverCommand(const Workspace& ws, const std::vector<std::string>& what, const RunOptions& opts);
// `baton run --detach`: hands run `run_id` (recorded as running, with DetachedHost) to its
// orchestrator, whose backend runs the run's driver; returns the orchestrator's description of
// that driver.
Result<std::string> DetachOrchestrated(Workspace& ws, const PipelineSpec& spec, const std::string& run_id,
                                       const std::string& snapshot_hash, const RunOptions& opts);

// Schedules kept by the backend of a stack's orchestrator (FlavorInfo::backend_schedules).
// Whether stack `stack` ("" for the active one) has such an orchestrator.
Result<bool> BackendKeepsSchedules(MetadataStore& meta, const std::string& stack);
// Creates or replaces schedule `s` in the backend, firing runs of `spec` (compiled on its stack):
// the snapshot is stored and the images built now.
Status ApplyBackendSchedule(Workspace& ws, const PipelineSpec& spec, const RunOptions& opts, const ScheduleRecord& s);
Status PauseBackendSchedule(Workspace& ws, const ScheduleRecord& s, bool paused);
Status DeleteBackendSchedule(Workspace& ws, const ScheduleRecord& s);

// The orchestrator of a run's stack (from its snapshot), configured with secrets it cannot
// resolve left as references; null for a run on baton's own in-process executor.
Result<std::unique_ptr<Orchestrator>> RunBackend(Workspace& ws, const RunRecord& run);

// Has the orchestrator of a run whose baton died end what its backend still runs; returns its
// note ("" for the in-process executor, whose processes ReapDeadRuns ends itself).
Result<std::string> CleanupDeadRun(Workspace& ws, const RunRecord& run);

}  // namespace baton
