// baton schedule: pipelines that `baton server` runs on cron schedules.
//   schedule create PIPELINE --cron EXPR [--name N] [--tz ZONE] [--stack S] [-c run.yaml]
//                   [--catchup none|latest|all] [--overlap skip|queue|allow]
//   schedule list | show NAME | update NAME [...] | pause NAME | resume NAME | delete NAME
// The records live in the metadata store; a server on that store (started in a workspace that
// records into it) fires them.

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "app/compile.h"
#include "app/orchestrated_run.h"
#include "app/record_json.h"
#include "app/schedules.h"
#include "app/workspace.h"
#include "baton/format.h"
#include "cli/cli.h"
#include "core/spec_parser.h"
#include "platform/env_posix.h"
#include "platform/fs.h"

namespace baton::cli {
namespace {

struct ScheduleArgs {
  std::string name, pipeline, cron, tz, stack, config, catchup, overlap;
  std::string output = "table";
};

// The pipeline file as the server's workspace will find it: relative to the workspace root when
// inside it, else absolute.
Result<std::string> WorkspacePath(const Workspace& ws, const std::string& file) {
  BATON_ASSIGN_OR_RETURN(std::string abs, fs::Absolute(file));
  if (abs.rfind(ws.root + "/", 0) == 0) return abs.substr(ws.root.size() + 1);
  return abs;
}

// Applies the flags given to `s`.
Status Apply(const ScheduleArgs& a, const Workspace& ws, ScheduleRecord* s) {
  if (!a.pipeline.empty()) {
    BATON_ASSIGN_OR_RETURN(s->pipeline_file, WorkspacePath(ws, a.pipeline));
  }
  if (!a.cron.empty()) s->cron = a.cron;
  if (!a.tz.empty()) s->time_zone = a.tz;
  if (!a.stack.empty()) {
    BATON_RETURN_IF_ERROR(ws.meta->GetStack(a.stack).status());
    s->stack = a.stack;
  }
  if (!a.config.empty()) {
    BATON_ASSIGN_OR_RETURN(s->run_config, WorkspacePath(ws, a.config));
  }
  if (!a.catchup.empty()) s->catchup = a.catchup;
  if (!a.overlap.empty()) s->overlap = a.overlap;
  return CheckSchedule(*s, ws.root);
}

// A file a schedule names, as this process finds it.
std::string InWorkspace(const Workspace& ws, const std::string& file) {
  return file.empty() || file[0] == '/' ? file : ws.root + "/" + file;
}

// Whether the orchestrator of schedule `s`'s stack fires it (a Kubernetes CronJob) rather than
// a baton server; such a schedule is bound to the stack it was made on.
Result<bool> KeptByBackend(Workspace& ws, ScheduleRecord* s) {
  BATON_ASSIGN_OR_RETURN(bool kept, BackendKeepsSchedules(*ws.meta, s->stack));
  if (kept && s->stack.empty()) {
    BATON_ASSIGN_OR_RETURN(s->stack, ActiveStack(*ws.meta));
  }
  return kept;
}

// Whether recorded schedule `s` is kept by its stack's orchestrator: such a schedule always
// names its stack (KeptByBackend), so one on the active stack is a server's.
Result<bool> KeptNow(Workspace& ws, const ScheduleRecord& s) {
  if (s.stack.empty()) return false;
  return BackendKeepsSchedules(*ws.meta, s.stack);
}

// Creates or replaces the backend's schedule: the pipeline (with its run config) compiled on
// the schedule's stack, its images built now.
Status ApplyToBackend(Workspace& ws, const ScheduleRecord& s) {
  CompileRequest req;
  BATON_ASSIGN_OR_RETURN(req.spec, ParsePipelineFile(*PosixEnv(), InWorkspace(ws, s.pipeline_file)));
  BATON_ASSIGN_OR_RETURN(req.spec.file, fs::Absolute(InWorkspace(ws, s.pipeline_file)));
  if (!s.run_config.empty()) {
    BATON_ASSIGN_OR_RETURN(req.run_config, ParseRunConfigFile(*PosixEnv(), InWorkspace(ws, s.run_config)));
    BATON_RETURN_IF_ERROR(ApplyRunConfig(req.run_config, &req.spec));
  }
  req.stack = s.stack;
  std::vector<Diagnostic> diagnostics;
  auto compiled = CompileRun(*ws.meta, std::move(req), &diagnostics);
  if (!compiled.ok()) {
    std::string why = compiled.status().message();
    for (const auto& d : diagnostics) why += "\n" + d.ToString();
    return Status(compiled.status().code(), why);
  }
  return ApplyBackendSchedule(ws, (*compiled)->spec, (*compiled)->options, s);
}

int Create(const ScheduleArgs& a) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  if (a.cron.empty()) return Fail(InvalidArgument("--cron is required (five fields, or @daily, @hourly...)"));
  ScheduleRecord s;
  s.name = a.name;
  if (s.name.empty()) {
    // The pipeline file's name without its extension.
    std::string base = fs::Basename(a.pipeline);
    if (const size_t dot = base.rfind('.'); dot != std::string::npos && dot > 0) base = base.substr(0, dot);
    s.name = base;
  }
  if (Status st = Apply(a, *ws, &s); !st.ok()) return Fail(st);
  // From now on: times before the schedule existed are not caught up on.
  s.created_at = s.updated_at = s.last_fire = NowMicros();
  auto kept = KeptByBackend(*ws, &s);
  if (!kept.ok()) return Fail(kept.status());
  if (*kept) {
    if (auto taken = ws->meta->GetSchedule(s.name); taken.ok())
      return Fail(AlreadyExists("schedule '" + s.name + "' already exists"));
    if (Status st = ApplyToBackend(*ws, s); !st.ok()) return Fail(st.Annotate("schedule " + s.name));
  }
  if (Status st = ws->meta->CreateSchedule(s); !st.ok()) {
    if (*kept) (void)DeleteBackendSchedule(*ws, s);
    return Fail(st);
  }
  Json j = ScheduleJson(s);
  if (a.output == "json") {
    PrintJson(j);
    return 0;
  }
  std::printf("schedule %s: %s (%s) runs %s; next at %s\n", s.name.c_str(), s.cron.c_str(), s.time_zone.c_str(),
              s.pipeline_file.c_str(), j["next_fire"].is_null() ? "never" : j["next_fire"].get<std::string>().c_str());
  if (*kept)
    std::printf("the orchestrator of stack %s fires it (a Kubernetes CronJob); no baton server is needed\n", s.stack.c_str());
  else
    std::printf("a baton server on this workspace's store fires it (baton server)\n");
  return 0;
}

int List(const std::string& output) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto all = ws->meta->ListSchedules();
  if (!all.ok()) return Fail(all.status());
  Json list = Json::array();
  for (const auto& s : *all) list.push_back(ScheduleJson(s));
  if (output == "json") {
    PrintJson(list);
    return 0;
  }
  Table t({"NAME", "CRON", "TIME ZONE", "PIPELINE", "STATE", "NEXT", "LAST RUN"});
  for (const Json& j : list)
    t.Add({j["name"], j["cron"], j["time_zone"], j["pipeline_file"], j["paused"].get<bool>() ? "paused" : "active",
           j["next_fire"].is_null() ? "-" : j["next_fire"].get<std::string>(),
           j["last_run"].is_null() ? "-" : j["last_run"].get<std::string>()});
  t.Print();
  return 0;
}

// Reads, changes and writes back one schedule.
int Change(const std::string& name, const std::function<Status(Workspace&, ScheduleRecord*)>& change,
           const std::string& done) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto s = ws->meta->GetSchedule(name);
  if (!s.ok()) return Fail(s.status());
  if (Status st = change(*ws, &*s); !st.ok()) return Fail(st.Annotate("schedule " + name));
  s->updated_at = NowMicros();
  if (Status st = ws->meta->UpdateSchedule(*s); !st.ok()) return Fail(st);
  std::printf("schedule %s %s\n", name.c_str(), done.c_str());
  return 0;
}

void AddChangeFlags(CLI::App* cmd, ScheduleArgs* a) {
  cmd->add_option("--cron", a->cron, "Cron expression: five fields (minute hour day month weekday) or @daily, @hourly, ...");
  cmd->add_option("--tz", a->tz, "Time zone of the cron times (Europe/Berlin; default UTC)");
  cmd->add_option("--stack", a->stack, "Stack to run on (default: the active stack at each run)");
  cmd->add_option("-c,--config", a->config, "Run config file for each run");
  cmd->add_option("--catchup", a->catchup, "Times missed while no server ran: none, latest (default) or all");
  cmd->add_option("--overlap", a->overlap, "A time that comes while the last run still runs: skip (default), queue or allow");
}

}  // namespace

void AddScheduleCommands(CLI::App& app) {
  auto* sched = app.add_subcommand("schedule", "Pipelines run on cron schedules (by baton server, or as a Kubernetes CronJob): create, list, update, pause, resume, delete");
  sched->require_subcommand(1);

  auto c = std::make_shared<ScheduleArgs>();
  auto* create = sched->add_subcommand("create", "Schedule a pipeline (a baton server on this store runs it; on a kubernetes stack, a CronJob)");
  create->add_option("pipeline", c->pipeline, "Pipeline file (YAML)")->required();
  create->add_option("--name", c->name, "The schedule's name (default: the pipeline file's name)");
  AddChangeFlags(create, c.get());
  AddOutputOption(create, &c->output);
  create->callback([c] { SetAction([c] { return Create(*c); }); });

  auto lo = std::make_shared<std::string>("table");
  auto* list = sched->add_subcommand("list", "List schedules with their next time and last run");
  AddOutputOption(list, lo.get());
  list->callback([lo] { SetAction([lo] { return List(*lo); }); });

  auto u = std::make_shared<ScheduleArgs>();
  auto* update = sched->add_subcommand("update", "Change a schedule's cron, time zone, stack, run config or policies");
  update->add_option("name", u->name, "Schedule name")->required();
  update->add_option("--pipeline", u->pipeline, "Pipeline file (YAML)");
  AddChangeFlags(update, u.get());
  update->callback([u] {
    SetAction([u] {
      return Change(u->name, [u](Workspace& ws, ScheduleRecord* s) -> Status {
        const ScheduleRecord before = *s;
        BATON_ASSIGN_OR_RETURN(bool was_kept, KeptNow(ws, before));
        BATON_RETURN_IF_ERROR(Apply(*u, ws, s));
        BATON_ASSIGN_OR_RETURN(bool kept, KeptByBackend(ws, s));
        // Moved to a stack whose orchestrator keeps no schedules: a server fires it from now.
        if (was_kept && (!kept || s->stack != before.stack)) BATON_RETURN_IF_ERROR(DeleteBackendSchedule(ws, before));
        if (kept) BATON_RETURN_IF_ERROR(ApplyToBackend(ws, *s));
        return Status::Ok();
      }, "updated");
    });
  });

  for (const bool pause : {true, false}) {
    auto name = std::make_shared<std::string>();
    auto* cmd = sched->add_subcommand(pause ? "pause" : "resume",
                                      pause ? "Stop firing a schedule until it is resumed"
                                            : "Fire a paused schedule again (from now: the times it was paused are not caught up on)");
    cmd->add_option("name", *name, "Schedule name")->required();
    cmd->callback([name, pause] {
      SetAction([name, pause] {
        return Change(*name, [pause](Workspace& ws, ScheduleRecord* s) -> Status {
          s->paused = pause;
          BATON_ASSIGN_OR_RETURN(bool kept, KeptNow(ws, *s));
          if (kept) BATON_RETURN_IF_ERROR(PauseBackendSchedule(ws, *s, pause));
          if (pause) return Status::Ok();
          // While still paused, its times so far count as handled: they are not caught up on.
          BATON_ASSIGN_OR_RETURN(bool moved, ws.meta->AdvanceSchedule(s->name, s->last_fire, NowMicros(), ""));
          (void)moved;  // else a server moved it meanwhile: also handled
          return Status::Ok();
        }, pause ? "paused" : "resumed");
      });
    });
  }

  auto d = std::make_shared<std::string>();
  auto* del = sched->add_subcommand("delete", "Delete a schedule (its runs stay)");
  del->add_option("name", *d, "Schedule name")->required();
  del->callback([d] {
    SetAction([d] {
      auto ws = OpenCurrentWorkspace();
      if (!ws.ok()) return Fail(ws.status());
      auto s = ws->meta->GetSchedule(*d);
      if (!s.ok()) return Fail(s.status());
      // Its CronJob first: a schedule left in the cluster would go on firing unseen.
      auto kept = KeptNow(*ws, *s);
      if (!kept.ok()) return Fail(kept.status());
      if (*kept) {
        if (Status st = DeleteBackendSchedule(*ws, *s); !st.ok()) return Fail(st.Annotate("schedule " + *d));
      }
      if (Status st = ws->meta->DeleteSchedule(*d); !st.ok()) return Fail(st);
      std::printf("schedule %s deleted\n", d->c_str());
      return 0;
    });
  });
}

}  // namespace baton::cli
