// End-to-end tests of `baton init` and `baton run`: workspaces, pipeline-file errors, failures
// and skipping, parallelism and resource pools, templates and the step environment, metadata,
// --dry-run and missing outputs. Every test drives the real baton binary.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"

namespace baton::testing {
namespace {

using Json = nlohmann::json;

bool IsDir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Exists(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

// Parses stdout of a `-o json` command, failing the test (not crashing) on bad JSON.
Json ParseJson(const CommandResult& r) {
  Json j = Json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON:\n" << r.out << "\nstderr:\n" << r.err;
  return j.is_discarded() ? Json() : j;
}

// `baton runs list -o json` in `cwd`; the number of runs recorded.
size_t RunCount(const std::string& cwd) {
  auto r = RunBaton(cwd, {"runs", "list", "-n", "0", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  Json j = ParseJson(r);
  EXPECT_TRUE(j.is_array()) << r.out;
  return j.is_array() ? j.size() : 0;
}

// `baton runs show RUN -o json`.
Json ShowRun(const std::string& cwd, const std::string& run) {
  auto r = RunBaton(cwd, {"runs", "show", run, "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return ParseJson(r);
}

// The (only, or latest attempt's) step entry named `step` in a `runs show -o json` document.
Json StepOf(const Json& run, const std::string& step) {
  Json found;
  if (run.contains("steps"))
    for (const auto& s : run["steps"])
      if (s.value("step", "") == step) found = s;
  EXPECT_FALSE(found.is_null()) << "no step '" << step << "' in " << run.dump(2);
  return found;
}

// Runs `baton run PIPELINE -o json ARGS...` in `cwd`; returns the parsed summary.
Json RunJsonSummary(const std::string& cwd, const std::string& pipeline, std::vector<std::string> extra,
                    int want_exit, CommandResult* raw = nullptr) {
  std::vector<std::string> args = {"run", pipeline, "-o", "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = RunBaton(cwd, args);
  EXPECT_EQ(r.exit_code, want_exit) << Describe(r);
  if (raw) *raw = r;
  return ParseJson(r);
}

// True if `dir` or a directory above it holds a .baton directory (which would make the
// "outside any workspace" tests meaningless).
bool InsideSomeWorkspace(std::string dir) {
  for (;;) {
    if (IsDir(dir + "/.baton")) return true;
    if (dir.empty() || dir == "/") return false;
    auto slash = dir.rfind('/');
    dir = slash == 0 ? "/" : dir.substr(0, slash);
  }
}

// Every path below `root` (relative), for "nothing was written" checks.
std::set<std::string> Listing(const std::string& root) {
  auto r = RunShell(root, "find . -print | LC_ALL=C sort");
  std::set<std::string> out;
  size_t b = 0;
  while (b < r.out.size()) {
    size_t e = r.out.find('\n', b);
    if (e == std::string::npos) e = r.out.size();
    if (e > b) out.insert(r.out.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

double ReadNumber(const std::string& path) { return std::stod(ReadFileOrDie(path)); }

// ---------------------------------------------------------------------------------------------
// 1. Workspaces.

TEST(CliRunWorkspace, InitCreatesBatonDirectory) {
  TempDir d;
  auto r = RunBaton(d.path(), {"init"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(IsDir(d.path() + "/.baton"));
  EXPECT_TRUE(Exists(d.path() + "/.baton/baton.db"));
  EXPECT_NE(r.out.find("Initialized"), std::string::npos) << r.out;
  // A fresh workspace has no runs, and `runs list` works in it.
  EXPECT_EQ(RunCount(d.path()), 0u);
  // Initialising again is harmless and says so.
  r = RunBaton(d.path(), {"init"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("Reinitialized"), std::string::npos) << r.out;
}

TEST(CliRunWorkspace, RunOutsideWorkspaceInitialisesCurrentDirectory) {
  TempDir d;
  if (InsideSomeWorkspace(d.path())) GTEST_SKIP() << d.path() << " lies inside a baton workspace";
  std::string p = d.Write("p.yaml", "name: hello\nsteps:\n  a:\n    run: echo hi\n");
  auto r = RunBaton(d.path(), {"run", p});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(IsDir(d.path() + "/.baton"));
  EXPECT_NE(r.err.find("initialized"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(d.path() + "/.baton"), std::string::npos) << r.err;
  EXPECT_EQ(RunCount(d.path()), 1u);
  // The second run finds the workspace and does not announce anything.
  r = RunBaton(d.path(), {"run", p});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.err.find("initialized"), std::string::npos) << r.err;
  EXPECT_EQ(RunCount(d.path()), 2u);
}

TEST(CliRunWorkspace, WorkspaceIsFoundFromSubdirectory) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  std::string p = d.Write("sub/deeper/p.yaml", "name: nested\nsteps:\n  a:\n    run: echo hi\n");
  std::string sub = d.path() + "/sub/deeper";
  auto r = RunBaton(sub, {"run", "p.yaml"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.err.find("initialized"), std::string::npos) << r.err;
  EXPECT_FALSE(Exists(sub + "/.baton"));
  EXPECT_FALSE(Exists(d.path() + "/sub/.baton"));
  // The run was recorded in the workspace at the top, and is visible from anywhere below it.
  EXPECT_EQ(RunCount(d.path()), 1u);
  EXPECT_EQ(RunCount(sub), 1u);
  Json run = ShowRun(d.path() + "/sub", "last");
  EXPECT_EQ(run.value("pipeline", ""), "nested");
  EXPECT_EQ(run.value("status", ""), "completed");
}

// ---------------------------------------------------------------------------------------------
// 2. Bad input: exit 2, file:line:col diagnostics, nothing written.

struct BadPipeline {
  const char* what;
  const char* yaml;
  const char* location;  // ":line:col: error: " expected right after the file name
  const char* message;   // expected in the diagnostic
};

const BadPipeline kBadPipelines[] = {
    {"unknown key",
     "name: bad\n"
     "steps:\n"
     "  a:\n"
     "    run: echo a\n"
     "    outputz: [x]\n",
     ":5:5: error: ", "unknown key 'outputz'"},
    {"cycle",
     "name: cyc\n"
     "steps:\n"
     "  a:\n"
     "    run: echo a\n"
     "    after: [b]\n"
     "  b:\n"
     "    run: echo b\n"
     "    after: [a]\n",
     nullptr, "dependency cycle"},
    {"unknown producer",
     "name: prod\n"
     "steps:\n"
     "  a:\n"
     "    run: cat {{inputs.x}}\n"
     "    inputs: {x: nosuch.out}\n",
     ":5:17: error: ", "unknown step 'nosuch'"},
};

void ExpectDiagnostic(const CommandResult& r, const std::string& file, const BadPipeline& bad) {
  EXPECT_EQ(r.exit_code, 2) << bad.what << "\n" << Describe(r);
  // Every diagnostic line is "FILE:LINE:COL: error: MESSAGE".
  std::regex line_re("^" + std::regex_replace(file, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                     R"(:[0-9]+:[0-9]+: error: .+)");
  std::string first = r.err.substr(0, r.err.find('\n'));
  EXPECT_TRUE(std::regex_match(first, line_re)) << bad.what << ": " << r.err;
  if (bad.location) {
    EXPECT_EQ(r.err.rfind(file + bad.location, 0), 0u) << bad.what << ": " << r.err;
  }
  EXPECT_NE(r.err.find(bad.message), std::string::npos) << bad.what << ": " << r.err;
  EXPECT_TRUE(r.out.empty() || r.out.find("run ") == std::string::npos) << bad.what << ": " << r.out;
}

TEST(CliRunBadInput, BadPipelineOutsideWorkspaceExits2AndCreatesNothing) {
  TempDir d;
  if (InsideSomeWorkspace(d.path())) GTEST_SKIP() << d.path() << " lies inside a baton workspace";
  for (const auto& bad : kBadPipelines) {
    std::string file = d.Write("bad.yaml", bad.yaml);
    auto before = Listing(d.path());
    auto r = RunBaton(d.path(), {"run", file});
    ExpectDiagnostic(r, file, bad);
    EXPECT_FALSE(Exists(d.path() + "/.baton")) << bad.what;
    EXPECT_EQ(Listing(d.path()), before) << bad.what;
  }
}

TEST(CliRunBadInput, BadPipelineInWorkspaceRecordsNothing) {
  TempDir d;
  std::string good = d.Write("good.yaml", "name: good\nsteps:\n  a:\n    run: echo a\n");
  ASSERT_EQ(RunBaton(d.path(), {"run", good}).exit_code, 0);
  ASSERT_EQ(RunCount(d.path()), 1u);
  for (const auto& bad : kBadPipelines) {
    std::string file = d.Write("bad.yaml", bad.yaml);
    auto before = Listing(d.path() + "/.baton");
    auto r = RunBaton(d.path(), {"run", file});
    ExpectDiagnostic(r, file, bad);
    EXPECT_EQ(Listing(d.path() + "/.baton"), before) << bad.what;
    EXPECT_EQ(RunCount(d.path()), 1u) << bad.what;
  }
}

TEST(CliRunBadInput, RelativePipelinePathIsNamedAsGiven) {
  TempDir d;
  d.Write("bad.yaml", kBadPipelines[0].yaml);
  auto r = RunBaton(d.path(), {"run", "bad.yaml"});
  ExpectDiagnostic(r, "bad.yaml", kBadPipelines[0]);
}

TEST(CliRunBadInput, BadParameterOverridesExit2) {
  TempDir d;
  if (InsideSomeWorkspace(d.path())) GTEST_SKIP() << d.path() << " lies inside a baton workspace";
  std::string p = d.Write("p.yaml",
                          "name: params\n"
                          "parameters: {n: 3, ratio: 0.5, flag: true, label: x}\n"
                          "steps:\n"
                          "  a:\n"
                          "    run: echo {{params.n}} {{params.ratio}} {{params.flag}} {{params.label}}\n");
  struct Case {
    std::string arg, message;
  } cases[] = {
      {"nosuch=1", "unknown parameter 'nosuch'"},
      {"n=abc", "parameter 'n'"},
      {"n=1.5", "parameter 'n'"},
      {"ratio=fast", "parameter 'ratio'"},
      {"flag=maybe", "parameter 'flag'"},
      {"novalue", "NAME=VALUE"},
  };
  for (const auto& c : cases) {
    auto r = RunBaton(d.path(), {"run", p, "-p", c.arg});
    EXPECT_EQ(r.exit_code, 2) << c.arg << "\n" << Describe(r);
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.arg << ": " << r.err;
    EXPECT_FALSE(Exists(d.path() + "/.baton")) << c.arg;
  }
  // Well-typed overrides are accepted (and a string parameter takes anything).
  auto r = RunBaton(d.path(), {"run", p, "-p", "n=4", "-p", "ratio=2", "-p", "flag=false", "-p", "label=1.5"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
}

// ---------------------------------------------------------------------------------------------
// 3. A failing step: dependents skipped, independent branch completes, no artifacts.

TEST(CliRunFailure, FailedStepSkipsDependentsAndKeepsIndependentBranch) {
  TempDir d;
  std::string p = d.Write("p.yaml", R"Y(name: failing
steps:
  a:
    run: echo a > {{outputs.out}}
    outputs: [out]
  b:
    run: "echo partial-output-of-b > {{outputs.out}}; echo b-was-here; exit 3"
    inputs: {x: a.out}
    outputs: [out]
  c:
    run: cat {{inputs.y}} > {{outputs.out}}
    inputs: {y: b.out}
    outputs: [out]
  d:
    run: echo d
    after: [c]
  e:
    run: echo e > {{outputs.out}}
    outputs: [out]
)Y");
  Json sum = RunJsonSummary(d.path(), p, {}, 1);
  EXPECT_EQ(sum.value("status", ""), "failed");
  EXPECT_EQ(sum.value("completed", -1), 2);
  EXPECT_EQ(sum.value("failed", -1), 1);
  EXPECT_EQ(sum.value("skipped", -1), 2);
  EXPECT_EQ(sum.value("cached", -1), 0);
  std::string run_id = sum.value("run", "");
  ASSERT_FALSE(run_id.empty());

  // The table form exits 1 as well.
  auto table = RunBaton(d.path(), {"run", p});
  EXPECT_EQ(table.exit_code, 1) << Describe(table);

  Json run = ShowRun(d.path(), run_id);
  EXPECT_EQ(run.value("status", ""), "failed");
  ASSERT_EQ(run["steps"].size(), 5u) << run.dump(2);
  Json b = StepOf(run, "b");
  EXPECT_EQ(b.value("status", ""), "failed");
  EXPECT_NE(b.value("reason", "").find("exited with code 3"), std::string::npos) << b.dump(2);
  EXPECT_EQ(b.value("exit_code", -1), 3);
  EXPECT_TRUE(b["outputs"].is_object() && b["outputs"].empty()) << b.dump(2);
  EXPECT_EQ(b["inputs"].size(), 1u);  // what the failing step read is kept
  for (const char* dep : {"c", "d"}) {
    Json s = StepOf(run, dep);
    EXPECT_EQ(s.value("status", ""), "skipped") << dep;
    EXPECT_NE(s.value("reason", "").find("'b'"), std::string::npos) << dep << ": " << s.dump(2);
    EXPECT_TRUE(s["outputs"].empty()) << dep;
  }
  for (const char* ok : {"a", "e"}) {
    Json s = StepOf(run, ok);
    EXPECT_EQ(s.value("status", ""), "completed") << ok;
    EXPECT_EQ(s["outputs"].size(), 1u) << ok;
  }

  auto arts = RunBaton(d.path(), {"artifacts", "list", "--run", run_id, "-o", "json"});
  ASSERT_EQ(arts.exit_code, 0) << Describe(arts);
  Json aj = ParseJson(arts);
  ASSERT_TRUE(aj.is_array());
  std::multiset<std::string> steps;
  for (const auto& a : aj) {
    steps.insert(a.value("step", ""));
    EXPECT_EQ(a.value("run", ""), run_id);
  }
  EXPECT_EQ(steps, (std::multiset<std::string>{"a", "e"})) << aj.dump(2);

  // The partial output of b did not reach the store under any name.
  auto digest = RunShell(d.path(), "printf 'partial-output-of-b\\n' | sha256sum | cut -d' ' -f1");
  std::string dg = digest.out.substr(0, 64);
  EXPECT_FALSE(Exists(d.path() + "/.baton/artifacts/sha256/" + dg.substr(0, 2) + "/" + dg));
  auto all = RunBaton(d.path(), {"artifacts", "list", "-n", "0", "-o", "json"});
  for (const auto& a : ParseJson(all)) EXPECT_NE(a.value("step", ""), "b") << a.dump();
}

// ---------------------------------------------------------------------------------------------
// 4. Parallelism and resource pools.

struct Interval {
  double start, end;
};

// Two independent steps that each record when they start and end and sleep 1 s in between.
std::string TwoSleepers(const TempDir& d, const std::string& extra_pipeline, const std::string& extra_step) {
  std::string y = "name: sleepers\n" + extra_pipeline + "steps:\n";
  for (const char* s : {"s1", "s2"}) {
    std::string f = d.path() + "/" + s;
    y += std::string("  ") + s + ":\n    run: \"date +%s.%N > " + f + ".start; sleep 1; date +%s.%N > " + f +
         ".end\"\n" + extra_step;
  }
  return d.Write("sleepers.yaml", y);
}

Interval ReadInterval(const TempDir& d, const std::string& s) {
  return {ReadNumber(d.path() + "/" + s + ".start"), ReadNumber(d.path() + "/" + s + ".end")};
}

bool Overlap(const Interval& a, const Interval& b) { return std::max(a.start, b.start) < std::min(a.end, b.end); }

TEST(CliRunParallel, IndependentStepsOverlapWithTwoJobs) {
  TempDir d;
  std::string p = TwoSleepers(d, "", "");
  auto r = RunBaton(d.path(), {"run", p, "-j", "2"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Interval a = ReadInterval(d, "s1"), b = ReadInterval(d, "s2");
  EXPECT_TRUE(Overlap(a, b)) << "s1 " << a.start << ".." << a.end << ", s2 " << b.start << ".." << b.end;
}

TEST(CliRunParallel, OneJobRunsStepsOneAtATime) {
  TempDir d;
  std::string p = TwoSleepers(d, "", "");
  auto r = RunBaton(d.path(), {"run", p, "-j", "1"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Interval a = ReadInterval(d, "s1"), b = ReadInterval(d, "s2");
  EXPECT_FALSE(Overlap(a, b)) << "s1 " << a.start << ".." << a.end << ", s2 " << b.start << ".." << b.end;
}

TEST(CliRunParallel, UserPoolOfOneSerialisesStepsEvenWithFourJobs) {
  TempDir d;
  std::string p = TwoSleepers(d, "pools: {lic: 1}\n", "    resources: {lic: 1}\n");
  auto r = RunBaton(d.path(), {"run", p, "-j", "4"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Interval a = ReadInterval(d, "s1"), b = ReadInterval(d, "s2");
  EXPECT_FALSE(Overlap(a, b)) << "s1 " << a.start << ".." << a.end << ", s2 " << b.start << ".." << b.end;
  // The plan shows the pool request.
  auto plan = RunBaton(d.path(), {"run", p, "-j", "4", "--dry-run"});
  EXPECT_EQ(plan.exit_code, 0) << Describe(plan);
  EXPECT_NE(plan.out.find("lic=1"), std::string::npos) << plan.out;
}

TEST(CliRunParallel, RequestAboveAPoolsCapacityFailsAtOnce) {
  TempDir d;
  std::string p = d.Write("p.yaml",
                          "name: greedy\npools: {lic: 1}\nsteps:\n"
                          "  big:\n    run: echo big\n    resources: {lic: 2}\n"
                          "  small:\n    run: echo small\n");
  Json sum = RunJsonSummary(d.path(), p, {}, 1);
  EXPECT_EQ(sum.value("failed", -1), 1);
  EXPECT_EQ(sum.value("completed", -1), 1);
  Json big = StepOf(ShowRun(d.path(), sum.value("run", "")), "big");
  EXPECT_EQ(big.value("status", ""), "failed");
  EXPECT_NE(big.value("reason", "").find("lic"), std::string::npos) << big.dump(2);
}

// ---------------------------------------------------------------------------------------------
// 6. Templates, the step environment, metadata.

TEST(CliRunTemplates, StringCommandShellQuotesParameters) {
  TempDir d;
  // A value with spaces, both kinds of quotes and shell metacharacters must arrive verbatim.
  std::string p = d.Write("p.yaml", R"Y(name: quoting
parameters:
  x: 'it''s a "quoted"  value; $HOME `id` *'
steps:
  q:
    run: printf '%s' {{params.x}} > {{outputs.o}}
    outputs: [o]
)Y");
  Json sum = RunJsonSummary(d.path(), p, {}, 0);
  Json run = ShowRun(d.path(), sum.value("run", ""));
  Json q = StepOf(run, "q");
  ASSERT_EQ(q.value("status", ""), "completed") << q.dump(2);
  auto exp = RunBaton(d.path(), {"artifacts", "export", std::to_string(q["outputs"]["o"]["id"].get<long long>()),
                                 d.path() + "/q.out"});
  ASSERT_EQ(exp.exit_code, 0) << Describe(exp);
  EXPECT_EQ(ReadFileOrDie(d.path() + "/q.out"), R"(it's a "quoted"  value; $HOME `id` *)");

  // The same through -p.
  std::string v = "a  b 'c' \"d\" $(echo no) \\n";
  sum = RunJsonSummary(d.path(), p, {"-p", "x=" + v}, 0);
  q = StepOf(ShowRun(d.path(), sum.value("run", "")), "q");
  ASSERT_EQ(q.value("status", ""), "completed") << q.dump(2);
  auto path = RunBaton(d.path(), {"artifacts", "show", std::to_string(q["outputs"]["o"]["id"].get<long long>()), "-o", "json"});
  Json aj = ParseJson(path);
  EXPECT_EQ(ReadFileOrDie(aj.value("path", "")), v);
}

TEST(CliRunTemplates, StringCommandWithoutShellSyntaxPassesValuesAsOneWord) {
  TempDir d;
  // No shell syntax in the literal parts (so baton may exec it without a shell): each template
  // value must still be exactly one argument, glued to the literal text around it.
  std::string p = d.Write("p.yaml", R"Y(name: words
parameters: {x: 'one two  three'}
steps:
  w:
    run: 'printf %s: {{params.x}}-marker plain'
)Y");
  Json sum = RunJsonSummary(d.path(), p, {}, 0);
  auto logs = RunBaton(d.path(), {"runs", "logs", sum.value("run", ""), "w"});
  ASSERT_EQ(logs.exit_code, 0) << Describe(logs);
  EXPECT_EQ(logs.out, "one two  three-marker:plain:");
}

TEST(CliRunTemplates, ListCommandIsExecutedWithExactArgv) {
  TempDir d;
  std::string p = d.Write("p.yaml", R"Y(name: argv
parameters: {x: "p q 'r' $HOME"}
steps:
  l:
    run: [/bin/sh, -c, 'for a in "$@"; do printf "[%s]\n" "$a"; done > "$0"', "{{outputs.o}}",
          "a b", "", "*", "{{params.x}}", "pre-{{params.x}}-post", "$HOME", "{{step.name}}"]
    outputs: [o]
)Y");
  Json sum = RunJsonSummary(d.path(), p, {}, 0);
  Json l = StepOf(ShowRun(d.path(), sum.value("run", "")), "l");
  auto show = RunBaton(d.path(), {"artifacts", "show", std::to_string(l["outputs"]["o"]["id"].get<long long>()), "-o", "json"});
  Json aj = ParseJson(show);
  EXPECT_EQ(ReadFileOrDie(aj.value("path", "")),
            "[a b]\n[]\n[*]\n[p q 'r' $HOME]\n[pre-p q 'r' $HOME-post]\n[$HOME]\n[l]\n");
}

std::map<std::string, std::string> ParseEnvDump(const std::string& text) {
  std::map<std::string, std::string> env;
  size_t b = 0;
  while (b < text.size()) {
    size_t e = text.find('\n', b);
    if (e == std::string::npos) e = text.size();
    std::string line = text.substr(b, e - b);
    auto eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
    b = e + 1;
  }
  return env;
}

TEST(CliRunTemplates, StepEnvironment) {
  TempDir d;
  std::string p = d.Write("p.yaml", R"Y(name: envs
parameters: {used_param: 7, unused_param: nope, other: hello}
steps:
  make-data:
    run: printf payload > {{outputs.the-data}}
    outputs: [the-data]
  show:
    run: 'env | grep -E "^(BATON_|MY_|PLAIN_)" > {{outputs.env-dump}}; test "$BATON_OUTPUT_ENV_DUMP" = {{outputs.env-dump}} && test "$BATON_INPUT_IN_DATA" = {{inputs.in-data}} && echo {{params.used_param}}'
    inputs: {in-data: make-data.the-data}
    outputs: [env-dump]
    env:
      MY_VAR: "v-{{params.other}}"
      PLAIN_VAR: "spaced value"
)Y");
  Json sum = RunJsonSummary(d.path(), p, {}, 0);
  std::string run_id = sum.value("run", "");
  Json run = ShowRun(d.path(), run_id);
  Json show = StepOf(run, "show");
  ASSERT_EQ(show.value("status", ""), "completed") << show.dump(2);
  auto art = ParseJson(RunBaton(d.path(), {"artifacts", "show",
                                           std::to_string(show["outputs"]["env-dump"]["id"].get<long long>()), "-o", "json"}));
  auto env = ParseEnvDump(ReadFileOrDie(art.value("path", "")));
  EXPECT_EQ(env["BATON_RUN_ID"], run_id);
  EXPECT_EQ(env["BATON_STEP"], "show");
  EXPECT_EQ(env["BATON_PARAM_USED_PARAM"], "7");
  EXPECT_EQ(env["BATON_PARAM_OTHER"], "hello");  // referenced from env:
  EXPECT_EQ(env.count("BATON_PARAM_UNUSED_PARAM"), 0u);
  ASSERT_EQ(env.count("BATON_INPUT_IN_DATA"), 1u);
  EXPECT_EQ(ReadFileOrDie(env["BATON_INPUT_IN_DATA"]), "payload");
  EXPECT_EQ(env.count("BATON_OUTPUT_ENV_DUMP"), 1u);
  EXPECT_EQ(env.count("BATON_METADATA"), 1u);
  EXPECT_FALSE(env["BATON_METADATA"].empty());
  // The producer's own environment names its output the same way.
  Json make = StepOf(run, "make-data");
  EXPECT_EQ(make.value("status", ""), "completed");
}

TEST(CliRunTemplates, EnvSettingReachesTheStep) {
  TempDir d;
  std::string p = d.Write("p.yaml", R"Y(name: envsetting
parameters: {other: hello}
defaults:
  env: {FROM_DEFAULTS: dflt, OVERRIDDEN: by-defaults}
steps:
  show:
    run: 'echo "[$MY_VAR][$PLAIN_VAR][$HOME][$FROM_DEFAULTS][$OVERRIDDEN]"'
    env:
      MY_VAR: "v-{{params.other}}"
      PLAIN_VAR: "spaced  value"
      HOME: /elsewhere
      OVERRIDDEN: by-step
)Y");
  Json sum = RunJsonSummary(d.path(), p, {}, 0);
  auto logs = RunBaton(d.path(), {"runs", "logs", sum.value("run", ""), "show"});
  ASSERT_EQ(logs.exit_code, 0) << Describe(logs);
  EXPECT_EQ(logs.out, "[v-hello][spaced  value][/elsewhere][dflt][by-step]\n");
}

TEST(CliRunTemplates, StepMetadataIsRecorded) {
  TempDir d;
  std::string p = d.Write("p.yaml", R"Y(name: meta
steps:
  good:
    run: 'echo "{\"accuracy\": 0.75, \"n\": 3, \"tag\": \"x y\"}" > "$BATON_METADATA"'
  none:
    run: echo no metadata
)Y");
  Json sum = RunJsonSummary(d.path(), p, {}, 0);
  Json run = ShowRun(d.path(), sum.value("run", ""));
  Json good = StepOf(run, "good");
  EXPECT_EQ(good["metadata"], Json::parse(R"({"accuracy": 0.75, "n": 3, "tag": "x y"})")) << good.dump(2);
  EXPECT_TRUE(StepOf(run, "none")["metadata"].is_null());
}

TEST(CliRunTemplates, InvalidMetadataFailsTheStep) {
  TempDir d;
  std::string p = d.Write("p.yaml", R"Y(name: badmeta
steps:
  broken:
    run: echo "{not json" > "$BATON_METADATA"
  array:
    run: echo "[1, 2]" > "$BATON_METADATA"
  after-broken:
    run: echo never
    after: [broken]
)Y");
  Json sum = RunJsonSummary(d.path(), p, {}, 1);
  EXPECT_EQ(sum.value("failed", -1), 2);
  EXPECT_EQ(sum.value("skipped", -1), 1);
  Json run = ShowRun(d.path(), sum.value("run", ""));
  for (const char* s : {"broken", "array"}) {
    Json st = StepOf(run, s);
    EXPECT_EQ(st.value("status", ""), "failed") << s;
    EXPECT_NE(st.value("reason", "").find("BATON_METADATA"), std::string::npos) << st.dump(2);
    EXPECT_EQ(st.value("exit_code", -1), 0) << s;  // the command itself succeeded
  }
  EXPECT_EQ(StepOf(run, "after-broken").value("status", ""), "skipped");
}

// ---------------------------------------------------------------------------------------------
// 8. --dry-run and `run -o json`.

TEST(CliRunDryRun, PrintsThePlanAndRecordsNothing) {
  TempDir d;
  if (InsideSomeWorkspace(d.path())) GTEST_SKIP() << d.path() << " lies inside a baton workspace";
  std::string marker = d.path() + "/ran";
  std::string p = d.Write("p.yaml", "name: plan\nsteps:\n"
                                    "  first:\n    run: touch " + marker + " {{outputs.o}}\n    outputs: [o]\n"
                                    "  second:\n    run: cat {{inputs.i}}\n    inputs: {i: first.o}\n"
                                    "  third:\n    run: echo hi\n    after: [second]\n");
  auto r = RunBaton(d.path(), {"run", p, "--dry-run", "-j", "3"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("pipeline plan: 3 steps, -j 3"), std::string::npos) << r.out;
  for (const char* s : {"first", "second", "third"}) EXPECT_NE(r.out.find(s), std::string::npos) << s;
  // Dependencies appear in order: first before second before third.
  EXPECT_LT(r.out.find("\n0 "), r.out.find("\n1 ")) << r.out;
  EXPECT_LT(r.out.find("first"), r.out.find("second"));
  EXPECT_LT(r.out.find("second"), r.out.find("third"));
  EXPECT_FALSE(Exists(marker));
  EXPECT_FALSE(Exists(d.path() + "/.baton"));  // not even a workspace

  // In a workspace: still nothing recorded.
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  auto before = Listing(d.path() + "/.baton");
  r = RunBaton(d.path(), {"run", p, "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Listing(d.path() + "/.baton"), before);
  EXPECT_EQ(RunCount(d.path()), 0u);
  EXPECT_FALSE(Exists(marker));
}

TEST(CliRunDryRun, RunJsonOutputHasStatusAndCounts) {
  TempDir d;
  std::string p = d.Write("p.yaml", "name: counts\nsteps:\n"
                                    "  a:\n    run: echo a > {{outputs.o}}\n    outputs: [o]\n"
                                    "  b:\n    run: cat {{inputs.i}}\n    inputs: {i: a.o}\n"
                                    "  c:\n    run: echo c\n");
  CommandResult raw;
  Json sum = RunJsonSummary(d.path(), p, {}, 0, &raw);
  EXPECT_EQ(sum.value("status", ""), "completed");
  EXPECT_EQ(sum.value("completed", -1), 3);
  EXPECT_EQ(sum.value("cached", -1), 0);
  EXPECT_EQ(sum.value("failed", -1), 0);
  EXPECT_EQ(sum.value("skipped", -1), 0);
  EXPECT_EQ(sum.value("reason", "?"), "");
  EXPECT_TRUE(sum["duration_s"].is_number());
  std::string id = sum.value("run", "");
  EXPECT_EQ(id.rfind("counts-", 0), 0u) << id;
  EXPECT_EQ(ShowRun(d.path(), id).value("id", ""), id);
  // The second run hits the cache for every step; stdout is still one JSON document.
  sum = RunJsonSummary(d.path(), p, {}, 0);
  EXPECT_EQ(sum.value("status", ""), "completed");
  EXPECT_EQ(sum.value("cached", -1), 3);
  EXPECT_EQ(sum.value("completed", -1), 0);
  sum = RunJsonSummary(d.path(), p, {"--no-cache"}, 0);
  EXPECT_EQ(sum.value("completed", -1), 3);
}

// ---------------------------------------------------------------------------------------------
// 10. Missing outputs.

TEST(CliRunOutputs, StepThatDoesNotWriteADeclaredOutputFails) {
  TempDir d;
  std::string p = d.Write("p.yaml", R"Y(name: missing
steps:
  half:
    run: echo written > {{outputs.present}}
    outputs: [present, absent-one]
  reader:
    run: cat {{inputs.x}}
    inputs: {x: half.present}
)Y");
  Json sum = RunJsonSummary(d.path(), p, {}, 1);
  Json run = ShowRun(d.path(), sum.value("run", ""));
  Json half = StepOf(run, "half");
  EXPECT_EQ(half.value("status", ""), "failed");
  EXPECT_EQ(half.value("exit_code", -1), 0);
  EXPECT_NE(half.value("reason", "").find("'absent-one'"), std::string::npos) << half.dump(2);
  EXPECT_TRUE(half["outputs"].empty()) << half.dump(2);
  EXPECT_EQ(StepOf(run, "reader").value("status", ""), "skipped");
  // The output that was written is not published either.
  auto arts = ParseJson(RunBaton(d.path(), {"artifacts", "list", "--run", sum.value("run", ""), "-o", "json"}));
  EXPECT_TRUE(arts.is_array() && arts.empty()) << arts.dump(2);
}

// libpq and libcurl load when a store needs them, not at start-up.
TEST(ClientLibraries, CommandsWithoutATeamStoreDoNotLoadThem) {
  TempDir ws;
  ASSERT_EQ(RunBaton(ws.path(), {"init"}).exit_code, 0);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--version"}, {"runs", "list"}, {"dag", "-o", "text", "p.yaml"}}) {
    ws.Write("p.yaml", "name: p\nsteps:\n  a:\n    run: \"true\"\n");
    auto r = RunBaton(ws.path(), args, {"LD_DEBUG=files"});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    EXPECT_NE(r.err.find("libc.so"), std::string::npos) << "LD_DEBUG output missing";
    EXPECT_EQ(r.err.find("libpq"), std::string::npos) << args[0];
    EXPECT_EQ(r.err.find("libcurl"), std::string::npos) << args[0];
  }
}

TEST(ClientLibraries, AMissingLibraryIsAnErrorThatNamesItAndItsPackage) {
  TempDir ws;
  ASSERT_EQ(RunBaton(ws.path(), {"init"}).exit_code, 0);
  auto r = RunBaton(ws.path(), {"runs", "list"},
                    {"BATON_LIBPQ=/nonexistent/libpq.so.5",
                     "BATON_METADATA_URI=postgresql://nobody@127.0.0.1:1/none"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("cannot load /nonexistent/libpq.so.5 (Debian package libpq5"),
            std::string::npos)
      << r.err;

  ASSERT_EQ(RunBaton(ws.path(), {"artifact-store", "register", "s3", "--flavor", "s3", "--set",
                                 "bucket=bucket", "--set", "endpoint=http://127.0.0.1:1"})
                .exit_code,
            0);
  ASSERT_EQ(RunBaton(ws.path(), {"stack", "register", "team", "--orchestrator", "default",
                                 "--artifact-store", "s3", "--set"})
                .exit_code,
            0);
  ws.Write("p.yaml", "name: p\nsteps:\n  a:\n    run: \"true\"\n");
  // libcurl loads at the store's first request (storing the run's snapshot), once the store
  // opened with its credentials.
  r = RunBaton(ws.path(), {"run", "p.yaml"},
               {"BATON_LIBCURL=/nonexistent/libcurl.so.4", "AWS_ACCESS_KEY_ID=k", "AWS_SECRET_ACCESS_KEY=s"});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.err.find("cannot load /nonexistent/libcurl.so.4 (Debian package libcurl4"),
            std::string::npos)
      << r.err;
  // Nothing was recorded as run.
  auto list = RunBaton(ws.path(), {"runs", "list", "-o", "json"});
  ASSERT_EQ(list.exit_code, 0) << Describe(list);
  EXPECT_EQ(nlohmann::json::parse(list.out).size(), 0u) << list.out;
}

}  // namespace
}  // namespace baton::testing
