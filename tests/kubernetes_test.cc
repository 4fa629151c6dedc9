// End-to-end tests of the kubernetes orchestrator against tests/kube_fake/kube_fake.py, a
// test-only Kubernetes API server that runs each pod's container with real podman (see its
// README): TLS and a bearer token from a kubeconfig, Jobs created through the REST API, watches,
// followed pod logs, records in PostgreSQL and artifacts in the S3 gateway. kubectl (the machine
// image's 1.27 and 1.33) looks at what baton made, as a user would.
//
// They need podman with the base images (scripts/setup-podman.sh --python), PostgreSQL and the
// S3 gateway (BATON_TEST_POSTGRES_URI, BATON_TEST_S3_*), openssl and python3: skipped without
// them, failed under CI.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "baton/format.h"
#include "test_util.h"

namespace baton::testing {
namespace {

using Json = nlohmann::json;

constexpr const char* kBase = "localhost/baton-base:busybox";
constexpr const char* kPython = "localhost/baton-python:bookworm";

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string Shell(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string Kubectl(const std::string& version) { return "/usr/lib/google-cloud-sdk/bin/kubectl." + version; }

// "" when everything the tests need is here, else what is missing.
std::string Missing() {
  if (RunShell("/", "command -v podman && podman image exists " + std::string(kBase) + " && podman image exists " + kPython)
          .exit_code != 0)
    return "podman with " + std::string(kBase) + " and " + kPython + " (scripts/setup-podman.sh --python)";
  if (Env("BATON_TEST_POSTGRES_URI").empty() || Env("BATON_TEST_S3_ENDPOINT").empty())
    return "PostgreSQL and S3 (BATON_TEST_POSTGRES_URI, BATON_TEST_S3_*)";
  if (RunShell("/", "command -v openssl && test -x /usr/bin/python3").exit_code != 0) return "openssl and python3";
  return "";
}

// The test API server, with TLS material and a kubeconfig for it.
class KubeFake {
 public:
  bool Start(const std::string& dir, std::string* error) {
    dir_ = dir;
    const std::string tls =
        "set -e; openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca;"
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=kube-fake;"
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > server.ext;"
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext";
    auto r = RunShell(dir, "(" + tls + ") >openssl.log 2>&1");
    if (r.exit_code != 0) {
      *error = "openssl failed: " + ReadFileOrDie(dir + "/openssl.log");
      return false;
    }
    std::random_device rd;
    token_ = "t" + std::to_string(rd()) + std::to_string(rd());
    std::vector<std::string> argv = {"/usr/bin/python3", SourceDir() + "/tests/kube_fake/kube_fake.py",
                                     "--port-file", dir + "/port", "--state-dir", dir + "/state",
                                     "--token", token_, "--tls-cert", dir + "/server.crt", "--tls-key", dir + "/server.key",
                                     // Pods (a detached run's driver) reach the server as in-cluster clients do.
                                     "--cluster-ca", dir + "/ca.crt",
                                     // A node as large as a cluster's share of a run: steps ask for a CPU each.
                                     "--node-cpu", "64"};
    const std::string swagger = SourceDir() + "/../shared/schemas/k8s/swagger.json";
    if (access(swagger.c_str(), R_OK) == 0) argv.insert(argv.end(), {"--swagger", swagger});
    pid_ = SpawnProgram(dir, argv, dir + "/server.log", dir + "/server.log");
    for (int i = 0; i < 300 && access((dir + "/port").c_str(), R_OK) != 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (access((dir + "/port").c_str(), R_OK) != 0) {
      *error = "the API server did not start: " + ReadFileOrDie(dir + "/server.log");
      return false;
    }
    port_ = std::stoi(ReadFileOrDie(dir + "/port"));
    std::ifstream ca(dir + "/ca.crt");
    const std::string ca_pem((std::istreambuf_iterator<char>(ca)), std::istreambuf_iterator<char>());
    const std::string config = "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
                               "clusters:\n- name: fake\n  cluster:\n    server: " + server() +
                               "\n    certificate-authority-data: " + Base64Encode(ca_pem) +
                               "\ncontexts:\n- name: fake\n  context: {cluster: fake, user: tester, namespace: default}\n"
                               "users:\n- name: tester\n  user:\n    token: " + token_ + "\n";
    std::ofstream(dir + "/kubeconfig") << config;
    return true;
  }
  ~KubeFake() { Stop(); }
  // Stops the server (its containers go with it).
  void Stop() {
    if (pid_ > 0) StopChild(pid_);
    pid_ = -1;
  }
  std::string server() const { return "https://127.0.0.1:" + std::to_string(port_); }
  std::string kubeconfig() const { return dir_ + "/kubeconfig"; }
  // kubectl VERSION with this server's kubeconfig.
  CommandResult Kubectl(const std::string& version, const std::string& args) const {
    return RunShell("/", testing::Kubectl(version) + " --kubeconfig " + Shell(kubeconfig()) + " " + args);
  }
  // A request to the API server (control endpoints included) with the token, by curl.
  Json Call(const std::string& method, const std::string& path, const Json& body = nullptr) const {
    std::string cmd = "curl -sS --cacert " + Shell(dir_ + "/ca.crt") + " -H " + Shell("Authorization: Bearer " + token_) +
                      " -X " + method + " " + Shell(server() + path);
    if (!body.is_null()) cmd += " -H 'Content-Type: application/json' --data-binary " + Shell(body.dump());
    auto r = RunShell("/", cmd);
    Json j = Json::parse(r.out, nullptr, false);
    if (j.is_discarded()) ADD_FAILURE() << method << " " << path << ": " << Describe(r);
    return j;
  }
  Json Items(const std::string& path) const { return Call("GET", path).value("items", Json::array()); }
  const std::string& token() const { return token_; }
  pid_t pid() const { return pid_; }

 private:
  std::string dir_, token_;
  int port_ = 0;
  pid_t pid_ = -1;
};

Json StepOf(const Json& shown, const std::string& step) {
  for (const auto& s : shown["steps"])
    if (s["step"] == step) return s;
  ADD_FAILURE() << "no step " << step << " in " << shown.dump(2);
  return Json::object();
}

// A workspace on PostgreSQL and S3 with a kubernetes stack `kube` on the test API server.
class Kubernetes : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string m = Missing(); !m.empty()) {
      if (!Env("CI").empty()) FAIL() << "CI must provide " << m;
      GTEST_SKIP() << "needs " << m;
    }
    s3_ = Env("BATON_TEST_S3_ENDPOINT");
    key_ = Env("BATON_TEST_S3_ACCESS_KEY");
    secret_ = Env("BATON_TEST_S3_SECRET_KEY");
    if (std::string problem = S3GatewayProblem(s3_); !problem.empty()) FAIL() << problem;
    std::string error;
    ASSERT_TRUE(fake_.Start(api_dir_.path(), &error)) << error;
    std::random_device rd;
    const std::string tag = std::to_string(rd() % 1000000000);
    bucket_ = "baton-kube-" + tag;
    const std::string pg = Env("BATON_TEST_POSTGRES_URI");
    metadata_ = pg + (pg.find('?') == std::string::npos ? "?" : "&") + "schema=kube_" + tag;
    auto r = RunShell("/", "AWS_ACCESS_KEY_ID=" + Shell(key_) + " AWS_SECRET_ACCESS_KEY=" + Shell(secret_) +
                               " AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url " + Shell(s3_) +
                               " s3api create-bucket --bucket " + bucket_);
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    ASSERT_EQ(RunBaton(ws(), {"init"}).exit_code, 0);
    r = RunBaton(ws(), {"store", "set", metadata_});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    r = RunBaton(ws(), {"artifact-store", "register", "team-s3", "--flavor", "s3", "--set", "bucket=" + bucket_, "--set",
                        "endpoint=" + s3_, "--set", "access_key_id={{env.TEAM_S3_KEY}}", "--set",
                        "secret_access_key={{env.TEAM_S3_SECRET}}"});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    Register();
  }
  void TearDown() override {
    RunShell("/", "podman images -q --filter label=baton.code_dir=" + ws() + " | sort -u | xargs -r podman rmi -f >/dev/null 2>&1");
  }
  const std::string& ws() const { return ws_.path(); }
  // Registers orchestrator and stack `kube` on the test API server.
  void Register() {
    auto r = RunBaton(ws(), {"orchestrator", "register", "kube", "--flavor", "kubernetes", "--set", "kubeconfig=" + fake_.kubeconfig(),
                             "--set", std::string("parent_image=") + kPython, "--set", "pass_env=TEAM_S3_KEY,TEAM_S3_SECRET"});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    r = RunBaton(ws(), {"stack", "register", "kube", "--orchestrator", "kube", "--artifact-store", "team-s3", "--set"});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }
  // Sets keys of orchestrator `kube`.
  void Update(const std::vector<std::string>& sets) {
    std::vector<std::string> args = {"orchestrator", "update", "kube"};
    for (const auto& s : sets) args.insert(args.end(), {"--set", s});
    auto r = RunBaton(ws(), args);
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }
  std::vector<std::string> TeamEnv() const { return {"TEAM_S3_KEY=" + key_, "TEAM_S3_SECRET=" + secret_}; }
  CommandResult Run(const std::vector<std::string>& args) { return RunBaton(ws(), args, TeamEnv()); }
  Json Jobs(const std::string& run) const {
    return fake_.Items("/apis/batch/v1/namespaces/default/jobs?labelSelector=baton.dev/run=" + run);
  }
  Json Pods(const std::string& run) const {
    return fake_.Items("/api/v1/namespaces/default/pods?labelSelector=baton.dev/run=" + run);
  }
  // Waits for a run other than `before` to be recorded; its id, or "".
  std::string NewRun(const std::string& before) {
    for (int i = 0; i < 200; ++i) {
      const std::string run = LatestRun();
      if (!run.empty() && run != before) return run;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return "";
  }
  std::string LatestRun() {
    Json runs = JsonOf(ws(), {"runs", "list", "-o", "json"});
    return runs.empty() ? "" : runs[0]["id"].get<std::string>();
  }
  // Waits until the pod of step `step` of `run` is Running; false after a minute and a half.
  bool WaitStepPod(const std::string& run, const std::string& step) {
    for (int i = 0; i < 900; ++i) {
      for (const auto& p : Pods(run))
        if (p["metadata"]["labels"].value("baton.dev/step", "") == step && p["status"].value("phase", "") == "Running")
          return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  // Checks `object` (as the API server keeps it, less its status) with the official schema
  // (../shared/schemas/validate k8s, strict), where the validator is there.
  void ExpectValidObject(Json object) {
    const std::string validator = SourceDir() + "/../shared/schemas/validate";
    if (access(validator.c_str(), X_OK) != 0) return;
    object.erase("status");
    const std::string file = ws() + "/object-" + object["metadata"].value("name", "x") + ".json";
    std::ofstream(file) << object.dump(2);
    auto v = RunShell("/", validator + " k8s " + Shell(file));
    EXPECT_EQ(v.exit_code, 0) << Describe(v);
  }
  // The name of the Job of step `step` of `run` (its latest attempt).
  std::string JobNamed(const std::string& run, const std::string& step) {
    std::string name;
    for (const auto& j : Jobs(run))
      if (j["metadata"]["labels"].value("baton.dev/step", "") == step) name = j["metadata"]["name"];
    return name;
  }
  // Waits until a pod of `run` is Running; false after a minute.
  bool WaitRunningPod(const std::string& run) {
    for (int i = 0; i < 600; ++i) {
      for (const auto& p : Pods(run))
        if (p["status"].value("phase", "") == "Running") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  TempDir ws_, api_dir_;
  KubeFake fake_;
  std::string s3_, key_, secret_, bucket_, metadata_;
};

TEST_F(Kubernetes, QuickstartRunsAsJobsLikeLocally) {
  ASSERT_EQ(RunShell(ws(), "cp -r " + SourceDir() + "/examples/quickstart/. .").exit_code, 0);
  auto r = Run({"run", "pipeline.yaml", "--stack", "kube", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string run = Json::parse(r.out)["run"];
  Json kube = JsonOf(ws(), {"runs", "show", run, "-o", "json"});
  r = Run({"run", "pipeline.yaml", "--stack", "default", "--no-cache", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json local = JsonOf(ws(), {"runs", "show", LatestRun(), "-o", "json"});
  EXPECT_EQ(kube["orchestrator"], "kubernetes");
  EXPECT_EQ(local["orchestrator"], "local");
  for (const char* k : {"status", "pipeline", "parameters"}) EXPECT_EQ(kube[k], local[k]) << k;
  ASSERT_EQ(kube["steps"].size(), local["steps"].size());
  for (const auto& ls : local["steps"]) {
    Json ks = StepOf(kube, ls["step"]);
    for (const char* k : {"status", "attempt", "exit_code", "metadata", "reason"}) EXPECT_EQ(ks[k], ls[k]) << ls["step"] << " " << k;
    ASSERT_EQ(ks["outputs"].size(), ls["outputs"].size());
    for (auto it = ls["outputs"].begin(); it != ls["outputs"].end(); ++it) {
      if (it.key() != "model") {  // a pickled model need not be bit-identical
        EXPECT_EQ(ks["outputs"][it.key()]["digest"], it.value()["digest"]) << it.key();
      }
    }
  }
  EXPECT_NE(kube["steps"].dump().find("accuracy"), std::string::npos);

  // One Job per step, each Complete, as kubectl sees them; the pods' logs are the steps' output,
  // and baton's copy of each came from the pod's log.
  auto got = fake_.Kubectl("1.33", "get jobs -l baton.dev/run=" + run + " -o json");
  ASSERT_EQ(got.exit_code, 0) << Describe(got);
  Json jobs = Json::parse(got.out)["items"];
  ASSERT_EQ(jobs.size(), 4u) << got.out;
  std::set<std::string> steps;
  for (const auto& j : jobs) {
    steps.insert(j["metadata"]["labels"]["baton.dev/step"].get<std::string>());
    bool complete = false;
    for (const auto& c : j["status"]["conditions"]) complete |= c["type"] == "Complete" && c["status"] == "True";
    EXPECT_TRUE(complete) << j["status"].dump();
    EXPECT_EQ(j["spec"]["backoffLimit"], 0);
    EXPECT_EQ(j["metadata"]["ownerReferences"][0]["kind"], "ConfigMap");
  }
  EXPECT_EQ(steps, (std::set<std::string>{"load", "split", "train", "evaluate"}));
  std::string train_job;
  for (const auto& j : jobs)
    if (j["metadata"]["labels"]["baton.dev/step"] == "train") train_job = j["metadata"]["name"];
  auto logs = fake_.Kubectl("1.27", "logs job/" + train_job);
  ASSERT_EQ(logs.exit_code, 0) << Describe(logs);
  EXPECT_NE(logs.out.find("train accuracy"), std::string::npos) << logs.out;
  auto shown = Run({"runs", "logs", run, "train"});
  EXPECT_NE(shown.out.find("train accuracy"), std::string::npos) << Describe(shown);

  // The S3 secret reached the pods through the run's Secret only: no Job or pod holds it, and
  // the Secret is gone once the run ended.
  const std::string everything = Jobs(run).dump() + Pods(run).dump();
  EXPECT_EQ(everything.find(secret_), std::string::npos);
  EXPECT_EQ(everything.find(Base64Encode(secret_)), std::string::npos);
  EXPECT_TRUE(fake_.Items("/api/v1/namespaces/default/secrets?labelSelector=baton.dev/run=" + run).empty());
}

// Each way Kubernetes keeps or takes a step's pod becomes that step's failure reason, with
// Kubernetes' own words, and the run ends.
TEST_F(Kubernetes, KubernetesReasonsBecomeTheStepsFailureReasons) {
  const std::string quick = "orchestrator: {kubernetes: {startup_timeout: 3s}}";
  std::ofstream(ws() + "/p.yaml")
      << "name: reasons\nsteps:\n"
         "  unschedulable: {run: 'true', resources: {memory: 100Ti}, " << quick << "}\n"
         "  noconfig: {run: 'true', " << "orchestrator: {kubernetes: {startup_timeout: 3s, env_from_secrets: [absent-secret]}}}\n"
         "  oom: {run: \"/usr/bin/python3 -c 'b = bytearray(768 * 1024 * 1024); print(len(b))'\", resources: {memory: 96Mi}}\n"
         "  deadline: {run: 'true', orchestrator: {kubernetes: {active_deadline: 4s, env_from_secrets: [absent-secret]}}}\n"
         "  fine: {run: 'echo fine'}\n";
  auto r = Run({"run", "p.yaml", "--stack", "kube", "-o", "json"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  const std::string run = LatestRun();
  Json shown = JsonOf(ws(), {"runs", "show", run, "-o", "json"});
  EXPECT_EQ(shown["status"], "failed");
  EXPECT_EQ(StepOf(shown, "fine")["status"], "completed");
  auto reason = [&](const std::string& step) { return StepOf(shown, step)["reason"].get<std::string>(); };
  EXPECT_EQ(reason("unschedulable").rfind("Unschedulable: 0/1 nodes are available: 1 Insufficient memory.", 0), 0u)
      << reason("unschedulable");
  EXPECT_EQ(reason("noconfig").rfind("CreateContainerConfigError: ", 0), 0u) << reason("noconfig");
  EXPECT_NE(reason("noconfig").find("absent-secret"), std::string::npos) << reason("noconfig");
  EXPECT_EQ(reason("oom").rfind("OOMKilled: ", 0), 0u) << reason("oom");
  EXPECT_EQ(reason("deadline").rfind("DeadlineExceeded: ", 0), 0u) << reason("deadline");
  for (const char* s : {"unschedulable", "noconfig", "oom", "deadline"}) EXPECT_EQ(StepOf(shown, s)["status"], "failed") << s;
  // Nothing of the run is left running.
  for (const auto& p : Pods(run)) EXPECT_NE(p["status"].value("phase", ""), "Running") << p["metadata"]["name"];
}

TEST_F(Kubernetes, AnImageThatCannotBePulledAndAnEvictedPodFailTheirSteps) {
  std::ofstream(ws() + "/p.yaml") << "name: pulls\nsteps:\n  a: {run: 'true', orchestrator: {kubernetes: {startup_timeout: 3s}}}\n";
  fake_.Call("POST", "/_fake/faults", {{"pull_fail", {"baton-pulls"}}});
  Update({"image_pull_policy=Always"});
  auto r = Run({"run", "p.yaml", "--stack", "kube"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  Json shown = JsonOf(ws(), {"runs", "show", LatestRun(), "-o", "json"});
  const std::string why = StepOf(shown, "a")["reason"];
  EXPECT_TRUE(why.rfind("ImagePullBackOff: ", 0) == 0 || why.rfind("ErrImagePull: ", 0) == 0) << why;

  fake_.Call("POST", "/_fake/faults", {{"pull_fail", Json::array()}});
  Update({"image_pull_policy=IfNotPresent"});
  std::ofstream(ws() + "/q.yaml") << "name: evict\nsteps:\n  victim: {run: 'sleep 60'}\n";
  const std::string before = LatestRun();
  pid_t pid = SpawnBaton(ws(), {"run", "q.yaml", "--stack", "kube"}, ws() + "/q.out", ws() + "/q.out", TeamEnv());
  ASSERT_GT(pid, 0);
  const std::string run = NewRun(before);
  ASSERT_TRUE(WaitRunningPod(run)) << Pods(run).dump(2);
  fake_.Call("POST", "/_fake/faults", {{"evict", {"victim"}}});
  EXPECT_EQ(WaitExit(pid), 1) << ReadFileOrDie(ws() + "/q.out");
  shown = JsonOf(ws(), {"runs", "show", run, "-o", "json"});
  EXPECT_EQ(StepOf(shown, "victim")["reason"].get<std::string>().rfind("Evicted: ", 0), 0u) << shown.dump(2);
}

TEST_F(Kubernetes, StopDeletesTheRunsJobsAndLeavesNoPod) {
  std::ofstream(ws() + "/p.yaml") << "name: stopped\nsteps:\n  a: {run: 'sleep 120'}\n  b: {run: 'sleep 120'}\n  c: {run: 'true', after: [a]}\n";
  pid_t pid = SpawnBaton(ws(), {"run", "p.yaml", "--stack", "kube"}, ws() + "/out", ws() + "/out", TeamEnv());
  ASSERT_GT(pid, 0);
  const std::string run = NewRun("");
  ASSERT_TRUE(WaitRunningPod(run));
  auto r = Run({"runs", "stop", run});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  WaitExit(pid);
  Json shown = JsonOf(ws(), {"runs", "show", run, "-o", "json"});
  EXPECT_EQ(shown["status"], "stopped") << shown.dump(2);
  for (const char* s : {"a", "b"}) EXPECT_EQ(StepOf(shown, s)["status"], "stopped") << s;
  for (int i = 0; i < 200 && !(Pods(run).empty() && Jobs(run).empty()); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(Jobs(run).empty()) << Jobs(run).dump(2);
  EXPECT_TRUE(Pods(run).empty()) << Pods(run).dump(2);
  // This server's containers (the kubectl self-test's server may run beside it).
  EXPECT_EQ(RunShell("/", "podman ps -q --filter label=baton-fake=" + std::to_string(fake_.pid())).out, "");
}

TEST_F(Kubernetes, AKilledBatonsJobsAreDeletedByTheNextCommand) {
  std::ofstream(ws() + "/p.yaml") << "name: killed\nsteps:\n  a: {run: 'sleep 120'}\n";
  pid_t pid = SpawnBaton(ws(), {"run", "p.yaml", "--stack", "kube"}, ws() + "/out", ws() + "/out", TeamEnv());
  ASSERT_GT(pid, 0);
  const std::string run = NewRun("");
  ASSERT_TRUE(WaitRunningPod(run));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  WaitExit(pid);
  Json runs = JsonOf(ws(), {"runs", "list", "-o", "json"});
  ASSERT_FALSE(runs.empty());
  EXPECT_EQ(runs[0]["status"], "interrupted") << runs.dump(2);
  EXPECT_NE(runs[0]["reason"].get<std::string>().find("Kubernetes Job"), std::string::npos) << runs.dump(2);
  // Foreground deletion: the pods go first, then the Job.
  for (int i = 0; i < 200 && !(Pods(run).empty() && Jobs(run).empty()); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(Jobs(run).empty()) << Jobs(run).dump(2);
  EXPECT_TRUE(Pods(run).empty()) << Pods(run).dump(2);
}

// --detach: the run's driver is a Job in the cluster. Its pod is deleted while a step runs
// (as a node drain would): Kubernetes starts a new one, which takes the run over from the store,
// follows the step that was running instead of starting it again, and finishes the run.
TEST_F(Kubernetes, ADetachedRunsDriverPodIsReplacedAndTakesTheRunOver) {
  std::ofstream(ws() + "/p.yaml") << "name: detached\nsteps:\n"
                                     "  a: {run: 'echo a'}\n"
                                     "  b: {run: 'sleep 8; echo b done', after: [a]}\n"
                                     "  c: {run: 'echo c', after: [b]}\n";
  auto r = Run({"run", "p.yaml", "--stack", "kube", "--detach", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const Json out = Json::parse(r.out);
  const std::string run = out["run"];
  EXPECT_EQ(out["status"], "running");
  EXPECT_NE(out["reason"].get<std::string>().find("-driver"), std::string::npos) << r.out;
  // The client is gone; the run is driven in the cluster.
  std::string driver_pod;
  for (int i = 0; i < 900 && driver_pod.empty(); ++i) {
    bool b_runs = false;
    std::string pod;
    for (const auto& p : Pods(run)) {
      const Json& labels = p["metadata"]["labels"];
      if (labels.value("baton.dev/role", "") == "driver" && p["status"].value("phase", "") == "Running")
        pod = p["metadata"]["name"];
      if (labels.value("baton.dev/step", "") == "b" && p["status"].value("phase", "") == "Running") b_runs = true;
    }
    if (b_runs) driver_pod = pod;
    else std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(driver_pod.empty()) << Pods(run).dump(2);
  // The driver Job as sent, checked against the schema once the run is over: the validator can
  // take seconds (it sets itself up at its first use), longer than step b leaves to act.
  std::vector<Json> driver_jobs;
  for (Json j : Jobs(run))
    if (j["metadata"]["labels"].value("baton.dev/role", "") == "driver") driver_jobs.push_back(j);
  Json shown = JsonOf(ws(), {"runs", "show", run, "-o", "json"});
  EXPECT_EQ(shown["status"], "running");
  fake_.Call("DELETE", "/api/v1/namespaces/default/pods/" + driver_pod);
  for (int i = 0; i < 1200 && shown["status"] == "running"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    shown = JsonOf(ws(), {"runs", "show", run, "-o", "json"});
  }
  ASSERT_EQ(shown["status"], "completed") << shown.dump(2);
  ASSERT_FALSE(driver_jobs.empty());
  for (Json j : driver_jobs) {
    j["apiVersion"] = "batch/v1";  // the items of a list leave them out
    j["kind"] = "Job";
    ExpectValidObject(j);
  }
  // Every step ran once: b's pod was followed by the new driver, not started again.
  for (const char* s : {"a", "b", "c"}) {
    EXPECT_EQ(StepOf(shown, s)["status"], "completed") << s;
    EXPECT_EQ(StepOf(shown, s)["attempt"], 1) << s;
  }
  std::set<std::string> step_jobs, driver_pods;
  for (const auto& j : Jobs(run))
    if (j["metadata"]["labels"].value("baton.dev/role", "") != "driver") step_jobs.insert(j["metadata"]["name"]);
  EXPECT_EQ(step_jobs.size(), 3u) << Jobs(run).dump(2);
  const Json timeline = fake_.Call("GET", "/_fake/timeline")["events"];
  for (const auto& e : timeline)
    if (e.value("event", "") == "container-started" && e.value("job", "").find("-driver") != std::string::npos)
      driver_pods.insert(e.value("pod", ""));
  EXPECT_EQ(driver_pods.size(), 2u) << timeline.dump(1);
  // The step's output is in its pod's log.
  auto logs = fake_.Kubectl("1.33", "logs job/" + JobNamed(run, "b"));
  EXPECT_NE(logs.out.find("b done"), std::string::npos) << Describe(logs);
  // The run's Secret is gone with the run's end.
  EXPECT_TRUE(fake_.Items("/api/v1/namespaces/default/secrets?labelSelector=baton.dev/run=" + run).empty());
}

// A detached run stops through the store (`baton runs stop` on any machine), and a run whose
// driver failed for good is marked interrupted by the next look at it, with its step Jobs deleted.
TEST_F(Kubernetes, ADetachedRunStopsAndALostDriverIsReported) {
  std::ofstream(ws() + "/p.yaml") << "name: detached\nsteps:\n  a: {run: 'sleep 120'}\n";
  auto r = Run({"run", "p.yaml", "--stack", "kube", "--detach", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  std::string run = Json::parse(r.out)["run"];
  ASSERT_TRUE(WaitStepPod(run, "a"));
  r = Run({"runs", "stop", run, "--wait", "90s"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  Json shown = JsonOf(ws(), {"runs", "show", run, "-o", "json"});
  EXPECT_EQ(shown["status"], "stopped") << shown.dump(2);
  EXPECT_EQ(StepOf(shown, "a")["status"], "stopped");

  // The driver may not be restarted; its container is killed.
  Update({"driver_restarts=0"});
  r = Run({"run", "p.yaml", "--stack", "kube", "--detach", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  run = Json::parse(r.out)["run"];
  ASSERT_TRUE(WaitStepPod(run, "a"));
  std::string driver_pod;
  for (const auto& p : Pods(run))
    if (p["metadata"]["labels"].value("baton.dev/role", "") == "driver") driver_pod = p["metadata"]["name"];
  ASSERT_FALSE(driver_pod.empty());
  auto killed = RunShell("/", "podman kill -s KILL fake-default-" + driver_pod + "-driver-" + std::to_string(fake_.pid()));
  ASSERT_EQ(killed.exit_code, 0) << Describe(killed);
  for (int i = 0; i < 600 && shown["status"] != "interrupted"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    shown = JsonOf(ws(), {"runs", "show", run, "-o", "json"});
  }
  ASSERT_EQ(shown["status"], "interrupted") << shown.dump(2);
  EXPECT_NE(shown["reason"].get<std::string>().find("driver Job default/"), std::string::npos) << shown["reason"];
  EXPECT_NE(shown["reason"].get<std::string>().find("BackoffLimitExceeded"), std::string::npos) << shown["reason"];
  for (int i = 0; i < 300 && !Pods(run).empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (const auto& p : Pods(run)) EXPECT_NE(p["status"].value("phase", ""), "Running") << p["metadata"]["name"];
}

// A schedule on a kubernetes stack is a CronJob that runs the run's driver; pause, resume,
// update and delete change the CronJob. The test server's clock is moved to make it fire.
TEST_F(Kubernetes, AScheduleIsACronJobThatDrivesItsRunsInTheCluster) {
  std::ofstream(ws() + "/p.yaml") << "name: nightly\nsteps:\n  a: {run: 'echo a'}\n  b: {run: 'echo b', after: [a]}\n";
  auto r = Run({"schedule", "create", "p.yaml", "--name", "nightly", "--cron", "*/5 * * * *", "--overlap", "queue",
                "--stack", "kube"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("cannot queue"), std::string::npos) << Describe(r);
  r = Run({"schedule", "create", "p.yaml", "--name", "nightly", "--cron", "*/5 * * * *", "--stack", "kube"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("CronJob"), std::string::npos) << r.out;
  const std::string path = "/apis/batch/v1/namespaces/default/cronjobs/baton-sched-nightly";
  auto got = fake_.Kubectl("1.33", "get cronjob baton-sched-nightly -o json");
  ASSERT_EQ(got.exit_code, 0) << Describe(got);
  Json cj = Json::parse(got.out);
  ExpectValidObject(cj);
  EXPECT_EQ(cj["spec"]["schedule"], "*/5 * * * *");
  EXPECT_EQ(cj["spec"]["timeZone"], "UTC");
  EXPECT_EQ(cj["spec"]["concurrencyPolicy"], "Forbid");
  EXPECT_EQ(cj["spec"]["suspend"], false);
  const std::string command = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"].dump();
  EXPECT_NE(command.find("\"drive\",\"--schedule\",\"nightly\""), std::string::npos) << command;
  // The S3 secret reaches the firings through the schedule's Secret only.
  EXPECT_EQ(got.out.find(secret_), std::string::npos);
  Json secret = fake_.Call("GET", "/api/v1/namespaces/default/secrets/baton-sched-nightly-env");
  EXPECT_EQ(secret["data"].value("TEAM_S3_SECRET", ""), Base64Encode(secret_)) << secret.dump(2);

  // Five minutes on: it fires once, and the run is named as a server names a firing.
  fake_.Call("POST", "/_fake/clock", {{"advanceSeconds", 300}});
  std::string run;
  Json shown;
  for (int i = 0; i < 1200; ++i) {
    Json runs = JsonOf(ws(), {"runs", "list", "-o", "json"});
    if (!runs.empty() && runs[0]["status"] != "running") {
      run = runs[0]["id"];
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(run.empty()) << fake_.Kubectl("1.33", "get jobs,pods").out;
  shown = JsonOf(ws(), {"runs", "show", run, "-o", "json"});
  EXPECT_EQ(shown["status"], "completed") << shown.dump(2);
  EXPECT_EQ(run.rfind("nightly-20", 0), 0u) << run;
  EXPECT_EQ(StepOf(shown, "b")["status"], "completed");
  Json listed = JsonOf(ws(), {"schedule", "list", "-o", "json"});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["stack"], "kube");

  ASSERT_EQ(Run({"schedule", "pause", "nightly"}).exit_code, 0);
  EXPECT_EQ(fake_.Call("GET", path)["spec"]["suspend"], true);
  ASSERT_EQ(Run({"schedule", "resume", "nightly"}).exit_code, 0);
  EXPECT_EQ(fake_.Call("GET", path)["spec"]["suspend"], false);
  r = Run({"schedule", "update", "nightly", "--cron", "0 3 * * *", "--overlap", "allow", "--catchup", "none"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  cj = fake_.Call("GET", path);
  EXPECT_EQ(cj["spec"]["schedule"], "0 3 * * *");
  EXPECT_EQ(cj["spec"]["concurrencyPolicy"], "Allow");
  EXPECT_EQ(cj["spec"]["startingDeadlineSeconds"], 60);
  r = Run({"schedule", "delete", "nightly"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(fake_.Call("GET", path).value("reason", ""), "NotFound");
  for (int i = 0; i < 100 && fake_.Call("GET", "/api/v1/namespaces/default/secrets/baton-sched-nightly-env").value("reason", "") != "NotFound"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(fake_.Call("GET", "/api/v1/namespaces/default/secrets/baton-sched-nightly-env").value("reason", ""), "NotFound");
  EXPECT_TRUE(JsonOf(ws(), {"schedule", "list", "-o", "json"}).empty());
}

TEST_F(Kubernetes, ResumeSubmitsOnlyTheStepsThatDidNotComplete) {
  std::ofstream(ws() + "/p.yaml") << "name: resumed\nsteps:\n"
                                     "  a: {run: 'echo a'}\n"
                                     "  b: {run: 'test \"$FLAG\" = ok', after: [a]}\n"
                                     "  c: {run: 'echo c', after: [b]}\n";
  Update({"pass_env=TEAM_S3_KEY,TEAM_S3_SECRET,FLAG"});
  auto env = TeamEnv();
  env.push_back("FLAG=broken");
  auto r = RunBaton(ws(), {"run", "p.yaml", "--stack", "kube"}, env);
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  const std::string run = LatestRun();
  env.back() = "FLAG=ok";
  r = RunBaton(ws(), {"runs", "resume", run}, env);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json shown = JsonOf(ws(), {"runs", "show", run, "-o", "json"});
  EXPECT_EQ(shown["status"], "completed") << shown.dump(2);
  std::multiset<std::string> made;
  for (const auto& j : Jobs(run))
    made.insert(j["metadata"]["labels"]["baton.dev/step"].get<std::string>() + "." +
                j["metadata"]["labels"]["baton.dev/attempt"].get<std::string>());
  // c's first attempt is the record of its skip in the first run.
  EXPECT_EQ(made, (std::multiset<std::string>{"a.1", "b.1", "b.2", "c.2"}));
}

// The API server drops and expires watches, throttles and fails requests while a run goes on:
// the run completes with one Job per step, as if nothing happened.
TEST_F(Kubernetes, DroppedWatchesThrottlingAndServerErrorsDoNotDerailARun) {
  std::string p = "name: weather\nsteps:\n  s0: {run: 'sleep 1'}\n";
  for (int i = 1; i < 6; ++i) p += "  s" + std::to_string(i) + ": {run: 'sleep 1', after: [s" + std::to_string(i - 1) + "]}\n";
  std::ofstream(ws() + "/p.yaml") << p;
  Update({std::string("parent_image=") + kBase});
  pid_t pid = SpawnBaton(ws(), {"run", "p.yaml", "--stack", "kube"}, ws() + "/out", ws() + "/out", TeamEnv());
  ASSERT_GT(pid, 0);
  const std::string run = NewRun("");
  ASSERT_TRUE(WaitRunningPod(run));
  for (const Json& fault : {Json{{"drop_watches", true}}, Json{{"throttle", 3}}, Json{{"expire_watches", true}},
                            Json{{"fail_next", 2}}, Json{{"drop_watches", true}}}) {
    fake_.Call("POST", "/_fake/faults", fault);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  }
  EXPECT_EQ(WaitExit(pid), 0) << ReadFileOrDie(ws() + "/out");
  Json shown = JsonOf(ws(), {"runs", "show", run, "-o", "json"});
  EXPECT_EQ(shown["status"], "completed") << shown.dump(2);
  std::multiset<std::string> made;
  for (const auto& j : Jobs(run)) made.insert(j["metadata"]["labels"]["baton.dev/step"].get<std::string>());
  EXPECT_EQ(made, (std::multiset<std::string>{"s0", "s1", "s2", "s3", "s4", "s5"}));
}

// An API server that goes away for longer than api_timeout fails the steps it ran, with why,
// instead of leaving the run "running".
TEST_F(Kubernetes, ALostApiServerFailsTheRunInsteadOfHangingIt) {
  std::ofstream(ws() + "/p.yaml") << "name: lost\nsteps:\n  a: {run: 'sleep 60'}\n  b: {run: 'true', after: [a]}\n";
  Update({"api_timeout=3s", std::string("parent_image=") + kBase});
  pid_t pid = SpawnBaton(ws(), {"run", "p.yaml", "--stack", "kube"}, ws() + "/out", ws() + "/out", TeamEnv());
  ASSERT_GT(pid, 0);
  const std::string run = NewRun("");
  ASSERT_TRUE(WaitRunningPod(run));
  fake_.Stop();
  EXPECT_EQ(WaitExit(pid), 1) << ReadFileOrDie(ws() + "/out");
  Json shown = JsonOf(ws(), {"runs", "show", run, "-o", "json"});
  EXPECT_EQ(shown["status"], "failed") << shown.dump(2);
  EXPECT_EQ(StepOf(shown, "a")["reason"].get<std::string>().rfind("lost the Kubernetes API server for ", 0), 0u) << shown.dump(2);
  EXPECT_EQ(StepOf(shown, "b")["status"], "skipped");
}

// Slow (one pod per step): 200 steps with max_parallelism 20 never have more than 20 pods
// running, and do have several at once.
TEST_F(Kubernetes, ATwoHundredStepDagKeepsToMaxParallelism) {
  std::string p = "name: wide\nsteps:\n  root: {run: 'true'}\n";
  for (int i = 0; i < 198; ++i) p += "  s" + std::to_string(i) + ": {run: 'sleep 1', after: [root]}\n";
  p += "  sink: {run: 'true', after: [" ;
  for (int i = 0; i < 198; ++i) p += (i ? ", s" : "s") + std::to_string(i);
  p += "]}\n";
  std::ofstream(ws() + "/p.yaml") << p;
  Update({"max_parallelism=20", std::string("parent_image=") + kBase});
  fake_.Call("POST", "/_fake/stats/reset");
  auto r = Run({"run", "p.yaml", "--stack", "kube"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json stats = fake_.Call("GET", "/_fake/stats");
  EXPECT_LE(stats["max_running_pods"].get<int>(), 20) << stats.dump(2);
  EXPECT_GE(stats["max_running_pods"].get<int>(), 4) << stats.dump(2);
  // API requests per step stay a small constant: a Job's creation, not polls.
  EXPECT_LE(stats["requests_total"].get<int>(), 200 * 3) << stats.dump(2);
}

TEST_F(Kubernetes, CompiledManifestsAreValidKubernetesObjects) {
  const std::string validator = SourceDir() + "/../shared/schemas/validate";
  if (access(validator.c_str(), X_OK) != 0) GTEST_SKIP() << "no " << validator;
  std::ofstream(ws() + "/p.yaml")
      << "name: compiled\nsteps:\n  a: {run: 'true', resources: {cpu: 1.5, memory: 1Gi, gpu: 1}, timeout: 1m}\n"
         "  b: {run: 'true', after: [a], orchestrator: {kubernetes: {node_selector: {disk: ssd},\n"
         "      tolerations: [{key: gpu, operator: Exists, effect: NoSchedule}],\n"
         "      volumes: [{name: data, emptyDir: {}}], volume_mounts: [{name: data, mountPath: /data}]}}}\n";
  auto r = Run({"compile", "p.yaml", "--stack", "kube", "--out", ws() + "/out"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  auto v = RunShell("/", validator + " k8s " + ws() + "/out/kubernetes.yaml");
  EXPECT_EQ(v.exit_code, 0) << Describe(v);
  const std::string text = ReadFileOrDie(ws() + "/out/kubernetes.yaml");
  EXPECT_EQ(text.find(secret_), std::string::npos);
  // A manifest with a field Kubernetes does not have is refused by the validator (it can fail).
  std::ofstream(ws() + "/bad.yaml") << "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec:\n  backofLimit: 0\n"
                                       "  template: {spec: {restartPolicy: Never, containers: [{name: c, image: i}]}}\n";
  EXPECT_NE(RunShell("/", validator + " k8s " + ws() + "/bad.yaml").exit_code, 0);
}

}  // namespace
}  // namespace baton::testing
