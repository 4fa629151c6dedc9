// Matrices, for_each and conditions as the pipeline format writes them: expansion into
// instances, how consumers name them, and every error with its location.

#include "core/matrix.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/spec_parser.h"
#include "test_util.h"

namespace baton {
namespace {

Result<PipelineSpec> Parse(const std::string& text) { return ParsePipelineText(text, "p.yaml", "/w"); }

std::string Errors(const std::string& text) {
  auto r = Parse(text);
  EXPECT_FALSE(r.ok()) << "expected errors in:\n" << text;
  return r.ok() ? "" : r.status().message();
}

#define EXPECT_DIAG(text, where, what)                                                            \
  do {                                                                                            \
    std::string _msg = Errors(text);                                                              \
    EXPECT_NE(_msg.find(std::string("p.yaml:") + (where) + ": error: "), std::string::npos)       \
        << "expected a diagnostic at " << (where) << ", got:\n"                                   \
        << _msg;                                                                                  \
    EXPECT_NE(_msg.find(what), std::string::npos) << "expected '" << (what) << "' in:\n" << _msg; \
  } while (0)

std::vector<std::string> Names(const PipelineSpec& spec) {
  std::vector<std::string> out;
  for (const auto& s : spec.steps) out.push_back(s.name);
  return out;
}

const StepSpec& Step(const PipelineSpec& spec, const std::string& name) {
  const StepSpec* s = spec.FindStep(name);
  EXPECT_NE(s, nullptr) << name;
  static const StepSpec none;
  return s ? *s : none;
}

const std::string kSweep =
    "name: sweep\n"
    "steps:\n"
    "  prep:\n"
    "    run: echo > {{outputs.d}}\n"
    "    outputs: [d]\n"
    "  train:\n"
    "    matrix: {C: [0.1, 1], penalty: [l1, l2]}\n"
    "    inputs: {d: prep.d}\n"
    "    run: echo {{matrix.C}} {{matrix.penalty}} > {{outputs.model}}\n"
    "    outputs: [model]\n"
    "  evaluate:\n"
    "    matrix: train\n"
    "    inputs: {model: train.model}\n"
    "    run: echo > {{outputs.score}}\n"
    "    outputs: [score]\n"
    "  select:\n"
    "    inputs:\n"
    "      scores: evaluate[*].score\n"
    "      one: 'train[C=1,penalty=l2].model'\n"
    "    run: echo {{inputs.scores}} > {{outputs.best}}\n"
    "    outputs: [best]\n";

TEST(Matrix, ExpandsIntoInstancesInTheOrderWritten) {
  ASSERT_OK_AND_ASSIGN(PipelineSpec spec, Parse(kSweep));
  EXPECT_EQ(Names(spec), (std::vector<std::string>{
                             "prep", "train[C=0.1,penalty=l1]", "train[C=0.1,penalty=l2]", "train[C=1,penalty=l1]",
                             "train[C=1,penalty=l2]", "evaluate[C=0.1,penalty=l1]", "evaluate[C=0.1,penalty=l2]",
                             "evaluate[C=1,penalty=l1]", "evaluate[C=1,penalty=l2]", "select"}));
  const StepSpec& t = Step(spec, "train[C=1,penalty=l1]");
  EXPECT_EQ(t.group, "train");
  EXPECT_EQ(t.matrix_values.dump(), R"({"C":1,"penalty":"l1"})");
  EXPECT_EQ(t.inputs.size(), 1u);
  EXPECT_EQ(t.inputs[0].step, "prep");
}

TEST(Matrix, AStepOfTheSameMatrixReadsItsOwnInstance) {
  ASSERT_OK_AND_ASSIGN(PipelineSpec spec, Parse(kSweep));
  const StepSpec& e = Step(spec, "evaluate[C=0.1,penalty=l2]");
  ASSERT_EQ(e.inputs.size(), 1u);
  EXPECT_EQ(e.inputs[0].step, "train[C=0.1,penalty=l2]");
  EXPECT_EQ(e.inputs[0].name, "model");
  EXPECT_TRUE(e.inputs[0].list.empty());
}

TEST(Matrix, StarReadsEveryInstanceAsAListAndASelectorReadsOne) {
  ASSERT_OK_AND_ASSIGN(PipelineSpec spec, Parse(kSweep));
  const StepSpec& s = Step(spec, "select");
  std::vector<std::string> list, one;
  for (const auto& in : s.inputs) (in.list == "scores" ? list : one).push_back(in.name + "<-" + in.step);
  EXPECT_EQ(list, (std::vector<std::string>{"scores[C=0.1,penalty=l1]<-evaluate[C=0.1,penalty=l1]",
                                            "scores[C=0.1,penalty=l2]<-evaluate[C=0.1,penalty=l2]",
                                            "scores[C=1,penalty=l1]<-evaluate[C=1,penalty=l1]",
                                            "scores[C=1,penalty=l2]<-evaluate[C=1,penalty=l2]"}));
  EXPECT_EQ(one, (std::vector<std::string>{"one<-train[C=1,penalty=l2]"}));
}

TEST(Matrix, IncludeAddsCombinationsAndExcludeRemovesThem) {
  ASSERT_OK_AND_ASSIGN(PipelineSpec spec, Parse("name: x\n"
                                                  "steps:\n"
                                                  "  t:\n"
                                                  "    run: 'true'\n"
                                                  "    matrix:\n"
                                                  "      a: [1, 2]\n"
                                                  "      b: [x, y]\n"
                                                  "      exclude: [{a: 2, b: y}, {b: x, a: 1}]\n"
                                                  "      include: [{a: 3, b: z}, {a: 1, b: y}]\n"));
  EXPECT_EQ(Names(spec), (std::vector<std::string>{"t[a=1,b=y]", "t[a=2,b=x]", "t[a=3,b=z]"}));
}

TEST(Matrix, AfterAMatrixStepWaitsForEveryInstance) {
  ASSERT_OK_AND_ASSIGN(PipelineSpec spec, Parse("name: x\n"
                                                  "steps:\n"
                                                  "  t: {run: 'true', matrix: {a: [1, 2]}}\n"
                                                  "  u: {run: 'true', after: [t]}\n"));
  EXPECT_EQ(Step(spec, "u").after, (std::vector<std::string>{"t[a=1]", "t[a=2]"}));
}

TEST(Matrix, ValuesThatWouldBreakANameAreEscaped) {
  ASSERT_OK_AND_ASSIGN(PipelineSpec spec, Parse("name: x\n"
                                                  "steps:\n"
                                                  "  t: {run: 'true', matrix: {p: ['a/b', 'c,d=e', 'x y', '[1]']}}\n"));
  EXPECT_EQ(Names(spec), (std::vector<std::string>{"t[p=a%2Fb]", "t[p=c%2Cd%3De]", "t[p=x%20y]", "t[p=%5B1%5D]"}));
  std::vector<std::pair<std::string, std::string>> sel;
  ASSERT_TRUE(ParseSelector("p=c%2Cd%3De", &sel));
  EXPECT_TRUE(SelectorMatches(sel, Step(spec, "t[p=c%2Cd%3De]").matrix_values));
  ASSERT_TRUE(ParseSelector("C=1.0", &sel));
  EXPECT_TRUE(SelectorMatches(sel, nlohmann::json{{"C", 1}}));
  EXPECT_FALSE(ParseSelector("C", &sel));
}

TEST(Matrix, TheSnapshotKeepsInstancesAndLists) {
  ASSERT_OK_AND_ASSIGN(PipelineSpec spec, Parse(kSweep));
  ASSERT_OK_AND_ASSIGN(PipelineSpec back, SpecFromJson(SpecToJson(spec)));
  EXPECT_EQ(SpecToJson(back), SpecToJson(spec));
  EXPECT_EQ(Step(back, "train[C=1,penalty=l2]").matrix_values, Step(spec, "train[C=1,penalty=l2]").matrix_values);
  EXPECT_EQ(Step(back, "select").inputs[0].list, "scores");
}

TEST(MatrixErrors, EachIsLocated) {
  const std::string head = "name: x\nsteps:\n";
  EXPECT_DIAG(head + "  t: {run: 'true', matrix: {a: []}}\n", "3:32", "axis 'a' must be a non-empty list");
  EXPECT_DIAG(head + "  t: {run: 'true', matrix: {a: [[1]]}}\n", "3:33", "must be scalars");
  EXPECT_DIAG(head + "  t: {run: 'true', matrix: {1a: [1]}}\n", "3:29", "invalid axis name '1a'");
  EXPECT_DIAG(head + "  t: {run: 'true', matrix: {a: [1], exclude: [{b: 1}]}}\n", "3:28", "exclude names 'b'");
  EXPECT_DIAG(head + "  t: {run: 'true', matrix: {a: [1], include: [{b: 1}]}}\n", "3:28",
              "each include names every axis (a)");
  EXPECT_DIAG(head + "  t: {run: 'true', matrix: {a: [1], exclude: [{a: 1}]}}\n", "3:28", "leaves no combination");
  EXPECT_DIAG(head + "  t: {run: 'true', matrix: {a: [1, 1]}}\n", "3:28", "has the combination a=1 twice");
  EXPECT_DIAG(head + "  t: {run: 'true', matrix: nope}\n", "3:28", "names 'nope', which is no step");
  EXPECT_DIAG(head + "  t: {run: 'true', matrix: {}}\n", "3:28", "has no axis");
  EXPECT_DIAG(head + "  u: {run: 'true'}\n  t: {run: 'true', matrix: u}\n", "4:28", "which has no matrix");
  // 101 x 100 combinations.
  std::string a, b;
  for (int i = 0; i < 101; ++i) a += (i ? "," : "") + std::to_string(i);
  for (int i = 0; i < 100; ++i) b += (i ? "," : "") + std::to_string(i);
  EXPECT_DIAG(head + "  t: {run: 'true', matrix: {a: [" + a + "], b: [" + b + "]}}\n", "3:28",
              "more than 10000 combinations");
}

TEST(MatrixErrors, ConsumersMustSayWhichInstances) {
  const std::string head =
      "name: x\n"
      "steps:\n"
      "  t: {run: 'true', outputs: [o], matrix: {a: [1, 2]}}\n"
      "  p: {run: 'true', outputs: [o]}\n";
  EXPECT_DIAG(head + "  u: {run: 'true', inputs: {i: t.o}}\n", "5:32", "has a matrix; name its instances as t[*]");
  EXPECT_DIAG(head + "  u:\n    run: 'true'\n    inputs: {i: 't[a=3].o'}\n", "7:17", "t[a=3] names no instance");
  EXPECT_DIAG(head + "  u:\n    run: 'true'\n    inputs: {i: 't[b=1].o'}\n", "7:17", "'b' is not an axis of step 't'");
  EXPECT_DIAG(head + "  u:\n    run: 'true'\n    inputs: {i: 'p[a=1].o'}\n", "7:17", "step 'p' has no matrix");
  EXPECT_DIAG(head + "  u:\n    run: 'true'\n    inputs: {i: 't[*.o'}\n", "7:17", "'[' must be closed");
  // A list input stands alone as a word.
  EXPECT_DIAG(head + "  u:\n    run: 'echo \"{{inputs.i}}\"'\n    inputs:\n      i: t[*].o\n", "6:10",
              "{{inputs.i}} is a list");
  EXPECT_DIAG(head + "  u:\n    run: 'echo x{{inputs.i}}'\n    inputs:\n      i: t[*].o\n", "6:10", "is a list");
  EXPECT_DIAG(head + "  u:\n    run: [echo, 'x{{inputs.i}}']\n    inputs:\n      i: t[*].o\n", "6:10",
              "must stand alone as a list element");
  EXPECT_TRUE(Parse(head + "  u:\n    run: 'cat {{inputs.i}} | wc -l; echo $(ls {{inputs.i}})'\n    inputs:\n      i: t[*].o\n").ok());
  EXPECT_DIAG(head + "  u: {run: 'echo {{matrix.a}}'}\n", "5:12", "the step has no matrix");
  EXPECT_DIAG("name: x\nsteps:\n  t: {run: 'echo {{matrix.b}}', matrix: {a: [1]}}\n", "3:12", "no axis");
}

TEST(MatrixErrors, Version1FilesCannotUseVersion2Keys) {
  EXPECT_DIAG("version: 1\nname: x\nsteps:\n  t:\n    run: 'true'\n    matrix: {a: [1]}\n", "6:5",
              "'matrix' needs pipeline format version 2");
  EXPECT_DIAG("version: 1\nname: x\nsteps:\n  t:\n    run: 'true'\n    when: 1 < 2\n", "6:5", "'when' needs");
  EXPECT_TRUE(Parse("version: 2\nname: x\nsteps:\n  t:\n    run: 'true'\n    when: 1 < 2\n").ok());
  EXPECT_TRUE(Parse("name: x\nsteps:\n  t:\n    run: 'true'\n    when: 1 < 2\n").ok());
}

TEST(WhenErrors, MalformedConditionsPointIntoTheExpression) {
  const std::string head =
      "name: x\n"
      "parameters: {th: 0.5}\n"
      "steps:\n"
      "  e: {run: 'true', outputs: [o]}\n"
      "  d:\n"
      "    run: 'true'\n";
  EXPECT_DIAG(head + "    when: 1 = 2\n", "7:13", "'=' is not an operator");
  EXPECT_DIAG(head + "    when: \"{{params.th}} >\"\n", "7:27", "a value is missing");
  EXPECT_DIAG(head + "    when: \"{{params.nope}} > 1\"\n", "7:11", "undeclared parameter 'nope'");
  EXPECT_DIAG(head + "    when: \"{{steps.f.metadata.a}} > 1\"\n", "7:11", "unknown step 'f'");
  EXPECT_DIAG(head + "    when: \"{{steps.d.metadata.a}} > 1\"\n", "7:11", "names the step itself");
  EXPECT_DIAG(head + "    when: \"{{steps.e.outputs.x}} > 1\"\n", "7:11", "names output 'x'");
  EXPECT_DIAG(head + "    when: \"{{matrix.a}} > 1\"\n", "7:11", "the step has no matrix");
  EXPECT_DIAG(head + "    when: \"{{steps.e[a=1].metadata.x}} > 1\"\n", "7:11", "step 'e' has no matrix");
  // A condition's step is waited for.
  ASSERT_OK_AND_ASSIGN(PipelineSpec spec, Parse(head + "    when: \"{{steps.e.metadata.acc}} > {{params.th}}\"\n"));
  EXPECT_EQ(Step(spec, "d").when_steps, (std::vector<std::string>{"e"}));
  // ... and a cycle through it is one.
  EXPECT_NE(Errors("name: x\nsteps:\n  a: {run: 'true', when: '{{steps.b.metadata.x}} == 1'}\n"
                   "  b: {run: 'true', after: [a]}\n")
                .find("dependency cycle"),
            std::string::npos);
}

TEST(ForEach, ParsesAndKeepsTheStepForRunTime) {
  ASSERT_OK_AND_ASSIGN(PipelineSpec spec, Parse("name: x\n"
                                                  "steps:\n"
                                                  "  s: {run: 'true', outputs: [list]}\n"
                                                  "  w:\n"
                                                  "    for_each: {items: s.list, as: lines, max: 5, parallel: 2}\n"
                                                  "    run: echo {{item}} {{item.index}} > {{outputs.o}}\n"
                                                  "    outputs: [o]\n"
                                                  "  g:\n"
                                                  "    inputs:\n"
                                                  "      all: w[*].o\n"
                                                  "    run: cat {{inputs.all}}\n"));
  EXPECT_EQ(Names(spec), (std::vector<std::string>{"s", "w", "g"}));
  const ForEachSpec& f = Step(spec, "w").for_each;
  EXPECT_EQ(f.step, "s");
  EXPECT_EQ(f.output, "list");
  EXPECT_EQ(f.as, "lines");
  EXPECT_EQ(f.max, 5);
  EXPECT_EQ(f.parallel, 2);
  ASSERT_EQ(Step(spec, "g").inputs.size(), 1u);
  EXPECT_EQ(Step(spec, "g").inputs[0].selector, "*");
  EXPECT_EQ(Step(spec, "g").inputs[0].list, "all");
  ASSERT_OK_AND_ASSIGN(PipelineSpec back, SpecFromJson(SpecToJson(spec)));
  EXPECT_EQ(SpecToJson(back), SpecToJson(spec));
  StepSpec inst = ForEachInstance(Step(spec, "w"), 3, "x");
  EXPECT_EQ(inst.name, "w[3]");
  EXPECT_EQ(inst.group, "w");
  EXPECT_TRUE(inst.for_each.empty());
}

TEST(ForEachErrors, EachIsLocated) {
  const std::string head = "name: x\nsteps:\n  s: {run: 'true', outputs: [list]}\n";
  EXPECT_DIAG(head + "  w: {run: 'true', for_each: s}\n", "4:30", "as STEP.OUTPUT");
  EXPECT_DIAG(head + "  w: {run: 'true', for_each: s.nope}\n", "4:30", "names output 'nope'");
  EXPECT_DIAG(head + "  w: {run: 'true', for_each: t.list}\n", "4:30", "unknown step 't'");
  EXPECT_DIAG(head + "  w: {run: 'true', for_each: {items: s.list, as: csv}}\n", "4:50", "as must be json, lines or entries");
  EXPECT_DIAG(head + "  w: {run: 'true', for_each: {items: s.list, max: 0}}\n", "4:51", "");
  EXPECT_DIAG(head + "  w: {run: 'true', for_each: {as: json}}\n", "4:30", "needs 'items: STEP.OUTPUT'");
  EXPECT_DIAG(head + "  w: {run: 'true', for_each: s.list, matrix: {a: [1]}}\n", "4:30", "cannot be combined");
  EXPECT_DIAG(head + "  w: {run: 'echo {{item}}'}\n", "4:12", "the step has no for_each");
  EXPECT_DIAG(head + "  w: {run: 'true', outputs: [o], for_each: s.list}\n  g: {run: 'true', inputs: {i: w.o}}\n",
              "5:32", "read every instance's output as w[*].o");
  EXPECT_DIAG(head + "  w: {run: 'true', outputs: [o], for_each: s.list}\n  g: {run: 'true', when: '{{steps.w.metadata.a}} > 1'}\n",
              "5:26", "is a for_each step");
}

TEST(ForEach, ListsAreJsonLinesOrEntries) {
  auto items = ItemsFromText("[1, \"a b\", {\"k\": 2}]", "");
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), 3u);
  EXPECT_EQ(ItemText((*items)[0]), "1");
  EXPECT_EQ(ItemText((*items)[1]), "a b");
  EXPECT_EQ(ItemText((*items)[2]), R"({"k":2})");
  items = ItemsFromText("x\ny z\r\n\nlast", "");
  ASSERT_TRUE(items.ok());
  EXPECT_EQ(*items, (std::vector<Json>{"x", "y z", "", "last"}));
  items = ItemsFromText("a\nb\n", "lines");
  ASSERT_TRUE(items.ok());
  EXPECT_EQ(items->size(), 2u);
  EXPECT_TRUE(ItemsFromText("", "").ok() && ItemsFromText("", "")->empty());
  EXPECT_TRUE(ItemsFromText("[]", "json")->empty());
  // A JSON list read as lines is its one line.
  EXPECT_EQ(ItemsFromText("[1,2]", "lines")->size(), 1u);
  EXPECT_FALSE(ItemsFromText("{\"a\": 1}", "json").ok());
  EXPECT_FALSE(ItemsFromText("not json", "json").ok());
}

}  // namespace
}  // namespace baton
