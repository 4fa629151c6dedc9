// Shell completion (scripts driven in real bash, zsh and fish), `baton dag` (text, Graphviz,
// Mermaid), and the command reference docs/cli.md generated from the commands themselves.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace baton::testing {
namespace {

using Words = std::vector<std::string>;
using Set = std::set<std::string>;

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

Set Lines(const std::string& text) {
  Set out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.insert(line.substr(0, line.find('\t')));
  return out;
}

// The full path of a program on PATH, or "" when it is not installed.
std::string Which(const std::string& program) {
  auto r = RunShell("/", "command -v " + program);
  std::string path = r.out.substr(0, r.out.find('\n'));
  return r.exit_code == 0 && !path.empty() && path[0] == '/' ? path : "";
}

// The commands every completion script must know, at every level.
const Words kTopCommands = {
    "init",      "run",   "compile", "build",        "config",         "runs",
    "artifacts", "step",  "flavor",  "orchestrator", "artifact-store", "container-registry",
    "stack",     "store", "dag",     "completion"};
const Words kNestedCommands = {"template", "list", "show",     "logs",     "stop", "resume",
                               "export",   "run",  "describe", "register", "set",  "delete"};

const char* kBashDriver = R"(
source <("$BATON" completion bash) || exit 9
COMP_WORDS=("$BATON" "$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMPREPLY=()
_baton
printf '%s\n' "${COMPREPLY[@]}"
)";

// What bash offers for `baton WORDS...`, the last word being the one completed.
Set Bash(const std::string& cwd, const Words& words) {
  TempDir scratch;
  Words argv = {Which("bash"), scratch.Write("driver.bash", kBashDriver)};
  argv.insert(argv.end(), words.begin(), words.end());
  auto r = RunProgram(cwd, argv, {"BATON=" + BatonBinary()});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.err, "");
  return Lines(r.out);
}

// zsh's completion system needs a terminal; these stand-ins print what the script offers
// (_describe filtered by the word at the cursor, as zsh would).
const char* kZshDriver = R"(
compdef() { :; }
_describe() {
  local -a all; all=("${(@P)2}")
  local e n
  for e in "${all[@]}"; do
    n="${e%%:*}"; n="${n//\\/}"
    [[ "$n" == "${words[CURRENT]}"* ]] && print -r -- "$n"
  done
  return 0
}
compadd() { while [[ "$1" != -- ]]; do shift; done; shift; print -rl -- "$@"; }
_files() { print -r -- "_files $*"; }
compset() { :; }
source <("$BATON" completion zsh) || exit 9
words=("$BATON" "$@")
CURRENT=${#words}
_baton
)";

Set Zsh(const std::string& zsh, const Words& words) {
  TempDir scratch;
  Words argv = {zsh, "-f", scratch.Write("driver.zsh", kZshDriver)};
  argv.insert(argv.end(), words.begin(), words.end());
  auto r = RunProgram(scratch.path(), argv, {"BATON=" + BatonBinary()});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return Lines(r.out);
}

const char* kFishDriver = R"(
$BATON completion fish | source; or exit 9
complete -C (string join ' ' -- baton $argv)
)";

// What fish itself completes for `baton WORDS...` (complete -C).
Set Fish(const std::string& fish, const std::string& cwd, const Words& words) {
  TempDir scratch;
  Words argv = {fish, "--no-config", scratch.Write("driver.fish", kFishDriver)};
  argv.insert(argv.end(), words.begin(), words.end());
  auto r = RunProgram(cwd, argv, {"BATON=" + BatonBinary()});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return Lines(r.out);
}

// ---------------------------------------------------------------------------------------------
// completion: bash

TEST(CliCompletion, BashCompletesTopLevelCommands) {
  if (Which("bash").empty()) GTEST_SKIP() << "bash is not installed";
  TempDir d;
  EXPECT_EQ(Bash(d.path(), {"ru"}), (Set{"run", "runs"}));
  EXPECT_EQ(Bash(d.path(), {"d"}), (Set{"dag"}));  // not the hidden `docs`
  Set all = Bash(d.path(), {""});
  for (const std::string& c : kTopCommands) EXPECT_TRUE(all.count(c)) << c;
  EXPECT_TRUE(all.count("help"));
  EXPECT_FALSE(all.count("docs"));
}

TEST(CliCompletion, BashCompletesNestedCommands) {
  if (Which("bash").empty()) GTEST_SKIP() << "bash is not installed";
  TempDir d;
  EXPECT_EQ(Bash(d.path(), {"runs", "l"}), (Set{"list", "logs"}));
  EXPECT_EQ(Bash(d.path(), {"stack", "d"}), (Set{"delete", "describe"}));
  EXPECT_EQ(Bash(d.path(), {"config", ""}), (Set{"template"}));
  EXPECT_EQ(Bash(d.path(), {"artifact-store", "u"}), (Set{"update"}));
  EXPECT_EQ(Bash(d.path(), {"step", ""}), (Set{"run"}));  // `step serve` is hidden
  EXPECT_EQ(Bash(d.path(), {"help", "runs", "l"}), (Set{"list", "logs"}));
}

TEST(CliCompletion, BashCompletesFlagsOfTheCommandTyped) {
  if (Which("bash").empty()) GTEST_SKIP() << "bash is not installed";
  TempDir d;
  EXPECT_EQ(Bash(d.path(), {"run", "--no-"}), (Set{"--no-cache"}));
  EXPECT_EQ(Bash(d.path(), {"runs", "resume", "last", "--ex"}), (Set{"--explain"}));
  // The values of -c and -j are not commands or arguments: the command is still `run`.
  EXPECT_EQ(Bash(d.path(), {"run", "-c", "x.yaml", "-j", "4", "--dr"}), (Set{"--dry-run"}));
  Set list = Bash(d.path(), {"runs", "list", "-"});
  for (const char* f : {"--status", "--since", "--limit", "-n", "-o", "--output", "--help"})
    EXPECT_TRUE(list.count(f)) << f;
  EXPECT_FALSE(list.count("--no-cache"));
  EXPECT_EQ(Bash(d.path(), {"--ver"}), (Set{"--version"}));
}

TEST(CliCompletion, BashCompletesOptionValues) {
  if (Which("bash").empty()) GTEST_SKIP() << "bash is not installed";
  TempDir d;
  EXPECT_EQ(Bash(d.path(), {"runs", "list", "-o", ""}), (Set{"table", "json"}));
  EXPECT_EQ(Bash(d.path(), {"stack", "list", "--output", "j"}), (Set{"json"}));
  // bash splits --output=j into three words.
  EXPECT_EQ(Bash(d.path(), {"runs", "show", "--output", "=", ""}), (Set{"table", "json"}));
  EXPECT_EQ(Bash(d.path(), {"dag", "-o", ""}), (Set{"text", "dot", "mermaid"}));
  EXPECT_EQ(Bash(d.path(), {"run", "--failure-mode", ""}), (Set{"continue", "stop", "fail_fast"}));
  EXPECT_EQ(Bash(d.path(), {"completion", ""}), (Set{"bash", "zsh", "fish"}));
}

TEST(CliCompletion, BashCompletesPipelineFilesAndRunIds) {
  if (Which("bash").empty()) GTEST_SKIP() << "bash is not installed";
  TempDir d;
  d.Write("p.yaml", "name: p\nsteps:\n  a:\n    run: 'true'\n");
  d.Write("q.yml", "");
  d.Write("notes.txt", "");
  d.Write("sub/x.yaml", "");
  d.Write("two words.yaml", "");
  EXPECT_EQ(Bash(d.path(), {"run", ""}), (Set{"p.yaml", "q.yml", "sub", "two words.yaml"}));
  EXPECT_EQ(Bash(d.path(), {"dag", "-o", "dot", "q"}), (Set{"q.yml"}));
  auto r = RunBaton(d.path(), {"run", "p.yaml", "-q"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  auto runs = JsonOf(d.path(), {"runs", "list", "-o", "json"});
  ASSERT_EQ(runs.size(), 1u);
  const std::string id = runs[0]["id"];
  EXPECT_EQ(Bash(d.path(), {"runs", "show", ""}), (Set{"last", id}));
  EXPECT_EQ(Bash(d.path(), {"runs", "logs", "l"}), (Set{"last"}));
  // Every argument of `runs delete` is a run.
  EXPECT_EQ(Bash(d.path(), {"runs", "delete", "last", id.substr(0, 3)}), (Set{id}));
}

// ---------------------------------------------------------------------------------------------
// completion: zsh and fish

TEST(CliCompletion, ZshScriptCompletesEveryLevel) {
  TempDir d;
  auto script = RunBaton(d.path(), {"completion", "zsh"});
  ASSERT_EQ(script.exit_code, 0) << Describe(script);
  EXPECT_TRUE(Contains(script.out, "#compdef baton\n"));
  const std::string zsh = Which("zsh");
  if (zsh.empty()) {
    for (const std::string& c : kTopCommands) EXPECT_TRUE(Contains(script.out, c)) << c;
    for (const std::string& c : kNestedCommands) EXPECT_TRUE(Contains(script.out, c)) << c;
    return;
  }
  auto syntax = RunProgram(d.path(), {zsh, "-n", d.Write("_baton", script.out)});
  EXPECT_EQ(syntax.exit_code, 0) << Describe(syntax);
  EXPECT_EQ(Zsh(zsh, {"ru"}), (Set{"run", "runs"}));
  EXPECT_EQ(Zsh(zsh, {"runs", "l"}), (Set{"list", "logs"}));
  EXPECT_EQ(Zsh(zsh, {"help", "stack", "d"}), (Set{"delete", "describe"}));
  EXPECT_EQ(Zsh(zsh, {"run", "-c", "x.yaml", "--no-"}), (Set{"--no-cache"}));
  EXPECT_EQ(Zsh(zsh, {"runs", "list", "-o", ""}), (Set{"table", "json"}));
  EXPECT_EQ(Zsh(zsh, {"runs", "list", "--output="}), (Set{"table", "json"}));
  EXPECT_EQ(Zsh(zsh, {"run", ""}), (Set{"_files -g *.(yaml|yml)"}));
}

TEST(CliCompletion, FishScriptCompletesEveryLevel) {
  TempDir d;
  auto script = RunBaton(d.path(), {"completion", "fish"});
  ASSERT_EQ(script.exit_code, 0) << Describe(script);
  const std::string fish = Which("fish");
  if (fish.empty()) {
    for (const std::string& c : kTopCommands) EXPECT_TRUE(Contains(script.out, c)) << c;
    for (const std::string& c : kNestedCommands) EXPECT_TRUE(Contains(script.out, c)) << c;
    return;
  }
  auto syntax =
      RunProgram(d.path(), {fish, "--no-config", "-n", d.Write("baton.fish", script.out)});
  EXPECT_EQ(syntax.exit_code, 0) << Describe(syntax);
  d.Write("p.yaml", "");
  d.Write("notes.txt", "");
  EXPECT_EQ(Fish(fish, d.path(), {"ru"}), (Set{"run", "runs"}));
  EXPECT_EQ(Fish(fish, d.path(), {"runs", "l"}), (Set{"list", "logs"}));
  EXPECT_EQ(Fish(fish, d.path(), {"help", "stack", "d"}), (Set{"delete", "describe"}));
  EXPECT_EQ(Fish(fish, d.path(), {"run", "-c", "x.yaml", "--no-"}), (Set{"--no-cache"}));
  EXPECT_EQ(Fish(fish, d.path(), {"runs", "list", "-o", ""}), (Set{"table", "json"}));
  EXPECT_EQ(Fish(fish, d.path(), {"dag", "-o", "m"}), (Set{"mermaid"}));
  EXPECT_EQ(Fish(fish, d.path(), {"run", ""}), (Set{"p.yaml"}));
}

TEST(CliCompletion, AnUnknownShellIsRefusedWithTheShellsThereAre) {
  TempDir d;
  auto r = RunBaton(d.path(), {"completion", "tcsh"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(Contains(r.err, "baton: error: no completion for shell 'tcsh'")) << r.err;
  EXPECT_TRUE(Contains(r.err, "bash, zsh, fish")) << r.err;
  auto help = RunBaton(d.path(), {"help", "completion"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_TRUE(Contains(help.out, "source <(baton completion bash)")) << help.out;
  EXPECT_TRUE(Contains(help.out, "~/.config/fish/completions/baton.fish")) << help.out;
}

TEST(CliCompletion, HiddenCommandsAreNotSuggested) {
  TempDir d;
  auto r = RunBaton(d.path(), {"doc"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "unknown command 'doc'")) << r.err;
  EXPECT_FALSE(Contains(r.err, "docs")) << r.err;
  auto help = RunBaton(d.path(), {"--help"});
  EXPECT_FALSE(Contains(help.out, "docs")) << help.out;
}

// ---------------------------------------------------------------------------------------------
// dag

const char* kDagPipeline = R"(name: graph-demo
steps:
  load:
    run: echo hi > {{outputs.raw}}
    outputs: [raw]
  split-data:
    run: cat {{inputs.text}} > {{outputs.train}}
    inputs: {text: load.raw}
    outputs: [train]
  train_2:
    run: cat {{inputs.train}} {{inputs.raw}}
    inputs: {train: split-data.train, raw: load.raw}
  report:
    run: echo done
    after: [train_2, split-data]
)";

TEST(CliDag, TextListsWhatEachStepReadsAndWaitsFor) {
  TempDir d;
  d.Write("p.yaml", kDagPipeline);
  auto r = RunBaton(d.path(), {"dag", "p.yaml"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out,
            "pipeline graph-demo: 4 steps\n"
            "STEP        READS                       AFTER\n"
            "load        -                           -\n"
            "split-data  load.raw as text            -\n"
            "train_2     split-data.train, load.raw  -\n"
            "report      -                           train_2, split-data\n");
  // Nothing was written: dag only reads the pipeline.
  EXPECT_FALSE(std::filesystem::exists(d.path() + "/.baton"));
}

TEST(CliDag, DotIsGraphvizWithDashedOrderingEdges) {
  TempDir d;
  d.Write("p.yaml", kDagPipeline);
  auto r = RunBaton(d.path(), {"dag", "p.yaml", "-o", "dot"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out.rfind("digraph \"graph-demo\" {\n", 0), 0u) << r.out;
  EXPECT_TRUE(Contains(r.out, "  \"load\" -> \"split-data\" [label=\"load.raw\"];\n")) << r.out;
  EXPECT_TRUE(Contains(r.out, "  \"split-data\" -> \"train_2\" [label=\"split-data.train\"];\n"))
      << r.out;
  EXPECT_TRUE(Contains(r.out, "  \"train_2\" -> \"report\" [style=dashed, label=\"after\"];\n"))
      << r.out;
  EXPECT_EQ(r.out.substr(r.out.size() - 2), "}\n");
  const std::string dot = Which("dot");
  if (dot.empty()) return;
  d.Write("g.dot", r.out);
  auto svg = RunShell(d.path(), "'" + dot + "' -Tsvg g.dot");
  ASSERT_EQ(svg.exit_code, 0) << Describe(svg);
  EXPECT_TRUE(Contains(svg.out, "<svg")) << svg.out;
  EXPECT_TRUE(Contains(svg.out, ">split&#45;data<") || Contains(svg.out, ">split-data<"))
      << svg.out;
}

TEST(CliDag, MermaidIsAFlowchartWithSafeIds) {
  TempDir d;
  d.Write("p.yaml", kDagPipeline);
  auto r = RunBaton(d.path(), {"dag", "p.yaml", "-o", "mermaid"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out,
            "flowchart TD\n"
            "  s0[\"load\"]\n"
            "  s1[\"split-data\"]\n"
            "  s2[\"train_2\"]\n"
            "  s3[\"report\"]\n"
            "  s0 -->|\"load.raw\"| s1\n"
            "  s1 -->|\"split-data.train\"| s2\n"
            "  s0 -->|\"load.raw\"| s2\n"
            "  s2 -.->|after| s3\n"
            "  s1 -.->|after| s3\n");
}

TEST(CliDag, ABadPipelineIsReportedAsRunReportsIt) {
  TempDir d;
  d.Write("bad.yaml", "name: bad\nsteps:\n  a:\n    run: echo\n    inputs: {x: nope.y}\n");
  auto dag = RunBaton(d.path(), {"dag", "bad.yaml"});
  auto run = RunBaton(d.path(), {"run", "bad.yaml"});
  EXPECT_EQ(dag.exit_code, 2);
  EXPECT_EQ(dag.out, "");
  EXPECT_TRUE(Contains(dag.err, "bad.yaml:5:")) << dag.err;
  EXPECT_EQ(dag.err, run.err);
  EXPECT_FALSE(std::filesystem::exists(d.path() + "/.baton"));
  auto none = RunBaton(d.path(), {"dag"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_TRUE(Contains(none.err, "baton: error: a pipeline file is required")) << none.err;
  auto missing = RunBaton(d.path(), {"dag", "missing.yaml"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(Contains(missing.err, "missing.yaml")) << missing.err;
  auto format = RunBaton(d.path(), {"dag", "bad.yaml", "-o", "png"});
  EXPECT_EQ(format.exit_code, 2);
}

TEST(CliDag, ACppPipelineBinaryShowsItsOwnGraph) {
  TempDir d;
  auto r = RunProgram(d.path(), {BATON_CPP_EXAMPLE, "dag", "-o", "dot"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "\"generate\" -> \"standardize\"")) << r.out;
  EXPECT_TRUE(Contains(r.out, "\"evaluate\" -> \"report\"")) << r.out;
}

// ---------------------------------------------------------------------------------------------
// docs/cli.md

std::string Reference() {
  TempDir d;
  auto r = RunBaton(d.path(), {"docs"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return r.out;
}

TEST(CliDocs, TheCommittedReferenceIsUpToDate) {
  const std::string committed = ReadFileOrDie(SourceDir() + "/docs/cli.md");
  EXPECT_TRUE(Reference() == committed)
      << "docs/cli.md differs from what the commands print; regenerate it with "
         "scripts/gen-cli-docs.sh (after building baton) and commit it";
}

TEST(CliDocs, EveryCommandIsDocumentedWithAnExample) {
  const std::string ref = Reference();
  // Sections start with "## baton ..."; the contents list names each command once.
  std::vector<std::string> sections;
  for (size_t at = ref.find("\n## "); at != std::string::npos;) {
    const size_t next = ref.find("\n## ", at + 1);
    sections.push_back(ref.substr(at + 1, next == std::string::npos ? next : next - at - 1));
    at = next;
  }
  size_t listed = 0;
  for (size_t at = ref.find("- [baton"); at != std::string::npos; at = ref.find("- [baton", at + 1))
    ++listed;
  EXPECT_GE(sections.size(), 40u);
  EXPECT_EQ(sections.size(), listed);
  Set names;
  for (const std::string& s : sections) {
    const std::string name = s.substr(3, s.find('\n') - 3);
    names.insert(name);
    const size_t examples = s.find("\nExamples:\n\n```sh\n");
    EXPECT_TRUE(examples != std::string::npos && Contains(s.substr(examples), "baton "))
        << "no example for '" << name << "': add one to the table in src/cli/cli_docs.cc";
    EXPECT_TRUE(Contains(s, "\n```\n" + name)) << "no usage line in\n" << s;
  }
  for (const char* c : {"baton", "baton runs list", "baton config template", "baton dag",
                        "baton completion", "baton stack register"})
    EXPECT_TRUE(names.count(c)) << c;
  EXPECT_FALSE(names.count("baton docs"));
  EXPECT_FALSE(names.count("baton step serve"));
}

TEST(CliDocs, HelpShowsTheExamples) {
  TempDir d;
  auto r = RunBaton(d.path(), {"help", "dag"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "\nExamples:\n  baton dag pipeline.yaml\n")) << r.out;
  auto list = RunBaton(d.path(), {"runs", "list", "--help"});
  EXPECT_TRUE(Contains(list.out, "  baton runs list --status failed --since 2d")) << list.out;
}

}  // namespace
}  // namespace baton::testing
