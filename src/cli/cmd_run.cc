// baton init, baton run.


#include <map>
#include <optional>
#include <set>

#include "app/compile.h"
#include "app/orchestrated_run.h"
#include "app/run_pipeline.h"
#include "baton/json_text.h"
#include "cli/cli.h"
#include "cli/progress.h"
#include "core/spec_parser.h"
#include "platform/env_posix.h"
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
  std::string config;
  std::string stack;
  std::string out_dir;  // compile
  std::vector<std::string> params;
  int jobs = 0;
  bool no_cache = false;
  bool detach = false;
  std::vector<std::string> tags;
  std::string note;
  std::string run_name;
  std::string schedule;
  bool explain = false;
  bool dry_run = false;
  bool quiet = false;
  std::string failure_mode;
  std::string timeout;
  std::string output = "table";
};

// The plan of a dry run: levels (one more than the deepest step waited for), dependencies,
// resources and commands, as a table or as JSON.
void PrintPlan(const PipelineSpec& spec, const Capacity& cap, int jobs, bool json) {
  Plan plan(spec, cap);
  const std::vector<int> level = plan.Levels();
  std::vector<int> order(spec.steps.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return level[a] != level[b] ? level[a] < level[b] : plan.priority(a) > plan.priority(b);
  });
  // Only what is printed is built: a million-step plan is a table or a JSON document, not both.
  Json steps = Json::array();
  std::optional<Table> t;
  if (!json) t.emplace(std::vector<std::string>{"LEVEL", "STEP", "WAITS FOR", "RESOURCES", "COMMAND"});
  std::map<std::string, int> instances;  // matrix steps: how many instances each has
  if (!json)
    for (const auto& s : spec.steps)
      if (!s.group.empty()) ++instances[s.group];
  for (int i : order) {
    const StepSpec& s = spec.steps[i];
    Resources r = spec.EffectiveResources(s);
    std::string cmd = s.shell ? s.run[0] : "";
    if (!s.shell)
      for (const auto& a : s.run) cmd += (cmd.empty() ? "" : " ") + a;
    if (json) {
      Json deps = Json::array();
      for (int d : plan.dependencies(i)) deps.push_back(spec.steps[d].name);
      Json pools = Json::object();
      for (const auto& [p, n] : r.pools) pools[p] = n;
      steps.push_back({{"step", s.name},
                       {"level", level[i]},
                       {"waits_for", std::move(deps)},
                       {"resources", {{"cpu", r.cpu}, {"memory", r.memory}, {"gpu", r.gpu}, {"pools", std::move(pools)}}},
                       {"command", std::move(cmd)}});
      continue;
    }
    // Every instance of a matrix step is written STEP[*].
    std::string dep_text;
    std::map<std::string, int> waited;
    for (int d : plan.dependencies(i))
      if (!spec.steps[d].group.empty()) ++waited[spec.steps[d].group];
    std::set<std::string> shown;
    for (int d : plan.dependencies(i)) {
      const std::string& g = spec.steps[d].group;
      const bool all = !g.empty() && waited[g] == instances[g] && waited[g] > 1;
      if (all && !shown.insert(g).second) continue;
      if (!dep_text.empty()) dep_text += ',';
      dep_text += all ? g + "[*]" : spec.steps[d].name;
    }
    char res[64];
    std::snprintf(res, sizeof res, "cpu=%g", r.cpu);
    std::string rs = res;
    if (r.memory) rs += " mem=" + FormatMemory(r.memory);
    if (r.gpu) rs += " gpu=" + std::to_string(r.gpu);
    for (const auto& [p, n] : r.pools) rs += " " + p + "=" + std::to_string(n);
    // One line a step in the table: a multi-line command shows its first line.
    bool cut = false;
    if (size_t nl = cmd.find('\n'); nl != std::string::npos) cmd.resize(nl), cut = true;
    if (cmd.size() > 60) cmd.resize(57), cut = true;
    if (cut) cmd += "...";
    t->Add({std::to_string(level[i]), s.name, dep_text.empty() ? "-" : std::move(dep_text), std::move(rs),
            std::move(cmd)});
  }
  if (json) {
    PrintJson({{"pipeline", spec.name}, {"jobs", jobs}, {"steps", std::move(steps)}});
    return;
  }
  std::printf("pipeline %s: %s, -j %d\n", spec.name.c_str(), Count(spec.steps.size(), "step").c_str(), jobs);
  t->Print();
}

// Everything a run or a compile needs, checked before anything is written.
struct Prepared {
  std::unique_ptr<CompiledRun> run;
  std::optional<Workspace> ws;
};

// Returns 0 when prepared, else the exit code (after printing why).
// The pipeline file given, or the C++ pipeline compiled into this binary.
Result<PipelineSpec> LoadPipeline(const std::string& path) {
  if (path.empty()) {
    if (const PipelineSpec* e = EmbeddedPipeline()) return *e;
    return InvalidArgument("a pipeline file is required");
  }
  return ParsePipelineFile(*PosixEnv(), path);
}

}  // namespace

int BadInput(const Status& st) {
  const std::string& m = st.message();
  if (m.find(": error: ") != std::string::npos)
    std::fprintf(stderr, "%s\n", m.c_str());
  else
    std::fprintf(stderr, "baton: error: %s\n", m.c_str());
  return 2;
}

namespace {

// The pipeline with its run config and -p overrides applied. Returns 0, or the exit code after
// printing the diagnostics.
int LoadSpec(const RunArgs& a, PipelineSpec* spec, RunConfig* rc) {
  auto parsed = LoadPipeline(a.pipeline);
  if (!parsed.ok()) return BadInput(parsed.status());
  *spec = std::move(*parsed);
  if (!a.config.empty()) {
    auto c = ParseRunConfigFile(*PosixEnv(), a.config);
    Status st = c.ok() ? ApplyRunConfig(*c, spec) : c.status();
    if (!st.ok()) return BadInput(st);
    *rc = std::move(*c);
  }
  Status st = ApplyParameterOverrides(spec, a.params);
  return st.ok() ? 0 : BadInput(st);
}

// Prints what a compile found wrong: diagnostics alone (file:line:column), else the error.
int CompileFailed(const Status& st, const std::vector<Diagnostic>& diagnostics) {
  if (diagnostics.empty()) return Fail(st);
  for (const auto& d : diagnostics) std::fprintf(stderr, "%s\n", d.ToString().c_str());
  return 2;
}

// The workspace at or above the current directory; with `create`, one is initialised in the
// current directory when there is none (after the checks that need no workspace).
int FindOrCreateWorkspace(const CompileRequest& req, bool create, std::optional<Workspace>* ws) {
  auto root = FindWorkspace(".");
  if (root.ok()) {
    auto opened = OpenWorkspace(*root);
    if (!opened.ok()) return Fail(opened.status());
    ws->emplace(std::move(*opened));
    return 0;
  }
  if (!create) return Fail(root.status());
  std::vector<Diagnostic> diagnostics;
  Status st = CheckBeforeWorkspace(req.spec, !req.stack.empty() ? req.stack : req.run_config.stack, &diagnostics);
  if (!st.ok()) return CompileFailed(st, diagnostics);
  auto cwd = fs::Absolute(".");
  if (!cwd.ok()) return Fail(cwd.status());
  std::fprintf(stderr, "baton: no workspace found; initialized one in %s/.baton\n", cwd->c_str());
  auto created = InitWorkspace(*cwd);
  if (!created.ok()) return Fail(created.status());
  ws->emplace(std::move(*created));
  return 0;
}

int Prepare(const RunArgs& a, bool create_workspace, Prepared* p) {
  CompileRequest req;
  if (int code = LoadSpec(a, &req.spec, &req.run_config); code != 0) return code;
  if (!a.pipeline.empty()) {
    auto abs = fs::Absolute(a.pipeline);
    if (abs.ok()) req.spec.file = *abs;
  }
  req.stack = a.stack;
  RunOptions& opts = req.options;
  opts.jobs = a.jobs;
  opts.use_cache = !a.no_cache;
  opts.detach = a.detach;
  opts.tags = a.tags;
  opts.note = a.note;
  opts.run_name = a.run_name;
  opts.started_by_schedule = a.schedule;
  opts.explain = a.explain;
  if (!a.failure_mode.empty()) {
    FailureMode m;
    if (!ParseFailureMode(a.failure_mode, &m)) return Fail(InvalidArgument("--failure-mode must be continue, stop or fail_fast"));
    opts.failure_mode = m;
  }
  if (!a.timeout.empty() && !ParseDuration(a.timeout, &opts.run_timeout_us))
    return Fail(InvalidArgument("--timeout must be a duration such as 30m"));
  if (int code = FindOrCreateWorkspace(req, create_workspace, &p->ws); code != 0) return code;
  std::vector<Diagnostic> diagnostics;
  auto compiled = CompileRun(*p->ws->meta, std::move(req), &diagnostics);
  if (!compiled.ok()) return CompileFailed(compiled.status(), diagnostics);
  p->run = std::move(*compiled);
  return 0;
}

int DoRun(const RunArgs& a) {
  if (a.dry_run) {
    // The plan only: nothing is opened or written.
    PipelineSpec spec;
    RunConfig rc;
    if (int code = LoadSpec(a, &spec, &rc); code != 0) return code;
    // The stack must exist, as for a real run (a workspace is looked at, not made).
    const std::string stack = !a.stack.empty() ? a.stack : rc.stack;
    std::vector<Diagnostic> diagnostics;
    if (auto root = FindWorkspace("."); root.ok()) {
      auto ws = OpenWorkspace(*root);
      if (!ws.ok()) return Fail(ws.status());
      auto flavors = LoadFlavors(*ws->meta);
      if (!flavors.ok()) return Fail(flavors.status());
      if (auto resolved = ResolveStack(*ws->meta, **flavors, stack); !resolved.ok())
        return Fail(resolved.status());
    } else if (Status st = CheckBeforeWorkspace(spec, stack, &diagnostics); !st.ok()) {
      return CompileFailed(st, diagnostics);
    }
    int jobs = a.jobs > 0 ? a.jobs : DefaultJobs();
    Capacity cap = LocalCapacity(jobs);
    cap.pools = spec.pools;
    PrintPlan(spec, cap, jobs, a.output == "json");
    return 0;
  }
  Prepared p;
  if (int rc = Prepare(a, true, &p); rc != 0) return rc;
  bool json = a.output == "json";
  const CompiledRun& run = *p.run;
  ProgressDisplay progress(run.spec, a.quiet || json, a.explain);
  ExecutionObserver silent;
  std::string run_id;
  if (!json) {
    std::string where = run.stack.stack.name == "default" ? "" : " on stack " + run.stack.stack.name;
    std::printf("run %s: %s%s\n", run.spec.name.c_str(), Count(run.spec.steps.size(), "step").c_str(), where.c_str());
    std::fflush(stdout);
  }
  RunOptions opts = run.options;
  opts.on_stop_signal = [&progress](int signal, int count) { progress.OnStopSignal(signal, count); };
  auto summary = RunPipeline(*p.ws, run.spec, opts, json || a.detach ? &silent : static_cast<ExecutionObserver*>(&progress),
                             &run_id);
  progress.Finish();
  if (!summary.ok()) return Fail(summary.status());
  if (a.detach) {
    if (json) {
      PrintJson({{"run", run_id}, {"status", ToString(summary->status)}, {"reason", summary->reason}});
    } else {
      std::printf("run %s: %s; this machine may go away now\n", run_id.c_str(), summary->reason.c_str());
      std::printf("follow it: baton runs show %s; baton runs logs %s STEP; stop it: baton runs stop %s\n", run_id.c_str(),
                  run_id.c_str(), run_id.c_str());
    }
    return 0;
  }
  return ReportRun(run_id, *summary, json);
}

int DoBuild(const RunArgs& a) {
  Prepared p;
  if (int rc = Prepare(a, false, &p); rc != 0) return rc;
  auto images = BuildPipelineImages(*p.ws, p.run->spec, p.run->options);
  if (!images.ok()) return Fail(images.status());
  if (a.output == "json") {
    Json out = Json::array();
    for (const auto& i : *images)
      out.push_back({{"image", i.reference}, {"tag", i.local_tag}, {"built", i.built}, {"pushed", i.pushed}});
    PrintJson(out);
    return 0;
  }
  for (const auto& i : *images) {
    std::printf("%s %s\n", i.built ? "Built" : "Up to date:", i.local_tag.c_str());
    if (i.pushed) std::printf("Pushed %s\n", i.reference.c_str());
  }
  return 0;
}

int DoCompile(const RunArgs& a) {
  Prepared p;
  if (int rc = Prepare(a, false, &p); rc != 0) return rc;
  const CompiledRun& run = *p.run;
  Status st = CompilePipeline(*p.ws, run.spec, run.options, a.out_dir);
  if (!st.ok()) return Fail(st);
  std::printf("Compiled %s for stack %s (orchestrator %s, flavor %s) into %s\n", run.spec.name.c_str(),
              run.stack.stack.name.c_str(), run.stack.orchestrator.name.c_str(), run.stack.orchestrator.flavor.c_str(),
              a.out_dir.c_str());
  auto files = fs::ListDir(a.out_dir);
  if (files.ok())
    for (const auto& f : *files) std::printf("  %s\n", f.c_str());
  return 0;
}

// A commented run config for a pipeline: every parameter with its default, the settings keys,
// every step.
int DoConfigTemplate(const std::string& pipeline) {
  auto spec = LoadPipeline(pipeline);
  if (!spec.ok()) return BadInput(spec.status());
  std::string out = "# Run config for pipeline '" + spec->name + "'. Use: baton run " + pipeline + " -c run.yaml\n";
  out += "# Everything is optional; what a run config sets wins over the pipeline file, and the command\n";
  out += "# line (-p, --no-cache, --failure-mode) wins over the run config.\n\n";
  out += "# run_name: \"" + spec->name + "-{{date}}-{{time}}\"   # {{date}} {{time}} {{random}} {{pipeline.name}} {{params.NAME}}\n";
  out += "# stack: default                    # the stack to run on (default: the active stack)\n";
  out += "# failure_mode: " + std::string(FailureModeName(spec->failure_mode)) + "              # continue | stop | fail_fast\n";
  out += "# schedule: \"0 3 * * *\"              # cron; only for orchestrators that schedule runs\n\n";
  if (spec->parameters.empty()) {
    out += "# parameters: {}                   # the pipeline has no parameters\n";
  } else {
    out += "parameters:\n";
    for (auto it = spec->parameters.begin(); it != spec->parameters.end(); ++it) {
      const char* type = it->is_boolean() ? "bool" : it->is_number_integer() ? "int" : it->is_number() ? "float" : "string";
      out += "  " + it.key() + ": " + DumpJson(it.value()) + "   # " + type + "\n";
    }
  }
  out += "\n# settings apply to every step, over the pipeline's defaults and the steps' own settings:\n";
  out += "# settings:\n";
  out += "#   resources: {cpu: 1, memory: 1Gi, gpu: 0}\n";
  out += "#   retries: {max: 0, delay: 10s, backoff: 2}\n";
  out += "#   timeout: 1h\n";
  out += "#   cache: true\n";
  out += "#   image: python:3.12\n";
  out += "#   env: {NAME: value}\n";
  out += "#   orchestrator:\n";
  out += "#     FLAVOR: {key: value}          # see 'baton flavor describe FLAVOR'\n\n";
  out += "# steps:\n";
  for (const auto& s : spec->steps) {
    out += "#   " + s.name + ":\n";
    out += "#     cache: true\n";
    out += "#     settings: {}\n";
    auto used = spec->StepParams(s);
    if (!used.empty()) {
      std::string ps;
      for (const auto& n : used) ps += (ps.empty() ? "" : ", ") + n + ": " + DumpJson(spec->parameters[n]);
      out += "#     parameters: {" + ps + "}\n";
    }
  }
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

namespace {

// "run ID completed in 1.20s: 3 completed, 0 cached, 0 failed, 0 skipped": the status and the
// counts that are not zero in their status colour when `color`.
std::string SummaryLine(const std::string& run_id, const RunSummary& s, bool color) {
  auto count = [&](int n, const char* word) {
    std::string text = std::to_string(n) + " " + word;
    return n > 0 ? Paint(text, StatusSgr(word), color) : text;
  };
  const std::string status = ToString(s.status);
  std::string line = "run " + run_id + " " + Paint(status, StatusSgr(status), color) + " in " +
                     FormatDuration(s.duration_us) + ": " + count(s.completed, "completed") + ", " +
                     count(s.cached, "cached") + ", " + count(s.failed, "failed") + ", " +
                     count(s.skipped, "skipped");
  if (s.stopped) line += ", " + count(s.stopped, "stopped");
  if (!s.reason.empty()) line += " (" + s.reason + ")";
  return line;
}

}  // namespace

int ReportRun(const std::string& run_id, const RunSummary& s, bool json) {
  const RunSummary* summary = &s;
  if (json) {
    PrintJson({{"run", run_id},
               {"status", ToString(summary->status)},
               {"reason", summary->reason},
               {"duration_s", summary->duration_us / 1e6},
               {"completed", summary->completed},
               {"cached", summary->cached},
               {"failed", summary->failed},
               {"skipped", summary->skipped},
               {"stopped", summary->stopped}});
  } else {
    std::printf("%s\n", SummaryLine(run_id, *summary, ColorEnabled(1)).c_str());
    if (summary->status != RunStatus::kCompleted)
      std::printf("see: baton runs show %s; baton runs logs %s STEP; resume: baton runs resume %s\n",
                  run_id.c_str(), run_id.c_str(), run_id.c_str());
  }
  return summary->status == RunStatus::kCompleted ? 0 : 1;
}

void AddRunCommand(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Run a pipeline on this machine and record everything it does");
  cmd->add_option("pipeline", a->pipeline, "Pipeline file (YAML); a C++ pipeline binary runs its own");
  cmd->add_option("-p,--param", a->params, "Override a parameter: NAME=VALUE (repeatable)");
  cmd->add_option("-c,--config", a->config, "Run config file (YAML): parameters, settings, steps, schedule, run_name");
  cmd->add_option("--stack", a->stack, "Stack to run on (default: the active stack)");
  cmd->add_option("-j,--jobs", a->jobs, "Steps to run at once (default: number of cores)")->check(CLI::PositiveNumber);
  cmd->add_flag("--no-cache", a->no_cache, "Run every step, ignoring earlier results");
  cmd->add_flag("--detach", a->detach,
                "Hand the run to its orchestrator's backend, where its driver runs (kubernetes: a Job), and return");
  cmd->add_option("--tag", a->tags, "Tag the run (repeatable; runs list --tag finds it)")
      ->check([](const std::string& t) { return CheckTag(t).ok() ? "" : CheckTag(t).message(); });
  cmd->add_option("--note", a->note, "A note recorded with the run");
  cmd->add_option("--run-name", a->run_name, "The run's id, or a template of it ({{date}}, {{time}}, {{random}}, {{params.NAME}}); wins over the run config's run_name");
  cmd->add_option("--schedule", a->schedule, "Record the run as started by this schedule (what baton server passes)");
  cmd->add_flag("--explain", a->explain, "Say for every step why it ran or which run it was cached from");
  cmd->add_flag("--dry-run", a->dry_run, "Print the plan and run nothing");
  cmd->add_flag("-q,--quiet", a->quiet, "Print only failures and the summary");
  cmd->add_option("--failure-mode", a->failure_mode, "continue | stop | fail_fast (default: the pipeline's)");
  cmd->add_option("--timeout", a->timeout, "Stop the run after this long (e.g. 2h)");
  AddOutputOption(cmd, &a->output);
  cmd->callback([a] { SetAction([a] { return DoRun(*a); }); });

  auto c = std::make_shared<RunArgs>();
  auto* compile = app.add_subcommand("compile", "Write the snapshot and what the stack's orchestrator would submit, submitting nothing");
  compile->add_option("pipeline", c->pipeline, "Pipeline file (YAML); a C++ pipeline binary compiles its own");
  compile->add_option("--out", c->out_dir, "Directory to write into")->required();
  compile->add_option("-p,--param", c->params, "Override a parameter: NAME=VALUE (repeatable)");
  compile->add_option("-c,--config", c->config, "Run config file (YAML)");
  compile->add_option("--stack", c->stack, "Stack to compile for (default: the active stack)");
  compile->add_option("-j,--jobs", c->jobs, "Steps to run at once")->check(CLI::PositiveNumber);
  compile->callback([c] { SetAction([c] { return DoCompile(*c); }); });

  auto b = std::make_shared<RunArgs>();
  auto* build = app.add_subcommand("build", "Build the container image a container orchestrator runs the pipeline's steps from");
  build->add_option("pipeline", b->pipeline, "Pipeline file (YAML); a C++ pipeline binary builds its own");
  build->add_option("-c,--config", b->config, "Run config file (YAML)");
  build->add_option("--stack", b->stack, "Stack to build for (default: the active stack)");
  AddOutputOption(build, &b->output);
  build->callback([b] { SetAction([b] { return DoBuild(*b); }); });

  auto* config = app.add_subcommand("config", "Run configs");
  config->require_subcommand(1);
  auto tp = std::make_shared<std::string>();
  auto* tmpl = config->add_subcommand("template", "Print a commented run config template for a pipeline");
  tmpl->add_option("pipeline", *tp, "Pipeline file (YAML); a C++ pipeline binary uses its own");
  tmpl->callback([tp] { SetAction([tp] { return DoConfigTemplate(*tp); }); });
}

}  // namespace baton::cli
