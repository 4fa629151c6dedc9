// baton runs delete|tag|note and artifacts gc: what keeps a workspace from only growing.

#include "cli/cli.h"

namespace baton::cli {

void AddRunsDeleteCommands(CLI::App* runs) { (void)runs; }
void AddArtifactsGcCommand(CLI::App* artifacts) { (void)artifacts; }

}  // namespace baton::cli
