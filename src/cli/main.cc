// baton: the command-line front end. Each command group lives in its own file.

#include <cstdio>

#include "cli/cli.h"

namespace baton::cli {
Action TakeAction();
}

int main(int argc, char** argv) {
  using namespace baton::cli;
  CLI::App app{"baton: run ML pipelines locally, in containers, on clusters; track every run, artifact and log",
               "baton"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "baton 0.1.0");
  AddInitCommand(app);
  AddRunCommand(app);
  AddRunsCommands(app);
  AddArtifactsCommands(app);
  AddStepCommands(app);
  AddStackCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  Action action = TakeAction();
  if (!action) return 2;
  return action();
}
