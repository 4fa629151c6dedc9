#pragma once
// The command tree as data (for completion scripts and the reference in docs/cli.md), and the
// generators built on it. Hidden commands and options (an empty CLI11 group) are left out.

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace baton::cli {

// What a value on the command line is, so that shells can complete it.
enum class ValueKind {
  kNone,      // a flag: no value
  kText,      // free text: nothing to complete
  kChoice,    // one of `choices`
  kRunId,     // a run id or 'last'
  kYamlFile,  // a pipeline or run config file (*.yaml, *.yml)
  kFile,      // any file
  kDirectory,
};

// One option or positional argument of a command.
struct ArgInfo {
  std::vector<std::string> names;  // "-o", "--output"; a positional's name alone
  std::string description;
  ValueKind kind = ValueKind::kNone;
  std::vector<std::string> choices;  // for kChoice
  bool repeat = false;               // a positional that takes every remaining argument
};

// One visible command: its path from the root ("" for the root, "runs list").
struct CommandInfo {
  std::string path;
  const CLI::App* app = nullptr;
  std::vector<std::string> subcommands;
  std::vector<std::string> subcommand_descriptions;
  std::vector<ArgInfo> options;
  std::vector<ArgInfo> positionals;
};

// Every visible command, parents before their children, in registration order.
std::vector<CommandInfo> CommandTree(const CLI::App& root);

// Completion scripts for the CLI rooted at `root`, named after it. `shell`: bash, zsh or fish.
// Returns false for another shell.
bool CompletionScript(const CLI::App& root, const std::string& shell, std::string* out);
extern const char* const kCompletionShells[3];

// The examples of a command ("runs list"), one command line each; empty when it has none.
std::vector<std::string> ExamplesOf(const std::string& path);
// Adds an "Examples:" footer to the help of every command that has examples.
void AddExampleFooters(CLI::App& root);
// The command reference in Markdown: every visible command with its usage, description,
// arguments, options and examples.
std::string CommandReference(const CLI::App& root);

}  // namespace baton::cli
