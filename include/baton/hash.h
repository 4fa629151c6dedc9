#pragma once
// SHA-256 of bytes (pure computation, no I/O), and the digest of a file or directory tree as an
// Env computes it.

#include <cstdint>
#include <string>
#include <string_view>

namespace baton {

// Incremental SHA-256 (OpenSSL EVP). Not thread-safe; one per thread.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view data);
  std::string HexDigest();  // finalizes; the object is reset afterwards

 private:
  void* ctx_;
};

std::string Sha256Hex(std::string_view data);

// Digest and size of what lies at a path: for a regular file the plain SHA-256 of its content
// (so `sha256sum` agrees), for a directory a digest over the sorted tree (names, kinds, the
// executable bit, file digests, symlink targets). `size` is the total bytes of regular files.
struct TreeDigest {
  std::string digest;  // 64 hex chars
  uint64_t size = 0;
  bool is_dir = false;
  uint64_t files = 0;
};

}  // namespace baton
