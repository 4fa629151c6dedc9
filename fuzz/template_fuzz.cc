// libFuzzer target for command templates: the input is a template, then a NUL byte, then the
// value every reference stands for. Parsing, finding each reference's shell context and
// rendering must never crash or hang, and rendering is a function of its input.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string tmpl = input.substr(0, nul);
  const std::string value = nul == std::string::npos ? "v" : input.substr(nul + 1);
  auto pieces = baton::ParseTemplate(tmpl);
  if (!pieces.ok()) return 0;
  auto resolve = [&](const baton::TemplatePiece&) { return value; };
  (void)baton::RenderTemplate(*pieces, resolve);
  auto once = baton::RenderShellCommand(*pieces, resolve);
  auto twice = baton::RenderShellCommand(*pieces, resolve);
  if (once.ok() != twice.ok() || (once.ok() && *once != *twice)) __builtin_trap();
  auto slots = baton::ScanShellContexts(*pieces);
  if (slots.ok())
    for (const auto& slot : *slots) (void)baton::QuoteForShell(value, slot);
  std::vector<std::vector<baton::TemplatePiece>> argv;
  (void)baton::SplitSimpleCommand(*pieces, &argv);
  (void)baton::ShellQuote(value);
  return 0;
}
