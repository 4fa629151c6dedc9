#include "server/dashboard.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

namespace baton::server {
namespace {

std::string Header(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

TEST(DashboardAssets, ServesIndexAndFilesWithTheirTypesAndAStrictPolicy) {
  HttpResponse index;
  ASSERT_TRUE(DashboardAsset("/", &index));
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_NE(index.body.find("<script type=\"module\" src=\"/ui/app.js\">"), std::string::npos);
  EXPECT_EQ(Header(index, "Content-Security-Policy"),
            "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'");
  EXPECT_EQ(Header(index, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(Header(index, "Cache-Control"), "no-cache");
  EXPECT_EQ(Header(index, "ETag").size(), 18u) << "a quoted 16-digit prefix of the SHA-256";

  HttpResponse js, css;
  ASSERT_TRUE(DashboardAsset("/ui/app.js", &js));
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  ASSERT_TRUE(DashboardAsset("/ui/app.css", &css));
  EXPECT_EQ(css.content_type, "text/css; charset=utf-8");
  EXPECT_NE(Header(js, "ETag"), Header(css, "ETag"));

  HttpResponse untouched;
  untouched.status = 7;
  for (const char* path : {"/ui/nope.js", "/ui/../api.js", "/ui/", "/api/v1/runs", "/index.html", "/ui/a/app.js", ""})
    EXPECT_FALSE(DashboardAsset(path, &untouched)) << path;
  EXPECT_EQ(untouched.status, 7);
}

// What the pages load (index.html's /ui/ links, the modules' imports) is all in the binary, and
// no page holds inline script or style, which the policy would block.
TEST(DashboardAssets, EveryReferencedFileIsEmbeddedAndNothingIsInline) {
  std::set<std::string> names;
  for (size_t i = 0; i < kDashboardAssetCount; ++i) names.insert(kDashboardAssets[i].path);
  ASSERT_TRUE(names.count("index.html"));
  const std::regex link(R"re((?:src|href)="/ui/([^"]+)")re");
  const std::regex import(R"re(from '\./([^']+)')re");
  const std::regex inline_code(R"re(<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=|javascript:|innerHTML|eval\()re");
  int links = 0, imports = 0;
  for (size_t i = 0; i < kDashboardAssetCount; ++i) {
    const EmbeddedAsset& a = kDashboardAssets[i];
    const std::string text(reinterpret_cast<const char*>(a.bytes), a.size);
    const std::string name = a.path;
    if (name.ends_with(".html")) {
      for (std::sregex_iterator it(text.begin(), text.end(), link), end; it != end; ++it, ++links)
        EXPECT_TRUE(names.count((*it)[1])) << name << " links to /ui/" << (*it)[1];
    }
    if (name.ends_with(".js")) {
      for (std::sregex_iterator it(text.begin(), text.end(), import), end; it != end; ++it, ++imports)
        EXPECT_TRUE(names.count((*it)[1])) << name << " imports ./" << (*it)[1];
    }
    if (name.ends_with(".html") || name.ends_with(".js")) {
      std::smatch m;
      EXPECT_FALSE(std::regex_search(text, m, inline_code)) << name << ": " << m.str();
    }
  }
  EXPECT_GE(links, 3);
  EXPECT_GE(imports, 10);
}

}  // namespace
}  // namespace baton::server
