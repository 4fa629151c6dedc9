#pragma once
// File-system helpers: every file operation of baton goes through here.

#include <cstdint>
#include <string>
#include <vector>

#include "baton/format.h"
#include "baton/status.h"

namespace baton::fs {

Result<std::string> ReadFile(const std::string& path);
// Reads a regular file of at most `max_bytes`; anything else (a FIFO, a device, a directory, a
// larger file) is refused at once, without blocking or reading it (InvalidArgument).
Result<std::string> ReadRegularFile(const std::string& path, uint64_t max_bytes);
// Writes to a temporary file beside `path`, fsyncs it and renames it over `path`.
Status WriteFileAtomic(const std::string& path, const std::string& content);
// Replaces `path` with `content` (no fsync, no rename: a reader may see it half-written).
Status WriteFile(const std::string& path, const std::string& content);
// Appends `content` to `path` (created if missing) in one write.
Status AppendFile(const std::string& path, const std::string& content);
// rename(2); AlreadyExists when `to` is a non-empty directory.
Status Rename(const std::string& from, const std::string& to);
// Removes one file; succeeds when it is not there.
Status RemoveFile(const std::string& path);
// Creates one directory (its parent too, if missing); succeeds when it exists.
Status MakeDir(const std::string& path, unsigned mode = 0755);
Status Chmod(const std::string& path, unsigned mode);
// Creates `path` with `bytes` allocated on disk (posix_fallocate), through a temporary file
// renamed into place; false when the space cannot be had.
bool Preallocate(const std::string& path, int64_t bytes);
// Allocates disk blocks for the first `bytes` of an existing file without changing its size or
// content (fallocate KEEP_SIZE), so that writes there cannot fail for lack of space. False when
// the filesystem cannot, or has no room.
bool ReserveBlocks(const std::string& path, int64_t bytes);
// Creates a new, empty directory named PREFIX-XXXXXX (mkdtemp) and returns its path.
Result<std::string> MakeTempDir(const std::string& prefix);
// The size of a file in bytes, or -1.
int64_t FileSize(const std::string& path);
Status MakeDirs(const std::string& path, unsigned mode = 0755);
// Removes a file or a directory tree; succeeds when nothing is there.
Status RemoveTree(const std::string& path);
// Removes write permission from a file or every entry of a tree.
Status MakeReadOnly(const std::string& path);
// Gives every regular file at `path` (a file, or one inside a tree) that has other hard links a
// copy of its own under the same name, so that what is done to `path` afterwards (chmod, a rename
// into a store) never reaches a file elsewhere; the other links keep their content and mode.
Status DetachHardLinks(const std::string& path);
// How many hard links a regular file has; 0 for anything else (a directory, a symlink, nothing).
uint64_t LinkCount(const std::string& path);
// Copies a file or directory tree (for exports); the copy is writable.
Status CopyTree(const std::string& from, const std::string& to);
bool Exists(const std::string& path);
// Sets a file's or directory's modification time to now (not following a symlink).
Status Touch(const std::string& path);
// When a file or directory (not followed if a symlink) was last modified, in microseconds since
// the epoch.
Result<int64_t> ModifiedMicros(const std::string& path);
// The bytes of the regular files at `path`, a file or a tree (symlinks neither followed nor
// counted).
Result<uint64_t> TreeBytes(const std::string& path);
// The names in a directory (no "." or ".."), sorted.
Result<std::vector<std::string>> ListDir(const std::string& path);
bool IsDir(const std::string& path);
std::string Join(const std::string& a, const std::string& b);
std::string Dirname(const std::string& path);
std::string Basename(const std::string& path);
Result<std::string> Absolute(const std::string& path);
// The canonical absolute path: symbolic links, "." and ".." resolved. NotFound when nothing is
// there.
Result<std::string> RealPath(const std::string& path);
// Up to `max_bytes` of the regular file at `path` from byte `offset` (fewer at its end; none past
// it). InvalidArgument for what is not a regular file (a FIFO is never waited on).
Result<std::string> ReadRange(const std::string& path, uint64_t offset, uint64_t max_bytes);
// An entry of a directory tree: its path relative to the tree, bytes (regular files) and kind.
struct TreeEntry {
  std::string path;
  uint64_t size = 0;
  std::string kind;  // file | dir | symlink | other
};
// Every entry under `dir`, depth first in name order, at most `max_entries` (then *truncated).
// Symbolic links are listed, not followed.
Result<std::vector<TreeEntry>> ListTree(const std::string& dir, size_t max_entries, bool* truncated);
// A cheap fingerprint of a file or tree (sizes, mtimes, ctimes, inodes) that changes whenever
// its content or permissions change; used to decide whether an input must be re-hashed.
Result<std::string> StatFingerprint(const std::string& path);
// Free bytes on the filesystem holding path.
Result<uint64_t> FreeBytes(const std::string& path);

}  // namespace baton::fs

namespace baton {
int64_t NowMicros();     // wall clock, microseconds since the epoch
int64_t MonotonicMicros();
}  // namespace baton
