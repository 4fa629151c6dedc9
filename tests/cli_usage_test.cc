// Mistakes on the command line get baton's one error format, a suggestion where one is close,
// and exit code 2; bare command groups list their commands; `baton help CMD` is `CMD --help`.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "cli/cli.h"
#include "test_util.h"

namespace baton::testing {
namespace {

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(Suggest, FindsTyposSwapsAndPrefixesClosestFirst) {
  const std::vector<std::string> steps = {"load", "split", "train", "evaluate"};
  EXPECT_EQ(Suggest("laod", steps), std::vector<std::string>{"load"});
  EXPECT_EQ(Suggest("lod", steps), std::vector<std::string>{"load"});
  EXPECT_EQ(Suggest("eval", steps), std::vector<std::string>{"evaluate"});
  EXPECT_TRUE(Suggest("deploy", steps).empty());
  EXPECT_EQ(Suggest("--nocache", {"--no-cache", "--config", "--explain"}),
            std::vector<std::string>{"--no-cache"});
  EXPECT_EQ(Suggest("runz", {"init", "run", "runs", "stack"}),
            (std::vector<std::string>{"run", "runs"}));
}

TEST(CliUsage, AnUnknownCommandIsNamedWithSuggestions) {
  TempDir dir;
  auto r = RunBaton(dir.path(), {"runz"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "baton: error: unknown command 'runz' for 'baton'")) << r.err;
  EXPECT_TRUE(Contains(r.err, "did you mean run or runs?")) << r.err;
  EXPECT_TRUE(r.out.empty());
  r = RunBaton(dir.path(), {"artifacts", "exprot", "7", "x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "unknown command 'exprot' for 'baton artifacts'")) << r.err;
  EXPECT_TRUE(Contains(r.err, "did you mean export?")) << r.err;
  // Nothing was created by a mistyped command.
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/.baton"));
}

TEST(CliUsage, AnUnknownFlagIsNamedWithSuggestions) {
  TempDir dir;
  auto r = RunBaton(dir.path(), {"run", "--nocache", "pipeline.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "baton: error: unknown flag '--nocache' for 'baton run'")) << r.err;
  EXPECT_TRUE(Contains(r.err, "did you mean --no-cache?")) << r.err;
  EXPECT_TRUE(Contains(r.err, "see 'baton run --help'")) << r.err;
  r = RunBaton(dir.path(), {"runs", "list", "extra"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "baton: error: unexpected argument for 'baton runs list': 'extra'"))
      << r.err;
  r = RunBaton(dir.path(), {"runs", "list", "-o", "yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "baton: error: ")) << r.err;
  EXPECT_TRUE(Contains(r.err, "yaml")) << r.err;
}

TEST(CliUsage, BareGroupsListTheirCommands) {
  TempDir dir;
  auto r = RunBaton(dir.path(), {"runs"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "Usage: baton runs")) << r.out;
  for (const char* sub : {"list", "show", "logs", "stop", "resume"})
    EXPECT_TRUE(Contains(r.out, std::string("\n  ") + sub + " ")) << sub << "\n" << r.out;
  r = RunBaton(dir.path(), {});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* sub : {"init", "run", "runs", "artifacts", "store"})
    EXPECT_TRUE(Contains(r.out, std::string("\n  ") + sub + " ")) << sub << "\n" << r.out;
}

TEST(CliUsage, HelpCommandIsTheHelpFlag) {
  TempDir dir;
  auto help = RunBaton(dir.path(), {"help", "runs", "list"});
  auto flag = RunBaton(dir.path(), {"runs", "list", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_EQ(help.out, flag.out);
  EXPECT_TRUE(Contains(help.out, "Usage: baton runs list")) << help.out;
  auto top = RunBaton(dir.path(), {"help"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_EQ(top.out, RunBaton(dir.path(), {"--help"}).out);
  auto unknown = RunBaton(dir.path(), {"help", "runz"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(Contains(unknown.err, "unknown command 'runz'")) << unknown.err;
}

std::vector<std::string> TopLevelNames(CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* c : app.get_subcommands([](CLI::App*) { return true; }))
    names.push_back(c->get_name());
  std::sort(names.begin(), names.end());
  return names;
}

// A command line builds only the group of the command it names; each group's listed names are
// exactly what its function adds, so no command can be missing from the tree its line builds.
TEST(CliUsage, EachCommandLineBuildsItsOwnGroup) {
  std::vector<std::string> listed;
  for (const auto& [names, add] : cli::CommandGroups()) {
    CLI::App alone;
    add(alone);
    std::vector<std::string> want = names;
    std::sort(want.begin(), want.end());
    if (names.empty()) {  // the tools group: every name it adds is its own
      for (const std::string& n : TopLevelNames(alone)) listed.push_back(n);
    } else {
      EXPECT_EQ(TopLevelNames(alone), want);
      listed.insert(listed.end(), names.begin(), names.end());
    }
  }
  std::sort(listed.begin(), listed.end());
  CLI::App all;
  cli::AddCommands(all, "");
  EXPECT_EQ(TopLevelNames(all), listed);
  CLI::App runs;
  cli::AddCommands(runs, "runs");
  EXPECT_EQ(TopLevelNames(runs), std::vector<std::string>{"runs"});
  CLI::App stack;
  cli::AddCommands(stack, "orchestrator");
  EXPECT_EQ(TopLevelNames(stack).size(), 5u);
  CLI::App unknown;
  cli::AddCommands(unknown, "runz");
  EXPECT_EQ(TopLevelNames(unknown), listed);
}

TEST(CliUsage, VersionFlags) {
  TempDir dir;
  for (const char* flag : {"-v", "--version"}) {
    auto r = RunBaton(dir.path(), {flag});
    EXPECT_EQ(r.exit_code, 0) << flag;
    EXPECT_TRUE(Contains(r.out, "baton ")) << flag << ": " << r.out;
  }
}

TEST(CliUsage, ErrorsWithoutALocationSayBatonError) {
  TempDir dir;
  auto r = RunBaton(dir.path(), {"run", dir.path() + "/missing.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("baton: error: ", 0), 0u) << r.err;
  // A pipeline's own errors keep FILE:LINE:COLUMN first, as compilers print them.
  dir.Write("bad.yaml", "name: x\nsteps:\n  a:\n    run: echo\n    retries: abc\n");
  r = RunBaton(dir.path(), {"run", "bad.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "bad.yaml:5:14: error: ")) << r.err;
}

TEST(CliUsage, BatonDirOnAnyDirectoryIsNotMadeAWorkspaceByAReadOnlyCommand) {
  TempDir dir;
  const std::string plain = dir.path() + "/plain";
  std::filesystem::create_directory(plain);
  auto r = RunBaton(dir.path(), {"runs", "list"}, {"BATON_DIR=" + plain});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "baton: error: BATON_DIR=" + plain + " is not a baton workspace"))
      << r.err;
  EXPECT_TRUE(std::filesystem::is_empty(plain)) << "a read-only command wrote into BATON_DIR";
  // `baton init` makes it one; then it is used.
  r = RunBaton(dir.path(), {"init"}, {"BATON_DIR=" + plain});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = RunBaton(dir.path(), {"runs", "list"}, {"BATON_DIR=" + plain});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(std::filesystem::exists(plain + "/baton.db"));
}

// The defects a new user met, each fixed.
TEST(CliDefects, LogsOfMissingAttemptsAndUnstartedSteps) {
  TempDir dir;
  dir.Write("p.yaml",
            "name: t\nsteps:\n  a:\n    run: echo hi; exit 3\n    retries: 1\n"
            "  b:\n    run: echo b\n    after: [a]\n");
  auto r = RunBaton(dir.path(), {"run", "p.yaml"});
  ASSERT_EQ(r.exit_code, 1) << Describe(r);
  r = RunBaton(dir.path(), {"runs", "logs", "last", "a", "--attempt", "5"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "step a has no attempt 5 (attempts: 1-2)")) << r.err;
  r = RunBaton(dir.path(), {"runs", "logs", "last", "b"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "no log for b (it was skipped: upstream step 'a' failed)")) << r.err;
  r = RunBaton(dir.path(), {"runs", "logs", "last", "c"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "has no step 'c'")) << r.err;
  r = RunBaton(dir.path(), {"runs", "logs", "last", "aa"});
  EXPECT_TRUE(Contains(r.err, "did you mean a?")) << r.err;
  // runs show names the failed step and why.
  r = RunBaton(dir.path(), {"runs", "show", "last"});
  EXPECT_TRUE(Contains(r.out, "failed step:  a (attempt 2): exited with code 3")) << r.out;
}

TEST(CliDefects, LogsOfAStepThatHasNotStartedYet) {
  TempDir dir;
  dir.Write("p.yaml",
            "name: t\nsteps:\n  a:\n    run: sleep 3\n  b:\n    run: echo b\n    after: [a]\n");
  pid_t pid = SpawnBaton(dir.path(), {"run", "p.yaml"}, dir.path() + "/out", dir.path() + "/err");
  ASSERT_GT(pid, 0);
  CommandResult r;
  for (int i = 0; i < 100; ++i) {
    r = RunBaton(dir.path(), {"runs", "logs", "last", "b"});
    if (Contains(r.err, "not started yet")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "step b of run")) << r.err;
  EXPECT_TRUE(Contains(r.err, "has not started yet")) << r.err;
  EXPECT_EQ(WaitExit(pid), 0);
}

TEST(CliDefects, ResumeOfACompletedRunRefusesBeforeSayingAnything) {
  TempDir dir;
  dir.Write("p.yaml", "name: one\nsteps:\n  a:\n    run: echo a\n");
  auto r = RunBaton(dir.path(), {"run", "p.yaml"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "run one: 1 step\n")) << r.out;
  r = RunBaton(dir.path(), {"runs", "resume", "last"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_TRUE(Contains(r.err, "already completed")) << r.err;
}

TEST(CliDefects, DryRunHonoursJsonAndTheStack) {
  TempDir dir;
  dir.Write("p.yaml",
            "name: d\nsteps:\n  a:\n    run: |\n      echo one\n      echo two\n"
            "  b:\n    run: echo b\n    after: [a]\n");
  auto r = RunBaton(dir.path(), {"run", "p.yaml", "--dry-run", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j["pipeline"], "d");
  ASSERT_EQ(j["steps"].size(), 2u);
  EXPECT_EQ(j["steps"][1]["step"], "b");
  EXPECT_EQ(j["steps"][1]["waits_for"], nlohmann::json::array({"a"}));
  EXPECT_EQ(j["steps"][0]["command"], "echo one\necho two\n");
  // A multi-line command keeps the table one line a step.
  r = RunBaton(dir.path(), {"run", "p.yaml", "--dry-run"});
  EXPECT_TRUE(Contains(r.out, "echo one...")) << r.out;
  EXPECT_FALSE(Contains(r.out, "echo two")) << r.out;
  // A stack that does not exist is refused, with or without a workspace, and nothing is made.
  r = RunBaton(dir.path(), {"run", "p.yaml", "--dry-run", "--stack", "nosuch"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "no stack named 'nosuch'")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/.baton"));
  ASSERT_EQ(RunBaton(dir.path(), {"init"}).exit_code, 0);
  r = RunBaton(dir.path(), {"run", "p.yaml", "--dry-run", "--stack", "nosuch"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "nosuch")) << r.err;
}

TEST(CliDefects, FlavorsSayWhatIsBuiltInAndWhichKeysAreDurations) {
  TempDir dir;
  ASSERT_EQ(RunBaton(dir.path(), {"init"}).exit_code, 0);
  auto r = RunBaton(dir.path(), {"flavor", "unregister", "local"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "flavor 'local' is built into baton")) << r.err;
  r = RunBaton(dir.path(), {"flavor", "describe", "local"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "kill_grace    duration")) << r.out;
  EXPECT_TRUE(Contains(r.out, "max_log_size  size")) << r.out;
}

TEST(CliDefects, AStepEndedByTheRunTimeoutSaysSo) {
  TempDir dir;
  dir.Write("p.yaml", "name: s\nsteps:\n  a:\n    run: sleep 5\n");
  auto r = RunBaton(dir.path(), {"run", "p.yaml", "--timeout", "1s"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.out, "terminated: the run timed out after 1.00s")) << r.out;
  EXPECT_FALSE(Contains(r.out, "the run was stopped")) << r.out;
}

TEST(CliDefects, AFailedStepShowsTheEndOfItsLog) {
  TempDir dir;
  dir.Write("p.yaml",
            "name: f\nsteps:\n  a:\n    run: for i in $(seq 1 15); do echo line$i; done; exit 4\n");
  auto r = RunBaton(dir.path(), {"run", "p.yaml", "-q"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.out, "failed a: exited with code 4\n    | line6\n")) << r.out;
  EXPECT_TRUE(Contains(r.out, "    | line15\n")) << r.out;
  EXPECT_FALSE(Contains(r.out, "| line5\n")) << r.out;
  EXPECT_TRUE(Contains(r.out, "(last 10 lines of ")) << r.out;
}

TEST(CliDefects, MisspeltStepNamesGetSuggestionsAtTheirOwnLines) {
  TempDir dir;
  dir.Write("p.yaml",
            "name: x\nsteps:\n  load:\n    run: echo\n    outputs: [raw]\n  b:\n    run: echo\n"
            "    inputs: {r: laod.raw}\n    after:\n      - lod\n");
  auto r = RunBaton(dir.path(), {"run", "p.yaml", "--dry-run"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err,
                       "p.yaml:8:17: error: step 'b': input 'r' names unknown step 'laod'; "
                       "did you mean 'load'?"))
      << r.err;
  // Both mistakes at once; the `after` one where `after:` is, not at the step.
  EXPECT_TRUE(Contains(r.err,
                       "p.yaml:10:7: error: step 'b': 'after' names unknown step 'lod'; "
                       "did you mean 'load'?"))
      << r.err;
}

}  // namespace
}  // namespace baton::testing
