// baton init, baton run.

#include <unistd.h>

#include "app/run_pipeline.h"
#include "cli/cli.h"
#include "cli/progress.h"
#include "core/spec_parser.h"
#include "platform/fs.h"

namespace baton::cli {

void AddInitCommand(CLI::App& app) {
  auto dir = std::make_shared<std::string>(".");
  auto* cmd = app.add_subcommand("init", "Create a baton workspace (.baton/) in a directory");
  cmd->add_option("dir", *dir, "Directory (default: the current one)");
  cmd->callback([dir] {
    SetAction([dir]() -> int {
      if (!fs::IsDir(*dir)) return Fail(InvalidArgument(*dir + " is not a directory"));
      auto abs = fs::Absolute(*dir);
      if (!abs.ok()) return Fail(abs.status());
      bool existed = fs::IsDir(*abs + "/.baton");
      auto ws = InitWorkspace(*abs);
      if (!ws.ok()) return Fail(ws.status());
      std::printf("%s baton workspace in %s\n", existed ? "Reinitialized existing" : "Initialized", ws->dir.c_str());
      return 0;
    });
  });
}

namespace {

struct RunArgs {
  std::string pipeline;
  std::vector<std::string> params;
  int jobs = 0;
  bool no_cache = false;
  bool explain = false;
  bool dry_run = false;
  bool quiet = false;
  std::string failure_mode;
  std::string timeout;
  std::string output = "table";
};

void PrintPlan(const PipelineSpec& spec, const Capacity& cap, int jobs) {
  Plan plan(spec, cap);
  std::printf("pipeline %s: %zu steps, -j %d\n", spec.name.c_str(), spec.steps.size(), jobs);
  // Levels: a step's level is one more than the deepest step it waits for.
  std::vector<int> level(spec.steps.size(), 0);
  std::vector<int> order(spec.steps.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  bool changed = true;
  while (changed) {
    changed = false;
    for (size_t i = 0; i < spec.steps.size(); ++i)
      for (int d : plan.dependencies(static_cast<int>(i)))
        if (level[i] < level[d] + 1) level[i] = level[d] + 1, changed = true;
  }
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return level[a] != level[b] ? level[a] < level[b] : plan.priority(a) > plan.priority(b);
  });
  Table t({"LEVEL", "STEP", "WAITS FOR", "RESOURCES", "COMMAND"});
  for (int i : order) {
    const StepSpec& s = spec.steps[i];
    std::string deps;
    for (int d : plan.dependencies(i)) deps += (deps.empty() ? "" : ",") + spec.steps[d].name;
    Resources r = spec.EffectiveSettings(s).resources();
    char res[64];
    std::snprintf(res, sizeof res, "cpu=%g", r.cpu);
    std::string rs = res;
    if (r.memory) rs += " mem=" + FormatMemory(r.memory);
    if (r.gpu) rs += " gpu=" + std::to_string(r.gpu);
    for (const auto& [p, n] : r.pools) rs += " " + p + "=" + std::to_string(n);
    std::string cmd = s.shell ? s.run[0] : "";
    if (!s.shell)
      for (const auto& a : s.run) cmd += (cmd.empty() ? "" : " ") + a;
    if (cmd.size() > 60) cmd = cmd.substr(0, 57) + "...";
    t.Add({std::to_string(level[i]), s.name, deps.empty() ? "-" : deps, rs, cmd});
  }
  t.Print();
}

int DoRun(const RunArgs& a) {
  // Everything about the input is checked before anything is written.
  auto spec = ParsePipelineFile(a.pipeline);
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", spec.status().message().c_str());
    return 2;
  }
  Status st = ApplyParameterOverrides(&*spec, a.params);
  if (!st.ok()) return Fail(st);
  auto abs = fs::Absolute(a.pipeline);
  if (abs.ok()) spec->file = *abs;
  RunOptions opts;
  opts.jobs = a.jobs > 0 ? a.jobs : DefaultJobs();
  opts.use_cache = !a.no_cache;
  opts.explain = a.explain;
  if (!a.failure_mode.empty()) {
    FailureMode m;
    if (!ParseFailureMode(a.failure_mode, &m)) return Fail(InvalidArgument("--failure-mode must be continue, stop or fail_fast"));
    opts.failure_mode = m;
  }
  if (!a.timeout.empty() && !ParseDuration(a.timeout, &opts.run_timeout_us))
    return Fail(InvalidArgument("--timeout must be a duration such as 30m"));
  if (a.dry_run) {
    Capacity cap = LocalCapacity(opts.jobs);
    cap.pools = spec->pools;
    PrintPlan(*spec, cap, opts.jobs);
    return 0;
  }

  auto root = FindWorkspace(".");
  std::string ws_root;
  if (root.ok()) {
    ws_root = *root;
  } else {
    auto cwd = fs::Absolute(".");
    if (!cwd.ok()) return Fail(cwd.status());
    ws_root = *cwd;
    std::fprintf(stderr, "baton: no workspace found; initialized one in %s/.baton\n", ws_root.c_str());
  }
  auto ws = root.ok() ? OpenWorkspace(ws_root) : InitWorkspace(ws_root);
  if (!ws.ok()) return Fail(ws.status());

  bool json = a.output == "json";
  ProgressDisplay progress(*spec, a.quiet || json, a.explain);
  ExecutionObserver silent;
  std::string run_id;
  if (!json) std::printf("run %s: %zu steps\n", spec->name.c_str(), spec->steps.size()), std::fflush(stdout);
  auto summary = RunPipeline(*ws, *spec, opts, json ? &silent : static_cast<ExecutionObserver*>(&progress), &run_id);
  if (!summary.ok()) return Fail(summary.status());
  return ReportRun(run_id, *summary, json);
}

}  // namespace

int ReportRun(const std::string& run_id, const RunSummary& s, bool json) {
  const RunSummary* summary = &s;
  if (json) {
    PrintJson({{"run", run_id},
               {"status", summary->status},
               {"reason", summary->reason},
               {"duration_s", summary->duration_us / 1e6},
               {"completed", summary->completed},
               {"cached", summary->cached},
               {"failed", summary->failed},
               {"skipped", summary->skipped},
               {"stopped", summary->stopped}});
  } else {
    std::printf("run %s %s in %s: %d completed, %d cached, %d failed, %d skipped%s%s\n", run_id.c_str(),
                summary->status.c_str(), FormatDuration(summary->duration_us).c_str(), summary->completed,
                summary->cached, summary->failed, summary->skipped,
                summary->stopped ? (", " + std::to_string(summary->stopped) + " stopped").c_str() : "",
                summary->reason.empty() ? "" : (" (" + summary->reason + ")").c_str());
    if (summary->status != "completed")
      std::printf("see: baton runs show %s; baton runs logs %s STEP; resume: baton runs resume %s\n",
                  run_id.c_str(), run_id.c_str(), run_id.c_str());
  }
  return summary->status == "completed" ? 0 : 1;
}

void AddRunCommand(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Run a pipeline on this machine and record everything it does");
  cmd->add_option("pipeline", a->pipeline, "Pipeline file (YAML)")->required();
  cmd->add_option("-p,--param", a->params, "Override a parameter: NAME=VALUE (repeatable)");
  cmd->add_option("-j,--jobs", a->jobs, "Steps to run at once (default: number of cores)")->check(CLI::PositiveNumber);
  cmd->add_flag("--no-cache", a->no_cache, "Run every step, ignoring earlier results");
  cmd->add_flag("--explain", a->explain, "Say for every step why it ran or which run it was cached from");
  cmd->add_flag("--dry-run", a->dry_run, "Print the plan and run nothing");
  cmd->add_flag("-q,--quiet", a->quiet, "Print only failures and the summary");
  cmd->add_option("--failure-mode", a->failure_mode, "continue | stop | fail_fast (default: the pipeline's)");
  cmd->add_option("--timeout", a->timeout, "Stop the run after this long (e.g. 2h)");
  AddOutputOption(cmd, &a->output);
  cmd->callback([a] { SetAction([a] { return DoRun(*a); }); });
}

}  // namespace baton::cli
