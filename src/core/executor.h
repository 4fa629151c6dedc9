#pragma once
// Executor: the single-threaded loop that runs a Plan. It asks the Plan what may start, starts
// it through the StepRunner (records, cache) and the Launcher (processes), waits for the next
// completion, and applies retries, failure modes, timeouts and cancellation. It never prints:
// everything it does is reported to an ExecutionObserver.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "baton/launcher.h"
#include "core/plan.h"
#include "core/step_runner.h"

namespace baton {

struct RunSummary {
  RunStatus status = RunStatus::kCompleted;  // completed, failed or stopped
  std::string reason;
  int completed = 0, cached = 0, failed = 0, skipped = 0, stopped = 0;
  int64_t duration_us = 0;
};

// Receives every event of a run: the progress display, the dashboard's live events, tests.
class ExecutionObserver {
 public:
  virtual ~ExecutionObserver() = default;
  virtual void OnRunStart(const Plan& plan) { (void)plan; }
  virtual void OnStepStart(int step, int attempt) { (void)step, (void)attempt; }
  // `retry_in_us` >= 0 when the step will be tried again after that delay.
  virtual void OnStepEnd(int step, int attempt, const StepOutcome& outcome, int64_t retry_in_us) {
    (void)step, (void)attempt, (void)outcome, (void)retry_in_us;
  }
  virtual void OnRunEnd(const RunSummary& summary) { (void)summary; }
  // For_each step `step` has instances `names`, with the step numbers first, first + 1, ...
  // (beyond the plan's size when they are not the plan's own). Called once for every instance,
  // all at once or one by one as they become known.
  virtual void OnStepsAdded(int step, int first, const std::vector<std::string>& names) {
    (void)step, (void)first, (void)names;
  }
};

struct ExecutorOptions {
  FailureMode failure_mode = FailureMode::kContinue;
  int64_t run_timeout_us = 0;  // 0: none
  // The spec being run, writable, when it has for_each steps: their instances are appended to
  // it as their lists become known (null: the spec has none).
  PipelineSpec* expandable = nullptr;
  // A resumed run: instances that already succeeded, and the attempt numbers to continue from.
  std::set<std::string> done_before;
  std::map<std::string, int> attempts_before;
};

class Executor {
 public:
  Executor(const PipelineSpec& spec, Plan* plan, StepRunner* runner, Launcher* launcher,
           ExecutionObserver* observer, ExecutorOptions options);

  // Runs until every step is done, skipped or stopped. `first_attempt` gives, per step index,
  // the attempt number to start at (resume continues numbering). A Status error means baton
  // itself failed (e.g. the metadata store); running steps are then terminated.
  Result<RunSummary> Run(const std::map<int, int>& first_attempt = {});

 private:
  Status StartReady();
  // Records a finished process (a step attempt or a hook) and applies its outcome.
  Status Complete(const Completion& c);
  Status Handle(int step, const StepOutcome& o, const PreparedStep* p);
  void StartHook(const PreparedStep& p, const StepOutcome& o);
  Status Halt(const std::string& why);
  // Skips the dependents of a step that failed for good and applies the failure mode.
  Status AfterFailure(int step);
  // `was_skipped`: the step was skipped (its condition is false) rather than failed.
  Status SkipDependents(const std::vector<int>& skipped, int failed_step, bool was_skipped = false);
  // The loop of Run: a turn (record, start, commit), then wait for the next event.
  Status Turn(std::optional<Completion>* pending, bool* finished);
  Status AwaitEvent(std::optional<Completion>* pending);
  Status EndBatch();
  Status FailHard(const Status& s);
  // A for_each step handed out by the plan: expands it into instances (or fails it with why
  // its list cannot be read), or finishes it once every instance succeeded.
  Status ForEach(int step);

  static constexpr int64_t kGroupCommitUs = 5000;  // longest a batch of turns stays open

  const PipelineSpec& spec_;
  Plan* plan_;
  StepRunner* runner_;
  Env* env_;
  Launcher* launcher_;
  ExecutionObserver* observer_;
  ExecutorOptions opts_;
  std::map<int, PreparedStep> running_;
  std::set<int> expanded_;  // for_each steps whose instances exist
  std::map<int, int> attempt_;
  std::map<int, int> first_attempt_of_;
  std::multimap<int64_t, int> retries_;  // due time (monotonic) -> step
  std::map<int, StepOutcome> last_failure_;  // of steps waiting for a retry
  RunSummary summary_;
  int hooks_running_ = 0;
  bool halted_ = false;
  std::string halt_reason_;
  bool interrupted_ = false;  // a signal stopped the run
  int64_t run_deadline_ = 0;  // monotonic; 0: none
  bool in_batch_ = false;     // a store transaction is open
  int64_t batch_t0_ = 0;
};

}  // namespace baton
