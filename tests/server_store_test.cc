// Workspaces that record through `baton server` (metadata URI http://127.0.0.1:PORT): a
// pipeline runs, fails, resumes and is cached with --explain exactly as on a database, every
// record lands in the server's store (PostgreSQL where BATON_TEST_POSTGRES_URI names one, as in
// CI; SQLite otherwise); a run token reaches its own run and nothing else; a viewer records
// nothing; a server restarted in the middle of a run loses none of its records.

#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/metadata_store.h"
#include "platform/fs.h"
#include "store/postgres_db.h"
#include "store/registry.h"
#include "test_util.h"

namespace baton::testing {
namespace {

using Json = nlohmann::json;

constexpr char kPipeline[] = R"(name: remote
steps:
  make:
    run: echo data > {{outputs.data}}
    outputs: [data]
  double:
    run: cat {{inputs.data}} {{inputs.data}} > {{outputs.twice}}
    inputs: {data: make.data}
    outputs: [twice]
  check:
    run: test -f allow || exit 3; wc -l < {{inputs.twice}} > {{outputs.count}}
    inputs: {twice: double.twice}
    outputs: [count]
)";


class ServerStore : public ::testing::Test {
 protected:
  void SetUp() override {
    backing_store_ = std::make_unique<BackingStore>(server_dir_.path(), "served");
    if (!backing_store_->error().empty()) FAIL() << backing_store_->error();
    backing_ = backing_store_->uri();
    std::string error;
    server_ = TestServer::Start(server_dir_.path(), backing_,
                                {"--batch-timeout", "2", "--logs", server_dir_.path() + "/logs"}, &error);
    ASSERT_NE(server_, nullptr) << error;
    ws_.Write("pipeline.yaml", kPipeline);
    ASSERT_EQ(Baton({"init"}).exit_code, 0);
    auto login = Baton({"login", server_->base(), "--token-file", server_->token_file()});
    ASSERT_EQ(login.exit_code, 0) << Describe(login);
    auto set = Baton({"store", "set", server_->base()});
    ASSERT_EQ(set.exit_code, 0) << Describe(set);
  }

  void TearDown() override {
    server_.reset();
    backing_store_.reset();
  }

  // baton in the workspace, with its own config home (where `baton login` keeps the token).
  CommandResult Baton(const std::vector<std::string>& args, std::vector<std::string> env = {}) {
    env.push_back("XDG_CONFIG_HOME=" + ws_.path() + "/config");
    return RunBaton(ws_.path(), args, env);
  }

  Json JsonOf(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
    auto r = Baton(args, env);
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    return Json::parse(r.out, nullptr, false);
  }

  // The server's own store, opened directly: what was recorded, whatever the client says.
  std::unique_ptr<MetadataStore> Backing() {
    auto s = Stores().OpenMetadataStore(backing_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  std::string RunId(const CommandResult& r) {
    // "run NAME-... completed in ..." / "run ... failed ..."
    const size_t at = r.out.rfind("\nrun ");
    const size_t start = at == std::string::npos ? (r.out.rfind("run ", 0) == 0 ? 4 : std::string::npos) : at + 5;
    if (start == std::string::npos) return "";
    return r.out.substr(start, r.out.find(' ', start) - start);
  }

  // Two completed runs of the pipeline, the second with every step executed again.
  void TwoRuns(std::string* first, std::string* second) {
    ws_.Write("allow", "");
    auto a = Baton({"run", "pipeline.yaml"});
    ASSERT_EQ(a.exit_code, 0) << Describe(a);
    auto b = Baton({"run", "pipeline.yaml", "--no-cache"});
    ASSERT_EQ(b.exit_code, 0) << Describe(b);
    *first = RunId(a);
    *second = RunId(b);
  }

  // A new token of the admin, for `run` alone.
  std::string RunToken(const std::string& run) {
    auto made = RunBaton(server_dir_.path(), {"server", "token", "create", "admin", "--run", run,
                                             "--expires", "1h", "--metadata", backing_});
    EXPECT_EQ(made.exit_code, 0) << Describe(made);
    std::string token = made.out;
    while (!token.empty() && token.back() == '\n') token.pop_back();
    return token;
  }

  TempDir server_dir_;
  TempDir ws_;
  std::string backing_;
  std::unique_ptr<BackingStore> backing_store_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(ServerStore, APipelineFailsResumesAndIsCachedThroughTheServer) {
  auto first = Baton({"run", "pipeline.yaml"});
  ASSERT_EQ(first.exit_code, 1) << Describe(first);
  const std::string run = RunId(first);
  ASSERT_FALSE(run.empty()) << first.out;

  // Recorded in the server's store, not in the workspace.
  {
    auto local = Stores().OpenMetadataStore("sqlite://" + ws_.path() + "/.baton/baton.db");
    ASSERT_TRUE(local.ok()) << local.status().ToString();
    EXPECT_TRUE((*local)->ListRuns("", 0)->empty());
  }
  auto backing = Backing();
  ASSERT_NE(backing, nullptr);
  ASSERT_OK_AND_ASSIGN(RunRecord failed, backing->GetRun(run));
  EXPECT_EQ(failed.status, RunStatus::kFailed);
  ASSERT_OK_AND_ASSIGN(std::vector<StepRunRecord> steps, backing->ListStepRuns(run));
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[2].step, "check");
  EXPECT_EQ(steps[2].status, StepStatus::kFailed);
  EXPECT_EQ(steps[2].exit_code, 3);

  // Resume runs the failed step alone.
  ws_.Write("allow", "");
  auto resumed = Baton({"runs", "resume", run});
  ASSERT_EQ(resumed.exit_code, 0) << Describe(resumed);
  ASSERT_OK_AND_ASSIGN(steps, backing->ListStepRuns(run));
  ASSERT_EQ(steps.size(), 4u) << "make and double are not run again";
  EXPECT_EQ(steps[3].step, "check");
  EXPECT_EQ(steps[3].status, StepStatus::kCompleted);
  EXPECT_EQ(backing->GetRun(run)->status, RunStatus::kCompleted);
  EXPECT_EQ(backing->GetRun(run)->attempt, 2);

  // A second run is cached, and --explain says from where.
  auto again = Baton({"run", "pipeline.yaml", "--explain"});
  ASSERT_EQ(again.exit_code, 0) << Describe(again);
  EXPECT_NE(again.out.find("0 completed, 3 cached"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("why: cached: same cache key as step run"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("of run " + run), std::string::npos) << again.out;

  // The commands that read records read them through the server.
  Json list = JsonOf({"runs", "list", "-o", "json"});
  ASSERT_TRUE(list.is_array()) << list;
  EXPECT_EQ(list.size(), 2u);
  Json shown = JsonOf({"runs", "show", run, "-o", "json"});
  EXPECT_EQ(shown["status"], "completed") << shown;
  auto lineage = Baton({"artifacts", "list", "--run", run});
  EXPECT_EQ(lineage.exit_code, 0) << Describe(lineage);
  EXPECT_NE(lineage.out.find("count"), std::string::npos) << lineage.out;
}

TEST_F(ServerStore, ARunTokenReachesItsOwnRunAlone) {
  std::string mine, other;
  ASSERT_NO_FATAL_FAILURE(TwoRuns(&mine, &other));
  const std::string token = RunToken(mine);
  const std::vector<std::string> as_run = {"BATON_TOKEN=" + token};
  // BATON_TOKEN wins over the token `baton login` kept.
  auto own = Baton({"runs", "show", mine, "-o", "json"}, as_run);
  EXPECT_EQ(own.exit_code, 0) << Describe(own);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"runs", "show", other}, {"runs", "list"},
        {"runs", "delete", mine}, {"run", "pipeline.yaml"},
        {"runs", "tag", other, "leaked"}, {"stack", "set", "default"}}) {
    auto r = Baton(args, as_run);
    EXPECT_EQ(r.exit_code, 2) << args[0] << " " << args[1] << ": " << Describe(r);
    EXPECT_NE(r.err.find("refused"), std::string::npos) << Describe(r);
  }
  // Nothing changed.
  auto backing = Backing();
  ASSERT_NE(backing, nullptr);
  ASSERT_OK_AND_ASSIGN(std::vector<RunRecord> runs, backing->ListRuns("", 0));
  EXPECT_EQ(runs.size(), 2u);
  EXPECT_TRUE(backing->GetRun(other)->tags.empty());

  // A viewer reads and records nothing.
  auto viewer = RunBaton(server_dir_.path(), {"server", "user", "add", "vic", "--role", "viewer",
                                             "--metadata", backing_});
  ASSERT_EQ(viewer.exit_code, 0) << Describe(viewer);
  std::string vt = viewer.out;
  while (!vt.empty() && vt.back() == '\n') vt.pop_back();
  auto read = Baton({"runs", "list"}, {"BATON_TOKEN=" + vt});
  EXPECT_EQ(read.exit_code, 0) << Describe(read);
  auto write = Baton({"run", "pipeline.yaml"}, {"BATON_TOKEN=" + vt});
  EXPECT_EQ(write.exit_code, 2) << Describe(write);
  EXPECT_NE(write.err.find("is a viewer"), std::string::npos) << Describe(write);
  EXPECT_EQ(backing->ListRuns("", 0)->size(), 2u);
}

// The store API driven by hand (curl), as a leaked run token would: another run's step run is
// out of reach by its id unless the caller names the cache key that finds it, and a step's end
// cannot claim another run's artifacts as its inputs.
TEST_F(ServerStore, ARunTokenCannotReachAnotherRunByCountingIds) {
  std::string first, second;
  ASSERT_NO_FATAL_FAILURE(TwoRuns(&first, &second));
  auto backing = Backing();
  ASSERT_NE(backing, nullptr);
  ASSERT_OK_AND_ASSIGN(std::vector<StepRunRecord> theirs, backing->ListStepRuns(first));
  ASSERT_OK_AND_ASSIGN(std::vector<StepRunRecord> mine, backing->ListStepRuns(second));
  ASSERT_EQ(theirs.size(), 3u);
  const std::string token = RunToken(second);
  // POST /api/v1/store/METHOD with the run token; the HTTP status.
  auto call = [&](const std::string& method, const std::string& args, const std::string& key = "") {
    std::vector<std::string> argv = {"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                     "-H", "Authorization: Bearer " + token, "-H",
                                     "Content-Type: application/json", "--data", "{\"args\": " + args + "}"};
    if (!key.empty()) argv.insert(argv.end(), {"-H", "X-Baton-Cache-Key: " + key});
    argv.push_back(server_->base() + "/api/v1/store/" + method);
    return RunProgram("/", argv).out;
  };
  const std::string other = std::to_string(theirs[0].id);
  EXPECT_EQ(call("GetStepRun", "[" + std::to_string(mine[0].id) + "]"), "200");
  EXPECT_EQ(call("GetStepRun", "[" + other + "]"), "403");
  EXPECT_EQ(call("StepOutputs", "[" + other + "]"), "403");
  EXPECT_EQ(call("StepOutputs", "[" + other + "]", "not-its-key"), "403");
  EXPECT_EQ(call("StepOutputs", "[" + other + "]", theirs[0].cache_key), "200")
      << "the key that finds a cache hit opens its outputs";
  EXPECT_EQ(call("StepInputs", "[" + std::to_string(theirs[1].id) + "]", theirs[1].cache_key), "403");
  // A step end of its own run that names the other run's artifact as an input is refused.
  ASSERT_OK_AND_ASSIGN(auto their_outputs, backing->StepOutputs(theirs[0].id));
  ASSERT_FALSE(their_outputs.empty());
  StepRunRecord own = mine[2];
  Json rec = {{"id", own.id}, {"run_id", second}, {"step", own.step}, {"status", "completed"}};
  const std::string foreign_input =
      "[" + rec.dump() + ", [], [], [{\"name\": \"x\", \"artifact_id\": " +
      std::to_string(their_outputs[0].second.id) + "}]]";
  EXPECT_EQ(call("FinishStepRun", foreign_input), "403");
  // Nothing of the other run changed: no new consumer of its artifact.
  ASSERT_OK_AND_ASSIGN(auto consumers, backing->Consumers(their_outputs[0].second.id));
  for (const auto& c : consumers) EXPECT_EQ(c.run_id, first);
}

// A workspace that records through a server sends its steps' logs there as they grow (it could
// be on any machine): the server keeps a copy, byte for byte, and serves it once the file where
// the step wrote it is out of reach. A run token sends its own run's logs and no other's.
TEST_F(ServerStore, StepLogsAreSentToTheServerAndServedFromItsCopy) {
  ws_.Write("logs.yaml", R"(name: logs
steps:
  talk:
    run: sh -c 'echo first line; sleep 1.5; printf "second line\n\001\377 not text\n"'
)");
  auto r = Baton({"run", "logs.yaml"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string run = RunId(r);
  ASSERT_FALSE(run.empty()) << r.out;
  const std::string local = ws_.path() + "/.baton/logs/" + run + "/talk.1.log";
  const std::string copy = server_dir_.path() + "/logs/" + run + "/talk.1.log";
  const std::string written = ReadFileOrDie(local);
  ASSERT_NE(written.find("second line\n\001\377 not text"), std::string::npos) << written;
  ASSERT_TRUE(fs::Exists(copy));
  EXPECT_EQ(ReadFileOrDie(copy), written);
  // The workspace's own file gone, as on another machine: the server answers from its copy.
  ASSERT_TRUE(fs::RemoveTree(ws_.path() + "/.baton/logs/" + run).ok());
  const std::string body = ws_.path() + "/log.out";
  auto got = RunProgram("/", {"/usr/bin/curl", "-s", "-o", body, "-w", "%{http_code}", "-H",
                              "Authorization: Bearer " + server_->Token(),
                              server_->base() + "/api/v1/runs/" + run + "/steps/talk/log"});
  EXPECT_EQ(got.out, "200");
  EXPECT_EQ(ReadFileOrDie(body), written);
  // Followed, a copy is read to its end and the stream ends by itself (curl gives up after 20 s
  // and exits 28 otherwise).
  got = RunProgram("/", {"/usr/bin/curl", "-s", "-o", body, "-w", "%{http_code}", "--max-time", "20",
                         "-H", "Authorization: Bearer " + server_->Token(),
                         server_->base() + "/api/v1/runs/" + run + "/steps/talk/log?follow=1"});
  EXPECT_EQ(got.out, "200");
  EXPECT_EQ(got.exit_code, 0) << "the followed copy did not end";
  EXPECT_EQ(ReadFileOrDie(body), written);
  // Through the store API with the run's token: appends go where the copy ends, once.
  const std::string token = RunToken(run);
  auto append = [&](const std::string& run_id, const std::string& file, int64_t offset) {
    const std::string args = Json::array({run_id, file, offset, "aGVsbG8K"}).dump();  // "hello\n"
    return RunProgram("/", {"/usr/bin/curl", "-s", "-w", "\n%{http_code}", "-H",
                            "Authorization: Bearer " + token, "-H", "Content-Type: application/json",
                            "--data", "{\"args\": " + args + "}",
                            server_->base() + "/api/v1/store/AppendRunLog"}).out;
  };
  EXPECT_EQ(append(run, "extra.log", 0), "{\"result\":6}\n200");
  EXPECT_EQ(append(run, "extra.log", 0), "{\"result\":6}\n200") << "sent again: not written twice";
  EXPECT_EQ(ReadFileOrDie(server_dir_.path() + "/logs/" + run + "/extra.log"), "hello\n");
  EXPECT_EQ(append(run, "../escape.log", 0).substr(append(run, "../escape.log", 0).size() - 3), "400");
  const std::string other = append("some-other-run", "talk.1.log", 0);
  EXPECT_EQ(other.substr(other.size() - 3), "403");
  EXPECT_FALSE(fs::Exists(server_dir_.path() + "/logs/some-other-run"));
  EXPECT_FALSE(fs::Exists(server_dir_.path() + "/escape.log"));
}

TEST_F(ServerStore, AServerRestartedMidRunLosesNoRecord) {
  ws_.Write("allow", "");
  ws_.Write("slow.yaml", R"(name: slow
steps:
  first:
    run: echo one > {{outputs.a}}
    outputs: [a]
  wait:
    run: sleep 3; cat {{inputs.a}} > {{outputs.b}}
    inputs: {a: first.a}
    outputs: [b]
  last:
    run: cat {{inputs.b}} > {{outputs.c}}
    inputs: {b: wait.b}
    outputs: [c]
)");
  const std::string out = ws_.path() + "/run.out", err = ws_.path() + "/run.err";
  const pid_t pid = SpawnBaton(ws_.path(), {"run", "slow.yaml"}, out, err,
                               {"XDG_CONFIG_HOME=" + ws_.path() + "/config"});
  ASSERT_GT(pid, 0);
  // While `wait` runs, the server goes away for a second and comes back on the same port.
  for (int i = 0; i < 400 && ReadFileOrDie(out).find("started wait") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  ASSERT_NE(ReadFileOrDie(out).find("started wait"), std::string::npos) << ReadFileOrDie(err);
  EXPECT_EQ(server_->Stop(), 0);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  std::string error;
  ASSERT_TRUE(server_->Restart(&error)) << error;
  EXPECT_EQ(WaitExit(pid), 0) << ReadFileOrDie(out) << ReadFileOrDie(err);
  auto backing = Backing();
  ASSERT_NE(backing, nullptr);
  ASSERT_OK_AND_ASSIGN(std::vector<RunRecord> runs, backing->ListRuns("slow", 0));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, RunStatus::kCompleted) << runs[0].reason;
  ASSERT_OK_AND_ASSIGN(std::vector<StepRunRecord> steps, backing->ListStepRuns(runs[0].id));
  ASSERT_EQ(steps.size(), 3u);
  for (const auto& s : steps) EXPECT_EQ(s.status, StepStatus::kCompleted) << s.step << ": " << s.reason;
  ASSERT_OK_AND_ASSIGN(auto c, backing->FindRunOutput(runs[0].id, "last", "c"));
  ASSERT_TRUE(c.has_value());
}

}  // namespace
}  // namespace baton::testing
