#pragma once
// Where a Kubernetes API server is and how to authenticate to it: a kubeconfig (the files
// kubectl reads, merged as KUBECONFIG lists them; contexts, namespaces, bearer tokens and token
// files, client certificates, CA data and files, `exec` credential plugins such as
// gke-gcloud-auth-plugin), or the service account of the pod baton runs in.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/status.h"
#include "platform/http_client.h"

namespace baton {

// A kubeconfig user's `exec` credential plugin (client.authentication.k8s.io).
struct KubeExecPlugin {
  std::string command;
  std::vector<std::string> args;
  std::vector<std::string> env;  // NAME=VALUE
  std::string api_version = "client.authentication.k8s.io/v1";
  std::string install_hint;
};

// One API server and the credentials for it.
struct KubeTarget {
  std::string server;  // https://HOST[:PORT][/PATH], no trailing slash
  std::string ns = "default";
  HttpTls tls;
  std::string token;       // a bearer token
  std::string token_file;  // a bearer token read from this file on use (rotated tokens)
  std::optional<KubeExecPlugin> exec;
  std::string origin;      // where it came from, for messages
};

struct KubeConfigOptions {
  std::string kubeconfig;  // files as KUBECONFIG lists them (':'); "" for KUBECONFIG or ~/.kube/config
  std::string context;     // "" for the current context
  bool in_cluster = false; // the pod's service account, whatever the files say
};

// The target `opts` names: in_cluster, else the kubeconfig files, else (none given, none found)
// the pod's service account when baton runs in a pod. InvalidArgument naming the file and the
// missing entry for a kubeconfig that does not hold what it needs.
Result<KubeTarget> ResolveKubeTarget(const KubeConfigOptions& opts);

// Parses kubeconfig text (YAML or JSON) into its JSON form; InvalidArgument with line:column.
Result<nlohmann::json> ParseKubeConfigText(const std::string& text, const std::string& file);
// The target of `context` ("" for current-context) in merged kubeconfig `config`, whose relative
// file paths are relative to `base_dir`.
Result<KubeTarget> TargetFromKubeConfig(const nlohmann::json& config, const std::string& context,
                                        const std::string& base_dir, const std::string& origin);
// The pod's own service account: KUBERNETES_SERVICE_HOST/PORT and the files under `sa_dir`
// (default /var/run/secrets/kubernetes.io/serviceaccount).
Result<KubeTarget> InClusterTarget(const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

}  // namespace baton
