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
    else if (ns == "matrix") p.kind = TemplatePiece::kMatrix;
    else if (ref == "item") p.kind = TemplatePiece::kItem;
    else if (ref == "item.index") p.kind = TemplatePiece::kItemIndex;
    else if (ref == "run.id") p.kind = TemplatePiece::kRunId;
    else if (ref == "step.name") p.kind = TemplatePiece::kStepName;
    else
      return fail(i, "unknown template reference '{{" + ref +
                         "}}' (expected inputs.NAME, outputs.NAME, params.NAME, matrix.NAME, item, item.index, run.id or step.name)");
    if ((p.kind == TemplatePiece::kInput || p.kind == TemplatePiece::kOutput ||
         p.kind == TemplatePiece::kParam || p.kind == TemplatePiece::kMatrix) && name.empty())
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

std::string RenderTemplate(const std::vector<TemplatePiece>& pieces,
                           const TemplateResolver& resolve) {
  std::string out;
  for (const auto& p : pieces) out += p.kind == TemplatePiece::kLiteral ? p.text : resolve(p);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Quoting contexts of a string command.

namespace {

// How a reference was written, for messages.
std::string ReferenceText(const TemplatePiece& p) {
  switch (p.kind) {
    case TemplatePiece::kInput:
      return "{{inputs." + p.text + "}}";
    case TemplatePiece::kOutput:
      return "{{outputs." + p.text + "}}";
    case TemplatePiece::kParam:
      return "{{params." + p.text + "}}";
    case TemplatePiece::kMatrix:
      return "{{matrix." + p.text + "}}";
    case TemplatePiece::kItem:
      return "{{item}}";
    case TemplatePiece::kItemIndex:
      return "{{item.index}}";
    case TemplatePiece::kRunId:
      return "{{run.id}}";
    case TemplatePiece::kStepName:
      return "{{step.name}}";
    default:
      return p.text;
  }
}

// Follows the quoting state of a POSIX sh command line character by character, with references
// as tokens of their own, and records the context of each reference. It tracks what decides
// how a value must be quoted: quotes, escapes, comments, $(...) nesting and here-documents;
// where the state cannot be known for sure, references are refused rather than guessed at.
class ShellScanner {
 public:
  explicit ShellScanner(const std::vector<TemplatePiece>& pieces) : pieces_(pieces) {
    for (size_t i = 0; i < pieces.size(); ++i) {
      if (pieces[i].kind != TemplatePiece::kLiteral)
        toks_.push_back({'\0', static_cast<int>(i)});
      else
        for (char c : pieces[i].text) toks_.push_back({c, -1});
    }
  }

  Result<std::vector<ShellSlot>> Scan(size_t* error_offset) {
    Status st = Run();
    if (!st.ok()) {
      if (error_offset) *error_offset = error_offset_;
      return st;
    }
    return slots_;
  }

 private:
  enum class Frame {
    kCommand,
    kDouble,
    kSingle,
    kDollarSingle,
    kBackquote,
    kBrace,
    kComment,
    kHereDoc
  };
  struct FrameState {
    Frame kind;
    int parens = 0;           // kCommand inside $(: open parentheses (0 at the top level)
    bool arithmetic = false;  // kCommand of $((...)), where << is a shift
  };
  struct HereDoc {
    std::string delimiter;
    bool strip_tabs = false;
  };
  struct Tok {
    char c;
    int ref;  // index of a reference piece, or -1 for a character of literal text
  };

  bool IsRef(size_t i) const { return i < toks_.size() && toks_[i].ref >= 0; }
  char At(size_t i) const { return i < toks_.size() && toks_[i].ref < 0 ? toks_[i].c : '\0'; }
  Frame Top() const { return stack_.back().kind; }

  Status Refuse(size_t at, const std::string& where, const std::string& hint) {
    const TemplatePiece& p = pieces_[toks_[at].ref];
    error_offset_ = p.offset;
    return InvalidArgument(ReferenceText(p) + " " + where + " cannot be quoted safely; " + hint);
  }

  Status Run() {
    stack_ = {{Frame::kCommand}};
    while (pos_ < toks_.size()) {
      if (Top() == Frame::kHereDoc) {
        BATON_RETURN_IF_ERROR(HereDocLine());
      } else if (IsRef(pos_)) {
        BATON_RETURN_IF_ERROR(Reference());
      } else {
        BATON_RETURN_IF_ERROR(Char());
      }
    }
    return Status::Ok();
  }

  Status Char() {
    switch (Top()) {
      case Frame::kCommand:
        return CommandChar();
      case Frame::kDouble:
        return DoubleChar();
      case Frame::kBrace:
        return BraceChar();
      case Frame::kSingle:
        return Close('\'');
      case Frame::kDollarSingle:
        return DollarSingleChar();
      case Frame::kBackquote:
        return BackquoteChar();
      case Frame::kComment:
        if (At(pos_) == '\n')
          stack_.pop_back();  // the newline itself belongs to the command
        else
          ++pos_;
        return Status::Ok();
      case Frame::kHereDoc:
        break;
    }
    return Status::Ok();
  }

  // A reference: its context is the innermost frame, unless some frame makes it unsafe.
  Status Reference() {
    if (!lost_.empty()) return Refuse(pos_, lost_, "move it before that");
    for (auto f = stack_.rbegin(); f != stack_.rend(); ++f) {
      if (f->kind == Frame::kBackquote)
        return Refuse(pos_, "inside backquotes", "use $(...) or move it out");
      if (f->kind == Frame::kBrace)
        return Refuse(pos_, "inside ${...}", "assign it to a variable first and expand that");
      if (f->kind == Frame::kDollarSingle)
        return Refuse(pos_, "inside $'...'", "use '...' or \"...\" instead");
    }
    ShellSlot slot;
    switch (Top()) {
      case Frame::kDouble:
        slot.context = ShellContext::kDoubleQuoted;
        slot.after_name = AfterName();
        break;
      case Frame::kSingle:
        slot.context = ShellContext::kSingleQuoted;
        break;
      case Frame::kComment:
        slot.context = ShellContext::kComment;
        break;
      default:
        slot.starts_word = word_start_;
        slot.after_name = AfterName() || (!IsRef(pos_ - 1) && At(pos_ - 1) == '~');
        break;
    }
    slots_.push_back(slot);
    word_start_ = false;
    ++pos_;
    return Status::Ok();
  }

  Status CommandChar() {
    const char c = At(pos_);
    FrameState& f = stack_.back();
    if (word_start_ && c == '#') {
      stack_.push_back({Frame::kComment});
      ++pos_;
      return Status::Ok();
    }
    // Inside $(...) the ')' of a case pattern would end the substitution for this scanner.
    if (word_start_ && f.parens > 0 && StartsWord("case")) lost_ = "after 'case' inside $(...)";
    word_start_ = false;
    switch (c) {
      case '\\':
        return Escape();
      case '\'':
        return Open(Frame::kSingle);
      case '"':
        return Open(Frame::kDouble);
      case '`':
        return Open(Frame::kBackquote);
      case '$':
        return Dollar();
      case '<':
        if (At(pos_ + 1) == '<' && At(pos_ + 2) != '<' && !f.arithmetic) return HereDocOperator();
        pos_ += At(pos_ + 1) == '<' ? 2 : 1;  // a shift, or a here-string's `<<<` in two steps
        break;
      case '(':
        if (f.parens > 0) ++f.parens;
        ++pos_;
        break;
      case ')':
        ++pos_;
        if (f.parens > 0 && --f.parens == 0) {
          stack_.pop_back();  // the end of $(...): back in the middle of a word
          return Status::Ok();
        }
        break;
      case '\n':
        ++pos_;
        if (!heredocs_.empty()) stack_.push_back({Frame::kHereDoc});
        break;
      default:
        ++pos_;
        if (!std::strchr(" \t;&|>", c)) return Status::Ok();
    }
    word_start_ = true;
    return Status::Ok();
  }

  Status DoubleChar() {
    switch (At(pos_)) {
      case '\\':
        return Escape();
      case '"':
        return Close('"');
      case '`':
        return Open(Frame::kBackquote);
      case '$':
        return Dollar();
      default:
        ++pos_;
        return Status::Ok();
    }
  }

  // ${...}: ends at the first unquoted '}'.
  Status BraceChar() {
    const bool in_double = stack_.size() > 1 && stack_[stack_.size() - 2].kind == Frame::kDouble;
    switch (At(pos_)) {
      case '\\':
        return Escape();
      case '}':
        return Close('}');
      case '"':
        return Open(Frame::kDouble);
      case '\'':
        if (!in_double) return Open(Frame::kSingle);
        break;
      case '`':
        return Open(Frame::kBackquote);
      case '$':
        return Dollar();
    }
    ++pos_;
    return Status::Ok();
  }

  Status DollarSingleChar() {
    if (At(pos_) == '\\') {
      // A shell without $'...' (dash) ends the string at this quote; bash does not.
      if (At(pos_ + 1) == '\'') lost_ = "after a $'...' string with an escaped quote";
      return Escape();
    }
    return Close('\'');
  }

  Status BackquoteChar() {
    if (At(pos_) == '\\') return Escape();
    return Close('`');
  }

  Status Open(Frame kind) {
    stack_.push_back({kind});
    ++pos_;
    return Status::Ok();
  }

  // Leaves the innermost frame at its closing character, or steps over any other character.
  Status Close(char closing) {
    if (At(pos_) == closing) stack_.pop_back();
    ++pos_;
    return Status::Ok();
  }

  // A backslash takes the next character literally; a value there would lose its first one.
  Status Escape() {
    if (IsRef(pos_ + 1)) return Refuse(pos_ + 1, "right after a backslash", "remove the backslash");
    pos_ += 2;
    return Status::Ok();
  }

  Status Dollar() {
    if (IsRef(pos_ + 1))
      return Refuse(pos_ + 1, "right after '$'",
                    "remove the '$' (the value would become part of an expansion)");
    const char n = At(pos_ + 1);
    if (n == '(') {
      stack_.push_back({Frame::kCommand, 1, At(pos_ + 2) == '('});
      pos_ += 2;
      word_start_ = true;
      return Status::Ok();
    }
    if (n == '{' || (n == '\'' && Top() == Frame::kCommand)) {
      stack_.push_back({n == '{' ? Frame::kBrace : Frame::kDollarSingle});
      pos_ += 2;
      return Status::Ok();
    }
    ++pos_;
    return Status::Ok();
  }

  // Whether the literal text just before the reference ends in `$NAME`, whose name a value
  // starting with a name character would extend.
  bool AfterName() const {
    auto name_char = [&](size_t at) {
      return !IsRef(at) && (std::isalnum(static_cast<unsigned char>(At(at))) || At(at) == '_');
    };
    size_t i = pos_;
    while (i > 0 && name_char(i - 1)) --i;
    return i < pos_ && i > 0 && !IsRef(i - 1) && At(i - 1) == '$' &&
           !std::isdigit(static_cast<unsigned char>(At(i)));
  }

  bool StartsWord(const char* word) const {
    size_t n = std::strlen(word);
    for (size_t i = 0; i < n; ++i)
      if (IsRef(pos_ + i) || At(pos_ + i) != word[i]) return false;
    return IsRef(pos_ + n) ? false : std::strchr(" \t\n;", At(pos_ + n)) != nullptr;
  }

  // `<<` or `<<-` and its delimiter word; the body starts after the next newline.
  Status HereDocOperator() {
    pos_ += 2;
    HereDoc doc;
    if (At(pos_) == '-') {
      doc.strip_tabs = true;
      ++pos_;
    }
    while (At(pos_) == ' ' || At(pos_) == '\t') ++pos_;
    const char* delimiter_hint = "write the delimiter out";
    while (pos_ < toks_.size()) {
      if (IsRef(pos_)) return Refuse(pos_, "as a here-document delimiter", delimiter_hint);
      const char c = At(pos_);
      if (std::strchr(" \t\n;&|<>()", c)) break;
      if (c == '\\' || c == '\'' || c == '"') {
        size_t end = c == '\\' ? pos_ + 2 : pos_ + 1;
        while (c != '\\' && end < toks_.size() && (IsRef(end) || At(end) != c)) ++end;
        for (size_t i = pos_ + 1; i < end && i < toks_.size(); ++i) {
          if (IsRef(i)) return Refuse(i, "as a here-document delimiter", delimiter_hint);
          doc.delimiter += At(i);
        }
        pos_ = c == '\\' ? end : end + 1;
        continue;
      }
      doc.delimiter += c;
      ++pos_;
    }
    heredocs_.push_back(doc);
    return Status::Ok();
  }

  // One line of a here-document body; the line that is the delimiter ends it.
  Status HereDocLine() {
    size_t end = pos_;
    std::string line;
    for (; end < toks_.size() && (IsRef(end) || At(end) != '\n'); ++end) {
      if (IsRef(end))
        return Refuse(end, "inside a here-document",
                      "pass it as an argument or read it from the environment "
                      "(BATON_PARAM_..., BATON_INPUT_..., BATON_OUTPUT_...)");
      line += At(end);
    }
    pos_ = end + 1;
    const HereDoc& doc = heredocs_.front();
    if (doc.strip_tabs) {
      size_t text = line.find_first_not_of('\t');
      line.erase(0, text == std::string::npos ? line.size() : text);
    }
    if (line == doc.delimiter) {
      heredocs_.erase(heredocs_.begin());
      if (heredocs_.empty()) {
        stack_.pop_back();
        word_start_ = true;
      }
    }
    return Status::Ok();
  }

  const std::vector<TemplatePiece>& pieces_;
  std::vector<Tok> toks_;
  size_t pos_ = 0;
  std::vector<FrameState> stack_;
  std::vector<HereDoc> heredocs_;  // pending, in the order their bodies follow
  bool word_start_ = true;         // the next character starts a word (of a command frame)
  std::string lost_;               // set once the state can no longer be followed: why
  std::vector<ShellSlot> slots_;
  size_t error_offset_ = 0;
};

// Words that are not plain words when they start a command.
bool NeedsQuotesToStartAWord(const std::string& v) {
  static const char* kReserved[] = {"if",   "then",     "else",   "elif",  "fi",    "do",
                                    "done", "case",     "esac",   "while", "until", "for",
                                    "in",   "function", "select", "time"};
  if (v.find('=') != std::string::npos) return true;  // an assignment in command position
  for (const char* r : kReserved)
    if (v == r) return true;
  return false;
}

}  // namespace

Result<std::vector<ShellSlot>> ScanShellContexts(const std::vector<TemplatePiece>& pieces,
                                                 size_t* error_offset) {
  return ShellScanner(pieces).Scan(error_offset);
}

std::string QuoteForShell(const std::string& value, const ShellSlot& slot) {
  std::string out;
  switch (slot.context) {
    case ShellContext::kBare:
      out = ShellQuote(value);
      if (out == value && (slot.after_name || (slot.starts_word && NeedsQuotesToStartAWord(value))))
        out = "'" + value + "'";
      return out;
    case ShellContext::kDoubleQuoted:
      // Inside "...", only these four keep a special meaning (a newline stays as it is). After
      // "$NAME", an empty "" keeps the value from extending the name.
      if (slot.after_name && !value.empty() &&
          (std::isalnum(static_cast<unsigned char>(value[0])) || value[0] == '_'))
        out = "\"\"";
      for (char c : value) {
        if (std::strchr("\\\"$`", c) && c != '\0') out += '\\';
        out += c;
      }
      return out;
    case ShellContext::kSingleQuoted:
      // Nothing is special inside '...' but its end: close, add a quoted quote, reopen.
      for (char c : value) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
      return out;
    case ShellContext::kComment:
      // A newline would end the comment and run the rest.
      for (char c : value) out += c == '\n' ? ' ' : c;
      return out;
  }
  return out;
}

namespace {

std::string EnvStyle(std::string s) {
  for (char& c : s) c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool WordBreak(char c) { return c == ' ' || c == '\t' || c == '\n' || c == ';' || c == '|' || c == '&' || c == ')'; }

}  // namespace

bool StandsAlone(const std::vector<TemplatePiece>& pieces, size_t i) {
  const bool before = i == 0 || (pieces[i - 1].kind == TemplatePiece::kLiteral && !pieces[i - 1].text.empty() &&
                                 (WordBreak(pieces[i - 1].text.back()) || pieces[i - 1].text.back() == '('));
  const bool after = i + 1 == pieces.size() || (pieces[i + 1].kind == TemplatePiece::kLiteral &&
                                                !pieces[i + 1].text.empty() && WordBreak(pieces[i + 1].text.front()));
  return before && after;
}

Status CheckListReferences(const std::vector<TemplatePiece>& pieces, const std::set<std::string>& lists,
                           bool shell, size_t* error_offset) {
  std::vector<ShellSlot> slots;
  if (shell) {
    BATON_ASSIGN_OR_RETURN(slots, ScanShellContexts(pieces, error_offset));
  }
  size_t next = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const auto& p = pieces[i];
    if (p.kind == TemplatePiece::kLiteral) continue;
    const ShellSlot* slot = shell && next < slots.size() ? &slots[next] : nullptr;
    ++next;
    if (p.kind != TemplatePiece::kInput || !lists.count(p.text)) continue;
    const bool alone = shell ? slot && slot->context == ShellContext::kBare && StandsAlone(pieces, i)
                             : pieces.size() == 1;
    if (alone) continue;
    if (error_offset) *error_offset = p.offset;
    return InvalidArgument("{{inputs." + p.text + "}} is a list (one path per instance) and must stand alone as " +
                           (shell ? "an unquoted word" : "a list element") +
                           "; use $BATON_INPUT_" + EnvStyle(p.text) + " (one path per line) elsewhere");
  }
  return Status::Ok();
}

Result<std::string> RenderShellCommand(const std::vector<TemplatePiece>& pieces,
                                       const TemplateResolver& resolve, size_t* error_offset,
                                       const ListResolver& lists) {
  BATON_ASSIGN_OR_RETURN(auto slots, ScanShellContexts(pieces, error_offset));
  std::string out;
  size_t next = 0;
  for (const auto& p : pieces) {
    if (p.kind == TemplatePiece::kLiteral) {
      out += p.text;
      continue;
    }
    if (next == slots.size()) return Internal("the shell scanner lost a template reference");
    const ShellSlot& slot = slots[next++];
    if (const std::vector<std::string>* list = lists ? lists(p) : nullptr) {
      // Validation made sure a list stands alone as a bare word: one quoted word per value.
      ShellSlot word = slot;
      std::string joined;
      for (const auto& v : *list) {
        joined += (joined.empty() ? "" : " ") + QuoteForShell(v, word);
        word.starts_word = false;
      }
      out += joined;
      continue;
    }
    out += QuoteForShell(resolve(p), slot);
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
