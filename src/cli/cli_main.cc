// The command line of baton, shared by the baton binary and C++ pipeline binaries.

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
int RunCommandLine(int argc, char** argv);
}  // namespace

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
  CLI::App app{g_embedded ? "pipeline " + g_embedded->name +
                                " (a baton C++ pipeline): run it, compile it, inspect its runs"
                          : "baton: run ML pipelines locally, in containers, on clusters; track "
                            "every run, artifact and log",
               g_embedded ? g_embedded->name : "baton"};
  app.require_subcommand(1);
  app.set_version_flag("-v,--version", "baton 0.1.0");
  AddInitCommand(app);
  AddRunCommand(app);
  AddRunsCommands(app);
  AddArtifactsCommands(app);
  AddStepCommands(app);
  AddStackCommands(app);
  AddStoreCommands(app);
  AddScheduleCommands(app);
  AddServerCommand(app);
  AddLoginCommands(app);
  AddToolCommands(app);
  std::vector<std::string> args(argv, argv + argc);
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
