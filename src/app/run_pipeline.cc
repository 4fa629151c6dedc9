#include "app/run_pipeline.h"


#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <map>
#include <optional>
#include <thread>

#include <cstring>
#include <random>
#include <set>

#include "baton/json_text.h"
#include "baton/signal_numbers.h"
#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/hash.h"
#include "platform/local_launcher.h"
#include "platform/process.h"
#include "platform/signals.h"
#include "app/orchestrated_run.h"
#include "app/schedules.h"
#include "flavors/builtin.h"
#include "store/registry.h"

namespace baton {

Snapshot MakeSnapshot(const PipelineSpec& spec) {
  Snapshot s;
  s.body = DumpJson(SpecToJson(spec));
  s.hash = Sha256Hex(s.body);
  return s;
}

Status StoreSnapshot(Workspace& ws, const PipelineSpec& spec, const Snapshot& snap) {
  BATON_RETURN_IF_ERROR(ws.meta->PutSnapshot(snap.hash, spec.name, snap.body));
  return ws.artifacts->PutBlob("snapshots/" + snap.hash + ".json", snap.body);
}

std::string StackFlavor(const PipelineSpec& spec) {
  if (!spec.stack.is_object()) return "";
  return spec.stack.value("orchestrator", Json::object()).value("flavor", std::string());
}

Result<PipelineSpec> LoadSnapshot(MetadataStore& meta, const std::string& uri, std::string* hash) {
  std::string body;
  if (uri.rfind("sha256:", 0) == 0) {
    BATON_ASSIGN_OR_RETURN(body, meta.GetSnapshot(uri.substr(7)));
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

Result<std::string> StackArtifactsUri(const PipelineSpec& spec, const std::string& workspace_root) {
  if (!spec.stack.is_object()) return std::string();
  const Json& store = spec.stack.value("artifact_store", Json::object());
  const std::string flavor = store.value("flavor", std::string());
  // Artifact store flavors are built in (plugins are orchestrators).
  FlavorRegistry builtins;
  BATON_RETURN_IF_ERROR(RegisterBuiltinFlavors(&builtins));
  const FlavorInfo* f = builtins.Find(ComponentType::kArtifactStore, flavor);
  if (f == nullptr || !f->store_uri) return FailedPrecondition("artifact store flavor '" + flavor + "' is not available");
  // Secret values never go into a URI (URIs are recorded): the flavor sees the references.
  return f->store_uri(WithDefaults(*f, store.value("config", Json::object())), workspace_root);
}

Status UseStackArtifactStore(Workspace& ws, const PipelineSpec& spec) {
  BATON_ASSIGN_OR_RETURN(std::string uri, StackArtifactsUri(spec, ws.root));
  if (uri.empty() || uri == ws.artifacts_uri) return Status::Ok();
  BATON_ASSIGN_OR_RETURN(ws.artifacts, Stores().OpenArtifactStore(uri));
  ws.artifacts_uri = uri;
  // A store in a local directory outside the workspace is shared with steps elsewhere too.
  BATON_ASSIGN_OR_RETURN(StoreUri parsed, StoreUri::Parse(uri));
  if (parsed.scheme == "file" && parsed.path.rfind(ws.dir + "/", 0) != 0) ws.shared_paths.push_back(parsed.path);
  return Status::Ok();
}

RunContext MakeRunContext(const PipelineSpec& spec, const std::string& run_id, const std::string& snapshot_hash,
                          const std::string& logs_dir) {
  RunContext ctx;
  ctx.env = PosixEnv();
  ctx.spec = &spec;
  ctx.run_id = run_id;
  ctx.snapshot_hash = snapshot_hash;
  ctx.logs_dir = logs_dir;
  ctx.kill_grace_us = StackKillGrace(spec);
  ctx.flavor = StackFlavor(spec);
  return ctx;
}

int64_t StackKillGrace(const PipelineSpec& spec) {
  if (!spec.stack.is_object()) return 0;
  // The orchestrator's `kill_grace`, for the flavors that have one.
  const Json& orch = spec.stack.value("orchestrator", Json::object());
  auto config = ResolveSecrets(orch.value("config", Json::object()));
  if (!config.ok()) return 0;
  std::string g = config->value("kill_grace", std::string());
  int64_t us = 0;
  return !g.empty() && ParseDuration(g, &us) ? us : 0;
}

namespace {
// The orchestrator's `max_log_size` (for the local flavor), or the launcher's default.
int64_t StackMaxLogBytes(const PipelineSpec& spec) {
  if (!spec.stack.is_object()) return LocalLauncher::kDefaultMaxLogBytes;
  const Json& orch = spec.stack.value("orchestrator", Json::object());
  auto config = ResolveSecrets(orch.value("config", Json::object()));
  if (!config.ok()) return LocalLauncher::kDefaultMaxLogBytes;
  int64_t bytes = 0;
  std::string v = config->value("max_log_size", std::string());
  return !v.empty() && ParseMemory(v, &bytes) ? bytes : LocalLauncher::kDefaultMaxLogBytes;
}
}  // namespace

std::string NewRunId(const std::string& pipeline) {
  std::random_device rd;
  char rnd[8];
  std::snprintf(rnd, sizeof rnd, "%04x", static_cast<unsigned>(rd()) & 0xffff);
  return pipeline + "-" + FormatUtc(NowMicros(), "%Y%m%d-%H%M%S") + "-" + rnd;
}

int DefaultJobs() { return OnlineCpus(); }

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

Capacity LocalCapacity(int jobs) {
  Capacity c;
  c.cpu = std::max(DefaultJobs(), jobs);
  c.memory = PhysicalMemoryBytes();
  if (auto g = PosixEnv()->GetEnv("BATON_GPUS")) {
    c.gpu = std::atoi(g->c_str());
  } else {
    c.gpu = static_cast<int>(GpuDevices().size());
  }
  return c;
}

namespace {

// The local launcher as stop signals see it: the executor stops the run at the first signal
// (its steps get SIGTERM and their grace); a second one kills every running step at once, so
// that a step ignoring SIGTERM cannot keep baton waiting. Every signal is reported first.
class StopEscalation : public Launcher {
 public:
  StopEscalation(LocalLauncher* inner, std::function<void(int, int)> report)
      : inner_(inner), report_(std::move(report)) {}
  bool CanRunMore() const override { return inner_->CanRunMore(); }
  Status Start(int token, const ProcessSpec& spec) override { return inner_->Start(token, spec); }
  WaitResult Wait(int64_t deadline_us, Completion* out, int* signal_out) override {
    int sig = 0;
    WaitResult r = inner_->Wait(deadline_us, out, &sig);
    if (r != WaitResult::kInterrupted) return r;
    ++signals_;
    if (report_) report_(sig, signals_);
    if (signals_ >= 2) inner_->KillAll();
    if (signal_out) *signal_out = sig;
    return r;
  }
  void Cancel(int token) override { inner_->Cancel(token); }
  void CancelAll() override { inner_->CancelAll(); }
  int running() const override { return inner_->running(); }
  int in_process_running() const override { return inner_->in_process_running(); }

 private:
  LocalLauncher* inner_;
  std::function<void(int, int)> report_;
  int signals_ = 0;
};

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
  // A pipeline with for_each steps grows while it runs: their instances are added to a copy.
  std::optional<PipelineSpec> growing;
  if (std::any_of(spec.steps.begin(), spec.steps.end(), [](const StepSpec& s) { return !s.for_each.empty(); }))
    growing = spec;
  const PipelineSpec& run_spec = growing ? *growing : spec;
  ExecutorOptions eo;
  Plan plan(run_spec, cap, weights);
  std::map<int, int> first_attempt;
  for (const auto& name : progress.done) {
    if (int i = plan.index(name); i >= 0) plan.MarkDone(i);
    else eo.done_before.insert(name);  // an instance the run will make again
  }
  for (const auto& [name, n] : progress.next_attempt) {
    if (int i = plan.index(name); i >= 0) first_attempt[i] = n;
    else eo.attempts_before[name] = n;
  }

  RunContext ctx = MakeRunContext(run_spec, run_id, snapshot_hash, ws.LogsDir(run_id));
  ctx.use_cache = opts.use_cache;
  ctx.explain = opts.explain;
  StepRunner runner(ctx, ws.meta.get(), ws.artifacts.get());
  BATON_RETURN_IF_ERROR(fs::MakeDirs(ctx.logs_dir));
  launcher->SetPidJournal(ctx.logs_dir + "/.pids");
  launcher->SetMaxLogBytes(StackMaxLogBytes(spec));

  eo.failure_mode = opts.failure_mode.value_or(spec.failure_mode);
  eo.run_timeout_us = opts.run_timeout_us;
  eo.expandable = growing ? &*growing : nullptr;
  StopEscalation stops(launcher, opts.on_stop_signal);
  Executor ex(run_spec, &plan, &runner, &stops, observer, eo);
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

std::string StopRequestKey(const std::string& run_id) { return "stop_request." + run_id; }

// While a run is driven here, a stop asked for elsewhere (RequestRunStop) becomes the SIGTERM a
// stop on this host sends: a thread looks for it in the metadata store every second, on a
// connection of its own (opened at its first look, so short runs never open one). The stop
// signals stay blocked in the thread, so the signal waits for whoever takes them.
class StopRequestWatcher {
 public:
  StopRequestWatcher(std::string metadata_uri, std::string run_id)
      : uri_(std::move(metadata_uri)), run_id_(std::move(run_id)), thread_([this] { Watch(); }) {}
  ~StopRequestWatcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
    // A stop asked for as the run ended is not taken by anyone: it must not reach the process
    // once the stop signals are unblocked. The destroying thread has them blocked.
    if (fired_) (void)StopSignals::WaitBlocked(0);
  }

 private:
  void Watch() {
    StopSignals blocked;
    std::unique_ptr<MetadataStore> store;
    int attempt = 0;
    std::unique_lock<std::mutex> lock(mu_);
    while (!wake_.wait_for(lock, std::chrono::seconds(1), [this] { return done_; })) {
      lock.unlock();
      if (!store) {
        if (auto s = Stores().OpenMetadataStore(uri_); s.ok()) store = std::move(*s);
      }
      if (store && attempt == 0) {
        if (auto run = store->GetRun(run_id_); run.ok()) attempt = run->attempt;
      }
      bool asked = false;
      if (store && attempt > 0) {
        auto value = store->GetSetting(StopRequestKey(run_id_), "");
        if (value.ok() && !value->empty()) {
          Json request = Json::parse(*value, nullptr, false);
          asked = request.is_object() && request.value("attempt", 0) == attempt;
        }
      }
      lock.lock();
      if (asked && !done_) {
        fired_ = SignalProcess(CurrentProcessId(), kSigTerm);
        return;
      }
    }
  }

  const std::string uri_, run_id_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool done_ = false;
  bool fired_ = false;
  std::thread thread_;
};

// While a run that records through a server (an http(s):// store) is driven here, the logs of
// its steps are sent there as they grow (MetadataStore::AppendRunLog), at most about a second
// behind, and the rest when the run ends: the server can then serve and follow them wherever
// this machine is. A thread with a store connection of its own. Sending is best effort: a server
// that keeps no logs, or refuses them, is sent no more, and the run goes on; one that cannot be
// reached is tried again the next second.
class RunLogShipper {
 public:
  RunLogShipper(const std::string& metadata_uri, std::string run_id, std::string dir)
      : uri_(metadata_uri), run_id_(std::move(run_id)), dir_(std::move(dir)) {
    const bool remote = metadata_uri.rfind("https://", 0) == 0 || metadata_uri.rfind("http://", 0) == 0;
    if (remote) thread_ = std::thread([this] { Ship(); });
  }
  ~RunLogShipper() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  static constexpr uint64_t kPiece = 1 << 20;  // bytes a request carries at most

  void Ship() {
    StopSignals blocked;
    std::unique_ptr<MetadataStore> store;
    std::map<std::string, int64_t> sent;  // file -> the size of the server's copy
    for (bool last = false; !last;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        last = wake_.wait_for(lock, std::chrono::seconds(1), [this] { return done_; });
      }
      if (!store) {
        auto s = Stores().OpenMetadataStore(uri_);
        if (!s.ok()) continue;
        store = std::move(*s);
      }
      Status st = Pass(*store, &sent);
      if (!st.ok() && st.code() != Code::kUnavailable) return;  // not kept, or refused
    }
  }

  Status Pass(MetadataStore& store, std::map<std::string, int64_t>* sent) {
    auto names = fs::ListDir(dir_);
    if (!names.ok()) return Status::Ok();  // no step has started yet
    for (const std::string& name : *names) {
      if (name.size() < 5 || name.compare(name.size() - 4, 4, ".log") != 0) continue;
      const std::string path = dir_ + "/" + name;
      int64_t& at = (*sent)[name];
      while (fs::FileSize(path) > at) {
        auto piece = fs::ReadRange(path, static_cast<uint64_t>(at), kPiece);
        if (!piece.ok() || piece->empty()) break;
        BATON_ASSIGN_OR_RETURN(int64_t copy, store.AppendRunLog(run_id_, name, at, *piece));
        // The copy's size: past ours when the server already had this (sent again after a lost
        // answer, or the server reads this very file), short of it when the copy was lost.
        if (copy == at) break;
        at = copy;
      }
    }
    return Status::Ok();
  }

  const std::string uri_, run_id_, dir_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace

bool RunStopRequested(MetadataStore& meta, const RunRecord& run) {
  auto value = meta.GetSetting(StopRequestKey(run.id), "");
  if (!value.ok() || value->empty()) return false;
  Json request = Json::parse(*value, nullptr, false);
  return request.is_object() && request.value("attempt", 0) == run.attempt;
}

std::string DetachedHost(const std::string& flavor) { return "(" + flavor + " driver)"; }

bool IsDetachedRun(const RunRecord& run) {
  return run.pid == 0 && run.host.size() > 9 && run.host.front() == '(' &&
         run.host.compare(run.host.size() - 8, 8, " driver)") == 0;
}

Status RequestRunStop(MetadataStore& meta, const RunRecord& run, const std::string& by) {
  Json request = {{"attempt", run.attempt}, {"by", by}, {"at", NowMicros()}};
  return meta.SetSetting(StopRequestKey(run.id), DumpJson(request));
}

namespace {

// Whether the stack's orchestrator is baton's own executor, run in this process.
Result<bool> InProcess(const PipelineSpec& spec, const RunOptions& opts) {
  if (!spec.stack.is_object()) return true;
  if (opts.flavors == nullptr) return Internal("no flavor registry for the run's orchestrator");
  BATON_ASSIGN_OR_RETURN(const FlavorInfo* flavor, OrchestratorFlavor(spec, *opts.flavors));
  return flavor->in_process;
}

}  // namespace

Result<RunSummary> RunPipeline(Workspace& ws, const PipelineSpec& spec, const RunOptions& opts,
                               ExecutionObserver* observer, std::string* run_id_out) {
  BATON_ASSIGN_OR_RETURN(bool in_process, InProcess(spec, opts));
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
  run.parameters = DumpJson(spec.parameters);
  run.pipeline_file = spec.file;
  run.use_cache = opts.use_cache;
  run.tags = opts.tags;
  run.note = opts.note;
  run.schedule = opts.started_by_schedule;
  if (spec.stack.is_object()) {
    run.stack = spec.stack.value("name", std::string("default"));
    run.orchestrator = spec.stack["orchestrator"].value("flavor", std::string("local"));
  }
  if (opts.detach) {
    if (in_process)
      return FailedPrecondition("--detach needs a stack whose orchestrator runs the run's driver in its backend "
                                "(kubernetes); the local orchestrator runs steps in this process");
    // Driven in the backend: no process here to look after, and no host of its own yet.
    run.host = DetachedHost(run.orchestrator);
    run.pid = run.pid_start = 0;
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
  if (opts.detach) {
    auto driver = DetachOrchestrated(ws, spec, run.id, snap.hash, opts);
    if (!driver.ok()) {
      const std::string why = "could not hand the run to its orchestrator: " + driver.status().message();
      BATON_RETURN_IF_ERROR(ws.meta->UpdateRunStatus(run.id, RunStatus::kFailed, why, NowMicros()));
      return driver.status();
    }
    RunSummary summary;
    summary.status = RunStatus::kRunning;
    summary.reason = "driven by " + *driver;
    return summary;
  }
  if (!in_process) {
    StopSignals blocked;  // from before the watcher starts to after it ends
    StopRequestWatcher stop_requests(ws.metadata_uri, run.id);
    RunLogShipper logs(ws.metadata_uri, run.id, ws.LogsDir(run.id));
    return RunOrchestrated(ws, spec, run.id, snap.hash, opts, observer, RunProgress{});
  }
  // Signals are taken synchronously from here on, so Ctrl-C is recorded as a stop.
  LocalLauncher launcher(JobsFor(spec, opts));
  StopRequestWatcher stop_requests(ws.metadata_uri, run.id);
  RunLogShipper logs(ws.metadata_uri, run.id, ws.LogsDir(run.id));
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
  return LoadSnapshot(*ws.meta, "sha256:" + run.snapshot_hash, nullptr);
}

Status CheckResumable(const RunRecord& run) {
  if (run.status == RunStatus::kRunning)
    return FailedPrecondition("run " + run.id + " is still running (pid " + std::to_string(run.pid) + " on " +
                              run.host + "); stop it first with 'baton runs stop " + run.id + "'");
  if (run.status == RunStatus::kCompleted) return FailedPrecondition("run " + run.id + " already completed; nothing to resume");
  return Status::Ok();
}

Result<RunSummary> ResumeRun(Workspace& ws, const RunRecord& run, const PipelineSpec& spec,
                             const RunOptions& opts, ExecutionObserver* observer) {
  BATON_RETURN_IF_ERROR(CheckResumable(run));
  BATON_RETURN_IF_ERROR(UseStackArtifactStore(ws, spec));
  BATON_ASSIGN_OR_RETURN(RunProgress progress, LoadRunProgress(ws, run.id));
  BATON_ASSIGN_OR_RETURN(bool in_process, InProcess(spec, opts));
  if (!in_process) {
    BATON_RETURN_IF_ERROR(ws.meta->ClaimRun(run.id, CurrentProcessId(), ProcessStartTicks(CurrentProcessId()), HostName()));
    StopSignals blocked;  // from before the watcher starts to after it ends
    StopRequestWatcher stop_requests(ws.metadata_uri, run.id);
    RunLogShipper logs(ws.metadata_uri, run.id, ws.LogsDir(run.id));
    return RunOrchestrated(ws, spec, run.id, run.snapshot_hash, opts, observer, progress);
  }
  LocalLauncher launcher(JobsFor(spec, opts));
  BATON_RETURN_IF_ERROR(ws.meta->ClaimRun(run.id, CurrentProcessId(), ProcessStartTicks(CurrentProcessId()), HostName()));
  StopRequestWatcher stop_requests(ws.metadata_uri, run.id);
  RunLogShipper logs(ws.metadata_uri, run.id, ws.LogsDir(run.id));
  return ExecuteRun(ws, spec, run.id, run.snapshot_hash, opts, observer, &launcher, progress);
}

}  // namespace baton

namespace baton {

namespace {

// Drives `run`, which is recorded as running with a detached host, from this process.
Result<RunSummary> DriveTakenRun(Workspace& ws, const RunRecord& run, const RunOptions& given, ExecutionObserver* observer) {
  BATON_ASSIGN_OR_RETURN(PipelineSpec spec, LoadRunSpec(ws, run));
  BATON_RETURN_IF_ERROR(UseStackArtifactStore(ws, spec));
  BATON_ASSIGN_OR_RETURN(RunProgress progress, LoadRunProgress(ws, run.id));
  RunOptions opts = given;
  opts.use_cache = run.use_cache;
  opts.adopt_running = true;
  opts.detach = false;
  // A stop signal is the backend ending this driver (its pod deleted, its node drained): the
  // run goes on, and the next driver takes it over. A stop asked for through the store (`baton
  // runs stop`) comes as a signal too, and stops the run.
  // Asked on a connection of its own: the run's store is busy on other threads meanwhile.
  opts.leave_on_signal = [uri = ws.metadata_uri, id = run.id] {
    auto meta = Stores().OpenMetadataStore(uri);
    // A store out of reach could record no stop either: the next driver finds out.
    if (!meta.ok()) return true;
    auto now = (*meta)->GetRun(id);
    return !now.ok() || !RunStopRequested(**meta, *now);
  };
  StopSignals blocked;  // from before the watcher starts to after it ends
  StopRequestWatcher stop_requests(ws.metadata_uri, run.id);
  RunLogShipper logs(ws.metadata_uri, run.id, ws.LogsDir(run.id));
  return RunOrchestrated(ws, spec, run.id, run.snapshot_hash, opts, observer, progress);
}

RunSummary Unchanged(const RunRecord& run) {
  RunSummary s;
  s.status = run.status;
  s.reason = run.reason;
  return s;
}

}  // namespace

Result<RunSummary> DriveRun(Workspace& ws, const std::string& run_id, const RunOptions& opts, ExecutionObserver* observer) {
  BATON_ASSIGN_OR_RETURN(RunRecord run, ws.meta->GetRun(run_id));
  if (run.status != RunStatus::kRunning) return Unchanged(run);
  if (!IsDetachedRun(run))
    return FailedPrecondition("run " + run.id + " is driven by baton process " + std::to_string(run.pid) + " on " +
                              run.host + ", not in its backend");
  return DriveTakenRun(ws, run, opts, observer);
}

Result<RunSummary> DriveScheduledRun(Workspace& ws, const std::string& schedule, const std::string& snapshot_hash,
                                     const std::string& driver_id, const RunOptions& opts, ExecutionObserver* observer,
                                     std::string* run_id) {
  if (driver_id.empty()) return InvalidArgument("no driver id (BATON_DRIVER_ID) to name the scheduled run after");
  // A CronJob's Jobs are named after their scheduled time, in minutes since the epoch: the run
  // gets the name a baton server gives a firing of that time.
  std::string id = schedule + "-" + driver_id;
  const size_t dash = driver_id.rfind('-');
  const std::string tail = dash == std::string::npos ? driver_id : driver_id.substr(dash + 1);
  if (!tail.empty() && tail.size() <= 12 && tail.find_first_not_of("0123456789") == std::string::npos)
    id = ScheduledRunId(schedule, std::stoll(tail) * 60'000'000);
  if (run_id) *run_id = id;
  BATON_ASSIGN_OR_RETURN(PipelineSpec spec, LoadSnapshot(*ws.meta, "sha256:" + snapshot_hash, nullptr));
  RunRecord run;
  run.id = id;
  run.pipeline = spec.name;
  run.snapshot_hash = snapshot_hash;
  run.status = RunStatus::kRunning;
  run.created_at = run.started_at = NowMicros();
  run.parameters = DumpJson(spec.parameters);
  run.pipeline_file = spec.file;
  run.use_cache = opts.use_cache;
  run.schedule = schedule;
  if (spec.stack.is_object()) {
    run.stack = spec.stack.value("name", std::string("default"));
    run.orchestrator = spec.stack["orchestrator"].value("flavor", std::string("local"));
  }
  run.host = DetachedHost(run.orchestrator);
  Status created = ws.meta->CreateRun(run);
  if (created.code() == Code::kAlreadyExists) return DriveRun(ws, id, opts, observer);  // a restarted driver
  BATON_RETURN_IF_ERROR(created);
  BATON_ASSIGN_OR_RETURN(RunRecord recorded, ws.meta->GetRun(id));
  return DriveTakenRun(ws, recorded, opts, observer);
}

}  // namespace baton
