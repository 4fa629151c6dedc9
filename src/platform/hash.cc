#include "platform/hash.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace baton {

namespace {

Status Errno(const std::string& what, const std::string& path) {
  return Internal(what + " " + path + ": " + std::strerror(errno));
}

Status HashFile(const std::string& path, std::string* digest, uint64_t* size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  Sha256 h;
  char buf[1 << 16];
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
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

Status HashDir(const std::string& path, TreeDigest* out, std::string* digest) {
  DIR* d = ::opendir(path.c_str());
  if (!d) return Errno("cannot open directory", path);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  Sha256 h;
  h.Update("baton-tree-v1\n");
  for (const auto& name : names) {
    std::string child = path + "/" + name;
    struct stat st;
    if (::lstat(child.c_str(), &st) != 0) return Errno("cannot stat", child);
    std::string line;
    if (S_ISREG(st.st_mode)) {
      std::string fd;
      uint64_t sz = 0;
      BATON_RETURN_IF_ERROR(HashFile(child, &fd, &sz));
      out->size += sz;
      out->files++;
      line = std::string((st.st_mode & S_IXUSR) ? "x " : "f ") + fd;
    } else if (S_ISDIR(st.st_mode)) {
      std::string dd;
      BATON_RETURN_IF_ERROR(HashDir(child, out, &dd));
      line = "d " + dd;
    } else if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = ::readlink(child.c_str(), target, sizeof target);
      if (n < 0) return Errno("cannot read link", child);
      line = "l " + Sha256Hex(std::string_view(target, static_cast<size_t>(n)));
    } else {
      return InvalidArgument("unsupported file type in artifact: " + child);
    }
    h.Update(line);
    h.Update(" ");
    h.Update(name);
    h.Update(std::string_view("\0", 1));
  }
  *digest = h.HexDigest();
  return Status::Ok();
}

}  // namespace

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
    BATON_RETURN_IF_ERROR(HashDir(path, &out, &out.digest));
  } else {
    return InvalidArgument(path + " is neither a regular file nor a directory");
  }
  return out;
}

}  // namespace baton
