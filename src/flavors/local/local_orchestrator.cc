#include "flavors/local/local_orchestrator.h"

#include "baton/json_text.h"
#include "core/spec.h"

#include "platform/fs.h"

namespace baton {

FlavorInfo LocalFlavor() {
  FlavorInfo local;
  local.type = ComponentType::kOrchestrator;
  local.name = "local";
  local.summary = "Runs steps as processes on this machine, in parallel, within its cores, memory and GPUs";
  local.in_process = true;
  local.schema = {
      {"jobs", "int", false, 0, "steps run at once by default (0: one per core); -j overrides", false, true, nullptr},
      {"kill_grace", "duration", false, "10s", "time between SIGTERM and SIGKILL when a step is stopped or times out",
       false, false, nullptr},
      {"max_log_size", "size", false, "100Mi",
       "most bytes of output a step's log keeps; the rest is dropped and the log says how much", false, true,
       nullptr},
  };
  local.make_orchestrator = [](const Json& config) -> Result<std::unique_ptr<Orchestrator>> {
    return std::unique_ptr<Orchestrator>(new LocalOrchestrator(config));
  };
  return local;
}


Status LocalOrchestrator::Compile(const SubmitRequest& req, const std::string& out_dir) {
  nlohmann::json plan = {{"orchestrator", "local"},
                         {"jobs", req.jobs},
                         {"kill_grace", config_.value("kill_grace", std::string("10s"))},
                         {"workdir", req.workdir},
                         {"steps", nlohmann::json::array()}};
  for (const auto& s : req.steps)
    plan["steps"].push_back({{"name", s.name}, {"upstream", s.upstream}, {"settings", s.settings}});
  return fs::WriteFileAtomic(out_dir + "/local-plan.json", DumpJson(plan, 2) + "\n");
}

Status LocalOrchestrator::Submit(const SubmitRequest&) {
  return FailedPrecondition("the local orchestrator runs in-process; baton drives it directly");
}

Status LocalOrchestrator::Stop(const std::string& run_id) {
  return FailedPrecondition("stop a local run with 'baton runs stop " + run_id + "'");
}

}  // namespace baton
