// End-to-end tests of pipeline-file errors: every mistake of a file is reported in one go, each
// as FILE:LINE:COLUMN, with exit code 2 and nothing written; and the parser survives mutated
// pipeline files, always answering with a spec or with located errors.

#include <gtest/gtest.h>

#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "core/spec.h"
#include "core/spec_parser.h"
#include "test_util.h"

namespace baton::testing {
namespace {

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> out;
  size_t b = 0;
  while (b < text.size()) {
    size_t e = text.find('\n', b);
    if (e == std::string::npos) e = text.size();
    out.push_back(text.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// Every path below `root` (relative), for "nothing was written" checks.
std::set<std::string> Listing(const std::string& root) {
  auto r = RunShell(root, "find . -print | LC_ALL=C sort");
  auto lines = SplitLines(r.out);
  return {lines.begin(), lines.end()};
}

// Five mistakes in five steps: each used to hide the ones after it.
const char kFiveMistakes[] =
    "name: many\n"                          // 1
    "steps:\n"                              // 2
    "  load:\n"                             // 3
    "    run: echo {{outputs.raw}}\n"       // 4
    "    outputs: [raw]\n"                  // 5
    "    retries: abc\n"                    // 6  a type error
    "  split:\n"                            // 7
    "    run: echo split {{inputs.raw}}\n"  // 8
    "    inputs: {raw: laod.raw}\n"         // 9  an unknown input step, with a suggestion
    "  train:\n"                            // 10
    "    run: echo train\n"                 // 11
    "    ouputs: [model]\n"                 // 12 an unknown key, with a suggestion
    "  evaluate:\n"                         // 13
    "    run: echo evaluate\n"              // 14
    "    timeout: xyz\n"                    // 15 a bad duration
    "  report:\n"                           // 16
    "    run: echo report\n"                // 17
    "    after: [evaluate, publish]\n";     // 18 'after' names a missing step

const std::vector<std::string> kFiveErrors = {
    ":6:14: error: retries must be an integer >= 0",
    ":9:19: error: step 'split': input 'raw' names unknown step 'laod'; did you mean 'load'?",
    ":12:5: error: unknown key 'ouputs' in step 'train' (did you mean 'outputs'?)",
    ":15:14: error: timeout must be a duration such as 30s, 10m, 1h30m or 500ms",
    ":18:12: error: step 'report': 'after' names unknown step 'publish'",
};

// Expects `r` to be the five errors of kFiveMistakes for `file`, one per line, and nothing else.
void ExpectFiveErrors(const CommandResult& r, const std::string& file, const std::string& what) {
  EXPECT_EQ(r.exit_code, 2) << what << "\n" << Describe(r);
  std::vector<std::string> want;
  for (const auto& e : kFiveErrors) want.push_back(file + e);
  EXPECT_EQ(SplitLines(r.err), want) << what << "\n" << Describe(r);
  EXPECT_EQ(r.out, "") << what;
}

TEST(PipelineErrors, EveryMistakeIsReportedInOneRun) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  std::string file = d.Write("many.yaml", kFiveMistakes);
  auto before = Listing(d.path());
  ExpectFiveErrors(RunBaton(d.path(), {"run", "many.yaml"}), "many.yaml", "run");
  ExpectFiveErrors(RunBaton(d.path(), {"run", "--dry-run", "many.yaml"}), "many.yaml",
                   "run --dry-run");
  ExpectFiveErrors(RunBaton(d.path(), {"compile", "many.yaml", "--out", d.path() + "/out"}),
                   "many.yaml", "compile");
  EXPECT_EQ(Listing(d.path()), before) << "a bad pipeline must write nothing";
  auto runs = JsonOf(d.path(), {"runs", "list", "-n", "0", "-o", "json"});
  EXPECT_EQ(runs.size(), 0u) << runs.dump();
}

TEST(PipelineErrors, OutsideAWorkspaceNoneIsCreated) {
  TempDir d;
  std::string file = d.Write("many.yaml", kFiveMistakes);
  ExpectFiveErrors(RunBaton(d.path(), {"run", file}), file, "run");
  EXPECT_EQ(Listing(d.path()), (std::set<std::string>{".", "./many.yaml"}));
}

TEST(PipelineErrors, YamlSyntaxErrorIsReportedAlone) {
  TempDir d;
  d.Write("broken.yaml",
          "name: broken\n"
          "steps:\n"
          "  a:\n"
          "    run: echo\n"
          "    retries: abc\n"
          "  b: {run: echo, after: [nowhere]\n");
  auto r = RunBaton(d.path(), {"run", "broken.yaml"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  auto lines = SplitLines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_TRUE(std::regex_match(lines[0],
                               std::regex(R"(broken\.yaml:[0-9]+:[0-9]+: error: invalid YAML.*)")))
      << lines[0];
}

// ---------------------------------------------------------------------------------------------
// Mutated pipeline files

// A valid pipeline that uses most of the format, so that mutations hit many parser paths.
const char kRich[] =
    "name: rich\n"
    "description: every kind of key\n"
    "version: 1\n"
    "parameters: {lr: 0.1, epochs: 3, tag: v1, fast: true}\n"
    "defaults: {retries: {max: 2, delay: 5s, backoff: 2}, timeout: 30m}\n"
    "failure_mode: stop\n"
    "pools: {db: 2}\n"
    "hooks: {on_failure: echo failed}\n"
    "steps:\n"
    "  load:\n"
    "    run: echo {{params.tag}} > {{outputs.raw}}\n"
    "    outputs: [raw]\n"
    "    cache: {files: [load.py]}\n"
    "  split:\n"
    "    run: [sh, -c, \"cat {{inputs.raw}} > {{outputs.train}}; touch {{outputs.test}}\"]\n"
    "    inputs: {raw: load.raw}\n"
    "    outputs: [train, test]\n"
    "    resources: {cpu: 2, memory: 1Gi, db: 1}\n"
    "  train:\n"
    "    run: echo {{params.lr}} {{params.epochs}} > {{outputs.model}}\n"
    "    inputs: {train: split.train}\n"
    "    outputs: [model]\n"
    "    retries: 3\n"
    "    timeout: 1h30m\n"
    "    env: {MODE: '{{params.tag}}'}\n"
    "    settings:\n"
    "      image: python:3.12\n"
    "      orchestrator: {kubernetes: {node_selector: {gpu: a100}}}\n"
    "  evaluate:\n"
    "    run: cat {{inputs.model}} {{inputs.test}}\n"
    "    inputs: {model: train.model, test: split.test}\n"
    "    params: [fast]\n"
    "    hooks: {on_success: echo ok}\n"
    "  report:\n"
    "    run: echo done\n"
    "    after: [evaluate]\n";

// One random edit of a file's lines: delete, duplicate, move, cut short, or re-indent a line.
std::vector<std::string> Mutate(std::vector<std::string> lines, std::mt19937& rng) {
  if (lines.empty()) return lines;
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  size_t i = pick(lines.size());
  switch (pick(5)) {
    case 0:
      lines.erase(lines.begin() + i);
      break;
    case 1:
      lines.insert(lines.begin() + pick(lines.size() + 1), lines[i]);
      break;
    case 2:
      std::swap(lines[i], lines[pick(lines.size())]);
      break;
    case 3:
      lines[i].resize(pick(lines[i].size() + 1));
      break;
    default:
      lines[i] =
          (pick(2) ? "  " : "") + lines[i].substr(std::min<size_t>(lines[i].size(), pick(3)));
      break;
  }
  return lines;
}

// Checks that every diagnostic of a failed parse names `file` and a line:column inside `text`
// (the last line may be the empty one after the final newline); a summary "and N more" line
// is the only one without a location.
void ExpectLocatedInside(const std::string& message, const std::string& file,
                         const std::string& text, const std::string& what) {
  auto text_lines = SplitLines(text);
  static const std::regex kLine(R"(([^:]+):([0-9]+):([0-9]+): error: .+)");
  auto lines = SplitLines(message);
  ASSERT_FALSE(lines.empty()) << what;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i + 1 == lines.size() &&
        std::regex_match(lines[i], std::regex(".*: error: and [0-9]+ more errors")))
      continue;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(lines[i], m, kLine)) << what << "\n"
                                                      << lines[i] << "\nin:\n"
                                                      << text;
    EXPECT_EQ(m[1].str(), file) << what;
    size_t line = std::stoul(m[2].str()), column = std::stoul(m[3].str());
    ASSERT_GE(line, 1u) << what << "\n" << lines[i];
    ASSERT_LE(line, text_lines.size() + 1) << what << "\n" << lines[i] << "\nin:\n" << text;
    size_t width = line <= text_lines.size() ? text_lines[line - 1].size() : 0;
    EXPECT_GE(column, 1u) << what << "\n" << lines[i];
    EXPECT_LE(column, width + 1) << what << "\n" << lines[i] << "\nin:\n" << text;
  }
}

TEST(PipelineErrors, MutatedPipelinesParseOrGiveLocatedErrors) {
  std::vector<std::string> sources = {
      kRich, ReadFileOrDie(SourceDir() + "/examples/quickstart/pipeline.yaml"),
      ReadFileOrDie(SourceDir() + "/examples/shell/pipeline.yaml")};
  std::mt19937 rng(20240611);
  size_t failed = 0, parsed = 0;
  for (const auto& source : sources) {
    ASSERT_TRUE(ParsePipelineText(source, "m.yaml", "/").ok()) << "the unmutated file must parse:\n"
                                                               << source;
    for (int round = 0; round < 400; ++round) {
      auto lines = SplitLines(source);
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) lines = Mutate(lines, rng);
      std::string text = JoinLines(lines);
      std::string what = "round " + std::to_string(round);
      auto r = ParsePipelineText(text, "m.yaml", "/");
      if (r.ok()) {
        ++parsed;
        // What parses must survive the snapshot round trip, as the fuzz target demands.
        Json j = SpecToJson(*r);
        auto back = SpecFromJson(j);
        ASSERT_TRUE(back.ok()) << what << "\n" << text;
        EXPECT_EQ(SpecToJson(*back), j) << what;
        continue;
      }
      ++failed;
      EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << what;
      ExpectLocatedInside(r.status().message(), "m.yaml", text, what);
    }
  }
  // The mutations are strong enough to break most files and gentle enough to leave some whole.
  EXPECT_GT(failed, 100u);
  EXPECT_GT(parsed, 10u);
}

}  // namespace
}  // namespace baton::testing
