// The read cache: objects move in whole and read-only, the least recently used go first once
// the cache passes its bound, and the object just inserted stays even when it alone passes it.

#include "store/s3/read_cache.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>

#include "baton/hash.h"
#include "platform/fs.h"

namespace baton::s3 {
namespace {

class ReadCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/baton-cache-XXXXXX";
    root_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { (void)fs::RemoveTree(root_); }

  // Downloads `bytes` bytes as `name` into a new temporary directory of the cache.
  std::string Download(ReadCache& cache, size_t bytes) {
    auto tmp = cache.NewTempDir();
    EXPECT_TRUE(tmp.ok());
    EXPECT_TRUE(fs::WriteFile(*tmp + "/object", std::string(bytes, 'x')).ok());
    return *tmp + "/object";
  }

  // Makes `path` look used `age` seconds ago.
  static void Age(const std::string& path, int age) {
    std::filesystem::last_write_time(
        path, std::filesystem::file_time_type::clock::now() - std::chrono::seconds(age));
  }

  std::string root_;
};

TEST_F(ReadCacheTest, InsertsReadOnlyAndFindsAgain) {
  ReadCache cache(root_, "space", 1 << 20);
  ASSERT_TRUE(cache.Init().ok());
  const std::string d = Sha256Hex("a");
  EXPECT_EQ(cache.Find(d), "");
  auto path = cache.Insert(d, Download(cache, 10), 10);
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  EXPECT_EQ(*path, root_ + "/objects/space/" + d.substr(0, 2) + "/" + d);
  EXPECT_EQ(cache.Find(d), *path);
  struct stat st;
  ASSERT_EQ(::stat(path->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0u);
  // Another space (store) does not see it.
  ReadCache other(root_, "other", 1 << 20);
  ASSERT_TRUE(other.Init().ok());
  EXPECT_EQ(other.Find(d), "");
  // Inserted twice: the first copy stays, the second download goes.
  const std::string again = Download(cache, 10);
  EXPECT_EQ(*cache.Insert(d, again, 10), *path);
  EXPECT_FALSE(fs::Exists(again));
  ASSERT_TRUE(cache.Remove(d).ok());
  EXPECT_EQ(cache.Find(d), "");
}

TEST_F(ReadCacheTest, EvictsTheLeastRecentlyUsedBeyondTheBound) {
  ReadCache cache(root_, "space", 1000);
  ASSERT_TRUE(cache.Init().ok());
  std::vector<std::string> paths;
  for (int i = 0; i < 3; ++i) {
    paths.push_back(*cache.Insert(Sha256Hex(std::to_string(i)), Download(cache, 300), 300));
    Age(paths.back(), 100 - i * 10);  // 0 is the oldest
  }
  cache.Find(Sha256Hex("0"));  // now 1 is the least recently used
  auto fourth = cache.Insert(Sha256Hex("3"), Download(cache, 300), 300);
  ASSERT_TRUE(fourth.ok());
  EXPECT_LE(cache.CountBytes(), 1000u);
  EXPECT_TRUE(fs::Exists(paths[0]));
  EXPECT_FALSE(fs::Exists(paths[1]));
  EXPECT_TRUE(fs::Exists(*fourth));
  // One object larger than the bound stays (it is what the reader asked for); the rest go.
  auto big = cache.Insert(Sha256Hex("big"), Download(cache, 5000), 5000);
  ASSERT_TRUE(big.ok());
  EXPECT_TRUE(fs::Exists(*big));
  EXPECT_EQ(cache.CountBytes(), 5000u);
}

TEST_F(ReadCacheTest, CachesDirectoriesReadOnlyAndCountsTheirFiles) {
  ReadCache cache(root_, "space", 1 << 20);
  ASSERT_TRUE(cache.Init().ok());
  auto tmp = cache.NewTempDir();
  ASSERT_TRUE(tmp.ok());
  ASSERT_TRUE(fs::MakeDirs(*tmp + "/object/sub").ok());
  ASSERT_TRUE(fs::WriteFile(*tmp + "/object/sub/f", std::string(123, 'f')).ok());
  auto path = cache.Insert(Sha256Hex("tree"), *tmp + "/object", 123);
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  struct stat st;
  ASSERT_EQ(::stat(path->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0u);
  ASSERT_EQ(::stat((*path + "/sub/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0u);
  EXPECT_EQ(cache.CountBytes(), 123u);
  ASSERT_TRUE(cache.Remove(Sha256Hex("tree")).ok());
  EXPECT_FALSE(fs::Exists(*path));
}

}  // namespace
}  // namespace baton::s3
