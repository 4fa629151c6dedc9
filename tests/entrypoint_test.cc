// The step entrypoint away from any workspace: `baton step run` given its stores by URI (flags
// or environment) runs a step from a directory with no .baton/ above it, records the attempt in
// those stores, and writes the JSON result that orchestrators read.

#include <gtest/gtest.h>

#include "baton/orchestrator.h"
#include "platform/fs.h"
#include "store/registry.h"
#include "test_util.h"

namespace baton::testing {
namespace {

constexpr const char* kPipeline = R"(name: far
steps:
  make: {run: "echo made > {{outputs.out}}", outputs: [out]}
  use: {run: "cat {{inputs.x}} > {{outputs.copy}}", inputs: {x: make.out}, outputs: [copy]}
)";

// A workspace with one completed run of kPipeline.
class FarEntrypoint : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_.Write("p.yaml", kPipeline);
    auto r = RunBaton(ws_.path(), {"run", "p.yaml", "-o", "json"});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    run_ = nlohmann::json::parse(r.out)["run"].get<std::string>();
    auto meta = Stores().OpenMetadataStore(MetadataUri());
    ASSERT_TRUE(meta.ok()) << meta.status().message();
    auto rec = (*meta)->GetRun(run_);
    ASSERT_TRUE(rec.ok()) << rec.status().message();
    snapshot_ = "sha256:" + rec->snapshot_hash;
  }

  std::string MetadataUri() const { return SqliteUri(ws_.path() + "/.baton/baton.db"); }
  std::string ArtifactsUri() const { return FileUri(ws_.path() + "/.baton/artifacts"); }

  // The attempts of `step` in the run, as `runs show` reports them.
  std::vector<nlohmann::json> Attempts(const std::string& step) {
    nlohmann::json show = JsonOf(ws_.path(), {"runs", "show", run_, "-o", "json"});
    std::vector<nlohmann::json> out;
    for (const auto& s : show["steps"])
      if (s["step"] == step) out.push_back(s);
    return out;
  }

  TempDir ws_;
  TempDir far_;  // no .baton here or above
  std::string run_, snapshot_;
};

TEST_F(FarEntrypoint, RunsAStepWithStoresGivenByUri) {
  ASSERT_FALSE(fs::Exists(far_.path() + "/.baton"));
  const std::string result = far_.path() + "/out/use.2.json";
  auto r = RunBaton(far_.path(), {"step", "run", "--snapshot", snapshot_, "--step", "use", "--run", run_,
                                  "--metadata", MetadataUri(), "--artifacts", ArtifactsUri(), "--logs",
                                  far_.path() + "/logs", "--attempt", "2", "--no-cache", "--result", result});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_FALSE(fs::Exists(far_.path() + "/.baton")) << "the entrypoint made a workspace";

  // The result says how the attempt ended, as recorded.
  auto text = fs::ReadFile(result);
  ASSERT_TRUE(text.ok()) << text.status().message();
  auto res = StepResult::FromJson(*text);
  ASSERT_TRUE(res.ok()) << res.status().message();
  EXPECT_EQ(res->run_id, run_);
  EXPECT_EQ(res->step, "use");
  EXPECT_EQ(res->attempt, 2);
  ASSERT_TRUE(res->status.has_value());
  EXPECT_EQ(*res->status, StepStatus::kCompleted);

  // The workspace's store has the second attempt, its input resolved from the first run's
  // output, its log where it was told.
  auto attempts = Attempts("use");
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[1]["attempt"], 2);
  EXPECT_EQ(attempts[1]["status"], "completed");
  EXPECT_EQ(attempts[1]["inputs"]["x"]["digest"], Attempts("make")[0]["outputs"]["out"]["digest"]);
  auto logs = fs::ListDir(far_.path() + "/logs");
  ASSERT_TRUE(logs.ok());
  EXPECT_FALSE(logs->empty());
}

TEST_F(FarEntrypoint, TakesItsStoresFromTheEnvironment) {
  auto r = RunBaton(far_.path(),
                    {"step", "run", "--snapshot", snapshot_, "--step", "make", "--run", run_, "--attempt", "2",
                     "--no-cache"},
                    {"BATON_METADATA_URI=" + MetadataUri(), "BATON_ARTIFACTS_URI=" + ArtifactsUri(),
                     "BATON_LOGS_DIR=" + far_.path() + "/logs"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("step make of run " + run_ + ": completed"), std::string::npos) << r.out;
  auto attempts = Attempts("make");
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[1]["status"], "completed");
  EXPECT_FALSE(fs::Exists(far_.path() + "/.baton"));
}

TEST_F(FarEntrypoint, WithoutStoresItSaysSoAndWritesTheErrorAsItsResult) {
  const std::string result = far_.path() + "/r.json";
  auto r = RunBaton(far_.path(),
                    {"step", "run", "--snapshot", snapshot_, "--step", "make", "--run", run_, "--result", result});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("no --metadata/--artifacts given and no workspace"), std::string::npos) << Describe(r);
  auto res = StepResult::FromJson(ReadFileOrDie(result));
  ASSERT_TRUE(res.ok());
  EXPECT_FALSE(res->status.has_value());
  EXPECT_NE(res->error.find("no workspace"), std::string::npos) << res->error;

  // A store URI of no known scheme names the schemes there are.
  r = RunBaton(far_.path(), {"step", "run", "--snapshot", snapshot_, "--step", "make", "--run", run_, "--metadata",
                             "mysql://db/x", "--artifacts", ArtifactsUri(), "--logs", far_.path() + "/logs",
                             "--result", result});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("no metadata store for mysql://"), std::string::npos) << Describe(r);
  res = StepResult::FromJson(ReadFileOrDie(result));
  ASSERT_TRUE(res.ok());
  EXPECT_NE(res->error.find("sqlite://"), std::string::npos) << res->error;
  EXPECT_EQ(Attempts("make").size(), 1u) << "nothing was recorded";
}

}  // namespace
}  // namespace baton::testing
