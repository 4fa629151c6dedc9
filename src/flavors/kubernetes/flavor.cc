// The kubernetes flavor: its description, config schema and factory.

#include "core/spec.h"
#include "flavors/kubernetes/kubernetes_orchestrator.h"

namespace baton {
namespace {

std::string KubeDurationCheck(const Json& v) {
  int64_t us;
  return ParseDuration(v.get<std::string>(), &us) && us >= 0 ? "" : "must be a duration such as 5m or 30s";
}

std::string StringMapCheck(const Json& v) {
  if (!v.is_object()) return "must be a mapping of strings";
  for (const auto& [k, x] : v.items())
    if (!x.is_string()) return "must map names to strings ('" + k + "' is not a string)";
  return "";
}

std::string ListCheck(const Json& v) { return v.is_array() ? "" : "must be a list"; }
std::string ObjectCheck(const Json& v) { return v.is_object() ? "" : "must be a mapping"; }

}  // namespace

FlavorInfo KubernetesFlavor() {
  FlavorInfo f;
  f.type = ComponentType::kOrchestrator;
  f.name = "kubernetes";
  f.summary = "Runs each step attempt as a Kubernetes Job through the cluster's API server";
  f.schema = {
      {"kubeconfig", "string", false, "", "kubeconfig file(s), ':'-separated (default: $KUBECONFIG, ~/.kube/config, or the pod's service account)", false, true, nullptr},
      {"kubeconfig_context", "string", false, "", "kubeconfig context (default: its current-context)", false, true, nullptr},
      {"in_cluster", "bool", false, false, "use the service account of the pod baton runs in", false, true, nullptr},
      {"namespace", "string", false, "", "namespace of the run's objects (default: the context's, else default)", false, true, nullptr},
      {"parent_image", "string", false, "localhost/baton-base:busybox",
       "image the pipeline image is built on (a step's image: setting overrides it)", false, false, nullptr},
      {"container_registry", "string", false, nullptr,
       "a container_registry component: images are pushed to it after the build and pods pull them by digest", false, true, nullptr},
      {"image_pull_policy", "string", false, "IfNotPresent", "the containers' imagePullPolicy", false, false,
       [](const Json& v) -> std::string {
         const std::string s = v.get<std::string>();
         return s == "IfNotPresent" || s == "Always" || s == "Never" ? "" : "must be IfNotPresent, Always or Never";
       }},
      {"max_parallelism", "int", false, 0, "most step pods at once (0: no bound; the cluster queues the rest)", false, true, nullptr},
      {"job_name_prefix", "string", false, "baton", "first part of every object's name", false, true, nullptr},
      {"startup_timeout", "duration", false, "5m",
       "how long a pod may stay unscheduled, pulling, or unable to start before its attempt fails with Kubernetes' reason", false, false,
       KubeDurationCheck},
      {"active_deadline", "duration", false, "0s",
       "the Jobs' activeDeadlineSeconds, counted from the Job's start, pulling and waiting included (0: the step's "
       "timeout plus startup_timeout plus 10s, none without a timeout)",
       false, false, KubeDurationCheck},
      {"api_timeout", "duration", false, "5m",
       "how long the API server may be out of reach before the run's running steps fail with why", false, true,
       KubeDurationCheck},
      {"ttl_after_finished", "duration", false, "1h", "how long a finished Job and its pod stay (0: kept)", false, true, KubeDurationCheck},
      {"step_service_account", "string", false, "", "service account of the step pods", false, false, nullptr},
      {"pass_env", "list", false, Json::array(),
       "names of environment variables (store credentials, API keys) passed to the pods through the run's Secret", false, false,
       [](const Json& v) -> std::string {
         for (const auto& e : v)
           if (!IsEnvReference("{{env." + e.get<std::string>() + "}}")) return "must hold variable names";
         return "";
       }},
      {"env_from_secrets", "list", false, Json::array(), "names of existing Secrets whose keys become the pods' variables", false, false, nullptr},
      {"node_selector", "json", false, nullptr, "the pods' nodeSelector, e.g. {\"disktype\": \"ssd\"}", false, false, StringMapCheck},
      {"tolerations", "json", false, nullptr, "the pods' tolerations (a list, as Kubernetes writes them)", false, false, ListCheck},
      {"affinity", "json", false, nullptr, "the pods' affinity (as Kubernetes writes it)", false, false, ObjectCheck},
      {"volumes", "json", false, nullptr, "the pods' volumes (a list)", false, false, ListCheck},
      {"volume_mounts", "json", false, nullptr, "the step container's volumeMounts (a list)", false, false, ListCheck},
      {"labels", "json", false, nullptr, "more labels on the Jobs and pods", false, false, StringMapCheck},
      {"annotations", "json", false, nullptr, "more annotations on the pods", false, false, StringMapCheck},
      {"security_context", "json", false, nullptr, "the pods' securityContext", false, false, ObjectCheck},
      {"container_security_context", "json", false, nullptr, "the step container's securityContext", false, false, ObjectCheck},
      {"image_pull_secrets", "list", false, Json::array(), "Secrets for pulling the image from a private registry", false, false, nullptr},
      {"service_account", "string", false, "", "service account of a detached run's driver pod, which creates and watches the run's Jobs", false, true, nullptr},
      {"driver_restarts", "int", false, 3, "how many times Kubernetes starts a detached run's driver pod again after it failed", false, true, nullptr},
      {"starting_deadline", "duration", false, "0s",
       "a schedule's CronJob startingDeadlineSeconds: how late a firing may start (0: none for catchup latest, 60s for catchup none)",
       false, true, KubeDurationCheck},
      {"api_qps", "float", false, 20.0, "API requests a second baton sends at most, sustained", false, true, nullptr},
      {"api_burst", "int", false, 40, "API requests baton may send at once above api_qps", false, true, nullptr},
  };
  f.backend_schedules = true;
  f.make_orchestrator = [](const Json& config) -> Result<std::unique_ptr<Orchestrator>> {
    BATON_ASSIGN_OR_RETURN(auto o, KubernetesOrchestrator::Create(config));
    return std::unique_ptr<Orchestrator>(std::move(o));
  };
  return f;
}

}  // namespace baton
