// DigestPath: a file's digest is its SHA-256, a tree's follows the documented format, and the
// number of threads hashing a tree's files never changes its digest.

#include "platform/hash.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace baton::testing {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The tree format written out plainly, one directory at a time, to hold DigestPath to.
std::string ReferenceTree(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  std::string text = "baton-tree-v1\n";
  for (const auto& name : names) {
    std::string child = dir + "/" + name;
    struct stat st;
    EXPECT_EQ(::lstat(child.c_str(), &st), 0);
    std::string line;
    if (S_ISREG(st.st_mode)) {
      line = std::string((st.st_mode & S_IXUSR) ? "x " : "f ") + Sha256Hex(ReadAll(child));
    } else if (S_ISDIR(st.st_mode)) {
      line = "d " + ReferenceTree(child);
    } else {
      line = "l " + Sha256Hex(fs::read_symlink(child).string());
    }
    text += line + " " + name + std::string(1, '\0');
  }
  return Sha256Hex(text);
}

class DigestPathTest : public ::testing::Test {
 protected:
  void TearDown() override { SetDigestThreadsForTesting(0); }

  // The small tree whose digest is pinned below.
  std::string SmallTree() {
    std::string t = dir_.path() + "/t";
    dir_.Write("t/a.txt", "hello\n");
    dir_.Write("t/sub/empty", "");
    std::string run = dir_.Write("t/sub/run.sh", "#!/bin/sh\n");
    EXPECT_EQ(::chmod(run.c_str(), 0755), 0);
    dir_.Write("t/sub/deeper/B", "x");
    fs::create_directories(t + "/empty");
    fs::create_symlink("../a.txt", t + "/sub/link");
    return t;
  }

  TempDir dir_;
};

TEST_F(DigestPathTest, AFileDigestIsItsSha256) {
  std::string f = dir_.Write("f", "abc");
  ASSERT_OK_AND_ASSIGN(TreeDigest d, DigestPath(f));
  EXPECT_EQ(d.digest, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(d.size, 3u);
  EXPECT_EQ(d.files, 1u);
  EXPECT_FALSE(d.is_dir);
}

TEST_F(DigestPathTest, ATreeDigestIsPinned) {
  // Stored artifacts and cache keys carry this digest: a change of format must be deliberate.
  std::string t = SmallTree();
  for (int threads : {1, 2, 8}) {
    SetDigestThreadsForTesting(threads);
    ASSERT_OK_AND_ASSIGN(TreeDigest d, DigestPath(t));
    EXPECT_EQ(d.digest, "c7fa02c1140ab277d14fb850e2031a864792bde742d5f67dec7acd130bc8668c");
    EXPECT_EQ(d.digest, ReferenceTree(t));
    EXPECT_TRUE(d.is_dir);
    EXPECT_EQ(d.files, 4u);
    EXPECT_EQ(d.size, 6u + 0u + 10u + 1u);
  }
}

TEST_F(DigestPathTest, ManyFilesHashedByManyThreadsGiveTheOneThreadDigest) {
  std::string t = dir_.path() + "/many";
  uint64_t total = 0;
  for (int d = 0; d < 30; ++d) {
    for (int f = 0; f < 100; ++f) {
      std::string content(static_cast<size_t>((d * 131 + f * 17) % 700),
                          static_cast<char>('a' + f % 26));
      total += content.size();
      dir_.Write(
          "many/d" + std::to_string(d) + "/sub" + std::to_string(f % 3) + "/f" + std::to_string(f),
          content);
    }
  }
  std::string exec = t + "/d7/sub1/f1";
  ASSERT_EQ(::chmod(exec.c_str(), 0700), 0);
  SetDigestThreadsForTesting(1);
  ASSERT_OK_AND_ASSIGN(TreeDigest one, DigestPath(t));
  SetDigestThreadsForTesting(8);
  ASSERT_OK_AND_ASSIGN(TreeDigest eight, DigestPath(t));
  EXPECT_EQ(one.digest, eight.digest);
  EXPECT_EQ(one.digest, ReferenceTree(t));
  EXPECT_EQ(eight.files, 3000u);
  EXPECT_EQ(eight.size, total);
  // The executable bit is part of the digest.
  ASSERT_EQ(::chmod(exec.c_str(), 0600), 0);
  ASSERT_OK_AND_ASSIGN(TreeDigest plain, DigestPath(t));
  EXPECT_NE(plain.digest, eight.digest);
}

TEST_F(DigestPathTest, AFifoInATreeIsRefusedByName) {
  std::string t = SmallTree();
  std::string fifo = t + "/sub/deeper/pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (int threads : {1, 8}) {
    SetDigestThreadsForTesting(threads);
    auto d = DigestPath(t);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), Code::kInvalidArgument);
    EXPECT_NE(d.status().message().find(fifo), std::string::npos) << d.status().ToString();
  }
}

TEST_F(DigestPathTest, AnUnreadableFileFailsTheTreeAndNamesTheFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  std::string t = SmallTree();
  for (int i = 0; i < 20; ++i) dir_.Write("t/more/f" + std::to_string(i), "data");
  std::string locked = t + "/more/f13";
  ASSERT_EQ(::chmod(locked.c_str(), 0), 0);
  SetDigestThreadsForTesting(4);
  auto d = DigestPath(t);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find(locked), std::string::npos) << d.status().ToString();
}

TEST_F(DigestPathTest, AMissingPathIsNotFound) {
  auto d = DigestPath(dir_.path() + "/nothing");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace baton::testing
