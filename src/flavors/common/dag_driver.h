#pragma once
// DagDriver: the one scheduler of the built-in orchestrators that run one backend job per step
// attempt (local_docker's containers, Slurm's batch jobs, and the next backends). A flavor
// implements a small StepBackend (start an attempt, wait for attempts to end, cancel); the
// driver starts steps upstream-first, bounds how many run at once, retries failed attempts per
// each step's retry policy (every attempt is a new backend job running the step entrypoint with
// --attempt N), cancels what can no longer run when a step fails for good, and stops.
//
// It reports to baton only what the step entrypoint could not record itself: a backend's reason
// for an attempt's end (SubmitRequest::report_failure / report_stopped). Everything else (the
// attempts, outputs, skips) baton reads from the metadata store and records.

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include "baton/orchestrator.h"
#include "baton/status.h"

namespace baton {

// How an attempt ended, as a backend tells the driver.
struct AttemptEnd {
  enum class Kind {
    kSucceeded,  // the step completed (or was cached): its dependents may start
    kFailed,     // the attempt failed: retried while the step's policy allows
    kCancelled,  // ended by a stop: never retried
    kSkipped,    // the step's condition was false: not retried, its dependents do not run
  };
  Kind kind = Kind::kFailed;
  // The backend's reason for the end, reported to baton ("" when the step entrypoint recorded
  // the end itself, whose reason then stands).
  std::string reason;
};

// One attempt the driver asks a backend to start.
struct AttemptRequest {
  const StepJob* step = nullptr;
  int attempt = 1;
  std::vector<std::string> argv;   // the step entrypoint for exactly this attempt
  std::string result_file;         // where that entrypoint writes its StepResult
  std::vector<std::string> after;  // handles of upstream attempts that have not succeeded yet
                                   // (only for a backend that HoldsDependencies)
  // A dead driver's attempt to follow rather than start (StepJob::adopt): a backend that cannot
  // find its job ends it as failed, so that the step is retried.
  bool adopt = false;
};

// What a backend implements for the driver. Called from the driver's thread only.
class StepBackend {
 public:
  virtual ~StepBackend() = default;
  // Whether the backend holds an attempt until the attempts in AttemptRequest::after succeeded
  // (Slurm's afterok). The driver then starts every step at once, upstream first; otherwise a
  // step starts only once its upstream steps succeeded.
  virtual bool HoldsDependencies() const { return false; }
  // Whether the backend has room to start `step` now (memory, devices). A step that has no
  // room waits; the driver also bounds how many attempts run at once (DriverOptions).
  virtual bool HasRoomFor(const StepJob& step) {
    (void)step;
    return true;
  }
  // Starts an attempt and returns its handle (unique within the run). An error fails the
  // attempt, with the error's message as its reason, and is not retried.
  virtual Result<std::string> Start(const AttemptRequest& attempt) = 0;
  // Makes a held attempt wait for other upstream attempts (an upstream step is retried).
  virtual Status Redepend(const std::string& handle, const std::vector<std::string>& after) {
    (void)handle, (void)after;
    return Status::Ok();
  }
  // Blocks until at least one attempt of `live` has ended, or `timeout_us` has passed; returns
  // the attempts that ended, by handle. An error ends the run (the driver cancels what runs).
  virtual Result<std::map<std::string, AttemptEnd>> Wait(const std::vector<std::string>& live,
                                                         int64_t timeout_us) = 0;
  // Ends attempts. With `stop`, the run is being stopped: Wait still reports their ends. Without,
  // they are held attempts that can never start (an upstream step failed for good): the driver
  // forgets them.
  virtual Status Cancel(const std::vector<std::string>& handles, bool stop) = 0;
};

struct DriverOptions {
  int max_running = 0;              // attempts running at once; 0: no bound
  int64_t wait_slice_us = 200'000;  // longest one Wait blocks, so that a stop is seen soon
};

class DagDriver {
 public:
  // `req` and `backend` must outlive the driver.
  DagDriver(const SubmitRequest& req, StepBackend* backend, DriverOptions options = {});

  // Runs every step of the request to its end. Returns an error only when the backend failed
  // (steps that fail are data: their entrypoints and the reports record them).
  Status Run();
  // Asks Run to stop: no attempt starts any more, running ones are cancelled, and Run returns
  // once their ends are in. Thread-safe; may come before Run.
  void Stop() { stop_requested_ = true; }
  bool stop_requested() const { return stop_requested_; }

 private:
  enum class State { kWaiting, kStarted, kRetryWait, kSucceeded, kFailed, kNotRun };
  struct Node {
    const StepJob* job = nullptr;
    std::vector<size_t> ups, downs;
    State state = State::kWaiting;
    int first_attempt = 1, attempt = 1;
    int max_retries = 0;
    double backoff = 1;
    int64_t delay_us = 0;
    int64_t retry_at_us = 0;
    std::string handle;
    size_t group = SIZE_MAX;    // an instance: its for_each step's node
    bool expanded = false;      // a for_each step whose instances were added
    int running_instances = 0;  // a for_each step: its instances running now
  };
  // Adds a node for `job` (owned by the request or by extra_jobs_).
  size_t AddNode(const StepJob* job);
  // A for_each step whose upstream may have ended: adds its instances, or finishes it once they
  // all succeeded, or fails it with why its list gives none.
  void ForEachReady(size_t i);

  bool Ready(const Node& n, bool* blocked) const;
  std::vector<std::string> After(const Node& n) const;
  void StartReady();
  void StartAttempt(size_t i);
  void Ended(size_t i, const AttemptEnd& end);
  void CancelDependents(size_t i);
  void BeginStop();
  std::vector<std::string> Live() const;

  const SubmitRequest& req_;
  StepBackend* backend_;
  DriverOptions opts_;
  std::vector<Node> nodes_;
  std::deque<StepJob> extra_jobs_;  // the instances' jobs (stable addresses)
  std::map<std::string, size_t> by_handle_;
  int running_ = 0;
  std::atomic<bool> stop_requested_{false};
  bool stopping_ = false;
};

// The runs an orchestrator is driving, so that Stop (called from another thread) reaches the
// run's driver, also when it comes before Submit has one. Thread-safe.
class RunningDrivers {
 public:
  // Keeps `driver` registered for the run while it lives.
  class Registration {
   public:
    Registration(RunningDrivers* owner, std::string run_id) : owner_(owner), run_id_(std::move(run_id)) {}
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
    ~Registration();

   private:
    RunningDrivers* owner_;
    std::string run_id_;
  };
  // Registers the run's driver; a stop that came before stops it at once.
  [[nodiscard]] Registration Register(const std::string& run_id, DagDriver* driver);
  // Stops the run's driver, or the driver it gets next.
  void Stop(const std::string& run_id);

 private:
  std::mutex mu_;
  std::map<std::string, DagDriver*> drivers_;
  std::set<std::string> stopped_;  // runs stopped before they had a driver
};

// The step entrypoint of `step` for exactly attempt `attempt`, writing its result to
// `result_file`; `final` when no retry follows it (the step's failure hook then runs).
std::vector<std::string> AttemptCommand(const StepJob& step, int attempt, const std::string& result_file, bool final);
// Where the entrypoint of an attempt writes its result: RESULT_DIR/STEP.ATTEMPT.json.
std::string ResultFile(const std::string& result_dir, const std::string& step, int attempt);
// The result an entrypoint wrote, or nullopt when there is none (it never ran, or was killed).
std::optional<StepResult> ReadStepResult(const std::string& path);
// How an attempt ended according to its result file: succeeded or failed as the entrypoint
// recorded it (reason ""), cancelled when it recorded a stop, failed with the entrypoint's
// error when it could not run the step. nullopt when there is no result: the backend says why.
std::optional<AttemptEnd> EndFromResult(const std::string& path);
// The same for a result's text (a container's termination message); nullopt when it is none.
std::optional<AttemptEnd> EndFromResultText(const std::string& text);

}  // namespace baton
