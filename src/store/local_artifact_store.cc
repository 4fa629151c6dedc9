#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "platform/fs.h"
#include "store/artifact_store.h"

namespace baton {
namespace {

// Objects live at ROOT/sha256/<first two hex digits>/<digest>; staging is ROOT/../tmp.
class LocalArtifactStore : public ArtifactStore {
 public:
  explicit LocalArtifactStore(std::string root) : root_(std::move(root)) {}

  Status Init() {
    BATON_RETURN_IF_ERROR(fs::MakeDirs(root_ + "/sha256"));
    BATON_RETURN_IF_ERROR(fs::MakeDirs(StagingRoot()));
    return fs::MakeDirs(root_ + "/blobs");
  }

  std::string StagingRoot() const override { return root_ + "/.staging"; }

  std::string ObjectPath(const std::string& digest) const {
    return root_ + "/sha256/" + digest.substr(0, 2) + "/" + digest;
  }

  Result<StoredObject> Commit(const std::string& staged) override {
    BATON_ASSIGN_OR_RETURN(TreeDigest d, DigestPath(staged));
    BATON_RETURN_IF_ERROR(fs::MakeReadOnly(staged));
    std::string dest = ObjectPath(d.digest);
    StoredObject obj{d.digest, d.size, d.is_dir, "file://" + dest};
    if (fs::Exists(dest)) {  // deduplicated: the same content is already published
      BATON_RETURN_IF_ERROR(fs::RemoveTree(staged));
      return obj;
    }
    std::string dir = fs::Dirname(dest);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) BATON_RETURN_IF_ERROR(fs::MakeDirs(dir));
    // rename() publishes the complete object atomically. A directory rename fails if another
    // process published the same digest meanwhile; that copy is identical, so drop ours.
    if (::rename(staged.c_str(), dest.c_str()) != 0) {
      if ((errno == ENOTEMPTY || errno == EEXIST) && fs::Exists(dest)) {
        BATON_RETURN_IF_ERROR(fs::RemoveTree(staged));
        return obj;
      }
      return Internal("cannot publish artifact " + staged + ": " + std::strerror(errno));
    }
    return obj;
  }

  Result<std::string> LocalPath(const std::string& digest) override {
    std::string p = ObjectPath(digest);
    if (!fs::Exists(p)) return NotFound("artifact content " + digest + " is missing from the store");
    return p;
  }

  bool Exists(const std::string& digest) override { return fs::Exists(ObjectPath(digest)); }

  Status Export(const std::string& digest, const std::string& dest) override {
    BATON_ASSIGN_OR_RETURN(std::string src, LocalPath(digest));
    if (fs::Exists(dest)) return AlreadyExists(dest + " already exists");
    return fs::CopyTree(src, dest);
  }

  Status Quarantine(const std::string& digest) override {
    std::string src = ObjectPath(digest);
    if (!fs::Exists(src)) return Status::Ok();
    BATON_RETURN_IF_ERROR(fs::MakeDirs(root_ + "/quarantine"));
    std::string dest = root_ + "/quarantine/" + digest + "." + std::to_string(NowMicros());
    if (::rename(src.c_str(), dest.c_str()) != 0)
      return Internal("cannot move damaged artifact " + src + " aside: " + std::strerror(errno));
    return Status::Ok();
  }

  Status PutBlob(const std::string& key, const std::string& content) override {
    std::string p = root_ + "/blobs/" + key;
    if (fs::Exists(p)) return Status::Ok();
    BATON_RETURN_IF_ERROR(fs::MakeDirs(fs::Dirname(p)));
    return fs::WriteFileAtomic(p, content);
  }

 private:
  std::string root_;
};

}  // namespace

Result<std::unique_ptr<ArtifactStore>> OpenLocalArtifactStore(const std::string& root) {
  auto s = std::make_unique<LocalArtifactStore>(root);
  BATON_RETURN_IF_ERROR(s->Init());
  return std::unique_ptr<ArtifactStore>(std::move(s));
}

}  // namespace baton
