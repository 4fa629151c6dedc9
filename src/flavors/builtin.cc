// The flavors compiled into baton. Adding an orchestrator flavor: a folder src/flavors/NAME/
// with its factory, implementation and tests, and one line in kOrchestrators below.

#include "flavors/builtin.h"

#include "flavors/kubernetes/kubernetes_orchestrator.h"
#include "flavors/local/local_orchestrator.h"
#include "flavors/local_docker/local_docker_orchestrator.h"
#include "flavors/s3/flavor.h"
#include "flavors/slurm/slurm_orchestrator.h"

namespace baton {
namespace {

using FlavorFn = FlavorInfo (*)();

constexpr FlavorFn kOrchestrators[] = {
    LocalFlavor,
    LocalDockerFlavor,
    SlurmFlavor,
    KubernetesFlavor,
};

FlavorInfo LocalArtifactStoreFlavor() {
  FlavorInfo store;
  store.type = ComponentType::kArtifactStore;
  store.name = "local";
  store.summary = "Content-addressed artifact store in a directory of this machine (or a shared filesystem)";
  store.schema = {
      {"path", "string", false, "", "directory of the store (default: .baton/artifacts of the workspace)", false, true, nullptr},
  };
  store.store_uri = [](const Json& config, const std::string& root) -> Result<std::string> {
    std::string path = config.value("path", std::string());
    if (path.empty()) return std::string();
    return "file://" + (path[0] == '/' ? path : root + "/" + path);
  };

  return store;
}

FlavorInfo DefaultRegistryFlavor() {
  FlavorInfo reg;
  reg.type = ComponentType::kContainerRegistry;
  reg.name = "default";
  reg.summary = "An OCI/Docker registry that container orchestrators push pipeline images to and pull them from by digest";
  reg.schema = {
      {"uri", "string", true, nullptr, "registry host[:port][/namespace], e.g. localhost:5000 or ghcr.io/team", false, true,
       [](const Json& v) -> std::string {
         const std::string s = v.get<std::string>();
         if (s.empty() || s.find("://") != std::string::npos || s.back() == '/' || s.find(' ') != std::string::npos)
           return "must be host[:port][/namespace] without a scheme or trailing slash";
         return "";
       }},
      {"tls_verify", "bool", false, true, "verify the registry's TLS certificate (false for a plain-HTTP registry on localhost)",
       false, true, nullptr},
      {"username", "string", false, nullptr, "user to log in as (with password)", false, true, nullptr},
      {"password", "string", false, nullptr, "password or token, as {{env.NAME}}", true, true, nullptr},
  };
  return reg;
}

}  // namespace

Status RegisterBuiltinFlavors(FlavorRegistry* registry, const std::vector<FlavorInfo>& extra) {
  for (FlavorFn make : kOrchestrators) BATON_RETURN_IF_ERROR(registry->Register(make()));
  BATON_RETURN_IF_ERROR(registry->Register(LocalArtifactStoreFlavor()));
  BATON_RETURN_IF_ERROR(registry->Register(S3ArtifactStoreFlavor()));
  BATON_RETURN_IF_ERROR(registry->Register(DefaultRegistryFlavor()));
  for (const auto& f : extra) BATON_RETURN_IF_ERROR(registry->Register(f));
  return Status::Ok();
}

}  // namespace baton
