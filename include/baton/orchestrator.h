#pragma once
// The orchestrator interface: what a flavor implements to run baton pipelines on a backend.
//
// baton compiles a pipeline, a run config and the active stack into a snapshot, creates the
// run, and hands the orchestrator a SubmitRequest: every step as the command of the step
// entrypoint (`baton step run --snapshot ... --step S --run R --metadata URI --artifacts URI`),
// the steps it waits for, and its merged settings. The orchestrator only has to run those
// commands in dependency order (or hand them to its backend): the entrypoint resolves inputs,
// checks the cache, runs the step, stores the outputs and records everything in the metadata
// store. So status, logs, lineage and caching work the same on every backend.
//
// Built-in flavors that run one backend job per step attempt share one DAG driver
// (src/flavors/common/dag_driver.h): they implement a small StepBackend (start an attempt, wait
// for ends, cancel) and the driver submits upstream-first, retries, skips dependents and stops.
//
// Two ways in: implement this class and add a factory to the list in src/flavors/builtin.cc
// (compiled into baton), or write a shared library against the C ABI in baton/plugin.h and
// register it with `baton flavor register LIB.so`.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/run_status.h"
#include "baton/status.h"

namespace baton {

// One step as an orchestrator receives it.
struct StepJob {
  std::string name;
  std::vector<std::string> upstream;  // steps that must complete successfully first
  std::vector<std::string> command;   // argv of the step entrypoint. Without --attempt it runs
                                      // every attempt the step's retry policy allows; a backend
                                      // that retries itself appends --attempt N (and --result)
  nlohmann::json settings;            // merged settings: resources, retries, timeout_us, image,
                                      // env, and "orchestrator": this flavor's keys
  int attempt = 1;                    // the attempt number the step's next attempt gets (above 1
                                      // when a resumed run ran the step before)
  // A for_each step: it runs once per element of a list its upstream writes. A backend that can
  // add jobs while a run goes on asks SubmitRequest::expand for the instances' jobs once the
  // upstream succeeded; one that cannot runs `command`, whose entrypoint then runs every
  // instance itself, one after another.
  bool for_each = false;
  int max_parallel = 0;               // for_each: most instances running at once (0: no bound)
  // An instance of a for_each step (made by SubmitRequest::expand): that step's name. It runs as
  // that step does (image, resources), under its own name.
  std::string group;
  // The run's earlier driver died while attempt `attempt` of this step ran (its entrypoint
  // recorded it as running): a backend that can find that attempt's job follows it instead of
  // starting it again, and reports it failed when it is gone.
  bool adopt = false;
};

struct SubmitRequest {
  std::string run_id;
  std::string pipeline;
  std::string snapshot_hash;
  std::string snapshot_file;   // the snapshot's canonical JSON, on disk
  std::string workdir;         // the directory steps run in (the pipeline's directory)
  std::string log_dir;         // a directory of this machine for the run's logs; the
                               // orchestrator may write its own files there
  std::string metadata_uri;    // the stores the step entrypoint records into (also in commands)
  std::string artifacts_uri;
  // Directories of this machine the step entrypoints read and write (local stores, the logs):
  // container backends mount them at the same path; a backend on other machines needs them on
  // a shared filesystem, or remote stores instead.
  std::vector<std::string> shared_paths;
  std::vector<std::string> env;  // NAME=VALUE every step command needs (BATON_RUN_ID, ...)
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

  // Set by baton for built-in flavors; not part of ToJson. The jobs of a for_each step's
  // instances (named STEP[i]; those a resumed run already completed are left out), from the
  // list its upstream recorded; an error says why there are none (the step then fails with it).
  // Called from the thread that runs Submit.
  std::function<Result<std::vector<StepJob>>(const std::string& step)> expand;

  nlohmann::json ToJson() const;
};

// What the step entrypoint writes into the file given by `--result FILE` when it ends: how the
// step's attempt ended, as recorded in the metadata store, or why the entrypoint could not run
// it at all. Backends read it instead of parsing logs. Written atomically (whole or absent).
struct StepResult {
  std::string run_id;
  std::string step;
  int attempt = 0;
  std::optional<StepStatus> status;  // absent when the entrypoint failed before recording
  std::string reason;
  int exit_code = -1;                // the step command's, when it ran
  std::string error;                 // the entrypoint's own failure (a store it cannot open, ...)

  nlohmann::json ToJson() const;
  // InvalidArgument for text that is not a step result.
  static Result<StepResult> FromJson(const std::string& text);
};

// A schedule the backend keeps and fires itself (a Kubernetes CronJob), as `baton schedule`
// records it.
struct BackendSchedule {
  std::string name;
  std::string cron;                // five fields or a macro
  std::string time_zone = "UTC";
  std::string overlap = "skip";    // skip | allow (a backend cannot queue)
  std::string catchup = "latest";  // none | latest
  bool paused = false;
};

// The backend's view of a run; `status` is empty when the backend cannot tell.
struct RunState {
  std::optional<RunStatus> status;
  std::string reason;
};

// An image a container orchestrator runs steps from, as BuildImages made or found it.
struct BuiltImage {
  std::string reference;  // what containers run: a local tag, or REGISTRY/REPO@sha256:... once pushed
  std::string local_tag;
  bool built = false;     // false: an identical image existed already
  bool pushed = false;
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
  // Ends whatever the backend still runs of `run_id` after the baton process that drove the
  // run died (killed, crashed, machine rebooted); called by the next baton command that finds
  // the run's driver dead, before the run is marked interrupted. Idempotent. Returns a short
  // note of what it ended for the run's reason ("" when nothing was left).
  virtual Result<std::string> Cleanup(const std::string& run_id) {
    (void)run_id;
    return std::string();
  }
  // The images a run of `req` uses, built where missing (and pushed where the stack has a
  // container registry). FailedPrecondition for orchestrators that run no containers.
  virtual Result<std::vector<BuiltImage>> BuildImages(const SubmitRequest& req) {
    (void)req;
    return FailedPrecondition("it runs no containers; build images for a stack whose orchestrator runs steps in containers");
  }
  // The backend's view of a run, for runs that would otherwise look stuck.
  virtual RunState State(const std::string& run_id) {
    (void)run_id;
    return {};
  }
  // Whether Submit honours SubmitRequest::schedule.
  virtual bool SupportsSchedules() const { return false; }

  // Detached runs: the run's driver runs inside the backend, so that the machine that started
  // the run may go away. Hands the run to the backend, which runs `driver` there (baton's
  // `runs drive RUN ...`: it follows the DAG with this same flavor, records every step and the
  // run's end, and takes the run over again, adopting what still runs, when it is restarted).
  // Returns once the backend accepted it, with a description of the driver ("Job NS/NAME").
  virtual Result<std::string> Detach(const SubmitRequest& req, const std::vector<std::string>& driver) {
    (void)req, (void)driver;
    return FailedPrecondition("it cannot run a run's driver in its backend; run without --detach");
  }
  // Schedules kept by the backend (FlavorInfo::backend_schedules): creates schedule `s`, or
  // replaces it with the same name. Each firing runs `driver` (`runs drive --schedule NAME
  // --snapshot ...`) in the backend, with BATON_DRIVER_ID set to a name unique to the firing
  // that stays the same when its driver is restarted. `req` is the run a firing drives, with
  // run id "{{run.id}}".
  virtual Status ApplySchedule(const SubmitRequest& req, const BackendSchedule& s, const std::vector<std::string>& driver) {
    (void)req, (void)s, (void)driver;
    return FailedPrecondition("it keeps no schedules");
  }
  virtual Status PauseSchedule(const std::string& name, bool paused) {
    (void)name, (void)paused;
    return FailedPrecondition("it keeps no schedules");
  }
  // Deletes the schedule; runs it started go on. Deleting one that is not there is no error.
  virtual Status DeleteSchedule(const std::string& name) {
    (void)name;
    return FailedPrecondition("it keeps no schedules");
  }
};

}  // namespace baton
