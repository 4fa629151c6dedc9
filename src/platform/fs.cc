#include "platform/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace baton::fs {
namespace {

Status Errno(const std::string& what, const std::string& path) {
  int e = errno;
  Code code = (e == ENOSPC || e == EDQUOT) ? Code::kResourceExhausted
              : (e == ENOENT)             ? Code::kNotFound
                                          : Code::kInternal;
  return Status(code, what + " " + path + ": " + std::strerror(e));
}

Status WriteAll(int fd, const std::string& content, const std::string& path) {
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write", path);
    }
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = Errno("cannot read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

namespace {

const char* FileKind(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

std::string SizeText(uint64_t bytes) {
  return bytes % (1 << 20) == 0 ? std::to_string(bytes >> 20) + " MiB" : std::to_string(bytes) + " bytes";
}

// Opens a regular file for reading; InvalidArgument for anything else. O_NONBLOCK: opening a
// FIFO must not wait for a writer.
Result<int> OpenRegular(const std::string& path, struct stat* st) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return Errno("cannot open", path);
  if (::fstat(fd, st) != 0) {
    Status s = Errno("cannot stat", path);
    ::close(fd);
    return s;
  }
  if (!S_ISREG(st->st_mode)) {
    ::close(fd);
    return InvalidArgument(path + " is " + FileKind(st->st_mode) + ", not a regular file");
  }
  return fd;
}

}  // namespace

Result<std::string> ReadRegularFile(const std::string& path, uint64_t max_bytes) {
  struct stat st;
  BATON_ASSIGN_OR_RETURN(int fd, OpenRegular(path, &st));
  const std::string too_big = path + " is larger than " + SizeText(max_bytes);
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return InvalidArgument(too_big);
  }
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      Status s = Errno("cannot read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {  // it grew while being read
      ::close(fd);
      return InvalidArgument(too_big);
    }
  }
  ::close(fd);
  return out;
}

Status WriteFile(const std::string& path, const std::string& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", path);
  Status s = WriteAll(fd, content, path);
  ::close(fd);
  return s;
}

Status AppendFile(const std::string& path, const std::string& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot open", path);
  Status s = WriteAll(fd, content, path);
  ::close(fd);
  return s;
}

Status Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) == 0) return Status::Ok();
  if (errno == ENOTEMPTY || errno == EEXIST) return AlreadyExists(to + " already exists");
  return Errno("cannot rename " + from + " to", to);
}

Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) == 0 || errno == ENOENT) return Status::Ok();
  return Errno("cannot remove", path);
}

Status MakeDir(const std::string& path, unsigned mode) {
  if (::mkdir(path.c_str(), mode) == 0 || errno == EEXIST) return Status::Ok();
  return MakeDirs(path, mode);
}

Status Chmod(const std::string& path, unsigned mode) {
  if (::chmod(path.c_str(), mode) == 0) return Status::Ok();
  return Errno("cannot change the mode of", path);
}

bool Preallocate(const std::string& path, int64_t bytes) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes)) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

bool ReserveBlocks(const std::string& path, int64_t bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(bytes)) == 0;
  ::close(fd);
  return ok;
}

Result<std::string> MakeTempDir(const std::string& prefix) {
  std::string tmpl = prefix + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return Errno("cannot create a directory like", tmpl);
  return tmpl;
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

Status WriteFileAtomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp);
  Status s = WriteAll(fd, content, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = Errno("cannot sync", tmp);
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = Errno("cannot rename to", path);
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

Status MakeDirs(const std::string& path, unsigned mode) {
  if (path.empty()) return Status::Ok();
  if (::mkdir(path.c_str(), mode) == 0 || errno == EEXIST) return Status::Ok();
  if (errno != ENOENT) return Errno("cannot create directory", path);
  BATON_RETURN_IF_ERROR(MakeDirs(Dirname(path), mode));
  if (::mkdir(path.c_str(), mode) == 0 || errno == EEXIST) return Status::Ok();
  return Errno("cannot create directory", path);
}

Status RemoveTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT ? Status::Ok() : Errno("cannot stat", path);
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("cannot remove", path);
    return Status::Ok();
  }
  ::chmod(path.c_str(), 0755);  // read-only artifact trees must be made writable to empty them
  DIR* d = ::opendir(path.c_str());
  if (!d) return Errno("cannot open directory", path);
  Status result;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    Status s = RemoveTree(path + "/" + e->d_name);
    if (!s.ok() && result.ok()) result = s;
  }
  ::closedir(d);
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT && result.ok()) result = Errno("cannot remove", path);
  return result;
}

Status Touch(const std::string& path) {
  const timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  if (::utimensat(AT_FDCWD, path.c_str(), now, AT_SYMLINK_NOFOLLOW) != 0) return Errno("cannot touch", path);
  return Status::Ok();
}

Result<int64_t> ModifiedMicros(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return Errno("cannot stat", path);
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000 + st.st_mtim.tv_nsec / 1000;
}

Result<uint64_t> TreeBytes(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return Errno("cannot stat", path);
  if (S_ISREG(st.st_mode)) return static_cast<uint64_t>(st.st_size);
  if (!S_ISDIR(st.st_mode)) return uint64_t{0};
  BATON_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(path));
  uint64_t total = 0;
  for (const std::string& n : names) {
    BATON_ASSIGN_OR_RETURN(uint64_t b, TreeBytes(path + "/" + n));
    total += b;
  }
  return total;
}

Status MakeReadOnly(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return Errno("cannot stat", path);
  if (S_ISLNK(st.st_mode)) return Status::Ok();
  if (S_ISDIR(st.st_mode)) {
    DIR* d = ::opendir(path.c_str());
    if (!d) return Errno("cannot open directory", path);
    while (dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      Status s = MakeReadOnly(path + "/" + e->d_name);
      if (!s.ok()) {
        ::closedir(d);
        return s;
      }
    }
    ::closedir(d);
  }
  mode_t mode = st.st_mode & 07555 & ~static_cast<mode_t>(S_ISUID | S_ISGID);
  if (::chmod(path.c_str(), mode) != 0) return Errno("cannot chmod", path);
  return Status::Ok();
}

uint64_t LinkCount(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  return static_cast<uint64_t>(st.st_nlink);
}

Status DetachHardLinks(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return Errno("cannot stat", path);
  if (S_ISDIR(st.st_mode)) {
    BATON_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(path));
    for (const std::string& n : names) BATON_RETURN_IF_ERROR(DetachHardLinks(path + "/" + n));
    return Status::Ok();
  }
  if (!S_ISREG(st.st_mode) || st.st_nlink <= 1) return Status::Ok();
  // The copy is written beside the link and renamed over it: the name then holds a new inode,
  // and the other links are never opened for writing.
  std::string tmp = path + ".baton-copy";
  for (int i = 1; Exists(tmp); ++i) tmp = path + ".baton-copy" + std::to_string(i);
  Status s = CopyTree(path, tmp);
  if (s.ok() && ::chmod(tmp.c_str(), st.st_mode & 0777) != 0) s = Errno("cannot chmod", tmp);
  if (s.ok()) s = Rename(tmp, path);
  if (!s.ok()) (void)RemoveFile(tmp);
  return s;
}

Status CopyTree(const std::string& from, const std::string& to) {
  struct stat st;
  if (::lstat(from.c_str(), &st) != 0) return Errno("cannot stat", from);
  if (S_ISDIR(st.st_mode)) {
    if (::mkdir(to.c_str(), 0755) != 0 && errno != EEXIST) return Errno("cannot create directory", to);
    DIR* d = ::opendir(from.c_str());
    if (!d) return Errno("cannot open directory", from);
    Status result;
    while (dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      result = CopyTree(from + "/" + e->d_name, to + "/" + e->d_name);
      if (!result.ok()) break;
    }
    ::closedir(d);
    return result;
  }
  if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = ::readlink(from.c_str(), target, sizeof target - 1);
    if (n < 0) return Errno("cannot read link", from);
    target[n] = 0;
    if (::symlink(target, to.c_str()) != 0) return Errno("cannot create link", to);
    return Status::Ok();
  }
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return Errno("cannot open", from);
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (st.st_mode & 0111) ? 0755 : 0644);
  if (out < 0) {
    Status s = Errno("cannot create", to);
    ::close(in);
    return s;
  }
  Status s;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s = Errno("cannot read", from);
      break;
    }
    if (n == 0) break;
    s = WriteAll(out, std::string(buf, static_cast<size_t>(n)), to);
    if (!s.ok()) break;
  }
  ::close(in);
  if (::close(out) != 0 && s.ok()) s = Errno("cannot write", to);
  return s;
}

Result<std::vector<std::string>> ListDir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return Internal("cannot list " + path + ": " + std::strerror(errno));
  std::vector<std::string> out;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

bool IsDir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string Join(const std::string& a, const std::string& b) {
  if (a.empty() || (!b.empty() && b[0] == '/')) return b;
  if (a.back() == '/') return a + b;
  return a + "/" + b;
}

std::string Dirname(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

std::string Basename(const std::string& path) {
  auto pos = path.find_last_of('/');
  return pos == std::string::npos ? path : path.substr(pos + 1);
}

Result<std::string> Absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char buf[4096];
  if (!::getcwd(buf, sizeof buf)) return Internal(std::string("getcwd: ") + std::strerror(errno));
  std::string cwd(buf);
  if (path.empty() || path == ".") return cwd;
  std::string p = path;
  while (p.rfind("./", 0) == 0) p = p.substr(2);
  return Join(cwd, p);
}

Result<std::string> RealPath(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (resolved == nullptr) {
    if (errno == ENOENT || errno == ENOTDIR) return NotFound(path + " does not exist");
    return Errno("cannot resolve", path);
  }
  std::string out(resolved);
  std::free(resolved);
  return out;
}

Result<std::string> ReadRange(const std::string& path, uint64_t offset, uint64_t max_bytes) {
  struct stat st;
  BATON_ASSIGN_OR_RETURN(int fd, OpenRegular(path, &st));
  std::string out;
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (offset < size) out.resize(static_cast<size_t>(std::min<uint64_t>(max_bytes, size - offset)));
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(offset + got));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      Status s = Errno("cannot read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;  // the file shrank
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  ::close(fd);
  return out;
}

namespace {
Status ListTreeInto(const std::string& root, const std::string& rel, size_t max_entries,
                    std::vector<TreeEntry>* out, bool* truncated) {
  BATON_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(rel.empty() ? root : root + "/" + rel));
  for (const std::string& name : names) {
    if (out->size() >= max_entries) {
      *truncated = true;
      return Status::Ok();
    }
    const std::string r = rel.empty() ? name : rel + "/" + name;
    struct stat st;
    if (::lstat((root + "/" + r).c_str(), &st) != 0) continue;  // gone meanwhile
    TreeEntry e{r, 0, "other"};
    if (S_ISREG(st.st_mode)) e.kind = "file", e.size = static_cast<uint64_t>(st.st_size);
    else if (S_ISDIR(st.st_mode)) e.kind = "dir";
    else if (S_ISLNK(st.st_mode)) e.kind = "symlink";
    out->push_back(e);
    if (e.kind == "dir") BATON_RETURN_IF_ERROR(ListTreeInto(root, r, max_entries, out, truncated));
  }
  return Status::Ok();
}
}  // namespace

Result<std::vector<TreeEntry>> ListTree(const std::string& dir, size_t max_entries, bool* truncated) {
  std::vector<TreeEntry> out;
  *truncated = false;
  BATON_RETURN_IF_ERROR(ListTreeInto(dir, "", max_entries, &out, truncated));
  return out;
}

namespace {
void AppendStat(const struct stat& st, std::string* out) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%llu:%o:%lld:%ld.%ld:%ld.%ld;",
                static_cast<unsigned long long>(st.st_ino), st.st_mode,
                static_cast<long long>(st.st_size), static_cast<long>(st.st_mtim.tv_sec),
                st.st_mtim.tv_nsec, static_cast<long>(st.st_ctim.tv_sec), st.st_ctim.tv_nsec);
  out->append(buf);
}

Status FingerprintInto(const std::string& path, std::string* out) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return Errno("cannot stat", path);
  AppendStat(st, out);
  if (!S_ISDIR(st.st_mode)) return Status::Ok();
  DIR* d = ::opendir(path.c_str());
  if (!d) return Errno("cannot open directory", path);
  Status s;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    out->append(e->d_name);
    s = FingerprintInto(path + "/" + e->d_name, out);
    if (!s.ok()) break;
  }
  ::closedir(d);
  return s;
}
}  // namespace

Result<std::string> StatFingerprint(const std::string& path) {
  std::string out;
  BATON_RETURN_IF_ERROR(FingerprintInto(path, &out));
  return out;
}

Result<uint64_t> FreeBytes(const std::string& path) {
  struct statvfs v;
  if (::statvfs(path.c_str(), &v) != 0) return Errno("cannot statvfs", path);
  return static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
}

}  // namespace baton::fs

namespace baton {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t MonotonicMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace baton
