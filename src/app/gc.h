#pragma once
// Garbage collection of artifact contents: what no recorded artifact names any longer (after
// `runs delete`), in every artifact store of the workspace, sparing what runs in progress store.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "app/workspace.h"
#include "baton/status.h"

namespace baton {

struct GcOptions {
  bool dry_run = false;
  // Objects stored less than this long ago stay (microseconds).
  int64_t min_age = 0;
};

struct GcStoreReport {
  std::string uri;
  int64_t objects = 0;     // what the store held
  int64_t referenced = 0;  // named by a recorded artifact: kept
  int64_t recent = 0;      // unnamed, but newer than the cutoff: kept
  std::vector<std::pair<std::string, uint64_t>> removed;  // digest, bytes (or would be, dry run)
  uint64_t removed_bytes = 0;
  std::vector<std::string> errors;  // objects that could not be removed, and why
};

struct GcReport {
  int64_t cutoff = 0;  // objects modified after this stay (microseconds since the epoch)
  std::vector<std::string> in_progress;  // runs in progress when it began
  std::vector<GcStoreReport> stores;
};

// How much older than a run in progress an object must be to go: clocks of other machines
// (an S3 server's) may be this far behind.
constexpr int64_t kGcClockSkew = 60 * 1000000LL;

// The URIs of the workspace's artifact stores: its own store first, then those of the
// artifact_store components, each once.
Result<std::vector<std::string>> ArtifactStoreUris(Workspace& ws);
// Calls `fn` with each of those stores, opened (the workspace's own as it is); stops at the first
// error, annotated with the store's URI.
Status ForEachArtifactStore(
    Workspace& ws, const std::function<Status(const std::string& uri, ArtifactStore&)>& fn);

// Collects garbage in the workspace's artifact store and in the store of every artifact_store
// component. An object goes when no artifact record names its digest and it was last stored
// before the cutoff: now minus min_age, and no later than the start of the oldest run in
// progress minus kGcClockSkew.
Result<GcReport> CollectGarbage(Workspace& ws, const GcOptions& options);

}  // namespace baton
