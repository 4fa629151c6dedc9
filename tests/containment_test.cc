// Containment of what steps start: processes that leave the step's process group (setsid, a
// double fork) end with the step, its timeout or the run, the log says what was killed, and
// nothing writes to the log afterwards. Also the step log's size cap.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "platform/containment.h"
#include "test_util.h"

namespace baton::testing {
namespace {

using Json = nlohmann::json;

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

bool WaitFor(const std::function<bool()>& pred, double seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

// A `sleep` duration unique to this test process and `n` (300-something seconds), by which the
// processes a step left behind are found.
std::string Marker(int n) { return "30" + std::to_string(n) + "." + std::to_string(::getpid()); }

// Kills what a failing test left running, so that it cannot disturb the next one.
struct KillOnExit {
  std::vector<std::string> markers;
  ~KillOnExit() {
    for (const auto& m : markers)
      for (pid_t p : SleepProcesses(m)) ::kill(p, SIGKILL);
  }
};

Json StepRow(const std::string& ws, const std::string& step) {
  auto r = RunBaton(ws, {"runs", "show", "last", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  Json run = Json::parse(r.out, nullptr, false);
  Json row;
  if (run.is_object() && run.contains("steps"))
    for (const auto& s : run["steps"])
      if (s.value("step", "") == step) row = s;
  return row;
}

std::string LogOf(const std::string& ws, const std::string& step) {
  std::string path = StepRow(ws, step).value("log", "");
  EXPECT_FALSE(path.empty()) << "no log for step " << step;
  return path.empty() ? std::string() : ReadFileOrDie(path);
}

int64_t SizeOf(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

TEST(Containment, SetsidAndDoubleForkEndWithTheStep) {
  TempDir d;
  const std::string setsid_m = Marker(1), fork_m = Marker(2);
  KillOnExit cleanup{{setsid_m, fork_m}};
  // One process leaves the step's session and group, one is orphaned by a double fork, and a
  // third keeps writing to the log from its own session.
  std::string p = d.Write("p.yaml",
                          "name: escape\nsteps:\n"
                          "  leaky:\n"
                          "    run: \"setsid sleep " +
                              setsid_m + " & (sleep " + fork_m +
                              " &) ; setsid sh -c 'while :; do echo tick; sleep 0.05; done' & "
                              "sleep 0.3; echo started\"\n");
  auto r = RunBaton(d.path(), {"run", p});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  // Ended with the step, not later: nothing is left when the run returns.
  EXPECT_TRUE(SleepProcesses(setsid_m).empty()) << "the setsid process outlived the run";
  EXPECT_TRUE(SleepProcesses(fork_m).empty()) << "the double-forked process outlived the run";
  EXPECT_EQ(StepRow(d.path(), "leaky").value("status", ""), "completed");
  const std::string log_path = StepRow(d.path(), "leaky").value("log", "");
  std::string log = ReadFileOrDie(log_path);
  EXPECT_TRUE(Contains(log, "started\n")) << log;
  EXPECT_TRUE(Contains(log, "processes the step left running: ")) << log;
  EXPECT_TRUE(Contains(log, "(sleep)")) << log;
  EXPECT_TRUE(Contains(log, "(sh)")) << log;
  // The note is the last line: nothing wrote after it, and nothing writes any more.
  EXPECT_EQ(log.rfind("baton: killed "), log.rfind('\n', log.size() - 2) + 1) << log;
  const int64_t size = SizeOf(log_path);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(SizeOf(log_path), size) << "something still writes to the completed step's log";
}

// A child stopped by SIGSTOP keeps a SIGTERM pending until it is continued: the state of a
// process the group's signal reached but that has not run since.
pid_t StoppedChild(int sigterm_disposition) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (sigterm_disposition == 1) ::signal(SIGTERM, SIG_IGN);
    if (sigterm_disposition == 2) ::signal(SIGTERM, [](int) {});
    ::raise(SIGSTOP);
    for (;;) ::pause();
  }
  int status = 0;
  ::waitpid(pid, &status, WUNTRACED);
  return pid;
}

TEST(Containment, AProcessWithTheGroupSignalPendingIsDyingOfIt) {
  pid_t plain = StoppedChild(0), ignores = StoppedChild(1), catches = StoppedChild(2);
  for (pid_t pid : {plain, ignores, catches}) EXPECT_FALSE(DyingOf(pid, {SIGTERM}));
  for (pid_t pid : {plain, ignores, catches}) ::kill(pid, SIGTERM);
  EXPECT_TRUE(DyingOf(plain, {SIGTERM}));
  EXPECT_FALSE(DyingOf(ignores, {SIGTERM})) << "an ignored signal is never pending";
  EXPECT_FALSE(DyingOf(catches, {SIGTERM})) << "a caught signal does not end the process";
  EXPECT_FALSE(DyingOf(plain, {SIGINT}));
  ::kill(plain, SIGCONT);
  int status = 0;
  ASSERT_EQ(::waitpid(plain, &status, 0), plain);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  EXPECT_FALSE(DyingOf(plain, {SIGTERM})) << "a reaped process is not there to die";
  for (pid_t pid : {ignores, catches}) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
}

TEST(Containment, TimeoutEndsWhatTheStepLeftRunning) {
  TempDir d;
  const std::string m1 = Marker(3), m2 = Marker(4);
  KillOnExit cleanup{{m1, m2}};
  std::string p = d.Write("p.yaml",
                          "name: escape\nsteps:\n"
                          "  slow:\n"
                          "    timeout: 1s\n"
                          "    run: \"setsid sleep " +
                              m1 + " & sleep " + m2 + "\"\n");
  auto r = RunBaton(d.path(), {"run", p}, {"BATON_KILL_GRACE=1s"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(SleepProcesses(m1).empty()) << "the setsid process outlived the timeout";
  EXPECT_TRUE(SleepProcesses(m2).empty());
  Json row = StepRow(d.path(), "slow");
  EXPECT_TRUE(Contains(row.value("reason", ""), "timed out")) << row.dump(2);
  std::string log = LogOf(d.path(), "slow");
  EXPECT_TRUE(Contains(log, "baton: killed 1 process the step left running: ")) << log;
  EXPECT_TRUE(Contains(log, "(sleep)")) << log;
}

TEST(Containment, StoppedRunLeavesNothingRunning) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  const std::string m1 = Marker(5), m2 = Marker(6);
  KillOnExit cleanup{{m1, m2}};
  std::string p = d.Write("p.yaml",
                          "name: escape\nsteps:\n"
                          "  long:\n"
                          "    run: \"(setsid sleep " +
                              m1 + " &) ; sleep " + m2 + "\"\n");
  pid_t pid = SpawnBaton(d.path(), {"run", p}, d.path() + "/out", d.path() + "/err",
                         {"BATON_KILL_GRACE=1s"});
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(
      WaitFor([&] { return !SleepProcesses(m1).empty() && !SleepProcesses(m2).empty(); }, 20))
      << ReadFileOrDie(d.path() + "/err");
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  EXPECT_EQ(WaitExit(pid), 1) << ReadFileOrDie(d.path() + "/err");
  EXPECT_TRUE(SleepProcesses(m1).empty()) << "the setsid process outlived the stopped run";
  EXPECT_TRUE(SleepProcesses(m2).empty());
  std::string log = LogOf(d.path(), "long");
  // The setsid process at least (the step's own sleep may still be ending when baton looks).
  EXPECT_TRUE(Contains(log, "the step left running: ")) << log;
  EXPECT_TRUE(Contains(log, "(sleep)")) << log;
}

TEST(StepLogCap, LogStopsGrowingAtTheCapAndSaysHowMuchWasDropped) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  auto r = RunBaton(d.path(), {"orchestrator", "register", "capped", "--flavor", "local", "--set",
                               "max_log_size=1Ki"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = RunBaton(d.path(), {"stack", "register", "capped", "--orchestrator", "capped",
                          "--artifact-store", "default"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  // 5000 bytes on stdout and 1000 on stderr: 6000 in all, of which the log keeps 1024.
  std::string p = d.Write("p.yaml",
                          "name: chatty\nsteps:\n"
                          "  talk:\n"
                          "    run: \"head -c 5000 /dev/zero | tr '\\\\0' x; head -c 1000 "
                          "/dev/zero | tr '\\\\0' y >&2\"\n");
  r = RunBaton(d.path(), {"run", p, "--stack", "capped"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  std::string log = LogOf(d.path(), "talk");
  const std::string note = "\n[baton: log truncated at 1 KiB; 4976 bytes dropped]\n";
  ASSERT_EQ(log.size(), 1024 + note.size()) << log;
  EXPECT_EQ(log.substr(0, 1024), std::string(1024, 'x'));
  EXPECT_EQ(log.substr(1024), note);
  // Without the setting, the default cap (100 MiB) keeps all of it.
  r = RunBaton(d.path(), {"run", p, "--stack", "default", "--no-cache"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  log = LogOf(d.path(), "talk");
  EXPECT_EQ(log, std::string(5000, 'x') + std::string(1000, 'y'));
}

TEST(InterruptedRun, StagedOutputsAreReclaimedAndResumeCompletes) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  const std::string m = Marker(7);
  KillOnExit cleanup{{m}};
  const std::string ready = d.path() + "/ready";
  // `big` stages 20 MB, then waits (the first time) until baton is killed.
  std::string p = d.Write("p.yaml",
                          "name: staged\nsteps:\n"
                          "  big:\n"
                          "    run: \"head -c 20000000 /dev/zero > {{outputs.o}}; [ -e " +
                              ready + " ] || sleep " + m +
                              "\"\n"
                              "    outputs: [o]\n"
                              "  count:\n"
                              "    run: \"wc -c < {{inputs.i}} > {{outputs.n}}\"\n"
                              "    inputs: {i: big.o}\n"
                              "    outputs: [n]\n");
  pid_t pid = SpawnBaton(d.path(), {"run", p}, d.path() + "/out", d.path() + "/err");
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(WaitFor([&] { return !SleepProcesses(m).empty(); }, 20))
      << ReadFileOrDie(d.path() + "/err");
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_EQ(WaitExit(pid), 128 + SIGKILL);
  const std::string staging = d.path() + "/.baton/artifacts/.staging";
  auto staged = RunShell(d.path(), "du -sb " + staging + "/staged-* | cut -f1");
  ASSERT_GE(std::atoll(staged.out.c_str()), 20000000) << Describe(staged);

  // The next command notices the dead run, marks it interrupted and frees what it staged.
  Json runs = JsonOf(d.path(), {"runs", "list", "-o", "json"});
  ASSERT_EQ(runs.size(), 1u) << runs.dump(2);
  const std::string run_id = runs[0].value("id", "");
  EXPECT_EQ(runs[0].value("status", ""), "interrupted") << runs.dump(2);
  struct stat st;
  EXPECT_NE(::stat((staging + "/" + run_id).c_str(), &st), 0)
      << "the interrupted run's staging is still there";
  EXPECT_TRUE(WaitFor([&] { return SleepProcesses(m).empty(); }, 3));

  d.Write("ready", "");
  auto r = RunBaton(d.path(), {"runs", "resume", run_id, "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json shown = JsonOf(d.path(), {"runs", "show", run_id, "-o", "json"});
  EXPECT_EQ(shown.value("status", ""), "completed") << shown.dump(2);
}

}  // namespace
}  // namespace baton::testing
