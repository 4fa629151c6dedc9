#include "app/compile.h"

#include "flavors/builtin.h"

namespace baton {
namespace {

Status Diagnosed(std::vector<Diagnostic> found, std::vector<Diagnostic>* out) {
  if (found.empty()) return Status::Ok();
  std::string message;
  for (const auto& d : found) message += (message.empty() ? "" : "\n") + d.ToString();
  *out = std::move(found);
  return InvalidArgument(message);
}

// Secrets are references in the store and the snapshot; they must resolve for this run.
Status CheckSecrets(const Json& stack) {
  for (const char* c : {"orchestrator", "artifact_store"}) {
    auto resolved = ResolveSecrets(stack[c]["config"]);
    if (!resolved.ok())
      return resolved.status().Annotate(std::string(c == std::string("orchestrator") ? "orchestrator '" : "artifact store '") +
                                        stack[c].value("name", std::string()) + "'");
  }
  return Status::Ok();
}

}  // namespace

Status CheckBeforeWorkspace(const PipelineSpec& spec, const std::string& stack, std::vector<Diagnostic>* diagnostics) {
  FlavorRegistry builtins;
  BATON_RETURN_IF_ERROR(RegisterBuiltinFlavors(&builtins));
  BATON_RETURN_IF_ERROR(Diagnosed(CheckFlavorSettings(spec, builtins), diagnostics));
  if (!stack.empty() && stack != "default") return NotFound("no stack named '" + stack + "' (there is no workspace yet)");
  return Status::Ok();
}

Result<std::unique_ptr<CompiledRun>> CompileRun(MetadataStore& meta, CompileRequest req,
                                                std::vector<Diagnostic>* diagnostics) {
  auto run = std::make_unique<CompiledRun>();
  run->spec = std::move(req.spec);
  run->options = std::move(req.options);
  const RunConfig& rc = req.run_config;
  BATON_ASSIGN_OR_RETURN(run->flavors, LoadFlavors(meta));
  BATON_RETURN_IF_ERROR(Diagnosed(CheckFlavorSettings(run->spec, run->flavors->registry), diagnostics));
  BATON_ASSIGN_OR_RETURN(run->stack, ResolveStack(meta, *run->flavors, !req.stack.empty() ? req.stack : rc.stack));
  run->spec.stack = run->stack.ToJson();
  BATON_RETURN_IF_ERROR(CheckSecrets(run->spec.stack));
  RunOptions& opts = run->options;
  opts.flavors = run->flavors.get();
  opts.stack = &run->stack;
  opts.schedule = rc.schedule;
  opts.schedule_name = rc.schedule_name;
  // --run-name wins over the run config's run_name; either is a template.
  const std::string run_name = !opts.run_name.empty() ? opts.run_name : rc.run_name;
  if (!run_name.empty()) opts.run_name = RenderRunName(run_name, run->spec);
  if (!opts.schedule.empty() && run->stack.orchestrator_flavor->in_process)
    return FailedPrecondition(rc.schedule_loc.ToString() + ": the run config has a schedule, but orchestrator '" +
                              run->stack.orchestrator.name + "' (flavor " + run->stack.orchestrator.flavor +
                              ") cannot schedule runs; use a stack whose orchestrator supports schedules, or let baton "
                              "server run it ('baton schedule create')");
  return run;
}

}  // namespace baton
