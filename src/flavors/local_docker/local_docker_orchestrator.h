#pragma once
// The `local_docker` orchestrator flavor: every step of a run in its own container on this
// machine, driven through the podman or docker command line.
//
// Each step's container runs the step entrypoint (`baton step run ...`) from an image that
// BuildImage makes: the baton binary (or a C++ pipeline binary) with the shared libraries it
// needs, and the pipeline's code directory, on top of a parent image, tagged by a hash of all of
// it. The workspace (metadata store and local artifact store) is bind-mounted at its own path, so
// the entrypoint records the step exactly as it does for local runs. Steps run in parallel up to
// -j; `resources` become --cpus, --memory (without swap) and GPU devices. In warm mode
// (`reuse_containers`) one long-lived container per image and run takes the steps' entrypoints
// as job files instead (app/step_queue.h). Every container carries the label baton.run=RUN_ID, so a stop, a time-out
// or the cleanup after a crashed baton removes all of a run's containers.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "baton/flavor.h"
#include "baton/orchestrator.h"

namespace baton {

// The flavor's description, config schema and factory.
FlavorInfo LocalDockerFlavor();

// An image of a pipeline as BuildImage made or found it.
struct PipelineImage {
  std::string reference;   // what `run` uses: a local tag, or REGISTRY/REPO@sha256:... once pushed
  std::string local_tag;   // localhost/baton-PIPELINE:HASH
  bool built = false;      // false: an identical image existed already
  bool pushed = false;
};

// What goes into a pipeline image.
struct ImageSource {
  std::string pipeline;     // the pipeline's name (part of the tag)
  std::string executable;   // the binary whose entrypoint the containers run
  std::string code_dir;     // copied into the image at the same path
  std::string exclude_dir;  // a directory inside code_dir left out (the workspace)
  std::string parent;       // the parent image
};

class LocalDockerOrchestrator : public Orchestrator {
 public:
  // `config`: the flavor's keys with defaults, secrets resolved; an optional "registry" object
  // holds the stack's container registry component config (uri, tls_verify, username, password).
  // Without the engine installed, Compile works and building or running says what is missing.
  static Result<std::unique_ptr<LocalDockerOrchestrator>> Create(const nlohmann::json& config);

  Status Compile(const SubmitRequest& req, const std::string& out_dir) override;
  Status Submit(const SubmitRequest& req) override;
  Status Stop(const std::string& run_id) override;

  // Builds the image for `src`, or finds the identical one built before; pushes it when the
  // stack has a container registry. Thread-compatible.
  Result<PipelineImage> BuildImage(const ImageSource& src);

  const std::string& engine() const { return engine_; }

 private:
  LocalDockerOrchestrator(nlohmann::json config, std::string engine)
      : config_(std::move(config)), engine_(std::move(engine)) {}

  // Makes `image` present locally (pulling it when it is not); errors say it is missing.
  Status EnsureImage(const std::string& image);
  // Removes every container labelled with the run (waiting `grace_s` for a clean stop).
  void RemoveContainers(const std::string& run_id, int grace_s);

  nlohmann::json config_;
  std::string engine_;  // the CLI: podman or docker
  std::string missing_engine_;  // why the engine cannot be used, or ""
  std::mutex mu_;
  std::set<std::string> stopping_;  // runs being stopped
};

// Removes the containers a run left behind (label baton.run=RUN_ID) with whichever engines are
// installed; used when a baton that ran a local_docker run died. Returns how many it removed.
int RemoveRunContainers(const std::string& run_id);

}  // namespace baton
