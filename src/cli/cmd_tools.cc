// baton completion|dag: shell completion scripts and pipeline graphs.

#include "cli/cli.h"

namespace baton::cli {

void AddToolCommands(CLI::App& app) { (void)app; }

}  // namespace baton::cli
