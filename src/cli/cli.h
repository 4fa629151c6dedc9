#pragma once
// Shared pieces of the command-line front end: command registration, output formats, errors.

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/workspace.h"
#include "baton/suggest.h"
#include "core/executor.h"
#include "core/spec.h"

namespace baton::cli {

// The action a parsed subcommand runs; returns the process exit code.
using Action = std::function<int()>;
void SetAction(Action a);

void AddInitCommand(CLI::App& app);
void AddRunCommand(CLI::App& app);
void AddRunsCommands(CLI::App& app);
void AddArtifactsCommands(CLI::App& app);
void AddStepCommands(CLI::App& app);
void AddStackCommands(CLI::App& app);
void AddStoreCommands(CLI::App& app);
void AddScheduleCommands(CLI::App& app);
// server (cmd_server.cc): runs baton-server with args[2...] in place of this process.
void AddServerCommand(CLI::App& app);
int ForwardToServer(const std::vector<std::string>& args);
// login, logout (cmd_server.cc): tokens kept for metadata URIs https://HOST:PORT.
void AddLoginCommands(CLI::App& app);
// completion, dag (cmd_tools.cc); added last, so that they see every other command.
void AddToolCommands(CLI::App& app);
// runs compare|export|import (cmd_runs_transfer.cc).
void AddRunsTransferCommands(CLI::App* runs);
// runs delete|tag|note (cmd_gc.cc) and artifacts gc.
void AddRunsDeleteCommands(CLI::App* runs);
void AddArtifactsGcCommand(CLI::App* artifacts);
// A run tag: 1 to 64 letters, digits and . _ - : / = + (InvalidArgument otherwise).
Status CheckTag(const std::string& tag);

// Adds the commands to `app`: only the group that holds `word` when a group does (what a
// command line naming it needs), else all of them (help, completion, unknown commands).
void AddCommands(CLI::App& app, const std::string& word);
// The top-level commands, in the order help lists them, with the function that adds each
// group (the last, tools, is listed without names): a test checks the names against what each
// function adds.
struct CommandGroup {
  std::vector<std::string> names;
  void (*add)(CLI::App&);
};
const std::vector<CommandGroup>& CommandGroups();

// Before CLI11 parses `args` (argv as strings): rewrites `help CMD` to `CMD --help`, refuses an
// unknown command with suggestions, and lists the commands of a bare group. *handled: the
// returned exit code ends the process.
int PreParse(CLI::App& app, std::vector<std::string>& args, bool* handled);
// A parse error of CLI11, in baton's format: unknown flags with suggestions. Returns 2.
int ReportParseError(CLI::App& app, const std::vector<std::string>& args, const CLI::ParseError& e);

// The whole command line; main() of the baton binary and baton::Main of C++ pipelines.
int RunCli(int argc, char** argv);
// A C++ pipeline compiled into this binary: `run`, `compile` and `config template` use it when
// no pipeline file is given.
void SetEmbeddedPipeline(const PipelineSpec* spec);
const PipelineSpec* EmbeddedPipeline();

// Prints the end of a run (table or JSON) and returns its exit code: 0 completed, 1 otherwise.
int ReportRun(const std::string& run_id, const RunSummary& summary, bool json);

// Prints why a pipeline or run config cannot be used: diagnostics as they are
// (FILE:LINE:COLUMN: error: ...), anything else in baton's format. Returns 2 (bad input).
int BadInput(const Status& st);
// Prints "baton: error: ..." to stderr and returns the exit code for the status.
int Fail(const Status& s);
// Opens the workspace at or above the current directory.
Result<Workspace> OpenCurrentWorkspace();

// A table for people: columns aligned, header underlined by spacing only.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(FILE* out = stdout) const;
  size_t size() const { return rows_.size() - 1; }

 private:
  std::vector<std::vector<std::string>> rows_;
};

// Validates -o: "table" or "json".
void AddOutputOption(CLI::App* cmd, std::string* format);
void PrintJson(const Json& j);

// Colour: --color=auto|always|never. In auto, a stream is coloured only when it is a terminal,
// TERM is not "dumb" and NO_COLOR is unset or empty.
enum class ColorMode { kAuto, kAlways, kNever };
void SetColorMode(ColorMode mode);
// Whether text for file descriptor `fd` (1: stdout, 2: stderr) is coloured.
bool ColorEnabled(int fd);
// Whether a terminal on `fd` can take a redrawn status line (a terminal, TERM not "dumb").
bool CanRedraw(int fd);
// `text` wrapped in the SGR code `sgr` ("32" green, "1;31" bold red, ...) when `on`.
std::string Paint(const std::string& text, const char* sgr, bool on);
// The SGR code of a run or step status word: completed green, failed red, running yellow, ...
const char* StatusSgr(const std::string& status);
// Documents --color on `app` and takes it (--color WHEN, --color=WHEN) out of `args`, wherever
// it stands before "--", so that every command accepts it. Returns 0, or 2 after saying why.
int TakeColorFlag(CLI::App& app, std::vector<std::string>& args);

std::string HumanSize(int64_t bytes);
// "1 step", "2 steps".
std::string Count(size_t n, const std::string& noun);
std::string Ago(int64_t micros);

}  // namespace baton::cli
