#include "core/executor.h"

#include <cmath>
#include <optional>

#include "baton/format.h"
#include "baton/signal_numbers.h"
#include "core/matrix.h"

namespace baton {

Executor::Executor(const PipelineSpec& spec, Plan* plan, StepRunner* runner, Launcher* launcher,
                   ExecutionObserver* observer, ExecutorOptions options)
    : spec_(spec), plan_(plan), runner_(runner), env_(runner->env()), launcher_(launcher), observer_(observer), opts_(options) {}

Status Executor::SkipDependents(const std::vector<int>& skipped, int failed_step, bool was_skipped) {
  for (int d : skipped) {
    if (expanded_.count(d)) continue;  // a for_each step is reported through its instances
    std::string why = failed_step >= 0 ? "upstream step '" + plan_->name(failed_step) + "' " +
                                             (was_skipped ? "was skipped" : "failed")
                                       : "not started: " + halt_reason_;
    BATON_ASSIGN_OR_RETURN(StepOutcome o, runner_->RecordNotRun(d, attempt_[d], StepStatus::kSkipped, why));
    summary_.skipped++;
    observer_->OnStepEnd(d, attempt_[d], o, -1);
  }
  return Status::Ok();
}

Status Executor::Halt(const std::string& why) {
  if (halted_) return Status::Ok();
  halted_ = true;
  halt_reason_ = why;
  // Steps waiting for a retry are done: their last attempt's failure stands.
  auto waiting = std::move(retries_);
  retries_.clear();
  for (const auto& [due, step] : waiting) {
    // The last attempt's failure stands; the retry will not happen.
    summary_.failed++;
    StepOutcome last = last_failure_[step];
    last.reason += " (not retried: " + why + ")";
    observer_->OnStepEnd(step, attempt_[step] - 1, last, -1);
    BATON_RETURN_IF_ERROR(SkipDependents(plan_->Finished(step, false), step));
  }
  return SkipDependents(plan_->Halt(), -1);
}

namespace {
constexpr int kHookToken = 1 << 24;  // launcher tokens at and above this are hooks
}

void Executor::StartHook(const PreparedStep& p, const StepOutcome& o) {
  auto hook = runner_->HookProcess(p, o);
  if (!hook) return;
  // A hook that cannot start is noted in its log's place; it never fails the step.
  if (launcher_->Start(kHookToken + p.step, *hook).ok()) hooks_running_++;
}

Status Executor::Handle(int i, const StepOutcome& o, const PreparedStep* p) {
  if (o.ok()) {
    (o.status == StepStatus::kCached ? summary_.cached : summary_.completed)++;
    observer_->OnStepEnd(i, attempt_[i], o, -1);
    plan_->Finished(i, true);
    if (p) StartHook(*p, o);
    return Status::Ok();
  }
  if (o.status == StepStatus::kSkipped) {
    // Its condition is false: not a failure. What depends on it cannot run either.
    summary_.skipped++;
    observer_->OnStepEnd(i, attempt_[i], o, -1);
    return SkipDependents(plan_->Finished(i, false), i, true);
  }
  if (o.status == StepStatus::kStopped) {
    summary_.stopped++;
    observer_->OnStepEnd(i, attempt_[i], o, -1);
    plan_->Finished(i, false);
    return Status::Ok();
  }
  const StepSpec& s = spec_.steps[i];
  RetryPolicy rp = spec_.EffectiveSettings(s).retries();
  int done_attempts = attempt_[i] - first_attempt_of_[i] + 1;
  if (!halted_ && done_attempts <= rp.max) {
    double delay = static_cast<double>(rp.delay_us) * std::pow(rp.backoff, done_attempts - 1);
    auto d = static_cast<int64_t>(delay);
    observer_->OnStepEnd(i, attempt_[i], o, d);
    last_failure_[i] = o;
    attempt_[i]++;
    plan_->Defer(i);
    retries_.emplace(env_->MonotonicMicros() + d, i);
    return Status::Ok();
  }
  summary_.failed++;
  observer_->OnStepEnd(i, attempt_[i], o, -1);
  BATON_RETURN_IF_ERROR(AfterFailure(i));
  if (p) StartHook(*p, o);
  return Status::Ok();
}

Status Executor::AfterFailure(int i) {
  BATON_RETURN_IF_ERROR(SkipDependents(plan_->Finished(i, false), i));
  const std::string& name = plan_->name(i);
  if (opts_.failure_mode == FailureMode::kStop) {
    BATON_RETURN_IF_ERROR(Halt("the run is stopping after step '" + name + "' failed (failure_mode: stop)"));
  } else if (opts_.failure_mode == FailureMode::kFailFast) {
    BATON_RETURN_IF_ERROR(Halt("step '" + name + "' failed (failure_mode: fail_fast)"));
    launcher_->CancelAll();
  }
  return Status::Ok();
}

Status Executor::Complete(const Completion& c) {
  if (c.token >= kHookToken) {
    hooks_running_--;
    return Status::Ok();
  }
  auto it = running_.find(c.token);
  if (it == running_.end()) return Status::Ok();
  PreparedStep p = std::move(it->second);
  running_.erase(it);
  if (c.cancelled && halted_ && c.error.empty()) {
    // A step ended by the run's halt says what halted it (a timeout is not a stop).
    Completion why = c;
    why.error = "terminated: " + halt_reason_;
    BATON_ASSIGN_OR_RETURN(StepOutcome o, runner_->Finish(p, why));
    return Handle(c.token, o, &p);
  }
  BATON_ASSIGN_OR_RETURN(StepOutcome o, runner_->Finish(p, c));
  return Handle(c.token, o, &p);
}

Status Executor::StartReady() {
  while (!halted_ && launcher_->CanRunMore()) {
    std::string unsat;
    int i = plan_->NextToStart(&unsat);
    if (i < 0) break;
    if (!unsat.empty()) {
      BATON_ASSIGN_OR_RETURN(StepOutcome o, runner_->RecordNotRun(i, attempt_[i], StepStatus::kFailed, "cannot be scheduled: step " + unsat));
      summary_.failed++;
      observer_->OnStepEnd(i, attempt_[i], o, -1);
      BATON_RETURN_IF_ERROR(AfterFailure(i));
      PreparedStep unlaunched;
      unlaunched.step = i;
      unlaunched.attempt = attempt_[i];
      StartHook(unlaunched, o);
      continue;
    }
    if (!spec_.steps[i].for_each.empty()) {
      BATON_RETURN_IF_ERROR(ForEach(i));
      continue;
    }
    BATON_ASSIGN_OR_RETURN(PreparedStep p, runner_->Prepare(i, attempt_[i]));
    if (p.done) {
      BATON_RETURN_IF_ERROR(Handle(i, *p.done, &p));
      continue;
    }
    Status st = launcher_->Start(i, p.process);
    if (!st.ok()) {
      BATON_ASSIGN_OR_RETURN(StepOutcome o, runner_->FinishUnlaunched(p, StepStatus::kFailed, st.message()));
      BATON_RETURN_IF_ERROR(Handle(i, o, &p));
      continue;
    }
    observer_->OnStepStart(i, attempt_[i]);
    running_.emplace(i, std::move(p));
  }
  return Status::Ok();
}

Status Executor::ForEach(int i) {
  if (plan_->expanded(i)) {
    // Every instance succeeded: the step is done (it has no record of its own).
    plan_->Finished(i, true);
    return Status::Ok();
  }
  const StepSpec& t = spec_.steps[i];
  auto items = runner_->ForEachItems(t);
  std::string why = items.ok() ? ForEachLimitError(t, items->size()) : "for_each: " + items.status().message();
  if (why.empty() && (opts_.expandable == nullptr || opts_.expandable != &spec_))
    why = "for_each: this run cannot add instances (internal: no writable spec)";
  if (!why.empty()) {
    BATON_ASSIGN_OR_RETURN(StepOutcome o, runner_->RecordNotRun(i, attempt_[i], StepStatus::kFailed, why));
    summary_.failed++;
    observer_->OnStepEnd(i, attempt_[i], o, -1);
    return AfterFailure(i);
  }
  const int first = static_cast<int>(spec_.steps.size());
  const int count = static_cast<int>(items->size());
  // `t` dangles once the spec grows.
  opts_.expandable->steps.reserve(first + count);
  for (int k = 0; k < count; ++k)
    opts_.expandable->steps.push_back(ForEachInstance(spec_.steps[i], k, (*items)[k]));
  plan_->Expand(i, count, spec_.steps[i].for_each.parallel);
  expanded_.insert(i);
  std::vector<std::string> names;
  for (int k = first; k < first + count; ++k) names.push_back(spec_.steps[k].name);
  observer_->OnStepsAdded(i, first, names);
  for (int k = first; k < first + count; ++k) {
    const std::string& name = spec_.steps[k].name;
    auto a = opts_.attempts_before.find(name);
    attempt_[k] = first_attempt_of_[k] = a == opts_.attempts_before.end() ? 1 : a->second;
    if (opts_.done_before.count(name)) plan_->MarkDone(k);
  }
  return Status::Ok();
}

// baton itself failed: terminate what runs, reap it, and report.
Status Executor::FailHard(const Status& s) {
  (void)EndBatch();
  launcher_->CancelAll();
  Completion c;
  int sig;
  while (launcher_->running() > 0 && launcher_->Wait(0, &c, &sig) != Launcher::WaitResult::kDeadline) {
  }
  return s;
}

Status Executor::EndBatch() {
  if (!in_batch_) return Status::Ok();
  in_batch_ = false;
  return runner_->EndBatch();
}

// One turn of the loop: records what finished and starts what is ready, in one store
// transaction. While in-process steps run (they finish within microseconds of each other),
// turns share a transaction for up to kGroupCommitUs: the store is then at most that far
// behind, and a 10,000-step in-process run costs hundreds of commits instead of ten thousand.
Status Executor::Turn(std::optional<Completion>* pending, bool* finished) {
  if (!in_batch_) {
    BATON_RETURN_IF_ERROR(runner_->BeginBatch());
    in_batch_ = true;
    batch_t0_ = env_->MonotonicMicros();
  }
  while (*pending) {
    Completion c = **pending;
    pending->reset();
    BATON_RETURN_IF_ERROR(Complete(c));
    // Take every other completion that is already there, without blocking.
    Completion more;
    int sig = 0;
    if (launcher_->running() > 0 && launcher_->Wait(1, &more, &sig) == Launcher::WaitResult::kCompleted) *pending = more;
  }
  BATON_RETURN_IF_ERROR(StartReady());
  *finished = running_.empty() && retries_.empty() && hooks_running_ == 0 && (plan_->AllDone() || halted_);
  if (*finished || launcher_->in_process_running() == 0 || env_->MonotonicMicros() - batch_t0_ >= kGroupCommitUs)
    BATON_RETURN_IF_ERROR(EndBatch());
  return Status::Ok();
}

// Waits for the next event: a completion (into `*pending`), a signal (the run stops), the run's
// deadline (it times out), a retry falling due, or the end of the current batch's window.
Status Executor::AwaitEvent(std::optional<Completion>* pending) {
  int64_t deadline = run_deadline_;
  if (!retries_.empty() && (deadline == 0 || retries_.begin()->first < deadline)) deadline = retries_.begin()->first;
  if (in_batch_ && (deadline == 0 || batch_t0_ + kGroupCommitUs < deadline)) deadline = batch_t0_ + kGroupCommitUs;
  if (running_.empty() && hooks_running_ == 0 && deadline == 0) {
    // Nothing runs and nothing can start: only possible if the plan is inconsistent.
    return Internal("no step can start but the run is not finished");
  }
  Completion c;
  int sig = 0;
  switch (launcher_->Wait(deadline, &c, &sig)) {
    case Launcher::WaitResult::kCompleted:
      *pending = c;
      return Status::Ok();
    case Launcher::WaitResult::kInterrupted:
      if (interrupted_) return Status::Ok();
      interrupted_ = true;
      summary_.reason = std::string("stopped by signal ") + StopSignalName(sig);
      BATON_RETURN_IF_ERROR(Halt("the run was stopped"));
      launcher_->CancelAll();
      return Status::Ok();
    case Launcher::WaitResult::kDeadline:
      break;
  }
  const int64_t now = env_->MonotonicMicros();
  if (run_deadline_ != 0 && now >= run_deadline_ && !halted_) {
    summary_.reason = "the run timed out after " + FormatDuration(opts_.run_timeout_us);
    BATON_RETURN_IF_ERROR(Halt(summary_.reason));
    launcher_->CancelAll();
    run_deadline_ = 0;
  }
  while (!retries_.empty() && retries_.begin()->first <= now) {
    plan_->Requeue(retries_.begin()->second);
    retries_.erase(retries_.begin());
  }
  return Status::Ok();
}

Result<RunSummary> Executor::Run(const std::map<int, int>& first_attempt) {
  const int64_t t0 = env_->MonotonicMicros();
  for (size_t i = 0; i < plan_->size(); ++i) {
    auto it = first_attempt.find(static_cast<int>(i));
    attempt_[static_cast<int>(i)] = it == first_attempt.end() ? 1 : it->second;
  }
  first_attempt_of_ = attempt_;
  observer_->OnRunStart(*plan_);
  run_deadline_ = opts_.run_timeout_us > 0 ? t0 + opts_.run_timeout_us : 0;
  std::optional<Completion> pending;
  for (;;) {
    bool finished = false;
    if (Status st = Turn(&pending, &finished); !st.ok()) return FailHard(st);
    if (finished) break;
    if (Status st = AwaitEvent(&pending); !st.ok()) return FailHard(st);
  }
  summary_.duration_us = env_->MonotonicMicros() - t0;
  if (interrupted_) summary_.status = RunStatus::kStopped;
  else if (summary_.failed > 0 || summary_.stopped > 0 || !summary_.reason.empty()) summary_.status = RunStatus::kFailed;
  else summary_.status = RunStatus::kCompleted;
  if (summary_.status == RunStatus::kFailed && summary_.reason.empty()) {
    summary_.reason = std::to_string(summary_.failed) + " step" + (summary_.failed == 1 ? "" : "s") + " failed";
  }
  observer_->OnRunEnd(summary_);
  return summary_;
}

}  // namespace baton
