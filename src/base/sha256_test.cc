// SHA-256 and HMAC-SHA256: the published test vectors, and both compression functions (the SHA
// extensions one and the portable one) against OpenSSL over many lengths and split points.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <random>
#include <string>

#include "baton/hash.h"

namespace baton {
bool Sha256UsesShaExtensions();
void Sha256ForcePortableForTesting(bool portable);

namespace {

std::string OpenSslHex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::string HexOf(const std::string& bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

class Sha256Test : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!GetParam() && !Sha256UsesShaExtensions())
      GTEST_SKIP() << "this processor has no SHA extensions";
    Sha256ForcePortableForTesting(GetParam());
  }
  void TearDown() override { Sha256ForcePortableForTesting(false); }
};

TEST_P(Sha256Test, PublishedVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_P(Sha256Test, AgreesWithOpenSslForEveryLengthAndSplit) {
  std::mt19937 rng(42);
  std::string data(4096 + 200, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (size_t len = 0; len < 300; ++len) {
    const std::string piece = data.substr(len, len);
    ASSERT_EQ(Sha256Hex(piece), OpenSslHex(piece)) << "length " << len;
  }
  // Uneven pieces, so that every path through the pending-block buffer is taken.
  for (int trial = 0; trial < 200; ++trial) {
    const size_t len = rng() % data.size();
    Sha256 h;
    for (size_t at = 0; at < len;) {
      const size_t n = std::min<size_t>(len - at, rng() % 150);
      h.Update(std::string_view(data).substr(at, n));
      at += n;
    }
    ASSERT_EQ(h.HexDigest(), OpenSslHex(data.substr(0, len))) << "trial " << trial;
  }
}

TEST_P(Sha256Test, AnObjectIsReusableAfterItsDigest) {
  Sha256 h;
  h.Update("first");
  EXPECT_EQ(h.HexDigest(), OpenSslHex("first"));
  h.Update("abc");
  EXPECT_EQ(h.HexDigest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// RFC 4231, cases 1, 2, 4 and 6 (the last has a key longer than a block).
TEST_P(Sha256Test, HmacVectors) {
  EXPECT_EQ(HexOf(HmacSha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(HexOf(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  std::string key4;
  for (int i = 1; i <= 25; ++i) key4 += static_cast<char>(i);
  EXPECT_EQ(HexOf(HmacSha256(key4, std::string(50, '\xcd'))),
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  EXPECT_EQ(HexOf(HmacSha256(std::string(131, '\xaa'),
                             "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::string key(rng() % 200, '\0'), data(rng() % 300, '\0');
    for (char& c : key) c = static_cast<char>(rng());
    for (char& c : data) c = static_cast<char>(rng());
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
    ASSERT_EQ(HmacSha256(key, data), std::string(reinterpret_cast<char*>(md), len));
  }
}

INSTANTIATE_TEST_SUITE_P(Compress, Sha256Test, ::testing::Values(false, true),
                         [](const auto& info) {
                           return info.param ? "Portable" : "ShaExtensions";
                         });

}  // namespace
}  // namespace baton
