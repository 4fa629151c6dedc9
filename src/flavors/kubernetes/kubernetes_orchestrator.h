#pragma once
// The `kubernetes` orchestrator flavor: every step attempt of a run is one batch/v1 Job in a
// Kubernetes cluster, created through the API server's REST API (KubeClient).
//
// Each Job's pod runs the step entrypoint from the pipeline's image (ImageBuilder, pushed to the
// stack's container registry), so the step records itself into the stores the pods reach
// (PostgreSQL or a baton server, and S3). The common DAG driver starts steps upstream-first, up
// to max_parallelism at once, and retries failed attempts as new Jobs (backoffLimit 0: attempts
// are baton's and recorded). The driver learns how attempts end from two informers (a list and
// a watch of the run's Jobs and pods): the entrypoint's result comes back as the container's
// termination message, and Kubernetes' own reasons (Unschedulable, image pull errors, bad
// config, OOMKilled, Evicted, DeadlineExceeded) become the attempt's failure reason, the ones
// that keep a pod from starting after `startup_timeout`, so that no run waits forever.
//
// A run's objects hang off one ConfigMap (baton-RUN, with the run's name and snapshot) by owner
// references: the Secret that carries the run's environment to the pods (values never appear in
// a manifest) and every Job, so that deleting that ConfigMap deletes the whole run.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/flavor.h"
#include "baton/orchestrator.h"
#include "flavors/common/dag_driver.h"
#include "flavors/common/image_builder.h"
#include "flavors/kubernetes/kube_client.h"

namespace baton {

// The flavor's description, config schema and factory.
FlavorInfo KubernetesFlavor();

// The manifests of a run, as Compile writes them and Submit sends them.
struct KubeRunNames {
  std::string ns;
  std::string prefix;     // job_name_prefix
  std::string owner;      // the run's ConfigMap
  std::string secret;     // the run's Secret
  std::string run_label;  // the value of the baton.dev/run label
};
KubeRunNames RunNames(const SubmitRequest& req, const nlohmann::json& config, const std::string& ns);
// The Job of attempt `attempt` of `job`, running `argv` (the entrypoint, as the image runs it)
// from `image`. `config`: the flavor's keys, the step's own settings merged over them.
// `owner`: the run's ConfigMap (kind, name, uid) or null.
nlohmann::json JobManifest(const SubmitRequest& req, const StepJob& job, int attempt, const std::vector<std::string>& argv,
                           const std::string& image, const nlohmann::json& config, const KubeRunNames& names,
                           const nlohmann::json& owner);
// The Job's name for an attempt (at most 52 characters, so that its pods' names fit).
std::string JobName(const KubeRunNames& names, const std::string& run_id, const std::string& step, int attempt);

class KubernetesOrchestrator : public Orchestrator {
 public:
  // `config`: the flavor's keys with defaults, secrets resolved; an optional "registry" object
  // holds the stack's container registry component config. Reaching the cluster waits for Submit.
  static Result<std::unique_ptr<KubernetesOrchestrator>> Create(const nlohmann::json& config);

  Status Compile(const SubmitRequest& req, const std::string& out_dir) override;
  Status Submit(const SubmitRequest& req) override;
  Status Stop(const std::string& run_id) override;
  // Deletes what a dead baton left of a run: its Jobs (and so their pods) and its Secret. The
  // ConfigMap stays, as the run's record in the cluster.
  Result<std::string> Cleanup(const std::string& run_id) override;
  Result<std::vector<BuiltImage>> BuildImages(const SubmitRequest& req) override;

 private:
  explicit KubernetesOrchestrator(nlohmann::json config);
  Result<KubeClient*> Client();
  std::string Namespace(KubeClient* client) const;
  // The image every step runs from (by step name), built and pushed where needed.
  Status ResolveImages(const SubmitRequest& req, std::map<std::string, std::string>* images);

  nlohmann::json config_;
  ImageBuilder builder_;
  RunningDrivers running_;
  std::mutex mu_;
  std::unique_ptr<KubeClient> client_;
};

}  // namespace baton
