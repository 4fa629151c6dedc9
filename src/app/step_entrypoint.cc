#include "app/step_entrypoint.h"


#include <algorithm>
#include <csignal>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "app/run_pipeline.h"
#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/local_launcher.h"
#include "platform/signals.h"

namespace baton {
namespace {

// The memory cgroup of a container, seen from inside it: how many processes the kernel killed
// for lack of memory, and the limit. Container engines do not always say that a container was
// OOM-killed (podman 4.3 reports exit 137 like any SIGKILL), so the entrypoint checks the
// counter itself. Reads cgroup v2 (memory.events, memory.max) or v1 (memory.oom_control,
// memory.limit_in_bytes); -1 when neither is visible.
struct MemoryCgroup {
  static int64_t Field(const std::string& path, const std::string& key) {
    auto text = fs::ReadFile(path);
    if (!text.ok()) return -1;
    size_t at = 0;
    while (at < text->size()) {
      size_t nl = text->find('\n', at);
      if (nl == std::string::npos) nl = text->size();
      std::string line = text->substr(at, nl - at);
      if (line.rfind(key + " ", 0) == 0) return std::atoll(line.c_str() + key.size() + 1);
      at = nl + 1;
    }
    return -1;
  }
  static int64_t OomKills() {
    int64_t n = Field("/sys/fs/cgroup/memory.events", "oom_kill");
    return n >= 0 ? n : Field("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill");
  }
  static std::string Limit() {
    for (const char* p : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
      auto text = fs::ReadFile(p);
      if (!text.ok()) continue;
      int64_t bytes = std::atoll(text->c_str());
      // v1 shows "no limit" as a huge number
      if (bytes <= 0 || bytes >= (int64_t{1} << 60)) return "";
      return FormatMemory(bytes);
    }
    return "";
  }
};

// Runs one attempt to its end; a SIGINT/SIGTERM stops the step (grace, then kill). When the
// attempt is the final one (`final`, success, or a stop), the step's hook runs after it.
Result<StepOutcome> RunAttempt(StepRunner& runner, LocalLauncher& launcher, int index, int attempt, bool final,
                               bool* interrupted) {
  BATON_ASSIGN_OR_RETURN(PreparedStep p, runner.Prepare(index, attempt));
  if (p.done) return *p.done;
  StepOutcome o;
  // In a container (BATON_CONTAINER is set by container orchestrators), a SIGKILL that comes
  // with a new OOM kill in the container's memory cgroup was the kernel's out-of-memory killer.
  const bool in_container = std::getenv("BATON_CONTAINER") != nullptr;
  const int64_t oom_before = in_container ? MemoryCgroup::OomKills() : -1;
  Status st = launcher.Start(0, p.process);
  if (!st.ok()) {
    BATON_ASSIGN_OR_RETURN(o, runner.FinishUnlaunched(p, StepStatus::kFailed, st.message()));
  } else {
    Completion c;
    int sig = 0;
    for (;;) {
      auto r = launcher.Wait(0, &c, &sig);
      if (r == Launcher::WaitResult::kCompleted) {
        // A stop that reached the step and this process at once (scancel signals every process
        // of a Slurm job; a container engine, every process of a container): the step was
        // stopped, whatever its exit (a shell whose command was killed may still exit 0), and
        // its outputs are not kept.
        if (StopSignals::Pending()) {
          *interrupted = true;
          c.cancelled = true;
        }
        break;
      }
      if (r == Launcher::WaitResult::kInterrupted) {
        *interrupted = true;
        launcher.CancelAll();
      }
    }
    if (oom_before >= 0 && c.signal == SIGKILL && !c.timed_out && !c.cancelled &&
        MemoryCgroup::OomKills() > oom_before) {
      std::string limit = MemoryCgroup::Limit();
      c.error = "out of memory: killed by the kernel's OOM killer" +
                (limit.empty() ? std::string() : " (container memory limit " + limit + ")");
    }
    BATON_ASSIGN_OR_RETURN(o, runner.Finish(p, c));
  }
  if (o.ok() || final || *interrupted) {
    if (auto hook = runner.HookProcess(p, o); hook && launcher.Start(1, *hook).ok()) {
      Completion c;
      int sig = 0;
      while (launcher.Wait(0, &c, &sig) != Launcher::WaitResult::kCompleted) {
      }
    }
  }
  return o;
}

}  // namespace

Result<StepOutcome> RunStepEntrypoint(Workspace& ws, const StepEntrypointOptions& opts) {
  std::string hash;
  BATON_ASSIGN_OR_RETURN(PipelineSpec spec, LoadSnapshot(ws, opts.snapshot, &hash));
  BATON_RETURN_IF_ERROR(UseStackArtifactStore(ws, spec));
  int index = -1;
  for (size_t i = 0; i < spec.steps.size(); ++i)
    if (spec.steps[i].name == opts.step) index = static_cast<int>(i);
  if (index < 0) return NotFound("the snapshot has no step '" + opts.step + "'");
  BATON_ASSIGN_OR_RETURN(RunRecord run, ws.meta->GetRun(opts.run));
  int attempt = opts.attempt;
  if (attempt <= 0) {
    BATON_ASSIGN_OR_RETURN(auto prior, ws.meta->ListStepRuns(run.id));
    attempt = 1;
    for (const auto& s : prior)
      if (s.step == opts.step) attempt = std::max(attempt, s.attempt + 1);
  }
  RunContext ctx;
  ctx.env = PosixEnv();
  ctx.spec = &spec;
  ctx.run_id = run.id;
  ctx.snapshot_hash = hash;
  ctx.logs_dir = ws.LogsDir(run.id);
  ctx.use_cache = !opts.no_cache;
  ctx.kill_grace_us = StackKillGrace(spec);
  StepRunner runner(ctx, ws.meta.get(), ws.artifacts.get());
  LocalLauncher launcher(1);

  // With an explicit attempt, exactly that one; otherwise the retry policy from here on.
  RetryPolicy rp = spec.EffectiveSettings(spec.steps[index]).retries();
  int last = opts.attempt > 0 ? attempt : attempt + rp.max;
  int64_t delay = rp.delay_us;
  bool interrupted = false;
  for (;; ++attempt) {
    BATON_ASSIGN_OR_RETURN(StepOutcome o, RunAttempt(runner, launcher, index, attempt, attempt >= last, &interrupted));
    if (o.ok() || interrupted || attempt >= last) return o;
    if (delay > 0) {
      // The launcher keeps SIGINT/SIGTERM/SIGHUP blocked: take them here, so that a stop during
      // the delay is immediate and recorded.
      if (StopSignals::WaitBlocked(delay) != 0)
        return runner.RecordNotRun(index, attempt + 1, StepStatus::kStopped, "stopped while waiting to retry");
    }
    delay = static_cast<int64_t>(static_cast<double>(delay) * rp.backoff);
  }
}

}  // namespace baton
