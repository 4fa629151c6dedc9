#pragma once
// The Env of this process on a POSIX system.

#include "baton/env.h"

namespace baton {

// A process-wide instance; never destroyed.
Env* PosixEnv();

}  // namespace baton
