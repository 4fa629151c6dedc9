#pragma once
// The local read cache of remote artifact stores: verified copies of objects, read-only, at
// ROOT/objects/SPACE/ab/DIGEST (a file or a tree; SPACE names the store, so that a store never
// hands out what only another store holds), bounded in size: beyond the bound, the objects used
// least recently (their modification time, set on every use) are removed. Downloads are
// prepared under ROOT/tmp and moved in whole, so that a cached object is complete.
//
// Any number of instances, in threads or processes, may share a cache. Each keeps an estimate of
// the cache's size (counted at the first insertion, then its own insertions added) and counts
// again, evicting, when the estimate passes the bound: what other processes insert meanwhile
// can take the cache past its bound until one of them counts. An object that is removed while a
// reader uses its path is gone for that reader: keep the bound well above a step's inputs.

#include <cstdint>
#include <string>

#include "baton/status.h"

namespace baton::s3 {

class ReadCache {
 public:
  ReadCache(std::string root, std::string space, uint64_t limit)
      : root_(std::move(root)), space_(std::move(space)), limit_(limit) {}

  // Creates the cache's directories.
  Status Init();
  // The path of the cached object, marked as just used; "" when it is not cached.
  std::string Find(const std::string& digest);
  // A new, empty directory under ROOT/tmp to download into; the caller removes it.
  Result<std::string> NewTempDir();
  // Makes what lies at `path` (downloaded and verified) read-only and moves it into the cache as
  // `digest`, `bytes` large; then evicts the least recently used objects beyond the bound (never
  // this one, even when it alone is larger). Returns the cached path. When another instance
  // cached the same object meanwhile, `path` is removed and that object's path returned.
  Result<std::string> Insert(const std::string& digest, const std::string& path, uint64_t bytes);
  // Removes the object from the cache; fine when it is not there.
  Status Remove(const std::string& digest);
  // Bytes of the cached objects of all stores, counted now.
  uint64_t CountBytes() const;

  const std::string& root() const { return root_; }
  uint64_t limit() const { return limit_; }

 private:
  std::string PathOf(const std::string& digest) const;
  // Counts the cache and removes the least recently used objects until it holds at most
  // nine tenths of the bound (so that the next insertions do not count again at once).
  void Evict(const std::string& keep);

  std::string root_;
  std::string space_;
  uint64_t limit_;
  bool counted_ = false;
  uint64_t estimate_ = 0;
};

}  // namespace baton::s3
