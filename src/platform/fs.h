#pragma once
// File-system helpers: every file operation of baton goes through here.

#include <cstdint>
#include <string>
#include <vector>

#include "baton/status.h"

namespace baton::fs {

Result<std::string> ReadFile(const std::string& path);
// Writes to a temporary file beside `path`, fsyncs it and renames it over `path`.
Status WriteFileAtomic(const std::string& path, const std::string& content);
Status MakeDirs(const std::string& path, unsigned mode = 0755);
// Removes a file or a directory tree; succeeds when nothing is there.
Status RemoveTree(const std::string& path);
// Removes write permission from a file or every entry of a tree.
Status MakeReadOnly(const std::string& path);
// Copies a file or directory tree (for exports); the copy is writable.
Status CopyTree(const std::string& from, const std::string& to);
bool Exists(const std::string& path);
// The names in a directory (no "." or ".."), sorted.
Result<std::vector<std::string>> ListDir(const std::string& path);
bool IsDir(const std::string& path);
std::string Join(const std::string& a, const std::string& b);
std::string Dirname(const std::string& path);
std::string Basename(const std::string& path);
Result<std::string> Absolute(const std::string& path);
// A cheap fingerprint of a file or tree (sizes, mtimes, ctimes, inodes) that changes whenever
// its content or permissions change; used to decide whether an input must be re-hashed.
Result<std::string> StatFingerprint(const std::string& path);
// Free bytes on the filesystem holding path.
Result<uint64_t> FreeBytes(const std::string& path);

}  // namespace baton::fs

namespace baton {
int64_t NowMicros();     // wall clock, microseconds since the epoch
int64_t MonotonicMicros();
std::string FormatTimestamp(int64_t micros);  // ISO-8601 UTC, seconds
std::string FormatDuration(int64_t micros);   // "1.23s", "2m03s", "45ms"
}  // namespace baton
