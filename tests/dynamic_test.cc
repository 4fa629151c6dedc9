// End-to-end tests of pipelines that decide at run time: matrix instances, for_each over a list
// artifact of each kind, conditions, and how caching, resume and stop treat instances. Every test
// drives the real baton binary on the local orchestrator.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace baton::testing {
namespace {

using Json = nlohmann::json;

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// `baton run ARGS -o json`, expecting `want_exit`; the summary document.
Json RunJsonOf(const std::string& cwd, std::vector<std::string> args, int want_exit) {
  args.insert(args.begin(), "run");
  args.push_back("-o");
  args.push_back("json");
  auto r = RunBaton(cwd, args);
  EXPECT_EQ(r.exit_code, want_exit) << Describe(r);
  Json j = Json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << Describe(r);
  return j.is_discarded() ? Json::object() : j;
}

Json Show(const std::string& cwd, const std::string& run) { return JsonOf(cwd, {"runs", "show", run, "-o", "json"}); }

// step -> latest row of `runs show -o json`.
std::map<std::string, Json> Latest(const Json& run) {
  std::map<std::string, Json> m;
  for (const auto& s : run.value("steps", Json::array())) m[s.value("step", "")] = s;
  return m;
}

std::map<std::string, std::string> Statuses(const Json& run) {
  std::map<std::string, std::string> out;
  for (const auto& [name, row] : Latest(run)) out[name] = row.value("status", "");
  return out;
}

int Attempts(const Json& run, const std::string& step) {
  int n = 0;
  for (const auto& s : run.value("steps", Json::array())) n += s.value("step", "") == step;
  return n;
}

// The content of a step's output in a run.
std::string Output(const std::string& cwd, const std::string& run, const std::string& step, const std::string& out) {
  Json row = Latest(Show(cwd, run))[step];
  std::string id = std::to_string(row["outputs"][out].value("id", 0));
  auto r = RunBaton(cwd, {"artifacts", "export", id, cwd + "/export.tmp"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  std::string text = ReadFileOrDie(cwd + "/export.tmp");
  ::unlink((cwd + "/export.tmp").c_str());
  return text;
}

const char* kSweep = R"(name: sweep
version: 2
parameters: {threshold: 0.9}
steps:
  prepare:
    run: echo rows > {{outputs.data}}
    outputs: [data]
  train:
    matrix: {C: [0.1, 1, 10], penalty: [l1, l2]}
    inputs: {data: prepare.data}
    run: echo "C={{matrix.C}} penalty={{matrix.penalty}}" > {{outputs.model}}
    outputs: [model]
  evaluate:
    matrix: train
    inputs: {model: train.model}
    run: 'awk -v c="$BATON_MATRIX_C" -v p="$BATON_MATRIX_PENALTY" "BEGIN { a = 0.8 + c / 100 + (p == \"l2\") / 100; printf \"{\\\"accuracy\\\": %g}\", a > \"$BATON_METADATA\"; print a > \"{{outputs.score}}\" }"'
    outputs: [score]
  select:
    inputs:
      scores: evaluate[*].score
    run: |
      sort -n {{inputs.scores}} | tail -1 | awk '{ printf "{\"best\": %s}", $1 > ENVIRON["BATON_METADATA"]; print $1 }' > {{outputs.best}}
    outputs: [best]
  deploy:
    when: "{{steps.select.metadata.best}} > {{params.threshold}}"
    inputs: {best: select.best}
    run: cat {{inputs.best}} > {{outputs.deployed}}
    outputs: [deployed]
  announce:
    after: [deploy]
    run: echo deployed
)";

TEST(Sweep, MatrixInstancesFeedASelectionAndAConditionalDeploy) {
  TempDir d;
  d.Write("p.yaml", kSweep);
  Json s = RunJsonOf(d.path(), {"p.yaml"}, 0);
  EXPECT_EQ(s.value("completed", 0), 1 + 6 + 6 + 1 + 1 + 1) << s.dump(2);
  const std::string run = s.value("run", "");
  auto st = Statuses(Show(d.path(), run));
  for (std::string c : {"0.1", "1", "10"})
    for (std::string p : {"l1", "l2"}) {
      EXPECT_EQ(st["train[C=" + c + ",penalty=" + p + "]"], "completed");
      EXPECT_EQ(st["evaluate[C=" + c + ",penalty=" + p + "]"], "completed");
    }
  // Each instance saw its own values; the best of the six is C=10, l2.
  EXPECT_EQ(Output(d.path(), run, "train[C=10,penalty=l1]", "model"), "C=10 penalty=l1\n");
  EXPECT_EQ(Output(d.path(), run, "select", "best"), "0.91\n");
  EXPECT_EQ(Output(d.path(), run, "deploy", "deployed"), "0.91\n");
  EXPECT_EQ(st["announce"], "completed");
  // runs show groups the instances under their step.
  auto table = RunBaton(d.path(), {"runs", "show", run});
  EXPECT_TRUE(Contains(table.out, "train ")) << table.out;
  EXPECT_TRUE(Contains(table.out, "6 instances: 6 completed")) << table.out;
  EXPECT_TRUE(Contains(table.out, "\n  [C=0.1,penalty=l1]")) << table.out;
}

TEST(Sweep, AFalseConditionSkipsTheStepAndItsDependentsAndTheRunCompletes) {
  TempDir d;
  d.Write("p.yaml", kSweep);
  Json s = RunJsonOf(d.path(), {"p.yaml", "-p", "threshold=0.95"}, 0);
  EXPECT_EQ(s.value("status", ""), "completed") << s.dump(2);
  EXPECT_EQ(s.value("skipped", 0), 2) << s.dump(2);
  auto rows = Latest(Show(d.path(), s.value("run", "")));
  EXPECT_EQ(rows["deploy"].value("status", ""), "skipped");
  EXPECT_EQ(rows["deploy"].value("reason", ""),
            "condition false: {{steps.select.metadata.best}} > {{params.threshold}} "
            "(steps.select.metadata.best = 0.91, params.threshold = 0.95)");
  EXPECT_EQ(rows["announce"].value("status", ""), "skipped");
  EXPECT_EQ(rows["announce"].value("reason", ""), "upstream step 'deploy' was skipped");
}

TEST(Sweep, ChangingOneMatrixValueRerunsOnlyItsInstances) {
  TempDir d;
  d.Write("p.yaml", kSweep);
  RunJsonOf(d.path(), {"p.yaml"}, 0);
  std::string changed = kSweep;
  changed.replace(changed.find("[0.1, 1, 10]"), 12, "[0.1, 1, 20]");
  d.Write("p.yaml", changed);
  auto r = RunBaton(d.path(), {"run", "p.yaml", "--explain"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json s = Show(d.path(), "last");
  auto st = Statuses(s);
  for (std::string p : {"l1", "l2"}) {
    EXPECT_EQ(st["train[C=20,penalty=" + p + "]"], "completed");
    EXPECT_EQ(st["evaluate[C=20,penalty=" + p + "]"], "completed");
    EXPECT_EQ(st["train[C=1,penalty=" + p + "]"], "cached");
    EXPECT_EQ(st["evaluate[C=0.1,penalty=" + p + "]"], "cached");
    EXPECT_FALSE(st.count("train[C=10,penalty=" + p + "]"));
  }
  EXPECT_EQ(st["select"], "completed");  // its list changed
  EXPECT_TRUE(Contains(r.out, "completed train[C=20,penalty=l1]")) << r.out;
  EXPECT_TRUE(Contains(r.out, "why: runs: no earlier run of this step")) << r.out;
  EXPECT_TRUE(Contains(r.out, "cached train[C=0.1,penalty=l1]")) << r.out;
  // The selection runs because its list changed, and says how.
  EXPECT_TRUE(Contains(r.out, "why: runs: input 'scores[C=20,penalty=l1]' is new")) << r.out;
  EXPECT_TRUE(Contains(r.out, "inputs 'scores[C=10,penalty=l1]' was removed")) << r.out;
}

TEST(Sweep, ResumeRunsOnlyTheInstanceThatFailed) {
  TempDir d;
  std::string p = kSweep;
  // One instance fails until a marker exists.
  p.replace(p.find("run: echo \"C="), 5, "run: test {{matrix.C}} != 1 -o {{matrix.penalty}} != l2 -o -e ok && ");
  d.Write("p.yaml", p);
  Json s = RunJsonOf(d.path(), {"p.yaml"}, 1);
  const std::string run = s.value("run", "");
  auto st = Statuses(Show(d.path(), run));
  EXPECT_EQ(st["train[C=1,penalty=l2]"], "failed");
  EXPECT_EQ(st["evaluate[C=1,penalty=l2]"], "skipped");
  EXPECT_EQ(st["evaluate[C=1,penalty=l1]"], "completed");
  EXPECT_EQ(st["select"], "skipped");
  d.Write("ok", "");
  auto r = RunBaton(d.path(), {"runs", "resume", run});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json after = Show(d.path(), run);
  EXPECT_EQ(after.value("status", ""), "completed");
  EXPECT_EQ(Attempts(after, "train[C=1,penalty=l1]"), 1);
  EXPECT_EQ(Attempts(after, "evaluate[C=10,penalty=l2]"), 1);
  EXPECT_EQ(Attempts(after, "train[C=1,penalty=l2]"), 2);
  EXPECT_EQ(Statuses(after)["deploy"], "completed");
}

// The quickstart's sweep (examples/quickstart/sweep.yaml) on the real data set: the best of six
// models is deployed above the threshold; a changed matrix value re-runs only its instances.
TEST(Sweep, TheQuickstartSweepDeploysTheBestModelOnlyAboveTheThreshold) {
  TempDir d;
  RunShell(d.path(), "cp -r " + SourceDir() + "/examples/quickstart .");
  const std::string ws = d.path() + "/quickstart";
  Json s = RunJsonOf(ws, {"sweep.yaml", "-p", "threshold=0.5"}, 0);
  EXPECT_EQ(s.value("completed", 0), 16) << s.dump(2);
  auto rows = Latest(Show(ws, s.value("run", "")));
  EXPECT_EQ(rows["deploy"].value("status", ""), "completed");
  const double best = rows["select"]["metadata"].value("accuracy", 0.0);
  for (const auto& [name, row] : rows) {
    if (name.rfind("evaluate[", 0) == 0) {
      EXPECT_LE(row["metadata"].value("accuracy", 1.0), best) << name;
    }
  }
  // The deployed model is the selected one.
  EXPECT_EQ(rows["deploy"]["outputs"]["deployed"].value("digest", ""), rows["select"]["outputs"]["model"].value("digest", ""));

  std::string y = ReadFileOrDie(ws + "/sweep.yaml");
  y.replace(y.find("C: [0.1, 1, 10]"), 15, "C: [0.1, 1, 3]");
  d.Write("quickstart/sweep.yaml", y);
  auto r = RunBaton(ws, {"run", "sweep.yaml", "-p", "threshold=0.999", "--explain"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  rows = Latest(Show(ws, "last"));
  for (std::string p : {"l1", "l2"}) {
    EXPECT_EQ(rows["train[C=3,penalty=" + p + "]"].value("status", ""), "completed");
    EXPECT_EQ(rows["train[C=0.1,penalty=" + p + "]"].value("status", ""), "cached");
    EXPECT_EQ(rows["evaluate[C=1,penalty=" + p + "]"].value("status", ""), "cached");
  }
  EXPECT_TRUE(Contains(r.out, "why: runs: no earlier run of this step")) << r.out;
  EXPECT_EQ(rows["deploy"].value("status", ""), "skipped");
  EXPECT_TRUE(Contains(rows["deploy"].value("reason", ""), "params.threshold = 0.999")) << rows["deploy"].dump();
}

TEST(Conditions, AConditionThatCannotBeEvaluatedFailsTheStepWithWhy) {
  TempDir d;
  d.Write("p.yaml", R"(name: c
steps:
  e:
    run: echo '{"loss"':' 0.1}' > $BATON_METADATA
  d:
    when: "{{steps.e.metadata.accuracy}} > 0.9"
    run: 'true'
)");
  Json s = RunJsonOf(d.path(), {"p.yaml"}, 1);
  auto rows = Latest(Show(d.path(), s.value("run", "")));
  EXPECT_EQ(rows["d"].value("status", ""), "failed");
  EXPECT_EQ(rows["d"].value("reason", ""),
            "when: {{steps.e.metadata.accuracy}}: the metadata of step 'e' has no 'accuracy' (it has: loss)");
}

TEST(Conditions, SmallJsonOutputsAndParametersDecide) {
  TempDir d;
  d.Write("p.yaml", R"(name: c
parameters: {go: true, env: prod}
steps:
  check:
    run: echo '{"ok"':' true, "n"':' 3}' > {{outputs.result}}
    outputs: [result]
  a:
    when: "{{steps.check.outputs.result.ok}} and {{steps.check.outputs.result.n}} >= 3 and {{params.env}} == 'prod'"
    run: echo a
  b:
    when: "not {{params.go}} or {{steps.check.outputs.result.n}} != 3"
    run: echo b
)");
  Json s = RunJsonOf(d.path(), {"p.yaml"}, 0);
  auto st = Statuses(Show(d.path(), s.value("run", "")));
  EXPECT_EQ(st["a"], "completed");
  EXPECT_EQ(st["b"], "skipped");
  s = RunJsonOf(d.path(), {"p.yaml", "-p", "env=dev", "-p", "go=false"}, 0);
  st = Statuses(Show(d.path(), s.value("run", "")));
  EXPECT_EQ(st["a"], "skipped");
  EXPECT_EQ(st["b"], "completed");
}

TEST(Conditions, AMalformedConditionIsRefusedWithItsLocationAndNothingRuns) {
  TempDir d;
  d.Write("p.yaml", "name: c\nsteps:\n  a:\n    run: touch ran\n    when: \"1 < \"\n");
  auto r = RunBaton(d.path(), {"run", "p.yaml"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "p.yaml:5:16: error: step 'a': when: a value is missing at the end")) << r.err;
  EXPECT_NE(::access((d.path() + "/ran").c_str(), F_OK), 0);
}

std::string ForEachPipeline(const std::string& make_list, const std::string& for_each) {
  return "name: fe\n"
         "steps:\n"
         "  split:\n"
         "    run: " + make_list + "\n"
         "    outputs: [list]\n"
         "  work:\n"
         "    for_each: " + for_each + "\n"
         "    run: 'echo \"{{item.index}}:{{item}}:$BATON_ITEM_INDEX\" > {{outputs.out}}'\n"
         "    outputs: [out]\n"
         "  gather:\n"
         "    inputs:\n"
         "      outs: work[*].out\n"
         "    run: 'echo \"n=$(echo {{inputs.outs}} | wc -w)\" > {{outputs.all}}; cat {{inputs.outs}} >> {{outputs.all}}'\n"
         "    outputs: [all]\n";
}

TEST(ForEach, AJsonListTheLinesOfAFileAndTheEntriesOfADirectory) {
  TempDir d;
  d.Write("json.yaml", ForEachPipeline(R"('echo "[\"a b\", 2, {\"k\": 1}]" > {{outputs.list}}')", "split.list"));
  Json s = RunJsonOf(d.path(), {"json.yaml"}, 0);
  EXPECT_EQ(Output(d.path(), s.value("run", ""), "gather", "all"), "n=3\n0:a b:0\n1:2:1\n2:{\"k\":1}:2\n");

  d.Write("lines.yaml", ForEachPipeline(R"('printf "x\ny\n" > {{outputs.list}}')", "{items: split.list, as: lines}"));
  s = RunJsonOf(d.path(), {"lines.yaml"}, 0);
  EXPECT_EQ(Output(d.path(), s.value("run", ""), "gather", "all"), "n=2\n0:x:0\n1:y:1\n");

  d.Write("dir.yaml", ForEachPipeline(R"('mkdir {{outputs.list}} && touch {{outputs.list}}/b {{outputs.list}}/a')",
                                      "split.list"));
  s = RunJsonOf(d.path(), {"dir.yaml"}, 0);
  std::string all = Output(d.path(), s.value("run", ""), "gather", "all");
  // Entries in name order, each the path of the entry inside the stored directory.
  EXPECT_TRUE(Contains(all, "n=2\n0:/")) << all;
  EXPECT_TRUE(Contains(all, "/a:0\n1:/")) << all;
  EXPECT_TRUE(Contains(all, "/b:1\n")) << all;
}

TEST(ForEach, AnEmptyListRunsNoInstanceAndTheGatherSeesNone) {
  TempDir d;
  d.Write("p.yaml", ForEachPipeline("'echo [] > {{outputs.list}}'", "split.list"));
  Json s = RunJsonOf(d.path(), {"p.yaml"}, 0);
  EXPECT_EQ(s.value("completed", 0), 2) << s.dump(2);
  EXPECT_EQ(Output(d.path(), s.value("run", ""), "gather", "all"), "n=0\n");
}

TEST(ForEach, MoreElementsThanTheLimitFailTheStepWithTheLimit) {
  TempDir d;
  d.Write("p.yaml", ForEachPipeline("'echo [1,2,3] > {{outputs.list}}'", "{items: split.list, max: 2}"));
  Json s = RunJsonOf(d.path(), {"p.yaml"}, 1);
  auto rows = Latest(Show(d.path(), s.value("run", "")));
  EXPECT_EQ(rows["work"].value("status", ""), "failed");
  EXPECT_EQ(rows["work"].value("reason", ""),
            "for_each: split.list has 3 elements, more than the 2 instances allowed (for_each.max)");
  EXPECT_EQ(rows["gather"].value("status", ""), "skipped");
  EXPECT_FALSE(rows.count("work[0]"));
  // A list of the wrong kind says so.
  d.Write("q.yaml", ForEachPipeline("'echo {} > {{outputs.list}}'", "{items: split.list, as: json}"));
  s = RunJsonOf(d.path(), {"q.yaml"}, 1);
  rows = Latest(Show(d.path(), s.value("run", "")));
  EXPECT_EQ(rows["work"].value("reason", ""), "for_each: split.list: the list is JSON but not a list (object)");
}

TEST(ForEach, ParallelBoundsTheInstancesRunningAtOnce) {
  TempDir d;
  d.Write("p.yaml", R"(name: fe
steps:
  split:
    run: echo [1,2,3,4] > {{outputs.list}}
    outputs: [list]
  work:
    for_each: {items: split.list, parallel: 1}
    run: mkdir lock && sleep 0.2 && rmdir lock
)");
  Json s = RunJsonOf(d.path(), {"p.yaml", "-j", "4"}, 0);
  EXPECT_EQ(s.value("completed", 0), 5) << s.dump(2);
}

TEST(ForEach, CachingIsPerInstance) {
  TempDir d;
  std::string p = ForEachPipeline("'cat list.txt > {{outputs.list}}'", "{items: split.list, as: lines}");
  p.replace(p.find("    outputs: [list]"), 0, "    cache: {files: [list.txt]}\n");
  d.Write("p.yaml", p);
  d.Write("list.txt", "a\nb\nc\n");
  Json s = RunJsonOf(d.path(), {"p.yaml", "--no-cache"}, 0);
  s = RunJsonOf(d.path(), {"p.yaml"}, 0);
  EXPECT_EQ(s.value("cached", 0), 5) << s.dump(2);
  d.Write("list.txt", "a\nB\nc\n");
  s = RunJsonOf(d.path(), {"p.yaml"}, 0);
  auto st = Statuses(Show(d.path(), s.value("run", "")));
  EXPECT_EQ(st["split"], "completed");
  EXPECT_EQ(st["work[0]"], "cached");
  EXPECT_EQ(st["work[1]"], "completed");
  EXPECT_EQ(st["work[2]"], "cached");
  EXPECT_EQ(st["gather"], "completed");
}

TEST(ForEach, ResumeRunsOnlyTheInstancesNotDone) {
  TempDir d;
  d.Write("p.yaml", R"(name: fe
steps:
  split:
    run: echo [0,1,2,3] > {{outputs.list}}
    outputs: [list]
  work:
    for_each: split.list
    run: test {{item}} != 2 -o -e ok && echo {{item}} > {{outputs.out}}
    outputs: [out]
  gather:
    inputs:
      outs: work[*].out
    run: cat {{inputs.outs}} > {{outputs.all}}
    outputs: [all]
)");
  Json s = RunJsonOf(d.path(), {"p.yaml"}, 1);
  const std::string run = s.value("run", "");
  auto rows = Latest(Show(d.path(), run));
  EXPECT_EQ(rows["work[2]"].value("status", ""), "failed");
  EXPECT_EQ(rows["gather"].value("status", ""), "skipped");
  EXPECT_EQ(rows["gather"].value("reason", ""), "upstream step 'work[2]' failed");
  EXPECT_FALSE(rows.count("work")) << "the for_each step itself has no record";
  d.Write("ok", "");
  auto r = RunBaton(d.path(), {"runs", "resume", run});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json after = Show(d.path(), run);
  EXPECT_EQ(after.value("status", ""), "completed");
  for (std::string i : {"0", "1", "3"}) EXPECT_EQ(Attempts(after, "work[" + i + "]"), 1) << i;
  EXPECT_EQ(Attempts(after, "work[2]"), 2);
  EXPECT_EQ(Attempts(after, "split"), 1);
  EXPECT_EQ(Output(d.path(), run, "gather", "all"), "0\n1\n2\n3\n");
}

TEST(ForEach, StoppingMidFanOutStopsTheRunningInstancesAndResumeFinishes) {
  TempDir d;
  const std::string m = "37.4" + std::to_string(::getpid() % 1000);
  d.Write("p.yaml", "name: fe\n"
                    "steps:\n"
                    "  split:\n"
                    "    run: echo [0,1,2,3,4,5] > {{outputs.list}}\n"
                    "    outputs: [list]\n"
                    "  work:\n"
                    "    for_each: {items: split.list, parallel: 2}\n"
                    "    run: test -e fast || sleep " + m + "\n");
  pid_t pid = SpawnBaton(d.path(), {"run", "p.yaml", "-j", "4"}, d.path() + "/bg.out", d.path() + "/bg.err");
  ASSERT_GT(pid, 0);
  for (int i = 0; i < 200 && SleepProcesses(m).size() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(SleepProcesses(m).size(), 2u) << ReadFileOrDie(d.path() + "/bg.out");
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  EXPECT_EQ(WaitExit(pid), 1);
  Json run = Show(d.path(), "last");
  EXPECT_EQ(run.value("status", ""), "stopped") << run.dump(2);
  auto st = Statuses(run);
  EXPECT_EQ(st["work[0]"], "stopped");
  EXPECT_EQ(st["work[1]"], "stopped");
  EXPECT_EQ(st["work[5]"], "skipped");
  EXPECT_TRUE(SleepProcesses(m).empty());
  d.Write("fast", "");
  auto r = RunBaton(d.path(), {"runs", "resume", run.value("id", "")});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  st = Statuses(Show(d.path(), run.value("id", "")));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(st["work[" + std::to_string(i) + "]"], "completed") << i;
}

}  // namespace
}  // namespace baton::testing
