// The dashboard of `baton server` in a real browser: Debian's Chromium, driven by playwright-core
// from tests/browser/dashboard.mjs, against a real server (PostgreSQL where
// BATON_TEST_POSTGRES_URI names one, as in CI; SQLite otherwise) while a workspace runs a real
// pipeline through it. The script checks, without reloading a page: the runs list gaining the new
// run and its end, the DAG's nodes going from running to completed, a step's log growing while it
// runs, the comparison of two runs and its metric plot, artifact previews (a CSV table, JSON, a
// directory), stacks, the login page for a missing or refused token, and a viewer's Stop refused
// with 403. It saves a screenshot of each page under BUILD_DIR/dashboard-screenshots.
//
// It needs /usr/bin/chromium, node and tests/browser/node_modules (scripts/setup-browser.sh); it
// is skipped without them, except under CI=true, where they must be there.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
#include "store/postgres_db.h"
#include "store/registry.h"
#include "test_util.h"

extern char** environ;

namespace baton::testing {
namespace {

using Json = nlohmann::json;

// Steps that take `pause` seconds a line, so that a browser can watch them run: `prepare` writes
// a CSV, `plot` a PNG, `flaky` fails its first attempt, `train` prints an epoch a line and writes metrics,
// `score` is a matrix of two, `report` writes a directory.
constexpr char kPipeline[] = R"yaml(name: dashboard
parameters: {lr: 0.1, pause: 0.0}
steps:
  prepare:
    run: |
      for i in 1 2 3; do echo "prepare: reading part $i"; sleep {{params.pause}}; done
      printf 'name,value\nalpha,1\nbeta,2\ngamma,3\n' > {{outputs.table}}
    outputs: [table]
  plot:
    run: |
      /usr/bin/python3 - {{outputs.chart}} <<'EOF'
      import struct, sys, zlib
      w, h = 160, 80
      rows = b"".join(b"\0" + bytes(v for x in range(w) for v in (x * 255 // w, y * 255 // h, 160)) for y in range(h))
      chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
      head = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
      png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
      open(sys.argv[1], "wb").write(png)
      EOF
    outputs: [chart]
  flaky:
    run: |
      echo "flaky: attempt $BATON_ATTEMPT"
      [ "$BATON_ATTEMPT" -gt 1 ] || { echo "the first attempt fails on purpose"; exit 1; }
    retries: {max: 1, delay: 1s}
  train:
    run: |
      for i in 1 2 3 4 5 6 7 8 9 10; do echo "epoch $i loss $((100 / i))"; sleep {{params.pause}}; done
      awk -v lr={{params.lr}} 'BEGIN { printf "{\"accuracy\": %.3f, \"loss\": %.3f}\n", 0.95 - lr / 4, lr / 3 }' > "$BATON_METADATA"
      awk -v lr={{params.lr}} 'BEGIN { printf "{\"lr\": %s, \"weights\": [1, 2, 3]}\n", lr }' > {{outputs.model}}
      echo "training done"
    inputs: {table: prepare.table}
    outputs: [model]
  score:
    matrix: {fold: [1, 2]}
    run: |
      sleep {{params.pause}}
      echo "scoring fold {{matrix.fold}}"
      echo '{"auc": 0.8{{matrix.fold}}}' > "$BATON_METADATA"
      echo {{matrix.fold}} > {{outputs.score}}
    inputs: {model: train.model}
    outputs: [score]
  report:
    run: |
      mkdir -p {{outputs.report}}
      cp {{inputs.table}} {{outputs.report}}/table.csv
      echo '{"rows": 3, "source": "prepare"}' > {{outputs.report}}/summary.json
    inputs: {table: prepare.table, model: train.model}
    after: [score, flaky]
    outputs: [report]
)yaml";

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool Executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }
bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// The exit code of `pid` (128 + signal), or -1 when it has not ended.
int ExitedYet(pid_t pid) {
  int status = 0;
  const pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class Dashboard : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef BATON_SANITIZED_BUILD
    // The browser's timings are the release build's; under the sanitizers the server's code that
    // the pages use runs in server_live_test (events, logs, contents, stop and resume).
    GTEST_SKIP() << "the browser test runs in the release build";
#endif
    chromium_ = Env("BATON_CHROMIUM").empty() ? "/usr/bin/chromium" : Env("BATON_CHROMIUM");
    node_ = Env("BATON_NODE").empty() ? "/usr/bin/node" : Env("BATON_NODE");
    script_ = SourceDir() + "/tests/browser/dashboard.mjs";
    std::string missing;
    if (!Executable(chromium_)) missing += " " + chromium_;
    if (!Executable(node_)) missing += " " + node_;
    if (!Exists(SourceDir() + "/tests/browser/node_modules/playwright-core/package.json"))
      missing += " tests/browser/node_modules (playwright-core)";
    if (!missing.empty()) {
      if (!Env("CI").empty()) FAIL() << "the dashboard's browser test needs" << missing << ": run scripts/setup-browser.sh";
      GTEST_SKIP() << "the dashboard's browser test needs" << missing
                   << "; scripts/setup-browser.sh installs them (as root)";
    }

    backing_store_ = std::make_unique<BackingStore>(server_dir_.path(), "dashboard");
    if (!backing_store_->error().empty()) FAIL() << backing_store_->error();
    backing_ = backing_store_->uri();
    // Over HTTPS, with a certificate made here: the workspace trusts it (?ca=), the browser is
    // told to take it.
    const std::string cert = server_dir_.path() + "/cert.pem", key = server_dir_.path() + "/key.pem";
    auto made = RunProgram("/", {"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                 "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                                 "-addext", "subjectAltName=IP:127.0.0.1"});
    ASSERT_EQ(made.exit_code, 0) << Describe(made);
    std::string error;
    server_ = TestServer::Start(server_dir_.path(), backing_, {"--tls-cert", cert, "--tls-key", key}, &error);
    ASSERT_NE(server_, nullptr) << error;
    ASSERT_EQ(server_->base().rfind("https://", 0), 0u) << server_->base();

    ws_.Write("pipeline.yaml", kPipeline);
    ASSERT_EQ(Baton({"init"}).exit_code, 0);
    // The workspace records through https:// with a token.
    auto set = Baton({"store", "set", server_->base() + "?ca=" + cert + "&token_file=" + server_->token_file()});
    ASSERT_EQ(set.exit_code, 0) << Describe(set);
  }

  void TearDown() override {
    for (pid_t pid : {node_pid_, run_pid_})
      if (pid > 0 && ExitedYet(pid) < 0) (void)StopChild(pid, true);
    server_.reset();
    backing_store_.reset();
  }

  // baton in the workspace, with its own config home (where `baton login` keeps the token).
  std::vector<std::string> WsEnv() const { return {"XDG_CONFIG_HOME=" + ws_.path() + "/config"}; }
  CommandResult Baton(const std::vector<std::string>& args) { return RunBaton(ws_.path(), args, WsEnv()); }

  // A completed run of the pipeline with `args`: its id.
  std::string Run(std::vector<std::string> args) {
    std::vector<std::string> argv = {"run", "pipeline.yaml", "-q", "-o", "json"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = Baton(argv);
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    Json j = Json::parse(r.out, nullptr, false);
    return j.is_object() && j["run"].is_string() ? j["run"].get<std::string>() : "";
  }

  // The id of output `output` of `step` in `run`.
  int64_t OutputId(const std::string& run, const std::string& step, const std::string& output) {
    auto r = Baton({"runs", "show", run, "-o", "json"});
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    Json shown = Json::parse(r.out, nullptr, false);
    if (!shown.is_object()) return 0;
    for (const Json& s : shown["steps"])
      if (s["step"] == step && s["outputs"].contains(output)) return s["outputs"][output]["id"].get<int64_t>();
    ADD_FAILURE() << "no output " << step << "." << output << " in " << shown.dump();
    return 0;
  }

  std::string chromium_, node_, script_;
  TempDir server_dir_;
  TempDir ws_;
  std::string backing_;
  std::unique_ptr<BackingStore> backing_store_;
  std::unique_ptr<TestServer> server_;
  pid_t node_pid_ = -1;
  pid_t run_pid_ = -1;
};

TEST_F(Dashboard, PagesFollowARunningPipelineInChromium) {
  // Two finished runs that differ in a parameter (and so in their metrics), a viewer, a stack.
  const std::string first = Run({"-p", "lr=0.1"});
  const std::string second = Run({"-p", "lr=0.4"});
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  const int64_t table = OutputId(first, "prepare", "table");
  const int64_t model = OutputId(first, "train", "model");
  const int64_t report = OutputId(first, "report", "report");
  const int64_t chart = OutputId(first, "plot", "chart");
  auto viewer = RunBaton(server_dir_.path(), {"server", "user", "add", "vic", "--role", "viewer", "--metadata", backing_});
  ASSERT_EQ(viewer.exit_code, 0) << Describe(viewer);
  std::string viewer_token = viewer.out;
  while (!viewer_token.empty() && viewer_token.back() == '\n') viewer_token.pop_back();
  auto orch = Baton({"orchestrator", "register", "fast", "--flavor", "local", "--set", "jobs=2"});
  ASSERT_EQ(orch.exit_code, 0) << Describe(orch);
  auto stack = Baton({"stack", "register", "team", "--orchestrator", "fast"});
  ASSERT_EQ(stack.exit_code, 0) << Describe(stack);

  const std::string shots = std::string(BATON_BUILD_DIR) + "/dashboard-screenshots";
  const std::string ready = ws_.path() + "/browser.ready";
  const Json config = {{"url", server_->base() + "/"},
                       {"token", server_->Token()},
                       {"viewer_token", viewer_token},
                       {"runs", {first, second}},
                       {"pipeline", "dashboard"},
                       {"artifacts", {{"csv", table}, {"json", model}, {"dir", report}, {"image", chart}}},
                       {"chromium", chromium_},
                       {"screenshots", shots},
                       {"ready_file", ready}};
  const std::string config_path = ws_.Write("browser.json", config.dump(2));
  const std::string node_out = ws_.path() + "/node.out", node_err = ws_.path() + "/node.err";
  const auto start = std::chrono::steady_clock::now();
  node_pid_ = SpawnProgram(SourceDir() + "/tests/browser", {node_, script_, config_path}, node_out, node_err);
  ASSERT_GT(node_pid_, 0) << "cannot start " << node_;
  auto browser_output = [&] { return "node says:\n" + ReadFileOrDie(node_out) + ReadFileOrDie(node_err); };

  // The browser has the runs list open: now the run it is to watch starts.
  int node_exit = -1;
  for (int i = 0; i < 1200 && !Exists(ready) && (node_exit = ExitedYet(node_pid_)) < 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(Exists(ready)) << "the browser never opened the runs list; " << browser_output();
  run_pid_ = SpawnBaton(ws_.path(), {"run", "pipeline.yaml", "-p", "pause=1.0", "-p", "lr=0.2", "--no-cache"},
                        ws_.path() + "/run.out", ws_.path() + "/run.err", WsEnv());
  ASSERT_GT(run_pid_, 0);

  // The script bounds itself (3 minutes); this bounds it too.
  for (int i = 0; i < 2400 && (node_exit = ExitedYet(node_pid_)) < 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (node_exit < 0) {
    ::kill(-node_pid_, SIGKILL);
    node_exit = WaitExit(node_pid_);
  }
  node_pid_ = -1;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("dashboard browser test: %.1f s\n%s", seconds, ReadFileOrDie(node_out).c_str());
  EXPECT_EQ(node_exit, 0) << browser_output();

  const int run_exit = WaitExit(run_pid_);
  run_pid_ = -1;
  EXPECT_EQ(run_exit, 0) << ReadFileOrDie(ws_.path() + "/run.out") << ReadFileOrDie(ws_.path() + "/run.err");
  for (const char* page : {"login", "runs", "run", "artifact", "compare", "stacks"})
    EXPECT_TRUE(Exists(shots + "/dashboard-" + page + ".png")) << page;
}

}  // namespace
}  // namespace baton::testing
