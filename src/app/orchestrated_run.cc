#include "app/orchestrated_run.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "baton/json_text.h"
#include "core/matrix.h"
#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/process.h"
#include "platform/signals.h"

namespace baton {

Result<const FlavorInfo*> OrchestratorFlavor(const PipelineSpec& spec, const Flavors& flavors) {
  const std::string flavor = spec.stack.value("orchestrator", Json::object()).value("flavor", std::string());
  const FlavorInfo* f = flavors.registry.Find(ComponentType::kOrchestrator, flavor);
  if (f != nullptr) return f;
  auto broken = flavors.broken.find("orchestrator/" + flavor);
  return FailedPrecondition("orchestrator flavor '" + flavor + "' is not available" +
                            (broken != flavors.broken.end() ? ": " + broken->second : ""));
}

Result<std::unique_ptr<Orchestrator>> MakeOrchestrator(const PipelineSpec& spec, const Flavors& flavors,
                                                        const FlavorInfo** flavor_out, bool lenient_secrets) {
  BATON_ASSIGN_OR_RETURN(const FlavorInfo* f, OrchestratorFlavor(spec, flavors));
  if (flavor_out) *flavor_out = f;
  auto resolve = [&](const Json& config) -> Result<Json> {
    auto resolved = ResolveSecrets(config);
    if (!resolved.ok() && lenient_secrets) return config;
    return resolved;
  };
  const Json& orch = spec.stack.value("orchestrator", Json::object());
  BATON_ASSIGN_OR_RETURN(Json config, resolve(WithDefaults(*f, orch.value("config", Json::object()))));
  // The stack's container registry reaches the orchestrator as "registry": its config.
  if (spec.stack.contains("container_registry")) {
    BATON_ASSIGN_OR_RETURN(config["registry"], resolve(spec.stack["container_registry"].value("config", Json::object())));
  }
  return f->make_orchestrator(config);
}

namespace {

// What an orchestrator is handed for `run_id`, without I/O: every step not in `skip` as the
// step entrypoint's command, in an order where each follows its upstream, and the component's
// config with defaults filled in and secrets still references.
SubmitRequest RequestFor(const Workspace& ws, const PipelineSpec& spec, const FlavorInfo& flavor,
                         const std::string& run_id, const std::string& snapshot_hash, const RunOptions& opts,
                         const std::set<std::string>& skip) {
  SubmitRequest req;
  req.run_id = run_id;
  req.pipeline = spec.name;
  req.snapshot_hash = snapshot_hash;
  req.workdir = spec.root;
  req.log_dir = ws.LogsDir(run_id);
  req.metadata_uri = ws.metadata_uri;
  req.artifacts_uri = ws.artifacts_uri;
  req.shared_paths = ws.shared_paths;
  // BATON_RUN_ID marks every process of the run, so that if this baton dies, the next command
  // finds and terminates what the orchestrator left running (see ReapDeadRuns).
  req.env = {"BATON_RUN_ID=" + run_id};
  const Json component = spec.stack.value("orchestrator", Json::object()).value("config", Json::object());
  req.config = WithDefaults(flavor, component);
  req.schedule = opts.schedule;
  req.schedule_name = opts.schedule_name;
  req.jobs = JobsFor(spec, opts);
  const std::string exe = SelfExecutable();
  Plan plan(spec, Capacity{}, {});
  for (int i : plan.TopologicalOrder()) {
    const StepSpec& s = spec.steps[i];
    if (skip.count(s.name)) continue;
    StepJob job;
    job.name = s.name;
    for (int u : plan.dependencies(i))
      if (!skip.count(spec.steps[u].name)) job.upstream.push_back(spec.steps[u].name);
    job.command = {exe,        "step",         "run",          "--snapshot",     "sha256:" + snapshot_hash,
                   "--step",   s.name,         "--run",        run_id,           "--metadata",
                   ws.metadata_uri, "--artifacts", ws.artifacts_uri, "--logs", req.log_dir};
    if (!opts.use_cache) job.command.push_back("--no-cache");
    job.settings = StepSettingsJson(spec, s, flavor, component);
    job.for_each = !s.for_each.empty();
    job.max_parallel = s.for_each.parallel;
    req.steps.push_back(std::move(job));
  }
  return req;
}

// The jobs of for_each step `step`'s instances: its job with the instance's name, from the list
// its upstream recorded; instances a resumed run completed are left out.
Result<std::vector<StepJob>> ForEachJobs(Workspace& ws, const PipelineSpec& spec, const SubmitRequest& req,
                                         StepRunner& runner, const std::string& step,
                                         const std::set<std::string>& done) {
  const StepSpec* t = spec.FindStep(step);
  auto job = std::find_if(req.steps.begin(), req.steps.end(), [&](const StepJob& j) { return j.name == step; });
  if (t == nullptr || job == req.steps.end()) return Internal("no for_each step '" + step + "' in the run");
  auto items = runner.ForEachItems(*t);
  if (!items.ok()) return FailedPrecondition("for_each: " + items.status().message());
  if (std::string why = ForEachLimitError(*t, items->size()); !why.empty()) return FailedPrecondition(why);
  BATON_ASSIGN_OR_RETURN(auto earlier, ws.meta->ListStepRuns(req.run_id));
  std::vector<StepJob> jobs;
  for (size_t k = 0; k < items->size(); ++k) {
    StepJob j = *job;
    j.name = step + "[" + std::to_string(k) + "]";
    if (done.count(j.name)) continue;
    j.for_each = false;
    j.max_parallel = 0;
    j.group = step;
    j.attempt = 1;
    for (const auto& r : earlier)
      if (r.step == j.name) j.attempt = std::max(j.attempt, r.attempt + 1);
    auto at = std::find(j.command.begin(), j.command.end(), "--step");
    if (at != j.command.end() && at + 1 != j.command.end()) *(at + 1) = j.name;
    jobs.push_back(std::move(j));
  }
  return jobs;
}

// Follows a run an orchestrator executes through the step runs the step entrypoints record,
// telling the observer of every start and end.
class RunFollower {
 public:
  RunFollower(Workspace& ws, const PipelineSpec& spec, const std::string& run_id, ExecutionObserver* observer)
      : ws_(ws), spec_(spec), run_id_(run_id), observer_(observer), plan_(spec, Capacity{}, {}) {}

  // Takes the step runs recorded before this follower (an earlier attempt of a resumed run) as
  // already reported.
  Status Seed() {
    BATON_ASSIGN_OR_RETURN(auto rows, ws_.meta->ListStepRuns(run_id_));
    for (const auto& r : rows) {
      std::string key = r.step + "#" + std::to_string(r.attempt);
      started_.insert(key);
      if (r.status != StepStatus::kRunning) ended_.insert(key);
      Latest(r);
    }
    return Status::Ok();
  }

  Status Poll() {
    BATON_ASSIGN_OR_RETURN(auto rows, ws_.meta->ListStepRuns(run_id_));
    for (const auto& r : rows) {
      Latest(r);
      const int i = Index(r.step);
      if (i < 0) continue;
      const std::string key = r.step + "#" + std::to_string(r.attempt);
      if (r.status == StepStatus::kRunning) {
        if (started_.insert(key).second) observer_->OnStepStart(i, r.attempt);
        continue;
      }
      if (!ended_.insert(key).second) continue;
      if (started_.insert(key).second && r.status != StepStatus::kSkipped) observer_->OnStepStart(i, r.attempt);
      StepOutcome o{r.status, r.reason, r.exit_code, r.id, r.ended_at - r.started_at, "", r.log_path};
      const int of = i < static_cast<int>(spec_.steps.size()) ? i : plan_.index(GroupOf(r.step));
      RetryPolicy rp = spec_.EffectiveSettings(spec_.steps[of]).retries();
      bool retry = r.status == StepStatus::kFailed && r.attempt <= rp.max;
      observer_->OnStepEnd(i, r.attempt, o, retry ? 0 : -1);
    }
    return Status::Ok();
  }

  // The latest attempt of every step that has one.
  const std::map<std::string, StepRunRecord>& latest() const { return latest_; }

 private:
  // The step number the observer knows a step by: the plan's, or for an instance of a for_each
  // step (the plan has none) a number beyond the plan's, told to the observer when first seen.
  int Index(const std::string& step) {
    const int i = plan_.index(step);
    if (i >= 0) return i;
    auto it = instances_.find(step);
    if (it != instances_.end()) return it->second;
    const int group = plan_.index(GroupOf(step));
    if (group < 0 || spec_.steps[group].for_each.empty()) return -1;
    const int n = static_cast<int>(plan_.size() + instances_.size());
    instances_[step] = n;
    observer_->OnStepsAdded(group, n, {step});
    return n;
  }

  void Latest(const StepRunRecord& r) {
    auto& latest = latest_[r.step];
    if (r.attempt >= latest.attempt) latest = r;
  }

  Workspace& ws_;
  const PipelineSpec& spec_;
  std::string run_id_;
  ExecutionObserver* observer_;
  Plan plan_;
  std::set<std::string> started_, ended_;
  std::map<std::string, StepRunRecord> latest_;
  std::map<std::string, int> instances_;
};

// The reasons a backend reports for attempts' ends (SubmitRequest::report_failure and
// report_stopped), queued from any thread and recorded on the driving thread.
class BackendReports {
 public:
  void Attach(SubmitRequest* req) {
    req->report_failure = [this](const std::string& step, int attempt, const std::string& reason) {
      Add(step, attempt, reason, StepStatus::kFailed);
    };
    req->report_stopped = [this](const std::string& step, int attempt, const std::string& reason) {
      Add(step, attempt, reason, StepStatus::kStopped);
    };
  }

  // Records the queued reports: the backend's reason is the real one (the entrypoint saw only
  // a signal, or nothing), so it replaces the attempt's, or records an attempt that never
  // started.
  Status Apply(Workspace& ws, const std::string& run_id, StepRunner& runner, const Plan& plan) {
    std::vector<Report> todo;
    {
      std::lock_guard<std::mutex> lock(mu_);
      todo.swap(reports_);
    }
    if (todo.empty()) return Status::Ok();
    BATON_ASSIGN_OR_RETURN(auto rows, ws.meta->ListStepRuns(run_id));
    for (const auto& f : todo) {
      const int index = plan.index(f.step);
      // An instance of a for_each step is not in the plan: it is recorded by name.
      if (index < 0 && plan.index(GroupOf(f.step)) < 0) continue;
      const StepRunRecord* row = nullptr;
      for (const auto& r : rows)
        if (r.step == f.step && (f.attempt > 0 ? r.attempt == f.attempt : (!row || r.attempt > row->attempt))) row = &r;
      if (row == nullptr) {
        BATON_RETURN_IF_ERROR(
            runner.RecordNotRunNamed(f.step, f.attempt > 0 ? f.attempt : 1, f.status, f.reason).status());
      } else if (row->status == StepStatus::kRunning || row->status == StepStatus::kFailed ||
                 row->status == StepStatus::kStopped) {
        StepRunRecord rec = *row;
        rec.status = f.status;
        rec.reason = f.reason;
        if (rec.ended_at == 0 || row->status == StepStatus::kRunning) rec.ended_at = NowMicros();
        std::vector<ArtifactRecord> none;
        BATON_RETURN_IF_ERROR(ws.meta->FinishStepRun(rec, &none, {}, {}));
      }
    }
    return Status::Ok();
  }

 private:
  struct Report {
    std::string step;
    int attempt;
    std::string reason;
    StepStatus status;  // failed | stopped
  };
  void Add(const std::string& step, int attempt, const std::string& reason, StepStatus status) {
    std::lock_guard<std::mutex> lock(mu_);
    reports_.push_back({step, attempt, reason, status});
  }
  std::mutex mu_;
  std::vector<Report> reports_;
};

// Why a run stopped, when it did.
struct StopReason {
  bool stopped = false;
  std::string reason;
};

// Runs Submit on its own thread and follows the run until Submit returns (`*submitted` is what
// it returned): signals and the run's timeout stop the orchestrator; reports and step runs are
// recorded and observed meanwhile. An error is baton's own, while recording.
Status SubmitAndFollow(Orchestrator& orch, const SubmitRequest& req, const RunOptions& opts,
                       const std::function<Status()>& record, StopReason* stop, Status* submitted) {
  // Signals are taken synchronously: the submitting thread inherits the blocked mask.
  std::optional<StopSignals> signals;
  signals.emplace();
  const int64_t t0 = MonotonicMicros();
  std::atomic<bool> finished{false};
  std::thread submitter([&] {
    *submitted = orch.Submit(req);
    finished = true;
  });
  auto halt = [&](const std::string& why) {
    stop->stopped = true;
    stop->reason = why;
    (void)orch.Stop(req.run_id);
  };
  while (!finished) {
    const int sig = signals->Wait(100'000);
    // A driver in the backend whose pod is being ended leaves the run to the next driver.
    if (sig > 0 && opts.leave_on_signal && opts.leave_on_signal()) ExitNow(128 + sig);
    if (sig > 0 && !stop->stopped) {
      // Said once: the orchestrator stops its steps its own way (a second signal cannot hurry
      // a backend's stop, so it is not offered).
      if (opts.on_stop_signal) opts.on_stop_signal(sig, 0);
      halt(std::string("stopped by signal ") + StopSignals::Name(sig));
    }
    if (!stop->stopped && opts.run_timeout_us > 0 && MonotonicMicros() - t0 > opts.run_timeout_us)
      halt("the run timed out after " + FormatDuration(opts.run_timeout_us));
    Status st = record();
    if (!st.ok() && st.code() != Code::kUnavailable) {
      (void)orch.Stop(req.run_id);
      submitter.join();
      return st;
    }
  }
  submitter.join();
  signals.reset();
  return record();
}

// The final outcome of every step: steps the orchestrator never ran (an upstream failed, or it
// was stopped, or it gave up) are recorded so, with the reason.
Result<RunSummary> Conclude(const PipelineSpec& spec, const RunProgress& progress, const RunFollower& follower,
                            StepRunner& runner, const Plan& plan, const Status& submitted, const StopReason& stop,
                            ExecutionObserver* observer) {
  std::set<std::string> done(progress.done.begin(), progress.done.end());
  std::map<std::string, StepStatus> final_status;
  for (const auto& [name, rec] : follower.latest()) final_status[name] = rec.status;
  auto succeeded = [&](const std::string& name) {
    auto it = final_status.find(name);
    return done.count(name) || (it != final_status.end() && Succeeded(it->second));
  };
  // Steps skipped by their condition, and what was skipped only because of them: no failure.
  std::set<std::string> not_failed;
  for (const auto& [name, rec] : follower.latest())
    if (rec.status == StepStatus::kSkipped && rec.reason.rfind("condition false: ", 0) == 0) not_failed.insert(name);
  RunSummary summary;
  auto count = [&](StepStatus st) {
    switch (st) {
      case StepStatus::kCompleted: ++summary.completed; break;
      case StepStatus::kCached: ++summary.cached; break;
      case StepStatus::kSkipped: ++summary.skipped; break;
      case StepStatus::kStopped: ++summary.stopped; break;
      default: ++summary.failed; break;
    }
  };
  for (int i : plan.TopologicalOrder()) {
    const StepSpec& s = spec.steps[i];
    if (done.count(s.name)) {
      ++summary.completed;
      continue;
    }
    // A for_each step that got as far as its instances has no record of its own: its
    // instances' records stand for it, and it succeeded when all of them did.
    const bool ups_ok = std::all_of(plan.dependencies(i).begin(), plan.dependencies(i).end(),
                                    [&](int up) { return succeeded(spec.steps[up].name); });
    if (!s.for_each.empty() && ups_ok && !follower.latest().count(s.name)) {
      bool all = true;
      for (const auto& [name, rec] : follower.latest()) {
        if (GroupOf(name) != s.name || name == s.name) continue;
        StepStatus st = rec.status;
        if (st == StepStatus::kRunning) {
          // Its entrypoint is gone without recording an end; closing the run marks it interrupted.
          st = stop.stopped ? StepStatus::kStopped : StepStatus::kFailed;
        }
        final_status[name] = st;
        all = all && Succeeded(st);
        count(st);
      }
      if (all && !stop.stopped && submitted.ok()) done.insert(s.name);
      else final_status[s.name] = StepStatus::kFailed;
      continue;
    }
    auto it = follower.latest().find(s.name);
    if (it != follower.latest().end() && it->second.status == StepStatus::kRunning) {
      // Its entrypoint is gone without recording an end; closing the run marks it interrupted.
      final_status[s.name] = stop.stopped ? StepStatus::kStopped : StepStatus::kFailed;
    } else if (it == follower.latest().end()) {
      std::string why;
      StepStatus status = StepStatus::kSkipped;
      for (int up : plan.dependencies(i))
        if (!succeeded(spec.steps[up].name)) {
          const bool by_condition = not_failed.count(spec.steps[up].name) > 0;
          why = "upstream step '" + spec.steps[up].name + "' " + (by_condition ? "was skipped" : "did not complete");
          if (by_condition) not_failed.insert(s.name);
          break;
        }
      if (why.empty()) {
        status = stop.stopped ? StepStatus::kStopped : StepStatus::kFailed;
        why = stop.stopped ? stop.reason
                           : (submitted.ok() ? "the orchestrator finished without running the step" : submitted.message());
      }
      BATON_ASSIGN_OR_RETURN(StepOutcome o, runner.RecordNotRun(i, 1, status, why));
      final_status[s.name] = status;
      observer->OnStepEnd(i, 1, o, -1);
    }
    count(final_status[s.name]);
  }
  if (stop.stopped) {
    summary.status = RunStatus::kStopped;
    summary.reason = stop.reason;
  } else if (!submitted.ok()) {
    summary.status = RunStatus::kFailed;
    summary.reason = submitted.message();
  } else if (summary.failed > 0 || summary.stopped > 0) {
    summary.status = RunStatus::kFailed;
    summary.reason = std::to_string(summary.failed) + " step" + (summary.failed == 1 ? "" : "s") + " failed";
  } else {
    summary.status = RunStatus::kCompleted;
  }
  return summary;
}

// Hands a run to its orchestrator and follows it to the end.
Result<RunSummary> ExecuteOrchestrated(Workspace& ws, const PipelineSpec& spec, const std::string& run_id,
                                       const std::string& snapshot_hash, const RunOptions& opts,
                                       ExecutionObserver* observer, const RunProgress& progress) {
  if (opts.flavors == nullptr) return Internal("no flavor registry for the run's orchestrator");
  const FlavorInfo* flavor = nullptr;
  BATON_ASSIGN_OR_RETURN(auto orch, MakeOrchestrator(spec, *opts.flavors, &flavor));
  BATON_ASSIGN_OR_RETURN(SubmitRequest req,
                         BuildSubmitRequest(ws, spec, *flavor, run_id, snapshot_hash, opts, progress.done));
  if (!opts.schedule.empty() && !orch->SupportsSchedules())
    return FailedPrecondition("orchestrator flavor '" + flavor->name + "' does not support schedules");

  Capacity unbounded;
  unbounded.cpu = 1e9;
  unbounded.gpu = 1 << 30;
  for (const auto& [k, v] : spec.pools) unbounded.pools[k] = 1 << 30;
  Plan plan(spec, unbounded, {});
  for (const auto& name : progress.done)
    if (int i = plan.index(name); i >= 0) plan.MarkDone(i);
  observer->OnRunStart(plan);
  const int64_t t0 = MonotonicMicros();

  StepRunner runner(MakeRunContext(spec, run_id, snapshot_hash, ws.LogsDir(run_id)), ws.meta.get(),
                    ws.artifacts.get());
  BackendReports reports;
  reports.Attach(&req);
  RunFollower follower(ws, spec, run_id, observer);
  BATON_RETURN_IF_ERROR(follower.Seed());
  // The stores are used from this thread (recording) and from Submit's (expanding for_each).
  std::mutex store_mu;
  const std::set<std::string> done_before(progress.done.begin(), progress.done.end());
  req.expand = [&](const std::string& step) -> Result<std::vector<StepJob>> {
    std::lock_guard<std::mutex> lock(store_mu);
    return ForEachJobs(ws, spec, req, runner, step, done_before);
  };
  auto record = [&]() -> Status {
    std::lock_guard<std::mutex> lock(store_mu);
    BATON_RETURN_IF_ERROR(reports.Apply(ws, run_id, runner, plan));
    return follower.Poll();
  };
  StopReason stop;
  Status submitted;
  BATON_RETURN_IF_ERROR(SubmitAndFollow(*orch, req, opts, record, &stop, &submitted));
  BATON_ASSIGN_OR_RETURN(RunSummary summary,
                         Conclude(spec, progress, follower, runner, plan, submitted, stop, observer));
  summary.duration_us = MonotonicMicros() - t0;
  observer->OnRunEnd(summary);
  return summary;
}

}  // namespace

Result<SubmitRequest> BuildSubmitRequest(Workspace& ws, const PipelineSpec& spec, const FlavorInfo& flavor,
                                         const std::string& run_id, const std::string& snapshot_hash,
                                         const RunOptions& opts, const std::vector<std::string>& done) {
  SubmitRequest req =
      RequestFor(ws, spec, flavor, run_id, snapshot_hash, opts, std::set<std::string>(done.begin(), done.end()));
  BATON_ASSIGN_OR_RETURN(auto earlier, ws.meta->ListStepRuns(run_id));
  for (auto& job : req.steps) {
    const StepRunRecord* latest = nullptr;
    for (const auto& r : earlier)
      if (r.step == job.name && (latest == nullptr || r.attempt > latest->attempt)) latest = &r;
    if (latest == nullptr) continue;
    // A driver taking the run over follows the attempt its predecessor left running.
    job.adopt = opts.adopt_running && latest->status == StepStatus::kRunning;
    job.attempt = std::max(job.attempt, job.adopt ? latest->attempt : latest->attempt + 1);
  }
  BATON_RETURN_IF_ERROR(fs::MakeDirs(req.log_dir + "/results"));
  req.snapshot_file = req.log_dir + "/snapshot.json";
  BATON_RETURN_IF_ERROR(fs::WriteFileAtomic(req.snapshot_file, DumpJson(SpecToJson(spec))));
  BATON_ASSIGN_OR_RETURN(req.config, ResolveSecrets(req.config));
  return req;
}

Result<RunSummary> RunOrchestrated(Workspace& ws, const PipelineSpec& spec, const std::string& run_id,
                                   const std::string& snapshot_hash, const RunOptions& opts,
                                   ExecutionObserver* observer, const RunProgress& progress) {
  auto summary = ExecuteOrchestrated(ws, spec, run_id, snapshot_hash, opts, observer, progress);
  const std::string reason = summary.ok() ? summary->reason : "baton error: " + summary.status().message();
  BATON_RETURN_IF_ERROR(
      ws.meta->UpdateRunStatus(run_id, summary.ok() ? summary->status : RunStatus::kFailed, reason, NowMicros()));
  return summary;
}

Status CompilePipeline(Workspace& ws, const PipelineSpec& spec, const RunOptions& opts, const std::string& out_dir) {
  if (opts.flavors == nullptr) return Internal("no flavor registry to compile with");
  BATON_RETURN_IF_ERROR(fs::MakeDirs(out_dir));
  Snapshot snap = MakeSnapshot(spec);
  BATON_RETURN_IF_ERROR(fs::WriteFileAtomic(out_dir + "/snapshot.json", DumpJson(Json::parse(snap.body), 2) + "\n"));
  const FlavorInfo* flavor = nullptr;
  BATON_ASSIGN_OR_RETURN(auto orch, MakeOrchestrator(spec, *opts.flavors, &flavor));
  // A compiled pipeline has no run yet: the request names a placeholder, and secrets stay
  // references.
  SubmitRequest req = RequestFor(ws, spec, *flavor, "{{run.id}}", snap.hash, opts, {});
  req.snapshot_file = out_dir + "/snapshot.json";
  req.log_dir = out_dir;
  BATON_RETURN_IF_ERROR(fs::WriteFileAtomic(out_dir + "/request.json", DumpJson(req.ToJson(), 2) + "\n"));
  return orch->Compile(req, out_dir);
}

Result<std::vector<BuiltImage>> BuildPipelineImages(Workspace& ws, const PipelineSpec& spec, const RunOptions& opts) {
  if (opts.flavors == nullptr) return Internal("no flavor registry to build with");
  const FlavorInfo* flavor = nullptr;
  BATON_ASSIGN_OR_RETURN(auto orch, MakeOrchestrator(spec, *opts.flavors, &flavor));
  SubmitRequest req = RequestFor(ws, spec, *flavor, "build", MakeSnapshot(spec).hash, opts, {});
  auto images = orch->BuildImages(req);
  if (!images.ok())
    return images.status().Annotate("orchestrator '" + spec.stack["orchestrator"].value("name", std::string()) +
                                    "' (flavor " + flavor->name + ") cannot build images");
  return images;
}

std::vector<std::string> DriverCommand(const Workspace& ws, const std::vector<std::string>& what, const RunOptions& opts) {
  std::vector<std::string> argv = {SelfExecutable(), "runs", "drive"};
  argv.insert(argv.end(), what.begin(), what.end());
  argv.insert(argv.end(), {"--metadata", ws.metadata_uri, "--artifacts", ws.artifacts_uri});
  if (!opts.use_cache) argv.push_back("--no-cache");
  return argv;
}

Result<std::string> DetachOrchestrated(Workspace& ws, const PipelineSpec& spec, const std::string& run_id,
                                       const std::string& snapshot_hash, const RunOptions& opts) {
  if (opts.flavors == nullptr) return Internal("no flavor registry for the run's orchestrator");
  const FlavorInfo* flavor = nullptr;
  BATON_ASSIGN_OR_RETURN(auto orch, MakeOrchestrator(spec, *opts.flavors, &flavor));
  BATON_ASSIGN_OR_RETURN(SubmitRequest req, BuildSubmitRequest(ws, spec, *flavor, run_id, snapshot_hash, opts, {}));
  return orch->Detach(req, DriverCommand(ws, {run_id}, opts));
}

namespace {

// The orchestrator of stack `stack`, configured as a run on it would have it.
Result<std::unique_ptr<Orchestrator>> StackOrchestrator(Workspace& ws, const std::string& stack) {
  BATON_ASSIGN_OR_RETURN(auto flavors, LoadFlavors(*ws.meta));
  BATON_ASSIGN_OR_RETURN(ResolvedStack resolved, ResolveStack(*ws.meta, *flavors, stack));
  PipelineSpec spec;  // only its stack
  spec.stack = resolved.ToJson();
  return MakeOrchestrator(spec, *flavors, nullptr, /*lenient_secrets=*/true);
}

}  // namespace

Result<bool> BackendKeepsSchedules(MetadataStore& meta, const std::string& stack) {
  BATON_ASSIGN_OR_RETURN(auto flavors, LoadFlavors(meta));
  std::string name = stack;
  if (name.empty()) {
    BATON_ASSIGN_OR_RETURN(name, ActiveStack(meta));
  }
  BATON_ASSIGN_OR_RETURN(ResolvedStack resolved, ResolveStack(meta, *flavors, name));
  const FlavorInfo* f = flavors->registry.Find(ComponentType::kOrchestrator, resolved.orchestrator.flavor);
  return f != nullptr && f->backend_schedules;
}

Status ApplyBackendSchedule(Workspace& ws, const PipelineSpec& spec, const RunOptions& opts, const ScheduleRecord& s) {
  if (opts.flavors == nullptr) return Internal("no flavor registry for the schedule's orchestrator");
  if (s.overlap == "queue")
    return InvalidArgument("--overlap queue: a schedule the orchestrator keeps cannot queue a firing; use skip or allow");
  if (s.catchup == "all")
    return InvalidArgument("--catchup all: a schedule the orchestrator keeps starts at most the latest missed time; "
                           "use latest or none");
  const FlavorInfo* flavor = nullptr;
  BATON_ASSIGN_OR_RETURN(auto orch, MakeOrchestrator(spec, *opts.flavors, &flavor));
  BATON_RETURN_IF_ERROR(UseStackArtifactStore(ws, spec));
  Snapshot snap = MakeSnapshot(spec);
  BATON_RETURN_IF_ERROR(StoreSnapshot(ws, spec, snap));
  SubmitRequest req = RequestFor(ws, spec, *flavor, "{{run.id}}", snap.hash, opts, {});
  BATON_ASSIGN_OR_RETURN(req.config, ResolveSecrets(req.config));
  BackendSchedule b;
  b.name = s.name;
  b.cron = s.cron;
  b.time_zone = s.time_zone;
  b.overlap = s.overlap;
  b.catchup = s.catchup;
  b.paused = s.paused;
  return orch->ApplySchedule(req, b, DriverCommand(ws, {"--schedule", s.name, "--snapshot", "sha256:" + snap.hash}, opts));
}

Status PauseBackendSchedule(Workspace& ws, const ScheduleRecord& s, bool paused) {
  BATON_ASSIGN_OR_RETURN(auto orch, StackOrchestrator(ws, s.stack));
  return orch->PauseSchedule(s.name, paused);
}

Status DeleteBackendSchedule(Workspace& ws, const ScheduleRecord& s) {
  BATON_ASSIGN_OR_RETURN(auto orch, StackOrchestrator(ws, s.stack));
  return orch->DeleteSchedule(s.name);
}

Result<std::unique_ptr<Orchestrator>> RunBackend(Workspace& ws, const RunRecord& run) {
  BATON_ASSIGN_OR_RETURN(PipelineSpec spec, LoadRunSpec(ws, run));
  if (!spec.stack.is_object()) return std::unique_ptr<Orchestrator>();
  BATON_ASSIGN_OR_RETURN(auto flavors, LoadFlavors(*ws.meta));
  const FlavorInfo* flavor = nullptr;
  BATON_ASSIGN_OR_RETURN(auto orch, MakeOrchestrator(spec, *flavors, &flavor, /*lenient_secrets=*/true));
  if (flavor->in_process) return std::unique_ptr<Orchestrator>();
  return orch;
}

Result<std::string> CleanupDeadRun(Workspace& ws, const RunRecord& run) {
  BATON_ASSIGN_OR_RETURN(auto orch, RunBackend(ws, run));
  return orch ? orch->Cleanup(run.id) : std::string();
}

}  // namespace baton
