// End-to-end tests of the C++ pipeline API: C++ pipeline binaries (tests/cpp_api/pipelines.cc
// and examples/cpp_pipeline) run as their own baton CLI and step entrypoint.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_util.h"

namespace baton::testing {
namespace {

using Json = nlohmann::json;

// Runs the test pipelines binary with pipeline `which`.
CommandResult Pipelines(const std::string& cwd, const std::string& which, std::vector<std::string> args,
                        std::vector<std::string> env = {}) {
  args.insert(args.begin(), BATON_TEST_PIPELINES);
  env.push_back("BATON_TEST_PIPELINE=" + which);
  return RunProgram(cwd, args, env);
}

Json JsonOut(const CommandResult& r) {
  Json j = Json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << Describe(r);
  return j;
}

Json Show(const std::string& cwd, const std::string& run) {
  auto r = RunBaton(cwd, {"runs", "show", run, "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return JsonOut(r);
}

Json StepOf(const Json& run, const std::string& step) {
  Json last;
  for (const auto& s : run["steps"])
    if (s["step"] == step) last = s;
  return last;
}

TEST(CppApi, InProcessAndCommandStepsMixWithEveryMaterializer) {
  TempDir d;
  auto r = Pipelines(d.path(), "mixed", {"run", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json j = JsonOut(r);
  EXPECT_EQ(j["completed"], 5);
  // The same store and CLI: the plain baton binary reads what the C++ pipeline recorded.
  Json run = Show(d.path(), j["run"]);
  EXPECT_EQ(StepOf(run, "facts")["metadata"]["sum"], 12.0) << run.dump(2);
  EXPECT_EQ(StepOf(run, "check")["metadata"]["items"], 3);
  EXPECT_EQ(StepOf(run, "check")["metadata"]["text"], "label=run");
  EXPECT_NE(StepOf(run, "total")["command"].get<std::string>().find("awk"), std::string::npos);
  Json numbers = StepOf(run, "numbers")["outputs"]["out"];
  EXPECT_EQ(numbers["materializer"], "json");
  EXPECT_EQ(numbers["type"], "list<float>");
  Json facts = StepOf(run, "facts")["outputs"];
  EXPECT_EQ(facts["counts"]["type"], "map<string,int>");
  EXPECT_EQ(facts["raw"]["materializer"], "bytes");
  EXPECT_EQ(StepOf(run, "tree")["outputs"]["out"]["kind"], "dir");
  EXPECT_EQ(StepOf(run, "tree")["outputs"]["out"]["materializer"], "directory");
  EXPECT_FALSE(StepOf(run, "total")["outputs"]["sum"].contains("materializer"));  // a command's output
  // The in-process step's log.
  auto log = RunBaton(d.path(), {"runs", "logs", j["run"], "numbers"});
  EXPECT_NE(log.out.find("scaling by 2"), std::string::npos) << Describe(log);
}

TEST(CppApi, InProcessStepsAreCachedAndExplained) {
  TempDir d;
  ASSERT_EQ(Pipelines(d.path(), "mixed", {"run", "-q"}).exit_code, 0);
  auto again = Pipelines(d.path(), "mixed", {"run", "-o", "json"});
  ASSERT_EQ(again.exit_code, 0) << Describe(again);
  EXPECT_EQ(JsonOut(again)["cached"], 5);
  // A parameter the first step reads: it and everything downstream whose input changed re-run.
  auto changed = Pipelines(d.path(), "mixed", {"run", "-p", "scale=3", "--explain"});
  ASSERT_EQ(changed.exit_code, 0) << Describe(changed);
  EXPECT_NE(changed.out.find("parameter 'scale' changed (2.0 -> 3.0)"), std::string::npos) << changed.out;
  EXPECT_NE(changed.out.find("completed numbers"), std::string::npos) << changed.out;
  EXPECT_NE(changed.out.find("completed total"), std::string::npos) << changed.out;
}

TEST(CppApi, AnExceptionFailsTheStepNotBaton) {
  TempDir d;
  auto r = Pipelines(d.path(), "failing", {"run", "-o", "json"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  Json j = JsonOut(r);
  EXPECT_EQ(j["failed"], 1);
  EXPECT_EQ(j["skipped"], 1);
  EXPECT_EQ(j["completed"], 2);
  Json run = Show(d.path(), j["run"]);
  std::vector<std::string> flaky;
  for (const auto& s : run["steps"])
    if (s["step"] == "flaky") flaky.push_back(s["status"].get<std::string>() + ":" + s["reason"].get<std::string>());
  EXPECT_EQ(flaky, (std::vector<std::string>{"failed:exception: transient", "completed:"}));
  EXPECT_EQ(StepOf(run, "a")["status"], "failed");
  EXPECT_EQ(StepOf(run, "a")["reason"], "exception: bad data in row 7");
  EXPECT_TRUE(StepOf(run, "a")["outputs"].empty()) << "a failed step registers no outputs";
  EXPECT_EQ(StepOf(run, "b")["status"], "skipped");
  EXPECT_EQ(StepOf(run, "c")["status"], "completed");
  auto log = RunBaton(d.path(), {"runs", "logs", j["run"], "a"});
  EXPECT_NE(log.out.find("error: bad data in row 7"), std::string::npos) << Describe(log);
}

TEST(CppApi, ReadingAnArtifactAsAnotherTypeFailsClearly) {
  TempDir d;
  auto r = Pipelines(d.path(), "v1", {"run", "-o", "json"}, {"FAIL_B=1"});
  ASSERT_EQ(r.exit_code, 1) << Describe(r);
  std::string run = JsonOut(r)["run"];
  // A new build of the binary reads b's input as an int: the resume fails b with both types.
  auto resumed = Pipelines(d.path(), "v2", {"runs", "resume", run, "-o", "json"});
  EXPECT_EQ(resumed.exit_code, 1) << Describe(resumed);
  Json shown = Show(d.path(), run);
  EXPECT_EQ(StepOf(shown, "b")["reason"],
            "input 'a_out' (a.out) holds a string (materializer json), but step 'b' reads a int (materializer json)")
      << shown.dump(2);
  // The build that wrote it resumes fine.
  auto fixed = Pipelines(d.path(), "v1", {"runs", "resume", run, "-o", "json"});
  EXPECT_EQ(fixed.exit_code, 0) << Describe(fixed);
}

TEST(CppApi, MatrixForEachAndConditionsAreTyped) {
  TempDir d;
  auto r = Pipelines(d.path(), "sweep", {"run", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json j = JsonOut(r);
  // Five of the six combinations, the list step, three elements, the gather and the deploy.
  EXPECT_EQ(j["completed"], 5 + 1 + 3 + 1 + 1) << j.dump(2);
  Json run = Show(d.path(), j["run"]);
  // Values keep their C++ type: a double 10 is written 10.0 in the instance's name.
  EXPECT_EQ(StepOf(run, "train[C=10.0,penalty=l2]")["metadata"]["accuracy"], 0.91);
  EXPECT_TRUE(StepOf(run, "train[C=0.1,penalty=l2]").is_null()) << "excluded";
  EXPECT_EQ(StepOf(run, "work[1]")["status"], "completed");
  EXPECT_EQ(StepOf(run, "deploy")["status"], "completed");
  auto e = RunBaton(d.path(), {"artifacts", "export", std::to_string(StepOf(run, "gather")["outputs"]["all"]["id"].get<int>()),
                               d.path() + "/all"});
  ASSERT_EQ(e.exit_code, 0) << Describe(e);
  // The accuracies in matrix order, then each element times ten plus its index.
  EXPECT_EQ(ReadFileOrDie(d.path() + "/all"), "0.801\n0.81\n0.82\n0.9\n0.91\n30\n11\n22\n");
  // The condition, written by the builder in the language of `when:`, decides.
  r = Pipelines(d.path(), "sweep_high", {"run", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  run = Show(d.path(), JsonOut(r)["run"]);
  EXPECT_EQ(StepOf(run, "deploy")["status"], "skipped");
  EXPECT_EQ(StepOf(run, "deploy")["reason"],
            "condition false: ({{steps.train[C=10,penalty=l2].metadata.accuracy}} > 0.99) and ({{params.go}} == true) "
            "(steps.train[C=10,penalty=l2].metadata.accuracy = 0.91)");
}

TEST(CppApi, TheSameValidationAsPipelineFiles) {
  TempDir d;
  auto r = Pipelines(d.path(), "invalid", {"run"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("dependency cycle: a -> b -> a"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("timeout: 'soon' is not a duration"), std::string::npos) << r.err;
  EXPECT_NE(RunShell(d.path(), "test -e .baton").exit_code, 0) << "an invalid pipeline wrote a workspace";
}

TEST(CppApi, TheBinaryIsTheStepEntrypointOfOtherOrchestrators) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  ASSERT_EQ(RunBaton(d.path(), {"flavor", "register", BATON_SCRIPT_PLUGIN}).exit_code, 0);
  ASSERT_EQ(RunBaton(d.path(), {"orchestrator", "register", "sh", "--flavor", "script"}).exit_code, 0);
  ASSERT_EQ(RunBaton(d.path(), {"stack", "register", "scripted", "--orchestrator", "sh"}).exit_code, 0);
  auto r = Pipelines(d.path(), "mixed", {"run", "--stack", "scripted", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json j = JsonOut(r);
  EXPECT_EQ(j["completed"], 5);
  // Each step ran as `test_pipelines step run ...` from the generated script.
  std::string script = ReadFileOrDie(d.path() + "/.baton/logs/" + j["run"].get<std::string>() + "/run.sh");
  EXPECT_NE(script.find(std::string("'") + BATON_TEST_PIPELINES + "' 'step' 'run'"), std::string::npos) << script;
  EXPECT_EQ(Show(d.path(), j["run"])["orchestrator"], "script");
}

TEST(CppApi, LogisticRegressionExample) {
  TempDir d;
  auto r = RunProgram(d.path(), {BATON_CPP_EXAMPLE, "run", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json j = JsonOut(r);
  EXPECT_EQ(j["completed"], 6);
  Json run = Show(d.path(), j["run"]);
  EXPECT_GT(StepOf(run, "evaluate")["metadata"]["accuracy"].get<double>(), 0.75) << run.dump(2);
  EXPECT_EQ(StepOf(run, "train")["outputs"]["out"]["type"], "logistic-regression");
  // A learning-rate change re-runs only train and what follows.
  auto again = RunProgram(d.path(), {BATON_CPP_EXAMPLE, "run", "-p", "lr=0.2", "-o", "json"});
  ASSERT_EQ(again.exit_code, 0) << Describe(again);
  EXPECT_EQ(JsonOut(again)["cached"].get<int>() >= 3, true) << again.out;
}

// `cmake --install`, then the example as a separate project with find_package(baton).
TEST(CppApi, ExampleBuildsAgainstTheInstalledPackage) {
#ifdef BATON_SANITIZED_BUILD
  GTEST_SKIP() << "the install test runs in the release build (sanitized static libraries need sanitized consumers)";
#endif
  TempDir d;
  std::string prefix = d.path() + "/prefix", build = d.path() + "/build";
  auto inst = RunShell(d.path(), std::string("cmake --install '") + BATON_BUILD_DIR + "' --prefix '" + prefix + "' >/dev/null");
  ASSERT_EQ(inst.exit_code, 0) << Describe(inst);
  auto conf = RunShell(d.path(), "cmake -S '" + SourceDir() + "/examples/cpp_pipeline' -B '" + build +
                                     "' -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH='" + prefix + "' 2>&1");
  ASSERT_EQ(conf.exit_code, 0) << Describe(conf);
  auto make = RunShell(d.path(), "cmake --build '" + build + "' 2>&1");
  ASSERT_EQ(make.exit_code, 0) << Describe(make);
  TempDir w;
  auto r = RunProgram(w.path(), {build + "/cpp_pipeline", "run", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(JsonOut(r)["completed"], 6);
  // The installed baton binary reads the same workspace.
  auto list = RunProgram(w.path(), {prefix + "/bin/baton", "runs", "list", "-o", "json"});
  ASSERT_EQ(list.exit_code, 0) << Describe(list);
  EXPECT_EQ(JsonOut(list).size(), 1u);
}

}  // namespace
}  // namespace baton::testing
