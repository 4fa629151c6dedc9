#pragma once
// The slurm orchestrator: every step of a run is one Slurm batch job running the step
// entrypoint, submitted with `sbatch --parsable` and `--dependency=afterok:` edges that mirror
// the DAG, so that Slurm itself holds a step until its inputs exist. baton follows the jobs with
// `squeue` (and `sacct` for jobs slurmctld has forgotten), maps Slurm's end states to step
// failure reasons, resubmits failed jobs per the retry policy, and cancels the dependents of a
// step that failed for good, and every job of the run on a stop.

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "baton/orchestrator.h"
#include "baton/flavor.h"

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
  // Cancels every job of the run (scancel); Submit then returns once Slurm has ended them.
  Status Stop(const std::string& run_id) override;

  // The sbatch options for one step (without --dependency), for tests and Compile.
  static std::vector<std::string> SbatchOptions(const SubmitRequest& req, const StepJob& step, int attempt,
                                                const std::string& output_path);
  // A Slurm job's end state as a step failure reason; "" for a state that needs none (COMPLETED,
  // or FAILED with the entrypoint's own exit code 1: the entrypoint recorded why).
  static std::string FailureReason(const std::string& job_id, const std::string& state, const std::string& exit_code,
                                   const std::string& time_limit, const std::string& output);

 private:
  Json config_;
  std::mutex mu_;
  std::set<std::string> live_jobs_;  // submitted, not yet seen ended
  std::atomic<bool> stop_{false};
};

}  // namespace baton
