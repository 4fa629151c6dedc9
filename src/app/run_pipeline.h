#pragma once
// The local orchestrator's front half: compile a pipeline into a snapshot, create the run, plan
// it on this machine's capacity and execute it with the local launcher.

#include <optional>
#include <string>
#include <vector>

#include "app/workspace.h"
#include "core/executor.h"
#include "core/spec.h"
#include "flavors/local_docker/local_docker_orchestrator.h"
#include "app/stack.h"

namespace baton {

struct RunOptions {
  int jobs = 0;                 // 0: number of cores
  bool use_cache = true;
  bool explain = false;
  std::optional<FailureMode> failure_mode;
  int64_t run_timeout_us = 0;
  std::string run_name;                   // the run's id; "" for NAME-DATE-TIME-RANDOM
  const Flavors* flavors = nullptr;       // needed for runs on other orchestrators than local
  const ResolvedStack* stack = nullptr;   // null: the default stack
  std::string schedule, schedule_name;    // from the run config
};

// The snapshot of a pipeline: canonical JSON and its SHA-256.
struct Snapshot {
  std::string body;
  std::string hash;
};
Snapshot MakeSnapshot(const PipelineSpec& spec);
// Stores the snapshot in the metadata store and the artifact store (idempotent).
Status StoreSnapshot(Workspace& ws, const PipelineSpec& spec, const Snapshot& snap);
// Loads a snapshot by URI: a file path, or "sha256:HASH" from the metadata store.
Result<PipelineSpec> LoadSnapshot(Workspace& ws, const std::string& uri, std::string* hash);

std::string NewRunId(const std::string& pipeline);
// Renders a run_name template ({{date}}, {{time}}, {{random}}, {{pipeline.name}}, {{params.X}}).
std::string RenderRunName(const std::string& tmpl, const PipelineSpec& spec);

// Opens the artifact store the spec's stack names (a local store at a configured path) in
// place of the workspace's own.
Status UseStackArtifactStore(Workspace& ws, const PipelineSpec& spec);
// The kill grace the spec's local orchestrator config sets, or 0.
int64_t StackKillGrace(const PipelineSpec& spec);

// What an orchestrator receives for a run: the step entrypoint of every step not in `done`.
Result<SubmitRequest> BuildSubmitRequest(Workspace& ws, const PipelineSpec& spec, const FlavorInfo& flavor,
                                         const std::string& run_id, const std::string& snapshot_hash,
                                         const RunOptions& opts, const std::vector<std::string>& done);
// `baton compile`: writes the snapshot and what the stack's orchestrator would submit into
// `out_dir`, submitting nothing. `spec.stack` must be set.
Status CompilePipeline(Workspace& ws, const PipelineSpec& spec, const RunOptions& opts, const std::string& out_dir);
// The orchestrator of `spec.stack`, configured (defaults, secrets, the stack's container registry).
Result<std::unique_ptr<Orchestrator>> MakeOrchestrator(const PipelineSpec& spec, const RunOptions& opts,
                                                        const FlavorInfo** flavor_out);
// `baton build`: the container images a run of `spec` on its stack's container orchestrator
// uses, one per distinct parent image, built when missing (and pushed when the stack has a
// container registry). A failure is the first one met.
Result<std::vector<PipelineImage>> BuildPipelineImages(Workspace& ws, const PipelineSpec& spec, const RunOptions& opts);
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
