#include "app/run_pipeline.h"

#include <dirent.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <set>

#include "platform/fs.h"
#include "platform/hash.h"
#include "platform/local_launcher.h"
#include "platform/process.h"

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

std::string NewRunId(const std::string& pipeline) {
  std::random_device rd;
  char rnd[8];
  std::snprintf(rnd, sizeof rnd, "%04x", static_cast<unsigned>(rd()) & 0xffff);
  time_t t = ::time(nullptr);
  struct tm tm;
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
  return pipeline + "-" + ts + "-" + rnd;
}

int DefaultJobs() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

Capacity LocalCapacity(int jobs) {
  Capacity c;
  c.cpu = std::max(DefaultJobs(), jobs);
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  c.memory = pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : 0;
  if (const char* g = std::getenv("BATON_GPUS")) {
    c.gpu = std::atoi(g);
  } else if (DIR* d = ::opendir("/dev")) {
    while (dirent* e = ::readdir(d))
      if (std::strncmp(e->d_name, "nvidia", 6) == 0 && std::isdigit(static_cast<unsigned char>(e->d_name[6]))) c.gpu++;
    ::closedir(d);
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
  int jobs = opts.jobs > 0 ? opts.jobs : DefaultJobs();
  Capacity cap = LocalCapacity(jobs);
  cap.pools = spec.pools;
  Plan plan(spec, cap, weights);
  std::map<int, int> first_attempt;
  for (const auto& name : progress.done) plan.MarkDone(plan.index(name));
  for (const auto& [name, n] : progress.next_attempt)
    if (int i = plan.index(name); i >= 0) first_attempt[i] = n;

  RunContext ctx;
  ctx.spec = &spec;
  ctx.run_id = run_id;
  ctx.snapshot_hash = snapshot_hash;
  ctx.logs_dir = ws.LogsDir(run_id);
  ctx.use_cache = opts.use_cache;
  ctx.explain = opts.explain;
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
    (void)fs::RemoveTree(ws.artifacts->StagingRoot() + "/" + run_id);
    const std::string reason = "baton error: " + summary.status().message();
    Status recorded = ws.meta->UpdateRunStatus(run_id, "failed", reason, NowMicros());
    if (recorded.code() == Code::kResourceExhausted && ReleaseReserve(ws)) {
      (void)ws.meta->UpdateRunStatus(run_id, "failed", reason, NowMicros());
    }
    return summary.status();
  }
  (void)fs::RemoveTree(ws.artifacts->StagingRoot() + "/" + run_id);
  BATON_RETURN_IF_ERROR(ws.meta->UpdateRunStatus(run_id, summary->status, summary->reason, NowMicros()));
  return summary;
}

}  // namespace

Result<RunSummary> RunPipeline(Workspace& ws, const PipelineSpec& spec, const RunOptions& opts,
                               ExecutionObserver* observer, std::string* run_id_out) {
  int jobs = opts.jobs > 0 ? opts.jobs : DefaultJobs();
  // Signals are taken synchronously from here on, so Ctrl-C is recorded as a stop.
  LocalLauncher launcher(jobs);
  Snapshot snap = MakeSnapshot(spec);
  BATON_RETURN_IF_ERROR(StoreSnapshot(ws, spec, snap));

  RunRecord run;
  run.id = NewRunId(spec.name);
  run.pipeline = spec.name;
  run.snapshot_hash = snap.hash;
  run.status = "running";
  run.created_at = run.started_at = NowMicros();
  run.host = HostName();
  run.pid = ::getpid();
  run.pid_start = ProcessStartTicks(::getpid());
  run.parameters = spec.parameters.dump();
  run.pipeline_file = spec.file;
  // Run ids carry 16 random bits next to the second they were made in: retry on the rare
  // collision of runs started in the same second.
  for (int tries = 0;; ++tries) {
    Status created = ws.meta->CreateRun(run);
    if (created.ok()) break;
    if (created.code() != Code::kAlreadyExists || tries == 8) return created;
    run.id = NewRunId(spec.name);
  }
  if (run_id_out) *run_id_out = run.id;
  return ExecuteRun(ws, spec, run.id, snap.hash, opts, observer, &launcher, RunProgress{});
}

Result<RunProgress> LoadRunProgress(Workspace& ws, const std::string& run_id) {
  RunProgress p;
  BATON_ASSIGN_OR_RETURN(auto steps, ws.meta->ListStepRuns(run_id));
  std::set<std::string> done;
  for (const auto& s : steps) {
    p.next_attempt[s.step] = std::max(p.next_attempt[s.step], s.attempt + 1);
    if (s.status != "completed" && s.status != "cached") continue;
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
  if (run.status == "running")
    return FailedPrecondition("run " + run.id + " is still running (pid " + std::to_string(run.pid) + " on " +
                              run.host + "); stop it first with 'baton runs stop " + run.id + "'");
  if (run.status == "completed") return FailedPrecondition("run " + run.id + " already completed; nothing to resume");
  int jobs = opts.jobs > 0 ? opts.jobs : DefaultJobs();
  LocalLauncher launcher(jobs);
  BATON_ASSIGN_OR_RETURN(RunProgress progress, LoadRunProgress(ws, run.id));
  BATON_RETURN_IF_ERROR(ws.meta->ClaimRun(run.id, ::getpid(), ProcessStartTicks(::getpid()), HostName()));
  return ExecuteRun(ws, spec, run.id, run.snapshot_hash, opts, observer, &launcher, progress);
}

}  // namespace baton
