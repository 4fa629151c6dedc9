// A flavor added by a folder and one registration: the toy flavor (tests/toy_flavor/) joins
// the built-in list through RegisterBuiltinFlavors' `extra` and runs pipelines end to end, with
// the step entrypoint recording every attempt and the common DAG driver scheduling, retrying
// and skipping. Nothing in core or app knows it.

#include <gtest/gtest.h>

#include <algorithm>

#include "app/orchestrated_run.h"
#include "app/run_pipeline.h"
#include "app/stack.h"
#include "app/workspace.h"
#include "core/spec_parser.h"
#include "flavors/builtin.h"
#include "platform/env_posix.h"
#include "platform/fs.h"
#include "test_util.h"
#include "toy_flavor/toy_orchestrator.h"

namespace baton::testing {
namespace {

constexpr const char* kPipeline = R"(name: toyrun
steps:
  a: {run: "echo a > {{outputs.o}}", outputs: [o]}
  flaky:
    run: "test -f tried || { touch tried; exit 4; }; cat {{inputs.x}} > {{outputs.o}}"
    inputs: {x: a.o}
    outputs: [o]
    retries: {max: 1}
  c: {run: "cat {{inputs.x}}", inputs: {x: flaky.o}}
  bad: {run: "exit 3"}
  after_bad: {run: "true", after: [bad]}
)";

class ToyFlavorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(RegisterBuiltinFlavors(&flavors_.registry, {ToyFlavor()}).ok());
    auto ws = InitWorkspace(dir_.path());
    ASSERT_TRUE(ws.ok()) << ws.status().message();
    ws_.emplace(std::move(*ws));
    ComponentRecord c{"orchestrator", "toy1", "toy", Json{{"binary", BatonBinary()}}.dump(), 0, 0};
    ASSERT_TRUE(ws_->meta->CreateComponent(c).ok());
    ASSERT_TRUE(ws_->meta->CreateStack({"toys", "toy1", "default", 0, 0}).ok());
    auto spec = ParsePipelineFile(*PosixEnv(), dir_.Write("p.yaml", kPipeline));
    ASSERT_TRUE(spec.ok()) << spec.status().message();
    spec_ = std::move(*spec);
    auto stack = ResolveStack(*ws_->meta, flavors_, "toys");
    ASSERT_TRUE(stack.ok()) << stack.status().message();
    stack_ = std::move(*stack);
    spec_.stack = stack_.ToJson();
    opts_.flavors = &flavors_;
    opts_.stack = &stack_;
  }

  std::map<std::string, std::vector<StepRunRecord>> StepRuns(const std::string& run_id) {
    std::map<std::string, std::vector<StepRunRecord>> out;
    auto rows = ws_->meta->ListStepRuns(run_id);
    EXPECT_TRUE(rows.ok());
    for (const auto& r : *rows) out[r.step].push_back(r);
    return out;
  }

  TempDir dir_;
  Flavors flavors_;
  std::optional<Workspace> ws_;
  PipelineSpec spec_;
  ResolvedStack stack_;
  RunOptions opts_;
};

TEST_F(ToyFlavorTest, RunsAPipelineThroughTheDriverByRegistrationAlone) {
  const size_t before = ToyStarts().size();
  ExecutionObserver quiet;
  std::string run_id;
  auto summary = RunPipeline(*ws_, spec_, opts_, &quiet, &run_id);
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->status, RunStatus::kFailed);
  EXPECT_EQ(summary->completed, 3);
  EXPECT_EQ(summary->failed, 1);
  EXPECT_EQ(summary->skipped, 1);

  auto runs = StepRuns(run_id);
  ASSERT_EQ(runs["a"].size(), 1u);
  EXPECT_EQ(runs["a"][0].status, StepStatus::kCompleted);
  // The driver retried flaky as a second attempt of the entrypoint; c read the retry's output.
  ASSERT_EQ(runs["flaky"].size(), 2u);
  EXPECT_EQ(runs["flaky"][0].status, StepStatus::kFailed);
  EXPECT_EQ(runs["flaky"][0].exit_code, 4);
  EXPECT_EQ(runs["flaky"][1].status, StepStatus::kCompleted);
  ASSERT_EQ(runs["c"].size(), 1u);
  EXPECT_EQ(runs["c"][0].status, StepStatus::kCompleted);
  // bad failed for good, without retries; its dependent never started and is recorded skipped.
  ASSERT_EQ(runs["bad"].size(), 1u);
  EXPECT_EQ(runs["bad"][0].exit_code, 3);
  ASSERT_EQ(runs["after_bad"].size(), 1u);
  EXPECT_EQ(runs["after_bad"][0].status, StepStatus::kSkipped);
  EXPECT_NE(runs["after_bad"][0].reason.find("upstream step 'bad'"), std::string::npos) << runs["after_bad"][0].reason;

  // What the backend started: each attempt once, upstream first.
  std::vector<std::string> starts = ToyStarts();
  starts.erase(starts.begin(), starts.begin() + static_cast<long>(before));
  auto at = [&](const std::string& s) { return std::find(starts.begin(), starts.end(), s) - starts.begin(); };
  ASSERT_EQ(starts.size(), 5u) << ::testing::PrintToString(starts);
  EXPECT_LT(at("a#1"), at("flaky#1"));
  EXPECT_LT(at("flaky#1"), at("flaky#2"));
  EXPECT_LT(at("flaky#2"), at("c#1"));
  EXPECT_EQ(std::count(starts.begin(), starts.end(), "after_bad#1"), 0);

  // Resume runs only what did not complete: bad (again failing) and nothing that succeeded.
  auto run = ws_->meta->GetRun(run_id);
  ASSERT_TRUE(run.ok());
  const size_t resumed_from = ToyStarts().size();
  auto resumed = ResumeRun(*ws_, *run, spec_, opts_, &quiet);
  ASSERT_TRUE(resumed.ok()) << resumed.status().message();
  starts = ToyStarts();
  starts.erase(starts.begin(), starts.begin() + static_cast<long>(resumed_from));
  EXPECT_EQ(starts, std::vector<std::string>{"bad#2"});
}

// Matrix instances, a for_each fanned out by the driver as the list becomes known (at most two at
// once), a gather of every instance, and a condition decided by the step entrypoint; resume runs
// only the instance that failed and what waited for it.
TEST_F(ToyFlavorTest, MatrixForEachAndConditionsRunThroughTheDriver) {
  auto spec = ParsePipelineFile(*PosixEnv(), dir_.Write("dyn.yaml", R"(name: toydyn
steps:
  split: {run: "echo [1,2,3] > {{outputs.list}}", outputs: [list]}
  train:
    matrix: {C: [1, 2]}
    run: "echo {{matrix.C}} > {{outputs.m}}"
    outputs: [m]
  work:
    for_each: {items: split.list, parallel: 2}
    run: "test {{item}} != 3 -o -f ok && echo {{item}} > {{outputs.o}}"
    outputs: [o]
  gather:
    inputs:
      outs: work[*].o
      models: train[*].m
    run: "cat {{inputs.outs}} {{inputs.models}} > {{outputs.all}}"
    outputs: [all]
  deploy:
    when: "{{steps.gather.outputs.all}} == 'never'"
    run: "true"
)"));
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  spec->stack = stack_.ToJson();
  ExecutionObserver quiet;
  std::string run_id;
  const size_t before = ToyStarts().size();
  auto summary = RunPipeline(*ws_, *spec, opts_, &quiet, &run_id);
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->status, RunStatus::kFailed);
  auto runs = StepRuns(run_id);
  EXPECT_EQ(runs["train[C=1]"].at(0).status, StepStatus::kCompleted);
  EXPECT_EQ(runs["train[C=2]"].at(0).status, StepStatus::kCompleted);
  EXPECT_EQ(runs["work[0]"].at(0).status, StepStatus::kCompleted);
  EXPECT_EQ(runs["work[1]"].at(0).status, StepStatus::kCompleted);
  EXPECT_EQ(runs["work[2]"].at(0).status, StepStatus::kFailed);
  EXPECT_EQ(runs["gather"].at(0).status, StepStatus::kSkipped);
  EXPECT_EQ(runs["deploy"].at(0).status, StepStatus::kSkipped);
  EXPECT_EQ(runs.count("work"), 0u) << "the for_each step has no record of its own";
  EXPECT_EQ(summary->completed, 5);
  EXPECT_EQ(summary->failed, 1);
  std::vector<std::string> starts = ToyStarts();
  starts.erase(starts.begin(), starts.begin() + static_cast<long>(before));
  auto at = [&](const std::string& s) { return std::find(starts.begin(), starts.end(), s) - starts.begin(); };
  EXPECT_LT(at("split#1"), at("work[0]#1"));
  EXPECT_EQ(std::count(starts.begin(), starts.end(), "work#1"), 0);

  dir_.Write("ok", "");
  auto run = ws_->meta->GetRun(run_id);
  ASSERT_TRUE(run.ok());
  const size_t resumed_from = ToyStarts().size();
  auto resumed = ResumeRun(*ws_, *run, *spec, opts_, &quiet);
  ASSERT_TRUE(resumed.ok()) << resumed.status().message();
  EXPECT_EQ(resumed->status, RunStatus::kCompleted) << resumed->reason;
  starts = ToyStarts();
  starts.erase(starts.begin(), starts.begin() + static_cast<long>(resumed_from));
  EXPECT_EQ(starts, (std::vector<std::string>{"work[2]#2", "gather#2", "deploy#2"}));  // #1 were recorded skipped
  runs = StepRuns(run_id);
  EXPECT_EQ(runs["deploy"].back().status, StepStatus::kSkipped);
  EXPECT_NE(runs["deploy"].back().reason.find("condition false: "), std::string::npos) << runs["deploy"].back().reason;
  ASSERT_EQ(runs["gather"].back().status, StepStatus::kCompleted);
  auto outs = ws_->meta->StepOutputs(runs["gather"].back().id);
  ASSERT_TRUE(outs.ok() && outs->size() == 1u);
  auto path = ws_->artifacts->Get((*outs)[0].second.digest);
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(ReadFileOrDie(*path), "1\n2\n3\n1\n2\n");
}

TEST_F(ToyFlavorTest, CompilesThroughItsOwnCompile) {
  const std::string out = dir_.path() + "/compiled";
  ASSERT_TRUE(CompilePipeline(*ws_, spec_, opts_, out).ok());
  Json plan = Json::parse(ReadFileOrDie(out + "/toy-plan.json"));
  ASSERT_EQ(plan["steps"].size(), 5u);
  EXPECT_EQ(plan["steps"][0]["command"][1], "step");
  EXPECT_EQ(plan["metadata_uri"], ws_->metadata_uri);
  EXPECT_TRUE(fs::Exists(out + "/snapshot.json"));
}

}  // namespace
}  // namespace baton::testing
