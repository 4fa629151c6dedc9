// Round trips through the built-in materializers and a user-defined one; loading as the wrong
// type fails with a message naming it.

#include "baton/materializer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <string>

namespace {

struct Point {
  double x = 0, y = 0;
};

}  // namespace

template <>
struct baton::Materializer<Point> {
  static std::string Name() { return "point-text"; }
  static std::string Type() { return "point"; }
  static void Save(const Point& p, const std::string& path) {
    baton::detail::WriteAll(path, std::to_string(p.x) + " " + std::to_string(p.y));
  }
  static Point Load(const std::string& path) {
    Point p;
    if (std::sscanf(baton::detail::ReadAll(path).c_str(), "%lf %lf", &p.x, &p.y) != 2)
      throw std::runtime_error(path + " holds no point");
    return p;
  }
};

namespace baton {
namespace {

class MaterializerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/baton-mat-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  template <typename T>
  T RoundTrip(const T& v) {
    std::string path = dir_ + "/v" + std::to_string(n_++);
    Materializer<T>::Save(v, path);
    return Materializer<T>::Load(path);
  }
  std::string dir_;
  int n_ = 0;
};

TEST_F(MaterializerTest, BuiltInTypesRoundTrip) {
  EXPECT_EQ(RoundTrip(std::string("héllo \"world\"\n")), "héllo \"world\"\n");
  EXPECT_EQ(RoundTrip(int64_t{-1} << 40), int64_t{-1} << 40);
  EXPECT_EQ(RoundTrip(0.1), 0.1);
  EXPECT_EQ(RoundTrip(true), true);
  EXPECT_EQ(RoundTrip(std::vector<std::string>{"a", "b"}), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(RoundTrip(std::map<std::string, std::vector<double>>{{"k", {1.5, 2}}}),
            (std::map<std::string, std::vector<double>>{{"k", {1.5, 2}}}));
  nlohmann::json j = {{"nested", {1, 2, {{"x", nullptr}}}}};
  EXPECT_EQ(RoundTrip(j), j);
  Bytes b{std::string("\0\xff\x01", 3)};
  EXPECT_EQ(RoundTrip(b), b);
  using Rows = std::vector<std::map<std::string, int>>;
  EXPECT_EQ(Materializer<Rows>::Type(), "list<map<string,int>>");
  EXPECT_EQ(Materializer<Bytes>::Name(), "bytes");
}

TEST_F(MaterializerTest, FilesAndDirectoriesAreCopied) {
  std::string src = dir_ + "/src.txt";
  detail::WriteAll(src, "content");
  File f = RoundTrip(File{src});
  EXPECT_NE(f.path, src);
  EXPECT_EQ(detail::ReadAll(f.path), "content");
  std::string tree = dir_ + "/tree";
  ::mkdir(tree.c_str(), 0755);
  detail::WriteAll(tree + "/a", "1");
  Directory d = RoundTrip(Directory{tree});
  EXPECT_EQ(detail::ReadAll(d.path + "/a"), "1");
  EXPECT_THROW(RoundTrip(File{dir_ + "/missing"}), std::runtime_error);
}

TEST_F(MaterializerTest, UserMaterializerAndTypeErrors) {
  Point p = RoundTrip(Point{1.5, -2});
  EXPECT_EQ(p.x, 1.5);
  EXPECT_EQ(p.y, -2);
  std::string path = dir_ + "/s";
  Materializer<std::string>::Save("not a number", path);
  try {
    Materializer<int>::Load(path);
    FAIL() << "a string loaded as an int";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("as int"), std::string::npos) << e.what();
  }
  detail::WriteAll(path, "{broken");
  EXPECT_THROW(Materializer<std::vector<int>>::Load(path), std::runtime_error);
  EXPECT_THROW(Materializer<Point>::Load(path), std::runtime_error);
}

}  // namespace
}  // namespace baton
