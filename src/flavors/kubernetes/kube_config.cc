#include "flavors/kubernetes/kube_config.h"

#include <cstdlib>

#include "baton/format.h"
#include "core/yaml_doc.h"
#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/process.h"

namespace baton {
namespace {

using Json = nlohmann::json;

// A YAML node as JSON: plain true/false/null and integers keep their type, everything else is a
// string (a kubeconfig holds nothing else).
Json ToJson(const yaml::Node* n) {
  if (n->IsMap()) {
    Json o = Json::object();
    for (auto [k, v] : n->pairs()) o[k->value] = ToJson(v);
    return o;
  }
  if (n->IsSequence()) {
    Json a = Json::array();
    for (const yaml::Node* item : n->items()) a.push_back(ToJson(item));
    return a;
  }
  if (n->IsNull()) return nullptr;
  if (!n->IsStringTyped()) {
    if (n->value == "true") return true;
    if (n->value == "false") return false;
    if (!n->value.empty() && n->value.find_first_not_of("-0123456789") == std::string::npos) {
      char* end = nullptr;
      const long long v = std::strtoll(n->value.c_str(), &end, 10);
      if (*end == '\0') return v;
    }
  }
  return n->value;
}

std::string KcText(const Json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The entry named `name` of a kubeconfig list (clusters, users, contexts), or nullptr.
const Json* Named(const Json& config, const char* list, const std::string& name) {
  auto it = config.find(list);
  if (it == config.end() || !it->is_array()) return nullptr;
  for (const auto& e : *it)
    if (e.is_object() && KcText(e, "name") == name) return &e;
  return nullptr;
}


std::string PathIn(const std::string& base_dir, const std::string& p) {
  return p.empty() || p[0] == '/' || base_dir.empty() ? p : base_dir + "/" + p;
}

Status DecodeData(const std::string& text, const std::string& what, const std::string& origin, std::string* out) {
  std::string compact;
  for (char c : text)
    if (c != '\n' && c != '\r' && c != ' ') compact += c;
  if (!Base64Decode(compact, out)) return InvalidArgument(origin + ": " + what + " is not base64");
  return Status::Ok();
}

// Merges kubeconfig `from` into `into` as kubectl does: the first file to name an entry (or to
// set current-context) wins.
void Merge(Json& into, const Json& from) {
  if (!into.contains("current-context") || KcText(into, "current-context").empty())
    if (!KcText(from, "current-context").empty()) into["current-context"] = from["current-context"];
  for (const char* list : {"clusters", "users", "contexts"}) {
    if (!from.contains(list) || !from[list].is_array()) continue;
    if (!into.contains(list) || !into[list].is_array()) into[list] = Json::array();
    for (const auto& e : from[list]) {
      if (!e.is_object() || Named(into, list, KcText(e, "name")) != nullptr) continue;
      into[list].push_back(e);
    }
  }
}

}  // namespace

Result<Json> ParseKubeConfigText(const std::string& text, const std::string& file) {
  yaml::Stream stream;
  yaml::Error error;
  if (!yaml::ParseStream(text, &stream, &error))
    return InvalidArgument(file + ":" + std::to_string(error.line) + ":" + std::to_string(error.column) + ": " +
                           error.message);
  if (stream.documents().empty()) return Json::object();
  Json j = ToJson(stream.documents()[0].root);
  if (j.is_null()) return Json::object();
  if (!j.is_object()) return InvalidArgument(file + ": a kubeconfig is a mapping (apiVersion, clusters, users, contexts)");
  return j;
}

Result<KubeTarget> TargetFromKubeConfig(const Json& config, const std::string& context, const std::string& base_dir,
                                        const std::string& origin) {
  const std::string ctx_name = context.empty() ? KcText(config, "current-context") : context;
  if (ctx_name.empty()) return InvalidArgument(origin + " sets no current-context; name a context (kubeconfig_context)");
  const Json* ctx_entry = Named(config, "contexts", ctx_name);
  if (ctx_entry == nullptr || !ctx_entry->contains("context"))
    return InvalidArgument(origin + " has no context '" + ctx_name + "'");
  const Json& ctx = (*ctx_entry)["context"];
  const std::string cluster_name = KcText(ctx, "cluster");
  const Json* cluster_entry = Named(config, "clusters", cluster_name);
  if (cluster_entry == nullptr || !cluster_entry->contains("cluster"))
    return InvalidArgument(origin + ": context '" + ctx_name + "' names cluster '" + cluster_name + "', which it does not have");
  const Json& cluster = (*cluster_entry)["cluster"];
  KubeTarget t;
  t.origin = origin + ", context " + ctx_name;
  t.server = KcText(cluster, "server");
  while (!t.server.empty() && t.server.back() == '/') t.server.pop_back();
  if (t.server.rfind("https://", 0) != 0 && t.server.rfind("http://", 0) != 0)
    return InvalidArgument(origin + ": cluster '" + cluster_name + "' has no https:// server");
  if (!KcText(ctx, "namespace").empty()) t.ns = KcText(ctx, "namespace");
  t.tls.ca_file = PathIn(base_dir, KcText(cluster, "certificate-authority"));
  if (!KcText(cluster, "certificate-authority-data").empty())
    BATON_RETURN_IF_ERROR(DecodeData(KcText(cluster, "certificate-authority-data"), "certificate-authority-data of cluster '" + cluster_name + "'", origin, &t.tls.ca_pem));
  if (cluster.is_object() && cluster.contains("insecure-skip-tls-verify")) {
    const Json& v = cluster["insecure-skip-tls-verify"];
    t.tls.insecure = v.is_boolean() ? v.get<bool>() : v.is_string() && v == "true";
  }

  const std::string user_name = KcText(ctx, "user");
  if (user_name.empty()) return t;  // anonymous
  const Json* user_entry = Named(config, "users", user_name);
  if (user_entry == nullptr) return InvalidArgument(origin + ": context '" + ctx_name + "' names user '" + user_name + "', which it does not have");
  const Json user = user_entry->contains("user") && (*user_entry)["user"].is_object() ? (*user_entry)["user"] : Json::object();
  t.token = KcText(user, "token");
  t.token_file = PathIn(base_dir, KcText(user, "tokenFile"));
  t.tls.cert_file = PathIn(base_dir, KcText(user, "client-certificate"));
  t.tls.key_file = PathIn(base_dir, KcText(user, "client-key"));
  if (!KcText(user, "client-certificate-data").empty())
    BATON_RETURN_IF_ERROR(DecodeData(KcText(user, "client-certificate-data"), "client-certificate-data of user '" + user_name + "'", origin, &t.tls.cert_pem));
  if (!KcText(user, "client-key-data").empty())
    BATON_RETURN_IF_ERROR(DecodeData(KcText(user, "client-key-data"), "client-key-data of user '" + user_name + "'", origin, &t.tls.key_pem));
  if (user.contains("auth-provider"))
    return InvalidArgument(origin + ": user '" + user_name + "' uses an auth-provider, which kubectl removed; use an exec credential plugin");
  if (user.contains("exec") && user["exec"].is_object()) {
    const Json& e = user["exec"];
    KubeExecPlugin p;
    p.command = KcText(e, "command");
    if (p.command.empty()) return InvalidArgument(origin + ": the exec plugin of user '" + user_name + "' has no command");
    // A relative command with a slash is relative to the kubeconfig; a bare name is on PATH.
    if (p.command.find('/') != std::string::npos) p.command = PathIn(base_dir, p.command);
    if (e.contains("args") && e["args"].is_array())
      for (const auto& a : e["args"]) p.args.push_back(a.is_string() ? a.get<std::string>() : a.dump());
    if (e.contains("env") && e["env"].is_array())
      for (const auto& v : e["env"]) p.env.push_back(KcText(v, "name") + "=" + KcText(v, "value"));
    if (!KcText(e, "apiVersion").empty()) p.api_version = KcText(e, "apiVersion");
    p.install_hint = KcText(e, "installHint");
    t.exec = std::move(p);
  }
  return t;
}

Result<KubeTarget> InClusterTarget(const std::string& sa_dir) {
  Env* env = PosixEnv();
  const std::string host = env->GetEnv("KUBERNETES_SERVICE_HOST").value_or("");
  const std::string port = env->GetEnv("KUBERNETES_SERVICE_PORT").value_or("443");
  if (host.empty()) return FailedPrecondition("not in a pod: KUBERNETES_SERVICE_HOST is not set");
  KubeTarget t;
  t.origin = "the pod's service account";
  t.server = "https://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
  t.token_file = sa_dir + "/token";
  if (!fs::Exists(t.token_file)) return FailedPrecondition("no service account token at " + t.token_file);
  t.tls.ca_file = sa_dir + "/ca.crt";
  auto ns = fs::ReadFile(sa_dir + "/namespace");
  if (ns.ok() && !Trim(*ns).empty()) t.ns = Trim(*ns);
  return t;
}

Result<KubeTarget> ResolveKubeTarget(const KubeConfigOptions& opts) {
  if (opts.in_cluster) return InClusterTarget();
  Env* env = PosixEnv();
  std::string list = opts.kubeconfig;
  if (list.empty()) list = env->GetEnv("KUBECONFIG").value_or("");
  if (list.empty()) {
    const std::string home = env->GetEnv("HOME").value_or("");
    if (!home.empty() && fs::Exists(home + "/.kube/config")) list = home + "/.kube/config";
  }
  if (list.empty()) {
    auto in = InClusterTarget();
    if (in.ok()) return in;
    return FailedPrecondition("no kubeconfig: set the orchestrator's kubeconfig, KUBECONFIG, or create ~/.kube/config");
  }
  Json merged = Json::object();
  std::string first_dir, origin;
  size_t start = 0;
  while (start <= list.size()) {
    size_t colon = list.find(':', start);
    if (colon == std::string::npos) colon = list.size();
    const std::string file = list.substr(start, colon - start);
    start = colon + 1;
    if (file.empty()) continue;
    auto text = fs::ReadFile(file);
    if (!text.ok()) {
      if (!opts.kubeconfig.empty()) return InvalidArgument("cannot read kubeconfig " + file + ": " + text.status().message());
      continue;  // KUBECONFIG may list files that do not exist, as kubectl allows
    }
    BATON_ASSIGN_OR_RETURN(Json one, ParseKubeConfigText(*text, file));
    if (first_dir.empty()) {
      first_dir = fs::Dirname(file);
      origin = "kubeconfig " + file;
    }
    // Paths are relative to the file that holds them.
    for (const char* l : {"clusters", "users"}) {
      if (!one.contains(l) || !one[l].is_array()) continue;
      for (auto& e : one[l]) {
        const char* inner = std::string(l) == "clusters" ? "cluster" : "user";
        if (!e.is_object() || !e.contains(inner) || !e[inner].is_object()) continue;
        for (const char* k : {"certificate-authority", "client-certificate", "client-key", "tokenFile"})
          if (e[inner].contains(k) && e[inner][k].is_string()) e[inner][k] = PathIn(fs::Dirname(file), e[inner][k].get<std::string>());
        // An exec plugin named by a relative path (not a bare name on PATH) is found the same way.
        if (e[inner].contains("exec") && e[inner]["exec"].is_object()) {
          Json& ex = e[inner]["exec"];
          const std::string cmd = KcText(ex, "command");
          if (cmd.find('/') != std::string::npos) ex["command"] = PathIn(fs::Dirname(file), cmd);
        }
      }
    }
    Merge(merged, one);
  }
  if (origin.empty()) return FailedPrecondition("none of the kubeconfig files " + list + " exists");
  return TargetFromKubeConfig(merged, opts.context, "", origin);
}

}  // namespace baton
