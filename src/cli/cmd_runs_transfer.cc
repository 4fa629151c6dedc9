// baton runs compare|export|import.

#include "cli/cli.h"

namespace baton::cli {

void AddRunsTransferCommands(CLI::App* runs) { (void)runs; }

}  // namespace baton::cli
