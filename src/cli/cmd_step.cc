// baton step run: the step entrypoint every backend executes.

#include "app/step_entrypoint.h"
#include "app/workspace.h"
#include "baton/json_text.h"
#include "baton/orchestrator.h"
#include "cli/cli.h"
#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/job_queue.h"
#include "store/registry.h"

namespace baton::cli {
namespace {

// The stores and log directory from the flags, else BATON_METADATA_URI, BATON_ARTIFACTS_URI
// and BATON_LOGS_DIR, else the workspace at or above the current directory (BATON_DIR).
Status ResolveStores(StepEntrypointOptions* a) {
  Env* env = PosixEnv();
  auto from_env = [&](std::string* v, const char* name) {
    if (v->empty()) *v = env->GetEnv(name).value_or("");
  };
  from_env(&a->metadata_uri, "BATON_METADATA_URI");
  from_env(&a->artifacts_uri, "BATON_ARTIFACTS_URI");
  from_env(&a->logs_dir, "BATON_LOGS_DIR");
  if (!a->metadata_uri.empty() && !a->artifacts_uri.empty() && !a->logs_dir.empty()) return Status::Ok();
  auto root = FindWorkspace(".");
  if (!root.ok()) {
    if (a->metadata_uri.empty() || a->artifacts_uri.empty())
      return root.status().Annotate("no --metadata/--artifacts given and no workspace to take them from");
    a->logs_dir = fs::Join(env->GetEnv("TMPDIR").value_or("/tmp"), "baton-logs/" + a->run);
    return Status::Ok();
  }
  // The workspace's own stores; a stack's artifact store is named by --artifacts.
  const std::string baton_dir = DirFor(*root);
  if (a->metadata_uri.empty()) {
    auto uri = WorkspaceMetadataUri(baton_dir);
    if (!uri.ok()) return uri.status();
    a->metadata_uri = *uri;
  }
  a->workspace_root = *root;  // without --artifacts: the store the run's stack names
  if (a->logs_dir.empty()) a->logs_dir = baton_dir + "/logs/" + a->run;
  return Status::Ok();
}

int DoStepRun(StepEntrypointOptions a) {
  if (Status st = ResolveStores(&a); !st.ok()) {
    // Still say why, to the backend that waits for the result.
    if (!a.result_file.empty()) {
      StepResult r;
      r.run_id = a.run;
      r.step = a.step;
      r.attempt = a.attempt;
      r.error = st.message();
      (void)WriteStepResultFile(a.result_file, r);
    }
    return Fail(st);
  }
  auto outcome = RunStepEntrypoint(a);
  if (!outcome.ok()) return Fail(outcome.status());
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
  run->add_option("--metadata", a->metadata_uri,
                  "Metadata store URI, e.g. sqlite:///abs/path/baton.db (default: BATON_METADATA_URI, else the workspace's)");
  run->add_option("--artifacts", a->artifacts_uri,
                  "Artifact store URI, e.g. file:///abs/path (default: BATON_ARTIFACTS_URI, else the workspace's)");
  run->add_option("--logs", a->logs_dir, "The run's log directory (default: BATON_LOGS_DIR, else the workspace's)");
  run->add_option("--attempt", a->attempt, "Run exactly this attempt (default: the next ones, per the retry policy)");
  run->add_flag("--final", a->final_attempt, "With --attempt: no retry follows, so the step's hook runs whatever the outcome");
  run->add_option("--result", a->result_file, "Write how the step ended here, as JSON (read by orchestrators)");
  run->add_flag("--echo-logs", a->echo_logs, "Also write the step's output to stdout (a pod's log)");
  run->add_flag("--no-cache", a->no_cache, "Do not reuse earlier results");
  run->callback([a] { SetAction([a] { return DoStepRun(*a); }); });
  auto queue = std::make_shared<std::string>();
  auto* serve = step->add_subcommand("serve", "Run the step jobs written into a directory until SIGTERM (a warm container)");
  serve->group("");  // internal: the main process of local_docker's warm containers
  serve->add_option("--queue", *queue, "Directory of step jobs")->required();
  serve->callback([queue] { SetAction([queue] { return ServeStepQueue(*queue); }); });
}

}  // namespace baton::cli
