// Kubeconfig resolution, Kubernetes names, and the Job manifest of a step attempt.

#include <gtest/gtest.h>

#include "baton/format.h"
#include "flavors/kubernetes/kube_client.h"
#include "flavors/kubernetes/kube_config.h"
#include "flavors/kubernetes/kubernetes_orchestrator.h"
#include "platform/fs.h"

namespace baton {
namespace {

using Json = nlohmann::json;

class KubeConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = fs::MakeTempDir("/tmp/baton-kubeconfig-");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
  }
  void TearDown() override { (void)fs::RemoveTree(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string p = dir_ + "/" + name;
    EXPECT_TRUE(fs::WriteFile(p, text).ok());
    return p;
  }
  std::string dir_;
};

constexpr const char* kTwoContexts = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority-data: Q0EtUEVN
- name: prod-cluster
  cluster:
    server: https://prod.example.com
    certificate-authority: certs/ca.crt
contexts:
- name: dev
  context: {cluster: dev-cluster, user: alice, namespace: ml}
- name: prod
  context: {cluster: prod-cluster, user: robot}
users:
- name: alice
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
- name: robot
  user:
    tokenFile: tokens/robot
)";

TEST_F(KubeConfigTest, ContextsPickClusterUserNamespaceAndDecodeTheirData) {
  const std::string file = Write("config", kTwoContexts);
  KubeConfigOptions o;
  o.kubeconfig = file;
  auto dev = ResolveKubeTarget(o);
  ASSERT_TRUE(dev.ok()) << dev.status().message();
  EXPECT_EQ(dev->server, "https://10.0.0.1:6443");
  EXPECT_EQ(dev->ns, "ml");
  EXPECT_EQ(dev->tls.ca_pem, "CA-PEM");
  EXPECT_EQ(dev->tls.cert_pem, "CERT");
  EXPECT_EQ(dev->tls.key_pem, "KEY");
  EXPECT_TRUE(dev->token.empty());

  o.context = "prod";
  auto prod = ResolveKubeTarget(o);
  ASSERT_TRUE(prod.ok()) << prod.status().message();
  EXPECT_EQ(prod->server, "https://prod.example.com");
  EXPECT_EQ(prod->ns, "default");
  // Relative paths are relative to the kubeconfig's directory.
  EXPECT_EQ(prod->tls.ca_file, dir_ + "/certs/ca.crt");
  EXPECT_EQ(prod->token_file, dir_ + "/tokens/robot");

  o.context = "staging";
  auto missing = ResolveKubeTarget(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no context 'staging'"), std::string::npos) << missing.status().message();
}

TEST_F(KubeConfigTest, FilesMergeAsKubectlMergesThemTheFirstToNameAnEntryWins) {
  const std::string a = Write("a", R"({"current-context": "x", "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    "clusters": [{"name": "c", "cluster": {"server": "https://first:1"}}]})");
  const std::string b = Write("b", R"(current-context: y
clusters:
- {name: c, cluster: {server: "https://second:2"}}
users:
- {name: u, user: {token: abc}}
)");
  KubeConfigOptions o;
  o.kubeconfig = a + ":" + b;
  auto t = ResolveKubeTarget(o);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->server, "https://first:1");
  EXPECT_EQ(t->token, "abc");
  EXPECT_NE(t->origin.find("context x"), std::string::npos);
}

TEST_F(KubeConfigTest, BadFilesAreErrorsThatSayWhere) {
  KubeConfigOptions o;
  o.kubeconfig = Write("bad", "clusters: [\n  {name: c\n");
  auto r = ResolveKubeTarget(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find(dir_ + "/bad:"), std::string::npos) << r.status().message();

  o.kubeconfig = Write("nouser", R"(current-context: x
contexts: [{name: x, context: {cluster: c, user: ghost}}]
clusters: [{name: c, cluster: {server: "https://h"}}]
)");
  r = ResolveKubeTarget(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("user 'ghost'"), std::string::npos) << r.status().message();

  o.kubeconfig = Write("baddata", R"(current-context: x
contexts: [{name: x, context: {cluster: c}}]
clusters: [{name: c, cluster: {server: "https://h", certificate-authority-data: "not base64!"}}]
)");
  r = ResolveKubeTarget(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not base64"), std::string::npos) << r.status().message();
}

TEST_F(KubeConfigTest, AnExecPluginIsReadWithItsArgumentsAndEnvironment) {
  const std::string file = Write("config", R"(current-context: gke
contexts: [{name: gke, context: {cluster: c, user: g}}]
clusters: [{name: c, cluster: {server: "https://h"}}]
users:
- name: g
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: ./bin/auth-plugin
      args: [--project, p1]
      env: [{name: MODE, value: fast}]
      installHint: install the plugin
)");
  KubeConfigOptions o;
  o.kubeconfig = file;
  auto t = ResolveKubeTarget(o);
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_TRUE(t->exec.has_value());
  EXPECT_EQ(t->exec->command, dir_ + "/./bin/auth-plugin");
  EXPECT_EQ(t->exec->args, (std::vector<std::string>{"--project", "p1"}));
  EXPECT_EQ(t->exec->env, (std::vector<std::string>{"MODE=fast"}));
  EXPECT_EQ(t->exec->api_version, "client.authentication.k8s.io/v1beta1");
}

TEST_F(KubeConfigTest, TheServiceAccountOfAPodIsUsedInCluster) {
  ASSERT_TRUE(fs::MakeDirs(dir_ + "/sa").ok());
  Write("sa/token", "tok\n");
  Write("sa/namespace", "pipelines\n");
  Write("sa/ca.crt", "CA");
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto t = InClusterTarget(dir_ + "/sa");
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->server, "https://10.96.0.1:443");
  EXPECT_EQ(t->ns, "pipelines");
  EXPECT_EQ(t->token_file, dir_ + "/sa/token");
  EXPECT_EQ(t->tls.ca_file, dir_ + "/sa/ca.crt");
  EXPECT_FALSE(InClusterTarget(dir_ + "/sa").ok());  // not in a pod
}

TEST(KubeNames, NamesAndLabelsAreValidAndStayDistinct) {
  EXPECT_EQ(KubeName("train"), "train");
  EXPECT_EQ(KubeName("Train_Model"), KubeName("Train_Model"));
  EXPECT_NE(KubeName("train_model"), KubeName("train-model"));  // changed names carry a hash
  const std::string long_name(100, 'a');
  EXPECT_LE(KubeName(long_name, 52).size(), 52u);
  EXPECT_NE(KubeName(long_name, 52), KubeName(long_name + "b", 52));
  for (const std::string& s : {std::string("evaluate[3]"), std::string("-x-"), std::string("Ünïcode"), long_name}) {
    const std::string n = KubeName(s, 52);
    ASSERT_FALSE(n.empty());
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(n.front())) && std::isalnum(static_cast<unsigned char>(n.back()))) << n;
    EXPECT_EQ(n.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-"), std::string::npos) << n;
    const std::string l = KubeLabelValue(s);
    EXPECT_LE(l.size(), 63u);
    EXPECT_EQ(l.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."), std::string::npos) << l;
  }
  EXPECT_EQ(KubeLabelValue("20261207-101010-abc"), "20261207-101010-abc");
}

TEST(KubeManifests, AJobCarriesTheStepsResourcesSettingsAndNoSecretValue) {
  SubmitRequest req;
  req.run_id = "r-1";
  req.pipeline = "digits";
  req.workdir = "/src/p";
  req.env = {"BATON_RUN_ID=r-1"};
  StepJob job;
  job.name = "train";
  job.settings = Json::parse(R"({"resources": {"cpu": 0.5, "memory": 1073741824, "gpu": 1}, "timeout_us": 90000000,
                                 "orchestrator": {"node_selector": {"pool": "gpu"}}})");
  Json config = Json::parse(R"({"namespace": "ml", "tolerations": [{"key": "gpu", "operator": "Exists"}],
                                "pass_env": ["SECRET_KEY"], "ttl_after_finished": "10m", "labels": {"team": "vision"}})");
  config["node_selector"] = job.settings["orchestrator"]["node_selector"];
  const KubeRunNames names = RunNames(req, config, "ml");
  const Json owner = {{"kind", "ConfigMap"}, {"name", names.owner}, {"uid", "u-1"}};
  const Json j = JobManifest(req, job, 2, {"/opt/baton/bin/baton", "step", "run"}, "reg/img@sha256:ab", config, names, owner);
  EXPECT_EQ(j["kind"], "Job");
  EXPECT_EQ(j["metadata"]["namespace"], "ml");
  EXPECT_EQ(j["metadata"]["name"], JobName(names, "r-1", "train", 2));
  EXPECT_EQ(j["metadata"]["labels"]["baton.dev/step"], "train");
  EXPECT_EQ(j["metadata"]["labels"]["baton.dev/attempt"], "2");
  EXPECT_EQ(j["metadata"]["labels"]["team"], "vision");
  EXPECT_EQ(j["metadata"]["ownerReferences"][0]["uid"], "u-1");
  EXPECT_EQ(j["spec"]["backoffLimit"], 0);  // attempts are baton's
  EXPECT_EQ(j["spec"]["activeDeadlineSeconds"], 90 + 300 + 10);  // timeout + startup_timeout (5m) + 10 s
  EXPECT_EQ(j["spec"]["ttlSecondsAfterFinished"], 600);
  const Json& pod = j["spec"]["template"]["spec"];
  EXPECT_EQ(pod["restartPolicy"], "Never");
  EXPECT_EQ(pod["nodeSelector"]["pool"], "gpu");
  EXPECT_EQ(pod["tolerations"][0]["key"], "gpu");
  const Json& c = pod["containers"][0];
  EXPECT_EQ(c["image"], "reg/img@sha256:ab");
  EXPECT_EQ(c["resources"]["requests"]["cpu"], "500m");
  EXPECT_EQ(c["resources"]["limits"]["memory"], "1073741824");
  EXPECT_EQ(c["resources"]["limits"]["nvidia.com/gpu"], "1");
  EXPECT_EQ(c["terminationMessagePath"], "/dev/termination-log");
  EXPECT_EQ(c["envFrom"][0]["secretRef"]["name"], names.secret);
  EXPECT_FALSE(c.contains("env"));  // every value comes from the run's Secret
  config["active_deadline"] = "45s";
  EXPECT_EQ(JobManifest(req, job, 1, {"x"}, "i", config, names, owner)["spec"]["activeDeadlineSeconds"], 45);
}

}  // namespace
}  // namespace baton
