#include "core/condition.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace baton {
namespace {

using Json = nlohmann::json;

// Evaluates `text` with references looked up in `values` (by their text); a missing one is an
// error naming it.
Result<bool> Eval(const std::string& text, const std::map<std::string, Json>& values = {}, std::string* shown = nullptr) {
  auto c = Condition::Parse(text);
  if (!c.ok()) return c.status();
  return c->Evaluate(
      [&](const ConditionRef& r) -> Result<Json> {
        auto it = values.find(r.text);
        if (it == values.end()) return FailedPrecondition(r.text + " is not set");
        return it->second;
      },
      shown);
}

bool True(const std::string& text, const std::map<std::string, Json>& values = {}) {
  auto r = Eval(text, values);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() && *r;
}

TEST(Condition, ComparesNumbersStringsAndBools) {
  EXPECT_TRUE(True("1 < 2"));
  EXPECT_FALSE(True("2 < 2"));
  EXPECT_TRUE(True("2 <= 2"));
  EXPECT_TRUE(True("0.96 > 0.95"));
  EXPECT_TRUE(True("1 == 1.0"));
  EXPECT_TRUE(True("-3 < -2.5e0"));
  EXPECT_TRUE(True("'abc' < 'abd'"));
  EXPECT_TRUE(True("\"x\" == 'x'"));
  EXPECT_TRUE(True("'1' != 1"));  // a string is never a number
  EXPECT_TRUE(True("true == true"));
  EXPECT_TRUE(True("null == null"));
  EXPECT_TRUE(True("'it\\'s' == \"it's\""));
}

TEST(Condition, CombinesWithAndOrNotAndParentheses) {
  EXPECT_TRUE(True("1 < 2 and 2 < 3"));
  EXPECT_FALSE(True("1 < 2 and 3 < 2"));
  EXPECT_TRUE(True("3 < 2 or 1 < 2"));
  EXPECT_TRUE(True("not 3 < 2"));
  EXPECT_TRUE(True("not (1 < 2 and 3 < 2)"));
  // and binds tighter than or.
  EXPECT_TRUE(True("true or false and false"));
  EXPECT_FALSE(True("(true or false) and false"));
  // Keywords are whole words: "notes" is no "not".
  EXPECT_TRUE(True("{{params.notes}} == 1 or{{params.order}} == 2", {{"params.notes", 1}, {"params.order", 2}}));
}

TEST(Condition, ReferencesAreResolvedOnceAndShown) {
  std::map<std::string, Json> v = {{"steps.evaluate.metadata.accuracy", 0.97}, {"params.threshold", 0.95}};
  std::string shown;
  auto r = Eval("{{ steps.evaluate.metadata.accuracy }} > {{params.threshold}}", v, &shown);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(*r);
  EXPECT_EQ(shown, "steps.evaluate.metadata.accuracy = 0.97, params.threshold = 0.95");
}

TEST(Condition, ShortCircuitsSoThatAMissingValueOnTheOtherSideIsNotRead) {
  EXPECT_TRUE(True("true or {{params.missing}} > 1"));
  EXPECT_FALSE(True("false and {{params.missing}} > 1"));
  auto r = Eval("true and {{params.missing}} > 1");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("params.missing is not set"), std::string::npos);
}

TEST(Condition, ParsesEveryKindOfReference) {
  auto c = Condition::Parse(
      "{{params.p}} == 1 and {{matrix.C}} == 1 and {{steps.a.metadata.x.y}} == 1 and "
      "{{steps.b[C=1,k=v].outputs.best.score}} == 1");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const auto& r = c->refs();
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].kind, ConditionRef::kParam);
  EXPECT_EQ(r[0].name, "p");
  EXPECT_EQ(r[1].kind, ConditionRef::kMatrix);
  EXPECT_EQ(r[2].kind, ConditionRef::kMetadata);
  EXPECT_EQ(r[2].step, "a");
  EXPECT_EQ(r[2].path, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(r[3].kind, ConditionRef::kOutput);
  EXPECT_EQ(r[3].step, "b");
  EXPECT_EQ(r[3].selector, "C=1,k=v");
  EXPECT_EQ(r[3].name, "best");
  EXPECT_EQ(r[3].path, (std::vector<std::string>{"score"}));
}

// Each malformed expression is refused with the offset of the problem.
TEST(Condition, MalformedExpressionsAreRefusedWithTheirOffset) {
  struct Case {
    std::string text;
    size_t offset;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"", 0, "empty"},
      {"1 <", 3, "missing"},
      {"1 = 1", 2, "'=' is not an operator"},
      {"1 < 2 < 3", 6, "do not chain"},
      {"(1 < 2", 0, "not closed"},
      {"'abc", 0, "string is not closed"},
      {"accuracy > 1", 0, "'accuracy' is not a value"},
      {"{{params.x}", 0, "not closed"},
      {"{{env.HOME}} == 1", 0, "expected params.NAME"},
      {"{{steps.a.metadata}} == 1", 0, "name a metadata key"},
      {"{{steps.a.outputs}} == 1", 0, "name an output"},
      {"{{steps.a[].metadata.x}} == 1", 0, "empty selector"},
      {"1 < 2 garbage", 6, "unexpected"},
      {"1..2 > 0", 0, "not a number"},
      {"$(rm -rf /) == 1", 0, "unexpected"},
  };
  for (const auto& c : cases) {
    size_t at = 999;
    auto r = Condition::Parse(c.text, &at);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(at, c.offset) << c.text << ": " << r.status().message();
    EXPECT_NE(r.status().message().find(c.message), std::string::npos) << c.text << ": " << r.status().message();
  }
  std::string deep(100, '(');
  EXPECT_FALSE(Condition::Parse(deep + "1 < 2" + std::string(100, ')')).ok());
}

TEST(Condition, TypeErrorsAtEvaluationSayWhatTheValueWas) {
  auto r = Eval("{{steps.a.metadata.acc}} > 0.9", {{"steps.a.metadata.acc", "high"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("two numbers or two strings"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("\"high\""), std::string::npos) << r.status().message();
  r = Eval("{{params.n}}", {{"params.n", 3}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not true or false"), std::string::npos) << r.status().message();
  r = Eval("not {{params.n}}", {{"params.n", "x"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'not' needs true or false"), std::string::npos) << r.status().message();
  // A bool reference stands as a condition by itself.
  EXPECT_TRUE(True("{{params.deploy}}", {{"params.deploy", true}}));
}

}  // namespace
}  // namespace baton
