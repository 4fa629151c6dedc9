// End-to-end tests of how `baton run` substitutes values into string commands: a value reaches
// the command as exactly its text whether it sits bare, inside "..." or inside '...', runs
// nothing it holds, survives a workspace path with a space, and a reference where no quoting is
// safe refuses the pipeline with its location. Every test drives the real baton binary.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_util.h"

namespace baton::testing {
namespace {

using Json = nlohmann::json;

bool Exists(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

Json ParseJson(const CommandResult& r) {
  Json j = Json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON:\n" << r.out << "\nstderr:\n" << r.err;
  return j.is_discarded() ? Json() : j;
}

// `baton run PIPELINE -o json ARGS...`: the summary.
Json RunPipeline(const std::string& cwd, const std::string& pipeline,
                 const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"run", pipeline, "-o", "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = RunBaton(cwd, args);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return ParseJson(r);
}

// The bytes of output `output` of step `step` in run `run`, or "<missing>".
std::string OutputOf(const std::string& cwd, const std::string& run, const std::string& step,
                     const std::string& output) {
  Json show = ParseJson(RunBaton(cwd, {"runs", "show", run, "-o", "json"}));
  for (const auto& s : show.value("steps", Json::array())) {
    if (s.value("step", "") != step || !s.contains("outputs") || !s["outputs"].contains(output))
      continue;
    auto id = std::to_string(s["outputs"][output]["id"].get<long long>());
    Json art = ParseJson(RunBaton(cwd, {"artifacts", "show", id, "-o", "json"}));
    return ReadFileOrDie(art.value("path", ""));
  }
  return "<missing>";
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

const char* kContextsPipeline = R"Y(name: quoting
parameters:
  v: ''
steps:
  dq:
    run: printf '%s' "x-{{params.v}}-y" > {{outputs.o}}
    outputs: [o]
  sq:
    run: printf '%s' 'x-{{params.v}}-y' > "{{outputs.o}}"
    outputs: [o]
  bare:
    run: printf '%s' x-{{params.v}}-y > '{{outputs.o}}'
    outputs: [o]
  echo:
    run: echo "x-{{params.v}}-y" > {{outputs.o}}
    outputs: [o]
)Y";

TEST(QuotingEndToEnd, HostileValuesArriveLiterallyInEveryContext) {
  TempDir d;
  const std::string pipeline = d.Write("p.yaml", kContextsPipeline);
  const std::string mark = d.path() + "/owned";
  // MARK stands for a file that must never be created.
  const std::vector<std::string> values = {"$(touch MARK)",
                                           "`touch MARK`",
                                           "a; touch MARK; b",
                                           "a\ntouch MARK\nb",
                                           "x'; touch MARK; '",
                                           "x\"; touch MARK; \"",
                                           "'\"$(touch MARK)\"'",
                                           "a b",
                                           "it's",
                                           "say \"hi\"",
                                           "'",
                                           "\"",
                                           "\\",
                                           ";",
                                           "\n",
                                           " ",
                                           "",
                                           "back\\slash \\\" \\$HOME",
                                           "$HOME ${HOME} $1",
                                           "héllo ✓ 日本",
                                           "tab\there  two"};
  for (const auto& tmpl : values) {
    const std::string v = Replace(tmpl, "MARK", mark);
    Json sum = RunPipeline(d.path(), pipeline, {"-p", "v=" + v});
    const std::string run = sum.value("run", "");
    ASSERT_EQ(sum.value("completed", -1), 4) << "value: " << v << "\n" << sum.dump(2);
    for (const char* step : {"dq", "sq", "bare"})
      EXPECT_EQ(OutputOf(d.path(), run, step, "o"), "x-" + v + "-y")
          << "step " << step << ", value: " << v;
    // dash's echo reads backslash escapes itself; the value still reaches it unchanged.
    if (!Contains(v, "\\")) {
      EXPECT_EQ(OutputOf(d.path(), run, "echo", "o"), "x-" + v + "-y\n") << v;
    }
    EXPECT_FALSE(Exists(mark)) << "value ran a command: " << v;
  }
}

TEST(QuotingEndToEnd, CacheKeysStayTheSameForTheSameCommandAndValue) {
  TempDir d;
  const std::string pipeline = d.Write("p.yaml", kContextsPipeline);
  Json first = RunPipeline(d.path(), pipeline, {"-p", "v=a 'b' \"c\""});
  ASSERT_EQ(first.value("completed", -1), 4) << first.dump(2);
  Json again = RunPipeline(d.path(), pipeline, {"-p", "v=a 'b' \"c\""});
  EXPECT_EQ(again.value("cached", -1), 4) << again.dump(2);
  EXPECT_EQ(OutputOf(d.path(), again.value("run", ""), "dq", "o"), "x-a 'b' \"c\"-y");
  Json other = RunPipeline(d.path(), pipeline, {"-p", "v=a 'b'"});
  EXPECT_EQ(other.value("cached", -1), 0) << "another value is another key";
}

TEST(QuotingEndToEnd, AWorkspacePathWithASpaceWorksQuotedOrNot) {
  TempDir d;
  const std::string ws = d.path() + "/my work's dir";
  const std::string pipeline = d.Write("my work's dir/p.yaml", R"Y(name: spaces
steps:
  a:
    run: printf 'hello\n' > "{{outputs.o}}"
    outputs: [o]
  b:
    run: cat {{inputs.a}} > "{{outputs.o}}"; printf 'more' >> '{{outputs.o}}'
    inputs: {a: a.o}
    outputs: [o]
)Y");
  Json sum = RunPipeline(ws, pipeline, {});
  ASSERT_EQ(sum.value("completed", -1), 2) << sum.dump(2);
  EXPECT_EQ(OutputOf(ws, sum.value("run", ""), "b", "o"), "hello\nmore");
}

// Each construct where no quoting makes a value safe: the pipeline is refused before anything
// runs, with exit 2 and the command's file:line:column.
TEST(QuotingEndToEnd, UnquotableContextsRefuseThePipelineWithTheirLocation) {
  TempDir d;
  const std::string mark = d.path() + "/ran";
  struct Case {
    std::string run;  // the YAML of the step's run value, on line 6 at column 10
    std::string message;
  };
  const std::vector<Case> cases = {
      {"echo `touch MARK; echo {{params.v}}` > {{outputs.o}}",
       "{{params.v}} inside backquotes cannot be quoted safely; use $(...) or move it out"},
      {"touch MARK; echo ${X:-{{params.v}}} > {{outputs.o}}",
       "{{params.v}} inside ${...} cannot be quoted safely"},
      {"touch MARK; echo \"${{params.v}}\" > {{outputs.o}}",
       "{{params.v}} right after '$' cannot be quoted safely"},
      {"touch MARK; echo \\{{params.v}} > {{outputs.o}}", "{{params.v}} right after a backslash"},
      {"\"touch MARK; cat <<EOF > {{outputs.o}}\\n{{params.v}}\\nEOF\\n\"",
       "{{params.v}} inside a here-document cannot be quoted safely"},
  };
  for (const auto& c : cases) {
    const std::string pipeline =
        d.Write("p.yaml", "name: refused\nparameters:\n  v: x\nsteps:\n  a:\n    run: " +
                              Replace(c.run, "MARK", mark) + "\n    outputs: [o]\n");
    auto r = RunBaton(d.path(), {"run", pipeline});
    EXPECT_EQ(r.exit_code, 2) << c.run << "\n" << Describe(r);
    EXPECT_TRUE(Contains(r.err, pipeline + ":6:10: error: step 'a': " + c.message)) << c.run << "\n"
                                                                                    << r.err;
    EXPECT_FALSE(Exists(mark)) << c.run;
  }
}

}  // namespace
}  // namespace baton::testing
