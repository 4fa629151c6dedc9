#pragma once
// Digests of files and directory trees on this machine's filesystem.

#include <string>

#include "baton/hash.h"
#include "baton/status.h"

namespace baton {

Result<TreeDigest> DigestPath(const std::string& path);

}  // namespace baton
