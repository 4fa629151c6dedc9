#include "platform/env_posix.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "platform/fs.h"
#include "platform/hash.h"

extern char** environ;

namespace baton {
namespace {

class Posix : public Env {
 public:
  bool Exists(const std::string& p) override { return fs::Exists(p); }
  Result<std::string> ReadFile(const std::string& p) override { return fs::ReadFile(p); }
  Result<std::string> ReadRegularFile(const std::string& p, uint64_t max) override {
    return fs::ReadRegularFile(p, max);
  }
  Status WriteFile(const std::string& p, const std::string& c) override { return fs::WriteFile(p, c); }
  Status WriteFileAtomic(const std::string& p, const std::string& c) override { return fs::WriteFileAtomic(p, c); }
  Status MakeDirs(const std::string& p) override { return fs::MakeDirs(p); }
  Status RemoveTree(const std::string& p) override { return fs::RemoveTree(p); }
  Result<std::string> StatFingerprint(const std::string& p) override { return fs::StatFingerprint(p); }
  Result<TreeDigest> DigestPath(const std::string& p) override { return baton::DigestPath(p); }
  Result<std::string> Absolute(const std::string& p) override { return fs::Absolute(p); }
  Result<uint64_t> FreeBytes(const std::string& p) override { return fs::FreeBytes(p); }
  Result<std::vector<std::string>> ListDir(const std::string& p) override {
    return fs::ListDir(p);
  }
  int64_t NowMicros() override { return baton::NowMicros(); }
  int64_t MonotonicMicros() override { return baton::MonotonicMicros(); }
  std::vector<std::string> Environment() override {
    std::vector<std::string> out;
    for (char** e = environ; *e; ++e) out.emplace_back(*e);
    return out;
  }
  std::optional<std::string> GetEnv(const std::string& n) override {
    const char* v = std::getenv(n.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  }
  int64_t ProcessId() override { return ::getpid(); }
};

}  // namespace

Env* PosixEnv() {
  static Env* env = new Posix();
  return env;
}

}  // namespace baton
