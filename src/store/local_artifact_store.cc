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
    if (fs::Exists(dest)) {  // deduplicated: the same content is already published
      BATON_RETURN_IF_ERROR(fs::RemoveTree(staged));
      return obj;
    }
    BATON_RETURN_IF_ERROR(fs::MakeDir(fs::Dirname(dest)));
    // rename() publishes the complete object atomically. A directory rename fails if another
    // process published the same digest meanwhile; that copy is identical, so drop ours.
    Status moved = fs::Rename(staged, dest);
    if (!moved.ok()) {
      if (moved.code() == Code::kAlreadyExists && fs::Exists(dest)) {
        BATON_RETURN_IF_ERROR(fs::RemoveTree(staged));
        return obj;
      }
      return Internal("cannot publish artifact " + staged + ": " + moved.message());
    }
    if (d.is_dir) BATON_RETURN_IF_ERROR(fs::Chmod(dest, 0555));
    return obj;
  }

  Result<std::string> Get(const std::string& digest) override {
    if (!ValidDigest(digest)) return InvalidArgument("'" + digest + "' is not a sha256 digest");
    std::string p = ObjectPath(digest);
    if (!fs::Exists(p)) return NotFound("artifact content " + digest + " is missing from the store");
    return p;
  }

  bool Exists(const std::string& digest) override { return ValidDigest(digest) && fs::Exists(ObjectPath(digest)); }

  // Walks the object (the store keeps no record of sizes): symlinks inside a tree are neither
  // followed nor counted, as when Put measured it.
  Result<StoredObject> Stat(const std::string& digest) override {
    BATON_ASSIGN_OR_RETURN(std::string p, Get(digest));
    BATON_ASSIGN_OR_RETURN(TreeDigest d, DigestPath(p));
    return StoredObject{digest, d.size, d.is_dir, "file://" + p};
  }

  Status Export(const std::string& digest, const std::string& dest) override {
    BATON_ASSIGN_OR_RETURN(std::string src, Get(digest));
    if (fs::Exists(dest)) return AlreadyExists(dest + " already exists");
    return fs::CopyTree(src, dest);
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

  // Writes the blob in a directory of its own under staging and renames it into place, so that
  // writers of one key (threads or processes) never share a temporary file. Writers racing on a
  // key that does not exist yet each publish a whole blob; the last rename stays.
  Status PutBlob(const std::string& key, const std::string& content) override {
    BATON_RETURN_IF_ERROR(CheckKey(key));
    std::string p = root_ + "/blobs/" + key;
    if (fs::Exists(p)) return Status::Ok();
    BATON_RETURN_IF_ERROR(fs::MakeDirs(fs::Dirname(p)));
    BATON_ASSIGN_OR_RETURN(std::string tmp, fs::MakeTempDir(StagingDir() + "/blob"));
    Status st = fs::WriteFileAtomic(tmp + "/blob", content);
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
  static bool ValidDigest(const std::string& d) {
    return d.size() == 64 && d.find_first_not_of("0123456789abcdef") == std::string::npos;
  }
  // Keys are relative paths of plain names: never absolute, never "..".
  static Status CheckKey(const std::string& key) {
    if (key.empty() || key[0] == '/' || key.find("..") != std::string::npos || key.find('\0') != std::string::npos)
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
