#include "store/s3/read_cache.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <system_error>
#include <vector>

#include "platform/fs.h"

namespace baton::s3 {
namespace {

namespace sfs = std::filesystem;

// Bytes of regular files at `path` (a file or a tree; links not followed).
uint64_t SizeOf(const std::string& path) {
  std::error_code ec;
  const auto st = sfs::symlink_status(path, ec);
  if (ec) return 0;
  if (sfs::is_regular_file(st)) return sfs::file_size(path, ec);
  if (!sfs::is_directory(st)) return 0;
  uint64_t total = 0;
  for (auto it = sfs::recursive_directory_iterator(path, ec);
       !ec && it != sfs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += it->file_size(ec);
  }
  return total;
}

struct Cached {
  std::string path;
  sfs::file_time_type used;
  uint64_t bytes = 0;
};

// Every object of every store in the cache: ROOT/objects/SPACE/ab/DIGEST.
std::vector<Cached> ListObjects(const std::string& root) {
  std::vector<Cached> out;
  std::error_code ec;
  for (const auto& space : sfs::directory_iterator(root + "/objects", ec)) {
    std::error_code ec2;
    for (const auto& fan : sfs::directory_iterator(space.path(), ec2)) {
      std::error_code ec3;
      for (const auto& obj : sfs::directory_iterator(fan.path(), ec3)) {
        std::error_code ec4;
        const auto used = sfs::last_write_time(obj.path(), ec4);
        if (!ec4) out.push_back({obj.path().string(), used, SizeOf(obj.path().string())});
      }
    }
  }
  return out;
}

}  // namespace

Status ReadCache::Init() {
  BATON_RETURN_IF_ERROR(fs::MakeDirs(root_ + "/objects/" + space_));
  return fs::MakeDirs(root_ + "/tmp");
}

std::string ReadCache::PathOf(const std::string& digest) const {
  return root_ + "/objects/" + space_ + "/" + digest.substr(0, 2) + "/" + digest;
}

std::string ReadCache::Find(const std::string& digest) {
  const std::string p = PathOf(digest);
  if (!fs::Exists(p)) return "";
  std::error_code ec;  // another user's cached object cannot be marked; it is used all the same
  sfs::last_write_time(p, sfs::file_time_type::clock::now(), ec);
  return p;
}

Result<std::string> ReadCache::NewTempDir() { return fs::MakeTempDir(root_ + "/tmp/get"); }

Result<std::string> ReadCache::Insert(const std::string& digest, const std::string& path,
                                      uint64_t bytes) {
  const std::string dest = PathOf(digest);
  BATON_RETURN_IF_ERROR(fs::MakeDirs(fs::Dirname(dest)));
  const bool dir = fs::IsDir(path);
  // A directory moves to another parent only while it is writable (its ".." changes): its top
  // is made read-only after the move.
  if (dir) {
    BATON_ASSIGN_OR_RETURN(auto names, fs::ListDir(path));
    for (const auto& n : names) BATON_RETURN_IF_ERROR(fs::MakeReadOnly(path + "/" + n));
  } else {
    BATON_RETURN_IF_ERROR(fs::MakeReadOnly(path));
  }
  if (fs::Exists(dest)) {  // cached by another instance meanwhile: the same verified content
    BATON_RETURN_IF_ERROR(fs::RemoveTree(path));
    Find(digest);
    return dest;
  }
  Status moved = fs::Rename(path, dest);
  if (!moved.ok()) {
    if (moved.code() == Code::kAlreadyExists && fs::Exists(dest)) {
      BATON_RETURN_IF_ERROR(fs::RemoveTree(path));
      return dest;
    }
    return moved;
  }
  if (dir) BATON_RETURN_IF_ERROR(fs::Chmod(dest, 0555));
  if (!counted_) {
    Evict(dest);
  } else {
    estimate_ += bytes;
    if (estimate_ > limit_) Evict(dest);
  }
  return dest;
}

Status ReadCache::Remove(const std::string& digest) { return fs::RemoveTree(PathOf(digest)); }

uint64_t ReadCache::CountBytes() const {
  uint64_t total = 0;
  for (const auto& c : ListObjects(root_)) total += c.bytes;
  return total;
}

void ReadCache::Evict(const std::string& keep) {
  std::vector<Cached> all = ListObjects(root_);
  uint64_t total = 0;
  for (const auto& c : all) total += c.bytes;
  counted_ = true;
  if (total > limit_) {
    const uint64_t target = limit_ - limit_ / 10;
    std::sort(all.begin(), all.end(),
              [](const Cached& a, const Cached& b) { return a.used < b.used; });
    for (const auto& c : all) {
      if (total <= target) break;
      if (c.path == keep) continue;
      if (fs::RemoveTree(c.path).ok()) total -= c.bytes;
    }
  }
  estimate_ = total;
  // Downloads that a dead process left behind.
  std::error_code ec;
  const auto old = sfs::file_time_type::clock::now() - std::chrono::hours(24);
  for (const auto& tmp : sfs::directory_iterator(root_ + "/tmp", ec)) {
    std::error_code ec2;
    if (sfs::last_write_time(tmp.path(), ec2) < old && !ec2)
      (void)fs::RemoveTree(tmp.path().string());
  }
}

}  // namespace baton::s3
