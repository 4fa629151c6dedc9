#include "app/step_entrypoint.h"


#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <set>
#include <thread>

#include "app/run_pipeline.h"
#include "baton/json_text.h"
#include "baton/orchestrator.h"
#include "baton/signal_numbers.h"
#include "core/matrix.h"
#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/local_launcher.h"
#include "platform/signals.h"
#include "store/registry.h"

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
  const bool in_container = PosixEnv()->GetEnv("BATON_CONTAINER").has_value();
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
    if (oom_before >= 0 && c.signal == kSigKill && !c.timed_out && !c.cancelled &&
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

namespace {

// The step's index in the snapshot, and the first attempt to run.
Result<int> FindStep(const PipelineSpec& spec, const std::string& name) {
  for (size_t i = 0; i < spec.steps.size(); ++i)
    if (spec.steps[i].name == name) return static_cast<int>(i);
  return NotFound("the snapshot has no step '" + name + "'");
}

Result<int> FirstAttempt(MetadataStore& meta, const StepEntrypointOptions& opts, const std::string& run_id) {
  if (opts.attempt > 0) return opts.attempt;
  BATON_ASSIGN_OR_RETURN(auto prior, meta.ListStepRuns(run_id));
  int attempt = 1;
  for (const auto& s : prior)
    if (s.step == opts.step) attempt = std::max(attempt, s.attempt + 1);
  return attempt;
}

// Runs the attempts: exactly opts.attempt when given, else as many as the retry policy allows.
Result<StepOutcome> RunAttempts(const StepEntrypointOptions& opts, StepRunner& runner, const PipelineSpec& spec,
                                int index, int attempt, int* last_attempt) {
  LocalLauncher launcher(1);
  if (opts.echo_logs) launcher.EchoOutputToStdout();
  RetryPolicy rp = spec.EffectiveSettings(spec.steps[index]).retries();
  const int last = opts.attempt > 0 ? attempt : attempt + rp.max;
  int64_t delay = rp.delay_us;
  bool interrupted = false;
  for (;; ++attempt) {
    *last_attempt = attempt;
    const bool final = opts.attempt > 0 ? opts.final_attempt : attempt >= last;
    BATON_ASSIGN_OR_RETURN(StepOutcome o, RunAttempt(runner, launcher, index, attempt, final, &interrupted));
    if (o.ok() || o.status == StepStatus::kSkipped || interrupted || attempt >= last) return o;
    if (delay > 0) {
      // The launcher keeps SIGINT/SIGTERM/SIGHUP blocked: take them here, so that a stop during
      // the delay is immediate and recorded.
      if (StopSignals::WaitBlocked(delay) != 0) {
        *last_attempt = attempt + 1;
        return runner.RecordNotRun(index, attempt + 1, StepStatus::kStopped, "stopped while waiting to retry");
      }
    }
    delay = static_cast<int64_t>(static_cast<double>(delay) * rp.backoff);
  }
}

// Adds the instances of the for_each steps that `step` is, belongs to or reads every instance
// of: the snapshot has none, they are made from the list this run recorded, as the run's driver
// made them.
Status ExpandForEach(PipelineSpec& spec, StepRunner& runner, const std::string& step) {
  std::set<std::string> groups = {GroupOf(step)};
  if (const StepSpec* s = spec.FindStep(step))
    for (const auto& in : s->inputs)
      if (in.selector == "*") groups.insert(in.step);
  for (const auto& name : groups) {
    const StepSpec* t = spec.FindStep(name);
    if (t == nullptr || t->for_each.empty()) continue;
    BATON_ASSIGN_OR_RETURN(auto items, runner.ForEachItems(*t));
    if (std::string why = ForEachLimitError(*t, items.size()); !why.empty()) return FailedPrecondition(why);
    const StepSpec copy = *t;  // the spec grows
    spec.steps.reserve(spec.steps.size() + items.size());
    for (size_t k = 0; k < items.size(); ++k)
      spec.steps.push_back(ForEachInstance(copy, static_cast<int64_t>(k), items[k]));
  }
  return Status::Ok();
}

// A for_each step handed to a backend that adds no jobs while a run goes on: its instances run
// here, one after another, each with its own attempts and records; those the run completed
// already are left alone. Succeeds when all do, else ends as the first that did not.
Result<StepOutcome> RunInstances(const StepEntrypointOptions& opts, MetadataStore& meta, StepRunner& runner,
                                 const PipelineSpec& spec, int index, const std::string& run_id) {
  const std::string group = spec.steps[index].name;
  BATON_ASSIGN_OR_RETURN(auto prior, meta.ListStepRuns(run_id));
  std::optional<StepOutcome> first_bad;
  int n = 0;
  for (size_t i = 0; i < spec.steps.size(); ++i) {
    if (spec.steps[i].group != group || spec.steps[i].item_index < 0) continue;
    ++n;
    int attempt = 1;
    bool done = false;
    for (const auto& r : prior)
      if (r.step == spec.steps[i].name) {
        attempt = std::max(attempt, r.attempt + 1);
        done = done || Succeeded(r.status);
      }
    if (done) continue;
    StepEntrypointOptions one = opts;
    one.step = spec.steps[i].name;
    one.attempt = 0;  // every attempt its retry policy allows
    int last = attempt;
    BATON_ASSIGN_OR_RETURN(StepOutcome o, RunAttempts(one, runner, spec, static_cast<int>(i), attempt, &last));
    if (o.status == StepStatus::kStopped) return o;
    if (!o.ok() && !first_bad) {
      first_bad = o;
      first_bad->reason = "instance " + spec.steps[i].name + ": " + o.reason;
    }
  }
  if (first_bad) return *first_bad;
  StepOutcome all;
  all.status = StepStatus::kCompleted;
  all.reason = std::to_string(n) + " instance" + (n == 1 ? "" : "s");
  return all;
}

Result<StepOutcome> Run(const StepEntrypointOptions& opts, int* attempt_out) {
  if (opts.metadata_uri.empty()) return InvalidArgument("no metadata store: give --metadata URI or BATON_METADATA_URI");
  if (opts.artifacts_uri.empty() && opts.workspace_root.empty())
    return InvalidArgument("no artifact store: give --artifacts URI or BATON_ARTIFACTS_URI");
  if (opts.logs_dir.empty()) return InvalidArgument("no log directory: give --logs DIR");
  BATON_ASSIGN_OR_RETURN(auto meta, Stores().OpenMetadataStore(opts.metadata_uri));
  std::string hash;
  BATON_ASSIGN_OR_RETURN(PipelineSpec spec, LoadSnapshot(*meta, opts.snapshot, &hash));
  std::string artifacts_uri = opts.artifacts_uri;
  if (artifacts_uri.empty()) {
    BATON_ASSIGN_OR_RETURN(artifacts_uri, StackArtifactsUri(spec, opts.workspace_root));
    if (artifacts_uri.empty()) artifacts_uri = FileUri(DirFor(opts.workspace_root) + "/artifacts");
  }
  BATON_ASSIGN_OR_RETURN(auto artifacts, Stores().OpenArtifactStore(artifacts_uri));
  BATON_ASSIGN_OR_RETURN(RunRecord run, meta->GetRun(opts.run));
  BATON_RETURN_IF_ERROR(fs::MakeDirs(opts.logs_dir));
  RunContext ctx = MakeRunContext(spec, run.id, hash, opts.logs_dir);
  ctx.use_cache = !opts.no_cache;
  StepRunner runner(ctx, meta.get(), artifacts.get());
  BATON_RETURN_IF_ERROR(ExpandForEach(spec, runner, opts.step));
  BATON_ASSIGN_OR_RETURN(int index, FindStep(spec, opts.step));
  if (!spec.steps[index].for_each.empty()) return RunInstances(opts, *meta, runner, spec, index, run.id);
  BATON_ASSIGN_OR_RETURN(int attempt, FirstAttempt(*meta, opts, run.id));
  *attempt_out = attempt;
  return RunAttempts(opts, runner, spec, index, attempt, attempt_out);
}

}  // namespace

Result<StepOutcome> RunStepEntrypoint(const StepEntrypointOptions& opts) {
  int attempt = opts.attempt;
  Result<StepOutcome> outcome = Run(opts, &attempt);
  if (opts.result_file.empty()) return outcome;
  StepResult r;
  r.run_id = opts.run;
  r.step = opts.step;
  r.attempt = attempt;
  if (outcome.ok()) {
    r.status = outcome->status;
    r.reason = outcome->reason;
    r.exit_code = outcome->exit_code;
  } else {
    r.error = outcome.status().message();
  }
  Status written = WriteStepResultFile(opts.result_file, r);
  if (!written.ok() && outcome.ok()) return written.Annotate("cannot write the step's result " + opts.result_file);
  return outcome;
}

Status WriteStepResultFile(const std::string& path, const StepResult& r) {
  const std::string text = DumpJson(r.ToJson()) + "\n";
  Status written = fs::MakeDirs(fs::Dirname(path));
  if (written.ok()) written = fs::WriteFileAtomic(path, text);
  if (!written.ok() && fs::Exists(path)) written = fs::WriteFile(path, text);
  return written;
}

}  // namespace baton
