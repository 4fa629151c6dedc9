// The PostgreSQL metadata store beyond the contract suite (tests/store_contract_test.cc runs that
// as the `postgresql` kind): URIs and passwords; schemas; the migration framework on an older
// store; the same tables as SQLite; lost connections and a lost answer to COMMIT (through a TCP
// proxy that drops connections where told); two workspaces sharing one store with 20 runs at
// once; a server restart and an outage in the middle of a run; and `baton store migrate` from
// SQLite to PostgreSQL and back.
//
// Needs BATON_TEST_POSTGRES_URI (scripts/setup-postgres.sh starts a server and prints it): every
// test makes schemas of its own there and drops them. Without it the tests that need a server
// skip, or fail where CI is set; the tests of URIs need none. The restart and outage tests start
// a cluster of their own with scripts/setup-postgres.sh (BATON_PG_DIR, BATON_PG_PORT), so that
// stopping it disturbs no other test.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "baton/metadata_store.h"
#include "platform/fs.h"
#include "store/metadata_rows.h"
#include "store/postgres_db.h"
#include "store/postgres_schema.h"
#include "store/postgres_store.h"
#include "store/registry.h"
#include "store/sqlite_schema.h"
#include "store/sqlite_store.h"
#include "test_util.h"

namespace baton::testing {
namespace {

using Json = nlohmann::json;

// "1,2,...,N" for the versions a new store has applied.
std::string AllVersions() {
  std::string out;
  for (int64_t v = 1; v <= LatestVersion(PostgresMigrations()); ++v)
    out += (out.empty() ? "" : ",") + std::to_string(v);
  return out;
}

#define ASSERT_OK(expr)                                     \
  do {                                                      \
    const Status _s = (expr);                               \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)
#define EXPECT_OK(expr)                                     \
  do {                                                      \
    const Status _s = (expr);                               \
    EXPECT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string WithParam(const std::string& uri, const std::string& param) {
  return uri + (uri.find('?') == std::string::npos ? "?" : "&") + param;
}

// A port nothing listens on right now.
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

MetadataRows* Rows(MetadataStore& m) { return dynamic_cast<MetadataRows*>(&m); }

RunRecord MakeRun(const std::string& id, const std::string& pipeline = "p") {
  RunRecord r;
  r.id = id;
  r.pipeline = pipeline;
  r.snapshot_hash = "snapshot-of-" + pipeline;
  r.status = RunStatus::kRunning;
  r.created_at = NowMicros();
  return r;
}

Status AddRun(MetadataStore& m, const RunRecord& r) {
  BATON_RETURN_IF_ERROR(m.PutSnapshot(r.snapshot_hash, r.pipeline, "{}"));
  return m.CreateRun(r);
}

// ---- URIs: no server needed ----

TEST(PostgresUri, APasswordIsRefusedAndNeverRepeated) {
  for (const std::string uri : {"postgresql://alice:s3cret@127.0.0.1:5432/db",
                                "postgres://alice:s3cret@db.example.com/team?sslmode=require",
                                "postgresql://alice@127.0.0.1/db?password=s3cret"}) {
    auto opened = Stores().OpenMetadataStore(uri);
    ASSERT_FALSE(opened.ok()) << uri;
    EXPECT_EQ(opened.status().code(), Code::kInvalidArgument) << opened.status().ToString();
    EXPECT_TRUE(Contains(opened.status().message(), "PGPASSWORD")) << opened.status().message();
    EXPECT_TRUE(Contains(opened.status().message(), ".pgpass")) << opened.status().message();
    EXPECT_FALSE(Contains(opened.status().message(), "s3cret")) << opened.status().message();
  }
}

TEST(PostgresUri, LibpqParametersPassThroughAndSchemaIsBatons) {
  auto parsed = StoreUri::Parse(
      "postgresql://bob@db.example.com:6432/"
      "ml?sslmode=verify-full&connect_timeout=3&application_name=trainer"
      "&schema=team_a");
  ASSERT_OK(parsed.status());
  auto t = ParsePostgresUri(*parsed);
  ASSERT_OK(t.status());
  EXPECT_EQ(t->schema, "team_a");
  EXPECT_EQ(t->where, "db.example.com:6432/ml");
  EXPECT_TRUE(Contains(t->conninfo, "sslmode=verify-full")) << t->conninfo;
  EXPECT_TRUE(Contains(t->conninfo, "connect_timeout=3")) << t->conninfo;
  EXPECT_TRUE(Contains(t->conninfo, "application_name=trainer")) << t->conninfo;
  EXPECT_FALSE(Contains(t->conninfo, "schema")) << t->conninfo;
  // Without schema=, the tables are in public.
  auto plain = ParsePostgresUri(*StoreUri::Parse("postgres://bob@db/ml"));
  ASSERT_OK(plain.status());
  EXPECT_EQ(plain->schema, "public");
  // A parameter libpq does not know is refused, by name.
  auto unknown = Stores().OpenMetadataStore("postgresql://bob@127.0.0.1/ml?colour=blue");
  EXPECT_EQ(unknown.status().code(), Code::kInvalidArgument) << unknown.status().ToString();
  EXPECT_TRUE(Contains(unknown.status().message(), "colour")) << unknown.status().message();
  EXPECT_EQ(Stores().OpenMetadataStore("postgresql://bob@127.0.0.1/ml?schema=").status().code(),
            Code::kInvalidArgument);
}

TEST(PostgresUri, AnUnreachableServerIsUnavailableNamingHostAndPort) {
  const int port = FreePort();
  ASSERT_GT(port, 0);
  auto opened =
      Stores().OpenMetadataStore("postgresql://nobody@127.0.0.1:" + std::to_string(port) + "/db");
  EXPECT_EQ(opened.status().code(), Code::kUnavailable) << opened.status().ToString();
  EXPECT_TRUE(Contains(opened.status().message(), "127.0.0.1:" + std::to_string(port)))
      << opened.status().message();
}

// ---- against the test server ----

// A TCP proxy in front of the test server that can drop a connection around the next COMMIT a
// client sends, and stop and start listening: what a network failure or a server restart looks
// like from the store.
class Proxy {
 public:
  enum class Drop { kNone, kBeforeCommit, kAfterCommit };

  Proxy(std::string host, std::string port)
      : host_(std::move(host)), upstream_port_(std::move(port)) {}
  ~Proxy() { Stop(); }

  // Listens on 127.0.0.1:port (a free port when 0).
  bool Start(int port = 0) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    socklen_t len = sizeof a;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listener_, 16) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return false;
    port_ = ntohs(a.sin_port);
    stop_ = false;
    thread_ = std::thread([this] { Loop(); });
    return true;
  }

  // Closes the listener and every connection.
  void Stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
    ::close(listener_);
    for (auto& p : pairs_) Close(p);
    pairs_.clear();
  }

  int port() const { return port_; }
  void Arm(Drop d) {
    dropped_ = false;
    armed_ = d;
  }
  bool dropped() const { return dropped_; }

 private:
  // The protocol message of the query "COMMIT": 'Q', its length (4 + 7), the text and its NUL.
  static constexpr char kCommit[] = {'Q', 0, 0, 0, 11, 'C', 'O', 'M', 'M', 'I', 'T', 0};
  // The same sent in a pipeline (the extended protocol): 'P', its length (4 + 1 + 7 + 2), the
  // unnamed statement's empty name, the text and its NUL, and no parameter types.
  static constexpr char kCommitParse[] = {'P', 0, 0, 0, 14, 0, 'C', 'O', 'M', 'M', 'I', 'T', 0, 0, 0};
  static bool HasCommit(const char* buf, ssize_t n) {
    return n > 0 && (::memmem(buf, static_cast<size_t>(n), kCommit, sizeof kCommit) != nullptr ||
                     ::memmem(buf, static_cast<size_t>(n), kCommitParse, sizeof kCommitParse) != nullptr);
  }

  struct Pair {
    int client = -1, server = -1;
    bool draining = false;  // COMMIT went through: swallow the answer, then drop
  };

  static void Close(Pair& p) {
    if (p.client >= 0) ::close(p.client);
    if (p.server >= 0) ::close(p.server);
    p.client = p.server = -1;
  }

  static bool SendAll(int fd, const char* data, ssize_t n) {
    while (n > 0) {
      ssize_t w = ::send(fd, data, static_cast<size_t>(n), MSG_NOSIGNAL);
      if (w <= 0) return false;
      data += w;
      n -= w;
    }
    return true;
  }

  int Connect() {
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (::getaddrinfo(host_.c_str(), upstream_port_.c_str(), &hints, &res) != 0) return -1;
    int fd = -1;
    for (addrinfo* r = res; r; r = r->ai_next) {
      fd = ::socket(r->ai_family, r->ai_socktype, r->ai_protocol);
      if (fd >= 0 && ::connect(fd, r->ai_addr, r->ai_addrlen) == 0) break;
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
    ::freeaddrinfo(res);
    return fd;
  }

  void Loop() {
    char buf[65536];
    while (!stop_) {
      std::vector<pollfd> fds = {{listener_, POLLIN, 0}};
      for (auto& p : pairs_) {
        fds.push_back({p.client, POLLIN, 0});
        fds.push_back({p.server, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        Pair p;
        p.client = ::accept(listener_, nullptr, nullptr);
        p.server = p.client >= 0 ? Connect() : -1;
        if (p.server < 0)
          Close(p);
        else
          pairs_.push_back(p);
      }
      for (size_t i = 0; i + 1 < fds.size(); i += 2) {
        Pair& p = pairs_[i / 2];
        if (p.client < 0) continue;
        if (fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) {  // client -> server
          ssize_t n = ::recv(p.client, buf, sizeof buf, 0);
          const bool commit = HasCommit(buf, n);
          if (n <= 0 || (commit && armed_ == Drop::kBeforeCommit)) {
            if (commit) Dropped();
            Close(p);
            continue;
          }
          if (!SendAll(p.server, buf, n)) {
            Close(p);
            continue;
          }
          if (commit && armed_ == Drop::kAfterCommit) {
            Dropped();
            p.draining = true;
          }
        }
        if (fds[i + 2].revents & (POLLIN | POLLHUP | POLLERR)) {  // server -> client
          ssize_t n = ::recv(p.server, buf, sizeof buf, 0);
          if (n <= 0 || p.draining || !SendAll(p.client, buf, n)) Close(p);
        }
      }
      pairs_.erase(
          std::remove_if(pairs_.begin(), pairs_.end(), [](const Pair& p) { return p.client < 0; }),
          pairs_.end());
    }
  }

  void Dropped() {
    armed_ = Drop::kNone;
    dropped_ = true;
  }

  std::string host_, upstream_port_;
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<Drop> armed_{Drop::kNone};
  std::atomic<bool> dropped_{false};
  std::vector<Pair> pairs_;
};

// Tests on the server named by BATON_TEST_POSTGRES_URI, each in schemas of its own.
class Postgres : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = Env("BATON_TEST_POSTGRES_URI");
    if (base_.empty()) {
      const std::string why =
          "no PostgreSQL server to test against: set BATON_TEST_POSTGRES_URI "
          "(scripts/setup-postgres.sh starts one and prints it)";
      if (!Env("CI").empty()) FAIL() << why << " (CI must test every store)";
      GTEST_SKIP() << why;
    }
    auto parsed = StoreUri::Parse(base_);
    ASSERT_OK(parsed.status());
    auto target = ParsePostgresUri(*parsed);
    ASSERT_OK(target.status());
    ASSERT_OK(admin_.Open(*target));
  }

  void TearDown() override {
    for (const auto& s : schemas_)
      (void)admin_.ExecScript("DROP SCHEMA IF EXISTS " + s + " CASCADE");
  }

  // A schema name of this test's own, dropped after it.
  std::string NewSchema() {
    static std::atomic<int> n{0};
    schemas_.push_back("baton_pgtest_" + std::to_string(::getpid()) + "_" +
                       std::to_string(NowMicros() % 100000000) + "_" + std::to_string(n++));
    return schemas_.back();
  }

  // The URI of a new, empty store on the test server.
  std::string FreshUri() { return WithParam(base_, "schema=" + NewSchema()); }

  std::unique_ptr<MetadataStore> Open(const std::string& uri) {
    auto s = Stores().OpenMetadataStore(uri);
    EXPECT_TRUE(s.ok()) << uri << ": " << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // The rows of a query on the test database, as text.
  std::vector<std::vector<std::string>> Sql(const std::string& sql) {
    std::vector<std::vector<std::string>> out;
    auto r = admin_.QueryText(sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    if (!r.ok()) return out;
    for (int i = 0; i < r->rows(); ++i) {
      out.emplace_back();
      for (int c = 0; c < r->columns(); ++c) out.back().push_back(r->Text(i, c));
    }
    return out;
  }

  std::string base_;
  PgDb admin_;
  std::vector<std::string> schemas_;
};

TEST_F(Postgres, SchemasKeepStoresApartInOneDatabase) {
  auto a = Open(FreshUri());
  auto b = Open(FreshUri());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_OK(AddRun(*a, MakeRun("only-in-a")));
  ASSERT_OK(b->SetSetting("active_stack", "b-stack"));
  EXPECT_EQ(b->GetRun("only-in-a").status().code(), Code::kNotFound);
  EXPECT_EQ(*a->GetSetting("active_stack", ""), "default");
  EXPECT_EQ(a->ListRuns("", 0)->size(), 1u);
  // Each schema holds the whole schema, at the latest version.
  for (const auto& s : schemas_)
    EXPECT_EQ(
        Sql("SELECT string_agg(version::text, ',' ORDER BY version) FROM " + s + ".schema_version"),
        (std::vector<std::vector<std::string>>{{AllVersions()}}));
}

TEST_F(Postgres, AVersionOneStoreIsUpgradedWithItsRecords) {
  const std::string uri = FreshUri();
  const std::string schema = schemas_.back();
  {
    auto old = OpenPostgresStoreWithSchema(*StoreUri::Parse(uri), PostgresMigrations().first(1));
    ASSERT_OK(old.status());
  }
  // Records as a version-1 baton wrote them: no artifacts.materializer, no components.
  ASSERT_OK(admin_.ExecScript("SET search_path TO " + schema + R"sql(;
INSERT INTO pipelines(id, name, created_at) VALUES(7, 'old', 100);
INSERT INTO snapshots(hash, pipeline_id, body, created_at) VALUES('h1', 7, '{"name":"old"}', 100);
INSERT INTO runs(id, pipeline_id, snapshot_hash, status, reason, created_at, started_at, ended_at, stack,
  orchestrator, host, pid, pid_start, attempt, parameters, pipeline_file)
  VALUES('old-1', 7, 'h1', 'completed', '', 100, 101, 200, 'default', 'local', 'h', 42, 7, 1, '{"a":1}', '/p.yaml');
INSERT INTO step_runs(id, run_id, step, attempt, status, started_at, ended_at, exit_code, cache_key, command)
  VALUES(11, 'old-1', 'train', 1, 'completed', 110, 190, 0, 'k1', 'python train.py');
INSERT INTO step_runs(id, run_id, step, attempt, status, started_at, ended_at, exit_code, cache_key, cached_from)
  VALUES(12, 'old-1', 'eval', 1, 'cached', 191, 192, 0, 'k2', 11);
INSERT INTO artifacts(id, step_run_id, run_id, pipeline, step, name, version, digest, size, kind, uri, created_at)
  VALUES(21, 11, 'old-1', 'old', 'train', 'model', 1, 'abcdef0123456789', 5, 'file', 'file:///a/abcdef', 190);
INSERT INTO step_outputs(step_run_id, name, artifact_id) VALUES(11, 'model', 21);
INSERT INTO step_inputs(step_run_id, name, artifact_id) VALUES(12, 'm', 21);
SET search_path TO public;
)sql"));
  EXPECT_EQ(Sql("SELECT count(*) FROM information_schema.tables WHERE table_schema = '" + schema +
                "' AND table_name = 'components'"),
            (std::vector<std::vector<std::string>>{{"0"}}));
  auto opened = Open(uri);
  ASSERT_NE(opened, nullptr);
  MetadataStore& m = *opened;
  auto run = m.GetRun("old-1");
  ASSERT_OK(run.status());
  EXPECT_EQ(run->pipeline, "old");
  EXPECT_EQ(run->parameters, R"({"a":1})");
  auto steps = m.ListStepRuns("old-1");
  ASSERT_OK(steps.status());
  ASSERT_EQ(steps->size(), 2u);
  EXPECT_EQ((*steps)[1].cached_from, 11);
  auto art = m.GetArtifact("21");
  ASSERT_OK(art.status());
  EXPECT_EQ(art->materializer, "");
  EXPECT_EQ(art->type, "");
  auto ins = m.StepInputs(12);
  ASSERT_OK(ins.status());
  ASSERT_EQ(ins->size(), 1u);
  EXPECT_EQ((*ins)[0].second.id, 21);
  EXPECT_EQ(m.GetStack("default")->artifact_store, "default");
  EXPECT_EQ(*m.GetSetting("active_stack", ""), "default");
  EXPECT_EQ(Sql("SELECT string_agg(version::text, ',' ORDER BY version) FROM " + schema +
                ".schema_version"),
            (std::vector<std::vector<std::string>>{{AllVersions()}}));
  // Ids given by the old rows are not handed out again; versions go on.
  StepRunRecord s;
  s.run_id = "old-1";
  s.step = "train";
  s.attempt = 2;
  auto id = m.StartStepRun(s);
  ASSERT_OK(id.status());
  s.id = *id;
  s.status = StepStatus::kCompleted;
  ArtifactRecord a = *art;
  a.digest = "fedcba";
  std::vector<ArtifactRecord> arts = {a};
  EXPECT_OK(m.FinishStepRun(s, &arts, {}, {}));
  EXPECT_EQ(arts[0].version, 2);
}

TEST_F(Postgres, AStoreNewerThanTheBinaryIsRefusedAndAFailingMigrationChangesNothing) {
  const std::string uri = FreshUri();
  ASSERT_NE(Open(uri), nullptr);
  auto older = OpenPostgresStoreWithSchema(*StoreUri::Parse(uri), PostgresMigrations().first(2));
  EXPECT_EQ(older.status().code(), Code::kFailedPrecondition) << older.status().ToString();
  EXPECT_TRUE(
      Contains(older.status().message(), "schema version " +
                                             std::to_string(LatestVersion(PostgresMigrations())) +
                                             ", newer than this baton understands (2)"))
      << older.status().message();

  const std::string schema = NewSchema();
  const Migration broken[] = {{1, "CREATE TABLE one(x BIGINT);"},
                              {2, "CREATE TABLE two(y BIGINT);"},
                              {3, "CREATE TABLE one(z BIGINT);"}};  // one exists: fails
  auto failed =
      OpenPostgresStoreWithSchema(*StoreUri::Parse(WithParam(base_, "schema=" + schema)), broken);
  EXPECT_FALSE(failed.ok());
  EXPECT_TRUE(Contains(failed.status().message(), "migration to schema version 3"))
      << failed.status().message();
  // Not even the schema was created.
  EXPECT_EQ(Sql("SELECT count(*) FROM pg_namespace WHERE nspname = '" + schema + "'"),
            (std::vector<std::vector<std::string>>{{"0"}}));
}

// Same tables, same columns in the same order, as SQLite; integers are BIGINT and text compares
// bytes. runs.seq is PostgreSQL's insertion order (SQLite's rowid).
TEST_F(Postgres, TheSchemaIsTheSqliteSchema) {
  ASSERT_NE(Open(FreshUri()), nullptr);
  const std::string schema = schemas_.back();
  TempDir d;
  ASSERT_OK(OpenSqliteStore(d.path() + "/baton.db").status());
  EXPECT_EQ(LatestVersion(PostgresMigrations()), LatestVersion(SqliteMigrations()));
  std::set<std::string> listed;
  for (const Table& t : MetadataTables()) {
    listed.insert(t.name);
    std::vector<std::vector<std::string>> want;
    for (const Column& c : t.columns)
      want.push_back({c.name, c.type == ColumnType::kInteger ? "bigint" : "text",
                      c.type == ColumnType::kInteger ? "" : "C"});
    // PostgreSQL's runs has `seq` (the order of creation) after the columns of version 1.
    if (std::string(t.name) == "runs") {
      auto after = std::find_if(want.begin(), want.end(),
                                [](const auto& c) { return c[0] == "pipeline_file"; });
      want.insert(after + 1, {"seq", "bigint", ""});
    }
    EXPECT_EQ(Sql("SELECT column_name, data_type, COALESCE(collation_name, '') FROM "
                  "information_schema.columns "
                  "WHERE table_schema = '" +
                  schema + "' AND table_name = '" + t.name + "' ORDER BY ordinal_position"),
              want)
        << t.name;
  }
  std::set<std::string> tables;
  for (const auto& row :
       Sql("SELECT table_name FROM information_schema.tables WHERE table_schema = '" + schema +
           "' AND table_name <> 'schema_version'"))
    tables.insert(row[0]);
  EXPECT_EQ(tables, listed);
}

// A connection the server ends (as a restart does) costs a read nothing and a write outside a
// batch nothing; inside a batch the batch is lost and every call until its end says so, naming
// the server; the next call reconnects.
TEST_F(Postgres, ALostConnectionIsUnavailableNamingTheServerAndTheStoreReconnects) {
  const std::string app = "baton_lost_" + std::to_string(::getpid());
  auto store = Open(WithParam(FreshUri(), "application_name=" + app));
  ASSERT_NE(store, nullptr);
  MetadataStore& m = *store;
  ASSERT_OK(AddRun(m, MakeRun("before")));
  auto terminate = [&] {
    auto killed =
        Sql("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = '" +
            app + "') t");
    ASSERT_EQ(killed, (std::vector<std::vector<std::string>>{{"1"}}));
  };
  terminate();
  EXPECT_OK(m.GetRun("before").status());  // a read goes again on a new connection
  terminate();
  EXPECT_OK(AddRun(m, MakeRun("after")));  // so does a write that had not begun

  ASSERT_OK(m.BeginBatch());
  ASSERT_OK(AddRun(m, MakeRun("in-lost-batch")));
  terminate();
  StepRunRecord s;
  s.run_id = "after";
  s.step = "train";
  auto started = m.StartStepRun(s);
  EXPECT_EQ(started.status().code(), Code::kUnavailable) << started.status().ToString();
  const std::string where = admin_.where().substr(0, admin_.where().find('/'));
  EXPECT_TRUE(Contains(started.status().message(), where)) << started.status().message();
  EXPECT_TRUE(
      Contains(started.status().message(), "none of the writes of the current batch were recorded"))
      << started.status().message();
  EXPECT_EQ(m.SetSetting("k", "v").code(), Code::kUnavailable);
  EXPECT_EQ(m.EndBatch().code(), Code::kUnavailable);
  // The batch left nothing; the store works again.
  EXPECT_EQ(m.GetRun("in-lost-batch").status().code(), Code::kNotFound);
  EXPECT_EQ(*m.GetSetting("k", "unset"), "unset");
  EXPECT_OK(m.StartStepRun(s).status());
  EXPECT_EQ(m.ListStepRuns("after")->size(), 1u);
}

// The answer to a COMMIT is lost: the store asks the server what became of the transaction.
// Committed: the write returns Ok and is recorded once (its replay is refused). Not committed:
// Unavailable, nothing recorded. A server that cannot be reached is Unavailable naming it, and
// the store reconnects once it can.
TEST_F(Postgres, ALostAnswerToCommitIsResolvedWithTheServer) {
  auto base = StoreUri::Parse(base_);
  ASSERT_OK(base.status());
  const std::string authority = base->authority;
  const size_t at = authority.rfind('@');
  const std::string user = at == std::string::npos ? "" : authority.substr(0, at + 1);
  const std::string hostport = authority.substr(at == std::string::npos ? 0 : at + 1);
  const size_t colon = hostport.rfind(':');
  std::string host = hostport.substr(0, colon);
  const std::string port = colon == std::string::npos ? "5432" : hostport.substr(colon + 1);
  if (host.empty()) host = "127.0.0.1";
  Proxy proxy(host, port);
  ASSERT_TRUE(proxy.Start());
  const std::string query =
      base_.find('?') == std::string::npos ? "" : base_.substr(base_.find('?'));
  const std::string direct = FreshUri();
  const std::string via =
      WithParam(base->scheme + "://" + user + "127.0.0.1:" + std::to_string(proxy.port()) +
                    base->path + query,
                "schema=" + schemas_.back());
  auto store = Open(via);
  auto check = Open(direct);
  ASSERT_NE(store, nullptr);
  ASSERT_NE(check, nullptr);
  ASSERT_OK(store->PutSnapshot("snapshot-of-p", "p", "{}"));

  proxy.Arm(Proxy::Drop::kAfterCommit);
  EXPECT_OK(store->CreateRun(MakeRun("committed")));
  EXPECT_TRUE(proxy.dropped());
  EXPECT_OK(check->GetRun("committed").status());
  StepRunRecord s;
  s.run_id = "committed";
  s.step = "train";
  proxy.Arm(Proxy::Drop::kAfterCommit);
  auto id = store->StartStepRun(s);
  ASSERT_OK(id.status());
  EXPECT_TRUE(proxy.dropped());
  EXPECT_EQ(check->GetStepRun(*id)->step, "train");
  EXPECT_EQ(store->StartStepRun(s).status().code(), Code::kAlreadyExists);  // a replay is refused
  EXPECT_EQ(check->ListStepRuns("committed")->size(), 1u);

  proxy.Arm(Proxy::Drop::kBeforeCommit);
  Status lost = store->CreateRun(MakeRun("rolled-back"));
  EXPECT_TRUE(proxy.dropped());
  EXPECT_EQ(lost.code(), Code::kUnavailable) << lost.ToString();
  EXPECT_TRUE(Contains(lost.message(), "not recorded")) << lost.message();
  EXPECT_TRUE(Contains(lost.message(), "127.0.0.1:" + std::to_string(proxy.port())))
      << lost.message();
  EXPECT_EQ(check->GetRun("rolled-back").status().code(), Code::kNotFound);
  // The same for a write sent in one piece, the lock, statement and COMMIT together: the
  // server's transaction was rolled back, and the store asks it rather than guess.
  proxy.Arm(Proxy::Drop::kBeforeCommit);
  StepRunRecord lost_step = s;
  lost_step.step = "evaluate";
  auto lost_id = store->StartStepRun(lost_step);
  EXPECT_TRUE(proxy.dropped());
  EXPECT_EQ(lost_id.status().code(), Code::kUnavailable) << lost_id.status().ToString();
  EXPECT_TRUE(Contains(lost_id.status().message(), "not recorded")) << lost_id.status().message();
  EXPECT_EQ(check->ListStepRuns("committed")->size(), 1u);
  // And a step's end, after a lost answer to its COMMIT: recorded once, its artifact with it.
  StepRunRecord done = s;
  done.id = *id;
  done.status = StepStatus::kCompleted;
  done.exit_code = 0;
  std::vector<ArtifactRecord> outs(1);
  outs[0].run_id = "committed";
  outs[0].pipeline = "p";
  outs[0].step = "train";
  outs[0].name = "model";
  outs[0].digest = std::string(64, 'b');
  outs[0].kind = "file";
  proxy.Arm(Proxy::Drop::kAfterCommit);
  ASSERT_OK(store->FinishStepRun(done, &outs, {}, {}));
  EXPECT_TRUE(proxy.dropped());
  EXPECT_EQ(outs[0].version, 1);
  EXPECT_EQ(check->GetStepRun(*id)->status, StepStatus::kCompleted);
  EXPECT_EQ(check->ListArtifacts("", 0)->size(), 1u);

  // The server is gone (as during a restart), then back.
  const int port_before = proxy.port();
  proxy.Stop();
  auto unreachable = store->GetRun("committed");
  EXPECT_EQ(unreachable.status().code(), Code::kUnavailable) << unreachable.status().ToString();
  EXPECT_TRUE(Contains(unreachable.status().message(), "127.0.0.1:" + std::to_string(port_before)))
      << unreachable.status().message();
  EXPECT_EQ(store->CreateRun(MakeRun("while-down")).code(), Code::kUnavailable);
  ASSERT_TRUE(proxy.Start(port_before));
  EXPECT_OK(store->GetRun("committed").status());
  EXPECT_OK(store->CreateRun(MakeRun("while-up")));
  EXPECT_EQ(check->GetRun("while-down").status().code(), Code::kNotFound);
}

// Writers of one store take turns on its write lock; a deadlock with another application's
// session (its row lock against that lock) aborts the store's transaction, which runs again.
TEST_F(Postgres, ADeadlockWithAnotherSessionIsRetried) {
  const std::string app = "baton_deadlock_" + std::to_string(::getpid());
  const std::string uri = WithParam(FreshUri(), "application_name=" + app);
  const std::string schema = schemas_.back();
  auto store = Open(uri);
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->SetSetting("x", "before"));
  // Another session locks the row the store will write...
  ASSERT_OK(
      admin_.ExecScript("BEGIN; UPDATE " + schema + ".settings SET value = value WHERE key = 'x'"));
  Status written;
  std::thread writer([&] { written = store->SetSetting("x", "after"); });
  // ...the store waits for it, holding its write lock...
  std::string lock;
  for (int i = 0; i < 200 && lock.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto held =
        Sql("SELECT (l.classid::bigint << 32) | l.objid::bigint FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
            "AND l.granted AND a.application_name = '" +
            app + "' AND a.wait_event_type = 'Lock'");
    if (!held.empty()) lock = held[0][0];
  }
  ASSERT_FALSE(lock.empty()) << "the store never waited for the row while holding its lock";
  // ...and the other session waits for that lock: a deadlock, which the server breaks.
  (void)admin_.QueryText("SELECT pg_advisory_xact_lock(" + lock + ")");
  ASSERT_OK(admin_.ExecScript("ROLLBACK"));
  writer.join();
  EXPECT_OK(written);
  EXPECT_EQ(*store->GetSetting("x", ""), "after");
}

// Processes racing to resume one run: exactly one claims it each time.
TEST_F(Postgres, ConcurrentClaimsOfOneRunHaveOneWinner) {
  const std::string uri = FreshUri();
  constexpr int kClaimers = 4, kRounds = 15;
  std::vector<std::unique_ptr<MetadataStore>> stores;
  for (int i = 0; i < kClaimers; ++i) stores.push_back(Open(uri));
  for (const auto& s : stores) ASSERT_NE(s, nullptr);
  ASSERT_OK(AddRun(*stores[0], MakeRun("contested")));
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_OK(stores[0]->UpdateRunStatus("contested", RunStatus::kInterrupted, "died", 1));
    Status claimed[kClaimers];
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kClaimers; ++i)
      threads.emplace_back([&, i] {
        ready++;
        while (ready.load() < kClaimers) std::this_thread::yield();
        claimed[i] = stores[i]->ClaimRun("contested", 1000 + i, 1, "host-" + std::to_string(i));
      });
    for (auto& t : threads) t.join();
    int winners = 0, winner = -1;
    for (int i = 0; i < kClaimers; ++i) {
      if (claimed[i].ok()) {
        ++winners;
        winner = i;
      } else {
        EXPECT_EQ(claimed[i].code(), Code::kFailedPrecondition) << claimed[i].ToString();
      }
    }
    ASSERT_EQ(winners, 1) << "round " << round;
    auto run = stores[0]->GetRun("contested");
    ASSERT_OK(run.status());
    EXPECT_EQ(run->attempt, round + 2);
    EXPECT_EQ(run->pid, 1000 + winner);
  }
}

// ---- workspaces on a PostgreSQL store ----

// Where a step run's outputs went and how often each was versioned, checked over the whole store.
void ExpectVersionsCountedOnce(MetadataStore& m) {
  auto arts = m.ListArtifacts("", 0);
  ASSERT_TRUE(arts.ok()) << arts.status().ToString();
  std::map<std::string, std::vector<int>> versions;
  for (const auto& a : *arts)
    versions[a.pipeline + "/" + a.step + "/" + a.name].push_back(a.version);
  for (auto& [key, v] : versions) {
    std::sort(v.begin(), v.end());
    std::vector<int> want(v.size());
    for (size_t i = 0; i < v.size(); ++i) want[i] = static_cast<int>(i) + 1;
    EXPECT_EQ(v, want) << key << ": versions must be 1..N, each once";
  }
}

class PostgresWorkspaces : public Postgres {
 protected:
  // A workspace in `dir` on the metadata store `uri`.
  void Join(const std::string& dir, const std::string& uri) {
    auto r = RunBaton(dir, {"init"}, {"BATON_METADATA_URI=" + uri});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }
  CommandResult Baton(const std::string& dir, const std::string& uri,
                      const std::vector<std::string>& args) {
    return RunBaton(dir, args, {"BATON_METADATA_URI=" + uri});
  }
};

constexpr const char* kTeamPipeline = R"Y(name: team
parameters: {n: 0}
steps:
  gen:
    run: echo {{params.n}} > {{outputs.data}}
    outputs: [data]
  train:
    run: cat {{inputs.d}} > {{outputs.model}} && echo trained >> {{outputs.model}}
    inputs: {d: gen.data}
    outputs: [model]
  report:
    run: wc -c < {{inputs.m}} > {{outputs.report}}
    inputs: {m: train.model}
    outputs: [report]
  common:
    run: echo the same for everyone > {{outputs.c}}
    outputs: [c]
)Y";

// Two colleagues, two directories, one PostgreSQL store and one artifact directory: 20 runs
// at once (10 from each), all complete, nothing is recorded twice, and a run in one workspace is a
// cache hit for the other.
TEST_F(PostgresWorkspaces, TwentyRunsFromTwoWorkspacesAtOnce) {
  const std::string uri = FreshUri();
  TempDir alice, bob, shared;
  Join(alice.path(), uri);
  Join(bob.path(), uri);
  alice.Write("pipeline.yaml", kTeamPipeline);
  bob.Write("pipeline.yaml", kTeamPipeline);
  // The stack is in the shared store: registered once, used by both.
  auto r = Baton(alice.path(), uri,
                 {"artifact-store", "register", "shared", "--flavor", "local", "--set",
                  "path=" + shared.path()});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = Baton(alice.path(), uri,
            {"stack", "register", "team", "--artifact-store", "shared", "--set"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);

  constexpr int kRuns = 20;
  std::vector<pid_t> pids;
  TempDir io;
  for (int i = 0; i < kRuns; ++i) {
    const std::string& dir = i % 2 == 0 ? alice.path() : bob.path();
    const std::string out = io.path() + "/" + std::to_string(i);
    pid_t pid =
        SpawnBaton(dir, {"run", "pipeline.yaml", "-p", "n=" + std::to_string(i), "-o", "json"},
                   out + ".out", out + ".err", {"BATON_METADATA_URI=" + uri});
    ASSERT_GT(pid, 0);
    pids.push_back(pid);
  }
  std::map<int, std::string> run_of;  // n -> run id
  for (int i = 0; i < kRuns; ++i) {
    const int code = WaitExit(pids[i]);
    const std::string out = ReadFileOrDie(io.path() + "/" + std::to_string(i) + ".out");
    EXPECT_EQ(code, 0) << "run " << i << ":\n"
                       << out << ReadFileOrDie(io.path() + "/" + std::to_string(i) + ".err");
    Json j = Json::parse(out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << out;
    EXPECT_EQ(j.value("status", ""), "completed") << out;
    run_of[i] = j.value("run", "");
  }

  auto store = Open(uri);
  ASSERT_NE(store, nullptr);
  auto runs = store->ListRuns("team", 0);
  ASSERT_TRUE(runs.ok()) << runs.status().ToString();
  EXPECT_EQ(runs->size(), static_cast<size_t>(kRuns));
  int common_completed = 0;
  for (const auto& run : *runs) {
    EXPECT_EQ(run.status, RunStatus::kCompleted) << run.id;
    auto steps = store->ListStepRuns(run.id);
    ASSERT_TRUE(steps.ok());
    std::map<std::string, int> per_step;
    for (const auto& s : *steps) {
      per_step[s.step]++;
      EXPECT_TRUE(Succeeded(s.status)) << run.id << " " << s.step << ": " << s.reason;
      if (s.step == "common" && s.status == StepStatus::kCompleted) ++common_completed;
      if (s.step != "common") {
        EXPECT_EQ(s.status, StepStatus::kCompleted) << run.id << " " << s.step;
      }
    }
    EXPECT_EQ(per_step,
              (std::map<std::string, int>{{"common", 1}, {"gen", 1}, {"report", 1}, {"train", 1}}))
        << run.id;
  }
  // `common` is the same everywhere: computed at least once, reused by the rest.
  EXPECT_GE(common_completed, 1);
  ExpectVersionsCountedOnce(*store);
  EXPECT_EQ(Sql("SELECT count(*) FROM " + schemas_.back() + ".artifacts WHERE step = 'gen'"),
            (std::vector<std::vector<std::string>>{{std::to_string(kRuns)}}));

  // Bob runs what Alice ran (n=4 ran in her workspace): every step is a hit from her run.
  r = Baton(bob.path(), uri, {"run", "pipeline.yaml", "-p", "n=4", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  Json summary = Json::parse(r.out, nullptr, false);
  EXPECT_EQ(summary.value("cached", -1), 4) << r.out;
  EXPECT_EQ(summary.value("completed", -1), 0) << r.out;
  auto steps = store->ListStepRuns(summary.value("run", ""));
  ASSERT_TRUE(steps.ok());
  for (const auto& s : *steps) {
    if (s.step == "common") continue;  // any run's
    auto from = store->GetStepRun(s.cached_from);
    ASSERT_TRUE(from.ok()) << s.step;
    EXPECT_EQ(from->run_id, run_of[4]) << s.step;
    EXPECT_EQ(store->GetRun(from->run_id)->pipeline_file, alice.path() + "/pipeline.yaml");
  }
}

// A PostgreSQL cluster of the test's own, which it may stop and restart without disturbing the
// other tests: scripts/setup-postgres.sh in a temporary directory, on a free port.
class PrivateCluster {
 public:
  PrivateCluster() : port_(FreePort()) { ::chmod(dir_.path().c_str(), 0755); }
  ~PrivateCluster() { (void)Script("--stop"); }

  // Runs the script in a mode ("start", "--stop", "--restart").
  CommandResult Script(const std::string& mode) {
    return RunProgram("/", {"/usr/bin/env", "BATON_PG_DIR=" + dir_.path() + "/pg",
                            "BATON_PG_PORT=" + std::to_string(port_), "/bin/bash",
                            SourceDir() + "/scripts/setup-postgres.sh", mode});
  }
  int port() const { return port_; }
  std::string uri(const std::string& schema) const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) +
           "/baton_test?schema=" + schema;
  }

 private:
  TempDir dir_;
  int port_;
};

constexpr const char* kSlowPipeline = R"Y(name: slow
steps:
  a:
    run: sleep 3 && echo a > {{outputs.o}}
    outputs: [o]
  b:
    run: sleep 1.5 && echo b > {{outputs.o}}
    outputs: [o]
  c:
    run: sleep 1 && cat {{inputs.x}} > {{outputs.o}}
    inputs: {x: a.o}
    outputs: [o]
  d:
    run: sleep 1 && cat {{inputs.x}} {{inputs.y}} > {{outputs.o}}
    inputs: {x: b.o, y: c.o}
    outputs: [o]
)Y";

class PostgresFaults : public PostgresWorkspaces {
 protected:
  void SetUp() override {
    PostgresWorkspaces::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto started = cluster_.Script("start");
    ASSERT_EQ(started.exit_code, 0) << "scripts/setup-postgres.sh could not start a cluster:\n"
                                    << Describe(started);
    uri_ = cluster_.uri("faults");
    ws_.Write("pipeline.yaml", kSlowPipeline);
    Join(ws_.path(), uri_);
  }

  // Starts `baton run` and returns once steps a and b are running.
  pid_t StartRun(std::string* run_id) {
    pid_t pid = SpawnBaton(ws_.path(), {"run", "pipeline.yaml", "-j", "2"}, ws_.path() + "/run.out",
                           ws_.path() + "/run.err", {"BATON_METADATA_URI=" + uri_});
    EXPECT_GT(pid, 0);
    auto store = Open(uri_);
    for (int i = 0; store && i < 300; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      auto runs = store->ListRuns("slow", 1);
      if (!runs.ok() || runs->empty()) continue;
      *run_id = (*runs)[0].id;
      auto steps = store->ListStepRuns(*run_id);
      if (steps.ok() && steps->size() >= 2) return pid;
    }
    ADD_FAILURE() << "the run did not start its steps: " << ReadFileOrDie(ws_.path() + "/run.err");
    return pid;
  }

  // Every step succeeded exactly once in the run; every other attempt ended with a reason; no
  // version was counted twice.
  void ExpectEachStepRecordedOnce(const std::string& run_id) {
    auto store = Open(uri_);
    ASSERT_NE(store, nullptr);
    auto run = store->GetRun(run_id);
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    EXPECT_EQ(run->status, RunStatus::kCompleted) << run->reason;
    auto steps = store->ListStepRuns(run_id);
    ASSERT_TRUE(steps.ok());
    std::map<std::string, int> succeeded;
    std::set<std::pair<std::string, int>> attempts;
    for (const auto& s : *steps) {
      EXPECT_TRUE(attempts.insert({s.step, s.attempt}).second)
          << s.step << " attempt " << s.attempt << " twice";
      if (Succeeded(s.status)) {
        succeeded[s.step]++;
      } else {
        EXPECT_FALSE(s.reason.empty())
            << s.step << " attempt " << s.attempt << " ended without a reason";
      }
      EXPECT_NE(s.status, StepStatus::kRunning) << s.step;
    }
    EXPECT_EQ(succeeded, (std::map<std::string, int>{{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}}));
    ExpectVersionsCountedOnce(*store);
    auto out = store->FindRunOutput(run_id, "d", "o");
    ASSERT_TRUE(out.ok() && out->has_value());
  }

  // Resumes the run until it completes (a resume may itself meet the fault's aftermath).
  void ResumeToCompletion(const std::string& run_id) {
    auto r = Baton(ws_.path(), uri_, {"runs", "resume", run_id, "-o", "json"});
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    EXPECT_EQ(Json::parse(r.out, nullptr, false).value("status", ""), "completed") << Describe(r);
  }

  PrivateCluster cluster_;
  TempDir ws_;
  std::string uri_;
};

// The server restarts while steps run: the steps in flight finish, or fail with a reason; nothing
// is recorded twice; the run completes, by itself or by `baton runs resume`.
TEST_F(PostgresFaults, AServerRestartDuringARun) {
  std::string run_id;
  pid_t pid = StartRun(&run_id);
  ASSERT_FALSE(run_id.empty());
  auto restarted = cluster_.Script("--restart");
  ASSERT_EQ(restarted.exit_code, 0) << Describe(restarted);
  const int code = WaitExit(pid);
  const std::string err = ReadFileOrDie(ws_.path() + "/run.err");
  auto store = Open(uri_);
  ASSERT_NE(store, nullptr);
  auto run = store->GetRun(run_id);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  if (code == 0) {
    // The restart fell between two writes: the store reconnected and the run went on.
    EXPECT_EQ(run->status, RunStatus::kCompleted);
    auto again = Baton(ws_.path(), uri_, {"runs", "resume", run_id});
    EXPECT_NE(again.exit_code, 0);
    EXPECT_TRUE(Contains(again.err, "already completed")) << Describe(again);
  } else {
    // A write met the restart: baton says which server, and the run resumes.
    EXPECT_TRUE(Contains(err, "127.0.0.1:" + std::to_string(cluster_.port()))) << err;
    ResumeToCompletion(run_id);
  }
  ExpectEachStepRecordedOnce(run_id);
}

// The server is down while a step ends: baton cannot record it, says why, and stops the run; once
// the server is back, the next baton command finds the run's process gone and marks it
// interrupted, and `baton runs resume` completes it without recording anything twice.
TEST_F(PostgresFaults, AnOutageDuringARunIsResumedAfterwards) {
  std::string run_id;
  pid_t pid = StartRun(&run_id);
  ASSERT_FALSE(run_id.empty());
  auto stopped = cluster_.Script("--stop");
  ASSERT_EQ(stopped.exit_code, 0) << Describe(stopped);
  const int code = WaitExit(pid);  // b ends while the server is down
  const std::string err = ReadFileOrDie(ws_.path() + "/run.err");
  EXPECT_EQ(code, 1) << err;
  EXPECT_TRUE(Contains(err, "PostgreSQL server at 127.0.0.1:" + std::to_string(cluster_.port())))
      << err;
  auto started = cluster_.Script("start");
  ASSERT_EQ(started.exit_code, 0) << Describe(started);
  ResumeToCompletion(run_id);
  ExpectEachStepRecordedOnce(run_id);
  auto store = Open(uri_);
  ASSERT_NE(store, nullptr);
  auto steps = store->ListStepRuns(run_id);
  ASSERT_TRUE(steps.ok());
  // What ran when the server went away was not recorded as done, and says why.
  bool interrupted = false;
  for (const auto& s : *steps)
    if (s.attempt == 1 && s.status == StepStatus::kInterrupted) interrupted = true;
  EXPECT_TRUE(interrupted);
}

// ---- baton store migrate ----

using Dump = std::vector<std::pair<std::string, Row>>;

Dump Export(const std::string& uri) {
  Dump out;
  auto store = Stores().OpenMetadataStore(uri);
  EXPECT_TRUE(store.ok()) << uri << ": " << store.status().ToString();
  if (!store.ok()) return out;
  MetadataRows* rows = Rows(**store);
  EXPECT_NE(rows, nullptr) << uri;
  if (rows == nullptr) return out;
  Status s = rows->ExportRows([&](const Table& t, const Row& r) {
    out.emplace_back(t.name, r);
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::string RowText(const Row& row) {
  std::string s;
  for (const Value& v : row)
    s += (s.empty() ? "" : " | ") + (std::holds_alternative<int64_t>(v)
                                         ? std::to_string(std::get<int64_t>(v))
                                         : "'" + std::get<std::string>(v) + "'");
  return s;
}

// Field by field: the first difference is reported with its table.
void ExpectSameRows(const Dump& want, const Dump& got, const std::string& what) {
  EXPECT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < std::min(want.size(), got.size()); ++i) {
    if (want[i] == got[i]) continue;
    ADD_FAILURE() << what << ": row " << i << " of " << want[i].first << " differs:\n  want "
                  << RowText(want[i].second) << "\n  got  " << got[i].first << ": "
                  << RowText(got[i].second);
    return;
  }
}

constexpr const char* kMigratePipeline = R"Y(name: mig
parameters: {fail: 0}
steps:
  prep:
    run: echo prepared > {{outputs.d}}
    outputs: [d]
  train:
    run: cat {{inputs.d}} > {{outputs.m}} && echo '{"loss":0.25}' > $BATON_METADATA
    inputs: {d: prep.d}
    outputs: [m]
  check:
    run: test {{params.fail}} = 0 && cat {{inputs.m}} > {{outputs.r}}
    inputs: {m: train.m}
    outputs: [r]
)Y";

// A SQLite history made by real runs (a failed step, cached steps and a wholly cached run, step
// metadata, a component and a stack) copied to PostgreSQL and from there to a new SQLite file:
// every row of every table is the same in all three, and `baton runs show` / `baton artifacts`
// answer the same on each.
TEST_F(PostgresWorkspaces, StoreMigrateCopiesAHistoryToPostgresAndBackLosslessly) {
  TempDir ws, out;
  ASSERT_EQ(RunBaton(ws.path(), {"init"}).exit_code, 0);
  ws.Write("pipeline.yaml", kMigratePipeline);
  auto r = RunBaton(ws.path(), {"run", "pipeline.yaml", "-p", "fail=1", "-o", "json"});
  ASSERT_EQ(r.exit_code, 1) << Describe(r);  // check fails
  const std::string failed_run = Json::parse(r.out).value("run", "");
  r = RunBaton(ws.path(), {"run", "pipeline.yaml", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Json::parse(r.out).value("cached", -1), 2) << r.out;  // prep and train
  const std::string second_run = Json::parse(r.out).value("run", "");
  r = RunBaton(ws.path(), {"run", "pipeline.yaml", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Json::parse(r.out).value("cached", -1), 3) << r.out;
  ASSERT_EQ(RunBaton(ws.path(),
                     {"orchestrator", "register", "fast", "--flavor", "local", "--set", "jobs=2"})
                .exit_code,
            0);
  ASSERT_EQ(RunBaton(ws.path(), {"stack", "register", "quick", "--orchestrator", "fast"}).exit_code,
            0);

  // The server's users and tokens come along.
  r = RunBaton(ws.path(), {"server", "user", "add", "ada", "--role", "admin"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string sqlite = SqliteUri(ws.path() + "/.baton/baton.db");
  const std::string pg = FreshUri();
  const std::string back = SqliteUri(out.path() + "/copy.db");
  r = RunBaton(ws.path(), {"store", "migrate", sqlite, pg});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "3 runs")) << r.out;
  EXPECT_TRUE(Contains(r.out, "1 server users with 1 tokens")) << r.out;
  r = RunBaton(ws.path(), {"store", "migrate", pg, back});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);

  const Dump original = Export(sqlite);
  ASSERT_FALSE(original.empty());
  std::set<std::string> tables;
  for (const auto& [t, row] : original) tables.insert(t);
  EXPECT_EQ(tables, (std::set<std::string>{"artifacts", "components", "pipelines", "runs",
                                           "settings", "snapshots", "stacks", "step_inputs",
                                           "step_outputs", "step_runs", "tokens", "users"}));
  ExpectSameRows(original, Export(pg), "sqlite -> postgresql");
  ExpectSameRows(original, Export(back), "sqlite -> postgresql -> sqlite");

  // The same answers from every copy, through the baton command.
  std::vector<std::vector<std::string>> commands = {{"runs", "list", "-o", "json"},
                                                    {"artifacts", "list", "-o", "json"},
                                                    {"runs", "show", failed_run, "-o", "json"},
                                                    {"runs", "show", second_run, "-o", "json"},
                                                    {"runs", "show", "last", "-o", "json"},
                                                    {"stack", "list", "-o", "json"}};
  for (const auto& args : commands) {
    auto want = RunBaton(ws.path(), args);
    ASSERT_EQ(want.exit_code, 0) << Describe(want);
    for (const std::string& uri : {pg, back}) {
      auto got = RunBaton(ws.path(), args, {"BATON_METADATA_URI=" + uri});
      EXPECT_EQ(got.exit_code, 0) << Describe(got);
      EXPECT_EQ(Json::parse(got.out, nullptr, false), Json::parse(want.out, nullptr, false))
          << args[0] << " " << args[1] << " on " << uri;
    }
  }
  // Lineage of an artifact through the copy: its producer and its consumers.
  Json arts = Json::parse(RunBaton(ws.path(), {"artifacts", "list", "-o", "json"}).out);
  ASSERT_FALSE(arts.empty());
  const std::string first = std::to_string(arts.back().value("id", 0));
  auto want = RunBaton(ws.path(), {"artifacts", "show", first, "-o", "json"});
  auto got =
      RunBaton(ws.path(), {"artifacts", "show", first, "-o", "json"}, {"BATON_METADATA_URI=" + pg});
  EXPECT_EQ(Json::parse(got.out, nullptr, false), Json::parse(want.out, nullptr, false)) << got.out;

  // A store that holds anything is never a target; bad input is exit code 2.
  r = RunBaton(ws.path(), {"store", "migrate", sqlite, pg});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "not empty")) << Describe(r);
  ExpectSameRows(original, Export(pg), "after a refused migrate");
  EXPECT_EQ(RunBaton(ws.path(), {"store", "migrate", "not a uri", pg}).exit_code, 2);
  EXPECT_EQ(
      RunBaton(ws.path(), {"store", "migrate", sqlite, "postgresql://u:pw@127.0.0.1/x"}).exit_code,
      2);
  EXPECT_EQ(
      RunBaton(ws.path(), {"store", "migrate", SqliteUri(out.path() + "/absent.db"), pg}).exit_code,
      2);
  EXPECT_FALSE(fs::Exists(out.path() + "/absent.db"));
}

}  // namespace
}  // namespace baton::testing
