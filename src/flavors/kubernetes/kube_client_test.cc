// KubeClient's credentials from `exec` plugins (client.authentication.k8s.io ExecCredential),
// against the test API server (tests/kube_fake) serving TLS that asks for a client certificate
// and accepts one bearer token. Needs python3 and openssl: skipped without them, failed under CI.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "flavors/kubernetes/kube_client.h"
#include "flavors/kubernetes/kube_config.h"
#include "platform/fs.h"
#include "platform/process.h"
#include "test_util.h"

namespace baton {
namespace {

using testing::ReadFileOrDie;
using testing::RunShell;
using testing::SourceDir;

// The plugin: prints an ExecCredential whose status depends on DIR/mode, and counts its calls in
// DIR/calls. Modes: cert (client certificate and key), token, stale-token (a wrong token on the
// first call, the right one after), cert-without-key, nothing.
constexpr const char* kPlugin = R"(import json, os, sys
d = os.path.dirname(os.path.abspath(__file__))
calls = int(open(os.path.join(d, "calls")).read()) + 1 if os.path.exists(os.path.join(d, "calls")) else 1
open(os.path.join(d, "calls"), "w").write(str(calls))
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
assert info["kind"] == "ExecCredential" and info["spec"]["interactive"] is False
mode = open(os.path.join(d, "mode")).read().strip()
read = lambda name: open(os.path.join(d, name)).read()
status = {}
if mode in ("cert", "cert-without-key"):
    status["clientCertificateData"] = read("client.crt")
    if mode == "cert":
        status["clientKeyData"] = read("client.key")
elif mode == "token":
    status["token"] = read("token").strip()
elif mode == "stale-token":
    status["token"] = read("token").strip() if calls > 1 else "expired-token"
json.dump({"apiVersion": info["apiVersion"], "kind": "ExecCredential", "status": status}, sys.stdout)
)";

class KubeExecCredentials : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RunShell("/", "command -v openssl && test -x /usr/bin/python3").exit_code != 0) {
      if (std::getenv("CI")) FAIL() << "CI must provide openssl and python3";
      GTEST_SKIP() << "needs openssl and python3";
    }
    auto d = fs::MakeTempDir("/tmp/baton-kubeexec-");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
    // A CA that signs the server's certificate and the plugin's client certificate.
    const std::string tls =
        "set -e; openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca;"
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=kube-fake;"
        "printf 'subjectAltName=IP:127.0.0.1\\n' > server.ext;"
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext;"
        "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=plugin-user;"
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2";
    ASSERT_EQ(RunShell(dir_, "(" + tls + ") >openssl.log 2>&1").exit_code, 0) << ReadFileOrDie(dir_ + "/openssl.log");
    ASSERT_TRUE(fs::WriteFile(dir_ + "/token", "the-right-token\n").ok());
    ASSERT_TRUE(fs::WriteFile(dir_ + "/plugin.py", kPlugin).ok());
    ASSERT_TRUE(fs::WriteFile(dir_ + "/plugin", "#!/bin/sh\nexec /usr/bin/python3 \"$(dirname \"$0\")/plugin.py\"\n").ok());
    ASSERT_EQ(RunShell(dir_, "chmod +x plugin").exit_code, 0);
    pid_ = testing::SpawnProgram(dir_,
                                 {"/usr/bin/python3", SourceDir() + "/tests/kube_fake/kube_fake.py", "--port-file",
                                  dir_ + "/port", "--state-dir", dir_ + "/state", "--token", "the-right-token",
                                  "--tls-cert", dir_ + "/server.crt", "--tls-key", dir_ + "/server.key",
                                  "--client-ca", dir_ + "/ca.crt"},
                                 dir_ + "/server.log", dir_ + "/server.log");
    for (int i = 0; i < 300 && !fs::Exists(dir_ + "/port"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(fs::Exists(dir_ + "/port")) << ReadFileOrDie(dir_ + "/server.log");
    target_.server = "https://127.0.0.1:" + Trim(ReadFileOrDie(dir_ + "/port"));
    target_.tls.ca_file = dir_ + "/ca.crt";
    target_.exec = KubeExecPlugin{dir_ + "/plugin", {}, {}, "client.authentication.k8s.io/v1", ""};
    target_.origin = "the test";
  }
  void TearDown() override {
    if (pid_ > 0) testing::StopChild(pid_);
    if (!dir_.empty()) (void)fs::RemoveTree(dir_);
  }
  void Mode(const std::string& mode) { ASSERT_TRUE(fs::WriteFile(dir_ + "/mode", mode).ok()); }
  int Calls() { return fs::Exists(dir_ + "/calls") ? std::stoi(ReadFileOrDie(dir_ + "/calls")) : 0; }

  std::string dir_;
  pid_t pid_ = -1;
  KubeTarget target_;
};

TEST_F(KubeExecCredentials, AClientCertificateFromThePluginAuthenticatesAndIsKept) {
  // Without credentials the server refuses: what passes below is the plugin's certificate.
  KubeTarget anonymous = target_;
  anonymous.exec.reset();
  KubeClient refused(anonymous);
  auto no = refused.Get("/api/v1/namespaces/default/configmaps");
  ASSERT_FALSE(no.ok());
  EXPECT_EQ(no.status().code(), Code::kUnauthenticated) << no.status().message();

  Mode("cert");
  KubeClient client(target_);
  for (int i = 0; i < 3; ++i) {
    auto r = client.Get("/api/v1/namespaces/default/configmaps");
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->value("kind", ""), "ConfigMapList");
  }
  EXPECT_EQ(Calls(), 1);  // no expiry given: the credential is kept
}

TEST_F(KubeExecCredentials, ATokenTheServerRefusesIsAskedForAgainOnce) {
  Mode("stale-token");
  KubeClient client(target_);
  auto r = client.Get("/api/v1/namespaces/default/configmaps");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Calls(), 2);
  ASSERT_TRUE(client.Get("/api/v1/namespaces/default/configmaps").ok());
  EXPECT_EQ(Calls(), 2);
}

TEST_F(KubeExecCredentials, APluginGivingHalfACredentialOrNoneIsAClearError) {
  Mode("cert-without-key");
  KubeClient half(target_);
  auto r = half.Get("/api/v1/namespaces/default/configmaps");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnauthenticated);
  EXPECT_NE(r.status().message().find("a client certificate without its key"), std::string::npos) << r.status().message();

  Mode("nothing");
  KubeClient none(target_);
  r = none.Get("/api/v1/namespaces/default/configmaps");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("neither a token nor a client certificate"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace baton
