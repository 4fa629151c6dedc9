// Unit tests for command templates (template.h): parsing, the quoting context of each reference
// in a string command, rendering with shell quoting (checked against a real /bin/sh), and the
// decision whether a command may skip the shell.

#include "core/template.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <random>

namespace baton {
namespace {

std::vector<TemplatePiece> MustParse(const std::string& t) {
  auto r = ParseTemplate(t);
  EXPECT_TRUE(r.ok()) << t << ": " << r.status().message();
  return r.ok() ? *r : std::vector<TemplatePiece>{};
}

// Resolves params.NAME from a map, inputs/outputs to "/in/NAME" and "/out/NAME".
TemplateResolver MapResolver(const std::map<std::string, std::string>& params) {
  return [params](const TemplatePiece& p) -> std::string {
    switch (p.kind) {
      case TemplatePiece::kParam: return params.at(p.text);
      case TemplatePiece::kInput: return "/in/" + p.text;
      case TemplatePiece::kOutput: return "/out/" + p.text;
      case TemplatePiece::kRunId: return "run-42";
      case TemplatePiece::kStepName: return "train";
      default: return "?";
    }
  };
}

// Runs `command` with /bin/sh -c (popen) and returns its stdout.
std::string Sh(const std::string& command) {
  FILE* f = ::popen(command.c_str(), "r");
  if (!f) return "<popen failed>";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int rc = ::pclose(f);
  EXPECT_EQ(rc, 0) << command;
  return out;
}

// Renders a string command for the shell, failing the test if it is refused.
std::string ShellRender(const std::vector<TemplatePiece>& pieces, const TemplateResolver& resolve) {
  auto r = RenderShellCommand(pieces, resolve);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : std::string();
}

bool Simple(const std::string& cmd, std::vector<std::vector<TemplatePiece>>* words = nullptr) {
  std::vector<std::vector<TemplatePiece>> w;
  bool r = SplitSimpleCommand(MustParse(cmd), &w);
  if (words) *words = w;
  return r;
}

// ---------------------------------------------------------------------------------------------
// ParseTemplate

TEST(ParseTemplate, SplitsLiteralsAndReferences) {
  auto p = MustParse("cp {{inputs.raw}} {{ outputs.clean }}");
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].kind, TemplatePiece::kLiteral);
  EXPECT_EQ(p[0].text, "cp ");
  EXPECT_EQ(p[0].offset, 0u);
  EXPECT_EQ(p[1].kind, TemplatePiece::kInput);
  EXPECT_EQ(p[1].text, "raw");
  EXPECT_EQ(p[1].offset, 3u);
  EXPECT_EQ(p[2].kind, TemplatePiece::kLiteral);
  EXPECT_EQ(p[2].text, " ");
  EXPECT_EQ(p[2].offset, 17u);
  EXPECT_EQ(p[3].kind, TemplatePiece::kOutput);
  EXPECT_EQ(p[3].text, "clean") << "spaces inside the braces are trimmed";
  EXPECT_EQ(p[3].offset, 18u);
}

TEST(ParseTemplate, AllReferenceKinds) {
  auto p = MustParse("{{params.lr}}{{run.id}}/{{step.name}}");
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].kind, TemplatePiece::kParam);
  EXPECT_EQ(p[0].text, "lr");
  EXPECT_EQ(p[1].kind, TemplatePiece::kRunId);
  EXPECT_EQ(p[2].kind, TemplatePiece::kLiteral);
  EXPECT_EQ(p[2].text, "/");
  EXPECT_EQ(p[3].kind, TemplatePiece::kStepName);
}

TEST(ParseTemplate, PlainTextAndSingleBraces) {
  auto p = MustParse("awk '{print $1}' }} x");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].kind, TemplatePiece::kLiteral);
  EXPECT_EQ(p[0].text, "awk '{print $1}' }} x");
  EXPECT_TRUE(MustParse("").empty());
}

TEST(ParseTemplate, ErrorsNameTheOffset) {
  size_t off = 999;
  auto r = ParseTemplate("echo {{outputs.o > x", &off);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "unterminated '{{' in template");
  EXPECT_EQ(off, 5u);

  r = ParseTemplate("a {{inputs.x}} {{param.lr}}", &off);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown template reference '{{param.lr}}'"), std::string::npos);
  EXPECT_EQ(off, 15u);

  r = ParseTemplate("{{run.number}}", &off);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(off, 0u);

  for (const char* empty : {"x {{inputs}}", "x {{outputs.}}", "x {{ params. }}"}) {
    r = ParseTemplate(empty, &off);
    ASSERT_FALSE(r.ok()) << empty;
    EXPECT_NE(r.status().message().find("names nothing after"), std::string::npos) << empty;
    EXPECT_EQ(off, 2u) << empty;
  }
  EXPECT_FALSE(ParseTemplate("{{}}").ok());
}

// ---------------------------------------------------------------------------------------------
// Rendering and quoting

TEST(RenderTemplate, SubstitutesWithAndWithoutQuoting) {
  auto p = MustParse("run {{params.msg}} --in {{inputs.raw}} --id {{run.id}}/{{step.name}}");
  auto res = MapResolver({{"msg", "hello world"}});
  EXPECT_EQ(RenderTemplate(p, res), "run hello world --in /in/raw --id run-42/train");
  EXPECT_EQ(ShellRender(p, res), "run 'hello world' --in /in/raw --id run-42/train");
}

TEST(ShellQuote, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(ShellQuote("plain/path-1.txt"), "plain/path-1.txt");
  EXPECT_EQ(ShellQuote("a=b,c:d@e%f+g"), "a=b,c:d@e%f+g");
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("two words"), "'two words'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote("$HOME"), "'$HOME'");
  EXPECT_EQ(ShellQuote("*"), "'*'");
}

// Values that would break or inject into a naively built command line.
const std::vector<std::string>& NastyValues() {
  static const std::vector<std::string> v = {
      "plain", "two words", "it's", "say \"hi\"", "$HOME", "$(echo injected)", "`echo injected`",
      "a; echo injected", "a | wc", "*", "~", "back\\slash", "new\nline", "tab\there", "", "''",
      "-n", "a && b", "#comment", "{a,b}", "!x", "trailing space ", "\\'\"$`"};
  return v;
}

TEST(RenderTemplate, QuotedValuesSurviveTheShellExactly) {
  auto p = MustParse("printf %s {{params.v}}");
  for (const std::string& v : NastyValues()) {
    std::string cmd = ShellRender(p, MapResolver({{"v", v}}));
    EXPECT_EQ(Sh(cmd), v) << "command: " << cmd;
  }
}

TEST(RenderTemplate, QuotedValuesStayOneArgumentEach) {
  // Each value is exactly one argument: empty values do not vanish, spaces do not split.
  auto p = MustParse("printf '[%s]' {{params.a}} {{params.b}} {{params.c}}");
  for (const std::string& v : NastyValues()) {
    std::string cmd = ShellRender(p, MapResolver({{"a", v}, {"b", ""}, {"c", v + " x"}}));
    EXPECT_EQ(Sh(cmd), "[" + v + "][][" + v + " x]") << "command: " << cmd;
  }
}

TEST(RenderTemplate, QuotedValuesGluedToLiteralText) {
  auto p = MustParse("printf %s --out={{params.a}}.txt{{params.b}}");
  std::string cmd = ShellRender(p, MapResolver({{"a", "my file"}, {"b", "'q'"}}));
  EXPECT_EQ(Sh(cmd), "--out=my file.txt'q'") << cmd;
}

// ---------------------------------------------------------------------------------------------
// Quoting contexts

// The contexts of the references in `cmd`, as letters: b bare, B bare starting a word, d "...",
// s '...', c comment.
std::string Contexts(const std::string& cmd) {
  auto slots = ScanShellContexts(MustParse(cmd));
  EXPECT_TRUE(slots.ok()) << cmd << ": " << slots.status().message();
  std::string out;
  if (!slots.ok()) return out;
  for (const auto& s : *slots) {
    switch (s.context) {
      case ShellContext::kBare:
        out += s.starts_word ? 'B' : 'b';
        break;
      case ShellContext::kDoubleQuoted:
        out += 'd';
        break;
      case ShellContext::kSingleQuoted:
        out += 's';
        break;
      case ShellContext::kComment:
        out += 'c';
        break;
    }
  }
  return out;
}

TEST(ShellContexts, QuotesEscapesAndComments) {
  EXPECT_EQ(Contexts("cp {{inputs.a}} x{{outputs.o}}"), "Bb");
  EXPECT_EQ(Contexts("echo \"x-{{params.v}}-y\" > \"{{outputs.o}}\""), "dd");
  EXPECT_EQ(Contexts("echo 'x-{{params.v}}-y' '{{params.v}}'{{params.v}}"), "ssb");
  EXPECT_EQ(Contexts("echo \"it's {{params.v}}\" 'say \"{{params.v}}\"'"), "ds");
  EXPECT_EQ(Contexts("echo \"a\\\"{{params.v}}\" 'a'\\''{{params.v}}'"), "ds")
      << "escaped quotes do not close";
  EXPECT_EQ(Contexts("echo \\'{{params.v}} \\\"{{params.v}}"), "bb")
      << "escaped quotes do not open";
  EXPECT_EQ(Contexts("echo {{params.v}} # uses {{params.v}}\necho {{params.v}}"), "BcB");
  EXPECT_EQ(Contexts("echo a#{{params.v}} '#'{{params.v}}"), "bb")
      << "# inside a word is no comment";
  EXPECT_EQ(Contexts("x=1;# {{params.v}}"), "c");
  EXPECT_EQ(Contexts("echo \"$HOME/{{params.v}}\" ${HOME}{{params.v}}"), "db");
}

TEST(ShellContexts, CommandSubstitutionIsANewCommand) {
  EXPECT_EQ(Contexts("echo $(cat {{inputs.a}})"), "B");
  EXPECT_EQ(Contexts("echo \"$(cat {{inputs.a}}) {{params.v}}\""), "Bd");
  EXPECT_EQ(Contexts("echo \"$(printf %s \"{{params.v}}\" 'x{{params.v}}')\""), "ds");
  EXPECT_EQ(Contexts("echo \"$( (echo {{params.v}}) )\" \"{{params.v}}\""), "Bd");
  EXPECT_EQ(Contexts("echo \"$(echo ')')\" \"{{params.v}}\""), "d")
      << "a quoted ')' does not end $(";
  EXPECT_EQ(Contexts("echo $(( $(cat {{inputs.v}}) + 1 )) > {{outputs.v}} # {{step.name}}"), "BBc");
  EXPECT_EQ(Contexts("case {{params.v}} in a) echo '{{params.v}}';; esac"), "Bs");
}

TEST(ShellContexts, HereDocumentsEndAndTheCommandGoesOn) {
  EXPECT_EQ(Contexts("cat <<EOF > {{outputs.o}}\n'\"$x\nEOF\necho \"{{params.v}}\""), "Bd");
  EXPECT_EQ(Contexts("cat <<-'END' >{{outputs.o}}\n\t'\n\tEND\necho '{{params.v}}'"), "Bs");
  EXPECT_EQ(Contexts("cat <<A <<\"B\"\na\nA\nb\nB\necho {{params.v}}"), "B");
  EXPECT_EQ(Contexts("cat <<<'x' {{params.v}}"), "B") << "a here-string is no here-document";
  EXPECT_EQ(Contexts("echo $(( 1 << {{params.v}} ))\necho {{params.v}}"), "BB")
      << "<< is a shift in $((";
  EXPECT_EQ(Sh(ShellRender(MustParse("echo $((1<<{{params.v}}))"), MapResolver({{"v", "3"}}))),
            "8\n");
}

// Refuses `cmd`; returns the message and checks the offset is the reference's.
std::string Refused(const std::string& cmd, const std::string& ref = "{{params.v}}") {
  size_t off = 999;
  auto r = ScanShellContexts(MustParse(cmd), &off);
  EXPECT_FALSE(r.ok()) << cmd;
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(off, cmd.find(ref)) << cmd;
  return r.status().message();
}

TEST(ShellContexts, RefusesWhatCannotBeQuoted) {
  EXPECT_EQ(Refused("echo `cat {{params.v}}`"),
            "{{params.v}} inside backquotes cannot be quoted safely; use $(...) or move it out");
  EXPECT_EQ(Refused("echo \"`echo \"{{params.v}}\"`\""), Refused("echo `cat {{params.v}}`"));
  EXPECT_NE(
      Refused("echo ${X:-{{params.v}}}").find("{{params.v}} inside ${...} cannot be quoted safely"),
      std::string::npos);
  EXPECT_NE(Refused("echo \"${X:-$(cat {{params.v}})}\"").find("inside ${...}"), std::string::npos);
  EXPECT_NE(Refused("echo $'a{{params.v}}'").find("inside $'...'"), std::string::npos);
  EXPECT_NE(Refused("cat <<EOF\nhello {{params.v}}\nEOF").find("inside a here-document"),
            std::string::npos);
  EXPECT_NE(Refused("cat <<'EOF'\nEOF {{params.v}}\nEOF").find("inside a here-document"),
            std::string::npos);
  EXPECT_NE(Refused("cat <<{{params.v}}\nx\n").find("as a here-document delimiter"),
            std::string::npos);
  EXPECT_NE(Refused("cat <<'E{{params.v}}'\nx\n").find("as a here-document delimiter"),
            std::string::npos);
  EXPECT_NE(Refused("echo \\{{params.v}}").find("right after a backslash"), std::string::npos);
  EXPECT_NE(Refused("echo \"\\{{params.v}}\"").find("right after a backslash"), std::string::npos);
  EXPECT_NE(Refused("echo ${{params.v}}").find("right after '$'"), std::string::npos);
  EXPECT_NE(Refused("echo \"${{params.v}}\"").find("right after '$'"), std::string::npos);
  EXPECT_NE(
      Refused("x=$(case a in a) echo;; esac) {{params.v}}").find("after 'case' inside $(...)"),
      std::string::npos);
  EXPECT_NE(Refused("echo {{inputs.a}} `ls {{outputs.o}}`", "{{outputs.o}}")
                .find("{{outputs.o}} inside backquotes"),
            std::string::npos);
  // The same characters where they are harmless.
  EXPECT_EQ(
      Contexts("echo '`{{params.v}}`' '${x:-{{params.v}}}' '\\{{params.v}}' \\\\{{params.v}}"),
      "sssb");
  EXPECT_EQ(Contexts("echo \"$ {{params.v}}\" $\"\"{{params.v}}"), "db");
}

// Hostile values, each of which breaks a naively quoted command in some context.
const std::vector<std::string>& HostileValues() {
  static const std::vector<std::string> v = [] {
    std::vector<std::string> all = NastyValues();
    for (const char* x : {"$(echo INJECTED)",
                          "`echo INJECTED`",
                          "'",
                          "\"",
                          "\\",
                          ";",
                          "\n",
                          " ",
                          "a b",
                          "x'; echo INJECTED; '",
                          "x\"; echo INJECTED; \"",
                          "a\nb; echo INJECTED",
                          "'\"'\"",
                          "\\\"",
                          "\\$HOME",
                          "\\\\",
                          "ends with a backslash\\",
                          "trailing newline\n",
                          "héllo ✓ 日本",
                          "${HOME}",
                          "$((1+1))",
                          "'\\''",
                          "%s%d",
                          "-e"})
      all.push_back(x);
    return all;
  }();
  return v;
}

TEST(QuoteForShell, EachContextRoundTripsThroughTheShell) {
  // The value must reach printf as exactly its text, with the literal text around it, whatever
  // the context it sits in.
  const std::pair<const char*, std::string (*)(const std::string&)> cases[] = {
      {"printf %s {{params.v}}", [](const std::string& v) { return v; }},
      {"printf %s x{{params.v}}y", [](const std::string& v) { return "x" + v + "y"; }},
      {"printf %s \"x-{{params.v}}-y\"", [](const std::string& v) { return "x-" + v + "-y"; }},
      {"printf %s 'x-{{params.v}}-y'", [](const std::string& v) { return "x-" + v + "-y"; }},
      {"printf %s \"'{{params.v}}'\"", [](const std::string& v) { return "'" + v + "'"; }},
      {"printf %s '\"{{params.v}}\"'", [](const std::string& v) { return "\"" + v + "\""; }},
      {"printf %s \"$(printf '%s.' \"{{params.v}}\")\"",
       [](const std::string& v) { return v + "."; }},
      {"printf %s \"$(printf '%s.' {{params.v}})\"", [](const std::string& v) { return v + "."; }},
      {"printf '[%s]' '{{params.v}}'\"{{params.v}}\"{{params.v}}",
       [](const std::string& v) { return "[" + v + v + v + "]"; }},
      {"printf %s ok # {{params.v}}", [](const std::string&) { return std::string("ok"); }},
      {"X=1; printf %s \"$X{{params.v}}\" $X{{params.v}}",
       [](const std::string& v) { return "1" + v + "1" + v; }},
      {"printf %s ~{{params.v}}", [](const std::string& v) { return "~" + v; }},
      {"cat <<'EOF'\n$x `y`\nEOF\nprintf %s \"{{params.v}}\"",
       [](const std::string& v) { return "$x `y`\n" + v; }},
  };
  for (const auto& [tmpl, expect] : cases) {
    for (const std::string& v : HostileValues()) {
      std::string cmd = ShellRender(MustParse(tmpl), MapResolver({{"v", v}}));
      EXPECT_EQ(Sh(cmd), expect(v))
          << "template: " << tmpl << "\nvalue: " << v << "\ncommand: " << cmd;
    }
  }
}

// A random shell word made of bare, '...', "..." and "$(...)" parts holding references, and
// what `printf %s` prints for it when every reference holds `v`.
struct RandomWord {
  std::string tmpl;
  std::string expect;
};

RandomWord MakeWord(std::mt19937& rng, const std::string& v, int depth) {
  RandomWord w;
  const int parts = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < parts; ++i) {
    switch (rng() % (depth < 2 ? 7 : 5)) {
      case 0:
        w.tmpl += "ab", w.expect += "ab";
        break;
      case 1:
        w.tmpl += "{{params.v}}", w.expect += v;
        break;
      case 2:
        w.tmpl += "'x{{params.v}}\"y'", w.expect += "x" + v + "\"y";
        break;
      case 3:
        w.tmpl += "\"'{{params.v}} $ %\"", w.expect += "'" + v + " $ %";
        break;
      case 4:
        w.tmpl += "\\\"{{params.v}}\\'", w.expect += "\"" + v + "'";
        break;
      default: {
        // printf %s. adds a dot, so trailing newlines survive the command substitution.
        RandomWord inner = MakeWord(rng, v, depth + 1);
        w.tmpl += "\"$(printf %s. " + inner.tmpl + ")\"";
        w.expect += inner.expect + ".";
      }
    }
  }
  return w;
}

TEST(QuoteForShell, RandomWordsOfNestedContextsRoundTrip) {
  std::mt19937 rng(20261206);
  const std::vector<std::string>& values = HostileValues();
  for (int round = 0; round < 60; ++round) {
    // One shell per round: the same random shape with every hostile value, '|' between them.
    std::string script, expect;
    const unsigned seed = static_cast<unsigned>(rng());
    for (const auto& v : values) {
      std::mt19937 shape(seed);
      RandomWord w = MakeWord(shape, v, 0);
      script +=
          ShellRender(MustParse("printf %s " + w.tmpl + "; printf '|'\n"), MapResolver({{"v", v}}));
      expect += w.expect + "|";
    }
    ASSERT_EQ(Sh(script), expect) << script;
  }
}

TEST(QuoteForShell, QuotesEachContextAsDocumented) {
  const ShellSlot bare{ShellContext::kBare, false}, first{ShellContext::kBare, true};
  const ShellSlot dq{ShellContext::kDoubleQuoted, false}, sq{ShellContext::kSingleQuoted, false};
  const ShellSlot comment{ShellContext::kComment, false};
  EXPECT_EQ(QuoteForShell("data/x.csv", bare), "data/x.csv") << "plain values stay as they are";
  EXPECT_EQ(QuoteForShell("a b", bare), "'a b'");
  EXPECT_EQ(QuoteForShell("it's", bare), "'it'\\''s'");
  EXPECT_EQ(QuoteForShell("", bare), "''");
  EXPECT_EQ(QuoteForShell("A=1", bare), "A=1");
  EXPECT_EQ(QuoteForShell("A=1", first), "'A=1'") << "would be an assignment in command position";
  EXPECT_EQ(QuoteForShell("if", first), "'if'") << "would be a keyword in command position";
  EXPECT_EQ(QuoteForShell("python3", first), "python3");
  EXPECT_EQ(QuoteForShell("a\\b\"c$d`e'f\ng", dq), "a\\\\b\\\"c\\$d\\`e'f\ng");
  EXPECT_EQ(QuoteForShell("a'b \"c\" $d;\n", sq), "a'\\''b \"c\" $d;\n");
  EXPECT_EQ(QuoteForShell("a\nrm -rf x", comment), "a rm -rf x");
  // Right after $NAME a plain value would make the name longer.
  EXPECT_EQ(QuoteForShell("abc", {ShellContext::kBare, false, true}), "'abc'");
  EXPECT_EQ(QuoteForShell("abc", {ShellContext::kDoubleQuoted, false, true}), "\"\"abc");
  EXPECT_EQ(QuoteForShell("-abc", {ShellContext::kDoubleQuoted, false, true}), "-abc");
}

TEST(QuoteForShell, ValuesInCommandPositionAreNotReinterpreted) {
  auto p = MustParse("{{params.v}} 2>/dev/null; printf %s $?");
  EXPECT_EQ(Sh(ShellRender(p, MapResolver({{"v", "X=1"}}))), "127")
      << "run as a command named X=1, not assigned";
  EXPECT_EQ(Sh(ShellRender(p, MapResolver({{"v", "if"}}))), "127");
}

TEST(RenderShellCommand, RefusalsAreErrorsWithTheOffset) {
  size_t off = 0;
  auto r = RenderShellCommand(MustParse("echo ok; echo `echo {{params.v}}`"),
                              MapResolver({{"v", "x"}}), &off);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(off, 20u);
  EXPECT_NE(r.status().message().find("inside backquotes"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// SplitSimpleCommand

TEST(SplitSimpleCommand, PlainWordsSkipTheShell) {
  std::vector<std::vector<TemplatePiece>> w;
  ASSERT_TRUE(Simple("python3 steps/train.py --epochs 3 --out {{outputs.model}}", &w));
  ASSERT_EQ(w.size(), 6u);
  EXPECT_EQ(w[0].size(), 1u);
  EXPECT_EQ(w[0][0].text, "python3");
  EXPECT_EQ(w[3][0].text, "3");
  ASSERT_EQ(w[5].size(), 1u);
  EXPECT_EQ(w[5][0].kind, TemplatePiece::kOutput);
  EXPECT_EQ(w[5][0].text, "model");

  EXPECT_TRUE(Simple("true"));
  EXPECT_TRUE(Simple("  echo\ta   b  "));
  EXPECT_TRUE(Simple("env a=b x@y:z,w+1%"));  // '=' is fine after the program
  EXPECT_TRUE(Simple("./run.sh {{inputs.raw}} {{params.lr}} {{run.id}} {{step.name}}"));
}

TEST(SplitSimpleCommand, SplitsOnSpacesAndTabsAndKeepsGluedPiecesInOneWord) {
  std::vector<std::vector<TemplatePiece>> w;
  ASSERT_TRUE(Simple("  cmd\t--out={{outputs.o}}.tmp   last ", &w));
  ASSERT_EQ(w.size(), 3u);
  ASSERT_EQ(w[1].size(), 3u);
  EXPECT_EQ(w[1][0].kind, TemplatePiece::kLiteral);
  EXPECT_EQ(w[1][0].text, "--out=");
  EXPECT_EQ(w[1][1].kind, TemplatePiece::kOutput);
  EXPECT_EQ(w[1][2].text, ".tmp");
  EXPECT_EQ(w[2][0].text, "last");
}

TEST(SplitSimpleCommand, ShellSyntaxGoesToTheShell) {
  for (const char* cmd : {
           "echo a | wc -l",            // pipe
           "echo a > out.txt",          // redirect
           "sort < in.txt",             // redirect
           "echo a 2>&1",               // redirect and &
           "make; make install",        // ;
           "a && b",                    // &&
           "sleep 1 &",                 // background
           "echo $HOME",                // expansion
           "echo ${X}",                 // expansion
           "echo $(date)",              // command substitution
           "echo `date`",               // command substitution
           "echo 'quoted words'",       // single quotes
           "echo \"quoted words\"",     // double quotes
           "echo a\\ b",                // backslash
           "ls *.txt",                  // glob
           "ls file?.txt",              // glob
           "ls [ab].txt",               // glob
           "echo ~/data",               // tilde
           "echo {a,b}",                // braces
           "echo a # comment",          // comment
           "(cd x)",                    // subshell
           "! false",                   // negation
           "echo a\necho b",            // several lines
       }) {
    EXPECT_FALSE(Simple(cmd)) << cmd;
  }
}

TEST(SplitSimpleCommand, BuiltinsAssignmentsAndTemplateProgramsGoToTheShell) {
  EXPECT_FALSE(Simple("cd data"));
  EXPECT_FALSE(Simple("exit 3"));
  EXPECT_FALSE(Simple("export A=1"));
  EXPECT_FALSE(Simple(". ./env.sh"));
  EXPECT_FALSE(Simple("source env.sh"));
  EXPECT_FALSE(Simple("VAR=x cmd"));
  EXPECT_FALSE(Simple("A=1"));
  EXPECT_FALSE(Simple("{{inputs.tool}} --help"));
  EXPECT_FALSE(Simple("{{params.python}}"));
  EXPECT_FALSE(Simple("bin/{{params.tool}} x")) << "a program name glued to a reference";
  EXPECT_FALSE(Simple(""));
  EXPECT_FALSE(Simple("   \t "));
  // A builtin-looking word is fine as an argument.
  EXPECT_TRUE(Simple("echo cd exit"));
}

TEST(SplitSimpleCommand, ShellOnlyBuiltinsWithoutAnExecutableGoToTheShell) {
  // Found as a bug (`run: command -v python3` was exec'd directly: "program not found"); fixed.
  EXPECT_FALSE(Simple("command -v python3"));
  EXPECT_FALSE(Simple("type python3"));
  EXPECT_FALSE(Simple("hash python3"));
  EXPECT_FALSE(Simple("readonly X"));
  EXPECT_FALSE(Simple("local x"));
  EXPECT_FALSE(Simple("if true"));
  EXPECT_FALSE(Simple("for x in a b"));
  EXPECT_FALSE(Simple("time make"));
}

TEST(SplitSimpleCommand, DirectArgvEqualsWhatTheShellWouldPass) {
  // For every command allowed to skip the shell, exec'ing the unquoted words must give the
  // program exactly the arguments /bin/sh would give it for the quoted rendering.
  const std::string cmd = "printf %s: a {{params.v}} --x={{params.v}}.y {{inputs.in}}";
  std::vector<std::vector<TemplatePiece>> words;
  ASSERT_TRUE(Simple(cmd, &words));
  for (const std::string& v : NastyValues()) {
    auto res = MapResolver({{"v", v}});
    std::vector<std::string> argv;
    for (const auto& w : words) argv.push_back(RenderTemplate(w, res));
    ASSERT_EQ(argv.size(), 6u);
    EXPECT_EQ(argv[0], "printf");
    EXPECT_EQ(argv[1], "%s:");
    std::string expected;
    for (size_t i = 2; i < argv.size(); ++i) expected += argv[i] + ":";
    std::string shell_cmd = ShellRender(MustParse(cmd), res);
    EXPECT_EQ(Sh(shell_cmd), expected) << "value: " << v << "\nshell command: " << shell_cmd;
  }
}

}  // namespace
}  // namespace baton
