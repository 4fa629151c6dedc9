// Directory artifacts as tar streams: the digest computed while streaming equals DigestPath's,
// GNU tar reads what TarSource writes, TarExtractor reads what GNU tar writes, and a stream that
// would write outside its directory, is cut short or damaged is refused.

#include "store/s3/tar_stream.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "platform/fs.h"
#include "platform/hash.h"

namespace baton::s3 {
namespace {

class Dir {
 public:
  Dir() {
    char tmpl[] = "/tmp/baton-tar-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~Dir() { (void)fs::RemoveTree(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string Stream(const std::string& root, TreeDigest* digest) {
  auto src = TarSource::Open(root);
  EXPECT_TRUE(src.ok()) << src.status().ToString();
  if (!src.ok()) return "";
  std::string out;
  char buf[7000];  // odd-sized reads cross block boundaries
  for (;;) {
    auto n = (*src)->Read(buf, sizeof buf);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    if (!n.ok() || *n == 0) break;
    out.append(buf, *n);
  }
  *digest = (*src)->Digest();
  return out;
}

Status Extract(const std::string& tar, const std::string& dest, size_t piece = 1000) {
  TarExtractor x(dest);
  BATON_RETURN_IF_ERROR(x.Begin());
  for (size_t at = 0; at < tar.size(); at += piece)
    BATON_RETURN_IF_ERROR(x.Feed(std::string_view(tar).substr(at, piece)));
  return x.Finish();
}

// Files, an executable, empty and nested directories, links (one with a long target), names
// longer than ustar's 100 characters, a file of exactly one block and an empty file.
void MakeTree(const std::string& t) {
  const std::string deep = t + "/" + std::string(90, 'd') + "/" + std::string(60, 'e');
  ASSERT_TRUE(fs::MakeDirs(deep).ok());
  ASSERT_TRUE(fs::MakeDirs(t + "/empty").ok());
  ASSERT_TRUE(fs::WriteFile(deep + "/" + std::string(110, 'f'), "long name\n").ok());
  ASSERT_TRUE(fs::WriteFile(t + "/a.txt", "alpha\n").ok());
  ASSERT_TRUE(fs::WriteFile(t + "/block", std::string(512, 'b')).ok());
  ASSERT_TRUE(fs::WriteFile(t + "/zero", "").ok());
  ASSERT_TRUE(fs::WriteFile(t + "/run.sh", "#!/bin/sh\n").ok());
  ASSERT_TRUE(fs::Chmod(t + "/run.sh", 0755).ok());
  std::filesystem::create_symlink("a.txt", t + "/link");
  std::filesystem::create_symlink(std::string(150, 'x'), t + "/dangling");
}

TEST(TarStream, TheStreamingDigestIsTheTreeDigest) {
  Dir d;
  MakeTree(d.path() + "/t");
  TreeDigest streamed;
  const std::string tar = Stream(d.path() + "/t", &streamed);
  ASSERT_EQ(tar.size() % 512, 0u);
  auto local = DigestPath(d.path() + "/t");
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  EXPECT_EQ(streamed.digest, local->digest);
  EXPECT_EQ(streamed.size, local->size);
  EXPECT_EQ(streamed.files, local->files);
  EXPECT_TRUE(streamed.is_dir);
  // The same tree, the same bytes.
  TreeDigest again;
  EXPECT_EQ(Stream(d.path() + "/t", &again), tar);
  // An empty directory is an archive of its end blocks.
  ASSERT_TRUE(fs::MakeDirs(d.path() + "/nothing").ok());
  TreeDigest empty;
  EXPECT_EQ(Stream(d.path() + "/nothing", &empty), std::string(1024, '\0'));
  EXPECT_EQ(empty.digest, DigestPath(d.path() + "/nothing")->digest);
}

TEST(TarStream, RoundTripsThroughTheExtractor) {
  Dir d;
  MakeTree(d.path() + "/t");
  TreeDigest streamed;
  const std::string tar = Stream(d.path() + "/t", &streamed);
  for (size_t piece : {1, 511, 512, 4096, 1 << 20}) {
    const std::string out = d.path() + "/x" + std::to_string(piece);
    ASSERT_TRUE(Extract(tar, out, piece).ok()) << piece;
    EXPECT_EQ(DigestPath(out)->digest, streamed.digest) << piece;
  }
  EXPECT_EQ(Extract(tar, d.path() + "/x1").code(), Code::kAlreadyExists);
}

TEST(TarStream, GnuTarReadsItAndWritesWhatTheExtractorReads) {
  Dir d;
  MakeTree(d.path() + "/t");
  TreeDigest streamed;
  ASSERT_TRUE(fs::WriteFile(d.path() + "/ours.tar", Stream(d.path() + "/t", &streamed)).ok());
  ASSERT_TRUE(fs::MakeDirs(d.path() + "/gnu").ok());
  const std::string untar = "tar -xf " + d.path() + "/ours.tar -C " + d.path() + "/gnu";
  ASSERT_EQ(std::system(untar.c_str()), 0) << untar;
  EXPECT_EQ(DigestPath(d.path() + "/gnu")->digest, streamed.digest);
  for (const char* format : {"pax", "gnu", "ustar"}) {
    const std::string tar = d.path() + "/theirs-" + format + ".tar";
    const std::string cmd = std::string("tar --format=") + format + " -cf " + tar + " -C " +
                            d.path() + "/t . 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) continue;  // ustar cannot hold the long link target
    const std::string out = d.path() + "/from-" + format;
    ASSERT_TRUE(Extract(*fs::ReadFile(tar), out).ok()) << format;
    EXPECT_EQ(DigestPath(out)->digest, streamed.digest) << format;
  }
}

// A header block for `name`, as an attacker might write it.
std::string Entry(const std::string& name, char type, const std::string& data,
                  const std::string& link = "") {
  char h[512] = {};
  std::memcpy(h, name.data(), std::min<size_t>(name.size(), 100));
  std::snprintf(h + 100, 8, "%07o", 0644);
  std::snprintf(h + 124, 12, "%011o", static_cast<unsigned>(data.size()));
  std::memset(h + 148, ' ', 8);
  h[156] = type;
  std::memcpy(h + 157, link.data(), std::min<size_t>(link.size(), 100));
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(h + 148, 8, "%06o", sum);
  return std::string(h, 512) + data + std::string((512 - data.size() % 512) % 512, '\0');
}

TEST(TarStream, TheExtractorRefusesWhatWouldEscapeOrIsBroken) {
  Dir d;
  const std::string end(1024, '\0');
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"parent", Entry("../evil", '0', "x") + end},
      {"absolute", Entry("/tmp/evil", '0', "x") + end},
      {"nested parent", Entry("a/../../evil", '0', "x") + end},
      {"through a link", Entry("l", '2', "", "/tmp") + Entry("l/evil", '0', "x") + end},
      {"twice", Entry("f", '0', "x") + Entry("f", '0', "y") + end},
      {"hard link", Entry("h", '1', "", "f") + end},
      {"device", Entry("dev", '3', "") + end},
      {"cut short", Entry("f", '0', std::string(2000, 'x')).substr(0, 1500)},
      {"no end", Entry("f", '0', "x")},
      {"bad checksum", Entry("f", '0', "x").replace(0, 1, "g") + end},
  };
  int i = 0;
  for (const auto& [what, tar] : bad) {
    const std::string out = d.path() + "/out" + std::to_string(i++);
    Status st = Extract(tar, out);
    EXPECT_FALSE(st.ok()) << what;
    EXPECT_FALSE(fs::Exists(d.path() + "/evil")) << what;
    EXPECT_FALSE(fs::Exists("/tmp/evil")) << what;
  }
}

}  // namespace
}  // namespace baton::s3
