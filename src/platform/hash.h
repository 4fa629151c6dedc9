#pragma once
// Digests of files and directory trees on this machine's filesystem.

#include <string>

#include "baton/hash.h"
#include "baton/status.h"

namespace baton {

// A directory's files are hashed by up to min(8, processors) threads (fewer for few files).
Result<TreeDigest> DigestPath(const std::string& path);

// Caps the threads DigestPath uses (0: the default), so tests can compare 1 thread with many.
void SetDigestThreadsForTesting(int threads);

}  // namespace baton
