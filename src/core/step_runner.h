#pragma once
// StepRunner: the step entrypoint's logic, the one code path every backend uses to run a step.
// Prepare resolves inputs from the metadata store, checks the cache, renders the command and
// records the attempt as running; Finish verifies inputs, publishes outputs atomically to the
// artifact store and records the outcome, artifacts and lineage in one transaction. The local
// executor calls it in-process; `baton step run` calls it from a container, pod or Slurm job.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <optional>

#include "baton/artifact_store.h"
#include "baton/env.h"
#include "baton/launcher.h"
#include "baton/metadata_store.h"
#include "core/spec.h"

namespace baton {

struct ConditionRef;

// Where step logs go; the run's id; the snapshot of the pipeline being run.
struct RunContext {
  Env* env = nullptr;        // files, clock and environment (required)
  const PipelineSpec* spec = nullptr;
  std::string run_id;
  std::string snapshot_hash;
  std::string logs_dir;      // per-run log directory
  bool use_cache = true;
  bool explain = false;      // record why each step ran
  int64_t kill_grace_us = 0; // between SIGTERM and SIGKILL; 0: BATON_KILL_GRACE or 10 s
  std::string flavor;        // the stack's orchestrator flavor, whose per-step settings apply
};

// The outcome of one attempt, as the executor and the CLI see it.
struct StepOutcome {
  StepStatus status = StepStatus::kFailed;
  std::string reason;   // why it failed, or what it was cached from
  int exit_code = -1;
  int64_t step_run_id = 0;
  int64_t duration_us = 0;
  std::string explain;  // with RunContext::explain: why it ran or hit the cache
  std::string log_path;  // the attempt's stdout+stderr, "" when it ran no process
  bool ok() const { return Succeeded(status); }
};

// An attempt between Prepare and Finish.
struct PreparedStep {
  int step = -1;
  int attempt = 1;
  int64_t step_run_id = 0;
  int64_t started_at = 0;
  ProcessSpec process;
  std::map<std::string, std::string> output_paths;
  std::vector<InputUse> inputs;
  std::map<std::string, std::pair<std::string, std::string>> input_checks;  // name -> (path, fingerprint)
  std::map<std::string, std::string> input_digests;
  std::string metadata_path;
  std::string cache_key;
  std::string cache_components;
  // Set when the attempt finished during Prepare (a cache hit, or an input that cannot be
  // resolved): nothing is to be launched and this is the outcome.
  std::optional<StepOutcome> done;
};

class StepRunner {
 public:
  StepRunner(RunContext ctx, MetadataStore* meta, ArtifactStore* artifacts);

  Result<PreparedStep> Prepare(int step, int attempt);
  // Records the end of a launched attempt.
  Result<StepOutcome> Finish(PreparedStep& p, const Completion& c);
  // Records the end of an attempt that could not be launched (`reason` says why).
  Result<StepOutcome> FinishUnlaunched(PreparedStep& p, StepStatus status, const std::string& reason);
  // Records that a step did not run at all (skipped because of an upstream failure or a stop).
  Result<StepOutcome> RecordNotRun(int step, int attempt, StepStatus status, const std::string& reason);
  // The same for a step known by name only (an instance of a for_each step the spec lacks).
  Result<StepOutcome> RecordNotRunNamed(const std::string& step, int attempt, StepStatus status,
                                        const std::string& reason);

  // The hook to run after the final attempt of a step (its on_success or on_failure, falling
  // back to the pipeline's), or nullopt. The hook sees the step's environment plus
  // BATON_STEP_STATUS, BATON_STEP_REASON and BATON_STEP_LOG.
  std::optional<ProcessSpec> HookProcess(const PreparedStep& p, const StepOutcome& o) const;

  // The elements of a for_each step's list artifact, from this run's records (an error says
  // why there is no list).
  Result<std::vector<Json>> ForEachItems(const StepSpec& t);

  const RunContext& context() const { return ctx_; }
  Env* env() const { return env_; }

  // Groups the records written until EndBatch into one store transaction.
  Status BeginBatch() { return meta_->BeginBatch(); }
  Status EndBatch() { return meta_->EndBatch(); }

 private:
  // What Prepare works out for an attempt before recording it.
  struct Resolved {
    std::map<std::string, std::string> input_paths;  // by input name
    std::map<std::string, std::vector<std::string>> input_lists;  // list inputs: paths in order
    std::map<std::string, ValueType> input_types;    // what the inputs hold (in-process steps)
    std::vector<std::string> argv;
    std::string display;                             // the command, for people
    bool uses_run_id = false;
    Settings settings;                               // effective, env values rendered
    Json env_key;                                    // env templates, for the cache key
  };
  // The phases of Prepare, in order.
  Result<std::string> ResolveInputs(const StepSpec& s, PreparedStep* p, Resolved* r);
  Status Render(const StepSpec& s, const PreparedStep& p, Resolved* r) const;
  void ComputeCacheKey(const StepSpec& s, const Resolved& r, PreparedStep* p) const;
  Result<std::string> WhyItRuns(const StepSpec& s, const PreparedStep& p, bool cache_on);
  Status TryCacheHit(const StepSpec& s, StepRunRecord rec, PreparedStep* p, std::string* explain);
  std::string CheckCachedOutputs(const StepSpec& s,
                                 const std::vector<std::pair<std::string, ArtifactRecord>>& outs,
                                 const StepRunRecord& hit);
  std::string VerifyInputs(const Resolved& r, PreparedStep* p);
  Status ReadyDirectories(const PreparedStep& p);
  std::string BindFunction(const StepSpec& s, const Resolved& r, PreparedStep* p) const;
  // The phases of Finish, in order.
  std::string CheckInputsUnchanged(PreparedStep& p);
  std::string ReadMetadata(const PreparedStep& p, std::string* metadata);
  std::string PublishOutputs(const StepSpec& s, PreparedStep& p, std::vector<ArtifactRecord>* arts);

  std::vector<std::string> BuildEnv(const StepSpec& s, const Settings& eff, const PreparedStep& p,
                                    const std::map<std::string, std::string>& inputs,
                                    const std::map<std::string, std::vector<std::string>>& lists) const;
  // `when`: whether the step runs; `*values` gets what the references stood for.
  Result<bool> EvaluateCondition(const StepSpec& s, std::string* values);
  Result<Json> ConditionValue(const StepSpec& s, const ConditionRef& ref);
  std::string ConditionStep(const StepSpec& s, const ConditionRef& ref) const;
  Result<StepOutcome> Record(PreparedStep& p, StepRunRecord& rec, std::vector<ArtifactRecord>* arts,
                             const std::vector<OutputUse>& reused);

  RunContext ctx_;
  Env* env_;
  MetadataStore* meta_;
  ArtifactStore* artifacts_;
  std::vector<std::string> base_env_;
  std::string run_staging_;
  bool dirs_ready_ = false;
  int64_t grace_us_ = 10'000'000;
  std::optional<std::string> kill_grace_env_;  // BATON_KILL_GRACE
  std::map<int64_t, std::string> pending_explain_;  // step run id -> why it runs
  // Outputs this runner recorded in this run ("step/output" -> artifact), so that consumers
  // resolve them without a store query; the store stays the source for everything else.
  std::map<std::string, ArtifactRecord> produced_;
  // Objects hashed and found intact by VerifyInputs: digest -> stat fingerprint when hashed.
  std::map<std::string, std::string> verified_;
  // Why a step runs although a cached result exists (its content was damaged), by step name.
  std::map<std::string, std::string> damage_notes_;
};

}  // namespace baton
