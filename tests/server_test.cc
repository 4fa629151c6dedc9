// baton server end to end: the real binary (`baton server`, which runs baton-server) on a port of
// its own, driven with curl, an independent HTTP client. Authentication and authorization
// (missing, wrong, expired and run tokens; roles), request limits, TLS with a certificate made by
// the openssl command, refusal of a plain-HTTP bind beyond loopback, and that the API gives the
// records in the same shape as `baton runs show -o json`.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace baton::testing {
namespace {

using Json = nlohmann::json;

constexpr char kPipeline[] = R"(name: served
steps:
  make:
    run: echo hello > {{outputs.text}}
    outputs: [text]
  shout:
    run: tr a-z A-Z < {{inputs.text}} > {{outputs.loud}}
    inputs: {text: make.text}
    outputs: [loud]
)";

struct Http {
  int status = 0;
  std::string body;
  std::string headers;
  Json json() const { return Json::parse(body, nullptr, false); }
};

class Server : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.Write("pipeline.yaml", kPipeline);
    auto init = RunBaton(dir_.path(), {"init"});
    ASSERT_EQ(init.exit_code, 0) << Describe(init);
    for (int i = 0; i < 2; ++i) {
      auto run = RunBaton(dir_.path(), {"run", "pipeline.yaml", "--no-cache", "-q", "-o", "json"});
      ASSERT_EQ(run.exit_code, 0) << Describe(run);
      runs_.push_back(Json::parse(run.out)["run"]);
    }
    admin_ = AddUser("ada", {"--role", "admin"});
    editor_ = AddUser("ed", {});
    viewer_ = AddUser("vic", {"--role", "viewer"});
  }

  void TearDown() override { Stop(); }

  // `baton server user add NAME ARGS...`: the token it prints.
  std::string AddUser(const std::string& name, const std::vector<std::string>& args) {
    return Printed({"server", "user", "add", name}, args);
  }
  // `baton server token create ARGS...`: the token it prints.
  std::string Token(const std::vector<std::string>& args) {
    return Printed({"server", "token", "create"}, args);
  }
  std::string Printed(std::vector<std::string> argv, const std::vector<std::string>& args) {
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunBaton(dir_.path(), argv);
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    std::string token = r.out;
    while (!token.empty() && token.back() == '\n') token.pop_back();
    return token;
  }

  // Starts the server with `args` and waits for the line naming its address.
  void Start(std::vector<std::string> args = {}) {
    std::vector<std::string> argv = {"server", "--port", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    base_.clear();
    out_ = dir_.path() + "/server.out";
    err_ = dir_.path() + "/server.err";
    pid_ = SpawnBaton(dir_.path(), argv, out_, err_);
    ASSERT_GT(pid_, 0);
    for (int i = 0; i < 2400 && base_.empty(); ++i) {  // up to a minute (sanitized builds)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      const std::string out = ReadFileOrDie(out_);
      // "baton server: serving STORE on http://HOST:PORT/api/v1"
      const size_t on = out.rfind(" on ");
      const size_t end = out.find("/api/v1", on == std::string::npos ? 0 : on);
      if (on == std::string::npos || end == std::string::npos) continue;
      base_ = out.substr(on + 4, end - on - 4);
      // A server on every address is reached on loopback.
      if (const size_t any = base_.find("0.0.0.0"); any != std::string::npos)
        base_.replace(any, 7, "127.0.0.1");
    }
    if (base_.empty()) FAIL() << ReadFileOrDie(out_) << ReadFileOrDie(err_);
  }

  int Stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    const int code = WaitExit(pid_);
    pid_ = -1;
    return code;
  }

  Http Call(const std::string& method, const std::string& path, const std::string& token,
            const std::string& body = "", std::vector<std::string> extra = {}) {
    const std::string head = dir_.path() + "/headers";
    std::vector<std::string> argv = {"/usr/bin/curl", "-sS", "-X", method, "-D", head,
                                     "-o", dir_.path() + "/body", "-w", "%{http_code}",
                                     "--max-time", "20"};
    if (!token.empty()) argv.insert(argv.end(), {"-H", "Authorization: Bearer " + token});
    if (!body.empty()) {
      bool typed = false;
      for (const std::string& e : extra) typed = typed || e.rfind("Content-Type:", 0) == 0;
      if (!typed) argv.insert(argv.end(), {"-H", "Content-Type: application/json"});
      argv.insert(argv.end(), {"--data-binary", body});
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(base_ + path);
    auto r = RunProgram("/", argv);
    Http h;
    h.status = std::atoi(r.out.c_str());
    h.body = ReadFileOrDie(dir_.path() + "/body");
    h.headers = ReadFileOrDie(head);
    return h;
  }

  std::string RunId(int i) const { return runs_[i].get<std::string>(); }

  TempDir dir_;
  std::vector<Json> runs_;
  std::string admin_, editor_, viewer_;
  pid_t pid_ = -1;
  std::string out_, err_, base_;
};

TEST_F(Server, HealthNeedsNoTokenAndEveryOtherRouteDoes) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Http health = Call("GET", "/api/v1/health", "");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.json()["status"], "ok");
  const std::vector<std::string> guarded = {
      "/api/v1/openapi.json", "/api/v1/whoami", "/api/v1/runs", "/api/v1/runs/" + RunId(0),
      "/api/v1/runs/" + RunId(0) + "/steps", "/api/v1/runs/" + RunId(0) + "/artifacts",
      "/api/v1/artifacts/1", "/api/v1/stacks", "/api/v1/components", "/api/v1/users"};
  for (const std::string& path : guarded) {
    Http none = Call("GET", path, "");
    EXPECT_EQ(none.status, 401) << path << ": " << none.body;
    EXPECT_EQ(none.json()["error"]["code"], "unauthenticated") << path;
    EXPECT_NE(none.headers.find("WWW-Authenticate: Bearer"), std::string::npos) << none.headers;
    Http wrong = Call("GET", path, "baton_0000000000000000000000000000000000000000000000000000000000000000");
    EXPECT_EQ(wrong.status, 401) << path;
    EXPECT_EQ(wrong.json()["error"]["message"], "unknown token") << wrong.body;
    Http ok = Call("GET", path, admin_);
    EXPECT_EQ(ok.status, 200) << path << ": " << ok.body;
  }
  // Not a bearer token at all.
  Http basic = Call("GET", "/api/v1/runs", "", "", {"-u", "ada:secret"});
  EXPECT_EQ(basic.status, 401);
  // Unknown paths and methods.
  EXPECT_EQ(Call("GET", "/api/v1/nothing", admin_).status, 404);
  Http method = Call("DELETE", "/api/v1/stacks", admin_);
  EXPECT_EQ(method.status, 405);
  EXPECT_NE(method.headers.find("Allow: GET"), std::string::npos) << method.headers;
}

TEST_F(Server, RecordsComeInTheShapeOfRunsShow) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Http run = Call("GET", "/api/v1/runs/" + RunId(1), viewer_);
  ASSERT_EQ(run.status, 200) << run.body;
  Json cli = JsonOf(dir_.path(), {"runs", "show", RunId(1), "-o", "json"});
  EXPECT_EQ(run.json(), cli);
  ASSERT_EQ(run.json()["steps"].size(), 2u);
  // A prefix of an id works as on the command line.
  EXPECT_EQ(Call("GET", "/api/v1/runs/" + RunId(1).substr(0, RunId(1).size() - 2), viewer_).json()["id"],
            RunId(1));
  Http list = Call("GET", "/api/v1/runs?limit=1", viewer_);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.json()["runs"].size(), 1u);
  EXPECT_EQ(list.json()["runs"][0]["id"], RunId(1)) << "newest first";
  EXPECT_EQ(Call("GET", "/api/v1/runs?status=completed", viewer_).json()["runs"].size(), 2u);
  EXPECT_EQ(Call("GET", "/api/v1/runs?status=failed", viewer_).json()["runs"].size(), 0u);
  EXPECT_EQ(Call("GET", "/api/v1/runs?limit=0", viewer_).status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/runs?status=bogus", viewer_).status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/runs/no-such-run", viewer_).status, 404);
  // Lineage: the shout step's output was made from make's.
  const Json loud = run.json()["steps"][1]["outputs"]["loud"];
  Http art = Call("GET", "/api/v1/artifacts/" + std::to_string(loud["id"].get<int>()), viewer_);
  ASSERT_EQ(art.status, 200) << art.body;
  EXPECT_EQ(art.json()["producer"]["step"], "shout");
  EXPECT_EQ(art.json()["producer"]["inputs"]["text"]["step"], "make");
  const int made = run.json()["steps"][0]["outputs"]["text"]["id"].get<int>();
  Http source = Call("GET", "/api/v1/artifacts/" + std::to_string(made), viewer_);
  ASSERT_EQ(source.json()["consumers"].size(), 1u);
  EXPECT_EQ(source.json()["consumers"][0]["step"], "shout");
  Http stacks = Call("GET", "/api/v1/stacks", viewer_);
  EXPECT_EQ(stacks.json()["stacks"][0]["name"], "default");
  EXPECT_EQ(stacks.json()["stacks"][0]["active"], true);
}

TEST_F(Server, RolesBoundWritesAndNothingChangesWhenRefused) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const std::string path = "/api/v1/runs/" + RunId(0);
  Http viewer = Call("PATCH", path, viewer_, R"({"note": "by a viewer"})");
  EXPECT_EQ(viewer.status, 403) << viewer.body;
  EXPECT_EQ(viewer.json()["error"]["code"], "permission_denied");
  EXPECT_EQ(Call("GET", "/api/v1/users", editor_).status, 403) << "users are for admins";
  EXPECT_EQ(Call("GET", path, admin_).json()["note"], "");
  Http editor = Call("PATCH", path, editor_, R"({"note": "checked", "tags": ["good"]})");
  ASSERT_EQ(editor.status, 200) << editor.body;
  EXPECT_EQ(editor.json()["note"], "checked");
  EXPECT_EQ(JsonOf(dir_.path(), {"runs", "show", RunId(0), "-o", "json"})["tags"], Json::array({"good"}));
  EXPECT_EQ(Call("GET", "/api/v1/runs?tag=good", viewer_).json()["runs"].size(), 1u);
  EXPECT_EQ(Call("PATCH", path, editor_, R"({"status": "completed"})").status, 400);
  EXPECT_EQ(Call("PATCH", path, editor_, "not json").status, 400);
}

TEST_F(Server, ExpiredAndRevokedTokensAndRemovedUsersAreRefused) {
  // Expiry is checked only where time can only make it more true: a token of 1 s, used after
  // more than 1 s, is refused; one of an hour is not.
  const std::string brief = Token({"ed", "--expires", "1s"});
  const std::string hour = Token({"ed", "--expires", "1h"});
  const std::string revoked = Token({"vic", "--description", "to revoke"});
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_EQ(Call("GET", "/api/v1/whoami", hour).status, 200);
  Http expired = Call("GET", "/api/v1/whoami", brief);
  EXPECT_EQ(expired.status, 401);
  EXPECT_NE(expired.json()["error"]["message"].get<std::string>().find("expired"), std::string::npos);
  // Revoking by id, from the token list (which never shows a secret).
  auto list = RunBaton(dir_.path(), {"server", "token", "list", "vic"});
  ASSERT_EQ(list.exit_code, 0) << Describe(list);
  EXPECT_EQ(list.out.find("baton_"), std::string::npos) << list.out;
  // The token made last (the one to revoke) is listed first.
  const size_t at = list.out.find("tok-");
  ASSERT_NE(at, std::string::npos) << list.out;
  const std::string id = list.out.substr(at, list.out.find(' ', at) - at);
  // The server trusts a token it has read for a second (--auth-cache), so a change made on the
  // database takes effect within that time.
  auto refused_soon = [&](const std::string& token) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(2500);
    int status = 0;
    while ((status = Call("GET", "/api/v1/whoami", token).status) == 200 &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return status;
  };
  EXPECT_EQ(Call("GET", "/api/v1/whoami", revoked).status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/whoami", viewer_).status, 200);
  ASSERT_EQ(RunBaton(dir_.path(), {"server", "token", "revoke", id}).exit_code, 0);
  EXPECT_EQ(refused_soon(revoked), 401);
  EXPECT_EQ(Call("GET", "/api/v1/whoami", viewer_).status, 200) << "vic's other token still works";
  ASSERT_EQ(RunBaton(dir_.path(), {"server", "user", "remove", "vic"}).exit_code, 0);
  EXPECT_EQ(refused_soon(viewer_), 401);
  // Through the server's own store API, a revocation takes effect at once.
  const std::string second = Token({"ed", "--description", "revoked through the API"});
  EXPECT_EQ(Call("GET", "/api/v1/whoami", second).status, 200);
  auto listed = RunBaton(dir_.path(), {"server", "token", "list", "ed"});
  const size_t tok = listed.out.find("tok-");
  ASSERT_NE(tok, std::string::npos) << listed.out;
  const std::string second_id = listed.out.substr(tok, listed.out.find(' ', tok) - tok);
  EXPECT_EQ(Call("POST", "/api/v1/store/DeleteToken", admin_,
                 Json{{"args", Json::array({second_id})}}.dump()).status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/whoami", second).status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/whoami", hour).status, 200) << "ed's other token still works";
  // The store keeps no secret.
  auto dump = RunProgram("/", {"/usr/bin/sqlite3", dir_.path() + "/.baton/baton.db", ".dump"});
  EXPECT_EQ(dump.out.find(admin_), std::string::npos);
  EXPECT_EQ(dump.out.find(editor_), std::string::npos);
}

TEST_F(Server, ARunTokenReadsAndLabelsItsOwnRunAndNothingElse) {
  const std::string pod = Token({"ed", "--run", RunId(0)});
  ASSERT_NO_FATAL_FAILURE(Start());
  Http who = Call("GET", "/api/v1/whoami", pod);
  EXPECT_EQ(who.json()["run"], RunId(0));
  EXPECT_EQ(Call("GET", "/api/v1/runs/" + RunId(0), pod).status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/runs/" + RunId(0) + "/steps", pod).status, 200);
  EXPECT_EQ(Call("PATCH", "/api/v1/runs/" + RunId(0), pod, R"({"note": "from the pod"})").status, 200);
  for (const std::string& path :
       {"/api/v1/runs/" + RunId(1), "/api/v1/runs/" + RunId(1) + "/steps",
        "/api/v1/runs/" + RunId(1) + "/artifacts", std::string("/api/v1/runs"),
        std::string("/api/v1/stacks"), std::string("/api/v1/components"),
        std::string("/api/v1/users"), "/api/v1/runs/" + RunId(0).substr(0, 8)}) {
    Http h = Call("GET", path, pod);
    EXPECT_EQ(h.status, 403) << path << ": " << h.body;
  }
  Http other = Call("PATCH", "/api/v1/runs/" + RunId(1), pod, R"({"note": "not mine"})");
  EXPECT_EQ(other.status, 403);
  EXPECT_EQ(JsonOf(dir_.path(), {"runs", "show", RunId(1), "-o", "json"})["note"], "");
  // An artifact of the other run is refused; one of its own run is not.
  Json theirs = Call("GET", "/api/v1/runs/" + RunId(1), admin_).json();
  const int their_art = theirs["steps"][0]["outputs"]["text"]["id"].get<int>();
  EXPECT_EQ(Call("GET", "/api/v1/artifacts/" + std::to_string(their_art), pod).status, 403);
  Json mine = Call("GET", "/api/v1/runs/" + RunId(0), pod).json();
  const int my_art = mine["steps"][0]["outputs"]["text"]["id"].get<int>();
  EXPECT_EQ(Call("GET", "/api/v1/artifacts/" + std::to_string(my_art), pod).status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/artifacts/999999", pod).status, 403)
      << "which artifacts exist is not the run token's to learn";
  EXPECT_EQ(Call("GET", "/api/v1/artifacts/999999", admin_).status, 404);
}

TEST_F(Server, BodiesOverTheLimitAreRefusedUnread) {
  ASSERT_NO_FATAL_FAILURE(Start({"--max-body-bytes", "1024"}));
  const std::string big = R"({"note": ")" + std::string(4096, 'x') + R"("})";
  Http h = Call("PATCH", "/api/v1/runs/" + RunId(0), editor_, big);
  EXPECT_EQ(h.status, 413) << h.body;
  EXPECT_EQ(JsonOf(dir_.path(), {"runs", "show", RunId(0), "-o", "json"})["note"], "");
  EXPECT_EQ(Call("PATCH", "/api/v1/runs/" + RunId(0), editor_, R"({"note": "small"})").status, 200);
}

TEST_F(Server, OnlyBoundedJsonBodiesAreRead) {
  ASSERT_NO_FATAL_FAILURE(Start({"--max-body-bytes", "1024"}));
  const std::string path = "/api/v1/runs/" + RunId(0);
  const std::string note = R"({"note": "x"})";
  // Chunked (no length to bound it by), compressed (inflated without a bound), a form, a length
  // over the limit that the client does not even send, and two lengths: refused unread.
  EXPECT_EQ(Call("PATCH", path, editor_, note, {"-H", "Transfer-Encoding: chunked"}).status, 411);
  EXPECT_EQ(Call("PATCH", path, editor_, note, {"-H", "Content-Encoding: gzip"}).status, 415);
  EXPECT_EQ(Call("PATCH", path, editor_, note,
                 {"-H", "Content-Type: application/x-www-form-urlencoded"}).status, 415);
  Http lying = Call("PATCH", path, editor_, note, {"-H", "Content-Length: 999999999"});
  EXPECT_EQ(lying.status, 413) << lying.body;
  EXPECT_NE(lying.headers.find("Connection: close"), std::string::npos) << lying.headers;
  EXPECT_EQ(Call("PATCH", path, editor_, note, {"-H", "Content-Length: 13", "-H", "Content-Length: 13"}).status, 400);
  EXPECT_EQ(JsonOf(dir_.path(), {"runs", "show", RunId(0), "-o", "json"})["note"], "");
  // A write without a token is refused like a read; HEAD is a GET without the body.
  EXPECT_EQ(Call("PATCH", path, "", note).status, 401);
  Http head = Call("HEAD", "/api/v1/health", "", "", {"-I"});
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body.find("\"ok\""), std::string::npos) << head.body;
}

TEST_F(Server, ManyClientsAtOnceEachGetTheirAnswer) {
  ASSERT_NO_FATAL_FAILURE(Start({"--threads", "4"}));
  // 64 requests from 16 clients at once: each borrows a store connection of its own.
  auto r = RunShell(dir_.path(),
                    "seq 64 | xargs -P 16 -I{} /usr/bin/curl -sS -o /dev/null -w '%{http_code}\\n' "
                    "-H 'Authorization: Bearer " + viewer_ + "' " + base_ + "/api/v1/runs/" + RunId(0) +
                    " | sort | uniq -c");
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("64 200"), std::string::npos) << r.out;
}

TEST_F(Server, ARunTokenReadsTheArtifactsItsCachedStepsReused) {
  auto cached = RunBaton(dir_.path(), {"run", "pipeline.yaml", "-q", "-o", "json"});
  ASSERT_EQ(cached.exit_code, 0) << Describe(cached);
  const std::string run = Json::parse(cached.out)["run"];
  ASSERT_EQ(Json::parse(cached.out)["cached"], 2);
  const std::string pod = Token({"ed", "--run", run});
  ASSERT_NO_FATAL_FAILURE(Start());
  Json mine = Call("GET", "/api/v1/runs/" + run, pod).json();
  const Json reused = mine["steps"][0]["outputs"]["text"];
  ASSERT_NE(reused["run"], run) << "made by the run it was cached from";
  EXPECT_EQ(Call("GET", "/api/v1/artifacts/" + std::to_string(reused["id"].get<int>()), pod).status, 200);
  // The other earlier run's artifacts were not used by this run.
  const std::string other = reused["run"] == RunId(0) ? RunId(1) : RunId(0);
  Json theirs = Call("GET", "/api/v1/runs/" + other, admin_).json();
  const int unused = theirs["steps"][0]["outputs"]["text"]["id"].get<int>();
  EXPECT_EQ(Call("GET", "/api/v1/artifacts/" + std::to_string(unused), pod).status, 403);
}

TEST_F(Server, ServesHttpsWithTheGivenCertificate) {
  const std::string cert = dir_.path() + "/cert.pem", key = dir_.path() + "/key.pem";
  auto made = RunProgram("/", {"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                               "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                               "-addext", "subjectAltName=IP:127.0.0.1"});
  ASSERT_EQ(made.exit_code, 0) << Describe(made);
  ASSERT_NO_FATAL_FAILURE(Start({"--tls-cert", cert, "--tls-key", key}));
  ASSERT_EQ(base_.rfind("https://", 0), 0u) << base_;
  Http h = Call("GET", "/api/v1/whoami", admin_, "", {"--cacert", cert});
  EXPECT_EQ(h.status, 200) << h.body;
  EXPECT_EQ(h.json()["user"], "ada");
  // A client that does not trust the certificate gets nowhere; nor does plain HTTP.
  EXPECT_EQ(Call("GET", "/api/v1/health", "").status, 0);
  const std::string https = base_;
  base_ = "http://" + https.substr(8);
  EXPECT_NE(Call("GET", "/api/v1/health", "").status, 200);
  base_ = https;
  // baton itself, with the server as its metadata store over TLS: it verifies the certificate
  // with the CA given in the URI, and refuses the server without it.
  auto other = RunBaton(dir_.path(), {"runs", "list", "-o", "json"},
                        {"BATON_METADATA_URI=" + https + "?ca=" + cert, "BATON_TOKEN=" + admin_});
  EXPECT_EQ(other.exit_code, 0) << Describe(other);
  EXPECT_TRUE(Json::parse(other.out, nullptr, false).is_array()) << other.out;
  auto untrusted = RunBaton(dir_.path(), {"runs", "list"},
                            {"BATON_METADATA_URI=" + https + "?retry_seconds=0", "BATON_TOKEN=" + admin_});
  EXPECT_NE(untrusted.exit_code, 0) << Describe(untrusted);
  EXPECT_NE(untrusted.err.find("certificate"), std::string::npos) << untrusted.err;
  // Plain http:// to a server beyond loopback is refused before anything is sent.
  auto plain = RunBaton(dir_.path(), {"runs", "list"},
                        {"BATON_METADATA_URI=http://baton.example.com:8237", "BATON_TOKEN=" + admin_});
  EXPECT_EQ(plain.exit_code, 2) << Describe(plain);
  EXPECT_NE(plain.err.find("use https://"), std::string::npos) << plain.err;
  // Half a TLS configuration is refused.
  auto half = RunBaton(dir_.path(), {"server", "--port", "0", "--tls-cert", cert});
  EXPECT_EQ(half.exit_code, 2) << Describe(half);
  EXPECT_NE(half.err.find("both a certificate and its key"), std::string::npos) << half.err;
}

TEST_F(Server, PlainHttpBeyondLoopbackNeedsToBeAskedFor) {
  auto refused = RunBaton(dir_.path(), {"server", "--host", "0.0.0.0", "--port", "0"});
  EXPECT_EQ(refused.exit_code, 2) << Describe(refused);
  EXPECT_NE(refused.err.find("refusing to serve plain HTTP on 0.0.0.0"), std::string::npos)
      << refused.err;
  ASSERT_NO_FATAL_FAILURE(Start({"--host", "0.0.0.0", "--allow-insecure-bind"}));
  EXPECT_EQ(Call("GET", "/api/v1/health", "").status, 200);
  EXPECT_EQ(Stop(), 0) << "SIGTERM ends the server cleanly";
  EXPECT_NE(ReadFileOrDie(out_).find("baton server: stopped"), std::string::npos);
  // A host name is not loopback for starting like 127.
  auto named = RunBaton(dir_.path(), {"server", "--host", "127.0.0.1.example", "--port", "0"});
  EXPECT_EQ(named.exit_code, 2) << Describe(named);
  // Stopped as soon as it says it serves: the stop is not lost before it listens.
  for (int i = 0; i < 5; ++i) {
    ASSERT_NO_FATAL_FAILURE(Start());
    EXPECT_EQ(Stop(), 0) << ReadFileOrDie(out_) << ReadFileOrDie(err_);
  }
}

TEST_F(Server, UserAndTokenCommandsRefuseBadInput) {
  auto bad = RunBaton(dir_.path(), {"server", "user", "add", "no spaces"});
  EXPECT_EQ(bad.exit_code, 2) << Describe(bad);
  auto twice = RunBaton(dir_.path(), {"server", "user", "add", "ada"});
  EXPECT_EQ(twice.exit_code, 2) << Describe(twice);
  EXPECT_NE(twice.err.find("already exists"), std::string::npos) << twice.err;
  auto nobody = RunBaton(dir_.path(), {"server", "token", "create", "nobody"});
  EXPECT_EQ(nobody.exit_code, 2) << Describe(nobody);
  auto norun = RunBaton(dir_.path(), {"server", "token", "create", "ed", "--run", "no-such-run"});
  EXPECT_EQ(norun.exit_code, 2) << Describe(norun);
  for (const char* never : {"0", "0s", "0.1s", "soon"}) {
    auto forever = RunBaton(dir_.path(), {"server", "token", "create", "ed", "--expires", never});
    EXPECT_EQ(forever.exit_code, 2) << never << ": " << Describe(forever);
  }
  auto role = RunBaton(dir_.path(), {"server", "user", "add", "x", "--role", "root"});
  EXPECT_EQ(role.exit_code, 2) << Describe(role);
  auto users = RunBaton(dir_.path(), {"server", "user", "list"});
  EXPECT_EQ(users.exit_code, 0);
  EXPECT_NE(users.out.find("ada"), std::string::npos);
  EXPECT_EQ(users.out.find("x "), std::string::npos);
  TempDir elsewhere;
  auto none = RunBaton(elsewhere.path(), {"server", "--port", "0"});
  EXPECT_EQ(none.exit_code, 2) << Describe(none);
  EXPECT_NE(none.err.find("no workspace"), std::string::npos) << none.err;
}

}  // namespace
}  // namespace baton::testing
