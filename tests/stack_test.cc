// End-to-end tests of stacks, components, flavors, run configs, compile and custom orchestrator
// plugins. Every test drives the real baton binary; the plugin is the `script` flavor of
// examples/custom_orchestrator, built with baton.

#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace baton::testing {
namespace {

using Json = nlohmann::json;

using testing::JsonOf;

// Everything registered in a workspace, to check that a refused command changed nothing.
std::string Registered(const std::string& ws) {
  return JsonOf(ws, {"stack", "list", "-o", "json"}).dump() + JsonOf(ws, {"orchestrator", "list", "-o", "json"}).dump() +
         JsonOf(ws, {"artifact-store", "list", "-o", "json"}).dump() + JsonOf(ws, {"flavor", "list", "-o", "json"}).dump();
}

// The content of output `output` of step `step` in `run`.
std::string Output(const std::string& ws, const std::string& run, const std::string& step, const std::string& output) {
  Json shown = JsonOf(ws, {"runs", "show", run, "-o", "json"});
  for (const auto& s : shown["steps"])
    if (s["step"] == step && s["outputs"].contains(output)) {
      std::string dest = ws + "/exported-" + step + "-" + output;
      auto r = RunBaton(ws, {"artifacts", "export", std::to_string(s["outputs"][output]["id"].get<int64_t>()), dest});
      EXPECT_EQ(r.exit_code, 0) << Describe(r);
      std::string text = ReadFileOrDie(dest);
      ::unlink(dest.c_str());
      return text;
    }
  ADD_FAILURE() << "run " << run << " has no output " << step << "." << output << ": " << shown.dump(2);
  return "";
}

bool Exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

const char kDiamond[] = R"(name: diamond
parameters: {n: 3, tag: x}
steps:
  a:
    run: "seq {{params.n}} > {{outputs.out}}"
    outputs: [out]
  b:
    run: "wc -l < {{inputs.x}} > {{outputs.out}}"
    inputs: {x: a.out}
    outputs: [out]
  c:
    run: "sort -r {{inputs.x}} > {{outputs.out}}"
    inputs: {x: a.out}
    outputs: [out]
  d:
    run: "cat {{inputs.b}} {{inputs.c}} > {{outputs.out}}; echo {{params.tag}} >> {{outputs.out}}"
    inputs: {b: b.out, c: c.out}
    outputs: [out]
)";

TEST(Stacks, DefaultStackExistsAndRunsRecordTheirStack) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  Json stacks = JsonOf(d.path(), {"stack", "list", "-o", "json"});
  ASSERT_EQ(stacks.size(), 1u);
  EXPECT_EQ(stacks[0]["name"], "default");
  EXPECT_EQ(stacks[0]["orchestrator"], "default");
  EXPECT_TRUE(stacks[0]["active"].get<bool>());
  Json flavors = JsonOf(d.path(), {"flavor", "list", "-o", "json"});
  std::set<std::string> names;
  for (const auto& f : flavors) names.insert(f["type"].get<std::string>() + "/" + f["name"].get<std::string>());
  EXPECT_TRUE(names.count("orchestrator/local") && names.count("artifact_store/local")) << flavors.dump();

  // A second local orchestrator and artifact store, in a stack of their own.
  std::string p = d.Write("p.yaml", kDiamond);
  auto r = RunBaton(d.path(), {"orchestrator", "register", "two", "--flavor", "local", "--set", "jobs=2", "--set",
                               "kill_grace=2s"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = RunBaton(d.path(), {"artifact-store", "register", "elsewhere", "--flavor", "local", "--set", "path=other-store"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = RunBaton(d.path(), {"stack", "register", "mine", "--orchestrator", "two", "--artifact-store", "elsewhere"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);

  // Explicit --stack, then switching the active stack.
  Json run1 = JsonOf(d.path(), {"run", p, "-o", "json", "--stack", "mine"});
  EXPECT_EQ(run1["status"], "completed");
  Json shown = JsonOf(d.path(), {"runs", "show", run1["run"], "-o", "json"});
  EXPECT_EQ(shown["stack"], "mine");
  EXPECT_EQ(shown["orchestrator"], "local");
  // The artifacts went to the stack's store, not the workspace's.
  std::string digest = shown["steps"][3]["outputs"]["out"]["digest"].get<std::string>().substr(7);
  EXPECT_TRUE(Exists(d.path() + "/other-store/sha256/" + digest.substr(0, 2) + "/" + digest)) << shown.dump(2);
  EXPECT_FALSE(Exists(d.path() + "/.baton/artifacts/sha256/" + digest.substr(0, 2) + "/" + digest));

  Json run2 = JsonOf(d.path(), {"run", p, "-o", "json"});
  EXPECT_EQ(JsonOf(d.path(), {"runs", "show", run2["run"], "-o", "json"})["stack"], "default");
  ASSERT_EQ(RunBaton(d.path(), {"stack", "set", "mine"}).exit_code, 0);
  Json run3 = JsonOf(d.path(), {"run", p, "-o", "json"});
  Json shown3 = JsonOf(d.path(), {"runs", "show", run3["run"], "-o", "json"});
  EXPECT_EQ(shown3["stack"], "mine");
  EXPECT_EQ(run3["cached"], 4) << "the same pipeline on the same store hits the cache";
  EXPECT_EQ(JsonOf(d.path(), {"stack", "describe", "-o", "json"})["name"], "mine");
}

TEST(Stacks, InvalidRegistrationsAreRefusedAndChangeNothing) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  ASSERT_EQ(RunBaton(d.path(), {"orchestrator", "register", "o1", "--flavor", "local"}).exit_code, 0);
  ASSERT_EQ(RunBaton(d.path(), {"stack", "register", "s1", "--orchestrator", "o1"}).exit_code, 0);
  const std::string before = Registered(d.path());
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"orchestrator", "register", "x", "--flavor", "nosuch"}, "no orchestrator flavor 'nosuch' (flavors: kubernetes, local, "},
      {{"orchestrator", "register", "x", "--flavor", "local", "--set", "job=2"},
       "orchestrator flavor 'local' has no key 'job' (did you mean 'jobs'?); valid keys: jobs, kill_grace, max_log_size"},
      {{"orchestrator", "register", "x", "--flavor", "local", "--set", "max_log_size=big"},
       "'max_log_size' must be a size such as 100Mi, 512Ki or 1Gi, not 'big'"},
      {{"orchestrator", "register", "x", "--flavor", "local", "--set", "jobs=many"}, "'jobs' must be an integer, not 'many'"},
      {{"orchestrator", "register", "x", "--flavor", "local", "--set", "kill_grace=soon"},
       "'kill_grace' must be a duration such as 10s, 500ms or 2m, not 'soon'"},
      {{"orchestrator", "register", "x", "--flavor", "local", "--set", "jobs"}, "'jobs' is not KEY=VALUE"},
      {{"orchestrator", "register", "o1", "--flavor", "local"}, "orchestrator 'o1' already exists"},
      {{"orchestrator", "register", "bad name", "--flavor", "local"}, "invalid orchestrator name 'bad name'"},
      {{"artifact-store", "register", "x", "--flavor", "local", "--set", "root=/tmp"}, "has no key 'root'"},
      {{"stack", "register", "s2", "--orchestrator", "nosuch"}, "no orchestrator named 'nosuch'"},
      {{"stack", "register", "s2", "--artifact-store", "nosuch"}, "no artifact store named 'nosuch'"},
      {{"stack", "register", "s1"}, "stack 's1' already exists"},
      {{"stack", "set", "nosuch"}, "no stack named 'nosuch'"},
      {{"stack", "delete", "default"}, "the default stack cannot be deleted"},
      {{"stack", "update", "default", "--orchestrator", "o1"}, "the default stack cannot be changed"},
      {{"orchestrator", "delete", "o1"}, "orchestrator 'o1' is used by stack(s) s1"},
      {{"orchestrator", "delete", "default"}, "the default orchestrator cannot be deleted"},
      {{"orchestrator", "update", "o1", "--set", "jobs=x"}, "'jobs' must be an integer"},
      {{"orchestrator", "update", "nosuch", "--set", "jobs=1"}, "no orchestrator named 'nosuch'"},
      {{"flavor", "register", "/nonexistent/lib.so"}, "no such file"},
  };
  for (const auto& c : cases) {
    auto r = RunBaton(d.path(), c.args);
    std::string cmd;
    for (const auto& a : c.args) cmd += a + " ";
    EXPECT_EQ(r.exit_code, 2) << cmd << "\n" << Describe(r);
    EXPECT_NE(r.err.find(c.message), std::string::npos) << cmd << "\n" << Describe(r);
    EXPECT_EQ(Registered(d.path()), before) << cmd << " changed what is registered";
  }
  // The active stack cannot be deleted; once another is active, it can, and then its components.
  ASSERT_EQ(RunBaton(d.path(), {"stack", "set", "s1"}).exit_code, 0);
  auto r = RunBaton(d.path(), {"stack", "delete", "s1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is the active stack"), std::string::npos) << r.err;
  ASSERT_EQ(RunBaton(d.path(), {"stack", "set", "default"}).exit_code, 0);
  EXPECT_EQ(RunBaton(d.path(), {"stack", "delete", "s1"}).exit_code, 0);
  EXPECT_EQ(RunBaton(d.path(), {"orchestrator", "delete", "o1"}).exit_code, 0);
}

TEST(Stacks, SecretsAreStoredAsReferencesAndResolvedAtRunTime) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  auto r = RunBaton(d.path(), {"orchestrator", "register", "o", "--flavor", "local", "--set", "kill_grace={{env.MY_GRACE}}"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  ASSERT_EQ(RunBaton(d.path(), {"stack", "register", "s", "--orchestrator", "o", "--set"}).exit_code, 0);
  Json o = JsonOf(d.path(), {"orchestrator", "describe", "o", "-o", "json"});
  EXPECT_EQ(o["config"]["kill_grace"], "{{env.MY_GRACE}}");
  // The value never reaches the store, in any table.
  std::string p = d.Write("p.yaml", "name: s\nsteps:\n  a: {run: \"true\"}\n");
  r = RunBaton(d.path(), {"run", p}, {"MY_GRACE=1234ms"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  auto found = RunShell(d.path(), "grep -a -r -l 1234ms .baton");
  EXPECT_EQ(found.out, "") << "the secret's value was written to the workspace";
  // Unset: a clear error before anything runs.
  r = RunShell(d.path(), "env -u MY_GRACE " + BatonBinary() + " run p.yaml");
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("MY_GRACE"), std::string::npos) << r.err;
}

TEST(Stacks, FlavorSettingsInPipelinesAreCheckedWithLocations) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  std::string p = d.Write("p.yaml", R"(name: f
defaults:
  orchestrator:
    local: {kill_grace: 1s}
steps:
  a:
    run: "true"
    orchestrator:
      locl: {kill_grace: 1s}
  b:
    run: "true"
    orchestrator:
      local: {kill_grce: 1s, jobs: 2}
)");
  auto r = RunBaton(d.path(), {"run", p});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("p.yaml:9:7: error: unknown orchestrator flavor 'locl' (did you mean 'local'?)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("p.yaml:13:15: error: orchestrator flavor 'local' has no key 'kill_grce' (did you mean 'kill_grace'?)"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("p.yaml:13:30: error: orchestrator flavor 'local': 'jobs' can only be set on the component"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(JsonOf(d.path(), {"runs", "list", "-n", "0", "-o", "json"}).size(), 0u) << "a refused run was recorded";
}

TEST(RunConfig, OverridesParametersAndSettingsAndNamesTheRun) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  std::string p = d.Write("p.yaml", kDiamond);
  std::string rc = d.Write("run.yaml", R"(parameters: {n: 5}
steps:
  d:
    parameters: {tag: special}
run_name: "nightly-{{params.n}}-{{random}}"
)");
  Json j = JsonOf(d.path(), {"run", p, "-c", rc, "-o", "json"});
  ASSERT_EQ(j["status"], "completed") << j.dump();
  std::string run = j["run"];
  EXPECT_EQ(run.rfind("nightly-5-", 0), 0u) << run;
  EXPECT_EQ(Output(d.path(), run, "d", "out"), "5\n5\n4\n3\n2\n1\nspecial\n");
  // The command line wins over the run config.
  Json k = JsonOf(d.path(), {"run", p, "-c", rc, "-p", "tag=cli", "-p", "n=2", "-o", "json"});
  EXPECT_EQ(Output(d.path(), k["run"], "d", "out"), "2\n2\n1\ncli\n");

  // Errors name the run config's file, line and column; nothing runs.
  std::string bad = d.Write("bad.yaml", "parameters:\n  n: many\nsteps:\n  e: {cache: false}\n");
  auto r = RunBaton(d.path(), {"run", p, "-c", bad});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.yaml:2:3: error: parameter 'n' is an int; 'many' is not an integer"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bad.yaml:4:3: error: the pipeline has no step 'e'"), std::string::npos) << r.err;
  // A schedule on the local orchestrator is refused, not ignored.
  std::string sched = d.Write("sched.yaml", "schedule: '0 3 * * *'\n");
  r = RunBaton(d.path(), {"run", p, "-c", sched});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("cannot schedule runs"), std::string::npos) << r.err;
  EXPECT_EQ(JsonOf(d.path(), {"runs", "list", "-n", "0", "-o", "json"}).size(), 2u);
}

TEST(RunConfig, TemplateIsAValidRunConfig) {
  TempDir d;
  std::string p = d.Write("p.yaml", kDiamond);
  auto t = RunBaton(d.path(), {"config", "template", p});
  ASSERT_EQ(t.exit_code, 0) << Describe(t);
  EXPECT_NE(t.out.find("  n: 3   # int"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("#   d:"), std::string::npos) << t.out;
  d.Write("run.yaml", t.out);
  Json j = JsonOf(d.path(), {"run", p, "-c", d.path() + "/run.yaml", "-o", "json"});
  EXPECT_EQ(j["status"], "completed");
}

TEST(Compile, WritesSnapshotAndWhatTheOrchestratorWouldSubmit) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  std::string p = d.Write("p.yaml", kDiamond);
  auto r = RunBaton(d.path(), {"compile", p, "--out", d.path() + "/out"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json snap = Json::parse(ReadFileOrDie(d.path() + "/out/snapshot.json"));
  EXPECT_EQ(snap["name"], "diamond");
  EXPECT_EQ(snap["stack"]["orchestrator"]["flavor"], "local");
  Json plan = Json::parse(ReadFileOrDie(d.path() + "/out/local-plan.json"));
  EXPECT_EQ(plan["steps"].size(), 4u);
  Json req = Json::parse(ReadFileOrDie(d.path() + "/out/request.json"));
  EXPECT_EQ(req["steps"][3]["name"], "d");
  EXPECT_EQ(req["steps"][3]["upstream"], (Json{"b", "c"}));
  EXPECT_EQ(JsonOf(d.path(), {"runs", "list", "-n", "0", "-o", "json"}).size(), 0u) << "compile must not run";
}

// ---- the custom orchestrator plugin ----

void RegisterScriptStack(const std::string& ws) {
  auto r = RunBaton(ws, {"flavor", "register", BATON_SCRIPT_PLUGIN});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = RunBaton(ws, {"orchestrator", "register", "sh", "--flavor", "script", "--set", "nice=3"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = RunBaton(ws, {"stack", "register", "scripted", "--orchestrator", "sh"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
}

TEST(CustomOrchestrator, PluginRunsAPipelineThroughTheStepEntrypoint) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  RegisterScriptStack(d.path());
  Json flavors = JsonOf(d.path(), {"flavor", "list", "--type", "orchestrator", "-o", "json"});
  bool found = false;
  for (const auto& f : flavors) found = found || (f["name"] == "script" && f["source"] == BATON_SCRIPT_PLUGIN);
  EXPECT_TRUE(found) << flavors.dump(2);

  std::string p = d.Write("p.yaml", std::string(kDiamond) + R"(  niceness:
    run: "nice > {{outputs.out}}"
    outputs: [out]
)");
  Json j = JsonOf(d.path(), {"run", p, "--stack", "scripted", "-o", "json"});
  ASSERT_EQ(j["status"], "completed") << j.dump();
  EXPECT_EQ(j["completed"], 5);
  std::string run = j["run"];
  Json shown = JsonOf(d.path(), {"runs", "show", run, "-o", "json"});
  EXPECT_EQ(shown["stack"], "scripted");
  EXPECT_EQ(shown["orchestrator"], "script");
  // The script really ran it, under the configured nice level.
  EXPECT_TRUE(Exists(d.path() + "/.baton/logs/" + run + "/run.sh"));
  EXPECT_EQ(Output(d.path(), run, "niceness", "out"), "3\n");
  EXPECT_EQ(Output(d.path(), run, "d", "out"), "3\n3\n2\n1\nx\n");
  // Logs and lineage as for a local run.
  auto logs = RunBaton(d.path(), {"runs", "logs", run, "niceness"});
  EXPECT_EQ(logs.exit_code, 0) << Describe(logs);
  // Caching works across orchestrators: the same steps on the local stack are cache hits.
  Json again = JsonOf(d.path(), {"run", p, "-o", "json"});
  EXPECT_EQ(again["cached"], 5) << again.dump();

  // Compile writes the script for review.
  auto c = RunBaton(d.path(), {"compile", p, "--stack", "scripted", "--out", d.path() + "/out"});
  ASSERT_EQ(c.exit_code, 0) << Describe(c);
  std::string script = ReadFileOrDie(d.path() + "/out/run.sh");
  EXPECT_NE(script.find("if ok 'b' 'c'; then run_step 'd'"), std::string::npos) << script;
}

TEST(CustomOrchestrator, RunsTheQuickstart) {
  if (RunShell("/", "/usr/bin/python3 -c 'import sklearn'").exit_code != 0)
    GTEST_SKIP() << "scikit-learn is not installed for /usr/bin/python3";
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  RegisterScriptStack(d.path());
  std::string pipeline = SourceDir() + "/examples/quickstart/pipeline.yaml";
  auto r = RunBaton(d.path(), {"run", pipeline, "--stack", "scripted", "--no-cache", "-o", "json"},
                    {"PYTHONDONTWRITEBYTECODE=1"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["completed"], 4) << j.dump();
  Json shown = JsonOf(d.path(), {"runs", "show", j["run"], "-o", "json"});
  EXPECT_EQ(shown["orchestrator"], "script");
  for (const auto& s : shown["steps"]) {
    EXPECT_EQ(s["status"], "completed") << s.dump(2);
    if (s["step"] == "evaluate") {
      EXPECT_GT(s["metadata"]["accuracy"].get<double>(), 0.9) << s.dump(2);
    }
  }
}

TEST(CustomOrchestrator, FailuresRetriesAndSkipsAreRecorded) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  RegisterScriptStack(d.path());
  std::string p = d.Write("p.yaml", R"(name: failing
steps:
  flaky:
    run: "if [ -e once ]; then echo ok > {{outputs.out}}; else touch once; exit 4; fi"
    outputs: [out]
    retries: 1
  bad:
    run: "exit 5"
    outputs: [out]
  after_bad:
    run: "cat {{inputs.x}}"
    inputs: {x: bad.out}
  after_flaky:
    run: "cat {{inputs.x}}"
    inputs: {x: flaky.out}
)");
  auto r = RunBaton(d.path(), {"run", p, "--stack", "scripted", "-o", "json"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_EQ(j["completed"], 2);
  EXPECT_EQ(j["failed"], 1);
  EXPECT_EQ(j["skipped"], 1);
  Json shown = JsonOf(d.path(), {"runs", "show", j["run"], "-o", "json"});
  std::map<std::string, std::vector<std::string>> attempts;
  for (const auto& s : shown["steps"]) attempts[s["step"]].push_back(s["status"].get<std::string>() + ":" + s["reason"].get<std::string>());
  EXPECT_EQ(attempts["flaky"], (std::vector<std::string>{"failed:exited with code 4", "completed:"}));
  EXPECT_EQ(attempts["bad"], (std::vector<std::string>{"failed:exited with code 5"}));
  EXPECT_EQ(attempts["after_bad"], (std::vector<std::string>{"skipped:upstream step 'bad' did not complete"}));
}

// A plugin that adds no jobs while a run goes on gets a for_each step as one step: its entrypoint
// runs every instance, each recorded on its own; the gather reads them all.
TEST(CustomOrchestrator, ForEachAndMatrixStepsRunThroughAPluginThatKnowsNothingOfThem) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  RegisterScriptStack(d.path());
  std::string p = d.Write("p.yaml", R"(name: fanout
steps:
  split: {run: "echo [10,20,30] > {{outputs.list}}", outputs: [list]}
  t:
    matrix: {k: [a, b]}
    run: "echo {{matrix.k}} > {{outputs.o}}"
    outputs: [o]
  w:
    for_each: split.list
    run: "echo {{item}} > {{outputs.o}}"
    outputs: [o]
  gather:
    inputs:
      ws: w[*].o
      ts: t[*].o
    run: "cat {{inputs.ws}} {{inputs.ts}} > {{outputs.all}}"
    outputs: [all]
  never:
    when: "{{steps.split.outputs.list}} == 'none'"
    run: "true"
)");
  auto r = RunBaton(d.path(), {"run", p, "--stack", "scripted", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["completed"], 1 + 2 + 3 + 1) << j.dump(2);
  EXPECT_EQ(j["skipped"], 1) << j.dump(2);
  Json shown = JsonOf(d.path(), {"runs", "show", j["run"], "-o", "json"});
  std::map<std::string, std::string> status;
  for (const auto& s : shown["steps"]) status[s["step"]] = s["status"];
  EXPECT_EQ(status["w[0]"], "completed");
  EXPECT_EQ(status["w[2]"], "completed");
  EXPECT_EQ(status["t[k=b]"], "completed");
  EXPECT_EQ(status["never"], "skipped");
  EXPECT_FALSE(status.count("w"));
  for (const auto& s : shown["steps"])
    if (s["step"] == "gather") {
      auto e = RunBaton(d.path(), {"artifacts", "export", std::to_string(s["outputs"]["all"]["id"].get<int>()), d.path() + "/all"});
      ASSERT_EQ(e.exit_code, 0) << Describe(e);
      EXPECT_EQ(ReadFileOrDie(d.path() + "/all"), "10\n20\n30\na\nb\n");
    }
}

TEST(CustomOrchestrator, StopTerminatesEveryStep) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  RegisterScriptStack(d.path());
  std::string marker = "zzstop" + std::to_string(::getpid());
  std::string p = d.Write("p.yaml", "name: slow\nsteps:\n  a: {run: \"sleep 30; : " + marker + "\"}\n  b: {run: \"sleep 31; : " +
                                        marker + "\"}\n  c: {run: \"true\", after: [a]}\n");
  pid_t pid = SpawnBaton(d.path(), {"run", "p.yaml", "--stack", "scripted"}, "/dev/null", "/dev/null",
                         {"BATON_KILL_GRACE=1s"});
  ASSERT_GT(pid, 0);
  // Wait until both steps run, then Ctrl-C.
  for (int i = 0; i < 200 && RunShell(d.path(), "pgrep -f 'sleep 3[01]; : " + marker + "' | wc -l").out != "2\n"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  EXPECT_EQ(WaitExit(pid), 1);
  EXPECT_EQ(RunShell(d.path(), "pgrep -f 'sleep 3[01]; : " + marker + "'").out, "") << "a step outlived the stop";
  Json runs = JsonOf(d.path(), {"runs", "list", "-o", "json"});
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["status"], "stopped") << runs.dump(2);
  Json shown = JsonOf(d.path(), {"runs", "show", runs[0]["id"], "-o", "json"});
  for (const auto& s : shown["steps"])
    EXPECT_TRUE(s["status"] == "stopped" || s["status"] == "skipped") << s.dump();
}

TEST(CustomOrchestrator, StopDuringARetryDelayIsImmediate) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  RegisterScriptStack(d.path());
  std::string p = d.Write("p.yaml", "name: retrying\nsteps:\n  a: {run: \"exit 3\", retries: {max: 3, delay: 60s}}\n");
  pid_t pid = SpawnBaton(d.path(), {"run", "p.yaml", "--stack", "scripted"}, "/dev/null", "/dev/null");
  ASSERT_GT(pid, 0);
  // Wait for the first failed attempt, then stop.
  bool failed_once = false;
  for (int i = 0; i < 200 && !failed_once; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    Json runs = JsonOf(d.path(), {"runs", "list", "-o", "json"});
    if (runs.size() == 1) {
      Json shown = JsonOf(d.path(), {"runs", "show", runs[0]["id"], "-o", "json"});
      for (const auto& s : shown["steps"]) failed_once = failed_once || s["status"] == "failed";
    }
  }
  ASSERT_TRUE(failed_once);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  WaitExit(pid);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30)) << "the stop waited for the retry delay";
  Json runs = JsonOf(d.path(), {"runs", "list", "-o", "json"});
  EXPECT_EQ(runs[0]["status"], "stopped");
  Json shown = JsonOf(d.path(), {"runs", "show", runs[0]["id"], "-o", "json"});
  Json last = shown["steps"][shown["steps"].size() - 1];
  EXPECT_EQ(last["status"], "stopped") << shown.dump(2);
  EXPECT_EQ(last["reason"], "stopped while waiting to retry") << shown.dump(2);
}

TEST(CustomOrchestrator, AKilledBatonLeavesNothingRunning) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  RegisterScriptStack(d.path());
  std::string marker = "zzkill" + std::to_string(::getpid());
  std::string p = d.Write("p.yaml", "name: slow\nsteps:\n  a: {run: \"sleep 30; : " + marker + "\"}\n  b: {run: \"sleep 31; : " +
                                        marker + "\", after: [a]}\n");
  pid_t pid = SpawnBaton(d.path(), {"run", "p.yaml", "--stack", "scripted"}, "/dev/null", "/dev/null");
  ASSERT_GT(pid, 0);
  for (int i = 0; i < 200 && RunShell(d.path(), "pgrep -f 'sleep 3[01]; : " + marker + "' | wc -l").out != "1\n"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  WaitExit(pid);
  // The next command finds the dead run and terminates the script, its entrypoints and steps.
  Json runs = JsonOf(d.path(), {"runs", "list", "-o", "json"});
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["status"], "interrupted") << runs.dump(2);
  std::string left;
  for (int i = 0; i < 50; ++i) {
    // Bracketed characters keep the pattern from matching the shell that runs pgrep.
    left = RunShell(d.path(), "pgrep -f 'sleep 3[01]; : " + marker + "|" + d.path() + "/[.]baton/logs/.*/run[.]sh'").out;
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(left, "") << "processes of the killed run are still running";
}

TEST(CustomOrchestrator, BrokenLibrariesAreRefusedWithAClearMessage) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  const std::string before = Registered(d.path());
  auto r = RunBaton(d.path(), {"flavor", "register", BATON_BAD_ABI_PLUGIN});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("it was built for plugin ABI version 99; this baton speaks version 1"), std::string::npos) << r.err;
  r = RunBaton(d.path(), {"flavor", "register", BATON_NO_ENTRY_PLUGIN});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("exports no 'baton_plugin_entry' function"), std::string::npos) << r.err;
  std::string junk = d.Write("junk.so", "not an ELF file");
  r = RunBaton(d.path(), {"flavor", "register", junk});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("it does not load"), std::string::npos) << r.err;
  EXPECT_EQ(Registered(d.path()), before);

  // A registered plugin that disappears later is reported, not a crash.
  std::string copy = d.path() + "/libcopy.so";
  ASSERT_EQ(RunShell(d.path(), std::string("cp '") + BATON_SCRIPT_PLUGIN + "' " + copy).exit_code, 0);
  ASSERT_EQ(RunBaton(d.path(), {"flavor", "register", copy}).exit_code, 0);
  ASSERT_EQ(RunBaton(d.path(), {"orchestrator", "register", "sh", "--flavor", "script"}).exit_code, 0);
  ASSERT_EQ(RunBaton(d.path(), {"stack", "register", "scripted", "--orchestrator", "sh"}).exit_code, 0);
  ASSERT_EQ(::unlink(copy.c_str()), 0);
  std::string p = d.Write("p.yaml", "name: x\nsteps:\n  a: {run: \"true\"}\n");
  r = RunBaton(d.path(), {"run", p, "--stack", "scripted"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("uses flavor 'script', whose plugin does not load"), std::string::npos) << r.err;
  auto list = RunBaton(d.path(), {"flavor", "list"});
  EXPECT_NE(list.out.find("broken plugin orchestrator/script"), std::string::npos) << list.out;
}

}  // namespace
}  // namespace baton::testing
