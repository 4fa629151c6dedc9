#pragma once
// The `toy` orchestrator flavor, built only into the tests: it shows that a flavor is a folder
// (factory, implementation) plus one registration, with nothing in core or app. Its backend runs
// each step attempt's entrypoint as a child process of this machine through the common DAG
// driver, which does the scheduling, retries, skips and stops.

#include <string>
#include <vector>

#include "baton/flavor.h"

namespace baton::testing {

// The flavor's description, config schema ("binary": the baton binary that runs the step
// entrypoint) and factory.
FlavorInfo ToyFlavor();
// Every attempt a toy backend started in this process, as "STEP#ATTEMPT", in start order.
std::vector<std::string> ToyStarts();

}  // namespace baton::testing
