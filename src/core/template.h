#pragma once
// Command templates: `{{inputs.x}}`, `{{outputs.y}}`, `{{params.z}}`, `{{run.id}}`,
// `{{step.name}}`, and rendering them into a command line.

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "baton/status.h"

namespace baton {

struct TemplatePiece {
  enum Kind { kLiteral, kInput, kOutput, kParam, kMatrix, kItem, kItemIndex, kRunId, kStepName } kind = kLiteral;
  std::string text;  // literal text, or the referenced name
  size_t offset = 0; // where the piece starts in the template string
};

// Splits a template into literal and reference pieces. Errors name the offset of the problem.
Result<std::vector<TemplatePiece>> ParseTemplate(const std::string& tmpl, size_t* error_offset = nullptr);

// Looks up the value of a reference piece.
using TemplateResolver = std::function<std::string(const TemplatePiece&)>;

// Renders pieces with every value substituted as it is (no quoting): for list commands and env.
std::string RenderTemplate(const std::vector<TemplatePiece>& pieces,
                           const TemplateResolver& resolve);

// Quotes a value for /bin/sh when it holds anything but safe characters.
std::string ShellQuote(const std::string& s);

// Where a reference sits in a string command for /bin/sh, which decides how its value is quoted.
enum class ShellContext {
  kBare,          // an unquoted word (also inside $(...) and $((...)))
  kDoubleQuoted,  // inside "..."
  kSingleQuoted,  // inside '...'
  kComment,       // after # (the value only has to stay on the comment's line)
};

struct ShellSlot {
  ShellContext context = ShellContext::kBare;
  bool starts_word = false;  // bare and first in its word: may be in command position
  bool after_name = false;   // right after `$NAME` (or a bare `~`): the value must not extend it
};

// Finds the context of each reference piece of a string command, in order. A reference in a
// place no quoting can make safe (inside backquotes, ${...}, $'...' or a here-document, right
// after `\` or `$`, as a here-document delimiter) is an error naming the construct, with the
// reference's offset in *error_offset.
Result<std::vector<ShellSlot>> ScanShellContexts(const std::vector<TemplatePiece>& pieces,
                                                 size_t* error_offset = nullptr);

// Quotes `value` so that the shell reads exactly its text where `slot` says it sits.
std::string QuoteForShell(const std::string& value, const ShellSlot& slot);

// The values of a list input (every instance's output of a matrix step), or null for a
// reference that is no list.
using ListResolver = std::function<const std::vector<std::string>*(const TemplatePiece&)>;

// Renders a string command for /bin/sh -c: each value quoted for its context; a list's values
// as one quoted word each.
Result<std::string> RenderShellCommand(const std::vector<TemplatePiece>& pieces,
                                       const TemplateResolver& resolve,
                                       size_t* error_offset = nullptr,
                                       const ListResolver& lists = nullptr);

// Whether reference piece `i` is a word of its own (nothing glued before or after it).
bool StandsAlone(const std::vector<TemplatePiece>& pieces, size_t i);
// Checks that each reference to an input named in `lists` stands alone: a bare word of a string
// command (`shell`), or a whole element of a list command.
Status CheckListReferences(const std::vector<TemplatePiece>& pieces, const std::set<std::string>& lists,
                           bool shell, size_t* error_offset = nullptr);

// If a shell command template needs no shell (no metacharacters outside references, no
// reference glued to other text), returns its argv pieces split on spaces, so the command can
// be exec'd directly as make does for simple recipes. Otherwise returns false.
bool SplitSimpleCommand(const std::vector<TemplatePiece>& pieces,
                        std::vector<std::vector<TemplatePiece>>* argv);

}  // namespace baton
