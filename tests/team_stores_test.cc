// A team on shared stores: two workspaces (two directories, as two colleagues would have) whose
// metadata store is one PostgreSQL database and whose stack's artifact store is one bucket of a
// real S3 server (Ceph RGW). The quickstart runs in the first; its artifacts are objects in the
// bucket and its records rows in PostgreSQL; the second gets every step from the cache, and
// --explain names the first one's run. Needs BATON_TEST_POSTGRES_URI and BATON_TEST_S3_ENDPOINT
// (+ BATON_TEST_S3_ACCESS_KEY, BATON_TEST_S3_SECRET_KEY): skipped without them, failed in CI.

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

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

}  // namespace
}  // namespace baton::testing
