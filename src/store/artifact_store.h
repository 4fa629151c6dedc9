#pragma once
// ArtifactStore: immutable, content-addressed storage of step outputs. Steps write outputs to
// staging paths; Commit hashes and publishes them atomically. The local store keeps objects
// under ROOT/sha256/ab/abcdef...; other stores (S3) implement the same interface.

#include <memory>
#include <string>

#include "baton/status.h"
#include "platform/hash.h"

namespace baton {

struct StoredObject {
  std::string digest;
  uint64_t size = 0;
  bool is_dir = false;
  std::string uri;
};

class ArtifactStore {
 public:
  virtual ~ArtifactStore() = default;
  // A local directory on the same filesystem as the store where steps stage their outputs.
  virtual std::string StagingRoot() const = 0;
  // Hashes what lies at `staged` and publishes it; the staged path is consumed. Publishing
  // content that is already stored deduplicates. Never leaves a partial object visible.
  virtual Result<StoredObject> Commit(const std::string& staged) = 0;
  // A local, read-only path holding the object's content.
  virtual Result<std::string> LocalPath(const std::string& digest) = 0;
  virtual bool Exists(const std::string& digest) = 0;
  // Copies the object to `dest` (a new file or directory).
  virtual Status Export(const std::string& digest, const std::string& dest) = 0;
  // Takes an object whose content no longer matches its digest out of the store (kept aside
  // for inspection), so that it is never used again.
  virtual Status Quarantine(const std::string& digest) = 0;
  // Stores a small named blob (snapshots) at a stable key, idempotently.
  virtual Status PutBlob(const std::string& key, const std::string& content) = 0;
};

// The local directory store rooted at `root` (created if missing).
Result<std::unique_ptr<ArtifactStore>> OpenLocalArtifactStore(const std::string& root);

}  // namespace baton
