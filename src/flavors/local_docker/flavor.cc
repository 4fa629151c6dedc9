// The local_docker flavor: its description, config schema and factory.

#include "core/spec.h"
#include "flavors/local_docker/local_docker_orchestrator.h"

namespace baton {

FlavorInfo LocalDockerFlavor() {
  FlavorInfo f;
  f.type = ComponentType::kOrchestrator;
  f.name = "local_docker";
  f.summary = "Runs every step in its own container on this machine (podman or docker), in parallel, with resource limits";
  f.schema = {
      {"engine", "string", false, "auto", "container CLI: auto (podman, else docker), podman or docker", false, true,
       [](const Json& v) -> std::string {
         const std::string s = v.get<std::string>();
         return s == "auto" || s == "podman" || s == "docker" ? "" : "must be auto, podman or docker";
       }},
      {"parent_image", "string", false, "localhost/baton-base:busybox",
       "image the pipeline image is built on (a step's image: setting overrides it)", false, false, nullptr},
      {"reuse_containers", "bool", false, false,
       "warm mode: one long-lived container per image and run; steps run in it with exec", false, true, nullptr},
      {"jobs", "int", false, 0, "steps run at once by default (0: one per core); -j overrides", false, true, nullptr},
      {"network", "string", false, "host", "container network: host, none, bridge or a network's name", false, false,
       nullptr},
      {"pass_env", "list", false, Json::array(),
       "names of environment variables (e.g. secrets) passed into the containers; values never appear on command lines",
       false, false, [](const Json& v) -> std::string {
         for (const auto& e : v)
           if (!IsEnvReference("{{env." + e.get<std::string>() + "}}")) return "must hold variable names";
         return "";
       }},
      {"mounts", "list", false, Json::array(), "more host paths bind-mounted at the same path (e.g. a data directory)",
       false, false, [](const Json& v) -> std::string {
         for (const auto& e : v)
           if (e.get<std::string>().empty() || e.get<std::string>()[0] != '/') return "must hold absolute paths";
         return "";
       }},
      {"stop_timeout", "duration", false, "10s", "time a stopped container gets before it is killed", false, false,
       nullptr},
      {"container_registry", "string", false, nullptr,
       "a container_registry component: images are pushed to it after the build and run by digest", false, true,
       nullptr},
  };
  f.make_orchestrator = [](const Json& config) -> Result<std::unique_ptr<Orchestrator>> {
    BATON_ASSIGN_OR_RETURN(auto o, LocalDockerOrchestrator::Create(config));
    return std::unique_ptr<Orchestrator>(std::move(o));
  };
  return f;
}

}  // namespace baton
