#include "flavors/local_docker/local_docker_orchestrator.h"

#include <algorithm>

#include "baton/json_text.h"
#include "flavors/local_docker/container_backend.h"
#include "platform/fs.h"
#include "platform/process.h"

namespace baton {
namespace {

using Json = nlohmann::json;

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}


}  // namespace

Result<std::unique_ptr<LocalDockerOrchestrator>> LocalDockerOrchestrator::Create(const Json& config) {
  std::string engine = config.value("engine", std::string("auto"));
  std::string missing;
  if (engine == "auto") {
    if (FindInPath("podman")) engine = "podman";
    else if (FindInPath("docker")) engine = "docker";
    else {
      engine = "podman";
      missing = "the local_docker orchestrator needs podman or docker, and neither is installed "
                "(scripts/setup-podman.sh installs and configures podman)";
    }
  } else if (engine != "podman" && engine != "docker") {
    return InvalidArgument("engine must be auto, podman or docker, not '" + engine + "'");
  } else if (!FindInPath(engine)) {
    missing = "the local_docker orchestrator is configured for " + engine + ", which is not installed";
  }
  // Compile needs no engine; building and running do.
  std::unique_ptr<LocalDockerOrchestrator> o(new LocalDockerOrchestrator(config, engine));
  o->missing_engine_ = missing;
  return o;
}

Status LocalDockerOrchestrator::Compile(const SubmitRequest& req, const std::string& out_dir) {
  const bool warm = config_.value("reuse_containers", false);
  Json plan = {{"orchestrator", "local_docker"},
               {"engine", engine_},
               {"jobs", req.jobs},
               {"reuse_containers", warm},
               {"workdir", req.workdir},
               {"image", "built on submit: localhost/baton-" + Lower(ContainerNamePart(req.pipeline)) +
                             ":CONTENT_HASH on top of each step's parent image"},
               {"steps", Json::array()}};
  std::string script = "#!/bin/sh\n# The containers a local_docker run starts (images are built by 'baton build').\nset -e\n";
  for (const auto& job : req.steps) {
    ContainerPlan p = PlanContainer(job, engine_);
    std::vector<std::string> argv = {engine_, "run", "--rm", "--name",
                                     "baton-" + ContainerNamePart(req.run_id) + "-" + ContainerNamePart(job.name) + "." +
                                         std::to_string(job.attempt),
                                     "--label", "baton.step=" + job.name};
    auto common = CommonContainerOptions(req, job.settings.value("orchestrator", Json::object()), engine_);
    argv.insert(argv.end(), common.begin(), common.end());
    argv.insert(argv.end(), p.options.begin(), p.options.end());
    argv.push_back("IMAGE(" + p.parent + ")");
    const int max_retries = job.settings.value("retries", Json::object()).value("max", 0);
    auto entry = ImageEntrypoint(
        AttemptCommand(job, job.attempt, ResultFile(req.log_dir + "/results", job.name, job.attempt), max_retries == 0));
    argv.insert(argv.end(), entry.begin(), entry.end());
    plan["steps"].push_back({{"name", job.name}, {"upstream", job.upstream}, {"parent_image", p.parent}, {"argv", argv}});
    std::string line;
    for (const auto& a : argv) line += (line.empty() ? "" : " ") + Quote(a);
    script += "# step " + job.name + (job.upstream.empty() ? "" : " (after the steps it waits for)") + "\n" + line + "\n";
  }
  BATON_RETURN_IF_ERROR(fs::WriteFileAtomic(out_dir + "/local-docker-plan.json", DumpJson(plan, 2) + "\n"));
  return fs::WriteFileAtomic(out_dir + "/containers.sh", script);
}

void LocalDockerOrchestrator::ResolveImages(const SubmitRequest& req, std::map<std::string, std::string>* images,
                                            std::map<std::string, std::string>* unrunnable) {
  std::map<std::string, Result<BuiltImage>> built;  // by parent image
  const int host_gpus = static_cast<int>(GpuDevices().size());
  for (const auto& job : req.steps) {
    ContainerPlan plan = PlanContainer(job, engine_);
    if (plan.gpus > 0 && engine_ == "podman" && plan.gpus > host_gpus) {
      (*unrunnable)[job.name] =
          "the step needs " + std::to_string(plan.gpus) + " GPU(s); this machine has " + std::to_string(host_gpus);
      continue;
    }
    auto it = built.find(plan.parent);
    if (it == built.end()) {
      ImageSource src{req.pipeline, EntrypointBinary(req), req.workdir, req.shared_paths, plan.parent};
      it = built.emplace(plan.parent, builder_.Build(src)).first;
      // A pushed image runs by digest: pull it back, as a remote machine would.
      if (it->second.ok() && it->second->pushed) {
        if (Status st = builder_.EnsureImage(it->second->reference); !st.ok()) it->second = st;
      }
    }
    if (it->second.ok()) (*images)[job.name] = it->second->reference;
    else (*unrunnable)[job.name] = it->second.status().message();
  }
}

Status LocalDockerOrchestrator::Submit(const SubmitRequest& req) {
  if (!req.schedule.empty()) return FailedPrecondition("the local_docker orchestrator does not schedule runs");
  if (!missing_engine_.empty()) return FailedPrecondition(missing_engine_);
  std::map<std::string, ContainerPlan> plans;
  for (const auto& job : req.steps) plans[job.name] = PlanContainer(job, engine_);
  std::map<std::string, std::string> images, unrunnable;
  ResolveImages(req, &images, &unrunnable);

  ContainerBackend backend(req, config_, engine_, std::move(plans), std::move(images), std::move(unrunnable));
  DriverOptions options;
  options.max_running = std::max(1, req.jobs);
  DagDriver driver(req, &backend, options);
  Status st;
  {
    auto registered = running_.Register(req.run_id, &driver);
    st = driver.Run();
  }
  backend.Finish();
  return st;
}

Status LocalDockerOrchestrator::Stop(const std::string& run_id) {
  if (!missing_engine_.empty()) return Status::Ok();  // it never started anything
  running_.Stop(run_id);
  return Status::Ok();
}

Result<std::string> LocalDockerOrchestrator::Cleanup(const std::string& run_id) {
  int removed = 0;
  // Whichever engine ran the containers: the config may have named "auto".
  for (const char* engine : {"podman", "docker"})
    if (FindInPath(engine)) removed += RemoveRunContainers(engine, run_id, 0);
  return removed > 0 ? "removed " + std::to_string(removed) + " container(s) it left running" : std::string();
}

Result<std::vector<BuiltImage>> LocalDockerOrchestrator::BuildImages(const SubmitRequest& req) {
  if (!missing_engine_.empty()) return FailedPrecondition(missing_engine_);
  return BuildStepImages(builder_, req, [&](const StepJob& job) { return PlanContainer(job, engine_).parent; });
}

}  // namespace baton
