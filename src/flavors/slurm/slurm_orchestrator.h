#pragma once
// The slurm orchestrator: every step attempt of a run is one Slurm batch job running the step
// entrypoint, submitted with `sbatch --parsable` and `--dependency=afterok:` edges that mirror
// the DAG, so that Slurm itself holds a step until its inputs exist. The common DAG driver
// submits everything upstream-first, follows the jobs (SlurmBackend: `squeue`, and `sacct` for
// jobs slurmctld has forgotten), resubmits failed attempts per the retry policy, cancels the
// dependents of a step that failed for good, and every job of the run on a stop. Slurm's end
// states become step failure reasons.

#include <map>
#include <string>
#include <vector>

#include "baton/flavor.h"
#include "baton/orchestrator.h"
#include "flavors/common/dag_driver.h"

namespace baton {

// The flavor's description and config schema, for RegisterBuiltinFlavors.
FlavorInfo SlurmFlavor();

class SlurmOrchestrator : public Orchestrator {
 public:
  explicit SlurmOrchestrator(Json config) : config_(std::move(config)) {}
  // Writes one batch script per step and submit.sh, which submits them in dependency order.
  Status Compile(const SubmitRequest& req, const std::string& out_dir) override;
  // Submits every step and follows the jobs until the run has ended.
  Status Submit(const SubmitRequest& req) override;
  // Cancels every job of the run; Submit then returns once Slurm has ended them.
  Status Stop(const std::string& run_id) override;
  // Cancels the jobs of a run whose baton died: every job whose comment names the run.
  Result<std::string> Cleanup(const std::string& run_id) override;

  // The sbatch options for one step (without --dependency), for tests and Compile.
  static std::vector<std::string> SbatchOptions(const SubmitRequest& req, const StepJob& step, int attempt,
                                                const std::string& output_path);
  // A Slurm job's end state as a step failure reason; "" for a state that needs none (COMPLETED,
  // or FAILED with the entrypoint's own exit code 1: the entrypoint recorded why). `output` is
  // the job's output, where Slurm (and an entrypoint that could not even write its result)
  // says what went wrong.
  static std::string FailureReason(const std::string& job_id, const std::string& state, const std::string& exit_code,
                                   const std::string& time_limit, const std::string& output);

 private:
  Json config_;
  RunningDrivers running_;
};

}  // namespace baton
