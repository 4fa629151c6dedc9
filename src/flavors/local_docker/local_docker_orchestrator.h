#pragma once
// The `local_docker` orchestrator flavor: every step attempt of a run in its own container on
// this machine, driven through the podman or docker command line.
//
// Each container runs the step entrypoint from an image the ImageBuilder makes (the baton binary
// or a C++ pipeline binary with the libraries it needs, and the pipeline's code, on top of a
// parent image). The stores and logs the entrypoint uses (SubmitRequest::shared_paths) are
// bind-mounted at their own paths, so the entrypoint records the step exactly as it does for
// local runs. The common DAG driver starts steps upstream-first, up to -j at once and within
// the machine's memory, and retries failed attempts in new containers; `resources` become
// --cpus, --memory (without swap) and GPU devices (ContainerBackend).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "baton/flavor.h"
#include "baton/orchestrator.h"
#include "flavors/common/dag_driver.h"
#include "flavors/common/image_builder.h"

namespace baton {

// The flavor's description, config schema and factory.
FlavorInfo LocalDockerFlavor();

class LocalDockerOrchestrator : public Orchestrator {
 public:
  // `config`: the flavor's keys with defaults, secrets resolved; an optional "registry" object
  // holds the stack's container registry component config (uri, tls_verify, username, password).
  // Without the engine installed, Compile works and building or running says what is missing.
  static Result<std::unique_ptr<LocalDockerOrchestrator>> Create(const nlohmann::json& config);

  Status Compile(const SubmitRequest& req, const std::string& out_dir) override;
  Status Submit(const SubmitRequest& req) override;
  Status Stop(const std::string& run_id) override;
  // Removes the containers a run left behind (label baton.run=RUN_ID).
  Result<std::string> Cleanup(const std::string& run_id) override;
  // One image per distinct parent image of the request's steps.
  Result<std::vector<BuiltImage>> BuildImages(const SubmitRequest& req) override;

  const std::string& engine() const { return engine_; }

 private:
  LocalDockerOrchestrator(nlohmann::json config, std::string engine)
      : config_(std::move(config)), engine_(std::move(engine)),
        builder_(engine_, config_.value("registry", nlohmann::json::object())) {}

  // The image every step runs from, or why it cannot run.
  void ResolveImages(const SubmitRequest& req, std::map<std::string, std::string>* images,
                     std::map<std::string, std::string>* unrunnable);

  nlohmann::json config_;
  std::string engine_;          // the CLI: podman or docker
  std::string missing_engine_;  // why the engine cannot be used, or ""
  ImageBuilder builder_;
  RunningDrivers running_;
};

}  // namespace baton
