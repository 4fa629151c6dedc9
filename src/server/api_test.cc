#include "server/api.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <set>
#include <string>

#include "baton/flavor.h"
#include "store/registry.h"
#include "store/remote/store_rpc.h"
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

// A token's principal, once read, is trusted for the cache's time and no longer: a token deleted
// on the database itself stops working when it runs out, at once after Forget; expiry is checked
// on every use; an unknown token is never remembered as unknown.
TEST(Auth, ThePrincipalCacheTrustsAReadForItsTimeOnly) {
  const std::string db = std::string(::testing::TempDir()) + "/principal-cache-test.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
  auto opened = Stores().OpenMetadataStore("sqlite://" + db);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  MetadataStore& m = **opened;
  ASSERT_TRUE(m.CreateUser(UserRecord{"ana", "user", "editor", 1}).ok());
  auto made = NewToken("ana", "", "", 1000, 0);
  auto expiring = NewToken("ana", "", "", 1000, 500);
  ASSERT_TRUE(made.ok() && expiring.ok());
  const std::string bearer = "Bearer " + made->second;
  PrincipalCache cache(1'000'000);
  // Not there yet: refused, and the refusal is not kept.
  auto p = cache.Authenticate(m, bearer, 1000, 0);
  EXPECT_EQ(p.status().code(), Code::kUnauthenticated);
  ASSERT_TRUE(m.CreateToken(made->first).ok());
  ASSERT_TRUE(m.CreateToken(expiring->first).ok());
  p = cache.Authenticate(m, bearer, 1000, 10);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->user, "ana");
  EXPECT_EQ(p->role, "editor");
  EXPECT_EQ(cache.size(), 1u);
  // Deleted on the database: trusted until the read is a second old, refused from then on.
  ASSERT_TRUE(m.DeleteToken(made->first.id).ok());
  EXPECT_TRUE(cache.Authenticate(m, bearer, 1000, 999'999).ok());
  EXPECT_EQ(cache.Authenticate(m, bearer, 1000, 1'000'010).status().code(), Code::kUnauthenticated);
  // Forget drops what was read before it.
  const std::string other = "Bearer " + expiring->second;
  ASSERT_TRUE(cache.Authenticate(m, other, 1000, 2'000'000).ok());
  ASSERT_TRUE(m.DeleteUser("ana").ok());
  EXPECT_TRUE(cache.Authenticate(m, other, 1000, 2'000'001).ok());
  cache.Forget();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.Authenticate(m, other, 1000, 2'000'002).status().code(), Code::kUnauthenticated);
  // Expiry is checked on a kept principal too.
  ASSERT_TRUE(m.CreateUser(UserRecord{"ana", "user", "viewer", 1}).ok());
  ASSERT_TRUE(m.CreateToken(expiring->first).ok());
  p = cache.Authenticate(m, other, 1400, 3'000'000);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->role, "viewer");
  auto late = cache.Authenticate(m, other, 1500, 3'000'001);
  EXPECT_EQ(late.status().code(), Code::kUnauthenticated);
  EXPECT_NE(late.status().message().find("expired"), std::string::npos) << late.status().message();
  // With no time to trust, every request reads the store.
  PrincipalCache none(0);
  EXPECT_TRUE(none.Authenticate(m, other, 1400, 0).ok());
  EXPECT_EQ(none.size(), 0u);
  ASSERT_TRUE(m.DeleteUser("ana").ok());
  EXPECT_FALSE(none.Authenticate(m, other, 1400, 1).ok());
}

// A log's bytes cross the store API as base64: the RFC 4648 vectors, every byte value, and what
// is not base64 refused.
TEST(StoreRpc, Base64RoundTripsBytesAndRefusesWhatIsNotIt) {
  using store_rpc::Base64Decode;
  using store_rpc::Base64Encode;
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, coded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), coded);
    std::string back;
    ASSERT_TRUE(Base64Decode(coded, &back)) << coded;
    EXPECT_EQ(back, plain);
  }
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n <= all.size(); n += 37) {
    std::string back;
    ASSERT_TRUE(Base64Decode(Base64Encode(all.substr(0, n)), &back));
    EXPECT_EQ(back, all.substr(0, n));
  }
  std::string out;
  for (const char* bad : {"Zg=", "Z===", "Zg=a", "$$$$", "Zm9v=g==", "Zg==Zg=="}) EXPECT_FALSE(Base64Decode(bad, &out)) << bad;
}

}  // namespace
}  // namespace baton::server
