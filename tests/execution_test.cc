// End-to-end tests of execution semantics: caching (keys, parameters, files, --explain,
// deleted artifacts), retries, timeouts, failure modes, stopping a run (runs stop, SIGINT),
// resuming (after a failure and after the baton process was killed), hooks and unsatisfiable
// resource requests. Every test drives the real baton binary.

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

extern char** environ;

namespace baton::testing {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

Json ParseJson(const CommandResult& r) {
  Json j = Json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON:\n" << r.out << "\nstderr:\n" << r.err;
  return j.is_discarded() ? Json() : j;
}

// `baton run PIPELINE -o json EXTRA...`, expecting `want_exit`; returns the summary document.
Json RunJson(const std::string& cwd, const std::string& pipeline, int want_exit, std::vector<std::string> extra = {},
             std::vector<std::string> env = {}) {
  std::vector<std::string> args = {"run", pipeline, "-o", "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = RunBaton(cwd, args, env);
  EXPECT_EQ(r.exit_code, want_exit) << Describe(r);
  return ParseJson(r);
}

// `baton run PIPELINE --explain EXTRA...` (table output: the explanations are printed there).
CommandResult RunExplain(const std::string& cwd, const std::string& pipeline, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"run", pipeline, "--explain"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = RunBaton(cwd, args);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return r;
}

Json ShowRun(const std::string& cwd, const std::string& run) {
  auto r = RunBaton(cwd, {"runs", "show", run, "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return ParseJson(r);
}

// Every step-run row of `step` (attempts, in recorded order).
std::vector<Json> Rows(const Json& run, const std::string& step) {
  std::vector<Json> rows;
  if (run.contains("steps"))
    for (const auto& s : run["steps"])
      if (s.value("step", "") == step) rows.push_back(s);
  return rows;
}

// The latest row of `step`.
Json StepOf(const Json& run, const std::string& step) {
  auto rows = Rows(run, step);
  EXPECT_FALSE(rows.empty()) << "no step '" << step << "' in " << run.dump(2);
  return rows.empty() ? Json() : rows.back();
}

std::string StatusOf(const Json& run, const std::string& step) { return StepOf(run, step).value("status", ""); }

// Map step -> status of its latest row.
std::map<std::string, std::string> Statuses(const Json& run) {
  std::map<std::string, std::string> m;
  if (run.contains("steps"))
    for (const auto& s : run["steps"]) m[s.value("step", "")] = s.value("status", "");
  return m;
}

// The `--explain` line printed for `step`: the "why:" line right after the step's own line.
std::string WhyOf(const std::string& out, const std::string& step) {
  std::istringstream in(out);
  std::string line, found;
  bool next = false;
  while (std::getline(in, line)) {
    if (next && line.find("why:") != std::string::npos) {
      found = line;
      next = false;
      continue;
    }
    next = false;
    // "[i/n] completed STEP in ...", "[i/n] cached STEP (...)", "[i/n] failed STEP: ..."
    auto close = line.find("] ");
    if (line.rfind("[", 0) == 0 && close != std::string::npos) {
      std::string rest = line.substr(close + 2);
      auto sp = rest.find(' ');
      if (sp == std::string::npos) continue;
      std::string verb = rest.substr(0, sp);
      if (verb == "started") continue;
      std::string name = rest.substr(sp + 1);
      name = name.substr(0, name.find_first_of(" :"));
      if (name == step) next = true;
    }
  }
  EXPECT_FALSE(found.empty()) << "no explanation for '" << step << "' in:\n" << out;
  return found;
}

bool Contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

bool Exists(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

std::string ReadOr(const std::string& path, const std::string& fallback = "") {
  return Exists(path) ? ReadFileOrDie(path) : fallback;
}

size_t CountLines(const std::string& text, const std::string& line) {
  size_t n = 0;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) n += l == line;
  return n;
}

bool WaitUntil(const std::function<bool()>& pred, double seconds) {
  auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// A `sleep` duration unique to this test process and `n`: "3<n>.<pid>", i.e. 30-something seconds.
// Used as a marker to find the step's process.
std::string Marker(int n) { return "3" + std::to_string(n) + "." + std::to_string(::getpid()); }

bool NoSleepLeft(const std::string& marker, double wait_s = 3) {
  return WaitUntil([&] { return SleepProcesses(marker).empty(); }, wait_s);
}

// A baton process running in the background, killed (if still running) when destroyed.
class Background {
 public:
  Background(const std::string& cwd, const std::vector<std::string>& args, const std::vector<std::string>& extra_env,
             const std::string& out_path) {
    std::vector<std::string> argv = {BatonBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    for (const auto& e : extra_env) env.push_back(e);
    std::vector<char*> a, ev;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    for (const auto& s : env) ev.push_back(const_cast<char*>(s.c_str()));
    ev.push_back(nullptr);
    if (posix_spawn(&pid_, a[0], &fa, nullptr, a.data(), ev.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Background() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      (void)Wait(5);
    }
  }
  pid_t pid() const { return pid_; }
  // Waits up to `seconds` for the process to exit; returns its exit code (128+signal if
  // killed), or -1 if it is still running.
  int Wait(double seconds) {
    if (reaped_) return code_;
    auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return code_;
      }
      if (r < 0 && errno != EINTR) return -1;
      if (Clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int code_ = -1;
};

// Waits until the latest run's `step` is recorded as running.
bool WaitForRunningStep(const std::string& cwd, const std::string& step, double seconds = 10) {
  return WaitUntil(
      [&] {
        auto r = RunBaton(cwd, {"runs", "show", "last", "-o", "json"});
        if (r.exit_code != 0) return false;
        Json j = Json::parse(r.out, nullptr, false);
        if (j.is_discarded() || !j.contains("steps")) return false;
        for (const auto& s : j["steps"])
          if (s.value("step", "") == step && s.value("status", "") == "running") return true;
        return false;
      },
      seconds);
}

// ---------------------------------------------------------------------------------------------
// 1. Caching.

// a uses x in its command; b uses y only through `params:`; c reads a's output; d reads b's
// output (whose content does not depend on y); e uses nothing.
const char* kCachePipeline = R"Y(name: cachesem
parameters: {x: 1, y: a}
steps:
  a:
    run: echo value-{{params.x}} > {{outputs.o}}
    outputs: [o]
  b:
    run: echo "constant ${BATON_PARAM_Y:+with-y}" > {{outputs.o}}
    params: [y]
    outputs: [o]
  c:
    run: cat {{inputs.i}} > {{outputs.o}}
    inputs: {i: a.o}
    outputs: [o]
  d:
    run: cat {{inputs.i}} > {{outputs.o}}
    inputs: {i: b.o}
    outputs: [o]
  e:
    run: echo independent > {{outputs.o}}
    outputs: [o]
)Y";

TEST(ExecutionCache, SecondRunIsCachedWithIdenticalOutputs) {
  TempDir d;
  std::string p = d.Write("p.yaml", kCachePipeline);
  Json s1 = RunJson(d.path(), p, 0);
  EXPECT_EQ(s1.value("completed", -1), 5);
  EXPECT_EQ(s1.value("cached", -1), 0);
  Json s2 = RunJson(d.path(), p, 0);
  EXPECT_EQ(s2.value("status", ""), "completed");
  EXPECT_EQ(s2.value("completed", -1), 0);
  EXPECT_EQ(s2.value("cached", -1), 5);
  ASSERT_NE(s1.value("run", ""), s2.value("run", ""));

  Json r1 = ShowRun(d.path(), s1.value("run", ""));
  Json r2 = ShowRun(d.path(), s2.value("run", ""));
  EXPECT_EQ(r2.value("status", ""), "completed");
  for (const char* step : {"a", "b", "c", "d", "e"}) {
    Json one = StepOf(r1, step), two = StepOf(r2, step);
    EXPECT_EQ(one.value("status", ""), "completed") << step;
    EXPECT_TRUE(one["cached_from"].is_null()) << one.dump(2);
    EXPECT_EQ(two.value("status", ""), "cached") << two.dump(2);
    ASSERT_TRUE(two["cached_from"].is_number_integer()) << two.dump(2);
    EXPECT_EQ(two["cached_from"].get<long long>(), one.value("id", -1LL)) << step;
    EXPECT_EQ(two.value("cache_key", ""), one.value("cache_key", "")) << step;
    EXPECT_EQ(Rows(r2, step).size(), 1u) << step;
    ASSERT_TRUE(two["outputs"].contains("o")) << two.dump(2);
    EXPECT_EQ(two["outputs"]["o"].value("digest", "x"), one["outputs"]["o"].value("digest", "y")) << step;
  }
  // A cached consumer records the same input artifact as the original.
  EXPECT_EQ(StepOf(r2, "c")["inputs"]["i"].value("digest", "x"), StepOf(r1, "a")["outputs"]["o"].value("digest", "y"));
}

TEST(ExecutionCache, ChangedParameterRerunsOnlyAffectedSteps) {
  TempDir d;
  std::string p = d.Write("p.yaml", kCachePipeline);
  auto first = RunExplain(d.path(), p);
  for (const char* step : {"a", "b", "c", "d", "e"})
    EXPECT_TRUE(Contains(WhyOf(first.out, step), "no earlier run of this step")) << step << "\n" << first.out;

  // x changes: a (uses x) and c (its input changed digest) run; the rest is cached.
  auto second = RunExplain(d.path(), p, {"-p", "x=2"});
  Json r2 = ShowRun(d.path(), "last");
  EXPECT_EQ(Statuses(r2), (std::map<std::string, std::string>{
                              {"a", "completed"}, {"b", "cached"}, {"c", "completed"}, {"d", "cached"}, {"e", "cached"}}))
      << second.out;
  EXPECT_TRUE(Contains(WhyOf(second.out, "a"), "parameter 'x' changed (1 -> 2)")) << second.out;
  EXPECT_TRUE(Contains(WhyOf(second.out, "c"), "input 'i' changed")) << second.out;
  for (const char* step : {"b", "d", "e"}) EXPECT_TRUE(Contains(WhyOf(second.out, step), "cached")) << second.out;

  // y changes: it is used only through b's `params:` list, so b runs; b's output is the same
  // bytes, so d (its consumer) stays cached.
  auto third = RunExplain(d.path(), p, {"-p", "x=2", "-p", "y=b"});
  Json r3 = ShowRun(d.path(), "last");
  EXPECT_EQ(Statuses(r3), (std::map<std::string, std::string>{
                              {"a", "cached"}, {"b", "completed"}, {"c", "cached"}, {"d", "cached"}, {"e", "cached"}}))
      << third.out;
  EXPECT_TRUE(Contains(WhyOf(third.out, "b"), "parameter 'y' changed (a -> b)")) << third.out;
  EXPECT_EQ(StepOf(r3, "b")["outputs"]["o"].value("digest", "x"), StepOf(r2, "b")["outputs"]["o"].value("digest", "y"));

  // Back to the original values: everything comes from the cache of the first run.
  Json s4 = RunJson(d.path(), p, 0);
  EXPECT_EQ(s4.value("cached", -1), 5);
  // --no-cache runs everything.
  Json s5 = RunJson(d.path(), p, 0, {"--no-cache"});
  EXPECT_EQ(s5.value("completed", -1), 5);
  EXPECT_EQ(s5.value("cached", -1), 0);
  auto nocache = RunExplain(d.path(), p, {"--no-cache"});
  EXPECT_TRUE(Contains(WhyOf(nocache.out, "a"), "--no-cache")) << nocache.out;
}

TEST(ExecutionCache, CacheFalseStepAlwaysRuns) {
  TempDir d;
  std::string count = d.path() + "/count";
  std::string p = d.Write("p.yaml", "name: nocache\nsteps:\n"
                                    "  always:\n    run: echo x >> " + count + "\n    cache: false\n"
                                    "  normal:\n    run: echo y > {{outputs.o}}\n    outputs: [o]\n"
                                    "  settings-form:\n    run: echo z >> " + count + "\n    settings: {cache: {enabled: false}}\n");
  RunJson(d.path(), p, 0);
  Json s2 = RunJson(d.path(), p, 0);
  EXPECT_EQ(s2.value("completed", -1), 2);
  EXPECT_EQ(s2.value("cached", -1), 1);
  Json r2 = ShowRun(d.path(), "last");
  EXPECT_EQ(StatusOf(r2, "always"), "completed");
  EXPECT_EQ(StatusOf(r2, "settings-form"), "completed");
  EXPECT_EQ(StatusOf(r2, "normal"), "cached");
  std::string c = ReadFileOrDie(count);
  EXPECT_EQ(CountLines(c, "x"), 2u) << c;
  EXPECT_EQ(CountLines(c, "z"), 2u) << c;
  auto ex = RunExplain(d.path(), p);
  EXPECT_TRUE(Contains(WhyOf(ex.out, "always"), "caching is disabled")) << ex.out;
}

TEST(ExecutionCache, DeclaredFileChangeRerunsTheStep) {
  TempDir d;
  d.Write("script.sh", "echo version-1\n");
  std::string p = d.Write("p.yaml", R"Y(name: files
steps:
  s:
    run: sh script.sh > {{outputs.o}}
    outputs: [o]
    cache: {files: [script.sh]}
  other:
    run: echo other > {{outputs.o}}
    outputs: [o]
)Y");
  RunJson(d.path(), p, 0);
  // Unchanged file: cached.
  Json s2 = RunJson(d.path(), p, 0);
  EXPECT_EQ(s2.value("cached", -1), 2);
  // Same content rewritten (new mtime): still cached, the key holds the digest.
  d.Write("script.sh", "echo version-1\n");
  Json s3 = RunJson(d.path(), p, 0);
  EXPECT_EQ(s3.value("cached", -1), 2);
  // Edited: s runs again and --explain names the file.
  d.Write("script.sh", "echo version-2\n");
  auto r = RunExplain(d.path(), p);
  Json run = ShowRun(d.path(), "last");
  EXPECT_EQ(StatusOf(run, "s"), "completed");
  EXPECT_EQ(StatusOf(run, "other"), "cached");
  EXPECT_TRUE(Contains(WhyOf(r.out, "s"), "file 'script.sh' changed")) << r.out;
  auto exported = RunBaton(d.path(), {"artifacts", "export",
                                      std::to_string(StepOf(run, "s")["outputs"]["o"].value("id", -1LL)),
                                      d.path() + "/s.out"});
  ASSERT_EQ(exported.exit_code, 0) << Describe(exported);
  EXPECT_EQ(ReadFileOrDie(d.path() + "/s.out"), "version-2\n");
}

TEST(ExecutionCache, DeletedArtifactContentIsACacheMiss) {
  TempDir d;
  std::string p = d.Write("p.yaml", R"Y(name: deleted
steps:
  a:
    run: echo data-a > {{outputs.o}}
    outputs: [o]
  b:
    run: "{ cat {{inputs.i}}; echo data-b; } > {{outputs.o}}"
    inputs: {i: a.o}
    outputs: [o]
)Y");
  Json s1 = RunJson(d.path(), p, 0);
  Json r1 = ShowRun(d.path(), s1.value("run", ""));
  // Delete every stored object (they are read-only). b's output differs from a's, so a running
  // again does not bring b's content back.
  auto rm = RunShell(d.path(), "chmod -R u+w .baton/artifacts/sha256 && find .baton/artifacts/sha256 -type f -delete && "
                               "test -z \"$(find .baton/artifacts/sha256 -type f)\"");
  ASSERT_EQ(rm.exit_code, 0) << Describe(rm);

  auto r = RunExplain(d.path(), p);
  Json r2 = ShowRun(d.path(), "last");
  EXPECT_EQ(r2.value("status", ""), "completed") << r2.dump(2);
  EXPECT_EQ(StatusOf(r2, "a"), "completed");
  EXPECT_EQ(StatusOf(r2, "b"), "completed");
  EXPECT_TRUE(Contains(WhyOf(r.out, "a"), "deleted")) << r.out;
  // The content is back, with the same digests.
  for (const char* step : {"a", "b"}) {
    Json o = StepOf(r2, step)["outputs"]["o"];
    EXPECT_EQ(o.value("digest", "x"), StepOf(r1, step)["outputs"]["o"].value("digest", "y"));
    Json shown = ParseJson(RunBaton(d.path(), {"artifacts", "show", std::to_string(o.value("id", -1LL)), "-o", "json"}));
    EXPECT_TRUE(shown.value("present", false)) << shown.dump(2);
  }
  // And now it is served from the cache again.
  EXPECT_EQ(RunJson(d.path(), p, 0).value("cached", -1), 2);

  // Only b's content gone: a is still a hit, b runs again.
  std::string b_path = ParseJson(RunBaton(d.path(), {"artifacts", "show",
                                                     std::to_string(StepOf(r2, "b")["outputs"]["o"].value("id", -1LL)),
                                                     "-o", "json"}))
                           .value("path", "");
  ASSERT_FALSE(b_path.empty());
  ASSERT_EQ(RunShell(d.path(), "chmod u+w '" + b_path + "' && rm -f '" + b_path + "'").exit_code, 0);
  auto r3 = RunExplain(d.path(), p);
  Json run3 = ShowRun(d.path(), "last");
  EXPECT_EQ(StatusOf(run3, "a"), "cached");
  EXPECT_EQ(StatusOf(run3, "b"), "completed");
  EXPECT_TRUE(Contains(WhyOf(r3.out, "b"), "deleted")) << r3.out;
  EXPECT_TRUE(Exists(b_path));
}

TEST(ExecutionCache, RunIdInCommandDefeatsTheCache) {
  TempDir d;
  std::string p = d.Write("p.yaml", R"Y(name: runid
steps:
  tagged:
    run: echo {{run.id}} > {{outputs.o}}
    outputs: [o]
  plain:
    run: echo plain > {{outputs.o}}
    outputs: [o]
)Y");
  Json s1 = RunJson(d.path(), p, 0);
  auto r = RunExplain(d.path(), p);
  Json r2 = ShowRun(d.path(), "last");
  EXPECT_EQ(StatusOf(r2, "tagged"), "completed");
  EXPECT_EQ(StatusOf(r2, "plain"), "cached");
  EXPECT_TRUE(Contains(WhyOf(r.out, "tagged"), "uses {{run.id}}")) << r.out;
  auto path = ParseJson(RunBaton(d.path(), {"artifacts", "show",
                                            std::to_string(StepOf(r2, "tagged")["outputs"]["o"].value("id", -1LL)),
                                            "-o", "json"}))
                  .value("path", "");
  EXPECT_EQ(ReadFileOrDie(path), r2.value("id", "") + "\n");
}

// ---------------------------------------------------------------------------------------------
// 2. Retries.

// A step command that fails (exit 7) until it has been run `succeed_on` times; each attempt
// appends its start time to `times`.
std::string Flaky(const std::string& counter, const std::string& times, int succeed_on) {
  return "'date +%s.%N >> " + times + "; n=$(cat " + counter + " 2>/dev/null || echo 0); n=$((n+1)); echo $n > " +
         counter + "; if [ $n -lt " + std::to_string(succeed_on) + " ]; then echo failing-$n; exit 7; fi'";
}

std::vector<double> Times(const std::string& path) {
  std::vector<double> t;
  std::istringstream in(ReadOr(path));
  double v;
  while (in >> v) t.push_back(v);
  return t;
}

TEST(ExecutionRetries, FlakyStepSucceedsOnThirdAttemptWithBackoff) {
  TempDir d;
  std::string p = d.Write("p.yaml", "name: retries\nsteps:\n"
                                    "  flaky:\n    run: " + Flaky(d.path() + "/n", d.path() + "/t", 3) + "\n"
                                    "    retries: {max: 2, delay: 100ms, backoff: 2}\n"
                                    "  next:\n    run: echo next\n    after: [flaky]\n");
  Json s = RunJson(d.path(), p, 0);
  EXPECT_EQ(s.value("status", ""), "completed");
  EXPECT_EQ(s.value("failed", -1), 0);
  Json run = ShowRun(d.path(), s.value("run", ""));
  auto rows = Rows(run, "flaky");
  ASSERT_EQ(rows.size(), 3u) << run.dump(2);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(rows[i].value("attempt", 0), i + 1) << run.dump(2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(rows[i].value("status", ""), "failed");
    EXPECT_EQ(rows[i].value("exit_code", -1), 7);
    EXPECT_TRUE(Contains(rows[i].value("reason", ""), "exited with code 7")) << rows[i].dump(2);
  }
  EXPECT_EQ(rows[2].value("status", ""), "completed");
  EXPECT_EQ(StatusOf(run, "next"), "completed");
  EXPECT_EQ(Rows(run, "next").size(), 1u);
  // Delays: 100ms before the first retry, 200ms before the second.
  auto t = Times(d.path() + "/t");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_GE(t[1] - t[0], 0.095);
  EXPECT_GE(t[2] - t[1], 0.195);
  EXPECT_LT(t[2] - t[0], 5.0);
  // Each attempt has its own log.
  auto log1 = RunBaton(d.path(), {"runs", "logs", s.value("run", ""), "flaky", "--attempt", "2"});
  EXPECT_EQ(log1.out, "failing-2\n") << Describe(log1);
}

TEST(ExecutionRetries, DefaultsApplyToEveryStepAndExhaustedRetriesFailTheRun) {
  TempDir d;
  std::string p = d.Write("p.yaml",
                          "name: dretries\n"
                          "defaults: {retries: {max: 1, delay: 100ms}}\n"
                          "steps:\n"
                          "  one:\n    run: " + Flaky(d.path() + "/n1", d.path() + "/t1", 2) + "\n"
                          "  two:\n    run: " + Flaky(d.path() + "/n2", d.path() + "/t2", 2) + "\n"
                          "  hopeless:\n    run: exit 4\n"
                          "  no-retries:\n    run: exit 5\n    retries: {max: 0}\n"
                          "  after-hopeless:\n    run: echo never\n    after: [hopeless]\n");
  Json s = RunJson(d.path(), p, 1, {"-j", "4"});
  EXPECT_EQ(s.value("status", ""), "failed");
  EXPECT_EQ(s.value("failed", -1), 2);
  EXPECT_EQ(s.value("completed", -1), 2);
  EXPECT_EQ(s.value("skipped", -1), 1);
  Json run = ShowRun(d.path(), s.value("run", ""));
  for (const char* step : {"one", "two"}) {
    auto rows = Rows(run, step);
    ASSERT_EQ(rows.size(), 2u) << run.dump(2);
    EXPECT_EQ(rows[0].value("status", ""), "failed");
    EXPECT_EQ(rows[1].value("status", ""), "completed");
    EXPECT_EQ(rows[1].value("attempt", 0), 2);
  }
  auto hopeless = Rows(run, "hopeless");
  ASSERT_EQ(hopeless.size(), 2u) << run.dump(2);
  for (const auto& h : hopeless) {
    EXPECT_EQ(h.value("status", ""), "failed");
    EXPECT_TRUE(Contains(h.value("reason", ""), "exited with code 4")) << h.dump(2);
  }
  EXPECT_EQ(Rows(run, "no-retries").size(), 1u) << run.dump(2);
  EXPECT_EQ(StatusOf(run, "after-hopeless"), "skipped");
}

// ---------------------------------------------------------------------------------------------
// 3. Timeouts.

TEST(ExecutionTimeouts, StepTimeoutTerminatesAndKillsProcessGroup) {
  TempDir d;
  std::string m1 = Marker(1), m2 = Marker(2);
  std::string p = d.Write("p.yaml", "name: timeouts\nsteps:\n"
                                    "  slow:\n    run: sleep " + m1 + "\n    timeout: 1s\n"
                                    "  stubborn:\n    run: \"trap '' TERM; sleep " + m2 + "; echo survived\"\n    timeout: 1s\n"
                                    "  after-slow:\n    run: echo never\n    after: [slow]\n");
  auto t0 = Clock::now();
  Json s = RunJson(d.path(), p, 1, {"-j", "4"}, {"BATON_KILL_GRACE=1s"});
  double elapsed = Seconds(t0);
  EXPECT_LT(elapsed, 8.0);
  EXPECT_GE(elapsed, 1.0);
  Json run = ShowRun(d.path(), s.value("run", ""));
  Json slow = StepOf(run, "slow"), stubborn = StepOf(run, "stubborn");
  EXPECT_EQ(slow.value("status", ""), "failed");
  EXPECT_EQ(slow.value("reason", ""), "timed out after 1.00s") << slow.dump(2);
  EXPECT_LT(slow.value("duration_s", 99.0), 1.9) << slow.dump(2);  // sleep dies on SIGTERM
  EXPECT_EQ(stubborn.value("status", ""), "failed");
  EXPECT_EQ(stubborn.value("reason", ""), "timed out after 1.00s") << stubborn.dump(2);
  // It ignored SIGTERM, so it was SIGKILLed after the 1 s grace.
  EXPECT_GE(stubborn.value("duration_s", 0.0), 1.8) << stubborn.dump(2);
  EXPECT_EQ(stubborn.value("exit_code", -1), 128 + SIGKILL) << stubborn.dump(2);
  EXPECT_EQ(StatusOf(run, "after-slow"), "skipped");
  auto log = RunBaton(d.path(), {"runs", "logs", s.value("run", ""), "stubborn"});
  EXPECT_FALSE(Contains(log.out, "survived")) << log.out;
  EXPECT_TRUE(NoSleepLeft(m1)) << "sleep " << m1 << " still running";
  EXPECT_TRUE(NoSleepLeft(m2)) << "sleep " << m2 << " still running";
}

TEST(ExecutionTimeouts, RunTimeoutFailsTheRun) {
  TempDir d;
  std::string m = Marker(3);
  std::string p = d.Write("p.yaml", "name: runtimeout\nsteps:\n"
                                    "  quick:\n    run: echo quick\n"
                                    "  slow:\n    run: sleep " + m + "\n"
                                    "  after:\n    run: echo never\n    after: [slow]\n");
  auto t0 = Clock::now();
  Json s = RunJson(d.path(), p, 1, {"--timeout", "1s", "-j", "4"}, {"BATON_KILL_GRACE=1s"});
  EXPECT_LT(Seconds(t0), 8.0);
  EXPECT_EQ(s.value("status", ""), "failed");
  EXPECT_TRUE(Contains(s.value("reason", ""), "timed out")) << s.dump(2);
  Json run = ShowRun(d.path(), s.value("run", ""));
  EXPECT_EQ(run.value("status", ""), "failed");
  EXPECT_TRUE(Contains(run.value("reason", ""), "timed out")) << run.dump(2);
  EXPECT_EQ(StatusOf(run, "quick"), "completed");
  EXPECT_NE(StatusOf(run, "slow"), "completed");
  EXPECT_NE(StatusOf(run, "slow"), "running");
  EXPECT_EQ(StatusOf(run, "after"), "skipped");
  EXPECT_TRUE(NoSleepLeft(m)) << "sleep " << m << " still running";
}

// ---------------------------------------------------------------------------------------------
// 4. Failure modes.

// `long` runs `long_cmd`; `bad` fails after 0.2 s; `later` needs bad; `follow` needs long;
// `sibling` is independent and quick.
std::string FailurePipeline(const TempDir& d, const std::string& mode_line, const std::string& long_cmd) {
  return d.Write("p.yaml", "name: modes\n" + mode_line +
                               "steps:\n"
                               "  long:\n    run: \"" + long_cmd + "\"\n"
                               "  bad:\n    run: \"sleep 0.2; exit 5\"\n"
                               "  later:\n    run: echo never\n    after: [bad]\n"
                               "  follow:\n    run: echo follow\n    after: [long]\n"
                               "  sibling:\n    run: echo sibling\n");
}

TEST(ExecutionFailureMode, ContinueRunsIndependentBranches) {
  TempDir d;
  std::string p = FailurePipeline(d, "", "sleep 0.6");
  Json s = RunJson(d.path(), p, 1, {"-j", "4"});
  Json run = ShowRun(d.path(), s.value("run", ""));
  EXPECT_EQ(Statuses(run), (std::map<std::string, std::string>{{"long", "completed"},
                                                                 {"bad", "failed"},
                                                                 {"later", "skipped"},
                                                                 {"follow", "completed"},
                                                                 {"sibling", "completed"}}))
      << run.dump(2);
  EXPECT_EQ(run.value("status", ""), "failed");
}

TEST(ExecutionFailureMode, StopStartsNothingNewButLetsRunningStepsFinish) {
  TempDir d;
  std::string p = FailurePipeline(d, "failure_mode: stop\n", "sleep 1; echo long-done");
  Json s = RunJson(d.path(), p, 1, {"-j", "4"});
  Json run = ShowRun(d.path(), s.value("run", ""));
  EXPECT_EQ(StatusOf(run, "bad"), "failed");
  EXPECT_EQ(StatusOf(run, "long"), "completed") << run.dump(2);
  EXPECT_EQ(StatusOf(run, "later"), "skipped");
  EXPECT_EQ(StatusOf(run, "follow"), "skipped") << run.dump(2);
  EXPECT_TRUE(Contains(StepOf(run, "follow").value("reason", ""), "not started")) << run.dump(2);
  auto log = RunBaton(d.path(), {"runs", "logs", s.value("run", ""), "long"});
  EXPECT_EQ(log.out, "long-done\n");
  EXPECT_EQ(run.value("status", ""), "failed");
}

TEST(ExecutionFailureMode, FailFastTerminatesRunningSteps) {
  TempDir d;
  std::string m = Marker(4);
  std::string p = FailurePipeline(d, "failure_mode: fail_fast\n", "sleep " + m);
  auto t0 = Clock::now();
  Json s = RunJson(d.path(), p, 1, {"-j", "4"}, {"BATON_KILL_GRACE=1s"});
  EXPECT_LT(Seconds(t0), 8.0);
  Json run = ShowRun(d.path(), s.value("run", ""));
  EXPECT_EQ(StatusOf(run, "bad"), "failed");
  EXPECT_EQ(StatusOf(run, "long"), "stopped") << run.dump(2);
  EXPECT_EQ(StatusOf(run, "later"), "skipped");
  EXPECT_EQ(StatusOf(run, "follow"), "skipped");
  EXPECT_EQ(run.value("status", ""), "failed");
  EXPECT_TRUE(NoSleepLeft(m)) << "sleep " << m << " still running";
}

TEST(ExecutionFailureMode, CommandLineOverridesThePipelineKey) {
  TempDir d;
  // The pipeline says fail_fast; --failure-mode continue lets long and its follower finish.
  std::string p = FailurePipeline(d, "failure_mode: fail_fast\n", "sleep 0.6");
  Json s = RunJson(d.path(), p, 1, {"-j", "4", "--failure-mode", "continue"});
  Json run = ShowRun(d.path(), s.value("run", ""));
  EXPECT_EQ(StatusOf(run, "long"), "completed") << run.dump(2);
  EXPECT_EQ(StatusOf(run, "follow"), "completed") << run.dump(2);
  EXPECT_EQ(StatusOf(run, "later"), "skipped");
  // The pipeline says continue (by default); --failure-mode stop skips the follower.
  std::string p2 = FailurePipeline(d, "", "sleep 0.6");
  s = RunJson(d.path(), p2, 1, {"-j", "4", "--failure-mode", "stop", "--no-cache"});
  run = ShowRun(d.path(), s.value("run", ""));
  EXPECT_EQ(StatusOf(run, "long"), "completed") << run.dump(2);
  EXPECT_EQ(StatusOf(run, "follow"), "skipped") << run.dump(2);
  // A bad value is bad input.
  auto bad = RunBaton(d.path(), {"run", p2, "--failure-mode", "sometimes"});
  EXPECT_EQ(bad.exit_code, 2) << Describe(bad);
}

// ---------------------------------------------------------------------------------------------
// 5. Stopping a run.

void StopTest(bool use_sigint) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  std::string m = Marker(use_sigint ? 6 : 5);
  std::string p = d.Write("p.yaml", "name: stoppable\nsteps:\n"
                                    "  long:\n    run: sleep " + m + "\n"
                                    "  after:\n    run: echo never\n    after: [long]\n");
  Background bg(d.path(), {"run", p}, {"BATON_KILL_GRACE=1s"}, d.path() + "/bg.out");
  ASSERT_GT(bg.pid(), 0);
  ASSERT_TRUE(WaitForRunningStep(d.path(), "long")) << ReadOr(d.path() + "/bg.out");
  ASSERT_TRUE(WaitUntil([&] { return !SleepProcesses(m).empty(); }, 5)) << "the step never started";
  std::string run_id = ShowRun(d.path(), "last").value("id", "");
  // A running run cannot be resumed.
  auto resume = RunBaton(d.path(), {"runs", "resume", run_id});
  EXPECT_NE(resume.exit_code, 0) << Describe(resume);
  EXPECT_TRUE(Contains(resume.err, "still running")) << Describe(resume);
  auto t0 = Clock::now();
  if (use_sigint) {
    ASSERT_EQ(::kill(bg.pid(), SIGINT), 0);
  } else {
    auto r = RunBaton(d.path(), {"runs", "stop", "last"});
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    EXPECT_TRUE(Contains(r.out, run_id)) << r.out;
  }
  int code = bg.Wait(10);
  EXPECT_EQ(code, 1) << ReadOr(d.path() + "/bg.out");
  EXPECT_LT(Seconds(t0), 8.0);
  Json run = ShowRun(d.path(), run_id);
  EXPECT_EQ(run.value("status", ""), "stopped") << run.dump(2);
  EXPECT_TRUE(Contains(run.value("reason", ""), use_sigint ? "SIGINT" : "SIGTERM")) << run.dump(2);
  EXPECT_EQ(StatusOf(run, "long"), "stopped") << run.dump(2);
  EXPECT_EQ(StatusOf(run, "after"), "skipped") << run.dump(2);
  EXPECT_TRUE(NoSleepLeft(m)) << "sleep " << m << " still running";
  // A stopped run is no longer running: stopping it again is refused.
  auto again = RunBaton(d.path(), {"runs", "stop", run_id});
  EXPECT_NE(again.exit_code, 0) << Describe(again);
}

TEST(ExecutionStop, RunsStopStopsTheRunAndItsSteps) { StopTest(false); }

TEST(ExecutionStop, SigintStopsTheRunAndItsSteps) { StopTest(true); }

// ---------------------------------------------------------------------------------------------
// 6. Resume.

TEST(ExecutionResume, ResumeAfterFailureRunsOnlyWhatDidNotComplete) {
  TempDir d;
  std::string count = d.path() + "/count", marker = d.path() + "/ready";
  std::string p = d.Write("p.yaml", "name: resumable\nsteps:\n"
                                    "  a:\n    run: \"echo a >> " + count + "; echo data > {{outputs.o}}\"\n    outputs: [o]\n"
                                    "  b:\n    run: \"echo b >> " + count + "; test -e " + marker +
                                        " && cat {{inputs.i}} > {{outputs.o}}\"\n    inputs: {i: a.o}\n    outputs: [o]\n"
                                    "  c:\n    run: \"echo c >> " + count + "; cat {{inputs.i}}\"\n    inputs: {i: b.o}\n");
  Json s = RunJson(d.path(), p, 1);
  std::string run_id = s.value("run", "");
  ASSERT_FALSE(run_id.empty());
  Json run = ShowRun(d.path(), run_id);
  EXPECT_EQ(StatusOf(run, "b"), "failed");
  EXPECT_EQ(StatusOf(run, "c"), "skipped");

  d.Write("ready", "");
  auto r = RunBaton(d.path(), {"runs", "resume", run_id, "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json rs = ParseJson(r);
  EXPECT_EQ(rs.value("run", ""), run_id);
  EXPECT_EQ(rs.value("status", ""), "completed");

  run = ShowRun(d.path(), run_id);
  EXPECT_EQ(run.value("status", ""), "completed") << run.dump(2);
  auto a = Rows(run, "a"), b = Rows(run, "b"), c = Rows(run, "c");
  ASSERT_EQ(a.size(), 1u) << run.dump(2);
  EXPECT_EQ(a[0].value("attempt", 0), 1);
  ASSERT_EQ(b.size(), 2u) << run.dump(2);
  EXPECT_EQ(b[0].value("status", ""), "failed");
  EXPECT_EQ(b[1].value("status", ""), "completed");
  EXPECT_EQ(b[1].value("attempt", 0), 2);
  ASSERT_EQ(c.size(), 2u) << run.dump(2);
  EXPECT_EQ(c[0].value("status", ""), "skipped");
  EXPECT_EQ(c[1].value("status", ""), "completed");
  EXPECT_EQ(c[1].value("attempt", 0), 2);
  // b read the artifact a produced in the first pass.
  EXPECT_EQ(b[1]["inputs"]["i"].value("id", -1LL), a[0]["outputs"]["o"].value("id", -2LL));
  EXPECT_EQ(ReadFileOrDie(count), "a\nb\nb\nc\n");
  // Still one run.
  auto list = ParseJson(RunBaton(d.path(), {"runs", "list", "-o", "json"}));
  EXPECT_EQ(list.size(), 1u) << list.dump(2);

  // Nothing to resume in a completed run.
  auto again = RunBaton(d.path(), {"runs", "resume", run_id});
  EXPECT_EQ(again.exit_code, 2) << Describe(again);
  EXPECT_EQ(ReadFileOrDie(count), "a\nb\nb\nc\n");
}

TEST(ExecutionResume, KilledBatonIsDetectedCleanedUpAndResumable) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  std::string m = Marker(7);
  std::string count = d.path() + "/count", ready = d.path() + "/ready";
  std::string p = d.Write("p.yaml", "name: killed\nsteps:\n"
                                    "  a:\n    run: \"echo a >> " + count + "; echo data > {{outputs.o}}\"\n    outputs: [o]\n"
                                    "  long:\n    run: \"[ -e " + ready + " ] || sleep " + m + "; echo long >> " + count +
                                        "\"\n    inputs: {i: a.o}\n"
                                    "  c:\n    run: \"echo c >> " + count + "\"\n    after: [long]\n");
  std::string run_id;
  {
    Background bg(d.path(), {"run", p}, {}, d.path() + "/bg.out");
    ASSERT_GT(bg.pid(), 0);
    ASSERT_TRUE(WaitForRunningStep(d.path(), "long")) << ReadOr(d.path() + "/bg.out");
    ASSERT_TRUE(WaitUntil([&] { return !SleepProcesses(m).empty(); }, 5)) << "the step never started";
    run_id = ShowRun(d.path(), "last").value("id", "");
    ASSERT_EQ(::kill(bg.pid(), SIGKILL), 0);
    EXPECT_EQ(bg.Wait(5), 128 + SIGKILL);
  }
  // The step process outlived baton (its own process group)...
  bool left_behind = !SleepProcesses(m).empty();
  // ...and the next baton command notices the dead run, marks it, and cleans up.
  Json run = ShowRun(d.path(), run_id);
  EXPECT_EQ(run.value("status", ""), "interrupted") << run.dump(2);
  EXPECT_TRUE(Contains(run.value("reason", ""), "baton process")) << run.dump(2);
  EXPECT_NE(StatusOf(run, "long"), "running") << run.dump(2);
  EXPECT_EQ(StatusOf(run, "a"), "completed");
  EXPECT_TRUE(NoSleepLeft(m)) << "sleep " << m << " still running (left behind: " << left_behind << ")";

  d.Write("ready", "");
  auto r = RunBaton(d.path(), {"runs", "resume", run_id, "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(ParseJson(r).value("run", ""), run_id);
  run = ShowRun(d.path(), run_id);
  EXPECT_EQ(run.value("status", ""), "completed") << run.dump(2);
  EXPECT_EQ(Rows(run, "a").size(), 1u);
  EXPECT_EQ(StatusOf(run, "long"), "completed");
  EXPECT_EQ(StepOf(run, "long").value("attempt", 0), 2);
  EXPECT_EQ(StatusOf(run, "c"), "completed");
  EXPECT_EQ(ReadFileOrDie(count), "a\nlong\nc\n");
}

// ---------------------------------------------------------------------------------------------
// 7. Hooks.

TEST(ExecutionHooks, StepAndPipelineHooksSeeTheStep) {
  TempDir d;
  std::string out = d.path() + "/hooks.txt";
  auto hook = [&](const std::string& tag) {
    return "'echo \"" + tag + " $BATON_STEP $BATON_STEP_STATUS $(test -f \"$BATON_STEP_LOG\" && echo log-exists)\" >> " +
           out + "'";
  };
  std::string p = d.Write("p.yaml", "name: hooked\n"
                                    "hooks:\n  on_success: " + hook("pipeline-ok") + "\n  on_failure: " +
                                    hook("pipeline-fail") + "\n"
                                    "steps:\n"
                                    "  good:\n    run: echo good\n"
                                    "  bad:\n    run: exit 3\n"
                                    "  own-good:\n    run: echo own\n"
                                    "    hooks: {on_success: " + hook("own-ok") + ", on_failure: " + hook("own-fail") + "}\n"
                                    "  own-bad:\n    run: exit 4\n"
                                    "    hooks: {on_success: " + hook("own-ok") + ", on_failure: " + hook("own-fail") + "}\n"
                                    "  retried:\n    run: \"[ -e " + d.path() + "/again ] || { touch " + d.path() +
                                        "/again; exit 1; }\"\n    retries: {max: 1}\n");
  Json s = RunJson(d.path(), p, 1, {"-j", "4"});
  std::string text = ReadOr(out);
  std::set<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.insert(l);
  EXPECT_EQ(lines, (std::set<std::string>{"pipeline-ok good completed log-exists",
                                          "pipeline-fail bad failed log-exists",
                                          "own-ok own-good completed log-exists",
                                          "own-fail own-bad failed log-exists",
                                          // once, for the final outcome, not for the failed first attempt
                                          "pipeline-ok retried completed log-exists"}))
      << text;
  EXPECT_EQ(CountLines(text, "pipeline-ok good completed log-exists"), 1u) << text;
  // Hooks do not change step results.
  Json run = ShowRun(d.path(), s.value("run", ""));
  EXPECT_EQ(StatusOf(run, "good"), "completed");
  EXPECT_EQ(StatusOf(run, "bad"), "failed");
}

TEST(ExecutionHooks, OnFailureHookRunsForAStepThatCannotBeScheduled) {
  TempDir d;
  std::string out = d.path() + "/hooks.txt";
  std::string p = d.Write("p.yaml", "name: unschedhook\n"
                                    "hooks:\n  on_failure: 'echo \"pipeline-fail $BATON_STEP $BATON_STEP_STATUS\" >> " + out + "'\n"
                                    "steps:\n"
                                    "  train:\n    run: echo train\n    resources: {gpu: 1}\n"
                                    "  own:\n    run: echo own\n    resources: {gpu: 1}\n"
                                    "    hooks: {on_failure: 'echo \"own-fail $BATON_STEP $BATON_STEP_STATUS\" >> " + out + "'}\n");
  RunJson(d.path(), p, 1, {}, {"BATON_GPUS=0"});
  std::string text = ReadOr(out);
  EXPECT_EQ(CountLines(text, "pipeline-fail train failed"), 1u) << text;
  EXPECT_EQ(CountLines(text, "own-fail own failed"), 1u) << text;
}

// ---------------------------------------------------------------------------------------------
// 8. Unsatisfiable resources.

TEST(ExecutionResources, GpuRequestWithoutGpusFailsAtOnce) {
  TempDir d;
  std::string p = d.Write("p.yaml", R"Y(name: gpu
steps:
  train:
    run: echo training > {{outputs.model}}
    outputs: [model]
    resources: {gpu: 1}
  evaluate:
    run: cat {{inputs.m}}
    inputs: {m: train.model}
  report:
    run: echo report
    after: [evaluate]
  other:
    run: echo other
)Y");
  auto t0 = Clock::now();
  Json s = RunJson(d.path(), p, 1, {}, {"BATON_GPUS=0"});
  EXPECT_LT(Seconds(t0), 5.0);
  EXPECT_EQ(s.value("failed", -1), 1);
  EXPECT_EQ(s.value("skipped", -1), 2);
  EXPECT_EQ(s.value("completed", -1), 1);
  Json run = ShowRun(d.path(), s.value("run", ""));
  Json train = StepOf(run, "train");
  EXPECT_EQ(train.value("status", ""), "failed");
  EXPECT_TRUE(Contains(train.value("reason", ""), "gpu")) << train.dump(2);
  EXPECT_EQ(StatusOf(run, "evaluate"), "skipped");
  EXPECT_EQ(StatusOf(run, "report"), "skipped");
  EXPECT_EQ(StatusOf(run, "other"), "completed");
}

}  // namespace
}  // namespace baton::testing
