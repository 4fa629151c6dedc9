#pragma once
// Env: the seam between baton's logic and the operating system (files, clock, the process's
// environment). src/core reaches the machine only through an Env; src/platform implements it
// for POSIX (PosixEnv), and tests wrap it (EnvWrapper) to fake a clock or inject faults.
// Implementations are thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "baton/hash.h"
#include "baton/status.h"

namespace baton {

class Env {
 public:
  virtual ~Env() = default;

  // Files. Paths are absolute or relative to the process's working directory.
  virtual bool Exists(const std::string& path) = 0;
  virtual Result<std::string> ReadFile(const std::string& path) = 0;
  // Reads a file a user named as input (a pipeline, a run config): anything but a regular file
  // (a FIFO, a device, a directory) is refused at once without blocking, and so is a file of
  // more than `max_bytes` (InvalidArgument, saying which).
  virtual Result<std::string> ReadRegularFile(const std::string& path, uint64_t max_bytes) = 0;
  // Replaces `path` with `content` (plain write: the file may be seen half-written).
  virtual Status WriteFile(const std::string& path, const std::string& content) = 0;
  // Writes a temporary file beside `path`, fsyncs it and renames it over `path`.
  virtual Status WriteFileAtomic(const std::string& path, const std::string& content) = 0;
  virtual Status MakeDirs(const std::string& path) = 0;
  // Removes a file or a directory tree; succeeds when nothing is there.
  virtual Status RemoveTree(const std::string& path) = 0;
  // A cheap fingerprint (sizes, times, inodes, modes) that changes when the content changes.
  virtual Result<std::string> StatFingerprint(const std::string& path) = 0;
  // SHA-256 of a file, or of a directory tree (see TreeDigest).
  virtual Result<TreeDigest> DigestPath(const std::string& path) = 0;
  // The absolute form of `path` (symbolic links resolved).
  virtual Result<std::string> Absolute(const std::string& path) = 0;
  // Bytes an unprivileged process may still write on the filesystem holding `path`.
  virtual Result<uint64_t> FreeBytes(const std::string& path) = 0;
  // The names in a directory, sorted, without "." and ".."; an error when `path` is no directory.
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) {
    return Internal("cannot list " + path + ": this environment lists no directories");
  }

  // Clock.
  virtual int64_t NowMicros() = 0;        // wall clock, microseconds since the epoch
  virtual int64_t MonotonicMicros() = 0;  // for durations and deadlines

  // The process.
  virtual std::vector<std::string> Environment() = 0;  // NAME=VALUE, this process's environment
  virtual std::optional<std::string> GetEnv(const std::string& name) = 0;
  virtual int64_t ProcessId() = 0;
};

// Forwards every call to another Env; override the calls a test wants to change.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target) : target_(target) {}
  Env* target() const { return target_; }

  bool Exists(const std::string& p) override { return target_->Exists(p); }
  Result<std::string> ReadFile(const std::string& p) override { return target_->ReadFile(p); }
  Result<std::string> ReadRegularFile(const std::string& p, uint64_t max) override {
    return target_->ReadRegularFile(p, max);
  }
  Status WriteFile(const std::string& p, const std::string& c) override { return target_->WriteFile(p, c); }
  Status WriteFileAtomic(const std::string& p, const std::string& c) override { return target_->WriteFileAtomic(p, c); }
  Status MakeDirs(const std::string& p) override { return target_->MakeDirs(p); }
  Status RemoveTree(const std::string& p) override { return target_->RemoveTree(p); }
  Result<std::string> StatFingerprint(const std::string& p) override { return target_->StatFingerprint(p); }
  Result<TreeDigest> DigestPath(const std::string& p) override { return target_->DigestPath(p); }
  Result<std::string> Absolute(const std::string& p) override { return target_->Absolute(p); }
  Result<uint64_t> FreeBytes(const std::string& p) override { return target_->FreeBytes(p); }
  int64_t NowMicros() override { return target_->NowMicros(); }
  int64_t MonotonicMicros() override { return target_->MonotonicMicros(); }
  std::vector<std::string> Environment() override { return target_->Environment(); }
  std::optional<std::string> GetEnv(const std::string& n) override { return target_->GetEnv(n); }
  int64_t ProcessId() override { return target_->ProcessId(); }

 private:
  Env* target_;
};

}  // namespace baton
