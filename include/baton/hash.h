#pragma once
// SHA-256 of bytes (pure computation, no I/O), and the digest of a file or directory tree as an
// Env computes it.

#include <cstdint>
#include <string>
#include <string_view>

namespace baton {

// Incremental SHA-256 (FIPS 180-4), with the x86 SHA extensions where the processor has them.
// Not thread-safe; one per thread.
class Sha256 {
 public:
  Sha256() { Reset(); }
  void Update(std::string_view data);
  std::string HexDigest();             // finalizes; the object is reset afterwards
  void Digest(unsigned char out[32]);  // the same as 32 bytes
  void Reset();

 private:
  uint32_t state_[8];
  uint64_t bytes_ = 0;  // total length so far
  unsigned char block_[64];
  size_t pending_ = 0;  // bytes waiting in block_
};

std::string Sha256Hex(std::string_view data);
// HMAC-SHA256 (RFC 2104) of `data` under `key`: 32 raw bytes.
std::string HmacSha256(std::string_view key, std::string_view data);

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
