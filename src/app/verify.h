#pragma once
// Verification of artifact contents: every object of every artifact store of the workspace is
// hashed again; an object whose content no longer matches its digest is quarantined, so that no
// cache hit, dependent step or export uses it again (the step that produced it runs again).

#include <cstdint>
#include <string>
#include <vector>

#include "app/workspace.h"
#include "baton/status.h"

namespace baton {

struct DamagedObject {
  std::string digest;
  std::string why;           // what hashing it found
  bool quarantined = false;  // taken out of the store (else `why` says why not)
};

struct VerifyStoreReport {
  std::string uri;
  int64_t objects = 0;  // objects checked
  uint64_t bytes = 0;   // their bytes, as the store lists them
  std::vector<DamagedObject> damaged;
  std::vector<std::string> errors;  // objects that could not be checked, and why
};

struct VerifyReport {
  std::vector<VerifyStoreReport> stores;
  // Whether every object was checked and found intact.
  bool Clean() const;
};

// Re-hashes every object of the workspace's artifact stores (its own and those of its
// artifact_store components) and quarantines the damaged ones. A store on this machine's
// filesystem is hashed in place; a remote store's objects are fetched through its verified read
// cache (a copy cached already is hashed as it lies there).
Result<VerifyReport> VerifyArtifactStores(Workspace& ws);

}  // namespace baton
