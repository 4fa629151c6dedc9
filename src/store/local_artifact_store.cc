#include "store/local_artifact_store.h"

#include "platform/fs.h"
#include "platform/hash.h"

namespace baton {
namespace {

// Objects live at ROOT/sha256/<first two hex digits>/<digest>; staging is ROOT/.staging, on the
// same filesystem, so that Put publishes by rename.
class LocalArtifactStore : public ArtifactStore {
 public:
  explicit LocalArtifactStore(std::string root) : root_(std::move(root)) {}

  Status Init() {
    BATON_RETURN_IF_ERROR(fs::MakeDirs(root_ + "/sha256"));
    BATON_RETURN_IF_ERROR(fs::MakeDirs(StagingDir()));
    return fs::MakeDirs(root_ + "/blobs");
  }

  std::string uri() const override { return "file://" + root_; }
  std::string StagingDir() const override { return root_ + "/.staging"; }

  std::string ObjectPath(const std::string& digest) const {
    return root_ + "/sha256/" + digest.substr(0, 2) + "/" + digest;
  }

  Result<StoredObject> Put(const std::string& staged) override {
    // A staged file with other hard links (`ln data.csv {{outputs.raw}}`) shares its inode with a
    // file outside the store: it gets a copy of its own before it is hashed, made read-only and
    // moved in, so that the user's file is never changed and never changes the object.
    BATON_RETURN_IF_ERROR(fs::DetachHardLinks(staged));
    BATON_ASSIGN_OR_RETURN(TreeDigest d, DigestPath(staged));
    // Moving a directory to another parent needs write permission on it (its ".." changes), so a
    // tree is made read-only below its top before the rename and at its top after it.
    if (d.is_dir) {
      BATON_ASSIGN_OR_RETURN(auto names, fs::ListDir(staged));
      for (const auto& n : names) BATON_RETURN_IF_ERROR(fs::MakeReadOnly(staged + "/" + n));
    } else {
      BATON_RETURN_IF_ERROR(fs::MakeReadOnly(staged));
    }
    std::string dest = ObjectPath(d.digest);
    StoredObject obj{d.digest, d.size, d.is_dir, "file://" + dest};
    BATON_ASSIGN_OR_RETURN(bool kept, KeepStored(d, dest, staged));
    if (kept) {
      BATON_RETURN_IF_ERROR(fs::RemoveTree(staged));
      obj.checked = true;
      return obj;
    }
    // rename() publishes the complete object atomically. The shard directory is made when the
    // rename finds it missing (every Put that found it missing makes it and tries again: another
    // Put may have made it between our rename and a look, and not yet published). A directory
    // rename fails if another process published the same digest meanwhile; that copy is
    // identical, so drop ours.
    Status moved = fs::Rename(staged, dest);
    if (moved.code() == Code::kNotFound) {
      BATON_RETURN_IF_ERROR(fs::MakeDir(fs::Dirname(dest)));
      moved = fs::Rename(staged, dest);
    }
    if (!moved.ok()) {
      if (fs::Exists(dest) && (moved.code() == Code::kAlreadyExists || SizeMatches(d, dest))) {
        BATON_RETURN_IF_ERROR(fs::RemoveTree(staged));
        return obj;
      }
      return Internal("cannot publish artifact " + staged + ": " + moved.message());
    }
    if (d.is_dir) BATON_RETURN_IF_ERROR(fs::Chmod(dest, 0555));
    // The content may carry an old time (a step that moved an old file into its outputs).
    BATON_RETURN_IF_ERROR(fs::Touch(dest));
    obj.checked = true;
    return obj;
  }

  Result<std::string> Get(const std::string& digest) override {
    if (!ValidDigest(digest)) return InvalidArgument("'" + digest + "' is not a sha256 digest");
    std::string p = ObjectPath(digest);
    if (!fs::Exists(p))
      return NotFound("artifact content " + digest + " is missing from the store");
    // An object file that gained another hard link (a step ran `ln {{inputs.x}} mine.csv`)
    // shares its inode with a file outside the store: the store takes back a copy of its own, so
    // that what is done through the other link never reaches the object. One lstat per Get.
    if (fs::LinkCount(p) > 1) (void)TakeBackCopy(p);
    return p;
  }

  bool Exists(const std::string& digest) override {
    return ValidDigest(digest) && fs::Exists(ObjectPath(digest));
  }

  // Walks the object's metadata (the store keeps no record of sizes), reading no content:
  // symlinks inside a tree are neither followed nor counted, as when Put measured it. Cheap
  // enough for every cache hit to compare with the size recorded for the artifact.
  Result<StoredObject> Stat(const std::string& digest) override {
    BATON_ASSIGN_OR_RETURN(std::string p, Get(digest));
    auto bytes = fs::TreeBytes(p);
    if (!bytes.ok()) return NotFound("artifact content " + digest + " is missing from the store");
    return StoredObject{digest, *bytes, fs::IsDir(p), "file://" + p};
  }

  // The copy is checked against the digest before it is handed over: an object that no longer
  // matches is quarantined and nothing is left at `dest`.
  Status Export(const std::string& digest, const std::string& dest) override {
    BATON_ASSIGN_OR_RETURN(std::string src, Get(digest));
    if (fs::Exists(dest)) return AlreadyExists(dest + " already exists");
    Status copied = fs::CopyTree(src, dest);
    if (!copied.ok()) {
      (void)fs::RemoveTree(dest);
      return copied;
    }
    auto got = DigestPath(dest);
    if (got.ok() && got->digest == digest) return Status::Ok();
    (void)fs::RemoveTree(dest);
    if (!got.ok()) return got.status();
    Status q = Quarantine(digest);
    return Internal("artifact " + digest + " in " + uri() +
                    " does not match its digest (its content hashes to " + got->digest + "); " +
                    (q.ok() ? "it was taken out of the store and not exported"
                            : "it was not exported, and moving it aside failed: " + q.message()));
  }

  Status Quarantine(const std::string& digest) override {
    if (!ValidDigest(digest)) return InvalidArgument("'" + digest + "' is not a sha256 digest");
    std::string src = ObjectPath(digest);
    if (!fs::Exists(src)) return Status::Ok();
    BATON_RETURN_IF_ERROR(fs::MakeDirs(root_ + "/quarantine"));
    std::string dest = root_ + "/quarantine/" + digest + "." + std::to_string(NowMicros());
    // A read-only directory cannot move to another parent; make its top writable first.
    const bool dir = fs::IsDir(src);
    if (dir) BATON_RETURN_IF_ERROR(fs::Chmod(src, 0755));
    Status moved = fs::Rename(src, dest);
    if (!moved.ok()) {
      if (dir) (void)fs::Chmod(src, 0555);
      return Internal("cannot move damaged artifact " + src + " aside: " + moved.message());
    }
    return Status::Ok();
  }

  Result<std::vector<StoredObject>> ListObjects() override {
    std::vector<StoredObject> out;
    BATON_ASSIGN_OR_RETURN(auto fanout, fs::ListDir(root_ + "/sha256"));
    for (const std::string& dir : fanout) {
      BATON_ASSIGN_OR_RETURN(auto names, fs::ListDir(root_ + "/sha256/" + dir));
      for (const std::string& digest : names) {
        if (!ValidDigest(digest)) continue;
        const std::string p = ObjectPath(digest);
        auto modified = fs::ModifiedMicros(p);
        auto bytes = fs::TreeBytes(p);
        if (!modified.ok() || !bytes.ok()) continue;  // deleted meanwhile
        out.push_back({digest, *bytes, fs::IsDir(p), "file://" + p, *modified});
      }
    }
    return out;
  }

  // Moves the object into a private trash directory first, so that it disappears at once and
  // whole, then removes it. An object touched by a Put between the check and the move is
  // moved back.
  Status Delete(const std::string& digest, int64_t unless_newer_than) override {
    if (!ValidDigest(digest)) return InvalidArgument("'" + digest + "' is not a sha256 digest");
    const std::string src = ObjectPath(digest);
    if (!fs::Exists(src)) return Status::Ok();
    auto fresh = [&](const std::string& p) {
      auto m = fs::ModifiedMicros(p);
      return unless_newer_than > 0 && m.ok() && *m > unless_newer_than;
    };
    if (fresh(src)) return FailedPrecondition("artifact " + digest + " was stored again just now");
    BATON_RETURN_IF_ERROR(fs::MakeDirs(StagingDir()));
    BATON_ASSIGN_OR_RETURN(std::string trash, fs::MakeTempDir(StagingDir() + "/gc"));
    const bool dir = fs::IsDir(src);
    if (dir) BATON_RETURN_IF_ERROR(fs::Chmod(src, 0755));  // to move a tree to another parent
    Status moved = fs::Rename(src, trash + "/object");
    if (!moved.ok()) {
      if (dir) (void)fs::Chmod(src, 0555);
      (void)fs::RemoveTree(trash);
      return moved.code() == Code::kNotFound ? Status::Ok() : moved;
    }
    if (fresh(trash + "/object")) {
      if (!fs::Exists(src) && fs::Rename(trash + "/object", src).ok() && dir)
        (void)fs::Chmod(src, 0555);
      (void)fs::RemoveTree(trash);
      return FailedPrecondition("artifact " + digest + " was stored again just now");
    }
    return fs::RemoveTree(trash);
  }

  // Writes the blob in a directory of its own under staging and renames it into place, so that
  // writers of one key (threads or processes) never share a temporary file. Writers racing on a
  // key that does not exist yet each publish a whole blob; the last rename stays.
  Status PutBlob(const std::string& key, const std::string& content) override {
    BATON_RETURN_IF_ERROR(CheckKey(key));
    std::string p = root_ + "/blobs/" + key;
    if (fs::Exists(p)) return Status::Ok();
    BATON_RETURN_IF_ERROR(fs::MakeDirs(fs::Dirname(p)));
    BATON_ASSIGN_OR_RETURN(std::string tmp, fs::MakeTempDir(StagingDir() + "/blob"));
    // Written and renamed in, not synced: like every object of this store (see the crash notes
    // in docs/architecture.md); a blob is named by its content's hash, so a torn one is found.
    Status st = fs::WriteFile(tmp + "/blob", content);
    if (st.ok() && !fs::Exists(p)) st = fs::Rename(tmp + "/blob", p);
    Status removed = fs::RemoveTree(tmp);
    return st.ok() ? removed : st;
  }

  Result<std::string> GetBlob(const std::string& key) override {
    BATON_RETURN_IF_ERROR(CheckKey(key));
    std::string p = root_ + "/blobs/" + key;
    if (!fs::Exists(p)) return NotFound("no blob '" + key + "' in the artifact store");
    return fs::ReadFile(p);
  }

 private:
  // Whether the object at `dest` is kind and size `d` says, without reading it.
  static bool SizeMatches(const TreeDigest& d, const std::string& dest) {
    auto bytes = fs::TreeBytes(dest);
    return bytes.ok() && *bytes == d.size && fs::IsDir(dest) == d.is_dir;
  }

  // Whether a Put of `d` can keep the object stored at `dest` (deduplicated) instead of
  // publishing `staged`; a damaged one is quarantined first, so that the Put publishes its content
  // in its place. A stored object of the wrong size is damaged. Of the right size, a tree is
  // re-hashed and a file up to kCompareLimit compared with the staged copy: one more read of
  // content this Put has just read, paid only when the same content is produced again. A larger
  // file is published again over the stored one (false), which repairs damage nobody noticed yet
  // without reading it; for a small file that rename would cost more than the read, as ext4 writes
  // a file renamed over another out at once.
  static constexpr uint64_t kCompareLimit = 1 << 20;
  Result<bool> KeepStored(const TreeDigest& d, const std::string& dest, const std::string& staged) {
    if (!fs::Exists(dest)) return false;
    if (!d.is_dir && !fs::IsDir(dest) && d.size > kCompareLimit) return false;
    bool intact = SizeMatches(d, dest);
    if (intact && d.is_dir) {
      auto now = DigestPath(dest);
      intact = now.ok() && now->digest == d.digest;
    } else if (intact) {
      auto stored = fs::ReadFile(dest);
      auto fresh = fs::ReadFile(staged);
      intact = stored.ok() && fresh.ok() && *stored == *fresh;
    }
    // Touching the object tells a garbage collector that it is in use again; if a collector
    // took it meanwhile, ours is published.
    if (intact) return fs::Touch(dest).ok() && fs::Exists(dest);
    BATON_RETURN_IF_ERROR(Quarantine(d.digest));
    return false;
  }

  // Replaces the object file at `p` with a copy of its content, through a directory of its own
  // under staging (concurrent readers may do the same: each publishes a whole copy).
  Status TakeBackCopy(const std::string& p) {
    BATON_ASSIGN_OR_RETURN(std::string tmp, fs::MakeTempDir(StagingDir() + "/relink"));
    Status st = fs::CopyTree(p, tmp + "/object");
    if (st.ok()) st = fs::MakeReadOnly(tmp + "/object");
    if (st.ok()) st = fs::Rename(tmp + "/object", p);
    Status removed = fs::RemoveTree(tmp);
    return st.ok() ? removed : st;
  }

  static bool ValidDigest(const std::string& d) {
    return d.size() == 64 && d.find_first_not_of("0123456789abcdef") == std::string::npos;
  }
  // Keys are relative paths of plain names: never absolute, never "..".
  static Status CheckKey(const std::string& key) {
    if (key.empty() || key[0] == '/' || key.find("..") != std::string::npos ||
        key.find('\0') != std::string::npos)
      return InvalidArgument("bad blob key '" + key + "'");
    return Status::Ok();
  }

  std::string root_;
};

}  // namespace

Result<std::unique_ptr<ArtifactStore>> OpenLocalArtifactStore(const std::string& root) {
  auto s = std::make_unique<LocalArtifactStore>(root);
  BATON_RETURN_IF_ERROR(s->Init());
  return std::unique_ptr<ArtifactStore>(std::move(s));
}

}  // namespace baton
