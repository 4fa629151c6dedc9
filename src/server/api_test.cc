#include "server/api.h"

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>

#include "baton/flavor.h"
#include "server/auth.h"
#include "server/router.h"

namespace baton::server {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

TEST(OpenApi, TheDocumentNamesEveryRouteAndNoOther) {
  const Json doc = Json::parse(OpenApiDocument());
  ASSERT_EQ(doc["openapi"], "3.0.3");
  std::set<std::string> documented;
  for (auto path = doc["paths"].begin(); path != doc["paths"].end(); ++path)
    for (auto op = path->begin(); op != path->end(); ++op)
      if (op.key() != "parameters") documented.insert(op.key() + " /api/v1" + path.key());
  // The routes come from a server on a store of its own.
  auto api = Api::Open("sqlite://" + std::string(::testing::TempDir()) + "/openapi-test.db");
  ASSERT_TRUE(api.ok()) << api.status().ToString();
  std::set<std::string> served;
  for (const Route& r : (*api)->router().routes()) {
    if (r.pattern.rfind("/api/", 0) != 0) continue;  // the dashboard's pages are not the API
    served.insert(Lower(r.method) + " " + r.pattern);
  }
  EXPECT_EQ(documented, served);
  // Every path parameter a route has is declared.
  for (auto path = doc["paths"].begin(); path != doc["paths"].end(); ++path) {
    if (path.key().find('{') == std::string::npos) continue;
    ASSERT_TRUE(path->contains("parameters")) << path.key();
  }
}

TEST(Router, MatchesSegmentsAndTellsWrongMethodsFromUnknownPaths) {
  Router r;
  int hits = 0;
  r.Add("GET", "/api/v1/runs/{id}", [&](const HttpRequest&, const PathParams&) { ++hits; return HttpResponse{}; });
  r.Add("PATCH", "/api/v1/runs/{id}", [&](const HttpRequest&, const PathParams&) { return HttpResponse{}; });
  const RouteHandler* h = nullptr;
  PathParams p;
  int status = 0;
  std::string allow;
  ASSERT_TRUE(r.Match("GET", "/api/v1/runs/abc", &h, &p, &status, &allow));
  EXPECT_EQ(p["id"], "abc");
  EXPECT_TRUE(r.Match("HEAD", "/api/v1/runs/abc", &h, &p, &status, &allow)) << "HEAD is a GET";
  EXPECT_FALSE(r.Match("DELETE", "/api/v1/runs/abc", &h, &p, &status, &allow));
  EXPECT_EQ(status, 405);
  EXPECT_EQ(allow, "GET, PATCH");
  EXPECT_FALSE(r.Match("GET", "/api/v1/runs/abc/def", &h, &p, &status, &allow));
  EXPECT_EQ(status, 404);
  EXPECT_FALSE(r.Match("GET", "/api/v1/runs/", &h, &p, &status, &allow));
  EXPECT_EQ(status, 404);
}

TEST(Auth, RolesAndRunTokensBoundWhatAPrincipalMayDo) {
  const Principal viewer{"v", "user", "viewer", "", "t1"};
  const Principal editor{"e", "user", "editor", "", "t2"};
  const Principal admin{"a", "user", "admin", "", "t3"};
  const Principal pod{"e", "service", "editor", "run-1", "t4"};
  EXPECT_TRUE(Authorize(viewer, Access::kRead, "").ok());
  EXPECT_EQ(Authorize(viewer, Access::kWrite, "run-1").code(), Code::kPermissionDenied);
  EXPECT_TRUE(Authorize(editor, Access::kWrite, "run-1").ok());
  EXPECT_EQ(Authorize(editor, Access::kAdmin, "").code(), Code::kPermissionDenied);
  EXPECT_TRUE(Authorize(admin, Access::kAdmin, "").ok());
  EXPECT_TRUE(Authorize(pod, Access::kRead, "run-1").ok());
  EXPECT_TRUE(Authorize(pod, Access::kWrite, "run-1").ok());
  EXPECT_EQ(Authorize(pod, Access::kRead, "run-2").code(), Code::kPermissionDenied);
  EXPECT_EQ(Authorize(pod, Access::kRead, "").code(), Code::kPermissionDenied);
  EXPECT_EQ(Authorize(pod, Access::kAdmin, "run-1").code(), Code::kPermissionDenied);
  const Principal viewer_pod{"v", "service", "viewer", "run-1", "t5"};
  EXPECT_EQ(Authorize(viewer_pod, Access::kWrite, "run-1").code(), Code::kPermissionDenied)
      << "a run token never exceeds its user's role";
}

TEST(Auth, TokensAreRandomAndOnlyTheirHashIsKept) {
  auto a = NewToken("u", "", "", 1000, 0);
  auto b = NewToken("u", "run", "", 1000, 5);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->second, b->second);
  EXPECT_NE(a->first.id, b->first.id);
  EXPECT_EQ(a->second.size(), 6u + 64u);
  EXPECT_EQ(a->first.hash, TokenHash(a->second));
  EXPECT_EQ(a->first.hash.find(a->second), std::string::npos);
  EXPECT_EQ(a->first.expires_at, 0);
  EXPECT_EQ(b->first.expires_at, 1005);
  EXPECT_EQ(b->first.run_id, "run");
  EXPECT_TRUE(CheckUserName("ci-bot@team.example").ok());
  EXPECT_FALSE(CheckUserName("").ok());
  EXPECT_FALSE(CheckUserName("a b").ok());
  EXPECT_FALSE(CheckUserName(std::string(65, 'a')).ok());
}

}  // namespace
}  // namespace baton::server
