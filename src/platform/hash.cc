#include "platform/hash.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

namespace baton {

namespace {

int g_max_threads_for_testing = 0;

Status Errno(const std::string& what, const std::string& path) {
  return Internal(what + " " + path + ": " + std::strerror(errno));
}

// Hashes the open file `fd` (closing it). `buf` is scratch space of `cap` bytes.
Status HashFd(int fd, const std::string& path, char* buf, size_t cap, std::string* digest,
              uint64_t* size) {
  Sha256 h;
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf, cap);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = Errno("cannot read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    h.Update(std::string_view(buf, static_cast<size_t>(n)));
    total += static_cast<uint64_t>(n);
  }
  ::close(fd);
  *digest = h.HexDigest();
  *size = total;
  return Status::Ok();
}

// On the stack: a heap buffer this size would be mapped and unmapped for every file.
constexpr size_t kReadBuffer = 1 << 16;

Status HashFile(const std::string& path, std::string* digest, uint64_t* size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  char buf[kReadBuffer];
  return HashFd(fd, path, buf, kReadBuffer, digest, size);
}

// A directory tree is hashed in two passes: a walk that lists every directory (sorted) and every
// regular file, then the files' contents, by several threads when there are enough of them, then
// the directories' digests bottom-up. The digest is the same whatever the number of threads.
struct TreeFile {
  std::string path;
  std::string digest;
  uint64_t size = 0;
  bool executable = false;
  Status status;
};

struct TreeEntry {
  std::string name;
  char kind = 'f';    // f (regular file), d (directory), l (symbolic link)
  size_t index = 0;   // into files (f) or dirs (d)
  std::string value;  // the link target's digest (l)
};

struct TreeDir {
  std::vector<TreeEntry> entries;
  std::string digest;
};

class TreeWalk {
 public:
  Status Walk(const std::string& path, size_t dir_index) {
    DIR* d = ::opendir(path.c_str());
    if (!d) return Errno("cannot open directory", path);
    std::vector<std::pair<std::string, unsigned char>> names;
    while (dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      names.emplace_back(e->d_name, e->d_type);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    std::vector<TreeEntry> entries;
    entries.reserve(names.size());
    for (auto& [name, type] : names) {
      std::string child = path + "/" + name;
      if (type == DT_UNKNOWN) {
        struct stat st;
        if (::lstat(child.c_str(), &st) != 0) return Errno("cannot stat", child);
        type = S_ISREG(st.st_mode)   ? DT_REG
               : S_ISDIR(st.st_mode) ? DT_DIR
               : S_ISLNK(st.st_mode) ? DT_LNK
                                     : DT_UNKNOWN;
      }
      TreeEntry e;
      e.name = std::move(name);
      if (type == DT_REG) {
        e.kind = 'f';
        e.index = files_.size();
        files_.push_back(TreeFile{std::move(child), {}, 0, false, Status::Ok()});
      } else if (type == DT_DIR) {
        e.kind = 'd';
        e.index = dirs_.size();
        dirs_.emplace_back();
        BATON_RETURN_IF_ERROR(Walk(child, e.index));
      } else if (type == DT_LNK) {
        char target[4096];
        ssize_t n = ::readlink(child.c_str(), target, sizeof target);
        if (n < 0) return Errno("cannot read link", child);
        e.kind = 'l';
        e.value = Sha256Hex(std::string_view(target, static_cast<size_t>(n)));
      } else {
        return InvalidArgument("unsupported file type in artifact: " + child);
      }
      entries.push_back(std::move(e));
    }
    dirs_[dir_index].entries = std::move(entries);
    return Status::Ok();
  }

  void HashFiles() {
    size_t threads = std::thread::hardware_concurrency();
    if (g_max_threads_for_testing > 0) threads = static_cast<size_t>(g_max_threads_for_testing);
    threads = std::clamp<size_t>(threads, 1, 8);
    // Below a few files per thread, starting threads costs more than it saves.
    threads = std::min(threads, std::max<size_t>(1, files_.size() / 4));
    std::atomic<size_t> next{0};
    auto work = [&] {
      char buf[kReadBuffer];
      for (size_t i = next++; i < files_.size(); i = next++) {
        TreeFile& f = files_[i];
        int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
          f.status = Errno("cannot open", f.path);
          continue;
        }
        struct stat st;
        if (::fstat(fd, &st) != 0) {
          f.status = Errno("cannot stat", f.path);
          ::close(fd);
          continue;
        }
        if (!S_ISREG(st.st_mode)) {  // replaced by something else since the walk
          f.status = InvalidArgument("unsupported file type in artifact: " + f.path);
          ::close(fd);
          continue;
        }
        f.executable = (st.st_mode & S_IXUSR) != 0;
        f.status = HashFd(fd, f.path, buf, kReadBuffer, &f.digest, &f.size);
      }
    };
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
  }

  Status Compose(TreeDigest* out) {
    for (const TreeFile& f : files_) {
      BATON_RETURN_IF_ERROR(f.status);
      out->size += f.size;
      out->files++;
    }
    // Directories are numbered before their children, so the children come later in the list.
    for (size_t i = dirs_.size(); i-- > 0;) {
      Sha256 h;
      h.Update("baton-tree-v1\n");
      for (const TreeEntry& e : dirs_[i].entries) {
        switch (e.kind) {
          case 'f': {
            const TreeFile& f = files_[e.index];
            h.Update(f.executable ? "x " : "f ");
            h.Update(f.digest);
            break;
          }
          case 'd':
            h.Update("d ");
            h.Update(dirs_[e.index].digest);
            break;
          default:
            h.Update("l ");
            h.Update(e.value);
            break;
        }
        h.Update(" ");
        h.Update(e.name);
        h.Update(std::string_view("\0", 1));
      }
      dirs_[i].digest = h.HexDigest();
    }
    out->digest = dirs_[0].digest;
    return Status::Ok();
  }

  Status Run(const std::string& root, TreeDigest* out) {
    dirs_.emplace_back();
    BATON_RETURN_IF_ERROR(Walk(root, 0));
    HashFiles();
    return Compose(out);
  }

 private:
  std::vector<TreeFile> files_;
  std::vector<TreeDir> dirs_;
};

}  // namespace

void SetDigestThreadsForTesting(int threads) { g_max_threads_for_testing = threads; }

Result<TreeDigest> DigestPath(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return NotFound(path + " does not exist");
    return Errno("cannot stat", path);
  }
  TreeDigest out;
  if (S_ISREG(st.st_mode)) {
    BATON_RETURN_IF_ERROR(HashFile(path, &out.digest, &out.size));
    out.files = 1;
  } else if (S_ISDIR(st.st_mode)) {
    out.is_dir = true;
    TreeWalk walk;
    BATON_RETURN_IF_ERROR(walk.Run(path, &out));
  } else {
    return InvalidArgument(path + " is neither a regular file nor a directory");
  }
  return out;
}

}  // namespace baton
