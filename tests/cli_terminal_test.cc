// End-to-end tests of what `baton run` and `baton runs logs -f` show on a terminal: colour
// (--color, NO_COLOR, TERM=dumb), the live status line (redrawn on a timer, cut to the width,
// erased), Ctrl-C (a graceful stop, then a kill) and following a whole run's logs. Terminal
// behaviour is checked on a pseudo-terminal the test opens itself.

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

extern char** environ;

namespace baton::testing {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string ReadOr(const std::string& path) {
  try {
    return ReadFileOrDie(path);
  } catch (...) {
    return "";
  }
}

bool WaitUntil(const std::function<bool()>& done, double seconds) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

struct PtyResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, as the terminal received them
};

// Runs baton on a new pseudo-terminal `columns` wide (stdin, stdout and stderr), with TERM=xterm
// and without NO_COLOR, CI or COLUMNS unless `env` sets them. `during` is called with the pid and
// the output so far while baton runs.
PtyResult RunOnPty(const std::string& cwd, const std::vector<std::string>& args,
                   const std::vector<std::string>& env, int columns,
                   const std::function<void(pid_t, const std::string&)>& during = nullptr) {
  PtyResult result;
  int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) return result;
  const std::string slave_name = ::ptsname(master);
  struct winsize ws = {};
  ws.ws_row = 24;
  ws.ws_col = static_cast<unsigned short>(columns);
  ::ioctl(master, TIOCSWINSZ, &ws);

  // Everything the child needs is made before fork (only async-signal-safe calls after it).
  std::vector<std::string> argv = {BatonBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> envs = env;
  envs.push_back("TERM=xterm");
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    if (key == "TERM" || key == "NO_COLOR" || key == "CI" || key == "COLUMNS") continue;
    envs.push_back(kv);
  }
  std::vector<char*> a, ev;
  for (auto& s : argv) a.push_back(s.data());
  a.push_back(nullptr);
  for (auto& s : envs) ev.push_back(s.data());
  ev.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();
    int slave = ::open(slave_name.c_str(), O_RDWR);  // becomes the controlling terminal
    if (slave < 0 || ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::dup2(slave, 0);
    ::dup2(slave, 1);
    ::dup2(slave, 2);
    ::close(master);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(a[0], a.data(), ev.data());
    ::_exit(127);
  }
  if (pid < 0) return result;
  const auto deadline = Clock::now() + std::chrono::seconds(90);
  bool exited = false;
  for (;;) {
    struct pollfd p = {master, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      char buf[4096];
      ssize_t n = ::read(master, buf, sizeof buf);
      if (n > 0) {
        result.output.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (exited) break;  // EIO: every copy of the terminal is closed
    } else if (exited) {
      break;
    }
    if (!exited) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        continue;
      }
      if (during) during(pid, result.output);
      if (Clock::now() > deadline) ::kill(pid, SIGKILL);
    }
  }
  ::close(master);
  return result;
}

// The text of the terminal output split where the cursor returns to the start of a line
// ("\r" or "\n"), with every escape sequence taken out.
std::vector<std::string> Segments(const std::string& out) {
  static const std::regex kEscape("\x1b\\[[0-9;?]*[A-Za-z]");
  std::vector<std::string> segs;
  std::string cur;
  for (char c : out) {
    if (c == '\r' || c == '\n') {
      segs.push_back(std::regex_replace(cur, kEscape, ""));
      cur.clear();
    } else {
      cur += c;
    }
  }
  segs.push_back(std::regex_replace(cur, kEscape, ""));
  return segs;
}

bool HasColour(const std::string& s) { return std::regex_search(s, std::regex("\x1b\\[[0-9;]*m")); }

Json ShowRun(const std::string& cwd, const std::string& run) {
  auto r = RunBaton(cwd, {"runs", "show", run, "-o", "json"});
  Json j = Json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << Describe(r);
  return j.is_discarded() ? Json::object() : j;
}

// The latest attempt's status of `step` in `runs show -o json`, or "".
std::string StepStatus(const Json& run, const std::string& step) {
  std::string status;
  if (run.contains("steps"))
    for (const auto& s : run["steps"])
      if (s.value("step", "") == step) status = s.value("status", "");
  return status;
}

// The status of `step` in the latest run, or "" while there is none (no test failure).
std::string LatestStepStatus(const std::string& cwd, const std::string& step) {
  auto r = RunBaton(cwd, {"runs", "show", "last", "-o", "json"});
  Json j = Json::parse(r.out, nullptr, false);
  return r.exit_code == 0 && !j.is_discarded() ? StepStatus(j, step) : "";
}

// ---------------------------------------------------------------------------------------------
// Colour.

constexpr const char* kMixed =
    "name: mixed\n"
    "steps:\n"
    "  good:\n    run: echo good\n"
    "  bad:\n    run: exit 3\n"
    "  after-bad:\n    run: echo never\n    after: [bad]\n";

TEST(CliTerminalColour, StatusesAndSummaryAreColouredOnATerminal) {
  TempDir d;
  d.Write("p.yaml", kMixed);
  PtyResult r = RunOnPty(d.path(), {"run", "p.yaml", "--no-cache"}, {}, 100);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "\x1b[32mcompleted\x1b[0m good")) << r.output;
  EXPECT_TRUE(Contains(r.output, "\x1b[31mfailed\x1b[0m bad")) << r.output;
  EXPECT_TRUE(Contains(r.output, "\x1b[2mskipped\x1b[0m after-bad")) << r.output;
  // The summary: the run's status and the counts that are not zero.
  EXPECT_TRUE(
      std::regex_search(r.output, std::regex("run mixed-\\S+ \x1b\\[31mfailed\x1b\\[0m in ")))
      << r.output;
  EXPECT_TRUE(Contains(r.output, "\x1b[31m1 failed\x1b[0m")) << r.output;
}

TEST(CliTerminalColour, NoEscapeCodesWhenPipedOrInJson) {
  TempDir d;
  d.Write("p.yaml", kMixed);
  auto piped = RunBaton(d.path(), {"run", "p.yaml", "--no-cache"});
  EXPECT_EQ(piped.exit_code, 1) << Describe(piped);
  EXPECT_FALSE(Contains(piped.out + piped.err, "\x1b")) << Describe(piped);
  EXPECT_FALSE(Contains(piped.out, "\r")) << piped.out;
  // --color=always forces colour into a pipe (before or after the command), never into JSON.
  auto forced = RunBaton(d.path(), {"--color=always", "run", "p.yaml", "--no-cache"});
  EXPECT_TRUE(Contains(forced.out, "\x1b[32mcompleted\x1b[0m good")) << Describe(forced);
  forced = RunBaton(d.path(), {"run", "p.yaml", "--no-cache", "--color", "always"});
  EXPECT_TRUE(Contains(forced.out, "\x1b[31mfailed\x1b[0m bad")) << Describe(forced);
  auto json = RunBaton(d.path(), {"run", "p.yaml", "--no-cache", "-o", "json", "--color=always"});
  EXPECT_EQ(json.exit_code, 1) << Describe(json);
  EXPECT_FALSE(Contains(json.out, "\x1b")) << json.out;
  EXPECT_FALSE(Json::parse(json.out, nullptr, false).is_discarded()) << json.out;
  // A JSON run on a terminal: no escape codes in what it prints either.
  PtyResult tty_json = RunOnPty(d.path(), {"run", "p.yaml", "--no-cache", "-o", "json"}, {}, 80);
  EXPECT_FALSE(Contains(tty_json.output, "\x1b")) << tty_json.output;
  // A bad value is bad input.
  auto bad = RunBaton(d.path(), {"--color=sometimes", "runs", "list"});
  EXPECT_EQ(bad.exit_code, 2) << Describe(bad);
  EXPECT_TRUE(Contains(bad.err, "--color sometimes: give auto, always or never")) << bad.err;
}

TEST(CliTerminalColour, NoColorAndDumbTerminalsTurnAutoOff) {
  TempDir d;
  d.Write("p.yaml", kMixed);
  PtyResult no_color = RunOnPty(d.path(), {"run", "p.yaml", "--no-cache"}, {"NO_COLOR=1"}, 100);
  EXPECT_TRUE(Contains(no_color.output, "completed good")) << no_color.output;
  EXPECT_FALSE(HasColour(no_color.output)) << no_color.output;
  // An empty NO_COLOR does not count; --color=never wins on a terminal.
  PtyResult empty = RunOnPty(d.path(), {"run", "p.yaml", "--no-cache"}, {"NO_COLOR="}, 100);
  EXPECT_TRUE(HasColour(empty.output)) << empty.output;
  PtyResult never = RunOnPty(d.path(), {"--color=never", "run", "p.yaml", "--no-cache"}, {}, 100);
  EXPECT_FALSE(HasColour(never.output)) << never.output;
  // TERM=dumb can take neither colour nor a redrawn line.
  PtyResult dumb = RunOnPty(d.path(), {"run", "p.yaml", "--no-cache"}, {"TERM=dumb"}, 100);
  EXPECT_TRUE(Contains(dumb.output, "completed good")) << dumb.output;
  EXPECT_FALSE(Contains(dumb.output, "\x1b")) << dumb.output;
}

// ---------------------------------------------------------------------------------------------
// The live status line.

TEST(CliTerminalStatusLine, RedrawnOnATimerAndCutToTheWidth) {
  TempDir d;
  const std::string a(30, 'a'), b(30, 'b');
  d.Write("p.yaml",
          "name: w\nsteps:\n  " + a + ":\n    run: sleep 2\n  " + b + ":\n    run: sleep 2\n");
  PtyResult r = RunOnPty(d.path(), {"run", "p.yaml", "-j", "2"}, {}, 60);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::set<std::string> status_lines;
  std::string summary;
  for (const std::string& seg : Segments(r.output)) {
    if (Contains(seg, "running")) {
      status_lines.insert(seg);
      EXPECT_LT(seg.size(), 60u) << "a status line wider than the terminal: '" << seg << "'";
    }
    if (seg.rfind("run w-", 0) == 0) summary = seg;
  }
  // Nothing happens for two seconds but the clock: only a timer redraws that often.
  EXPECT_GE(status_lines.size(), 5u) << r.output;
  bool elapsed_shown = false;
  for (const auto& s : status_lines)
    elapsed_shown = elapsed_shown || std::regex_search(s, std::regex("[0-9]\\.[0-9]s"));
  EXPECT_TRUE(elapsed_shown) << r.output;
  // The status line is erased before the summary, which starts its line.
  EXPECT_TRUE(Contains(summary, " completed in ")) << r.output;
  // The width comes from the terminal; a pipe gets no status line at all.
  auto piped = RunBaton(d.path(), {"run", "p.yaml", "-j", "2", "--no-cache"});
  EXPECT_FALSE(Contains(piped.out, "running")) << piped.out;
}

// ---------------------------------------------------------------------------------------------
// Ctrl-C.

TEST(CliTerminalStop, FirstCtrlCStopsGentlySecondKills) {
  TempDir d;
  const std::string marker = "37." + std::to_string(::getpid());
  d.Write("p.yaml", "name: stubborn\nsteps:\n  hold:\n    run: \"trap '' TERM; echo ready; sleep " +
                        marker + "\"\n  next:\n    run: echo never\n    after: [hold]\n");
  const std::string out = d.path() + "/out", err = d.path() + "/err";
  // A grace far longer than the test waits: only the second Ctrl-C can end the step in time.
  pid_t pid = SpawnBaton(d.path(), {"run", "p.yaml"}, out, err, {"BATON_KILL_GRACE=120s"});
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(WaitUntil([&] { return !SleepProcesses(marker).empty(); }, 30)) << ReadOr(err);
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Contains(RunBaton(d.path(), {"runs", "logs", "last", "hold"}).out, "ready");
      },
      10));

  ASSERT_EQ(::kill(pid, SIGINT), 0);
  EXPECT_TRUE(WaitUntil(
      [&] { return Contains(ReadOr(err), "baton: stopping (Ctrl-C again to kill)"); }, 10))
      << ReadOr(out) << ReadOr(err);
  // Stopping gently: the step ignores SIGTERM and has its grace, so baton waits.
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "baton ended after the first Ctrl-C";
  EXPECT_FALSE(SleepProcesses(marker).empty());

  ASSERT_EQ(::kill(pid, SIGINT), 0);
  bool exited = WaitUntil([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 15);
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    for (pid_t p : SleepProcesses(marker)) ::kill(p, SIGKILL);
  }
  ASSERT_TRUE(exited) << "the second Ctrl-C did not end baton\n" << ReadOr(out) << ReadOr(err);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << ReadOr(out) << ReadOr(err);
  EXPECT_TRUE(WaitUntil([&] { return SleepProcesses(marker).empty(); }, 3))
      << "the step outlived baton";
  EXPECT_TRUE(Contains(ReadOr(err), "killing the running steps")) << ReadOr(err);

  Json run = ShowRun(d.path(), "last");
  EXPECT_EQ(run.value("status", ""), "stopped") << run.dump(2);
  EXPECT_EQ(StepStatus(run, "hold"), "stopped") << run.dump(2);
  for (const auto& s : run.value("steps", Json::array()))
    EXPECT_NE(s.value("status", ""), "running") << run.dump(2);
}

// ---------------------------------------------------------------------------------------------
// runs logs -f.

constexpr const char* kChain =
    "name: chain\n"
    "steps:\n"
    "  a:\n    run: echo from-a; sleep 2\n"
    "  b:\n    run: echo from-b-1; sleep 0.5; echo from-b-2\n    after: [a]\n"
    "  c:\n    run: printf from-c\n    after: [b]\n";

// Starts `baton run p.yaml` in the background and waits until step a runs.
pid_t StartChain(const TempDir& d) {
  pid_t pid = SpawnBaton(d.path(), {"run", "p.yaml"}, d.path() + "/out", d.path() + "/err");
  EXPECT_GT(pid, 0);
  EXPECT_TRUE(WaitUntil([&] { return LatestStepStatus(d.path(), "a") == "running"; }, 30))
      << ReadOr(d.path() + "/err");
  return pid;
}

TEST(CliTerminalFollow, FollowsEveryStepOfTheRunToItsEnd) {
  TempDir d;
  d.Write("p.yaml", kChain);
  pid_t pid = StartChain(d);
  ASSERT_GT(pid, 0);
  auto r = RunBaton(d.path(), {"runs", "logs", "last", "-f"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  // Every step's lines, after its name, in the order they were written; the last line even
  // without its newline.
  const size_t a = r.out.find("[a] from-a\n"), b1 = r.out.find("[b] from-b-1\n"),
               b2 = r.out.find("[b] from-b-2\n"), c = r.out.find("[c] from-c\n");
  EXPECT_NE(a, std::string::npos) << r.out;
  EXPECT_NE(b1, std::string::npos) << r.out;
  EXPECT_NE(b2, std::string::npos) << r.out;
  EXPECT_NE(c, std::string::npos) << r.out;
  EXPECT_TRUE(a < b1 && b1 < b2 && b2 < c) << r.out;
  // It ended with the run.
  EXPECT_EQ(ShowRun(d.path(), "last").value("status", ""), "completed");
  EXPECT_EQ(WaitExit(pid), 0);
}

TEST(CliTerminalFollow, WaitsForAStepThatHasNotStarted) {
  TempDir d;
  d.Write("p.yaml", kChain);
  pid_t pid = StartChain(d);
  ASSERT_GT(pid, 0);
  // A name that is no step of the pipeline is still an error, at once.
  auto bad = RunBaton(d.path(), {"runs", "logs", "last", "cc", "-f"});
  EXPECT_NE(bad.exit_code, 0) << Describe(bad);
  EXPECT_TRUE(Contains(bad.err, "has no step 'cc'; did you mean c?")) << bad.err;
  auto r = RunBaton(d.path(), {"runs", "logs", "last", "c", "-f"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "from-c") << Describe(r);
  EXPECT_EQ(WaitExit(pid), 0);
}

TEST(CliTerminalFollow, ExitStatusIsTheRunsAndSingleStepPipelinesHaveNoPrefix) {
  TempDir d;
  d.Write("fail.yaml",
          "name: two\nsteps:\n  ok:\n    run: echo fine\n  broken:\n    run: echo oops; exit 3\n");
  d.Write("one.yaml", "name: one\nsteps:\n  only:\n    run: echo alone\n");
  auto failed = RunBaton(d.path(), {"run", "fail.yaml"});
  ASSERT_EQ(failed.exit_code, 1) << Describe(failed);
  auto r = RunBaton(d.path(), {"runs", "logs", "last", "-f"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "[ok] fine\n")) << r.out;
  EXPECT_TRUE(Contains(r.out, "[broken] oops\n")) << r.out;
  ASSERT_EQ(RunBaton(d.path(), {"run", "one.yaml"}).exit_code, 0);
  r = RunBaton(d.path(), {"runs", "logs", "last", "-f"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "alone\n") << Describe(r);
}

}  // namespace
}  // namespace baton::testing
