// baton step run: the step entrypoint every backend executes.

#include <unistd.h>

#include "app/run_pipeline.h"
#include "cli/cli.h"
#include "platform/fs.h"
#include "platform/local_launcher.h"

namespace baton::cli {
namespace {

struct StepArgs {
  std::string snapshot, step, run;
  int attempt = 0;
  bool no_cache = false;
};

int DoStepRun(const StepArgs& a) {
  auto root = FindWorkspace(".");
  if (!root.ok()) return Fail(root.status());
  auto ws = OpenWorkspace(*root);
  if (!ws.ok()) return Fail(ws.status());
  std::string hash;
  auto spec = LoadSnapshot(*ws, a.snapshot, &hash);
  if (!spec.ok()) return Fail(spec.status());
  int index = -1;
  for (size_t i = 0; i < spec->steps.size(); ++i)
    if (spec->steps[i].name == a.step) index = static_cast<int>(i);
  if (index < 0) return Fail(NotFound("the snapshot has no step '" + a.step + "'"));
  auto run = ws->meta->GetRun(a.run);
  if (!run.ok()) return Fail(run.status());
  int attempt = a.attempt;
  if (attempt <= 0) {
    auto prior = ws->meta->ListStepRuns(run->id);
    if (!prior.ok()) return Fail(prior.status());
    attempt = 1;
    for (const auto& s : *prior)
      if (s.step == a.step) attempt = std::max(attempt, s.attempt + 1);
  }
  LocalLauncher launcher(1);
  RunContext ctx;
  ctx.spec = &*spec;
  ctx.run_id = run->id;
  ctx.snapshot_hash = hash;
  ctx.logs_dir = ws->LogsDir(run->id);
  ctx.use_cache = !a.no_cache;
  StepRunner runner(ctx, ws->meta.get(), ws->artifacts.get());
  auto p = runner.Prepare(index, attempt);
  if (!p.ok()) return Fail(p.status());
  StepOutcome outcome;
  if (p->done) {
    outcome = *p->done;
  } else {
    Status st = launcher.Start(0, p->process);
    if (!st.ok()) {
      auto o = runner.FinishUnlaunched(*p, "failed", st.message());
      if (!o.ok()) return Fail(o.status());
      outcome = *o;
    } else {
      Completion c;
      int sig = 0;
      for (;;) {
        auto r = launcher.Wait(0, &c, &sig);
        if (r == Launcher::WaitResult::kCompleted) break;
        if (r == Launcher::WaitResult::kInterrupted) launcher.CancelAll();
      }
      auto o = runner.Finish(*p, c);
      if (!o.ok()) return Fail(o.status());
      outcome = *o;
    }
  }
  std::printf("step %s of run %s: %s%s\n", a.step.c_str(), run->id.c_str(), outcome.status.c_str(),
              outcome.reason.empty() ? "" : (" (" + outcome.reason + ")").c_str());
  return outcome.ok() ? 0 : 1;
}

}  // namespace

void AddStepCommands(CLI::App& app) {
  auto* step = app.add_subcommand("step", "The step entrypoint that every backend runs");
  step->require_subcommand(1);
  auto a = std::make_shared<StepArgs>();
  auto* run = step->add_subcommand("run", "Run one step of a run: resolve inputs, check the cache, run, store outputs, record");
  run->add_option("--snapshot", a->snapshot, "Snapshot: a file path or sha256:HASH")->required();
  run->add_option("--step", a->step, "Step name")->required();
  run->add_option("--run", a->run, "Run id")->required();
  run->add_option("--attempt", a->attempt, "Attempt number (default: the next one)");
  run->add_flag("--no-cache", a->no_cache, "Do not reuse earlier results");
  run->callback([a] { SetAction([a] { return DoStepRun(*a); }); });
}

}  // namespace baton::cli
