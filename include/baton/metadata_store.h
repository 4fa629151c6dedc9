#pragma once
// MetadataStore: where baton records pipelines, snapshots, runs, step runs, artifacts and
// lineage. Stores open by URI (baton/stores.h): `sqlite:///path` is built in; other stores
// (PostgreSQL, the server) register factories and pass the metadata store contract suite
// (tests/store_contract_test.cc). The store keeps records and their integrity; rules of the
// domain (the default stack cannot be deleted, ...) live above it. Implementations are not
// thread-safe: use one instance per thread.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "baton/run_status.h"
#include "baton/status.h"

namespace baton {

struct RunRecord {
  std::string id;
  std::string pipeline;
  std::string snapshot_hash;
  RunStatus status = RunStatus::kPending;
  std::string reason;
  int64_t created_at = 0;
  int64_t started_at = 0;
  int64_t ended_at = 0;
  std::string stack = "default";
  std::string orchestrator = "local";
  std::string host;
  int64_t pid = 0;           // the baton process driving the run
  int64_t pid_start = 0;     // that process's start time (ticks since boot), against pid reuse
  int attempt = 1;           // 1, then +1 per resume
  std::string parameters;    // JSON object
  std::string pipeline_file;
};

struct StepRunRecord {
  int64_t id = 0;
  std::string run_id;
  std::string step;
  int attempt = 1;
  StepStatus status = StepStatus::kRunning;
  std::string reason;
  int64_t started_at = 0;
  int64_t ended_at = 0;
  int exit_code = -1;
  std::string log_path;
  std::string cache_key;
  int64_t cached_from = 0;   // step run id this one reuses outputs of
  std::string metadata;      // JSON written by the step, "" if none
  int64_t pid = 0;
  std::string command;       // the resolved command, for people
  std::string cache_components;  // JSON of what went into cache_key (for --explain)
};

struct ArtifactRecord {
  int64_t id = 0;
  int64_t step_run_id = 0;   // the step run that produced it
  std::string run_id;
  std::string pipeline;
  std::string step;
  std::string name;
  int version = 0;           // per (pipeline, step, name), from 1
  std::string digest;        // sha256 hex
  int64_t size = 0;
  std::string kind;          // file | dir
  std::string uri;
  int64_t created_at = 0;
  std::string materializer;  // how an in-process step wrote it ("" for command steps)
  std::string type;          // the C++ type it holds, as the materializer names it
};

// One input a step run read: its local name and the artifact.
struct InputUse {
  std::string name;
  int64_t artifact_id = 0;
};

// Output of a step run: its name and the artifact (new or reused from the cache).
struct OutputUse {
  std::string name;
  int64_t artifact_id = 0;
};

// A configured instance of a flavor: an orchestrator or an artifact store.
struct ComponentRecord {
  std::string type;    // orchestrator | artifact_store
  std::string name;
  std::string flavor;
  std::string config;  // JSON object, validated against the flavor's schema; secrets as {{env.NAME}}
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

// A named set of components.
struct StackRecord {
  std::string name;
  std::string orchestrator;
  std::string artifact_store;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

// A flavor loaded from a shared library.
struct PluginRecord {
  std::string type;
  std::string flavor;
  std::string path;    // absolute
  std::string digest;  // sha256 of the library when registered
  int64_t registered_at = 0;
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // Groups the writes until the matching EndBatch into one transaction (each write inside is
  // a savepoint, so a failed write undoes only itself). Batches do not nest across threads;
  // nested calls on one store are counted. The default implementation does nothing.
  virtual Status BeginBatch() { return Status::Ok(); }
  virtual Status EndBatch() { return Status::Ok(); }

  // Snapshots are immutable and keyed by their content hash; storing twice is a no-op.
  virtual Status PutSnapshot(const std::string& hash, const std::string& pipeline,
                             const std::string& body) = 0;
  virtual Result<std::string> GetSnapshot(const std::string& hash) = 0;

  virtual Status CreateRun(const RunRecord& run) = 0;
  virtual Status UpdateRunStatus(const std::string& run_id, RunStatus status,
                                 const std::string& reason, int64_t ended_at) = 0;
  // Marks a run as taken over by this process (resume): status running, new pid, attempt+1.
  virtual Status ClaimRun(const std::string& run_id, int64_t pid, int64_t pid_start, const std::string& host) = 0;
  // Marks a run that is still "running" as interrupted, with its running step runs, in one
  // transaction. Does nothing to a run in any other state.
  virtual Status MarkRunInterrupted(const std::string& run_id, const std::string& reason) = 0;
  virtual Result<std::vector<RunRecord>> RunsWithStatus(RunStatus status) = 0;
  virtual Result<RunRecord> GetRun(const std::string& id_or_prefix) = 0;
  virtual Result<std::vector<RunRecord>> ListRuns(const std::string& pipeline, int limit) = 0;

  // Records the start of an attempt; returns the new step run id.
  virtual Result<int64_t> StartStepRun(const StepRunRecord& rec) = 0;
  // Records the end of an attempt, its new artifacts, its outputs and inputs, in one transaction.
  // New artifacts get their ids and versions filled in.
  virtual Status FinishStepRun(const StepRunRecord& rec, std::vector<ArtifactRecord>* new_artifacts,
                               const std::vector<OutputUse>& reused_outputs,
                               const std::vector<InputUse>& inputs) = 0;
  virtual Result<std::vector<StepRunRecord>> ListStepRuns(const std::string& run_id) = 0;
  virtual Result<StepRunRecord> GetStepRun(int64_t id) = 0;

  // The artifact that output `output` of step `step` has in run `run_id` (latest successful
  // attempt), or nullopt.
  virtual Result<std::optional<ArtifactRecord>> FindRunOutput(const std::string& run_id,
                                                              const std::string& step,
                                                              const std::string& output) = 0;
  virtual Result<ArtifactRecord> GetArtifact(const std::string& id_or_digest_prefix) = 0;
  virtual Result<std::vector<ArtifactRecord>> ListArtifacts(const std::string& run_id, int limit) = 0;
  // Artifacts a step run produced or reused (by output name) and read (by input name).
  virtual Result<std::vector<std::pair<std::string, ArtifactRecord>>> StepOutputs(int64_t step_run_id) = 0;
  virtual Result<std::vector<std::pair<std::string, ArtifactRecord>>> StepInputs(int64_t step_run_id) = 0;
  // Step runs that read an artifact.
  virtual Result<std::vector<StepRunRecord>> Consumers(int64_t artifact_id) = 0;

  // The latest completed (not cached) step run with this cache key, or nullopt.
  virtual Result<std::optional<StepRunRecord>> FindCacheHit(const std::string& cache_key) = 0;
  // The latest successful (completed or cached) run of `step` of `pipeline` outside `run_id`.
  virtual Result<std::optional<StepRunRecord>> PreviousStepRun(const std::string& pipeline,
                                                               const std::string& step,
                                                               const std::string& run_id) = 0;

  // Median duration of recent successful attempts per step of a pipeline (for critical paths).
  // Components, stacks, plugins and workspace settings (schema v2). Creating what exists is
  // AlreadyExists; updating or deleting what does not is NotFound; deleting a component a stack
  // uses, or the default stack, is FailedPrecondition.
  virtual Status CreateComponent(const ComponentRecord& c) = 0;
  virtual Status UpdateComponent(const ComponentRecord& c) = 0;
  virtual Result<ComponentRecord> GetComponent(const std::string& type, const std::string& name) = 0;
  virtual Result<std::vector<ComponentRecord>> ListComponents(const std::string& type) = 0;
  virtual Status DeleteComponent(const std::string& type, const std::string& name) = 0;
  virtual Status CreateStack(const StackRecord& s) = 0;  // its components must exist
  virtual Status UpdateStack(const StackRecord& s) = 0;
  virtual Result<StackRecord> GetStack(const std::string& name) = 0;
  virtual Result<std::vector<StackRecord>> ListStacks() = 0;
  virtual Status DeleteStack(const std::string& name) = 0;  // never the default or the active one
  virtual Result<std::string> GetSetting(const std::string& key, const std::string& fallback) = 0;
  virtual Status SetSetting(const std::string& key, const std::string& value) = 0;
  virtual Status PutPlugin(const PluginRecord& p) = 0;  // replaces one of the same type and flavor
  virtual Result<std::vector<PluginRecord>> ListPlugins() = 0;
  virtual Status DeletePlugin(const std::string& type, const std::string& flavor) = 0;

  virtual Result<std::vector<std::pair<std::string, double>>> StepDurations(const std::string& pipeline) = 0;
};

}  // namespace baton
