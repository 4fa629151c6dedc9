// The command line of baton, shared by the baton binary and C++ pipeline binaries.

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/cli.h"

namespace baton::cli {

Action TakeAction();

namespace {
const PipelineSpec* g_embedded = nullptr;
}  // namespace

void SetEmbeddedPipeline(const PipelineSpec* spec) { g_embedded = spec; }
const PipelineSpec* EmbeddedPipeline() { return g_embedded; }

namespace {
constexpr const char* kVersionLine = "baton 0.1.0";
int RunCommandLine(int argc, char** argv);
}  // namespace

const std::vector<CommandGroup>& CommandGroups() {
  static const std::vector<CommandGroup> groups = {
      {{"init"}, AddInitCommand},
      {{"run", "compile", "build", "config"}, AddRunCommand},
      {{"runs"}, AddRunsCommands},
      {{"artifacts"}, AddArtifactsCommands},
      {{"step"}, AddStepCommands},
      {{"flavor", "orchestrator", "artifact-store", "container-registry", "stack"}, AddStackCommands},
      {{"store"}, AddStoreCommands},
      {{"schedule"}, AddScheduleCommands},
      {{"server"}, AddServerCommand},
      {{"login", "logout"}, AddLoginCommands},
      // Last: completion and docs walk every other command, and the examples reach all of them.
      {{}, AddToolCommands},
  };
  return groups;
}

namespace {
// The command a line names (its first word that is not a flag or a flag's value), or "" when
// the line asks for help, or names none.
std::string CommandWord(const std::vector<std::string>& args) {
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help" || a == "help") return "";
    if (a == "--color") {
      ++i;
      continue;
    }
    if (a.empty() || a[0] == '-') continue;
    for (size_t j = i + 1; j < args.size(); ++j)
      if (args[j] == "-h" || args[j] == "--help") return "";
    return a;
  }
  return "";
}
}  // namespace

void AddCommands(CLI::App& app, const std::string& word) {
  // A command's own group is all its line needs: the others are a millisecond of start-up.
  const CommandGroup* added = nullptr;
  if (!word.empty())
    for (const CommandGroup& g : CommandGroups())
      if (std::find(g.names.begin(), g.names.end(), word) != g.names.end()) {
        g.add(app);
        added = &g;
        break;
      }
  // (A C++ pipeline binary leaves some commands out: then the rest are added too, for the
  // suggestions of the unknown-command error.)
  if (added != nullptr) {
    const auto named = [&](CLI::App* c) { return c->get_name() == word; };
    if (!app.get_subcommands(named).empty()) return;
  }
  for (const CommandGroup& g : CommandGroups())
    if (&g != added) g.add(app);
}

// No exception leaves the binary (an uncaught one aborts with SIGABRT, exit 134): what a command
// did not handle is reported as an internal error, exit 1.
int RunCli(int argc, char** argv) {
  try {
    return RunCommandLine(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "baton: error: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "baton: error: internal error: an exception of unknown type\n");
  }
  return 1;
}

namespace {
int RunCommandLine(int argc, char** argv) {
  // The version alone needs no command tree (building it is most of a bare start's work).
  if (argc == 2 && (std::string(argv[1]) == "--version" || std::string(argv[1]) == "-v")) {
    std::printf("%s\n", kVersionLine);
    return 0;
  }
  CLI::App app{g_embedded ? "pipeline " + g_embedded->name +
                                " (a baton C++ pipeline): run it, compile it, inspect its runs"
                          : "baton: run ML pipelines locally, in containers, on clusters; track "
                            "every run, artifact and log",
               g_embedded ? g_embedded->name : "baton"};
  app.require_subcommand(1);
  app.set_version_flag("-v,--version", kVersionLine);
  std::vector<std::string> args(argv, argv + argc);
  AddCommands(app, CommandWord(args));
  if (int code = TakeColorFlag(app, args); code != 0) return code;
  bool handled = false;
  const int code = PreParse(app, args, &handled);
  if (handled) return code;
  if (args.size() >= 2 && args[1] == "server") return ForwardToServer(args);
  std::vector<char*> line;
  for (std::string& a : args) line.push_back(a.data());
  try {
    app.parse(static_cast<int>(line.size()), line.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return ReportParseError(app, args, e);
  }
  Action action = TakeAction();
  if (!action) return 2;
  return action();
}
}  // namespace

}  // namespace baton::cli
