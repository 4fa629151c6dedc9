// SHA-256 as FIPS 180-4 defines it: a portable compression function, and one on the x86 SHA
// extensions (SHA-NI), chosen once at first use. Hashing artifacts is on every step's path, so
// the fast one matters (about 1.5-2 GB/s against 0.3-0.4 for the portable one); having it here
// also spares every baton command loading libcrypto at start-up.

#include <algorithm>
#include <cstring>

#include "baton/hash.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace baton {
namespace {

constexpr uint32_t kRound[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr uint32_t kInitial[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

inline uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

inline uint32_t LoadBigEndian(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

void CompressPortable(uint32_t state[8], const unsigned char* data, size_t blocks) {
  for (; blocks > 0; --blocks, data += 64) {
    uint32_t w[64];
    for (int t = 0; t < 16; ++t) w[t] = LoadBigEndian(data + 4 * t);
    for (int t = 16; t < 64; ++t) {
      const uint32_t s0 = Rotr(w[t - 15], 7) ^ Rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
      const uint32_t s1 = Rotr(w[t - 2], 17) ^ Rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int t = 0; t < 64; ++t) {
      const uint32_t t1 =
          h + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + ((e & f) ^ (~e & g)) + kRound[t] + w[t];
      const uint32_t t2 = (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
  }
}

#if defined(__x86_64__)
// The SHA extensions keep the state as two vectors, (A,B,E,F) and (C,D,G,H) with A in the top
// lane; each sha256rnds2 does two rounds and returns the new (A,B,E,F), the old one becoming
// (C,D,G,H). The message schedule runs four words at a time: sha256msg1 adds sigma0 of the
// next words, the words seven back are added from the two groups before, and sha256msg2 adds
// sigma1 (including of the words it has just made).
__attribute__((target("sha,sse4.1,ssse3"))) void CompressShaNi(uint32_t state[8],
                                                               const unsigned char* data,
                                                               size_t blocks) {
  const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i dcba = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[0]));
  __m128i hgfe = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[4]));
  __m128i badc = _mm_shuffle_epi32(dcba, 0xB1);      // lanes b a d c
  hgfe = _mm_shuffle_epi32(hgfe, 0x1B);              // lanes h g f e
  __m128i abef = _mm_alignr_epi8(badc, hgfe, 8);     // lanes f e b a
  __m128i cdgh = _mm_blend_epi16(hgfe, badc, 0xF0);  // lanes h g d c
  for (; blocks > 0; --blocks, data += 64) {
    const __m128i abef_start = abef, cdgh_start = cdgh;
    __m128i w[4];
    for (int group = 0; group < 16; ++group) {
      __m128i& m = w[group % 4];
      if (group < 4) {
        m = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + 16 * group)),
                             byte_swap);
      } else {
        const __m128i& prev = w[(group + 3) % 4];  // words t-4..t-1
        __m128i next = _mm_sha256msg1_epu32(m, w[(group + 1) % 4]);
        next = _mm_add_epi32(next, _mm_alignr_epi8(prev, w[(group + 2) % 4], 4));
        m = _mm_sha256msg2_epu32(next, prev);
      }
      __m128i wk =
          _mm_add_epi32(m, _mm_loadu_si128(reinterpret_cast<const __m128i*>(&kRound[4 * group])));
      cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
      wk = _mm_shuffle_epi32(wk, 0x0E);
      abef = _mm_sha256rnds2_epu32(abef, cdgh, wk);
    }
    abef = _mm_add_epi32(abef, abef_start);
    cdgh = _mm_add_epi32(cdgh, cdgh_start);
  }
  const __m128i feba = _mm_shuffle_epi32(abef, 0x1B);  // lanes a b e f
  const __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);  // lanes g h c d
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[0]), _mm_blend_epi16(feba, dchg, 0xF0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[4]), _mm_alignr_epi8(dchg, feba, 8));
}

bool HasShaExtensions() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool ssse3 = c & (1u << 9), sse41 = c & (1u << 19);
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return ssse3 && sse41 && (b & (1u << 29));
}
#endif

using CompressFn = void (*)(uint32_t*, const unsigned char*, size_t);

bool& ForcePortable() {
  static bool force = false;
  return force;
}

CompressFn Compress() {
#if defined(__x86_64__)
  static const bool sha_ni = HasShaExtensions();
  return sha_ni && !ForcePortable() ? CompressShaNi : CompressPortable;
#else
  return CompressPortable;
#endif
}

}  // namespace

// For tests (declared there): whether the SHA extensions are used, and a switch to the portable
// function so that both are checked on a machine that has them.
bool Sha256UsesShaExtensions() { return Compress() != CompressPortable; }
void Sha256ForcePortableForTesting(bool portable) { ForcePortable() = portable; }

void Sha256::Reset() {
  std::memcpy(state_, kInitial, sizeof state_);
  bytes_ = 0;
  pending_ = 0;
}

void Sha256::Update(std::string_view data) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  bytes_ += n;
  if (pending_ > 0) {
    const size_t take = std::min(n, 64 - pending_);
    std::memcpy(block_ + pending_, p, take);
    pending_ += take;
    p += take;
    n -= take;
    if (pending_ < 64) return;
    Compress()(state_, block_, 1);
    pending_ = 0;
  }
  if (n >= 64) {
    Compress()(state_, p, n / 64);
    p += n / 64 * 64;
    n %= 64;
  }
  std::memcpy(block_, p, n);
  pending_ = n;
}

void Sha256::Digest(unsigned char out[32]) {
  const uint64_t bits = bytes_ * 8;
  block_[pending_++] = 0x80;
  if (pending_ > 56) {
    std::memset(block_ + pending_, 0, 64 - pending_);
    Compress()(state_, block_, 1);
    pending_ = 0;
  }
  std::memset(block_ + pending_, 0, 56 - pending_);
  for (int i = 0; i < 8; ++i) block_[56 + i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
  Compress()(state_, block_, 1);
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 4; ++j)
      out[4 * i + j] = static_cast<unsigned char>(state_[i] >> (24 - 8 * j));
  Reset();
}

std::string Sha256::HexDigest() {
  unsigned char md[32];
  Digest(md);
  static const char kHex[] = "0123456789abcdef";
  std::string out(64, '0');
  for (int i = 0; i < 32; ++i) {
    out[2 * i] = kHex[md[i] >> 4];
    out[2 * i + 1] = kHex[md[i] & 15];
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.HexDigest();
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char k[64] = {};
  Sha256 h;
  if (key.size() > 64) {
    h.Update(key);
    h.Digest(k);
  } else {
    std::memcpy(k, key.data(), key.size());
  }
  unsigned char pad[64];
  for (int i = 0; i < 64; ++i) pad[i] = k[i] ^ 0x36;
  h.Update(std::string_view(reinterpret_cast<char*>(pad), 64));
  h.Update(data);
  unsigned char inner[32];
  h.Digest(inner);
  for (int i = 0; i < 64; ++i) pad[i] = k[i] ^ 0x5c;
  h.Update(std::string_view(reinterpret_cast<char*>(pad), 64));
  h.Update(std::string_view(reinterpret_cast<char*>(inner), 32));
  unsigned char out[32];
  h.Digest(out);
  return std::string(reinterpret_cast<char*>(out), 32);
}

}  // namespace baton
