// A team on shared stores: two workspaces (two directories, as two colleagues would have) whose
// metadata store is one PostgreSQL database and whose stack's artifact store is one bucket of a
// real S3 server (Ceph RGW). The quickstart runs in the first; its artifacts are objects in the
// bucket and its records rows in PostgreSQL; the second gets every step from the cache, and
// --explain names the first one's run. Needs BATON_TEST_POSTGRES_URI and BATON_TEST_S3_ENDPOINT
// (+ BATON_TEST_S3_ACCESS_KEY, BATON_TEST_S3_SECRET_KEY): skipped without them, failed in CI.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "platform/env_posix.h"
#include "store/s3/s3_client.h"
#include "store/s3/s3_options.h"
#include "test_util.h"

namespace baton::testing {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string Shell(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

class TeamStores : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = Env("BATON_TEST_POSTGRES_URI");
    s3_ = Env("BATON_TEST_S3_ENDPOINT");
    key_ = Env("BATON_TEST_S3_ACCESS_KEY");
    secret_ = Env("BATON_TEST_S3_SECRET_KEY");
    if (pg_.empty() || s3_.empty() || key_.empty() || secret_.empty()) {
      if (!Env("CI").empty())
        FAIL()
            << "CI must provide PostgreSQL and S3 (scripts/setup-postgres.sh, setup-ceph-rgw.sh)";
      GTEST_SKIP() << "no PostgreSQL + S3 here (set BATON_TEST_POSTGRES_URI and BATON_TEST_S3_*)";
    }
    if (std::string problem = S3GatewayProblem(s3_); !problem.empty()) FAIL() << problem;
    std::random_device rd;
    const std::string tag = std::to_string(rd() % 1000000000);
    schema_ = "team_" + tag;
    bucket_ = "baton-team-" + tag;
    metadata_ = pg_ + (pg_.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema_;
    auto r = Aws("s3api create-bucket --bucket " + bucket_);
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }

  // The AWS CLI, an independent client, against the test server.
  CommandResult Aws(const std::string& args) {
    return RunShell(
        "/", "AWS_ACCESS_KEY_ID=" + Shell(key_) + " AWS_SECRET_ACCESS_KEY=" + Shell(secret_) +
                 " AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url " + Shell(s3_) + " " + args);
  }

  std::vector<std::string> TeamEnv() const {
    return {"TEAM_S3_KEY=" + key_, "TEAM_S3_SECRET=" + secret_};
  }

  // A workspace in `dir` on the team's stores.
  void Join(const std::string& dir) {
    ASSERT_EQ(RunShell(dir, "cp -r " + SourceDir() + "/examples/quickstart/. .").exit_code, 0);
    ASSERT_EQ(RunBaton(dir, {"init"}).exit_code, 0);
    auto r = RunBaton(dir, {"store", "set", metadata_});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }

  std::string pg_, s3_, key_, secret_, schema_, bucket_, metadata_;
};

TEST_F(TeamStores, QuickstartOnPostgresAndS3IsCachedForAColleague) {
  TempDir alice, bob;
  Join(alice.path());
  // The stack lives in the shared metadata store: registered once, seen by both workspaces.
  auto r = RunBaton(alice.path(), {"artifact-store", "register", "team-s3", "--flavor", "s3",
                                   "--set", "bucket=" + bucket_, "--set", "endpoint=" + s3_,
                                   "--set", "access_key_id={{env.TEAM_S3_KEY}}", "--set",
                                   "secret_access_key={{env.TEAM_S3_SECRET}}"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  ASSERT_EQ(RunBaton(alice.path(), {"stack", "register", "team", "--orchestrator", "default",
                                    "--artifact-store", "team-s3", "--set"})
                .exit_code,
            0);
  r = RunBaton(alice.path(), {"run", "pipeline.yaml", "-o", "json"}, TeamEnv());
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string run = nlohmann::json::parse(r.out)["run"];

  // The records are rows in PostgreSQL: four step runs of that run in the team's schema.
  auto rows = RunShell("/", "psql " + Shell(pg_) + " -tAc " +
                                Shell("SELECT count(*) FROM " + schema_ +
                                      ".step_runs WHERE run_id = '" + run + "'"));
  ASSERT_EQ(rows.exit_code, 0) << Describe(rows);
  EXPECT_EQ(rows.out, "4\n");
  // The artifacts are objects in the bucket, where the records say: each output's digest is a key.
  nlohmann::json shown = JsonOf(alice.path(), {"runs", "show", run, "-o", "json"});
  auto listing =
      Aws("s3api list-objects-v2 --bucket " + bucket_ + " --query 'Contents[].Key' --output text");
  ASSERT_EQ(listing.exit_code, 0) << Describe(listing);
  int outputs = 0;
  for (const auto& s : shown["steps"])
    for (auto it = s["outputs"].begin(); it != s["outputs"].end(); ++it) {
      ++outputs;
      std::string digest = it.value()["digest"];  // sha256:HEX; the key ends in HEX
      ASSERT_EQ(digest.rfind("sha256:", 0), 0u) << digest;
      EXPECT_NE(listing.out.find("/" + digest.substr(7)), std::string::npos) << it.key() << "\n"
                                                                             << listing.out;
    }
  EXPECT_EQ(outputs, 5);  // raw, train, test, model, metrics

  // Bob, in another directory, shares both stores: every step is a hit, from Alice's run.
  Join(bob.path());
  r = RunBaton(bob.path(), {"run", "pipeline.yaml", "--explain"}, TeamEnv());
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("0 completed, 4 cached"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("of run " + run + " (" + alice.path() + "/pipeline.yaml"), std::string::npos)
      << r.out;
  // And a fresh read of an artifact comes from the bucket, verified.
  std::string metrics;
  for (const auto& s : shown["steps"])
    if (s["step"] == "evaluate") metrics = s["outputs"]["metrics"]["digest"];
  ASSERT_FALSE(metrics.empty()) << shown.dump(2);
  r = RunBaton(bob.path(),
               {"artifacts", "export", metrics.substr(0, 19), bob.path() + "/metrics.json"},
               TeamEnv());
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(ReadFileOrDie(bob.path() + "/metrics.json").find("accuracy"), std::string::npos);
}

// The pipeline of the upload fault: a 1 GiB output (sparse: it reads at memory speed, so the
// multipart upload's pace is the gateway's) and a step that reads it back.
constexpr const char* kBigOutputPipeline = R"Y(name: bigout
steps:
  make:
    run: truncate -s 1G {{outputs.big}}
    outputs: [big]
  size:
    run: wc -c < {{inputs.big}} > {{outputs.n}}
    inputs: {big: make.big}
    outputs: [n]
)Y";

// The S3 gateway stops while a step's output is being uploaded: the multipart upload is
// aborted, the step fails with the S3 error, and once the gateway is back `baton runs resume`
// finishes the run.
TEST_F(TeamStores, AGatewayStoppedWhileAStepUploadsFailsTheStepAndResumeFinishes) {
  const std::string script = SourceDir() + "/scripts/setup-ceph-rgw.sh";
  if (RunProgram("/", {"/bin/bash", script, "--env"}).exit_code != 0) {
    if (!Env("CI").empty()) FAIL() << "CI must start the S3 gateway with scripts/setup-ceph-rgw.sh";
    GTEST_SKIP() << "the S3 server was not started by scripts/setup-ceph-rgw.sh";
  }
  TempDir ws;
  ws.Write("pipeline.yaml", kBigOutputPipeline);
  ASSERT_EQ(RunBaton(ws.path(), {"init"}).exit_code, 0);
  const std::string prefix = "fault";
  auto r = RunBaton(ws.path(), {"artifact-store", "register", "team-s3", "--flavor", "s3", "--set",
                                "bucket=" + bucket_, "--set", "prefix=" + prefix, "--set",
                                "endpoint=" + s3_, "--set", "access_key_id={{env.TEAM_S3_KEY}}",
                                "--set", "secret_access_key={{env.TEAM_S3_SECRET}}", "--set",
                                "cache_dir=" + ws.path() + "/s3cache"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  ASSERT_EQ(RunBaton(ws.path(), {"stack", "register", "team", "--orchestrator", "default",
                                 "--artifact-store", "team-s3"})
                .exit_code,
            0);
  ASSERT_EQ(RunBaton(ws.path(), {"stack", "set", "team"}).exit_code, 0);

  // An independent client, to watch the bucket's multipart uploads.
  ::setenv("TEAM_S3_KEY", key_.c_str(), 1);
  ::setenv("TEAM_S3_SECRET", secret_.c_str(), 1);
  auto parsed = StoreUri::Parse(
      "s3://" + bucket_ + "?endpoint=" + s3_ +
      "&access_key_env=TEAM_S3_KEY&secret_key_env=TEAM_S3_SECRET&cache=" + ws.path() + "/watcher");
  ASSERT_TRUE(parsed.ok());
  auto options = s3::ParseStoreOptions(*parsed, *PosixEnv());
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  s3::Client watcher(options->client);
  auto open_uploads = [&]() -> size_t {
    auto u = watcher.ListMultipartUploads(bucket_, prefix + "/");
    return u.ok() ? u->size() : 0;
  };

  std::vector<std::string> env = TeamEnv();
  pid_t pid = SpawnBaton(ws.path(), {"run", "pipeline.yaml", "-o", "json"}, ws.path() + "/run.out",
                         ws.path() + "/run.err", env);
  ASSERT_GT(pid, 0);
  bool uploading = false;
  for (int i = 0; i < 3000 && !uploading; ++i) {
    uploading = open_uploads() > 0;
    if (!uploading) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto stopped = RunProgram("/", {"/bin/bash", script, "--stop-rgw"});
  const int code = WaitExit(pid);
  auto started = RunProgram("/", {"/bin/bash", script, "--start-rgw"});
  ASSERT_EQ(started.exit_code, 0) << Describe(started);
  ASSERT_EQ(stopped.exit_code, 0) << Describe(stopped);
  ASSERT_TRUE(uploading) << "the upload never showed: " << ReadFileOrDie(ws.path() + "/run.err");

  // The step failed, saying that the gateway could not be reached; nothing of it was recorded.
  EXPECT_EQ(code, 1) << ReadFileOrDie(ws.path() + "/run.err");
  nlohmann::json run = nlohmann::json::parse(ReadFileOrDie(ws.path() + "/run.out"), nullptr, false);
  ASSERT_TRUE(run.is_object()) << ReadFileOrDie(ws.path() + "/run.out");
  const std::string run_id = run["run"];
  nlohmann::json shown = JsonOf(ws.path(), {"runs", "show", run_id, "-o", "json"});
  EXPECT_EQ(shown["status"], "failed") << shown.dump(2);
  bool make_failed = false;
  for (const auto& s : shown["steps"])
    if (s["step"] == "make") {
      make_failed = s["status"] == "failed";
      const std::string reason = s.value("reason", "");
      EXPECT_NE(reason.find("cannot reach " + s3_), std::string::npos) << s.dump(2);
      EXPECT_TRUE(s["outputs"].empty()) << s.dump(2);
    }
  EXPECT_TRUE(make_failed) << shown.dump(2);

  // Resumed with the gateway back: the upload is aborted (by the store's journal, if the abort
  // could not reach the gateway either), the step runs again and the run completes.
  r = RunBaton(ws.path(), {"runs", "resume", run_id, "-o", "json"}, env);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(nlohmann::json::parse(r.out)["status"], "completed") << r.out;
  EXPECT_EQ(open_uploads(), 0u) << "a multipart upload stays open";
  shown = JsonOf(ws.path(), {"runs", "show", run_id, "-o", "json"});
  for (const auto& s : shown["steps"])
    if (s["step"] == "size" && s["status"] == "completed") {
      std::string n = s["outputs"]["n"]["digest"];
      r = RunBaton(ws.path(), {"artifacts", "export", n.substr(0, 19), ws.path() + "/n.txt"}, env);
      ASSERT_EQ(r.exit_code, 0) << Describe(r);
      EXPECT_EQ(ReadFileOrDie(ws.path() + "/n.txt"), "1073741824\n");
    }
  EXPECT_TRUE(std::filesystem::exists(ws.path() + "/n.txt"));
}

}  // namespace
}  // namespace baton::testing
