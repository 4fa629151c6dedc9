// The slurm orchestrator against a real Slurm cluster on loopback (scripts/setup-slurm.sh):
// slurmctld, two slurmd nodes, munge, slurmdbd. Without a cluster these tests skip, except in CI
// (CI=true), where the cluster is part of the setup and its absence is a failure.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "flavors/slurm/slurm_orchestrator.h"
#include "test_util.h"

namespace baton {
namespace {

using testing::Describe;
using testing::RunBaton;
using testing::RunShell;
using testing::TempDir;
using Json = nlohmann::json;

bool ClusterUp() {
  static int up = -1;
  if (up < 0) up = RunShell("/", "scontrol ping 2>/dev/null | grep -q UP && sinfo -h >/dev/null 2>&1").exit_code == 0;
  return up == 1;
}

#define REQUIRE_SLURM()                                                                              \
  do {                                                                                               \
    if (!ClusterUp()) {                                                                              \
      if (std::getenv("CI") != nullptr) FAIL() << "no Slurm cluster: scripts/setup-slurm.sh starts one"; \
      GTEST_SKIP() << "no Slurm cluster here; scripts/setup-slurm.sh starts one";                    \
    }                                                                                                \
  } while (0)

using testing::JsonOf;

// A workspace with a `hpc` stack on the slurm flavor, polling fast.
std::string SlurmWorkspace(const TempDir& d, const std::vector<std::string>& extra = {}) {
  EXPECT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  std::vector<std::string> args = {"orchestrator", "register", "hpc", "--flavor", "slurm", "--set", "poll_interval=200ms"};
  for (const auto& e : extra) args.insert(args.end(), {"--set", e});
  auto r = RunBaton(d.path(), args);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  r = RunBaton(d.path(), {"stack", "register", "hpc", "--orchestrator", "hpc"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return d.path();
}

// Slurm's accounting records of the jobs named `name` (JobID -> "STATE|ExitCode|Comment"),
// waiting up to 20 s for slurmdbd to hold at least `want` of them. (Without a state list sacct
// leaves out jobs that never became eligible, such as those cancelled while pending.)
std::map<std::string, std::string> SlurmRecords(const std::string& name, size_t want) {
  std::map<std::string, std::string> jobs;
  for (int i = 0; i < 100; ++i) {
    jobs.clear();
    auto r = RunShell("/", "sacct -n -P -X -S 2020-01-01 -E now -s CA,CD,F,TO,OOM,NF,PD,R,DL,PR,BF --name='" + name + "' -o JobID,State,ExitCode,Comment");
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
      auto bar = line.find('|');
      if (bar != std::string::npos) jobs[line.substr(0, bar)] = line.substr(bar + 1);
    }
    if (jobs.size() >= want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return jobs;
}

std::string Unique(const std::string& base) {
  return base + std::to_string(::getpid()) + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 100000);
}

std::map<std::string, std::vector<std::string>> Attempts(const std::string& ws, const std::string& run) {
  Json shown = JsonOf(ws, {"runs", "show", run, "-o", "json"});
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& s : shown["steps"])
    out[s["step"]].push_back(s["status"].get<std::string>() + ":" + s["reason"].get<std::string>());
  return out;
}

TEST(SlurmFlavor, MapsSettingsToSbatchOptions) {
  SubmitRequest req;
  req.run_id = "r1";
  req.pipeline = "p";
  req.workdir = "/shared/p";
  StepJob step;
  step.name = "train";
  step.settings = {{"resources", {{"cpu", 2.5}, {"memory", int64_t{512} << 20}, {"gpu", 1}}},
                   {"timeout_us", int64_t{90'000'000}},
                   {"orchestrator", {{"partition", "gpu"}, {"account", "ml"}, {"qos", "high"}}}};
  auto o = SlurmOrchestrator::SbatchOptions(req, step, 2, "/logs/train.2.out");
  std::vector<std::string> want = {"--job-name=p.train", "--comment=baton run=r1 step=train attempt=2",
                                   "--output=/logs/train.2.out", "--chdir=/shared/p", "--partition=gpu",
                                   "--account=ml", "--qos=high", "--time=3", "--cpus-per-task=3", "--mem=512M",
                                   "--gres=gpu:1"};
  EXPECT_EQ(o, want);
  // An explicit time limit and working directory win.
  step.settings["orchestrator"] = {{"time_limit", "1-00:00:00"}, {"workdir", "/scratch/p"}};
  o = SlurmOrchestrator::SbatchOptions(req, step, 1, "/x");
  EXPECT_NE(std::find(o.begin(), o.end(), "--time=1-00:00:00"), o.end());
  EXPECT_NE(std::find(o.begin(), o.end(), "--chdir=/scratch/p"), o.end());
}

TEST(SlurmFlavor, EndStatesBecomeReasons) {
  using S = SlurmOrchestrator;
  EXPECT_EQ(S::FailureReason("7", "COMPLETED", "0:0", "", ""), "");
  EXPECT_EQ(S::FailureReason("7", "FAILED", "1:0", "", ""), "");  // the entrypoint recorded why
  EXPECT_EQ(S::FailureReason("7", "TIMEOUT", "0:0", "00:01:00", ""),
            "timed out: Slurm job 7 reached its time limit (00:01:00)");
  EXPECT_EQ(S::FailureReason("7", "OUT_OF_MEMORY", "0:125", "", ""),
            "out of memory: Slurm job 7 exceeded its memory limit (--mem)");
  EXPECT_EQ(S::FailureReason("7", "FAILED", "0:9", "", "slurmstepd-n1: error: Exceeded job memory limit\n"),
            "out of memory: Slurm job 7 exceeded its memory limit (--mem)");
  EXPECT_EQ(S::FailureReason("7", "NODE_FAIL", "0:0", "", ""), "Slurm job 7 ended with NODE_FAIL: its node failed");
  EXPECT_EQ(S::FailureReason("7", "FAILED", "0:9", "", ""), "Slurm job 7 was killed by signal 9");
  EXPECT_EQ(S::FailureReason("7", "FAILED", "1:0", "", "baton: error: no workspace (.baton) at or above /x\n"),
            "Slurm job 7 failed: no workspace (.baton) at or above /x");
  EXPECT_EQ(S::FailureReason("7", "FAILED", "2:0", "", ""),
            "Slurm job 7 failed with exit code 2 before the step entrypoint could record it");
}

TEST(SlurmFlavor, CompileWritesBatchScriptsAndASubmitScript) {
  TempDir d;
  SlurmWorkspace(d, {"partition=debug", "setup=module load cuda"});
  d.Write("p.yaml", "name: compiled\nsteps:\n  a: {run: \"echo a > {{outputs.x}}\", outputs: [x]}\n"
                    "  b: {run: \"cat {{inputs.x}}\", inputs: {x: a.x}, resources: {gpu: 1}}\n");
  auto r = RunBaton(d.path(), {"compile", "p.yaml", "--stack", "hpc", "--out", "out"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  std::string submit = testing::ReadFileOrDie(d.path() + "/out/slurm/submit.sh");
  EXPECT_NE(submit.find("job_0=$(sbatch --parsable a.1.sbatch)"), std::string::npos) << submit;
  EXPECT_NE(submit.find("job_1=$(sbatch --parsable --dependency=afterok:$job_0 b.1.sbatch)"), std::string::npos) << submit;
  std::string b = testing::ReadFileOrDie(d.path() + "/out/slurm/b.1.sbatch");
  EXPECT_NE(b.find("#SBATCH --gres=gpu:1\n"), std::string::npos) << b;
  EXPECT_NE(b.find("#SBATCH --partition=debug\n"), std::string::npos) << b;
  EXPECT_NE(b.find("#SBATCH --comment=\"baton run="), std::string::npos) << b;
  EXPECT_NE(b.find("module load cuda\nexec "), std::string::npos) << b;
  EXPECT_NE(b.find(" step run --snapshot sha256:"), std::string::npos) << b;
  // A bad setting is refused with its key.
  r = RunBaton(d.path(), {"orchestrator", "update", "hpc", "--set", "time_limit=soon"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("time_limit"), std::string::npos) << r.err;
}

TEST(Slurm, QuickstartRunsOnTheCluster) {
  REQUIRE_SLURM();
  TempDir d;
  SlurmWorkspace(d);
  RunShell(d.path(), "cp -r " + testing::SourceDir() + "/examples/quickstart .");
  auto r = RunBaton(d.path(), {"run", "quickstart/pipeline.yaml", "--stack", "hpc", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["status"], "completed");
  EXPECT_EQ(j["completed"], 4);
  Json shown = JsonOf(d.path(), {"runs", "show", j["run"], "-o", "json"});
  EXPECT_EQ(shown["orchestrator"], "slurm") << shown.dump(2);
  bool has_accuracy = false;
  for (const auto& s : shown["steps"]) {
    EXPECT_EQ(s["status"], "completed") << s.dump();
    if (s["step"] == "evaluate") has_accuracy = s["metadata"].is_object() && s["metadata"].contains("accuracy");
  }
  EXPECT_TRUE(has_accuracy) << shown.dump(2);
  // Every step's job is in Slurm's own records, completed, with the run in its comment.
  for (const std::string step : {"load", "split", "train", "evaluate"}) {
    auto jobs = SlurmRecords("digits." + step, 1);
    bool found = false;
    for (const auto& [id, rec] : jobs)
      found = found || (rec.find("COMPLETED|0:0|baton run=" + j["run"].get<std::string>() + " step=" + step) == 0);
    EXPECT_TRUE(found) << step;
  }
}

TEST(Slurm, AHundredStepDag) {
  REQUIRE_SLURM();
  TempDir d;
  SlurmWorkspace(d);
  // Ten layers of ten steps; each step reads one output of the layer before.
  const std::string name = Unique("dag");
  std::string y = "name: " + name + "\nsteps:\n";
  for (int l = 0; l < 10; ++l)
    for (int k = 0; k < 10; ++k) {
      std::string s = "s" + std::to_string(l) + "_" + std::to_string(k);
      if (l == 0) {
        y += "  " + s + ": {run: \"echo " + std::to_string(k) + " > {{outputs.v}}\", outputs: [v]}\n";
      } else {
        std::string up = "s" + std::to_string(l - 1) + "_" + std::to_string((k + l) % 10);
        // The step's name in a comment keeps equal values from being cache hits of each other.
        y += "  " + s + ": {run: \"echo $(( $(cat {{inputs.v}}) + 1 )) > {{outputs.v}} # " + s + "\", inputs: {v: " +
             up + ".v}, outputs: [v]}\n";
      }
    }
  d.Write("dag.yaml", y);
  auto r = RunBaton(d.path(), {"run", "dag.yaml", "--stack", "hpc", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["completed"], 100);
  // The last layer computed its value through nine dependent jobs.
  std::string id;
  Json shown = JsonOf(d.path(), {"runs", "show", j["run"], "-o", "json"});
  for (const auto& st : shown["steps"])
    if (st["step"] == "s9_0") id = std::to_string(st["outputs"]["v"]["id"].get<int64_t>());
  auto e = RunBaton(d.path(), {"artifacts", "export", id, d.path() + "/v"});
  ASSERT_EQ(e.exit_code, 0) << Describe(e);
  // s9_0 reads s8_9, which reads s7_7, ...: the first layer's value plus nine.
  int k = 0;
  for (int l = 9; l >= 1; --l) k = (k + l) % 10;
  EXPECT_EQ(std::stoi(testing::ReadFileOrDie(d.path() + "/v")), k + 9);
  size_t jobs = 0;
  for (int l = 0; l < 10; ++l)
    for (int kk = 0; kk < 10; ++kk) {
      auto recs = SlurmRecords(name + ".s" + std::to_string(l) + "_" + std::to_string(kk), 1);
      for (const auto& [id, rec] : recs) jobs += rec.rfind("COMPLETED|", 0) == 0;
    }
  EXPECT_EQ(jobs, 100u);
}

TEST(Slurm, AFailedStepCancelsItsDependentsAndResumeFinishesTheRun) {
  REQUIRE_SLURM();
  TempDir d;
  SlurmWorkspace(d);
  const std::string name = Unique("fails");
  d.Write("p.yaml", "name: " + name + R"(
steps:
  a: {run: "echo a > {{outputs.x}}", outputs: [x]}
  b: {run: "test -e fixed || exit 3; cat {{inputs.x}} > {{outputs.y}}", inputs: {x: a.x}, outputs: [y]}
  c: {run: "cat {{inputs.y}} > {{outputs.z}}", inputs: {y: b.y}, outputs: [z]}
  d: {run: "cat {{inputs.z}}", inputs: {z: c.z}}
  other: {run: "sleep 2; echo other"}
)");
  auto r = RunBaton(d.path(), {"run", "p.yaml", "--stack", "hpc", "-o", "json"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  Json j = Json::parse(r.out);
  const std::string run = j["run"];
  EXPECT_EQ(j["status"], "failed");
  auto at = Attempts(d.path(), run);
  EXPECT_EQ(at["a"], (std::vector<std::string>{"completed:"}));
  EXPECT_EQ(at["b"], (std::vector<std::string>{"failed:exited with code 3"}));
  EXPECT_EQ(at["c"], (std::vector<std::string>{"skipped:upstream step 'b' did not complete"}));
  EXPECT_EQ(at["d"], (std::vector<std::string>{"skipped:upstream step 'c' did not complete"}));
  EXPECT_EQ(at["other"], (std::vector<std::string>{"completed:"}));
  // Slurm cancelled the dependents: nothing is left pending on a dependency that cannot be met.
  for (const std::string step : {"c", "d"}) {
    auto recs = SlurmRecords(name + "." + step, 1);
    ASSERT_EQ(recs.size(), 1u) << step;
    EXPECT_EQ(recs.begin()->second.rfind("CANCELLED", 0), 0u) << step << " " << recs.begin()->second;
  }
  EXPECT_EQ(RunShell("/", "squeue -h -n " + name + ".c," + name + ".d").out, "");
  // Resume after fixing the cause: only b, c and d run again.
  d.Write("fixed", "");
  r = RunBaton(d.path(), {"runs", "resume", run});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  at = Attempts(d.path(), run);
  EXPECT_EQ(at["a"], (std::vector<std::string>{"completed:"}));
  EXPECT_EQ(at["b"].back(), "completed:");
  EXPECT_EQ(at["d"].back(), "completed:");
  EXPECT_EQ(SlurmRecords(name + ".a", 1).size(), 1u) << "a ran again";
  EXPECT_EQ(SlurmRecords(name + ".b", 2).size(), 2u);
}

// A matrix's instances and a for_each's instances are Slurm jobs of their own (the for_each's
// submitted once its list exists); a condition that is false is a skip, and its dependent's held
// job is cancelled.
TEST(Slurm, MatrixAndForEachInstancesAreJobsOfTheirOwn) {
  REQUIRE_SLURM();
  TempDir d;
  SlurmWorkspace(d);
  const std::string name = Unique("dyn");
  d.Write("p.yaml", "name: " + name + R"(
steps:
  split: {run: "printf 'a\nb\nc\n' > {{outputs.list}}", outputs: [list]}
  t:
    matrix: {k: [1, 2]}
    run: "echo {{matrix.k}} > {{outputs.o}}; echo '{\"k\": {{matrix.k}}}' > $BATON_METADATA"
    outputs: [o]
  w:
    for_each: {items: split.list, as: lines}
    run: "echo {{item}} > {{outputs.o}}"
    outputs: [o]
  gather:
    inputs:
      ws: w[*].o
      ts: t[*].o
    run: "cat {{inputs.ws}} {{inputs.ts}} > {{outputs.all}}"
    outputs: [all]
  deploy:
    when: "{{steps.t[k=2].metadata.k}} > 5"
    run: "true"
  after_deploy:
    after: [deploy]
    run: "true"
)");
  auto r = RunBaton(d.path(), {"run", "p.yaml", "--stack", "hpc", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["completed"], 1 + 2 + 3 + 1);
  EXPECT_EQ(j["skipped"], 2);
  auto at = Attempts(d.path(), j["run"]);
  EXPECT_EQ(at["deploy"], (std::vector<std::string>{
                              "skipped:condition false: {{steps.t[k=2].metadata.k}} > 5 (steps.t[k=2].metadata.k = 2)"}));
  EXPECT_EQ(at["after_deploy"], (std::vector<std::string>{"skipped:upstream step 'deploy' was skipped"}));
  // sacct --name reads brackets as a pattern: the run's jobs are found by their comment.
  std::map<std::string, std::string> jobs;  // job name -> state
  for (int i = 0; i < 100 && jobs.size() < 8; ++i) {
    jobs.clear();
    auto q = RunShell("/", "sacct -n -P -X -S 2020-01-01 -E now -o JobName%100,State,Comment");
    std::istringstream in(q.out);
    for (std::string line; std::getline(in, line);)
      if (line.find("baton run=" + j["run"].get<std::string>() + " ") != std::string::npos)
        jobs[line.substr(0, line.find('|'))] = line.substr(line.find('|') + 1, line.find('|', line.find('|') + 1) - line.find('|') - 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (const std::string step : {"t[k=1]", "t[k=2]", "w[0]", "w[1]", "w[2]", "gather"}) {
    EXPECT_EQ(at[step], (std::vector<std::string>{"completed:"})) << step;
    EXPECT_EQ(jobs[name + "." + step], "COMPLETED") << step;
  }
  EXPECT_FALSE(jobs.count(name + ".w")) << "the for_each step itself is no job";
}

TEST(Slurm, RetriesResubmitTheJob) {
  REQUIRE_SLURM();
  TempDir d;
  SlurmWorkspace(d);
  const std::string name = Unique("retry");
  d.Write("p.yaml", "name: " + name + R"(
steps:
  flaky:
    run: "if [ -e once ]; then echo ok > {{outputs.out}}; else touch once; exit 4; fi"
    outputs: [out]
    retries: {max: 2, delay: 1s}
  after: {run: "cat {{inputs.x}}", inputs: {x: flaky.out}}
)");
  auto r = RunBaton(d.path(), {"run", "p.yaml", "--stack", "hpc", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  auto at = Attempts(d.path(), Json::parse(r.out)["run"]);
  EXPECT_EQ(at["flaky"], (std::vector<std::string>{"failed:exited with code 4", "completed:"}));
  EXPECT_EQ(at["after"], (std::vector<std::string>{"completed:"}));
  // Two jobs: the failed first attempt and the resubmitted second one.
  auto recs = SlurmRecords(name + ".flaky", 2);
  std::vector<std::string> states;
  for (const auto& [id, rec] : recs) states.push_back(rec.substr(0, rec.find('|')));
  EXPECT_EQ(states, (std::vector<std::string>{"FAILED", "COMPLETED"}));
  EXPECT_NE(recs.rbegin()->second.find("attempt=2"), std::string::npos) << recs.rbegin()->second;
}

TEST(Slurm, StopCancelsEveryJob) {
  REQUIRE_SLURM();
  TempDir d;
  SlurmWorkspace(d);
  const std::string name = Unique("stop");
  std::string marker = "zzslurm" + name;
  d.Write("p.yaml", "name: " + name + "\nsteps:\n  a: {run: \"sleep 300; : " + marker + "\"}\n  b: {run: \"sleep 301; : " +
                        marker + "\"}\n  c: {run: \"true\", after: [a, b]}\n");
  pid_t pid = testing::SpawnBaton(d.path(), {"run", "p.yaml", "--stack", "hpc"}, "/dev/null", "/dev/null");
  ASSERT_GT(pid, 0);
  for (int i = 0; i < 600 && RunShell("/", "pgrep -f 'sleep 30[01]; : " + marker + "' | wc -l").out != "2\n"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(RunShell("/", "pgrep -f 'sleep 30[01]; : " + marker + "' | wc -l").out, "2\n");
  Json runs = JsonOf(d.path(), {"runs", "list", "-o", "json"});
  ASSERT_EQ(runs.size(), 1u);
  auto r = RunBaton(d.path(), {"runs", "stop", runs[0]["id"]});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(testing::WaitExit(pid), 1);
  runs = JsonOf(d.path(), {"runs", "list", "-o", "json"});
  EXPECT_EQ(runs[0]["status"], "stopped") << runs.dump(2);
  // The pending job is cancelled in Slurm's records. The running ones were signalled and
  // cancelled: Slurm records them CANCELLED, or FAILED when their entrypoint had already
  // stopped its step and exited. None is queued, no step process is left.
  auto c = SlurmRecords(name + ".c", 1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c.begin()->second.rfind("CANCELLED", 0), 0u) << c.begin()->second;
  for (const std::string step : {"a", "b"}) {
    auto recs = SlurmRecords(name + "." + step, 1);
    ASSERT_EQ(recs.size(), 1u) << step;
    const std::string& rec = recs.begin()->second;
    EXPECT_TRUE(rec.rfind("CANCELLED", 0) == 0 || rec.rfind("FAILED|1:0|", 0) == 0) << step << " " << rec;
  }
  EXPECT_EQ(RunShell("/", "squeue -h -n " + name + ".a," + name + ".b," + name + ".c").out, "");
  std::string left;
  for (int i = 0; i < 100; ++i) {
    left = RunShell("/", "pgrep -f 'sleep 30[01]; : " + marker + "'").out;
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(left, "") << "a step outlived the stop";
  Json shown = JsonOf(d.path(), {"runs", "show", runs[0]["id"], "-o", "json"});
  for (const auto& s : shown["steps"])
    EXPECT_TRUE(s["status"] == "stopped" || (s["step"] == "c" && s["status"] == "skipped")) << s.dump();
}

TEST(Slurm, ATimeLimitBreachIsATimeout) {
  REQUIRE_SLURM();
  TempDir d;
  SlurmWorkspace(d);
  const std::string name = Unique("limit");
  // Slurm's limits are whole minutes: this takes one to two.
  d.Write("p.yaml", "name: " + name + R"(
steps:
  slow: {run: "sleep 400", orchestrator: {slurm: {time_limit: "1"}}}
)");
  auto r = RunBaton(d.path(), {"run", "p.yaml", "--stack", "hpc", "-o", "json"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  auto at = Attempts(d.path(), Json::parse(r.out)["run"]);
  ASSERT_EQ(at["slow"].size(), 1u);
  EXPECT_EQ(at["slow"][0].rfind("failed:timed out: Slurm job ", 0), 0u) << at["slow"][0];
  EXPECT_NE(at["slow"][0].find("reached its time limit"), std::string::npos) << at["slow"][0];
  auto recs = SlurmRecords(name + ".slow", 1);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs.begin()->second.substr(0, 8), "TIMEOUT|");
}

TEST(Slurm, MemoryOverTheLimitIsOutOfMemory) {
  REQUIRE_SLURM();
  TempDir d;
  SlurmWorkspace(d);
  const std::string name = Unique("oom");
  d.Write("p.yaml", "name: " + name + R"Y(
steps:
  hog:
    run: ["/usr/bin/python3", "-c", "import time\nx = bytearray(600 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1\ntime.sleep(30)"]
    resources: {memory: 150Mi}
)Y");
  auto r = RunBaton(d.path(), {"run", "p.yaml", "--stack", "hpc", "-o", "json"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  auto at = Attempts(d.path(), Json::parse(r.out)["run"]);
  ASSERT_EQ(at["hog"].size(), 1u);
  EXPECT_EQ(at["hog"][0].rfind("failed:out of memory: Slurm job ", 0), 0u) << at["hog"][0];
}

TEST(Slurm, GpuRequestsScheduleOnTheGpuNodes) {
  REQUIRE_SLURM();
  TempDir d;
  SlurmWorkspace(d);
  const std::string name = Unique("gpu");
  d.Write("p.yaml", "name: " + name + "\nsteps:\n  g: {run: \"echo on $SLURMD_NODENAME\", resources: {gpu: 2}}\n");
  auto r = RunBaton(d.path(), {"run", "p.yaml", "--stack", "hpc", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  auto recs = SlurmRecords(name + ".g", 1);
  ASSERT_EQ(recs.size(), 1u);
  testing::CommandResult tres;
  for (int i = 0; i < 100; ++i) {  // slurmdbd records the allocation shortly after the job
    tres = RunShell("/", "sacct -n -P -X -j " + recs.begin()->first + " -o AllocTRES");
    if (tres.out.find("gres/gpu") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_NE(tres.out.find("gres/gpu=2"), std::string::npos) << tres.out;
  // More GPUs than any node has: sbatch refuses, and the step fails with Slurm's words.
  d.Write("q.yaml", "name: " + name + "q\nsteps:\n  g: {run: \"true\", resources: {gpu: 3}}\n");
  r = RunBaton(d.path(), {"run", "q.yaml", "--stack", "hpc", "-o", "json"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  auto at = Attempts(d.path(), Json::parse(r.out)["run"]);
  ASSERT_EQ(at["g"].size(), 1u);
  EXPECT_NE(at["g"][0].find("sbatch failed"), std::string::npos) << at["g"][0];
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

TEST(Slurm, AKilledBatonLeavesNoJobBehind) {
  REQUIRE_SLURM();
  TempDir d;
  SlurmWorkspace(d);
  const std::string name = Unique("killed");
  std::string marker = "zzslurm" + name;
  d.Write("p.yaml", "name: " + name + "\nsteps:\n  a: {run: \"sleep 300; : " + marker + "\"}\n  b: {run: \"true\", after: [a]}\n");
  pid_t pid = testing::SpawnBaton(d.path(), {"run", "p.yaml", "--stack", "hpc"}, "/dev/null", "/dev/null");
  ASSERT_GT(pid, 0);
  // The bracket keeps the pattern from matching the shell that runs pgrep.
  for (int i = 0; i < 600 && RunShell("/", "pgrep -f 'sleep 30[0]; : " + marker + "' | wc -l").out != "1\n"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(RunShell("/", "pgrep -f 'sleep 30[0]; : " + marker + "' | wc -l").out, "1\n");
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  testing::WaitExit(pid);
  // The next command finds the dead run and cancels its jobs, the running and the pending one.
  Json runs = JsonOf(d.path(), {"runs", "list", "-o", "json"});
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["status"], "interrupted") << runs.dump(2);
  EXPECT_NE(runs[0]["reason"].get<std::string>().find("cancelled its backend jobs"), std::string::npos) << runs.dump(2);
  for (const std::string step : {"a", "b"}) {
    auto recs = SlurmRecords(name + "." + step, 1);
    ASSERT_EQ(recs.size(), 1u) << step;
    EXPECT_EQ(recs.begin()->second.rfind("CANCELLED", 0), 0u) << step << " " << recs.begin()->second;
  }
  EXPECT_EQ(RunShell("/", "squeue -h -n " + name + ".a," + name + ".b").out, "");
}

}  // namespace
}  // namespace baton
