// Schedules end to end: `baton schedule` records them, a real `baton server` in the workspace
// fires them by starting `baton run`, and the runs record the schedule. The server's clock is a
// file the test writes (--clock-file), so minutes pass at once; the runs are real processes
// whose step waits for a file the test writes, so that a run is still going when the next
// minute comes.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "app/schedules.h"
#include "app/workspace.h"
#include "baton/metadata_store.h"
#include "baton/stores.h"
#include "platform/fs.h"
#include "store/registry.h"
#include "test_util.h"

namespace baton::testing {
namespace {

using Json = nlohmann::json;

constexpr char kPipeline[] = R"(name: nightly
steps:
  work:
    run: sh -c 'while [ ! -f go ]; do sleep 0.05; done; echo done'
)";

class Schedules : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_.Write("pipeline.yaml", kPipeline);
    ASSERT_EQ(RunBaton(ws_.path(), {"init"}).exit_code, 0);
    auto uri = WorkspaceMetadataUri(ws_.path() + "/.baton");
    ASSERT_TRUE(uri.ok());
    uri_ = *uri;
    // A whole minute 10 to 70 seconds from now, by when the schedules below exist: they are due
    // there. The server's clock starts at the real time (nothing due yet).
    const int64_t now = NowMicros() / 1'000'000;
    minute_ = ((now + 10) / 60 + 1) * 60;
    SetClock(now);
  }

  void TearDown() override {
    ws_.Write("go", "");  // let the runs end, and wait for them: the workspace goes next, and a
    // step still looking for `go` in a deleted directory would look for ever
    WaitFor([&] {
      auto runs = Store()->ListRuns("", 0);
      return runs.ok() && std::none_of(runs->begin(), runs->end(), [](const RunRecord& r) {
               return r.status == RunStatus::kRunning;
             });
    }, 30);
    server_.reset();
  }

  void StartServer() {
    std::string error;
    server_ = TestServer::Start(ws_.path(), uri_, {"--clock-file", ws_.path() + "/clock"}, &error);
    ASSERT_NE(server_, nullptr) << error;
  }

  void SetClock(int64_t seconds) { ws_.Write("clock", std::to_string(seconds)); }

  CommandResult Baton(const std::vector<std::string>& args) { return RunBaton(ws_.path(), args); }

  std::unique_ptr<MetadataStore> Store() {
    auto s = Stores().OpenMetadataStore(uri_);
    EXPECT_TRUE(s.ok());
    return s.ok() ? std::move(*s) : nullptr;
  }

  // The runs the schedule started, oldest first.
  std::vector<RunRecord> RunsOf(const std::string& schedule) {
    std::vector<RunRecord> out;
    auto runs = Store()->ListRuns("", 0);
    if (!runs.ok()) return out;
    for (const auto& r : *runs)
      if (r.schedule == schedule) out.insert(out.begin(), r);
    return out;
  }

  ScheduleRecord Get(const std::string& name) {
    auto s = Store()->GetSchedule(name);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : ScheduleRecord{};
  }

  static bool WaitFor(const std::function<bool()>& done, int seconds = 60) {
    for (int i = 0; i < seconds * 10; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  std::string IdAt(const std::string& name, int64_t seconds) { return ScheduledRunId(name, seconds * 1'000'000); }

  TempDir ws_;
  std::string uri_;
  int64_t minute_ = 0;
  std::unique_ptr<TestServer> server_;
};

TEST_F(Schedules, EveryMinuteForThreeMinutesSkippingATimeWhileTheLastRunRuns) {
  auto created = Baton({"schedule", "create", "pipeline.yaml", "--cron", "* * * * *", "--overlap", "skip"});
  ASSERT_EQ(created.exit_code, 0) << Describe(created);
  EXPECT_NE(created.out.find("schedule pipeline:"), std::string::npos) << created.out;
  StartServer();
  // Minute 1: a run starts, and waits for `go`.
  SetClock(minute_ + 5);
  ASSERT_TRUE(WaitFor([&] { return RunsOf("pipeline").size() == 1 && RunsOf("pipeline")[0].status == RunStatus::kRunning; }));
  EXPECT_EQ(RunsOf("pipeline")[0].id, IdAt("pipeline", minute_));
  // Minute 2: the run still runs, so the time is passed over.
  SetClock(minute_ + 65);
  ASSERT_TRUE(WaitFor([&] { return Get("pipeline").last_fire == (minute_ + 60) * 1'000'000; }));
  EXPECT_EQ(RunsOf("pipeline").size(), 1u);
  EXPECT_EQ(Get("pipeline").last_run, IdAt("pipeline", minute_));
  // The run ends; minute 3 runs.
  ws_.Write("go", "");
  ASSERT_TRUE(WaitFor([&] { return RunsOf("pipeline")[0].status == RunStatus::kCompleted; }));
  SetClock(minute_ + 125);
  ASSERT_TRUE(WaitFor([&] {
    auto runs = RunsOf("pipeline");
    return runs.size() == 2 && runs[1].status == RunStatus::kCompleted;
  }));
  auto runs = RunsOf("pipeline");
  EXPECT_EQ(runs[1].id, IdAt("pipeline", minute_ + 120));
  EXPECT_EQ(runs[1].schedule, "pipeline");
  // The run as every reader sees it names its schedule.
  auto shown = Baton({"runs", "show", runs[1].id, "-o", "json"});
  ASSERT_EQ(shown.exit_code, 0) << Describe(shown);
  EXPECT_EQ(Json::parse(shown.out)["schedule"], "pipeline");
}

// A schedule on a stack whose orchestrator keeps schedules itself (kubernetes: a CronJob) is
// not fired by the server, while one beside it is.
TEST_F(Schedules, TheServerLeavesAScheduleItsStacksOrchestratorKeeps) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"orchestrator", "register", "kube", "--flavor", "kubernetes", "--set", "kubeconfig=/nonexistent/kubeconfig"},
           {"stack", "register", "kube", "--orchestrator", "kube"}}) {
    auto r = Baton(args);
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }
  ASSERT_EQ(Baton({"schedule", "create", "pipeline.yaml", "--name", "here", "--cron", "* * * * *"}).exit_code, 0);
  // Recorded as `baton schedule create --stack kube` records it (the CronJob is not needed here).
  ScheduleRecord kept = Get("here");
  kept.name = "cluster";
  kept.stack = "kube";
  ASSERT_TRUE(Store()->CreateSchedule(kept).ok());
  StartServer();
  SetClock(minute_ + 5);
  ASSERT_TRUE(WaitFor([&] { return RunsOf("here").size() == 1; }));
  std::this_thread::sleep_for(std::chrono::seconds(2));  // two more looks of the server
  EXPECT_TRUE(RunsOf("cluster").empty());
  EXPECT_EQ(Get("cluster").last_fire, kept.last_fire);
}

TEST_F(Schedules, AQueuedTimeRunsWhenTheLastRunEnds) {
  ASSERT_EQ(Baton({"schedule", "create", "pipeline.yaml", "--name", "q", "--cron", "* * * * *", "--overlap", "queue"}).exit_code, 0);
  StartServer();
  SetClock(minute_ + 5);
  ASSERT_TRUE(WaitFor([&] { return RunsOf("q").size() == 1; }));
  SetClock(minute_ + 65);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // three looks of the server
  EXPECT_EQ(RunsOf("q").size(), 1u);
  EXPECT_EQ(Get("q").last_fire, minute_ * 1'000'000);  // the time waits
  ws_.Write("go", "");
  ASSERT_TRUE(WaitFor([&] { return RunsOf("q").size() == 2; }));
  EXPECT_EQ(RunsOf("q")[1].id, IdAt("q", minute_ + 60));
}

TEST_F(Schedules, CatchUpAllRunsEveryMissedTimeAndAPausedScheduleNone) {
  ws_.Write("go", "");
  ASSERT_EQ(Baton({"schedule", "create", "pipeline.yaml", "--name", "all", "--cron", "* * * * *",
                   "--catchup", "all", "--overlap", "allow"}).exit_code, 0);
  ASSERT_EQ(Baton({"schedule", "create", "pipeline.yaml", "--name", "off", "--cron", "* * * * *"}).exit_code, 0);
  ASSERT_EQ(Baton({"schedule", "pause", "off"}).exit_code, 0);
  StartServer();
  // The server comes back after three minutes without one.
  SetClock(minute_ + 130);
  // Every minute from the schedule's making to the clock, each once, in order.
  std::vector<std::string> expected;
  for (int64_t t = (Get("all").created_at / 1'000'000 / 60 + 1) * 60; t <= minute_ + 130; t += 60)
    expected.push_back(IdAt("all", t));
  ASSERT_GE(expected.size(), 3u);
  ASSERT_TRUE(WaitFor([&] { return RunsOf("all").size() == expected.size(); }));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  std::vector<std::string> ids;
  for (const auto& r : RunsOf("all")) ids.push_back(r.id);
  EXPECT_EQ(ids, expected);
  SetClock(minute_ + 190);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_TRUE(RunsOf("off").empty());
  // Resumed: it fires for the time now due, once.
  ASSERT_EQ(Baton({"schedule", "resume", "off"}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return RunsOf("off").size() == 1; }));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ASSERT_EQ(RunsOf("off").size(), 1u);
  EXPECT_EQ(RunsOf("off")[0].id, IdAt("off", minute_ + 180));
}

TEST_F(Schedules, TheCommandsCheckWhatTheyAreGiven) {
  struct Case {
    std::vector<std::string> args;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{"--cron", "61 * * * *"}, "column 1: the minute is 0-59, not 61"},
      {{"--cron", "* * *"}, "five fields"},
      {{"--cron", "@daily", "--tz", "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"},
      {{"--cron", "@daily", "--tz", "../etc/passwd"}, "not a time zone name"},
      {{"--cron", "@daily", "--catchup", "some"}, "--catchup is none, latest or all"},
      {{"--cron", "@daily", "--overlap", "never"}, "--overlap is skip, queue or allow"},
      {{"--cron", "@daily", "--stack", "nope"}, "nope"},
      {{"--cron", "@daily", "--name", "a b"}, "a schedule's name"},
      {{}, "--cron is required"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {"schedule", "create", "pipeline.yaml"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = Baton(argv);
    EXPECT_EQ(r.exit_code, 2) << Describe(r);
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.message << "\n" << Describe(r);
  }
  auto missing = Baton({"schedule", "create", "missing.yaml", "--cron", "@daily"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("no pipeline file"), std::string::npos) << Describe(missing);
  EXPECT_TRUE(Store()->ListSchedules()->empty());
  // A schedule in Berlin: its next time is 02:30 there.
  ASSERT_EQ(Baton({"schedule", "create", "pipeline.yaml", "--name", "berlin", "--cron", "30 2 * * *", "--tz", "Europe/Berlin"}).exit_code, 0);
  EXPECT_EQ(Baton({"schedule", "create", "pipeline.yaml", "--name", "berlin", "--cron", "@daily"}).exit_code, 2);
  auto list = Baton({"schedule", "list", "-o", "json"});
  ASSERT_EQ(list.exit_code, 0);
  Json j = Json::parse(list.out);
  ASSERT_EQ(j.size(), 1u);
  const std::string next = j[0]["next_fire"];
  EXPECT_TRUE(next.find("T00:30:00Z") != std::string::npos || next.find("T01:30:00Z") != std::string::npos) << next;
  ASSERT_EQ(Baton({"schedule", "update", "berlin", "--cron", "0 6 * * mon-fri"}).exit_code, 0);
  EXPECT_EQ(Get("berlin").cron, "0 6 * * mon-fri");
  EXPECT_EQ(Baton({"schedule", "update", "berlin", "--cron", "0 25 * * *"}).exit_code, 2);
  EXPECT_EQ(Get("berlin").cron, "0 6 * * mon-fri");
  ASSERT_EQ(Baton({"schedule", "delete", "berlin"}).exit_code, 0);
  EXPECT_EQ(Baton({"schedule", "delete", "berlin"}).exit_code, 2);
}

}  // namespace
}  // namespace baton::testing
