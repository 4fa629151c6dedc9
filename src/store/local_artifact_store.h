#pragma once
// The local directory artifact store (file:///path): objects at ROOT/sha256/ab/abcdef...,
// published by rename, so that an object is either whole or absent.

#include <memory>
#include <string>

#include "baton/artifact_store.h"

namespace baton {

// The store rooted at `root` (created if missing).
Result<std::unique_ptr<ArtifactStore>> OpenLocalArtifactStore(const std::string& root);

}  // namespace baton
