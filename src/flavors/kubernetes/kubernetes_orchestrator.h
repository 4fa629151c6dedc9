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
  // --detach: the run's ConfigMap and Secret, and a driver Job owned by the ConfigMap whose pod
  // runs `driver` (baton's run driver) from the first step's image, with the service account
  // `service_account`. Kubernetes restarts a failed driver pod (driver_restarts times); each
  // new one takes the run over from the store.
  Result<std::string> Detach(const SubmitRequest& req, const std::vector<std::string>& driver) override;
  // A detached run: failed when its driver Job failed for good, ended without recording the
  // run's end, is gone, or its pod could not start within startup_timeout.
  RunState State(const std::string& run_id) override;
  // Schedules as CronJobs (PREFIX-sched-NAME) whose Jobs are driver Jobs, and a Secret of the
  // pass_env values owned by the CronJob.
  Status ApplySchedule(const SubmitRequest& req, const BackendSchedule& s, const std::vector<std::string>& driver) override;
  Status PauseSchedule(const std::string& name, bool paused) override;
  Status DeleteSchedule(const std::string& name) override;

 private:
  explicit KubernetesOrchestrator(nlohmann::json config);
  Result<KubeClient*> Client();
  std::string Namespace(KubeClient* client) const;
  // The image every step runs from (by step name), built and pushed where needed.
  Status ResolveImages(const SubmitRequest& req, std::map<std::string, std::string>* images);
  // Creates (or finds) the run's ConfigMap and Secret; returns the owner reference to the ConfigMap.
  Result<nlohmann::json> CreateRunObjects(KubeClient* client, const SubmitRequest& req, const KubeRunNames& names);
  // What Submit and Detach start from: the client, the run's names, its images (built and
  // pushed where needed) and its objects.
  struct RunSetup {
    KubeClient* client = nullptr;
    KubeRunNames names;
    std::map<std::string, std::string> images;  // by step
    nlohmann::json owner_ref;
  };
  Result<RunSetup> SetUpRun(const SubmitRequest& req);

  nlohmann::json config_;
  ImageBuilder builder_;
  RunningDrivers running_;
  std::mutex mu_;
  std::unique_ptr<KubeClient> client_;
};

}  // namespace baton
