#include "core/template.h"

#include <cstring>

namespace baton {
namespace {

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

}  // namespace

Result<std::vector<TemplatePiece>> ParseTemplate(const std::string& t, size_t* error_offset) {
  std::vector<TemplatePiece> out;
  std::string lit;
  size_t lit_start = 0;
  size_t i = 0;
  auto fail = [&](size_t off, std::string msg) -> Status {
    if (error_offset) *error_offset = off;
    return InvalidArgument(std::move(msg));
  };
  while (i < t.size()) {
    if (t.compare(i, 2, "{{") != 0) {
      if (lit.empty()) lit_start = i;
      lit += t[i++];
      continue;
    }
    size_t close = t.find("}}", i + 2);
    if (close == std::string::npos) return fail(i, "unterminated '{{' in template");
    std::string ref = Trim(t.substr(i + 2, close - i - 2));
    if (!lit.empty()) {
      out.push_back({TemplatePiece::kLiteral, lit, lit_start});
      lit.clear();
    }
    TemplatePiece p;
    p.offset = i;
    size_t dot = ref.find('.');
    std::string ns = dot == std::string::npos ? ref : ref.substr(0, dot);
    std::string name = dot == std::string::npos ? "" : ref.substr(dot + 1);
    if (ns == "inputs") p.kind = TemplatePiece::kInput;
    else if (ns == "outputs") p.kind = TemplatePiece::kOutput;
    else if (ns == "params") p.kind = TemplatePiece::kParam;
    else if (ref == "run.id") p.kind = TemplatePiece::kRunId;
    else if (ref == "step.name") p.kind = TemplatePiece::kStepName;
    else
      return fail(i, "unknown template reference '{{" + ref +
                         "}}' (expected inputs.NAME, outputs.NAME, params.NAME, run.id or step.name)");
    if ((p.kind == TemplatePiece::kInput || p.kind == TemplatePiece::kOutput ||
         p.kind == TemplatePiece::kParam) && name.empty())
      return fail(i, "template reference '{{" + ref + "}}' names nothing after '" + ns + ".'");
    p.text = name;
    out.push_back(std::move(p));
    i = close + 2;
  }
  if (!lit.empty()) out.push_back({TemplatePiece::kLiteral, lit, lit_start});
  return out;
}

std::string ShellQuote(const std::string& s) {
  if (s.empty()) return "''";
  bool safe = true;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("@%_+=:,./-", c))) {
      safe = false;
      break;
    }
  }
  if (safe) return s;
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  out += "'";
  return out;
}

std::string RenderTemplate(const std::vector<TemplatePiece>& pieces, const TemplateResolver& resolve,
                           bool shell_quote) {
  std::string out;
  for (const auto& p : pieces) {
    if (p.kind == TemplatePiece::kLiteral) {
      out += p.text;
    } else {
      std::string v = resolve(p);
      out += shell_quote ? ShellQuote(v) : v;
    }
  }
  return out;
}

bool SplitSimpleCommand(const std::vector<TemplatePiece>& pieces,
                        std::vector<std::vector<TemplatePiece>>* argv) {
  argv->clear();
  std::vector<TemplatePiece> word;
  bool in_word = false;
  for (const auto& p : pieces) {
    if (p.kind != TemplatePiece::kLiteral) {
      word.push_back(p);
      in_word = true;
      continue;
    }
    for (char c : p.text) {
      if (c == ' ' || c == '\t') {
        if (in_word) argv->push_back(std::move(word));
        word.clear();
        in_word = false;
        continue;
      }
      // Anything the shell would interpret sends the command to /bin/sh.
      if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("@%_+=:,./-", c)))
        return false;
      if (!word.empty() && word.back().kind == TemplatePiece::kLiteral) word.back().text += c;
      else word.push_back({TemplatePiece::kLiteral, std::string(1, c), 0});
      in_word = true;
    }
  }
  if (in_word) argv->push_back(std::move(word));
  if (argv->empty()) return false;
  // The program itself must be a plain word: `=` there would be an assignment, and shell
  // builtins such as `cd` or `exit` need the shell.
  const auto& first = (*argv)[0];
  if (first.size() != 1 || first[0].kind != TemplatePiece::kLiteral) return false;
  const std::string& prog = first[0].text;
  if (prog.find('=') != std::string::npos) return false;
  // Builtins and keywords that have no executable of their own (or behave differently as one).
  static const char* kBuiltins[] = {
      "cd",     "exit",  "export", "set",   "unset",   "exec",   "source", ".",     "eval",
      "alias",  "ulimit", "umask", "wait",  "trap",    "shift",  "read",   "return", "break",
      "continue", "times", "command", "type", "hash",  "getopts", "readonly", "local", "jobs",
      "fg",     "bg",    "unalias", "if",   "then",    "else",   "elif",   "fi",    "for",
      "while",  "until", "do",     "done",  "case",    "esac",   "in",     "function", "select",
      "time",   "{",     "}",      "!"};
  for (const char* b : kBuiltins)
    if (prog == b) return false;
  return true;
}

}  // namespace baton
