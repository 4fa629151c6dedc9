#include "app/run_pipeline.h"


#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include <cstring>
#include <random>
#include <set>

#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/hash.h"
#include "platform/local_launcher.h"
#include "platform/process.h"
#include "platform/signals.h"
#include "store/registry.h"

namespace baton {

Snapshot MakeSnapshot(const PipelineSpec& spec) {
  Snapshot s;
  s.body = SpecToJson(spec).dump();
  s.hash = Sha256Hex(s.body);
  return s;
}

Status StoreSnapshot(Workspace& ws, const PipelineSpec& spec, const Snapshot& snap) {
  BATON_RETURN_IF_ERROR(ws.meta->PutSnapshot(snap.hash, spec.name, snap.body));
  return ws.artifacts->PutBlob("snapshots/" + snap.hash + ".json", snap.body);
}

Result<PipelineSpec> LoadSnapshot(Workspace& ws, const std::string& uri, std::string* hash) {
  std::string body;
  if (uri.rfind("sha256:", 0) == 0) {
    BATON_ASSIGN_OR_RETURN(body, ws.meta->GetSnapshot(uri.substr(7)));
  } else {
    std::string path = uri.rfind("file://", 0) == 0 ? uri.substr(7) : uri;
    auto text = fs::ReadFile(path);
    if (!text.ok()) return InvalidArgument("cannot read snapshot: " + text.status().message());
    body = std::move(*text);
  }
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded()) return InvalidArgument("snapshot " + uri + " is not valid JSON");
  if (hash) *hash = Sha256Hex(body);
  return SpecFromJson(j);
}

std::string RenderRunName(const std::string& tmpl, const PipelineSpec& spec) {
  const int64_t now = NowMicros();
  const std::string date = FormatUtc(now, "%Y%m%d"), clock = FormatUtc(now, "%H%M%S");
  char rnd[8];
  std::random_device rd;
  std::snprintf(rnd, sizeof rnd, "%04x", static_cast<unsigned>(rd()) & 0xffff);
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl.compare(i, 2, "{{") == 0) {
      auto end = tmpl.find("}}", i + 2);
      if (end == std::string::npos) break;
      std::string name = tmpl.substr(i + 2, end - i - 2);
      while (!name.empty() && name.front() == ' ') name.erase(0, 1);
      while (!name.empty() && name.back() == ' ') name.pop_back();
      if (name == "date") out += date;
      else if (name == "time") out += clock;
      else if (name == "random") out += rnd;
      else if (name == "pipeline.name") out += spec.name;
      else if (name.rfind("params.", 0) == 0 && spec.parameters.contains(name.substr(7))) {
        // Parameter values may hold characters run ids cannot.
        for (char c : ParamToString(spec.parameters[name.substr(7)]))
          out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ? c : '_';
      }
      i = end + 2;
    } else {
      out += tmpl[i++];
    }
  }
  return out;
}

Status UseStackArtifactStore(Workspace& ws, const PipelineSpec& spec) {
  if (!spec.stack.is_object()) return Status::Ok();
  const Json& store = spec.stack.value("artifact_store", Json::object());
  if (store.value("flavor", std::string("local")) != "local")
    return FailedPrecondition("artifact store flavor '" + store.value("flavor", std::string()) + "' is not available");
  std::string path = store.value("config", Json::object()).value("path", std::string());
  if (path.empty()) return Status::Ok();
  if (path[0] != '/') path = ws.root + "/" + path;
  BATON_ASSIGN_OR_RETURN(ws.artifacts, Stores().OpenArtifactStore(FileUri(path)));
  return Status::Ok();
}

int64_t StackKillGrace(const PipelineSpec& spec) {
  if (!spec.stack.is_object()) return 0;
  const Json& orch = spec.stack.value("orchestrator", Json::object());
  if (orch.value("flavor", std::string()) != "local") return 0;
  auto config = ResolveSecrets(orch.value("config", Json::object()));
  if (!config.ok()) return 0;
  std::string g = config->value("kill_grace", std::string());
  int64_t us = 0;
  return !g.empty() && ParseDuration(g, &us) ? us : 0;
}

std::string NewRunId(const std::string& pipeline) {
  std::random_device rd;
  char rnd[8];
  std::snprintf(rnd, sizeof rnd, "%04x", static_cast<unsigned>(rd()) & 0xffff);
  return pipeline + "-" + FormatUtc(NowMicros(), "%Y%m%d-%H%M%S") + "-" + rnd;
}

int DefaultJobs() { return OnlineCpus(); }

namespace {
// Steps at once: -j wins over the component's `jobs`.
int JobsFor(const PipelineSpec& spec, const RunOptions& opts) {
  if (opts.jobs > 0) return opts.jobs;
  if (spec.stack.is_object()) {
    const Json& orch = spec.stack.value("orchestrator", Json::object());
    auto config = ResolveSecrets(orch.value("config", Json::object()));
    int64_t j = config.ok() && (*config)["jobs"].is_number_integer() ? (*config)["jobs"].get<int64_t>() : 0;
    if (j > 0) return static_cast<int>(j);
  }
  return DefaultJobs();
}

}  // namespace

Capacity LocalCapacity(int jobs) {
  Capacity c;
  c.cpu = std::max(DefaultJobs(), jobs);
  c.memory = PhysicalMemoryBytes();
  if (const char* g = std::getenv("BATON_GPUS")) {
    c.gpu = std::atoi(g);
  } else {
    c.gpu = static_cast<int>(GpuDevices().size());
  }
  return c;
}

namespace {

// Plans and executes a run that is recorded as running and owned by this process.
Result<RunSummary> ExecuteRun(Workspace& ws, const PipelineSpec& spec, const std::string& run_id,
                              const std::string& snapshot_hash, const RunOptions& opts,
                              ExecutionObserver* observer, LocalLauncher* launcher,
                              const RunProgress& progress) {
  std::map<std::string, double> weights;
  if (auto d = ws.meta->StepDurations(spec.name); d.ok())
    for (const auto& [step, us] : *d) weights[step] = us;
  Capacity cap = LocalCapacity(JobsFor(spec, opts));
  cap.pools = spec.pools;
  Plan plan(spec, cap, weights);
  std::map<int, int> first_attempt;
  for (const auto& name : progress.done) plan.MarkDone(plan.index(name));
  for (const auto& [name, n] : progress.next_attempt)
    if (int i = plan.index(name); i >= 0) first_attempt[i] = n;

  RunContext ctx;
  ctx.env = PosixEnv();
  ctx.spec = &spec;
  ctx.run_id = run_id;
  ctx.snapshot_hash = snapshot_hash;
  ctx.logs_dir = ws.LogsDir(run_id);
  ctx.use_cache = opts.use_cache;
  ctx.explain = opts.explain;
  ctx.kill_grace_us = StackKillGrace(spec);
  StepRunner runner(ctx, ws.meta.get(), ws.artifacts.get());
  BATON_RETURN_IF_ERROR(fs::MakeDirs(ctx.logs_dir));
  launcher->SetPidJournal(ctx.logs_dir + "/.pids");

  ExecutorOptions eo;
  eo.failure_mode = opts.failure_mode.value_or(spec.failure_mode);
  eo.run_timeout_us = opts.run_timeout_us;
  Executor ex(spec, &plan, &runner, launcher, observer, eo);
  auto summary = ex.Run(first_attempt);
  if (!summary.ok()) {
    // Record why, even on a full disk: drop the run's staged outputs, then the reserve if needed.
    (void)fs::RemoveTree(ws.artifacts->StagingDir() + "/" + run_id);
    const std::string reason = "baton error: " + summary.status().message();
    Status recorded = ws.meta->UpdateRunStatus(run_id, RunStatus::kFailed, reason, NowMicros());
    if (recorded.code() == Code::kResourceExhausted && ReleaseReserve(ws)) {
      (void)ws.meta->UpdateRunStatus(run_id, RunStatus::kFailed, reason, NowMicros());
    }
    return summary.status();
  }
  (void)fs::RemoveTree(ws.artifacts->StagingDir() + "/" + run_id);
  BATON_RETURN_IF_ERROR(ws.meta->UpdateRunStatus(run_id, summary->status, summary->reason, NowMicros()));
  return summary;
}

}  // namespace

namespace {

bool InProcess(const PipelineSpec& spec) {
  return !spec.stack.is_object() || spec.stack["orchestrator"].value("flavor", std::string("local")) == "local";
}

}  // namespace

Result<std::unique_ptr<Orchestrator>> MakeOrchestrator(const PipelineSpec& spec, const RunOptions& opts,
                                                        const FlavorInfo** flavor_out) {
  const Json& orch = spec.stack.value("orchestrator", Json::object());
  std::string flavor = orch.value("flavor", std::string());
  if (opts.flavors == nullptr) return Internal("no flavor registry for orchestrator '" + flavor + "'");
  const FlavorInfo* f = opts.flavors->registry.Find(ComponentType::kOrchestrator, flavor);
  if (f == nullptr) {
    auto broken = opts.flavors->broken.find("orchestrator/" + flavor);
    return FailedPrecondition("orchestrator flavor '" + flavor + "' is not available" +
                              (broken != opts.flavors->broken.end() ? ": " + broken->second : ""));
  }
  if (flavor_out) *flavor_out = f;
  BATON_ASSIGN_OR_RETURN(Json config, ResolveSecrets(WithDefaults(*f, orch.value("config", Json::object()))));
  // The stack's container registry reaches the orchestrator as "registry": its config.
  if (spec.stack.contains("container_registry")) {
    BATON_ASSIGN_OR_RETURN(config["registry"],
                           ResolveSecrets(spec.stack["container_registry"].value("config", Json::object())));
  }
  return f->make_orchestrator(config);
}

namespace {

// Follows a run an orchestrator executes through the step runs the step entrypoint records.
class RunFollower {
 public:
  RunFollower(Workspace& ws, const PipelineSpec& spec, const std::string& run_id, ExecutionObserver* observer)
      : ws_(ws), spec_(spec), run_id_(run_id), observer_(observer) {}

  // Takes the step runs recorded before this follower (an earlier attempt of a resumed run) as
  // already reported.
  Status Seed() {
    BATON_ASSIGN_OR_RETURN(auto rows, ws_.meta->ListStepRuns(run_id_));
    for (const auto& r : rows) {
      std::string key = r.step + "#" + std::to_string(r.attempt);
      started_.insert(key);
      if (r.status != StepStatus::kRunning) ended_.insert(key);
      auto& latest = latest_[r.step];
      if (r.attempt >= latest.attempt) latest = r;
    }
    return Status::Ok();
  }

  Status Poll() {
    BATON_ASSIGN_OR_RETURN(auto rows, ws_.meta->ListStepRuns(run_id_));
    for (const auto& r : rows) {
      int i = IndexOf(r.step);
      if (i < 0) continue;
      auto& latest = latest_[r.step];
      if (r.attempt >= latest.attempt) latest = r;
      std::string key = r.step + "#" + std::to_string(r.attempt);
      if (r.status == StepStatus::kRunning) {
        if (started_.insert(key).second) observer_->OnStepStart(i, r.attempt);
        continue;
      }
      if (!ended_.insert(key).second) continue;
      if (started_.insert(key).second && r.status != StepStatus::kSkipped) observer_->OnStepStart(i, r.attempt);
      StepOutcome o{r.status, r.reason, r.exit_code, r.id, r.ended_at - r.started_at, ""};
      RetryPolicy rp = spec_.EffectiveSettings(spec_.steps[i]).retries();
      bool retry = r.status == StepStatus::kFailed && r.attempt <= rp.max;
      observer_->OnStepEnd(i, r.attempt, o, retry ? 0 : -1);
    }
    return Status::Ok();
  }

  const std::map<std::string, StepRunRecord>& latest() const { return latest_; }

 private:
  int IndexOf(const std::string& name) const {
    for (size_t i = 0; i < spec_.steps.size(); ++i)
      if (spec_.steps[i].name == name) return static_cast<int>(i);
    return -1;
  }
  Workspace& ws_;
  const PipelineSpec& spec_;
  std::string run_id_;
  ExecutionObserver* observer_;
  std::set<std::string> started_, ended_;
  std::map<std::string, StepRunRecord> latest_;
};


// Hands a run to its (non-local) orchestrator and follows it to the end.
Result<RunSummary> ExecuteOrchestrated(Workspace& ws, const PipelineSpec& spec, const std::string& run_id,
                                       const std::string& snapshot_hash, const RunOptions& opts,
                                       ExecutionObserver* observer, const RunProgress& progress) {
  const FlavorInfo* flavor = nullptr;
  BATON_ASSIGN_OR_RETURN(auto orch, MakeOrchestrator(spec, opts, &flavor));
  BATON_ASSIGN_OR_RETURN(SubmitRequest req,
                         BuildSubmitRequest(ws, spec, *flavor, run_id, snapshot_hash, opts, progress.done));
  if (!opts.schedule.empty() && !orch->SupportsSchedules())
    return FailedPrecondition("orchestrator flavor '" + flavor->name + "' does not support schedules");

  // Signals are taken synchronously: the submitting thread inherits the blocked mask.
  std::optional<StopSignals> signals;
  signals.emplace();

  Capacity cap;
  cap.cpu = 1e9;
  cap.memory = 0;
  cap.gpu = 1 << 30;
  cap.pools = spec.pools;
  for (auto& [k, v] : cap.pools) v = 1 << 30;
  Plan plan(spec, cap, {});
  for (const auto& name : progress.done) plan.MarkDone(plan.index(name));
  observer->OnRunStart(plan);
  const int64_t t0 = MonotonicMicros();

  // Failures the backend reports (see SubmitRequest::report_failure), applied on this thread.
  struct BackendFailure {
    std::string step;
    int attempt;
    std::string reason;
    StepStatus status;  // failed | stopped
  };
  std::mutex reports_mu;
  std::vector<BackendFailure> reports;
  req.report_failure = [&](const std::string& step, int attempt, const std::string& reason) {
    std::lock_guard<std::mutex> lock(reports_mu);
    reports.push_back({step, attempt, reason, StepStatus::kFailed});
  };
  req.report_stopped = [&](const std::string& step, int attempt, const std::string& reason) {
    std::lock_guard<std::mutex> lock(reports_mu);
    reports.push_back({step, attempt, reason, StepStatus::kStopped});
  };
  RunContext ctx;
  ctx.env = PosixEnv();
  ctx.spec = &spec;
  ctx.run_id = run_id;
  ctx.snapshot_hash = snapshot_hash;
  ctx.logs_dir = ws.LogsDir(run_id);
  StepRunner runner(ctx, ws.meta.get(), ws.artifacts.get());
  auto apply_reports = [&]() -> Status {
    std::vector<BackendFailure> todo;
    {
      std::lock_guard<std::mutex> lock(reports_mu);
      todo.swap(reports);
    }
    if (todo.empty()) return Status::Ok();
    BATON_ASSIGN_OR_RETURN(auto rows, ws.meta->ListStepRuns(run_id));
    for (const auto& f : todo) {
      int index = -1;
      for (size_t i = 0; i < spec.steps.size(); ++i)
        if (spec.steps[i].name == f.step) index = static_cast<int>(i);
      if (index < 0) continue;
      const StepRunRecord* row = nullptr;
      for (const auto& r : rows)
        if (r.step == f.step && (f.attempt > 0 ? r.attempt == f.attempt : (!row || r.attempt > row->attempt))) row = &r;
      if (row == nullptr) {
        BATON_RETURN_IF_ERROR(runner.RecordNotRun(index, f.attempt > 0 ? f.attempt : 1, f.status, f.reason).status());
      } else if (row->status == StepStatus::kRunning || row->status == StepStatus::kFailed || row->status == StepStatus::kStopped) {
        // The backend's reason is the real one: the entrypoint saw only a signal, or nothing.
        StepRunRecord rec = *row;
        rec.status = f.status;
        rec.reason = f.reason;
        if (rec.ended_at == 0 || row->status == StepStatus::kRunning) rec.ended_at = NowMicros();
        std::vector<ArtifactRecord> none;
        BATON_RETURN_IF_ERROR(ws.meta->FinishStepRun(rec, &none, {}, {}));
      }
    }
    return Status::Ok();
  };

  RunFollower follower(ws, spec, run_id, observer);
  if (Status seeded = follower.Seed(); !seeded.ok()) return seeded;
  std::atomic<bool> finished{false};
  Status submitted;
  std::thread submitter([&] {
    submitted = orch->Submit(req);
    finished = true;
  });
  std::string stop_reason;
  bool stopped = false;
  while (!finished) {
    int sig = signals->Wait(100'000);
    if (sig > 0 && !stopped) {
      stopped = true;
      stop_reason = std::string("stopped by signal ") + StopSignals::Name(sig);
      (void)orch->Stop(run_id);
    }
    if (!stopped && opts.run_timeout_us > 0 && MonotonicMicros() - t0 > opts.run_timeout_us) {
      stopped = true;
      stop_reason = "the run timed out after " + FormatDuration(opts.run_timeout_us);
      (void)orch->Stop(run_id);
    }
    Status st = apply_reports();
    if (st.ok()) st = follower.Poll();
    if (!st.ok() && st.code() != Code::kUnavailable) {
      (void)orch->Stop(run_id);
      submitter.join();
      return st;
    }
  }
  submitter.join();
  signals.reset();
  BATON_RETURN_IF_ERROR(apply_reports());
  BATON_RETURN_IF_ERROR(follower.Poll());

  // Steps the orchestrator never ran (an upstream failed, or it was stopped) are recorded so,
  // with the reason; then the summary comes from every step's final attempt.
  std::set<std::string> done(progress.done.begin(), progress.done.end());
  std::map<std::string, StepStatus> final_status;
  for (const auto& [name, rec] : follower.latest()) final_status[name] = rec.status;
  RunSummary summary;
  for (size_t i = 0; i < spec.steps.size(); ++i) {
    const StepSpec& s = spec.steps[i];
    if (done.count(s.name)) {
      ++summary.completed;
      continue;
    }
    auto it = follower.latest().find(s.name);
    if (it != follower.latest().end() && it->second.status == StepStatus::kRunning) {
      // Its entrypoint is gone without recording an end; closing the run marks it interrupted.
      final_status[s.name] = stopped ? StepStatus::kStopped : StepStatus::kFailed;
    } else if (it == follower.latest().end()) {
      std::string why;
      StepStatus status = StepStatus::kSkipped;
      for (const auto& up : plan.dependencies(static_cast<int>(i))) {
        const std::string& un = spec.steps[up].name;
        auto fs = final_status.find(un);
        if (!done.count(un) && (fs == final_status.end() || (fs->second != StepStatus::kCompleted && fs->second != StepStatus::kCached))) {
          why = "upstream step '" + un + "' did not complete";
          break;
        }
      }
      if (why.empty()) {
        status = stopped ? StepStatus::kStopped : StepStatus::kFailed;
        why = stopped ? stop_reason
                      : (submitted.ok() ? "the orchestrator finished without running the step" : submitted.message());
      }
      int attempt = it == follower.latest().end() ? 1 : it->second.attempt + 1;
      BATON_ASSIGN_OR_RETURN(StepOutcome o, runner.RecordNotRun(static_cast<int>(i), attempt, status, why));
      final_status[s.name] = status;
      observer->OnStepEnd(static_cast<int>(i), attempt, o, -1);
    }
    const StepStatus st = final_status[s.name];
    if (st == StepStatus::kCompleted) ++summary.completed;
    else if (st == StepStatus::kCached) ++summary.cached;
    else if (st == StepStatus::kSkipped) ++summary.skipped;
    else if (st == StepStatus::kStopped) ++summary.stopped;
    else ++summary.failed;
  }
  summary.duration_us = MonotonicMicros() - t0;
  if (stopped) {
    summary.status = RunStatus::kStopped;
    summary.reason = stop_reason;
  } else if (!submitted.ok()) {
    summary.status = RunStatus::kFailed;
    summary.reason = submitted.message();
  } else if (summary.failed > 0 || summary.stopped > 0) {
    summary.status = RunStatus::kFailed;
    summary.reason = std::to_string(summary.failed) + " step" + (summary.failed == 1 ? "" : "s") + " failed";
  } else {
    summary.status = RunStatus::kCompleted;
  }
  observer->OnRunEnd(summary);
  return summary;
}

// ExecuteOrchestrated, then the run's final status (a baton error fails the run with it).
Result<RunSummary> RunOrchestrated(Workspace& ws, const PipelineSpec& spec, const std::string& run_id,
                                   const std::string& snapshot_hash, const RunOptions& opts,
                                   ExecutionObserver* observer, const RunProgress& progress) {
  auto summary = ExecuteOrchestrated(ws, spec, run_id, snapshot_hash, opts, observer, progress);
  const std::string reason = summary.ok() ? summary->reason : "baton error: " + summary.status().message();
  BATON_RETURN_IF_ERROR(ws.meta->UpdateRunStatus(run_id, summary.ok() ? summary->status : RunStatus::kFailed, reason, NowMicros()));
  return summary;
}

}  // namespace

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
  // BATON_RUN_ID marks every process of the run, so that if this baton dies, the next command
  // finds and terminates what the orchestrator left running (see ReapDeadRuns).
  req.env = {"BATON_DIR=" + ws.dir, "BATON_RUN_ID=" + run_id};
  const Json component = spec.stack.value("orchestrator", Json::object()).value("config", Json::object());
  req.config = WithDefaults(flavor, component);
  req.schedule = opts.schedule;
  req.schedule_name = opts.schedule_name;
  req.jobs = JobsFor(spec, opts);
  const std::string exe = SelfExecutable();
  // Kahn's order over the steps.
  Plan plan(spec, Capacity{}, {});
  std::vector<int> order, indeg(spec.steps.size());
  for (size_t i = 0; i < spec.steps.size(); ++i) indeg[i] = static_cast<int>(plan.dependencies(static_cast<int>(i)).size());
  for (size_t i = 0; i < spec.steps.size(); ++i)
    if (indeg[i] == 0) order.push_back(static_cast<int>(i));
  for (size_t k = 0; k < order.size(); ++k)
    for (int d : plan.dependents(order[k]))
      if (--indeg[d] == 0) order.push_back(d);
  for (int i : order) {
    const StepSpec& s = spec.steps[i];
    if (skip.count(s.name)) continue;
    StepJob job;
    job.name = s.name;
    for (int u : plan.dependencies(i))
      if (!skip.count(spec.steps[u].name)) job.upstream.push_back(spec.steps[u].name);
    job.command = {exe, "step", "run", "--snapshot", "sha256:" + snapshot_hash, "--step", s.name, "--run", run_id};
    if (!opts.use_cache) job.command.push_back("--no-cache");
    job.settings = StepSettingsJson(spec, s, flavor, component);
    req.steps.push_back(std::move(job));
  }
  return req;
}

}  // namespace

Result<SubmitRequest> BuildSubmitRequest(Workspace& ws, const PipelineSpec& spec, const FlavorInfo& flavor,
                                         const std::string& run_id, const std::string& snapshot_hash,
                                         const RunOptions& opts, const std::vector<std::string>& done) {
  SubmitRequest req =
      RequestFor(ws, spec, flavor, run_id, snapshot_hash, opts, std::set<std::string>(done.begin(), done.end()));
  req.log_dir = ws.LogsDir(run_id);
  BATON_ASSIGN_OR_RETURN(auto earlier, ws.meta->ListStepRuns(run_id));
  for (auto& job : req.steps)
    for (const auto& r : earlier)
      if (r.step == job.name) job.attempt = std::max(job.attempt, r.attempt + 1);
  BATON_RETURN_IF_ERROR(fs::MakeDirs(req.log_dir));
  req.snapshot_file = req.log_dir + "/snapshot.json";
  BATON_RETURN_IF_ERROR(fs::WriteFileAtomic(req.snapshot_file, SpecToJson(spec).dump()));
  BATON_ASSIGN_OR_RETURN(req.config, ResolveSecrets(req.config));
  return req;
}

Status CompilePipeline(Workspace& ws, const PipelineSpec& spec, const RunOptions& opts, const std::string& out_dir) {
  BATON_RETURN_IF_ERROR(fs::MakeDirs(out_dir));
  Snapshot snap = MakeSnapshot(spec);
  BATON_RETURN_IF_ERROR(fs::WriteFileAtomic(out_dir + "/snapshot.json", Json::parse(snap.body).dump(2) + "\n"));
  const FlavorInfo* flavor = nullptr;
  BATON_ASSIGN_OR_RETURN(auto orch, MakeOrchestrator(spec, opts, &flavor));
  // A compiled pipeline has no run yet: the request names a placeholder, and secrets stay
  // references.
  SubmitRequest req = RequestFor(ws, spec, *flavor, "{{run.id}}", snap.hash, opts, {});
  req.snapshot_file = out_dir + "/snapshot.json";
  req.log_dir = out_dir;
  BATON_RETURN_IF_ERROR(fs::WriteFileAtomic(out_dir + "/request.json", req.ToJson().dump(2) + "\n"));
  return orch->Compile(req, out_dir);
}

Result<std::vector<PipelineImage>> BuildPipelineImages(Workspace& ws, const PipelineSpec& spec, const RunOptions& opts) {
  const FlavorInfo* flavor = nullptr;
  BATON_ASSIGN_OR_RETURN(auto orch, MakeOrchestrator(spec, opts, &flavor));
  auto* docker = dynamic_cast<LocalDockerOrchestrator*>(orch.get());
  if (docker == nullptr)
    return FailedPrecondition("orchestrator '" + spec.stack["orchestrator"].value("name", std::string()) + "' (flavor " +
                              flavor->name + ") runs no containers; build images for a stack whose orchestrator is "
                              "local_docker");
  const Json component = spec.stack.value("orchestrator", Json::object()).value("config", Json::object());
  std::vector<std::string> parents;
  for (const auto& s : spec.steps) {
    Json settings = StepSettingsJson(spec, s, *flavor, component);
    std::string parent = settings.value("image", std::string());
    if (parent.empty()) parent = settings["orchestrator"].value("parent_image", std::string());
    if (std::find(parents.begin(), parents.end(), parent) == parents.end()) parents.push_back(parent);
  }
  std::vector<PipelineImage> out;
  for (const auto& parent : parents) {
    ImageSource src{spec.name, SelfExecutable(), spec.root, ws.dir, parent};
    BATON_ASSIGN_OR_RETURN(PipelineImage img, docker->BuildImage(src));
    out.push_back(img);
  }
  return out;
}

Result<RunSummary> RunPipeline(Workspace& ws, const PipelineSpec& spec, const RunOptions& opts,
                               ExecutionObserver* observer, std::string* run_id_out) {
  BATON_RETURN_IF_ERROR(UseStackArtifactStore(ws, spec));
  Snapshot snap = MakeSnapshot(spec);
  BATON_RETURN_IF_ERROR(StoreSnapshot(ws, spec, snap));

  RunRecord run;
  run.id = opts.run_name.empty() ? NewRunId(spec.name) : opts.run_name;
  run.pipeline = spec.name;
  run.snapshot_hash = snap.hash;
  run.status = RunStatus::kRunning;
  run.created_at = run.started_at = NowMicros();
  run.host = HostName();
  run.pid = CurrentProcessId();
  run.pid_start = ProcessStartTicks(CurrentProcessId());
  run.parameters = spec.parameters.dump();
  run.pipeline_file = spec.file;
  if (spec.stack.is_object()) {
    run.stack = spec.stack.value("name", std::string("default"));
    run.orchestrator = spec.stack["orchestrator"].value("flavor", std::string("local"));
  }
  // Run ids carry 16 random bits next to the second they were made in: retry on the rare
  // collision of runs started in the same second.
  for (int tries = 0;; ++tries) {
    Status created = ws.meta->CreateRun(run);
    if (created.ok()) break;
    if (created.code() == Code::kAlreadyExists && !opts.run_name.empty())
      return AlreadyExists("a run named '" + run.id + "' already exists; put {{time}} or {{random}} in run_name");
    if (created.code() != Code::kAlreadyExists || tries == 8) return created;
    run.id = NewRunId(spec.name);
  }
  if (run_id_out) *run_id_out = run.id;
  if (!InProcess(spec)) return RunOrchestrated(ws, spec, run.id, snap.hash, opts, observer, RunProgress{});
  // Signals are taken synchronously from here on, so Ctrl-C is recorded as a stop.
  LocalLauncher launcher(JobsFor(spec, opts));
  return ExecuteRun(ws, spec, run.id, snap.hash, opts, observer, &launcher, RunProgress{});
}

Result<RunProgress> LoadRunProgress(Workspace& ws, const std::string& run_id) {
  RunProgress p;
  BATON_ASSIGN_OR_RETURN(auto steps, ws.meta->ListStepRuns(run_id));
  std::set<std::string> done;
  for (const auto& s : steps) {
    p.next_attempt[s.step] = std::max(p.next_attempt[s.step], s.attempt + 1);
    if (s.status != StepStatus::kCompleted && s.status != StepStatus::kCached) continue;
    BATON_ASSIGN_OR_RETURN(auto outs, ws.meta->StepOutputs(s.id));
    bool present = true;
    for (const auto& [name, art] : outs) present = present && ws.artifacts->Exists(art.digest);
    if (present) done.insert(s.step);
  }
  p.done.assign(done.begin(), done.end());
  return p;
}

Result<PipelineSpec> LoadRunSpec(Workspace& ws, const RunRecord& run) {
  return LoadSnapshot(ws, "sha256:" + run.snapshot_hash, nullptr);
}

Result<RunSummary> ResumeRun(Workspace& ws, const RunRecord& run, const PipelineSpec& spec,
                             const RunOptions& opts, ExecutionObserver* observer) {
  if (run.status == RunStatus::kRunning)
    return FailedPrecondition("run " + run.id + " is still running (pid " + std::to_string(run.pid) + " on " +
                              run.host + "); stop it first with 'baton runs stop " + run.id + "'");
  if (run.status == RunStatus::kCompleted) return FailedPrecondition("run " + run.id + " already completed; nothing to resume");
  BATON_RETURN_IF_ERROR(UseStackArtifactStore(ws, spec));
  BATON_ASSIGN_OR_RETURN(RunProgress progress, LoadRunProgress(ws, run.id));
  if (!InProcess(spec)) {
    BATON_RETURN_IF_ERROR(ws.meta->ClaimRun(run.id, CurrentProcessId(), ProcessStartTicks(CurrentProcessId()), HostName()));
    return RunOrchestrated(ws, spec, run.id, run.snapshot_hash, opts, observer, progress);
  }
  LocalLauncher launcher(JobsFor(spec, opts));
  BATON_RETURN_IF_ERROR(ws.meta->ClaimRun(run.id, CurrentProcessId(), ProcessStartTicks(CurrentProcessId()), HostName()));
  return ExecuteRun(ws, spec, run.id, run.snapshot_hash, opts, observer, &launcher, progress);
}

}  // namespace baton
