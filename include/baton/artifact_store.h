#pragma once
// ArtifactStore: immutable, content-addressed storage of step outputs, by SHA-256 digest.
//
// A step writes its outputs under StagingDir(); Put hashes what is there and stores it under its
// digest; Get gives a local, read-only path to an object's content (the object itself for a
// store on this machine's filesystem, a verified copy in a local read cache for a remote store).
// Stores open by URI (baton/stores.h): `file:///path` is built in; other schemes register
// factories. Every implementation passes the artifact store contract suite
// (tests/store_contract_test.cc). Implementations are thread-compatible: one per thread; any
// number of instances, in threads or processes, may share one store.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "baton/status.h"

namespace baton {

struct StoredObject {
  std::string digest;  // sha256 hex of the content (see TreeDigest for directories)
  uint64_t size = 0;   // bytes of regular files (symlinks in a tree are kept, not counted)
  bool is_dir = false;
  std::string uri;          // where the object lives, for people and records
  int64_t modified_at = 0;  // ListObjects only: when it was last Put, microseconds since the epoch
  // Put only: the stored object is known to hold exactly the content Put hashed (it was published
  // from the staged copy, or compared with it), so a reader need not hash it again.
  bool checked = false;
};

class ArtifactStore {
 public:
  virtual ~ArtifactStore() = default;

  // The URI the store was opened with, normalized (file:///abs/path, s3://bucket/prefix).
  virtual std::string uri() const = 0;
  // A local directory where a step's outputs are staged for Put: on the same filesystem as a
  // local store (so that Put moves rather than copies), a scratch directory for remote stores.
  virtual std::string StagingDir() const = 0;
  // Hashes what lies at the local path `staged` (a file or a directory tree) and stores it;
  // `staged` is consumed, also when its content was stored already (deduplicated: one object per
  // digest). NotFound when nothing is at `staged`. Never leaves a partial object visible: an
  // object either exists whole or not at all. Puts of the same content at once, from any number
  // of instances, all succeed. A stored object of that digest found damaged (at least: of another
  // size) is replaced by the content staged. Never changes a file outside the store: a staged
  // file that has other hard links is copied in, not moved, so that no object shares an inode
  // with a file elsewhere.
  virtual Result<StoredObject> Put(const std::string& staged) = 0;
  // A local, read-only path holding the object's content. NotFound when the store lacks it;
  // InvalidArgument for a string that is no sha256 digest. A store that copies objects into a
  // local read cache verifies the copy against the digest; a store on this machine's filesystem
  // hands out the object itself, unverified: a reader that finds the content does not match
  // (the step runner hashes an input before a step reads it, and again when a step may have
  // changed it) calls Quarantine. A store that finds the damage itself quarantines the object.
  virtual Result<std::string> Get(const std::string& digest) = 0;
  // Whether the store has the object (false for a string that is no digest), without fetching it.
  virtual bool Exists(const std::string& digest) = 0;
  // The size and kind of a stored object, without fetching or reading it (cheap enough for every
  // cache hit). NotFound when absent.
  virtual Result<StoredObject> Stat(const std::string& digest) = 0;
  // Copies the object to `dest`, a new file or directory tree (writable). AlreadyExists when
  // something is at `dest` (left as it is); NotFound when the store lacks the object. The copy
  // is checked against the digest: an object that does not match is quarantined, nothing is left
  // at `dest`, and the error (Internal) says so.
  virtual Status Export(const std::string& digest, const std::string& dest) = 0;
  // Takes an object whose content no longer matches its digest out of the store (kept aside for
  // inspection where the store can), so that it is never used again: Exists is false and Get
  // NotFound until the content is Put again. Absent objects are fine.
  virtual Status Quarantine(const std::string& digest) = 0;
  // Every object the store holds (neither blobs nor quarantined objects), with digest, size, kind
  // and modified_at, in no particular order. Every Put refreshes an object's modified_at, also
  // a Put of content stored already, so that a garbage collector can spare what runs in
  // progress store: objects newer than the oldest such run.
  virtual Result<std::vector<StoredObject>> ListObjects() = 0;
  // Removes an object no record names any longer (garbage collection): Exists is false and Get
  // NotFound once it returns, until the content is Put again. An absent object is fine;
  // InvalidArgument for a string that is no digest. `unless_newer_than` (microseconds since the
  // epoch, 0: always) spares an object Put again after that time, as far as the store can tell
  // at once: it returns FailedPrecondition and the object stays.
  virtual Status Delete(const std::string& digest, int64_t unless_newer_than) = 0;
  // Small named blobs (snapshots) at stable keys, written idempotently: a second Put of a key
  // keeps the first content. Keys are relative paths ("snapshots/HASH.json"); InvalidArgument for
  // an absolute key or one with "..". Puts of one new key at once each succeed, and one of their
  // contents stays whole. GetBlob: NotFound for a key never put.
  virtual Status PutBlob(const std::string& key, const std::string& content) = 0;
  virtual Result<std::string> GetBlob(const std::string& key) = 0;
};

}  // namespace baton
