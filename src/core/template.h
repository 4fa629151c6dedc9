#pragma once
// Command templates: `{{inputs.x}}`, `{{outputs.y}}`, `{{params.z}}`, `{{run.id}}`,
// `{{step.name}}`, and rendering them into a command line.

#include <functional>
#include <string>
#include <vector>

#include "baton/status.h"

namespace baton {

struct TemplatePiece {
  enum Kind { kLiteral, kInput, kOutput, kParam, kRunId, kStepName } kind = kLiteral;
  std::string text;  // literal text, or the referenced name
  size_t offset = 0; // where the piece starts in the template string
};

// Splits a template into literal and reference pieces. Errors name the offset of the problem.
Result<std::vector<TemplatePiece>> ParseTemplate(const std::string& tmpl, size_t* error_offset = nullptr);

// Looks up the value of a reference piece.
using TemplateResolver = std::function<std::string(const TemplatePiece&)>;

// Renders pieces; when `shell_quote` each substituted value is quoted for /bin/sh.
std::string RenderTemplate(const std::vector<TemplatePiece>& pieces, const TemplateResolver& resolve,
                           bool shell_quote);

// Quotes a value for /bin/sh when it holds anything but safe characters.
std::string ShellQuote(const std::string& s);

// If a shell command template needs no shell (no metacharacters outside references, no
// reference glued to other text), returns its argv pieces split on spaces, so the command can
// be exec'd directly as make does for simple recipes. Otherwise returns false.
bool SplitSimpleCommand(const std::vector<TemplatePiece>& pieces,
                        std::vector<std::vector<TemplatePiece>>* argv);

}  // namespace baton
