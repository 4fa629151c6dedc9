#pragma once
// The orchestrator interface: what a flavor implements to run baton pipelines on a backend.
//
// baton compiles a pipeline, a run config and the active stack into a snapshot, creates the
// run, and hands the orchestrator a SubmitRequest: every step as the command of the step
// entrypoint (`baton step run --snapshot ... --step S --run R`), the steps it waits for, and its
// merged settings. The orchestrator only has to run those commands in dependency order (or
// hand them to its backend): the entrypoint resolves inputs, checks the cache, runs the step,
// applies the retry policy, stores the outputs and records everything in the metadata store.
// So status, logs, lineage and caching work the same on every backend.
//
// Two ways in: implement this class and register a factory in RegisterBuiltinFlavors
// (compiled into baton), or write a shared library against the C ABI in baton/plugin.h and
// register it with `baton flavor register LIB.so`.

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/status.h"

namespace baton {

// One step as an orchestrator receives it.
struct StepJob {
  std::string name;
  std::vector<std::string> upstream;  // steps that must complete successfully first
  std::vector<std::string> command;   // argv of the step entrypoint
  nlohmann::json settings;            // merged settings: resources, retries, timeout_us, image,
                                      // env, and "orchestrator": this flavor's keys
  int attempt = 1;                    // the attempt number the step's next attempt gets (above 1
                                      // when a resumed run ran the step before)
};

struct SubmitRequest {
  std::string run_id;
  std::string pipeline;
  std::string snapshot_hash;
  std::string snapshot_file;   // the snapshot's canonical JSON, on disk
  std::string workdir;         // the directory steps run in (the pipeline's directory)
  std::string log_dir;         // a directory of the run the orchestrator may write to. A
                               // backend that keeps running the run's work when baton dies
                               // keeps log_dir/cancel.sh up to date: the next baton command
                               // that finds the run's process dead runs it (sh cancel.sh)
  std::vector<std::string> env;  // NAME=VALUE every step command needs (BATON_DIR, ...)
  std::vector<StepJob> steps;  // in an order where every step comes after its upstream
  nlohmann::json config;       // the orchestrator component's config, secrets resolved
  std::string schedule;        // cron expression; "" means run now
  std::string schedule_name;
  int jobs = 1;                // how many steps may run at once (-j)

  // Set by baton for built-in flavors; not part of ToJson. A backend that ends a step's attempt
  // itself (a job time limit, an out-of-memory kill, a node failure, an image that cannot be
  // pulled) reports why: baton records that reason as the attempt's failure, also when the step
  // entrypoint never started or was killed before it could record the end. `attempt` 0 means
  // the step's latest attempt. May be called from any thread.
  std::function<void(const std::string& step, int attempt, const std::string& reason)> report_failure;
  // Likewise for an attempt the backend ended because of Stop (its processes may have been
  // killed before the entrypoint could record the stop): recorded as stopped, with `reason`.
  std::function<void(const std::string& step, int attempt, const std::string& reason)> report_stopped;

  nlohmann::json ToJson() const;
};

// The backend's view of a run.
struct RunState {
  std::string status;  // running | completed | failed | stopped | unknown
  std::string reason;
};

class Orchestrator {
 public:
  virtual ~Orchestrator() = default;
  // Writes what Submit would hand to the backend into `out_dir`, submitting nothing.
  virtual Status Compile(const SubmitRequest& req, const std::string& out_dir) = 0;
  // Runs the request. May block until the run has ended (local backends) or return once the
  // backend has accepted it; baton then follows the run through the metadata store.
  virtual Status Submit(const SubmitRequest& req) = 0;
  // Stops a run: nothing of it may keep running. Called from another thread than Submit.
  virtual Status Stop(const std::string& run_id) = 0;
  // The backend's view of a run, for runs that would otherwise look stuck.
  virtual RunState State(const std::string& run_id) { return {"unknown", ""}; }
  // Whether Submit honours SubmitRequest::schedule.
  virtual bool SupportsSchedules() const { return false; }
};

}  // namespace baton
