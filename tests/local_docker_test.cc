// End-to-end tests of the local_docker orchestrator: real podman containers, images built by
// `baton build`, a real registry on loopback. They need podman configured as
// scripts/setup-podman.sh does (with --python for the quickstart, --registry for the registry):
// without it they are skipped, except under CI (CI set), where a missing setup is a failure.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace baton::testing {
namespace {

using Json = nlohmann::json;

constexpr const char* kBase = "localhost/baton-base:busybox";
constexpr const char* kPython = "localhost/baton-python:bookworm";

// "" when podman runs containers from `image`, else why not.
std::string Unready(const std::string& image) {
  if (RunShell("/", "command -v podman").exit_code != 0) return "podman is not installed";
  auto r = RunShell("/", "podman image exists " + image);
  if (r.exit_code != 0) return "image " + image + " is missing";
  return "";
}

#define REQUIRE_IMAGE(image)                                                                              \
  do {                                                                                                    \
    std::string why = Unready(image);                                                                     \
    if (!why.empty()) {                                                                                   \
      if (std::getenv("CI") != nullptr) FAIL() << why << " (CI must run scripts/setup-podman.sh first)";  \
      GTEST_SKIP() << why << "; run scripts/setup-podman.sh --python --registry to enable these tests";   \
    }                                                                                                     \
  } while (0)

using testing::JsonOf;

std::string LatestRun(const std::string& ws) {
  Json runs = JsonOf(ws, {"runs", "list", "-o", "json"});
  return runs.empty() ? "" : runs[0]["id"].get<std::string>();
}

// The containers (any state) labelled with the run.
std::string ContainersOf(const std::string& run) {
  return RunShell("/", "podman ps -aq --filter label=baton.run=" + run).out;
}

Json StepOf(const Json& shown, const std::string& step) {
  for (const auto& s : shown["steps"])
    if (s["step"] == step) return s;
  ADD_FAILURE() << "no step " << step << " in " << shown.dump(2);
  return Json::object();
}

// A workspace with a local_docker stack `docker` (active) built on the busybox base image.
class LocalDocker : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_IMAGE(kBase);
    ASSERT_EQ(RunBaton(ws(), {"init"}).exit_code, 0);
    Register("docker", {});
  }
  void TearDown() override {
    // The images built for this directory's code.
    RunShell("/", "podman images -q --filter label=baton.code_dir=" + d_.path() + " | sort -u | xargs -r podman rmi -f >/dev/null 2>&1");
  }
  const std::string& ws() const { return d_.path(); }
  // Registers orchestrator and stack NAME with the given --set values, and makes it active.
  void Register(const std::string& name, const std::vector<std::string>& sets) {
    std::vector<std::string> args = {"orchestrator", "register", name, "--flavor", "local_docker"};
    for (const auto& s : sets) args.insert(args.end(), {"--set", s});
    auto r = RunBaton(ws(), args);
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    r = RunBaton(ws(), {"stack", "register", name, "--orchestrator", name});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    ASSERT_EQ(RunBaton(ws(), {"stack", "set", name}).exit_code, 0);
  }
  TempDir d_;
};

TEST_F(LocalDocker, RunsStepsInContainersAndRecordsThemLikeLocalRuns) {
  d_.Write("p.yaml",
           "name: boxed\nsteps:\n"
           "  a: {run: 'cat /proc/1/cmdline | tr \"\\0\" \" \" > {{outputs.x}}', outputs: [x]}\n"
           "  b: {run: 'cat {{inputs.x}} > {{outputs.y}}; echo step-b-says-hi', inputs: {x: a.x}, outputs: [y],"
           " resources: {cpu: 1, memory: 256Mi}}\n");
  auto r = RunBaton(ws(), {"run", "p.yaml", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string run = LatestRun(ws());
  Json shown = JsonOf(ws(), {"runs", "show", run, "-o", "json"});
  EXPECT_EQ(shown["orchestrator"], "local_docker");
  EXPECT_EQ(shown["status"], "completed");
  // The step ran under the entrypoint as the container's first process.
  Json a = StepOf(shown, "a");
  std::string dest = ws() + "/x.out";
  ASSERT_EQ(RunBaton(ws(), {"artifacts", "export", std::to_string(a["outputs"]["x"]["id"].get<int64_t>()), dest}).exit_code, 0);
  std::string cmdline = ReadFileOrDie(dest);
  EXPECT_NE(cmdline.find("/opt/baton/bin/baton step run"), std::string::npos) << cmdline;
  // The step's log is where a local run has it.
  auto logs = RunBaton(ws(), {"runs", "logs", run, "b"});
  EXPECT_NE(logs.out.find("step-b-says-hi"), std::string::npos) << Describe(logs);
  EXPECT_EQ(ContainersOf(run), "");
  // The container's own output names the image.
  std::string clog = ReadFileOrDie(ws() + "/.baton/logs/" + run + "/b.container.log");
  EXPECT_NE(clog.find("in a container of image localhost/baton-boxed:"), std::string::npos) << clog;
  EXPECT_NE(clog.find("step b of run " + run + ": completed"), std::string::npos) << clog;
  // Compile shows the containers a run would start, with the step's limits.
  auto c = RunBaton(ws(), {"compile", "p.yaml", "--out", ws() + "/out"});
  ASSERT_EQ(c.exit_code, 0) << Describe(c);
  std::string script = ReadFileOrDie(ws() + "/out/containers.sh");
  EXPECT_NE(script.find("'podman' 'run' '--rm'"), std::string::npos) << script;
  EXPECT_NE(script.find("'--memory' '268435456b'"), std::string::npos) << script;
}

// Matrix and for_each instances each run in a container of their own (the for_each's started once
// the list exists), and a condition decides in the container's entrypoint.
TEST_F(LocalDocker, MatrixAndForEachInstancesRunInContainersOfTheirOwn) {
  d_.Write("p.yaml", R"(name: dynbox
steps:
  split: {run: "echo [1,2,3] > {{outputs.list}}", outputs: [list]}
  t:
    matrix: {k: [x, y]}
    run: "tr '\\0' ' ' < /proc/1/cmdline | grep -o -- '--step [^ ]*' > {{outputs.o}}"
    outputs: [o]
  w:
    for_each: {items: split.list, parallel: 2}
    run: "tr '\\0' ' ' < /proc/1/cmdline | grep -o -- '--step [^ ]*' > {{outputs.o}}"
    outputs: [o]
  gather:
    inputs:
      ws: w[*].o
      ts: t[*].o
    run: "cat {{inputs.ws}} {{inputs.ts}} | sort -u | wc -l > {{outputs.n}}"
    outputs: [n]
  deploy:
    when: "{{steps.gather.outputs.n}} < 5"
    run: "true"
)");
  auto r = RunBaton(ws(), {"run", "p.yaml", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["completed"], 1 + 2 + 3 + 1);
  EXPECT_EQ(j["skipped"], 1);
  Json shown = JsonOf(ws(), {"runs", "show", j["run"].get<std::string>(), "-o", "json"});
  Json g = StepOf(shown, "gather");
  std::string dest = ws() + "/n.out";
  ASSERT_EQ(RunBaton(ws(), {"artifacts", "export", std::to_string(g["outputs"]["n"]["id"].get<int64_t>()), dest}).exit_code, 0);
  // Five containers, each with the step entrypoint of its instance as its first process.
  EXPECT_EQ(std::stoi(ReadFileOrDie(dest)), 5);
  EXPECT_EQ(StepOf(shown, "deploy")["status"].get<std::string>(), "skipped");
  EXPECT_EQ(StepOf(shown, "w[2]")["status"].get<std::string>(), "completed");
  EXPECT_EQ(ContainersOf(j["run"].get<std::string>()), "");
}

TEST_F(LocalDocker, SecondBuildIsANoOpAndACodeChangeBuildsANewImage) {
  d_.Write("p.yaml", "name: reuse\nsteps:\n  a: {run: 'sh steps/a.sh'}\n");
  d_.Write("steps/a.sh", "echo one\n");
  Json first = JsonOf(ws(), {"build", "p.yaml", "-o", "json"});
  ASSERT_EQ(first.size(), 1u) << first.dump();
  EXPECT_EQ(first[0]["built"], true);
  Json second = JsonOf(ws(), {"build", "p.yaml", "-o", "json"});
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0]["built"], false) << "an unchanged pipeline was built again";
  EXPECT_EQ(second[0]["image"], first[0]["image"]);
  // The image holds the code: running needs no bind mount of the pipeline directory.
  auto r = RunBaton(ws(), {"run", "p.yaml"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  d_.Write("steps/a.sh", "echo two\n");
  Json third = JsonOf(ws(), {"build", "p.yaml", "-o", "json"});
  EXPECT_EQ(third[0]["built"], true);
  EXPECT_NE(third[0]["image"], first[0]["image"]);
}

TEST_F(LocalDocker, AStepOverItsMemoryLimitFailsWithAnOutOfMemoryReason) {
  d_.Write("p.yaml",
           "name: hog\nsteps:\n"
           "  hog: {run: 'x=$(head -c 300000000 /dev/zero | tr \"\\0\" a); echo ${#x}', resources: {memory: 64Mi},"
           " retries: {max: 0}}\n");
  auto r = RunBaton(ws(), {"run", "p.yaml"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  const std::string run = LatestRun(ws());
  Json hog = StepOf(JsonOf(ws(), {"runs", "show", run, "-o", "json"}), "hog");
  EXPECT_EQ(hog["status"], "failed");
  EXPECT_NE(hog["reason"].get<std::string>().find("out of memory"), std::string::npos) << hog.dump(2);
  EXPECT_NE(hog["reason"].get<std::string>().find("64Mi"), std::string::npos) << hog.dump(2);
  EXPECT_EQ(ContainersOf(run), "");
}

TEST_F(LocalDocker, AStepKilledByItsTimeoutLeavesNoContainerBehind) {
  d_.Write("p.yaml", "name: slow\nsteps:\n  nap: {run: 'sleep 60', timeout: 1s, retries: {max: 0}}\n");
  auto r = RunBaton(ws(), {"run", "p.yaml"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  const std::string run = LatestRun(ws());
  Json nap = StepOf(JsonOf(ws(), {"runs", "show", run, "-o", "json"}), "nap");
  EXPECT_EQ(nap["status"], "failed");
  EXPECT_NE(nap["reason"].get<std::string>().find("timed out"), std::string::npos) << nap.dump(2);
  EXPECT_EQ(ContainersOf(run), "");
}

TEST_F(LocalDocker, StopLeavesNoContainerBehind) {
  d_.Write("p.yaml", "name: long\nsteps:\n  l1: {run: 'sleep 120'}\n  l2: {run: 'sleep 120'}\n  l3: {run: 'true', after: [l1]}\n");
  pid_t pid = SpawnBaton(ws(), {"run", "p.yaml", "-j", "2"}, ws() + "/out.txt", ws() + "/err.txt");
  ASSERT_GT(pid, 0);
  std::string run;
  for (int i = 0; i < 600; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (run.empty()) run = LatestRun(ws());
    if (run.empty()) continue;
    const std::string listed = ContainersOf(run);
    if (std::count(listed.begin(), listed.end(), '\n') == 2) break;
  }
  ASSERT_FALSE(run.empty());
  auto listed = ContainersOf(run);
  ASSERT_EQ(std::count(listed.begin(), listed.end(), '\n'), 2) << "the two steps never ran: " << listed;
  auto stop = RunBaton(ws(), {"runs", "stop", run});
  EXPECT_EQ(stop.exit_code, 0) << Describe(stop);
  EXPECT_EQ(WaitExit(pid), 1);
  EXPECT_EQ(ContainersOf(run), "") << "a container outlived the stop";
  Json shown = JsonOf(ws(), {"runs", "show", run, "-o", "json"});
  EXPECT_EQ(shown["status"], "stopped");
  for (const auto& s : shown["steps"]) EXPECT_TRUE(s["status"] == "stopped" || s["status"] == "skipped") << s.dump();
}

TEST_F(LocalDocker, ContainersOfACrashedBatonAreRemovedByTheNextCommand) {
  d_.Write("p.yaml", "name: crash\nsteps:\n  l1: {run: 'sleep 120'}\n");
  pid_t pid = SpawnBaton(ws(), {"run", "p.yaml"}, ws() + "/out.txt", ws() + "/err.txt");
  ASSERT_GT(pid, 0);
  std::string run;
  for (int i = 0; i < 600; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (run.empty()) run = LatestRun(ws());
    if (!run.empty() && !ContainersOf(run).empty()) break;
  }
  ASSERT_FALSE(run.empty());
  ASSERT_NE(ContainersOf(run), "") << "the step never ran";
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  WaitExit(pid);
  Json runs = JsonOf(ws(), {"runs", "list", "-o", "json"});
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["status"], "interrupted");
  // Its entrypoint is killed like any step process of the run, or its container removed.
  const std::string reason = runs[0]["reason"];
  EXPECT_TRUE(reason.find("step process group(s) it left running") != std::string::npos ||
              reason.find("container(s) it left running") != std::string::npos)
      << reason;
  for (int i = 0; i < 100 && !ContainersOf(run).empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(ContainersOf(run), "");
}

TEST_F(LocalDocker, AMissingImageIsAClearStepFailure) {
  Register("missing", {"parent_image=localhost/baton-no-such-image:1"});
  d_.Write("p.yaml", "name: noimage\nsteps:\n  a: {run: 'true'}\n");
  auto r = RunBaton(ws(), {"run", "p.yaml"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  Json a = StepOf(JsonOf(ws(), {"runs", "show", LatestRun(ws()), "-o", "json"}), "a");
  EXPECT_EQ(a["status"], "failed");
  EXPECT_NE(a["reason"].get<std::string>().find("image 'localhost/baton-no-such-image:1' is not available"),
            std::string::npos)
      << a.dump(2);
  auto b = RunBaton(ws(), {"build", "p.yaml"});
  EXPECT_NE(b.exit_code, 0);
  EXPECT_NE(b.err.find("localhost/baton-no-such-image:1"), std::string::npos) << Describe(b);
}

TEST_F(LocalDocker, BadConfigIsRefused) {
  auto r = RunBaton(ws(), {"orchestrator", "register", "x", "--flavor", "local_docker", "--set", "engine=rkt"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("must be auto, podman or docker"), std::string::npos) << r.err;
  r = RunBaton(ws(), {"orchestrator", "register", "y", "--flavor", "local_docker", "--set", "container_registry=nope"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  ASSERT_EQ(RunBaton(ws(), {"stack", "register", "y", "--orchestrator", "y"}).exit_code, 0);
  d_.Write("p.yaml", "name: p\nsteps:\n  a: {run: 'true'}\n");
  r = RunBaton(ws(), {"run", "p.yaml", "--stack", "y"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("container registry 'nope', which does not exist"), std::string::npos) << r.err;
}

TEST_F(LocalDocker, WarmModeRunsEveryStepInOneContainer) {
  Register("warm", {"reuse_containers=true"});
  // Different commands (no cache hits), the same output when the first process is the same.
  auto who = [](const std::string& step) {
    return "STEP=" + step + " cat /proc/1/cmdline | tr \"\\0\" \" \" > {{outputs.o}}";
  };
  d_.Write("p.yaml", "name: warm\nsteps:\n"
                     "  a: {run: '" + who("a") + "', outputs: [o]}\n"
                     "  b: {run: '" + who("b") + "', outputs: [o], after: [a]}\n"
                     "  c: {run: '" + who("c") + "', outputs: [o], after: [a]}\n");
  auto r = RunBaton(ws(), {"run", "p.yaml", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string run = LatestRun(ws());
  Json shown = JsonOf(ws(), {"runs", "show", run, "-o", "json"});
  std::string digest;
  for (const auto& s : shown["steps"]) {
    EXPECT_EQ(s["status"], "completed") << s.dump();
    // Every step saw the same first process: the warm container's.
    if (digest.empty()) digest = s["outputs"]["o"]["digest"];
    EXPECT_EQ(s["outputs"]["o"]["digest"], digest);
  }
  std::string dest = ws() + "/o.out";
  ASSERT_EQ(RunBaton(ws(), {"artifacts", "export", std::to_string(StepOf(shown, "a")["outputs"]["o"]["id"].get<int64_t>()), dest})
                .exit_code,
            0);
  EXPECT_NE(ReadFileOrDie(dest).find("baton step serve"), std::string::npos) << ReadFileOrDie(dest);
  EXPECT_EQ(ContainersOf(run), "") << "the warm container outlived the run";
}

TEST_F(LocalDocker, SecretsReachTheStepButNoProcessListingOrLog) {
  const std::string secret = "tok-" + std::to_string(std::random_device{}()) + "-zz";
  Register("secret", {"pass_env=API_TOKEN"});
  d_.Write("p.yaml", "name: secret\nsteps:\n"
                     "  s: {run: 'echo -n \"$API_TOKEN\" | md5sum | cut -c1-32 > {{outputs.h}}; sleep 2', outputs: [h]}\n");
  pid_t pid = SpawnBaton(ws(), {"run", "p.yaml"}, ws() + "/out.txt", ws() + "/err.txt", {"API_TOKEN=" + secret});
  ASSERT_GT(pid, 0);
  bool seen_running = false;
  for (int i = 0; i < 600; ++i) {
    std::string run = LatestRun(ws());
    if (!run.empty() && !ContainersOf(run).empty()) {
      seen_running = true;
      auto ps = RunShell("/", "ps -eo args");
      EXPECT_EQ(ps.out.find(secret), std::string::npos) << "the secret is on a command line:\n" << ps.out;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(seen_running);
  ASSERT_EQ(WaitExit(pid), 0) << ReadFileOrDie(ws() + "/err.txt");
  // The step saw the value...
  std::string want = RunShell("/", "echo -n '" + secret + "' | md5sum | cut -c1-32").out;
  Json s = StepOf(JsonOf(ws(), {"runs", "show", LatestRun(ws()), "-o", "json"}), "s");
  std::string dest = ws() + "/h.out";
  ASSERT_EQ(RunBaton(ws(), {"artifacts", "export", std::to_string(s["outputs"]["h"]["id"].get<int64_t>()), dest}).exit_code, 0);
  EXPECT_EQ(ReadFileOrDie(dest), want);
  // ...and no log, store or output of baton holds it.
  auto grep = RunShell(ws(), "grep -r -l -a -F -e '" + secret + "' .baton out.txt err.txt");
  EXPECT_EQ(grep.out, "") << "the secret was written to " << grep.out;
}

TEST_F(LocalDocker, PushesToARegistryAndPullsByDigest) {
  if (RunShell("/", "command -v docker-registry").exit_code != 0) {
    if (std::getenv("CI") != nullptr) FAIL() << "docker-registry is not installed (scripts/setup-podman.sh --registry)";
    GTEST_SKIP() << "docker-registry is not installed; run scripts/setup-podman.sh --registry";
  }
  // A registry of our own on a loopback port, below the kernel's ephemeral range (32768 and up)
  // so that no outgoing connection holds it; another port is tried if it is taken anyway.
  struct Kill {
    pid_t pid = 0;
    ~Kill() {
      if (pid > 0) ::kill(pid, SIGTERM);
    }
  } kill_registry;
  std::string addr;
  bool up = false;
  for (int attempt = 0; attempt < 5 && !up; ++attempt) {
    const int port = 20000 + static_cast<int>(std::random_device{}() % 12000);
    addr = "127.0.0.1:" + std::to_string(port);
    d_.Write("registry.yml", "version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: " + ws() +
                                 "/registry}}\nhttp: {addr: '" + addr + "'}\n");
    auto started = RunShell(ws(), "docker-registry serve registry.yml > registry.log 2>&1 & echo $!");
    const pid_t registry = static_cast<pid_t>(std::atoi(started.out.c_str()));
    ASSERT_GT(registry, 0);
    kill_registry.pid = registry;
    for (int i = 0; i < 100 && !up; ++i) {
      up = RunShell("/", "wget -q -O - http://" + addr + "/v2/ >/dev/null 2>&1 || curl -sf http://" + addr + "/v2/ >/dev/null").exit_code == 0;
      if (up || ::kill(registry, 0) != 0) break;  // serving, or it exited (the port was taken)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!up) {
      ::kill(registry, SIGTERM);
      kill_registry.pid = 0;
    }
  }
  ASSERT_TRUE(up) << ReadFileOrDie(ws() + "/registry.log");

  auto r = RunBaton(ws(), {"container-registry", "register", "loop", "--flavor", "default", "--set", "uri=" + addr, "--set",
                           "tls_verify=false"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Register("pushing", {"container_registry=loop"});
  d_.Write("p.yaml", "name: reg\nsteps:\n  a: {run: 'echo pushed'}\n");
  Json built = JsonOf(ws(), {"build", "p.yaml", "-o", "json"});
  ASSERT_EQ(built.size(), 1u);
  EXPECT_EQ(built[0]["pushed"], true);
  const std::string ref = built[0]["image"];
  EXPECT_EQ(ref.rfind(addr + "/baton-reg@sha256:", 0), 0u) << ref;
  // Gone from this machine, the image comes back from the registry by its digest.
  RunShell("/", "podman rmi -f " + built[0]["tag"].get<std::string>() + " " + ref + " >/dev/null 2>&1");
  auto pulled = RunShell("/", "podman pull -q --tls-verify=false " + ref);
  EXPECT_EQ(pulled.exit_code, 0) << Describe(pulled);
  EXPECT_EQ(RunShell("/", "podman image exists " + ref).exit_code, 0);
  // And a run on the stack builds, pushes and runs by digest.
  r = RunBaton(ws(), {"run", "p.yaml"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  RunShell("/", "podman rmi -f " + ref + " >/dev/null 2>&1");
}

// The quickstart ML pipeline (python3 + scikit-learn in an image built from Debian packages),
// run on local_docker and locally: the runs differ only in their orchestrator.
TEST_F(LocalDocker, QuickstartRunsInContainersLikeLocally) {
  REQUIRE_IMAGE(kPython);
  ASSERT_EQ(RunShell(ws(), "cp -r " + SourceDir() + "/examples/quickstart/. .").exit_code, 0);
  Register("py", {"parent_image=" + std::string(kPython)});
  auto r = RunBaton(ws(), {"run", "pipeline.yaml", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json docker = JsonOf(ws(), {"runs", "show", LatestRun(ws()), "-o", "json"});
  r = RunBaton(ws(), {"run", "pipeline.yaml", "--stack", "default", "--no-cache", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json local = JsonOf(ws(), {"runs", "show", LatestRun(ws()), "-o", "json"});
  EXPECT_EQ(docker["orchestrator"], "local_docker");
  EXPECT_EQ(local["orchestrator"], "local");
  for (const char* k : {"status", "pipeline", "parameters", "pipeline_file"}) EXPECT_EQ(docker[k], local[k]) << k;
  ASSERT_EQ(docker["steps"].size(), local["steps"].size());
  for (const auto& ls : local["steps"]) {
    Json ds = StepOf(docker, ls["step"]);
    for (const char* k : {"status", "attempt", "exit_code", "metadata", "reason"}) EXPECT_EQ(ds[k], ls[k]) << ls["step"] << " " << k;
    ASSERT_EQ(ds["outputs"].size(), ls["outputs"].size());
    for (auto it = ls["outputs"].begin(); it != ls["outputs"].end(); ++it) {
      EXPECT_TRUE(ds["outputs"].contains(it.key()));
      // Data is bit-identical; a pickled model need not be.
      if (it.key() != "model") {
        EXPECT_EQ(ds["outputs"][it.key()]["digest"], it.value()["digest"]) << it.key();
      }
    }
  }
  EXPECT_NE(docker["steps"].dump().find("accuracy"), std::string::npos);
}

}  // namespace
}  // namespace baton::testing

namespace baton::testing {
namespace {

// Without podman or docker: compile still shows the containers; build and run say what is missing.
TEST(LocalDockerWithoutEngine, CompilesAndExplainsWhatIsMissing) {
  TempDir d;
  // baton with a PATH where neither engine is.
  auto without_engine = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/env", "PATH=/nonexistent", BatonBinary()});
    return RunProgram(d.path(), args);
  };
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  ASSERT_EQ(RunBaton(d.path(), {"orchestrator", "register", "boxed", "--flavor", "local_docker", "--set", "network=none"})
                .exit_code,
            0);
  ASSERT_EQ(RunBaton(d.path(), {"stack", "register", "boxed", "--orchestrator", "boxed", "--set"}).exit_code, 0);
  d.Write("p.yaml", "name: p\nsteps:\n  a: {run: 'true', resources: {cpu: 1, memory: 1Gi}}\n  b: {run: 'true', after: [a]}\n");
  auto c = without_engine({"compile", "p.yaml", "--out", d.path() + "/out"});
  ASSERT_EQ(c.exit_code, 0) << Describe(c);
  std::string script = ReadFileOrDie(d.path() + "/out/containers.sh");
  EXPECT_NE(script.find("'--network=none'"), std::string::npos) << script;
  EXPECT_NE(script.find("'--memory' '1073741824b' '--memory-swap' '1073741824b'"), std::string::npos) << script;
  EXPECT_NE(script.find("'/opt/baton/bin/baton' 'step' 'run'"), std::string::npos) << script;
  auto r = without_engine({"run", "p.yaml"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_NE(r.out.find("needs podman or docker"), std::string::npos) << Describe(r);
  auto b = without_engine({"build", "p.yaml"});
  EXPECT_NE(b.exit_code, 0);
  EXPECT_NE(b.err.find("needs podman or docker"), std::string::npos) << Describe(b);
}

}  // namespace
}  // namespace baton::testing
