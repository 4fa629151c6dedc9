// baton step run: the step entrypoint every backend executes.


#include "app/step_entrypoint.h"
#include "platform/job_queue.h"
#include "cli/cli.h"
#include "platform/fs.h"

namespace baton::cli {
namespace {

int DoStepRun(const StepEntrypointOptions& a) {
  auto root = FindWorkspace(".");
  if (!root.ok()) return Fail(root.status());
  auto ws = OpenWorkspace(*root);
  if (!ws.ok()) return Fail(ws.status());
  auto outcome = RunStepEntrypoint(*ws, a);
  if (!outcome.ok()) return Fail(outcome.status());
  // Container orchestrators read this last line to tell a recorded end from a lost entrypoint
  // (local_docker_orchestrator.cc): keep its form.
  std::printf("step %s of run %s: %s%s\n", a.step.c_str(), a.run.c_str(), ToString(outcome->status),
              outcome->reason.empty() ? "" : (" (" + outcome->reason + ")").c_str());
  return outcome->ok() ? 0 : 1;
}

}  // namespace

void AddStepCommands(CLI::App& app) {
  auto* step = app.add_subcommand("step", "The step entrypoint that every backend runs");
  step->require_subcommand(1);
  auto a = std::make_shared<StepEntrypointOptions>();
  auto* run = step->add_subcommand("run", "Run one step of a run: resolve inputs, check the cache, run, store outputs, record");
  run->add_option("--snapshot", a->snapshot, "Snapshot: a file path or sha256:HASH")->required();
  run->add_option("--step", a->step, "Step name")->required();
  run->add_option("--run", a->run, "Run id")->required();
  run->add_option("--attempt", a->attempt, "Run exactly this attempt (default: the next ones, per the retry policy)");
  run->add_flag("--no-cache", a->no_cache, "Do not reuse earlier results");
  run->callback([a] { SetAction([a] { return DoStepRun(*a); }); });
  auto queue = std::make_shared<std::string>();
  auto* serve = step->add_subcommand("serve", "Run the step jobs written into a directory until SIGTERM (a warm container)");
  serve->group("");  // internal: the main process of local_docker's warm containers
  serve->add_option("--queue", *queue, "Directory of step jobs")->required();
  serve->callback([queue] { SetAction([queue] { return ServeStepQueue(*queue); }); });
}

}  // namespace baton::cli
