// baton server while runs go on: live events (Server-Sent Events), logs that follow a step,
// artifact contents (files, directories, and the paths a record could use to reach elsewhere),
// and stopping and resuming runs through the API, including a stop asked for from another host
// through the store. The real server binary over the workspace's SQLite store, driven with curl;
// the runs are real `baton run` processes whose steps wait for files the test writes.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "app/run_pipeline.h"
#include "app/workspace.h"
#include "baton/metadata_store.h"
#include "baton/stores.h"
#include "platform/fs.h"
#include "store/registry.h"
#include "test_util.h"

namespace baton::testing {
namespace {

using Json = nlohmann::json;

// `wait` blocks until the file `go` appears; `a` writes a file artifact, `d` a directory.
constexpr char kPipeline[] = R"(name: live
steps:
  a:
    run: sh -c 'echo first; while [ ! -f go ]; do sleep 0.05; done; echo second; printf "x,y\n1,2\n" > {{outputs.table}}'
    outputs: [table]
  d:
    run: sh -c 'mkdir -p {{outputs.tree}}/sub && echo inside > {{outputs.tree}}/sub/f.txt && ln -s /etc/hostname {{outputs.tree}}/out'
    outputs: [tree]
  wait:
    run: sh -c 'while [ ! -f go2 ]; do sleep 0.05; done; echo done'
    inputs: {t: a.table}
)";

// A file the test's background curl writes: "" until it exists.
std::string Text(const std::string& path) {
  auto text = fs::ReadFile(path);
  return text.ok() ? *text : std::string();
}

struct Http {
  int status = 0;
  std::string body;
  std::string headers;
  Json json() const { return Json::parse(body, nullptr, false); }
};

class ServerLive : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_.Write("pipeline.yaml", kPipeline);
    auto init = RunBaton(ws_.path(), {"init"});
    ASSERT_EQ(init.exit_code, 0) << Describe(init);
    auto uri = WorkspaceMetadataUri(ws_.path() + "/.baton");
    ASSERT_TRUE(uri.ok()) << uri.status().ToString();
    uri_ = *uri;
    std::string error;
    server_ = TestServer::Start(ws_.path(), uri_, {}, &error);
    ASSERT_NE(server_, nullptr) << error;
    admin_ = server_->Token();
    viewer_ = Printed({"server", "user", "add", "vic", "--role", "viewer"});
  }

  void TearDown() override {
    for (pid_t pid : runs_) (void)StopChild(pid);
  }

  std::string Printed(const std::vector<std::string>& argv) {
    auto r = RunBaton(ws_.path(), argv);
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    std::string out = r.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

  Http Call(const std::string& method, const std::string& path, const std::string& token,
            const std::vector<std::string>& extra = {}) {
    const std::string head = ws_.path() + "/headers", body = ws_.path() + "/body";
    std::vector<std::string> argv = {"/usr/bin/curl", "-sS", "-X", method, "-D", head, "-o", body,
                                     "-w", "%{http_code}", "--max-time", "20"};
    if (!token.empty()) argv.insert(argv.end(), {"-H", "Authorization: Bearer " + token});
    if (method == "POST") argv.insert(argv.end(), {"-d", ""});
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(server_->base() + path);
    auto r = RunProgram(ws_.path(), argv);
    Http h;
    h.status = std::atoi(r.out.c_str());
    h.body = ReadFileOrDie(body);
    h.headers = ReadFileOrDie(head);
    return h;
  }

  // curl streaming `path` into `out` in the background (up to `seconds`).
  // `--compressed` asks for compressed bodies, as every browser does.
  pid_t Stream(const std::string& path, const std::string& token, const std::string& out, int seconds = 30) {
    const std::string script = "exec /usr/bin/curl -sSN --compressed --max-time " + std::to_string(seconds) +
                               " -H 'Authorization: Bearer " + token + "' '" + server_->base() + path +
                               "' > '" + out + "' 2>&1";
    pid_t pid = ::fork();
    if (pid == 0) {
      ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return pid;
  }

  // Starts `baton run pipeline.yaml ARGS` in the background; returns the run's id once recorded.
  std::string StartRun(const std::vector<std::string>& args = {}) {
    std::vector<std::string> argv = {"run", "pipeline.yaml", "-q"};
    argv.insert(argv.end(), args.begin(), args.end());
    const int n = static_cast<int>(runs_.size());
    pid_t pid = SpawnBaton(ws_.path(), argv, ws_.path() + "/run" + std::to_string(n) + ".out",
                           ws_.path() + "/run" + std::to_string(n) + ".err");
    EXPECT_GT(pid, 0);
    runs_.push_back(pid);
    std::string id;
    WaitFor([&] {
      Http h = Call("GET", "/api/v1/runs?limit=1&status=running", admin_);
      if (h.status != 200 || h.json()["runs"].empty()) return false;
      id = h.json()["runs"][0]["id"];
      return true;
    });
    return id;
  }

  // Polls `done` for up to `seconds`.
  static bool WaitFor(const std::function<bool()>& done, int seconds = 60) {
    for (int i = 0; i < seconds * 20; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  Json Run(const std::string& id) { return Call("GET", "/api/v1/runs/" + id, admin_).json(); }

  std::string StepStatus(const std::string& id, const std::string& step) {
    std::string status;
    const Json run = Run(id);
    for (const Json& s : run["steps"])
      if (s["step"] == step) status = s["status"];
    return status;
  }

  std::unique_ptr<MetadataStore> Store() {
    auto s = Stores().OpenMetadataStore(uri_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  TempDir ws_;
  std::string uri_;
  std::unique_ptr<TestServer> server_;
  std::string admin_, viewer_;
  std::vector<pid_t> runs_;
};

TEST_F(ServerLive, EventsFollowStepsAndRunsAsTheyChange) {
  const std::string events = ws_.path() + "/events";
  pid_t curl = Stream("/api/v1/events", viewer_, events);
  ASSERT_TRUE(WaitFor([&] { return Text(events).find("event: ready") != std::string::npos; }));
  const std::string id = StartRun();
  ASSERT_FALSE(id.empty());
  // While step a runs, the stream says so (keys are in name order: a step run's "status" is
  // followed by "step", a run's by "tags").
  ASSERT_TRUE(WaitFor([&] { return Text(events).find("\"status\":\"running\",\"step\":\"a\"") != std::string::npos; }, 10))
      << Text(events);
  ws_.Write("go", "");
  ws_.Write("go2", "");
  ASSERT_TRUE(WaitFor([&] { return Run(id)["status"] == "completed"; }));
  // The run's end reaches the stream (within the server's look interval).
  ASSERT_TRUE(WaitFor([&] { return Text(events).find("\"status\":\"completed\",\"tags\"") != std::string::npos; }, 10))
      << Text(events);
  ::kill(curl, SIGTERM);
  (void)WaitExit(curl);
  // Parse the stream: ids increase, and step a is seen running before it is seen completed.
  const std::string text = Text(events);
  std::vector<std::pair<std::string, Json>> seen;
  int64_t last_id = 0;
  size_t at = 0;
  while ((at = text.find("\nid: ", at)) != std::string::npos) {
    const int64_t eid = std::atoll(text.c_str() + at + 5);
    EXPECT_GT(eid, last_id);
    last_id = eid;
    const size_t ev = text.find("event: ", at) + 7;
    const std::string type = text.substr(ev, text.find('\n', ev) - ev);
    const size_t data = text.find("data: ", ev) + 6;
    seen.emplace_back(type, Json::parse(text.substr(data, text.find('\n', data) - data)));
    at = data;
  }
  int a_running = -1, a_completed = -1, run_completed = -1;
  for (int i = 0; i < static_cast<int>(seen.size()); ++i) {
    const auto& [type, j] = seen[i];
    if (type == "step" && j["step"] == "a" && j["run"] == id) {
      if (j["status"] == "running" && a_running < 0) a_running = i;
      if (j["status"] == "completed") a_completed = i;
    }
    if (type == "run" && j["id"] == id && j["status"] == "completed") run_completed = i;
  }
  EXPECT_GE(a_running, 0) << text;
  EXPECT_GT(a_completed, a_running) << text;
  EXPECT_GT(run_completed, a_completed) << text;
  // The completed step carries its output, as GET /runs/ID gives it.
  EXPECT_TRUE(seen[a_completed].second["outputs"].contains("table")) << text;
}

TEST_F(ServerLive, EventsAreRefusedWithoutATokenAndARunTokenHearsOnlyItsRun) {
  EXPECT_EQ(Call("GET", "/api/v1/events", "").status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/events", "not-a-token").status, 401);
  ws_.Write("other.yaml", "name: other\nsteps:\n  s:\n    run: echo hi\n");
  auto first = RunBaton(ws_.path(), {"run", "other.yaml", "-q"});
  ASSERT_EQ(first.exit_code, 0) << Describe(first);
  const std::string other = Call("GET", "/api/v1/runs?limit=1", admin_).json()["runs"][0]["id"];
  const std::string mine = StartRun({"--no-cache"});
  const std::string token = Printed({"server", "token", "create", "admin", "--run", mine, "--expires", "1h"});
  EXPECT_EQ(Call("GET", "/api/v1/events?run=" + other, token).status, 403);
  const std::string events = ws_.path() + "/events";
  pid_t curl = Stream("/api/v1/events", token, events);
  ASSERT_TRUE(WaitFor([&] { return Text(events).find("event: ready") != std::string::npos; }));
  // Another run starts and ends while the run token listens: it hears nothing of it.
  auto another = RunBaton(ws_.path(), {"run", "other.yaml", "-q", "--no-cache"});
  ASSERT_EQ(another.exit_code, 0) << Describe(another);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // two looks of the server
  ws_.Write("go", "");
  ws_.Write("go2", "");
  ASSERT_TRUE(WaitFor([&] { return Run(mine)["status"] == "completed"; }));
  ASSERT_TRUE(WaitFor([&] { return Text(events).find("event: run") != std::string::npos; }, 10));
  ::kill(curl, SIGTERM);
  (void)WaitExit(curl);
  const std::string text = Text(events);
  size_t at = 0, heard = 0;
  while ((at = text.find("data: {", at)) != std::string::npos) {
    const size_t end = text.find('\n', at);
    Json j = Json::parse(text.substr(at + 6, end - at - 6));
    at = end;
    if (j.empty()) continue;  // `ready`
    EXPECT_EQ(j.contains("run") ? j["run"] : j["id"], mine) << text;
    ++heard;
  }
  EXPECT_GT(heard, 0u) << text;
}

TEST_F(ServerLive, ALogFollowsItsStepUntilTheStepEnds) {
  const std::string id = StartRun({"--no-cache"});
  ASSERT_TRUE(WaitFor([&] { return StepStatus(id, "a") == "running"; }));
  const std::string log = ws_.path() + "/log";
  pid_t curl = Stream("/api/v1/runs/" + id + "/steps/a/log?follow=1", viewer_, log);
  ASSERT_TRUE(WaitFor([&] { return Text(log).find("first") != std::string::npos; }));
  EXPECT_EQ(Text(log).find("second"), std::string::npos);
  ws_.Write("go", "");
  // The stream ends by itself once the step has ended, with the rest of the log.
  EXPECT_EQ(WaitExit(curl), 0);
  EXPECT_NE(Text(log).find("first\nsecond\n"), std::string::npos) << Text(log);
  // Without follow, from an offset.
  Http from = Call("GET", "/api/v1/runs/" + id + "/steps/a/log?offset=6", viewer_);
  EXPECT_EQ(from.status, 200);
  EXPECT_EQ(from.body.rfind("second\n", 0), 0u) << from.body;
  EXPECT_EQ(Call("GET", "/api/v1/runs/" + id + "/steps/nope/log", viewer_).status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/runs/" + id + "/steps/a/log?attempt=2", viewer_).status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/runs/" + id + "/steps/a/log?offset=-1", viewer_).status, 400);
  ws_.Write("go2", "");
}

TEST_F(ServerLive, ALogOutsideItsRunsLogDirectoryIsNotServed) {
  ws_.Write("go", "");
  ws_.Write("go2", "");
  auto done = RunBaton(ws_.path(), {"run", "pipeline.yaml", "-q"});
  ASSERT_EQ(done.exit_code, 0) << Describe(done);
  const std::string other = Call("GET", "/api/v1/runs?limit=1", admin_).json()["runs"][0]["id"];
  const std::string other_log = Run(other)["steps"][0]["log"];
  // Records another token could write: a step run whose log is a file of the system, another
  // run's log, or a link in the run's own log directory that leads out of it.
  auto store = Store();
  ASSERT_NE(store, nullptr);
  auto run = store->GetRun(other);
  ASSERT_TRUE(run.ok());
  RunRecord forged = *run;
  forged.id = "forged-run";
  forged.status = RunStatus::kFailed;
  ASSERT_TRUE(store->CreateRun(forged).ok());
  const std::string own_dir = ws_.path() + "/.baton/logs/forged-run";
  ASSERT_TRUE(fs::MakeDirs(own_dir).ok());
  ASSERT_EQ(::symlink("/etc/hostname", (own_dir + "/link.log").c_str()), 0);
  const std::vector<std::pair<std::string, std::string>> logs = {
      {"system", "/etc/hostname"}, {"other", other_log}, {"link", own_dir + "/link.log"}};
  for (const auto& [step, path] : logs) {
    StepRunRecord s;
    s.run_id = "forged-run";
    s.step = step;
    s.status = baton::StepStatus::kFailed;
    s.log_path = path;
    ASSERT_TRUE(store->StartStepRun(s).ok());
    Http h = Call("GET", "/api/v1/runs/forged-run/steps/" + step + "/log", admin_);
    EXPECT_EQ(h.status, 403) << step << ": " << h.body;
    EXPECT_EQ(h.body.find(ReadFileOrDie("/etc/hostname")), std::string::npos);
  }
}

TEST_F(ServerLive, ArtifactContentsFilesDirectoriesAndPathsThatLeadOut) {
  ws_.Write("go", "");
  ws_.Write("go2", "");
  auto done = RunBaton(ws_.path(), {"run", "pipeline.yaml", "-q", "--no-cache"});
  ASSERT_EQ(done.exit_code, 0) << Describe(done);
  const std::string id = Call("GET", "/api/v1/runs?limit=1", admin_).json()["runs"][0]["id"];
  Json table, tree;
  const Json run = Run(id);
  for (const Json& s : run["steps"]) {
    if (s["step"] == "a") table = s["outputs"]["table"];
    if (s["step"] == "d") tree = s["outputs"]["tree"];
  }
  const std::string t = std::to_string(table["id"].get<int64_t>());
  const std::string d = std::to_string(tree["id"].get<int64_t>());
  Http file = Call("GET", "/api/v1/artifacts/" + t + "/content", viewer_);
  EXPECT_EQ(file.status, 200);
  EXPECT_EQ(file.body, "x,y\n1,2\n");
  EXPECT_NE(file.headers.find("X-Baton-Digest: " + table["digest"].get<std::string>()), std::string::npos) << file.headers;
  EXPECT_NE(file.headers.find("Content-Security-Policy: sandbox"), std::string::npos);
  Http cut = Call("GET", "/api/v1/artifacts/" + t + "/content?limit=3", viewer_);
  EXPECT_EQ(cut.body, "x,y");
  EXPECT_NE(cut.headers.find("X-Baton-Truncated: 1"), std::string::npos);
  EXPECT_EQ(Call("GET", "/api/v1/artifacts/" + t + "/content?path=a", viewer_).status, 400);
  // A directory: its entries, a file inside, and paths that would leave it.
  Http list = Call("GET", "/api/v1/artifacts/" + d + "/content", viewer_);
  ASSERT_EQ(list.status, 200) << list.body;
  std::vector<std::string> paths;
  const Json listed = list.json();
  for (const Json& e : listed["entries"]) paths.push_back(e["path"].get<std::string>() + ":" + e["kind"].get<std::string>());
  EXPECT_EQ(paths, (std::vector<std::string>{"out:symlink", "sub:dir", "sub/f.txt:file"}));
  Http inside = Call("GET", "/api/v1/artifacts/" + d + "/content?path=sub/f.txt", viewer_);
  EXPECT_EQ(inside.status, 200);
  EXPECT_EQ(inside.body, "inside\n");
  EXPECT_NE(inside.headers.find("Content-Type: text/plain"), std::string::npos);
  for (const char* bad : {"../x", "sub/../../x", "/etc/hostname", "sub//f.txt", "./sub/f.txt"})
    EXPECT_EQ(Call("GET", "/api/v1/artifacts/" + d + "/content", viewer_, {"-G", "--data-urlencode", std::string("path=") + bad}).status, 400) << bad;
  Http out = Call("GET", "/api/v1/artifacts/" + d + "/content?path=out", viewer_);
  EXPECT_EQ(out.status, 403) << out.body;
  EXPECT_EQ(out.body.find(ReadFileOrDie("/etc/hostname")), std::string::npos);
  EXPECT_EQ(Call("GET", "/api/v1/artifacts/" + d + "/content?path=missing", viewer_).status, 404);

  // Records that name content elsewhere: a system file, and an object whose bytes were changed.
  auto store = Store();
  ASSERT_NE(store, nullptr);
  auto a = store->GetArtifact(t);
  ASSERT_TRUE(a.ok());
  const std::string object = a->uri.substr(7);
  auto step = store->GetStepRun(a->step_run_id);
  ASSERT_TRUE(step.ok());
  StepRunRecord s = *step;
  s.id = 0;
  s.attempt = 2;
  auto sid = store->StartStepRun(s);
  ASSERT_TRUE(sid.ok());
  s.id = *sid;
  s.status = baton::StepStatus::kCompleted;
  ArtifactRecord system = *a, damaged = *a;
  system.name = "system";
  system.uri = "file:///etc/hostname";
  damaged.name = "damaged";
  const std::string copy_dir = ws_.path() + "/elsewhere/sha256/" + a->digest.substr(0, 2);
  ASSERT_TRUE(fs::MakeDirs(copy_dir).ok());
  ASSERT_TRUE(fs::WriteFile(copy_dir + "/" + a->digest, "x,y\n1,3\n").ok());
  damaged.uri = "file://" + copy_dir + "/" + a->digest;
  // The workspace's store is not where these records point: take the object out of it, so that
  // only the record's URI could lead to content.
  ASSERT_TRUE(fs::Rename(object, object + ".aside").ok());
  std::vector<ArtifactRecord> forged = {system, damaged};
  ASSERT_TRUE(store->FinishStepRun(s, &forged, {}, {}).ok());
  Http sys = Call("GET", "/api/v1/artifacts/" + std::to_string(forged[0].id) + "/content", admin_);
  EXPECT_EQ(sys.status, 404) << sys.body;
  Http bad = Call("GET", "/api/v1/artifacts/" + std::to_string(forged[1].id) + "/content", admin_);
  EXPECT_EQ(bad.status, 409) << bad.body;
  EXPECT_EQ(bad.body.find("1,3"), std::string::npos);
  ASSERT_TRUE(fs::Rename(object + ".aside", object).ok());
}

TEST_F(ServerLive, StopAndResumeThroughTheApi) {
  const std::string id = StartRun({"--no-cache"});
  ASSERT_TRUE(WaitFor([&] { return StepStatus(id, "a") == "running"; }));
  EXPECT_EQ(Call("POST", "/api/v1/runs/" + id + "/stop", viewer_).status, 403);
  EXPECT_EQ(Call("GET", "/api/v1/runs/" + id + "/stop", admin_).status, 405);
  Http stop = Call("POST", "/api/v1/runs/" + id + "/stop", admin_);
  EXPECT_EQ(stop.status, 202) << stop.body;
  ASSERT_TRUE(WaitFor([&] { return Run(id)["status"] == "stopped"; }, 30)) << Run(id).dump();
  EXPECT_EQ(StepStatus(id, "a"), "stopped");
  EXPECT_EQ(Call("POST", "/api/v1/runs/" + id + "/stop", admin_).status, 409);
  // A resume: a viewer and a run token may not; an editor may, and the server's workspace runs it.
  EXPECT_EQ(Call("POST", "/api/v1/runs/" + id + "/resume", viewer_).status, 403);
  const std::string token = Printed({"server", "token", "create", "admin", "--run", id, "--expires", "1h"});
  EXPECT_EQ(Call("POST", "/api/v1/runs/" + id + "/resume", token).status, 403);
  ws_.Write("go", "");
  ws_.Write("go2", "");
  Http resume = Call("POST", "/api/v1/runs/" + id + "/resume", admin_);
  EXPECT_EQ(resume.status, 202) << resume.body;
  ASSERT_TRUE(WaitFor([&] { return Run(id)["status"] == "completed"; })) << Run(id).dump();
  EXPECT_EQ(Run(id)["attempt"], 2);
  EXPECT_EQ(Call("POST", "/api/v1/runs/" + id + "/resume", admin_).status, 409);
}

TEST_F(ServerLive, AStopAskedForThroughTheStoreReachesTheDrivingBaton) {
  // What another host does (it cannot signal the process): the request goes into the store.
  const std::string id = StartRun({"--no-cache"});
  ASSERT_TRUE(WaitFor([&] { return StepStatus(id, "a") == "running"; }));
  auto store = Store();
  ASSERT_NE(store, nullptr);
  auto run = store->GetRun(id);
  ASSERT_TRUE(run.ok());
  // A request for an earlier attempt is not this one's.
  RunRecord earlier = *run;
  earlier.attempt = run->attempt - 1;
  ASSERT_TRUE(RequestRunStop(*store, earlier, "test").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(Run(id)["status"], "running");
  ASSERT_TRUE(RequestRunStop(*store, *run, "test").ok());
  ASSERT_TRUE(WaitFor([&] { return Run(id)["status"] == "stopped"; }, 20)) << Run(id).dump();
  EXPECT_NE(WaitExit(runs_.back()), 0);
  runs_.pop_back();
}

TEST_F(ServerLive, AServerOutsideAWorkspaceStartsNoRuns) {
  TempDir elsewhere;
  const std::string uri = "sqlite://" + elsewhere.path() + "/baton.db";
  std::string error;
  auto outside = TestServer::Start(elsewhere.path(), uri, {}, &error);
  ASSERT_NE(outside, nullptr) << error;
  auto store = Stores().OpenMetadataStore(uri);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->PutSnapshot("0123", "p", "{}").ok());
  RunRecord failed;
  failed.id = "failed-run";
  failed.pipeline = "p";
  failed.snapshot_hash = "0123";
  failed.status = RunStatus::kFailed;
  failed.created_at = NowMicros();
  ASSERT_TRUE((*store)->CreateRun(failed).ok());
  const std::string out = elsewhere.path() + "/resume";
  auto r = RunProgram(elsewhere.path(), {"/usr/bin/curl", "-sS", "-X", "POST", "-d", "", "-o", out, "-w", "%{http_code}",
                                         "-H", "Authorization: Bearer " + outside->Token(),
                                         outside->base() + "/api/v1/runs/failed-run/resume"});
  EXPECT_EQ(r.out, "409");
  EXPECT_NE(ReadFileOrDie(out).find("starts no runs"), std::string::npos) << ReadFileOrDie(out);
}

}  // namespace
}  // namespace baton::testing
