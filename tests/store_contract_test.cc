// Contract suites of the store interfaces (baton/metadata_store.h, baton/artifact_store.h): every
// implementation, opened by URI through the store registry, answers the same questions the same
// way: round-trips, error codes, batches, concurrent writers, a process dying between two writes,
// a missing or corrupted object.
//
// A store joins a suite by appending one entry to MetadataStoreKinds() or ArtifactStoreKinds():
// a name and a function that makes a fresh, empty store and returns its URI (an artifact store
// also says how to damage a stored object behind its back). A store that needs a server can
// instead be named when the tests run:
//   BATON_TEST_METADATA_URIS  metadata store URIs, separated by spaces or commas
//   BATON_TEST_ARTIFACT_URIS  artifact store URIs, the same way
// Each such URI must contain `{ns}`, which every test replaces by a name of its own (a database,
// a schema, a key prefix), so that each test starts from an empty store. Unset, they add nothing.
//
// The server store (`baton server`'s store API, metadata URIs https:// and http://) is a kind of
// its own, `server`: each test starts a server over a SQLite file of its own.
//
// The PostgreSQL store is a kind of its own, `postgresql`, on the server named by
// BATON_TEST_POSTGRES_URI (scripts/setup-postgres.sh prints one): each test gets a schema of its
// own (`schema=` of the store URI), dropped afterwards. Its tests are listed whatever the
// environment; without the variable they skip, or fail where CI is set.
//
// The S3 store is a kind of its own, `s3`, on the server named by BATON_TEST_S3_ENDPOINT (keys in
// BATON_TEST_S3_ACCESS_KEY and BATON_TEST_S3_SECRET_KEY; scripts/setup-ceph-rgw.sh prints all
// three): each test gets a key prefix of its own. Listed, skipped or failing the same way.

#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <chrono>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "baton/artifact_store.h"
#include "baton/hash.h"
#include "baton/metadata_store.h"
#include "baton/run_status.h"
#include "baton/status.h"
#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/hash.h"
#include "store/postgres_db.h"
#include "store/registry.h"
#include "store/s3/s3_client.h"
#include "store/s3/s3_options.h"
#include "test_util.h"

namespace baton::testing {
namespace {

// ---- store kinds ----

// Where one test's store lives. Whatever `dir` holds is removed with the home.
struct StoreHome {
  std::string uri;
  std::string root;              // the store's directory on this machine, "" for other stores
  std::shared_ptr<TempDir> dir;  // local files of the store, if any
  std::shared_ptr<void> server;  // removes what the store holds on a server, if any, when it goes
};

using HomeFactory = std::function<Result<StoreHome>()>;

// A metadata store implementation under the contract.
struct MetadataStoreKind {
  std::string name;   // in test names: [A-Za-z0-9_]
  HomeFactory fresh;  // a new, empty store; two Open calls on its URI are independent instances
  // Why the store cannot be tested here ("" when it can; null for stores that always can): its
  // tests then skip, or fail where CI is set.
  std::function<std::string()> unavailable;
};

// An artifact store implementation under the contract.
struct ArtifactStoreKind {
  std::string name;
  HomeFactory fresh;
  // Changes the stored bytes of object `digest` behind the store's back, as a step with write
  // access, a failing disk or a person could; null where the test has no way to.
  std::function<Status(const StoreHome&, const std::string& digest)> corrupt;
  // Whether Get checks the content against the digest before handing out a path (the read cache
  // of a remote store does; a store on this machine's filesystem hands out the object itself).
  bool get_verifies = false;
  // Why the store cannot be tested here ("" when it can; null for stores that always can): its
  // tests then skip, or fail where CI is set.
  std::function<std::string()> unavailable;
};

void PrintTo(const MetadataStoreKind& k, std::ostream* os) { *os << k.name; }
void PrintTo(const ArtifactStoreKind& k, std::ostream* os) { *os << k.name; }

// A name no other test uses: lowercase letters, digits and '_', so that it is a valid database,
// schema or object-key prefix.
std::string FreshNamespace() {
  static std::atomic<int> counter{0};
  return "baton_test_" + std::to_string(::getpid()) + "_" +
         std::to_string(NowMicros() % 1000000000) + "_" + std::to_string(counter++);
}

std::vector<std::string> SplitUris(const char* text) {
  std::vector<std::string> out;
  std::string cur;
  for (const char* p = text; p != nullptr && *p != '\0'; ++p) {
    if (*p == ' ' || *p == ',' || *p == '\n' || *p == '\t') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += *p;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// A test name for the i-th URI of an environment variable.
std::string EnvKindName(size_t i, const std::string& uri) {
  std::string scheme = uri.substr(0, uri.find(':'));
  std::string name = "env" + std::to_string(i) + "_";
  for (char c : scheme) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

// Fresh homes on a store named by a URI template from the environment.
HomeFactory FromTemplate(const std::string& uri_template) {
  return [uri_template]() -> Result<StoreHome> {
    size_t at = uri_template.find("{ns}");
    if (at == std::string::npos)
      return InvalidArgument("store URI " + uri_template +
                             " has no {ns}: every test needs an empty store of its own");
    std::string uri = uri_template;
    const std::string ns = FreshNamespace();
    for (; at != std::string::npos; at = uri.find("{ns}", at + ns.size())) uri.replace(at, 4, ns);
    return StoreHome{uri, "", nullptr, nullptr};
  };
}

// The PostgreSQL server the tests use, "" when none is named.
std::string PostgresTestUri() {
  const char* uri = std::getenv("BATON_TEST_POSTGRES_URI");
  return uri ? uri : "";
}

// A fresh schema on the test server, dropped (with everything in it) when the home goes.
Result<StoreHome> FreshPostgresHome() {
  const std::string base = PostgresTestUri();
  const std::string schema = FreshNamespace();
  StoreHome home{base + (base.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema, "", nullptr, nullptr};
  BATON_ASSIGN_OR_RETURN(StoreUri parsed, StoreUri::Parse(home.uri));
  BATON_ASSIGN_OR_RETURN(PgTarget target, ParsePostgresUri(parsed));
  home.server = std::shared_ptr<void>(nullptr, [target, schema](void*) {
    PgDb db;
    if (db.Open(target).ok()) (void)db.ExecScript("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
  });
  return home;
}

std::vector<MetadataStoreKind> MetadataStoreKinds() {
  std::vector<MetadataStoreKind> kinds = {
      {"sqlite",
       []() -> Result<StoreHome> {
         auto dir = std::make_shared<TempDir>();
         return StoreHome{SqliteUri(dir->path() + "/baton.db"), dir->path(), dir, nullptr};
       },
       nullptr},
      // The store behind `baton server` (https://, http:// on loopback), here on SQLite: every
      // call crosses HTTP to the server's store API and back. Batches left open by a client
      // that died are rolled back after a second.
      {"server",
       []() -> Result<StoreHome> {
         auto dir = std::make_shared<TempDir>();
         std::string error;
         std::shared_ptr<TestServer> server = TestServer::Start(
             dir->path(), SqliteUri(dir->path() + "/baton.db"), {"--batch-timeout", "1"}, &error);
         if (!server) return Internal(error);
         return StoreHome{server->StoreUri(), "", dir, server};
       },
       nullptr},
      {"postgresql", FreshPostgresHome,
       []() -> std::string {
         if (!PostgresTestUri().empty()) return "";
         return "no PostgreSQL server to test against: set BATON_TEST_POSTGRES_URI "
                "(scripts/setup-postgres.sh starts one and prints it)";
       }},
  };
  const auto uris = SplitUris(std::getenv("BATON_TEST_METADATA_URIS"));
  for (size_t i = 0; i < uris.size(); ++i)
    kinds.push_back({EnvKindName(i, uris[i]), FromTemplate(uris[i]), nullptr});
  return kinds;
}

// The local store keeps an object at ROOT/sha256/<2 hex>/<digest>: a file, or a read-only tree.
Status CorruptLocalObject(const StoreHome& home, const std::string& digest) {
  const std::string p = home.root + "/sha256/" + digest.substr(0, 2) + "/" + digest;
  if (fs::IsDir(p)) {
    BATON_RETURN_IF_ERROR(fs::Chmod(p, 0755));
    return fs::WriteFile(p + "/planted", "not part of the object\n");
  }
  BATON_RETURN_IF_ERROR(fs::Chmod(p, 0644));
  return fs::WriteFile(p, "flipped bits\n");
}

// The S3 store on the server named by BATON_TEST_S3_ENDPOINT, with the keys in
// BATON_TEST_S3_ACCESS_KEY and BATON_TEST_S3_SECRET_KEY (scripts/setup-ceph-rgw.sh starts one and
// prints them): each test gets a key prefix of its own in the bucket baton-contract, and a read
// cache and staging directory of its own.
std::string S3Unavailable() {
  for (const char* name : {"BATON_TEST_S3_ENDPOINT", "BATON_TEST_S3_ACCESS_KEY", "BATON_TEST_S3_SECRET_KEY"}) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0')
      return "no S3 server to test against: set BATON_TEST_S3_ENDPOINT, BATON_TEST_S3_ACCESS_KEY and "
             "BATON_TEST_S3_SECRET_KEY (scripts/setup-ceph-rgw.sh starts one and prints them)";
  }
  return "";
}

// The options of an s3:// URI and a client of its server, to reach objects behind the store.
Result<std::pair<s3::StoreOptions, std::shared_ptr<s3::Client>>> S3ClientOf(const std::string& uri) {
  BATON_ASSIGN_OR_RETURN(StoreUri parsed, StoreUri::Parse(uri));
  BATON_ASSIGN_OR_RETURN(s3::StoreOptions options, s3::ParseStoreOptions(parsed, *PosixEnv()));
  auto client = std::make_shared<s3::Client>(options.client);
  return std::make_pair(std::move(options), std::move(client));
}

Result<StoreHome> FreshS3Home() {
  if (std::string problem = S3GatewayProblem(std::getenv("BATON_TEST_S3_ENDPOINT"));
      !problem.empty())
    return Unavailable(problem);
  auto dir = std::make_shared<TempDir>();
  const std::string uri = "s3://baton-contract/" + FreshNamespace() +
                          "?endpoint=" + std::getenv("BATON_TEST_S3_ENDPOINT") +
                          "&access_key_env=BATON_TEST_S3_ACCESS_KEY&secret_key_env=BATON_TEST_S3_SECRET_KEY" +
                          "&cache=" + dir->path() + "/cache&staging=" + dir->path() + "/staging";
  BATON_ASSIGN_OR_RETURN(auto reach, S3ClientOf(uri));
  BATON_RETURN_IF_ERROR(reach.second->CreateBucket(reach.first.bucket));
  // The objects under the test's prefix go with the home.
  auto cleanup = [reach](void*) {
    const auto& [options, client] = reach;
    auto keys = client->ListObjects(options.bucket, options.prefix + "/");
    if (keys.ok())
      for (const auto& k : *keys) (void)client->DeleteObject(options.bucket, k);
  };
  return StoreHome{uri, "", dir, std::shared_ptr<void>(nullptr, cleanup)};
}

// Overwrites the object's bytes (PREFIX/sha256/<2 hex>/<digest>) with a raw PUT that keeps its
// metadata, so that only the content is wrong.
Status CorruptS3Object(const StoreHome& home, const std::string& digest) {
  BATON_ASSIGN_OR_RETURN(auto reach, S3ClientOf(home.uri));
  const auto& [options, client] = reach;
  const std::string key = options.prefix + "/sha256/" + digest.substr(0, 2) + "/" + digest;
  s3::Request head;
  head.method = "HEAD";
  head.bucket = options.bucket;
  head.key = key;
  BATON_ASSIGN_OR_RETURN(s3::Response found, client->Send(head));
  s3::Headers metadata;
  for (const char* name : {"x-amz-meta-baton-kind", "x-amz-meta-baton-size"})
    if (!found.Header(name).empty()) metadata.emplace_back(name, found.Header(name));
  return client->PutObject(options.bucket, key, "flipped bits\n", metadata);
}

std::vector<ArtifactStoreKind> ArtifactStoreKinds() {
  std::vector<ArtifactStoreKind> kinds = {
      {"file",
       []() -> Result<StoreHome> {
         auto dir = std::make_shared<TempDir>();
         const std::string root = dir->path() + "/artifacts";
         return StoreHome{FileUri(root), root, dir, nullptr};
       },
       CorruptLocalObject, false, nullptr},
      {"s3", FreshS3Home, CorruptS3Object, true, S3Unavailable},
  };
  const auto uris = SplitUris(std::getenv("BATON_TEST_ARTIFACT_URIS"));
  for (size_t i = 0; i < uris.size(); ++i)
    kinds.push_back({EnvKindName(i, uris[i]), FromTemplate(uris[i]), nullptr, true, nullptr});
  return kinds;
}

// ---- assertions on Status and Result ----

template <typename T>
Status StatusOf(const Result<T>& r) {
  return r.status();
}
Status StatusOf(const Status& s) { return s; }

::testing::AssertionResult HasCode(const Status& s, Code code) {
  if (s.code() == code) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected " << CodeName(code) << ", got "
                                       << (s.ok() ? std::string("ok") : s.ToString());
}

#define EXPECT_OK(expr) EXPECT_TRUE(HasCode(StatusOf(expr), Code::kOk)) << #expr
#define ASSERT_OK(expr) ASSERT_TRUE(HasCode(StatusOf(expr), Code::kOk)) << #expr
#define EXPECT_CODE(expr, code) EXPECT_TRUE(HasCode(StatusOf(expr), code)) << #expr

// ---- metadata records ----

std::string Digest(const std::string& seed) { return Sha256Hex(seed); }

std::string SnapshotOf(const std::string& pipeline) { return Digest("snapshot of " + pipeline); }

RunRecord MakeRun(const std::string& id, const std::string& pipeline = "p",
                  int64_t created_at = 1000) {
  RunRecord r;
  r.id = id;
  r.pipeline = pipeline;
  r.snapshot_hash = SnapshotOf(pipeline);
  r.status = RunStatus::kRunning;
  r.created_at = created_at;
  r.started_at = created_at + 1;
  r.host = "host-a";
  r.pid = 4242;
  r.pid_start = 777;
  r.parameters = R"({"lr":0.1})";
  r.pipeline_file = "/work/" + pipeline + ".yaml";
  return r;
}

// Stores the run's snapshot (runs name one), then the run.
Status AddRun(MetadataStore& m, const RunRecord& r) {
  BATON_RETURN_IF_ERROR(
      m.PutSnapshot(r.snapshot_hash, r.pipeline, "{\"name\":\"" + r.pipeline + "\"}"));
  return m.CreateRun(r);
}

StepRunRecord MakeStep(const std::string& run_id, const std::string& step, int attempt = 1) {
  StepRunRecord s;
  s.run_id = run_id;
  s.step = step;
  s.attempt = attempt;
  s.status = StepStatus::kRunning;
  s.started_at = 2000 + attempt;
  s.log_path = "/logs/" + run_id + "/" + step + "." + std::to_string(attempt) + ".log";
  s.cache_key = Digest("key of " + step);
  s.pid = 31337;
  s.command = "python " + step + ".py";
  s.cache_components = R"({"command":"python"})";
  return s;
}

ArtifactRecord MakeArtifact(const std::string& run_id, const std::string& pipeline,
                            const std::string& step, const std::string& name,
                            const std::string& content) {
  ArtifactRecord a;
  a.run_id = run_id;
  a.pipeline = pipeline;
  a.step = step;
  a.name = name;
  a.digest = Digest(content);
  a.size = static_cast<int64_t>(content.size());
  a.kind = "file";
  a.uri = "file:///store/sha256/" + a.digest;
  a.created_at = 5000;
  a.materializer = "text";
  a.type = "std::string";
  return a;
}

// Ends step run `rec` (as started) with `status`, new artifacts, reused outputs and inputs.
Status Finish(MetadataStore& m, StepRunRecord rec, StepStatus status,
              std::vector<ArtifactRecord>* arts = nullptr,
              const std::vector<OutputUse>& reused = {}, const std::vector<InputUse>& inputs = {}) {
  std::vector<ArtifactRecord> none;
  rec.status = status;
  rec.ended_at = rec.started_at + 100;
  rec.exit_code = status == StepStatus::kCompleted ? 0 : 1;
  return m.FinishStepRun(rec, arts ? arts : &none, reused, inputs);
}

std::vector<std::string> RunIds(const std::vector<RunRecord>& runs) {
  std::vector<std::string> ids;
  for (const auto& r : runs) ids.push_back(r.id);
  return ids;
}

std::vector<int64_t> StepIds(const std::vector<StepRunRecord>& steps) {
  std::vector<int64_t> ids;
  for (const auto& s : steps) ids.push_back(s.id);
  return ids;
}

std::vector<std::string> StackNames(const std::vector<StackRecord>& stacks) {
  std::vector<std::string> names;
  for (const auto& s : stacks) names.push_back(s.name);
  return names;
}

constexpr RunStatus kAllRunStatuses[] = {RunStatus::kPending,   RunStatus::kRunning,
                                         RunStatus::kCompleted, RunStatus::kFailed,
                                         RunStatus::kStopped,   RunStatus::kInterrupted};
constexpr StepStatus kAllStepStatuses[] = {
    StepStatus::kRunning, StepStatus::kCompleted, StepStatus::kCached,     StepStatus::kFailed,
    StepStatus::kSkipped, StepStatus::kStopped,   StepStatus::kInterrupted};

// ---- MetadataStoreContract ----

// Runs in a child process: opens the store, writes some records, begins a batch, writes (new
// records and changes to committed ones) and then dies without ending it, by _exit or, when
// `ready_fd` is open, by the SIGKILL the parent sends once the child says it is ready. Exit codes
// above 0 name the write that failed.
[[noreturn]] void WriteInABatchThenDie(const std::string& uri, int ready_fd) {
  auto opened = Stores().OpenMetadataStore(uri);
  if (!opened.ok()) ::_exit(10);
  MetadataStore& m = **opened;
  if (!m.BeginBatch().ok()) ::_exit(11);
  if (!AddRun(m, MakeRun("crashed", "crash-pipeline")).ok()) ::_exit(12);
  StepRunRecord s = MakeStep("crashed", "train");
  auto id = m.StartStepRun(s);
  if (!id.ok()) ::_exit(13);
  s.id = *id;
  std::vector<ArtifactRecord> arts = {
      MakeArtifact("crashed", "crash-pipeline", "train", "model", "lost")};
  if (!Finish(m, s, StepStatus::kCompleted, &arts).ok()) ::_exit(14);
  if (!m.UpdateRunStatus("committed", RunStatus::kCompleted, "lost", 123).ok()) ::_exit(15);
  if (!m.CreateComponent({"orchestrator", "lost", "local", "{}", 0, 0}).ok()) ::_exit(16);
  if (!m.SetSetting("active_stack", "lost").ok()) ::_exit(17);
  if (!m.DeleteStack("kept").ok()) ::_exit(18);
  if (ready_fd >= 0) {
    char c = 'r';
    if (::write(ready_fd, &c, 1) != 1) ::_exit(19);
    for (;;) ::pause();
  }
  ::_exit(0);
}

class MetadataStoreContract : public ::testing::TestWithParam<MetadataStoreKind> {
 protected:
  void SetUp() override {
    if (GetParam().unavailable) {
      const std::string why = GetParam().unavailable();
      const char* ci = std::getenv("CI");
      if (!why.empty() && ci != nullptr && *ci != '\0') FAIL() << why << " (CI must test every store)";
      if (!why.empty()) GTEST_SKIP() << why;
    }
    auto home = GetParam().fresh();
    ASSERT_TRUE(home.ok()) << home.status().ToString();
    home_ = std::move(*home);
    store_ = Open();
    ASSERT_NE(store_, nullptr);
  }

  // Another instance on the same URI, independent of store_ (its own connection).
  std::unique_ptr<MetadataStore> Open() {
    auto s = Stores().OpenMetadataStore(home_.uri);
    EXPECT_TRUE(s.ok()) << home_.uri << ": " << s.status().ToString();
    if (!s.ok()) return nullptr;
    return std::move(*s);
  }

  MetadataStore& m() { return *store_; }

  // Commits some records, lets a child die inside a batch, and checks that the store has exactly
  // the committed records and takes new writes from any instance.
  void CrashAndCheck(bool sigkill) {
    ASSERT_OK(AddRun(m(), MakeRun("committed")));
    ASSERT_OK(m().CreateStack({"kept", "default", "default", 0, 0}));
    // No connection of this process's crosses the fork.
    store_.reset();
    int pipe_fds[2] = {-1, -1};
    if (sigkill) {
      ASSERT_EQ(::pipe(pipe_fds), 0);
    }
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      if (sigkill) ::close(pipe_fds[0]);
      WriteInABatchThenDie(home_.uri, sigkill ? pipe_fds[1] : -1);
    }
    int status = 0;
    if (sigkill) {
      ::close(pipe_fds[1]);
      char c = 0;
      ssize_t n = ::read(pipe_fds[0], &c, 1);
      ::close(pipe_fds[0]);
      if (n == 1) ::kill(pid, SIGKILL);
    }
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    if (sigkill) {
      ASSERT_TRUE(WIFSIGNALED(status))
          << "the child failed before it was killed: exit " << WEXITSTATUS(status);
      EXPECT_EQ(WTERMSIG(status), SIGKILL);
    } else {
      ASSERT_TRUE(WIFEXITED(status));
      ASSERT_EQ(WEXITSTATUS(status), 0) << "the child's write failed";
    }

    store_ = Open();
    ASSERT_NE(store_, nullptr);
    ASSERT_OK_AND_ASSIGN(RunRecord committed, m().GetRun("committed"));
    EXPECT_EQ(committed.status, RunStatus::kRunning);
    EXPECT_EQ(committed.reason, "");
    EXPECT_CODE(m().GetRun("crashed"), Code::kNotFound);
    EXPECT_TRUE(m().ListStepRuns("crashed")->empty());
    EXPECT_TRUE(m().ListArtifacts("", 0)->empty());
    EXPECT_TRUE(m().ListRuns("crash-pipeline", 0)->empty());
    EXPECT_CODE(m().GetComponent("orchestrator", "lost"), Code::kNotFound);
    EXPECT_EQ(*m().GetSetting("active_stack", "unset"), "default");
    EXPECT_OK(m().GetStack("kept"));
    // Usable: writes from this instance, in and out of batches, and from another.
    ASSERT_OK(AddRun(m(), MakeRun("crashed", "crash-pipeline")));
    ASSERT_OK(m().BeginBatch());
    StepRunRecord s = MakeStep("crashed", "train");
    ASSERT_OK_AND_ASSIGN(s.id, m().StartStepRun(s));
    std::vector<ArtifactRecord> arts = {
        MakeArtifact("crashed", "crash-pipeline", "train", "model", "kept")};
    ASSERT_OK(Finish(m(), s, StepStatus::kCompleted, &arts));
    ASSERT_OK(m().EndBatch());
    EXPECT_EQ(arts[0].version, 1);
    auto other = Open();
    ASSERT_NE(other, nullptr);
    EXPECT_OK(other->UpdateRunStatus("committed", RunStatus::kCompleted, "", 1));
    EXPECT_EQ(m().GetRun("committed")->status, RunStatus::kCompleted);
  }

  StoreHome home_;
  std::unique_ptr<MetadataStore> store_;
};

TEST_P(MetadataStoreContract, NewStoreHoldsTheDefaultStackAndNothingElse) {
  ASSERT_OK_AND_ASSIGN(StackRecord stack, m().GetStack("default"));
  EXPECT_EQ(stack.orchestrator, "default");
  EXPECT_EQ(stack.artifact_store, "default");
  ASSERT_OK_AND_ASSIGN(ComponentRecord orch, m().GetComponent("orchestrator", "default"));
  EXPECT_EQ(orch.flavor, "local");
  ASSERT_OK_AND_ASSIGN(ComponentRecord arts, m().GetComponent("artifact_store", "default"));
  EXPECT_EQ(arts.flavor, "local");
  EXPECT_EQ(*m().GetSetting("active_stack", "none"), "default");
  EXPECT_TRUE(m().ListRuns("", 0)->empty());
  EXPECT_TRUE(m().ListArtifacts("", 0)->empty());
  EXPECT_TRUE(m().ListPlugins()->empty());
  EXPECT_EQ(StackNames(*m().ListStacks()), std::vector<std::string>{"default"});
  // Opening again migrates nothing and changes nothing.
  auto again = Open();
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(StackNames(*again->ListStacks()), std::vector<std::string>{"default"});
}

TEST_P(MetadataStoreContract, SnapshotsAreKeyedByHashAndStoredOnce) {
  const std::string h = Digest("body 1");
  ASSERT_OK(m().PutSnapshot(h, "p", "body 1"));
  EXPECT_OK(m().PutSnapshot(h, "p", "body 1"));
  EXPECT_OK(m().PutSnapshot(h, "p", "another body"));  // a no-op: the first body stays
  EXPECT_EQ(*m().GetSnapshot(h), "body 1");
  EXPECT_CODE(m().GetSnapshot(Digest("absent")), Code::kNotFound);
  const std::string big(1 << 20, 'x');
  ASSERT_OK(m().PutSnapshot(Digest(big), "p", big));
  EXPECT_EQ(*m().GetSnapshot(Digest(big)), big);
}

TEST_P(MetadataStoreContract, RunsRoundTripEveryField) {
  RunRecord r = MakeRun("p-20240101-000000-abcd");
  r.status = RunStatus::kFailed;
  r.reason = "could not start";
  r.ended_at = 5000;
  r.stack = "gpu";
  r.orchestrator = "slurm";
  r.attempt = 3;
  ASSERT_OK(AddRun(m(), r));
  ASSERT_OK_AND_ASSIGN(RunRecord got, m().GetRun(r.id));
  EXPECT_EQ(got.id, r.id);
  EXPECT_EQ(got.pipeline, r.pipeline);
  EXPECT_EQ(got.snapshot_hash, r.snapshot_hash);
  EXPECT_EQ(got.status, r.status);
  EXPECT_EQ(got.reason, r.reason);
  EXPECT_EQ(got.created_at, r.created_at);
  EXPECT_EQ(got.started_at, r.started_at);
  EXPECT_EQ(got.ended_at, 5000);
  EXPECT_EQ(got.stack, "gpu");
  EXPECT_EQ(got.orchestrator, "slurm");
  EXPECT_EQ(got.host, r.host);
  EXPECT_EQ(got.pid, r.pid);
  EXPECT_EQ(got.pid_start, r.pid_start);
  EXPECT_EQ(got.attempt, 3);
  EXPECT_EQ(got.parameters, r.parameters);
  EXPECT_EQ(got.pipeline_file, r.pipeline_file);
  EXPECT_TRUE(got.tags.empty());
  EXPECT_EQ(got.note, "");
  EXPECT_TRUE(got.use_cache);
  EXPECT_EQ(got.schedule, "");
  RunRecord labelled = MakeRun("labelled");
  labelled.tags = {"baseline", "lr=0.1"};
  labelled.note = "first try, with\nthe old data";
  labelled.use_cache = false;
  labelled.schedule = "nightly";
  ASSERT_OK(AddRun(m(), labelled));
  ASSERT_OK_AND_ASSIGN(got, m().GetRun("labelled"));
  EXPECT_EQ(got.tags, labelled.tags);
  EXPECT_EQ(got.note, labelled.note);
  EXPECT_FALSE(got.use_cache);
  EXPECT_EQ(got.schedule, "nightly");
  EXPECT_FALSE(m().ListRuns("", 0)->at(0).use_cache);
}

TEST_P(MetadataStoreContract, SetRunLabelsReplacesTagsAndNote) {
  RunRecord r = MakeRun("r1");
  r.tags = {"old"};
  ASSERT_OK(AddRun(m(), r));
  ASSERT_OK(m().SetRunLabels("r1", {"a", "b:c"}, "kept the best model"));
  ASSERT_OK_AND_ASSIGN(RunRecord got, m().GetRun("r1"));
  EXPECT_EQ(got.tags, (std::vector<std::string>{"a", "b:c"}));
  EXPECT_EQ(got.note, "kept the best model");
  EXPECT_EQ(got.status, r.status);  // nothing else changes
  EXPECT_EQ(got.parameters, r.parameters);
  ASSERT_OK(m().SetRunLabels("r1", {}, ""));
  EXPECT_TRUE(m().GetRun("r1")->tags.empty());
  EXPECT_EQ(m().GetRun("r1")->note, "");
  EXPECT_CODE(m().SetRunLabels("r1", {"two words"}, ""), Code::kInvalidArgument);
  EXPECT_CODE(m().SetRunLabels("r1", {""}, ""), Code::kInvalidArgument);
  RunRecord bad = MakeRun("r2");
  bad.tags = {"tab\there"};
  EXPECT_CODE(AddRun(m(), bad), Code::kInvalidArgument);
  EXPECT_CODE(m().GetRun("r2"), Code::kNotFound);
  EXPECT_CODE(m().SetRunLabels("nosuch", {"a"}, ""), Code::kNotFound);
}

TEST_P(MetadataStoreContract, DeleteRunRemovesItsRecordsAndNothingElse) {
  // r1 trains and evaluates; r2 reuses r1's model from the cache; r3 stands alone.
  ASSERT_OK(AddRun(m(), MakeRun("r1", "p", 100)));
  StepRunRecord train = MakeStep("r1", "train");
  ASSERT_OK_AND_ASSIGN(train.id, m().StartStepRun(train));
  std::vector<ArtifactRecord> model = {MakeArtifact("r1", "p", "train", "model", "m1")};
  ASSERT_OK(Finish(m(), train, StepStatus::kCompleted, &model));
  StepRunRecord eval = MakeStep("r1", "eval");
  ASSERT_OK_AND_ASSIGN(eval.id, m().StartStepRun(eval));
  std::vector<ArtifactRecord> report = {MakeArtifact("r1", "p", "eval", "report", "rep1")};
  ASSERT_OK(Finish(m(), eval, StepStatus::kCompleted, &report, {}, {{"m", model[0].id}}));
  ASSERT_OK(m().UpdateRunStatus("r1", RunStatus::kCompleted, "", 300));

  ASSERT_OK(AddRun(m(), MakeRun("r2", "p", 400)));
  StepRunRecord cached = MakeStep("r2", "train");
  ASSERT_OK_AND_ASSIGN(cached.id, m().StartStepRun(cached));
  cached.cached_from = train.id;
  ASSERT_OK(Finish(m(), cached, StepStatus::kCached, nullptr, {{"model", model[0].id}}));
  ASSERT_OK(m().UpdateRunStatus("r2", RunStatus::kCompleted, "", 500));

  ASSERT_OK(AddRun(m(), MakeRun("r3", "p", 600)));
  StepRunRecord alone = MakeStep("r3", "train");
  ASSERT_OK_AND_ASSIGN(alone.id, m().StartStepRun(alone));
  std::vector<ArtifactRecord> model3 = {MakeArtifact("r3", "p", "train", "model", "m3")};
  ASSERT_OK(Finish(m(), alone, StepStatus::kCompleted, &model3));
  // r3 is still running: it cannot go.
  EXPECT_CODE(m().DeleteRun("r3"), Code::kFailedPrecondition);

  std::vector<std::string> all = {model[0].digest, report[0].digest, model3[0].digest};
  std::sort(all.begin(), all.end());
  EXPECT_EQ(*m().ArtifactDigests(), all);

  EXPECT_EQ(*m().RunUsers("r1"), (std::vector<std::string>{"r2"}));
  EXPECT_TRUE(m().RunUsers("r2")->empty());
  EXPECT_CODE(m().RunUsers("nosuch"), Code::kNotFound);
  // r2 reuses r1's model: r1 stays, whole, and the refusal names r2.
  Status refused = m().DeleteRun("r1");
  EXPECT_EQ(refused.code(), Code::kFailedPrecondition);
  EXPECT_NE(refused.message().find("r2"), std::string::npos) << refused.message();
  EXPECT_EQ(m().ListStepRuns("r1")->size(), 2u);
  EXPECT_OK(m().GetArtifact(std::to_string(report[0].id)));

  ASSERT_OK(m().DeleteRun("r2"));
  EXPECT_TRUE(m().RunUsers("r1")->empty());
  EXPECT_CODE(m().GetRun("r2"), Code::kNotFound);
  EXPECT_TRUE(m().ListStepRuns("r2")->empty());
  EXPECT_CODE(m().GetStepRun(cached.id), Code::kNotFound);
  EXPECT_EQ(StepIds(*m().Consumers(model[0].id)), (std::vector<int64_t>{eval.id}));
  EXPECT_OK(m().GetArtifact(std::to_string(model[0].id)));  // r1's, not r2's

  ASSERT_OK(m().DeleteRun("r1"));
  EXPECT_CODE(m().GetRun("r1"), Code::kNotFound);
  EXPECT_CODE(m().GetArtifact(std::to_string(model[0].id)), Code::kNotFound);
  EXPECT_CODE(m().GetArtifact(std::to_string(report[0].id)), Code::kNotFound);
  EXPECT_CODE(m().GetStepRun(train.id), Code::kNotFound);
  // A deleted run is no cache hit: r3's step, of the same key, is the only one left.
  ASSERT_OK_AND_ASSIGN(auto hit, m().FindCacheHit(train.cache_key));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->id, alone.id);
  EXPECT_EQ(RunIds(*m().ListRuns("", 0)), (std::vector<std::string>{"r3"}));
  EXPECT_EQ(*m().ArtifactDigests(), (std::vector<std::string>{model3[0].digest}));
  EXPECT_CODE(m().DeleteRun("r1"), Code::kNotFound);

  // The store takes new runs and artifacts after deletes.
  ASSERT_OK(m().UpdateRunStatus("r3", RunStatus::kFailed, "x", 700));
  ASSERT_OK(m().DeleteRun("r3"));
  EXPECT_TRUE(m().ListRuns("", 0)->empty());
  EXPECT_EQ(*m().FindCacheHit(train.cache_key), std::nullopt);
  EXPECT_TRUE(m().ArtifactDigests()->empty());
  ASSERT_OK(AddRun(m(), MakeRun("r4", "p", 800)));
  StepRunRecord again = MakeStep("r4", "train");
  ASSERT_OK_AND_ASSIGN(again.id, m().StartStepRun(again));
  std::vector<ArtifactRecord> model4 = {MakeArtifact("r4", "p", "train", "model", "m4")};
  ASSERT_OK(Finish(m(), again, StepStatus::kCompleted, &model4));
  EXPECT_EQ(*m().ArtifactDigests(), (std::vector<std::string>{model4[0].digest}));
}

TEST_P(MetadataStoreContract, CreateRunRefusesADuplicateIdAndAMissingSnapshot) {
  RunRecord r = MakeRun("r1");
  ASSERT_OK(AddRun(m(), r));
  RunRecord dup = MakeRun("r1", "other");
  dup.reason = "second";
  EXPECT_CODE(AddRun(m(), dup), Code::kAlreadyExists);
  EXPECT_EQ(m().GetRun("r1")->pipeline, "p");
  EXPECT_EQ(m().GetRun("r1")->reason, "");
  RunRecord orphan = MakeRun("r2");
  orphan.snapshot_hash = Digest("never stored");
  EXPECT_CODE(m().CreateRun(orphan), Code::kNotFound);
  EXPECT_CODE(m().GetRun("r2"), Code::kNotFound);
}

TEST_P(MetadataStoreContract, GetRunTakesAnIdAUniquePrefixOrLast) {
  ASSERT_OK(AddRun(m(), MakeRun("train-1", "p", 100)));
  ASSERT_OK(AddRun(m(), MakeRun("train-2", "p", 300)));
  ASSERT_OK(AddRun(m(), MakeRun("eval_1", "q", 200)));
  ASSERT_OK(AddRun(m(), MakeRun("evalX1", "q", 50)));
  ASSERT_OK(AddRun(m(), MakeRun("x", "q", 60)));
  ASSERT_OK(AddRun(m(), MakeRun("x-long", "q", 70)));
  EXPECT_EQ(m().GetRun("train-2")->id, "train-2");
  EXPECT_EQ(m().GetRun("train-1")->id, "train-1");
  EXPECT_CODE(m().GetRun("train"), Code::kInvalidArgument);  // ambiguous
  EXPECT_CODE(m().GetRun("train-3"), Code::kNotFound);
  // Prefixes are literal: '_' and '%' match only themselves.
  EXPECT_EQ(m().GetRun("eval_")->id, "eval_1");
  EXPECT_CODE(m().GetRun("eval%"), Code::kNotFound);
  // An exact id wins over the longer ids it is a prefix of.
  EXPECT_EQ(m().GetRun("x")->id, "x");
  EXPECT_EQ(m().GetRun("x-")->id, "x-long");
  EXPECT_EQ(m().GetRun("last")->id, "train-2");
  EXPECT_EQ(m().GetRun("latest")->id, "train-2");
}

TEST_P(MetadataStoreContract, GetRunLastOnAnEmptyStoreIsNotFound) {
  EXPECT_CODE(m().GetRun("last"), Code::kNotFound);
  EXPECT_CODE(m().GetRun("anything"), Code::kNotFound);
}

TEST_P(MetadataStoreContract, ListRunsIsNewestFirstFilteredAndLimited) {
  ASSERT_OK(AddRun(m(), MakeRun("a", "p1", 10)));
  ASSERT_OK(AddRun(m(), MakeRun("b", "p1", 30)));
  ASSERT_OK(AddRun(m(), MakeRun("c", "p2", 20)));
  ASSERT_OK(AddRun(m(), MakeRun("d", "p1", 20)));
  ASSERT_OK(AddRun(m(), MakeRun("e", "p1", 20)));  // same time as d, created after it
  EXPECT_EQ(RunIds(*m().ListRuns("", 0)), (std::vector<std::string>{"b", "e", "d", "c", "a"}));
  EXPECT_EQ(RunIds(*m().ListRuns("", -1)), (std::vector<std::string>{"b", "e", "d", "c", "a"}));
  EXPECT_EQ(RunIds(*m().ListRuns("p1", 0)), (std::vector<std::string>{"b", "e", "d", "a"}));
  EXPECT_EQ(RunIds(*m().ListRuns("p1", 2)), (std::vector<std::string>{"b", "e"}));
  EXPECT_EQ(RunIds(*m().ListRuns("", 1)), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(m().ListRuns("nosuch", 0)->empty());
}

TEST_P(MetadataStoreContract, UpdateRunStatusEndsTheRunAndClosesItsRunningStepRuns) {
  ASSERT_OK(AddRun(m(), MakeRun("r")));
  ASSERT_OK_AND_ASSIGN(int64_t running, m().StartStepRun(MakeStep("r", "a")));
  StepRunRecord done = MakeStep("r", "b");
  ASSERT_OK_AND_ASSIGN(done.id, m().StartStepRun(done));
  ASSERT_OK(Finish(m(), done, StepStatus::kCompleted));
  // A run that has not ended touches no step run.
  ASSERT_OK(m().UpdateRunStatus("r", RunStatus::kPending, "", 0));
  EXPECT_EQ(m().GetStepRun(running)->status, StepStatus::kRunning);
  ASSERT_OK(m().UpdateRunStatus("r", RunStatus::kRunning, "", 0));
  EXPECT_EQ(m().GetStepRun(running)->status, StepStatus::kRunning);
  ASSERT_OK(m().UpdateRunStatus("r", RunStatus::kFailed, "step b failed", 9000));
  ASSERT_OK_AND_ASSIGN(RunRecord r, m().GetRun("r"));
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_EQ(r.reason, "step b failed");
  EXPECT_EQ(r.ended_at, 9000);
  ASSERT_OK_AND_ASSIGN(StepRunRecord a, m().GetStepRun(running));
  EXPECT_EQ(a.status, StepStatus::kInterrupted);
  EXPECT_EQ(a.reason, "step b failed");
  EXPECT_EQ(a.ended_at, 9000);
  EXPECT_EQ(m().GetStepRun(done.id)->status, StepStatus::kCompleted);
  EXPECT_CODE(m().UpdateRunStatus("nosuch", RunStatus::kFailed, "", 1), Code::kNotFound);
  // A stopped run's steps were stopped with it.
  ASSERT_OK(AddRun(m(), MakeRun("s")));
  ASSERT_OK_AND_ASSIGN(int64_t stopped, m().StartStepRun(MakeStep("s", "a")));
  ASSERT_OK(m().UpdateRunStatus("s", RunStatus::kStopped, "stopped by signal SIGTERM", 7000));
  ASSERT_OK_AND_ASSIGN(StepRunRecord st, m().GetStepRun(stopped));
  EXPECT_EQ(st.status, StepStatus::kStopped);
  EXPECT_EQ(st.reason, "stopped by signal SIGTERM");
}

TEST_P(MetadataStoreContract, ClaimRunTakesOverAnEndedRunOnceAndCountsTheAttempt) {
  RunRecord r = MakeRun("r");
  ASSERT_OK(AddRun(m(), r));
  ASSERT_OK(m().UpdateRunStatus("r", RunStatus::kInterrupted, "baton died", 5000));
  ASSERT_OK(m().ClaimRun("r", 99, 12345, "host-b"));
  ASSERT_OK_AND_ASSIGN(RunRecord got, m().GetRun("r"));
  EXPECT_EQ(got.status, RunStatus::kRunning);
  EXPECT_EQ(got.attempt, 2);
  EXPECT_EQ(got.pid, 99);
  EXPECT_EQ(got.pid_start, 12345);
  EXPECT_EQ(got.host, "host-b");
  EXPECT_EQ(got.reason, "");
  EXPECT_EQ(got.ended_at, 0);
  // A running run is refused, whoever asks; nothing changes.
  EXPECT_CODE(m().ClaimRun("r", 100, 1, "host-c"), Code::kFailedPrecondition);
  auto other = Open();
  ASSERT_NE(other, nullptr);
  EXPECT_CODE(other->ClaimRun("r", 101, 1, "host-d"), Code::kFailedPrecondition);
  ASSERT_OK_AND_ASSIGN(got, m().GetRun("r"));
  EXPECT_EQ(got.attempt, 2);
  EXPECT_EQ(got.pid, 99);
  // Every other state can be claimed.
  for (RunStatus s :
       {RunStatus::kPending, RunStatus::kCompleted, RunStatus::kFailed, RunStatus::kStopped}) {
    ASSERT_OK(m().UpdateRunStatus("r", s, "", 6000));
    EXPECT_OK(m().ClaimRun("r", 99, 12345, "host-b")) << ToString(s);
  }
  EXPECT_EQ(m().GetRun("r")->attempt, 6);
  EXPECT_CODE(m().ClaimRun("nosuch", 1, 1, "h"), Code::kNotFound);
}

TEST_P(MetadataStoreContract, MarkRunInterruptedMarksARunningRunAndItsRunningStepRuns) {
  ASSERT_OK(AddRun(m(), MakeRun("r")));
  ASSERT_OK_AND_ASSIGN(int64_t a, m().StartStepRun(MakeStep("r", "a")));
  StepRunRecord b = MakeStep("r", "b");
  ASSERT_OK_AND_ASSIGN(b.id, m().StartStepRun(b));
  ASSERT_OK(Finish(m(), b, StepStatus::kCompleted));
  ASSERT_OK(m().MarkRunInterrupted("r", "the baton process died"));
  ASSERT_OK_AND_ASSIGN(RunRecord r, m().GetRun("r"));
  EXPECT_EQ(r.status, RunStatus::kInterrupted);
  EXPECT_EQ(r.reason, "the baton process died");
  EXPECT_GT(r.ended_at, 0);
  ASSERT_OK_AND_ASSIGN(StepRunRecord sa, m().GetStepRun(a));
  EXPECT_EQ(sa.status, StepStatus::kInterrupted);
  EXPECT_EQ(sa.reason, "the baton process died");
  EXPECT_GT(sa.ended_at, 0);
  ASSERT_OK_AND_ASSIGN(StepRunRecord sb, m().GetStepRun(b.id));
  EXPECT_EQ(sb.status, StepStatus::kCompleted);
  EXPECT_EQ(sb.reason, "");
  EXPECT_CODE(m().MarkRunInterrupted("nosuch", "x"), Code::kNotFound);
}

TEST_P(MetadataStoreContract, MarkRunInterruptedDoesNothingToARunThatIsNotRunning) {
  for (RunStatus s : kAllRunStatuses) {
    if (s == RunStatus::kRunning) continue;
    const std::string id = std::string("r-") + ToString(s);
    RunRecord run = MakeRun(id);
    run.status = s;
    run.reason = "as it was";
    run.ended_at = Ended(s) ? 4000 : 0;
    ASSERT_OK(AddRun(m(), run));
    // A step run still marked running (a backend's entrypoint may start one after the run ended).
    ASSERT_OK_AND_ASSIGN(int64_t step, m().StartStepRun(MakeStep(id, "a")));
    EXPECT_OK(m().MarkRunInterrupted(id, "should not be recorded"));
    ASSERT_OK_AND_ASSIGN(RunRecord got, m().GetRun(id));
    EXPECT_EQ(got.status, s);
    EXPECT_EQ(got.reason, "as it was");
    EXPECT_EQ(got.ended_at, run.ended_at);
    ASSERT_OK_AND_ASSIGN(StepRunRecord st, m().GetStepRun(step));
    EXPECT_EQ(st.status, StepStatus::kRunning) << ToString(s);
    EXPECT_EQ(st.reason, "") << ToString(s);
  }
}

TEST_P(MetadataStoreContract, RunsWithStatusFindsEveryRunInAState) {
  int i = 0;
  for (RunStatus s : kAllRunStatuses) {
    for (int k = 0; k < 2; ++k) {
      RunRecord r = MakeRun(std::string(ToString(s)) + "-" + std::to_string(k), "p", 100 + i++);
      r.status = s;
      ASSERT_OK(AddRun(m(), r));
    }
  }
  for (RunStatus s : kAllRunStatuses) {
    ASSERT_OK_AND_ASSIGN(auto runs, m().RunsWithStatus(s));
    std::set<std::string> ids;
    for (const auto& r : runs) {
      ids.insert(r.id);
      EXPECT_EQ(r.status, s);
    }
    EXPECT_EQ(ids, (std::set<std::string>{std::string(ToString(s)) + "-0",
                                          std::string(ToString(s)) + "-1"}));
  }
}

TEST_P(MetadataStoreContract, EveryStatusRoundTrips) {
  for (RunStatus s : kAllRunStatuses) {
    RunRecord r = MakeRun(std::string("created-") + ToString(s));
    r.status = s;
    ASSERT_OK(AddRun(m(), r));
    EXPECT_EQ(m().GetRun(r.id)->status, s) << ToString(s);
  }
  ASSERT_OK(AddRun(m(), MakeRun("updated")));
  for (RunStatus s : kAllRunStatuses) {
    ASSERT_OK(m().UpdateRunStatus("updated", s, ToString(s), 7000));
    ASSERT_OK_AND_ASSIGN(RunRecord r, m().GetRun("updated"));
    EXPECT_EQ(r.status, s) << ToString(s);
    EXPECT_EQ(r.reason, ToString(s));
  }
  int attempt = 0;
  for (StepStatus s : kAllStepStatuses) {
    StepRunRecord started = MakeStep("updated", "started", ++attempt);
    started.status = s;
    ASSERT_OK_AND_ASSIGN(int64_t id, m().StartStepRun(started));
    EXPECT_EQ(m().GetStepRun(id)->status, s) << ToString(s);
    StepRunRecord finished = MakeStep("updated", "finished", attempt);
    ASSERT_OK_AND_ASSIGN(finished.id, m().StartStepRun(finished));
    ASSERT_OK(Finish(m(), finished, s));
    EXPECT_EQ(m().GetStepRun(finished.id)->status, s) << ToString(s);
  }
}

TEST_P(MetadataStoreContract, StepRunsRecordStartAndFinish) {
  ASSERT_OK(AddRun(m(), MakeRun("r")));
  StepRunRecord s = MakeStep("r", "train", 1);
  ASSERT_OK_AND_ASSIGN(s.id, m().StartStepRun(s));
  EXPECT_GT(s.id, 0);
  ASSERT_OK_AND_ASSIGN(StepRunRecord got, m().GetStepRun(s.id));
  EXPECT_EQ(got.run_id, "r");
  EXPECT_EQ(got.step, "train");
  EXPECT_EQ(got.attempt, 1);
  EXPECT_EQ(got.status, StepStatus::kRunning);
  EXPECT_EQ(got.started_at, s.started_at);
  EXPECT_EQ(got.ended_at, 0);
  EXPECT_EQ(got.exit_code, -1);
  EXPECT_EQ(got.log_path, s.log_path);
  EXPECT_EQ(got.cache_key, s.cache_key);
  EXPECT_EQ(got.pid, s.pid);
  EXPECT_EQ(got.command, s.command);
  EXPECT_EQ(got.cache_components, s.cache_components);
  // The same attempt of a step cannot start twice.
  EXPECT_CODE(m().StartStepRun(MakeStep("r", "train", 1)), Code::kAlreadyExists);
  // A step run belongs to a stored run.
  EXPECT_CODE(m().StartStepRun(MakeStep("nosuch", "train", 1)), Code::kNotFound);

  StepRunRecord fin = s;
  fin.status = StepStatus::kCompleted;
  fin.reason = "ok";
  fin.ended_at = 9999;
  fin.exit_code = 0;
  fin.cache_key = Digest("final key");
  fin.metadata = R"({"accuracy":0.9})";
  fin.pid = 0;
  // Fields FinishStepRun does not record keep what StartStepRun stored.
  fin.log_path = "ignored";
  fin.command = "ignored";
  fin.started_at = 1;
  std::vector<ArtifactRecord> none;
  ASSERT_OK(m().FinishStepRun(fin, &none, {}, {}));
  ASSERT_OK_AND_ASSIGN(got, m().GetStepRun(s.id));
  EXPECT_EQ(got.status, StepStatus::kCompleted);
  EXPECT_EQ(got.reason, "ok");
  EXPECT_EQ(got.ended_at, 9999);
  EXPECT_EQ(got.exit_code, 0);
  EXPECT_EQ(got.cache_key, fin.cache_key);
  EXPECT_EQ(got.metadata, fin.metadata);
  EXPECT_EQ(got.pid, 0);
  EXPECT_EQ(got.log_path, s.log_path);
  EXPECT_EQ(got.command, s.command);
  EXPECT_EQ(got.started_at, s.started_at);

  StepRunRecord missing = fin;
  missing.id = s.id + 1000;
  EXPECT_CODE(m().FinishStepRun(missing, &none, {}, {}), Code::kNotFound);
  EXPECT_CODE(m().GetStepRun(s.id + 1000), Code::kNotFound);

  StepRunRecord s2 = MakeStep("r", "train", 2);
  ASSERT_OK_AND_ASSIGN(s2.id, m().StartStepRun(s2));
  StepRunRecord s3 = MakeStep("r", "eval", 1);
  ASSERT_OK_AND_ASSIGN(s3.id, m().StartStepRun(s3));
  EXPECT_EQ(StepIds(*m().ListStepRuns("r")), (std::vector<int64_t>{s.id, s2.id, s3.id}));
  EXPECT_TRUE(m().ListStepRuns("nosuch")->empty());
}

TEST_P(MetadataStoreContract, NewArtifactsGetIdsAndVersionsPerPipelineStepAndName) {
  std::vector<int> model_versions;
  for (int i = 0; i < 3; ++i) {
    const std::string run = "r" + std::to_string(i);
    ASSERT_OK(AddRun(m(), MakeRun(run, "p", 100 + i)));
    StepRunRecord s = MakeStep(run, "train");
    ASSERT_OK_AND_ASSIGN(s.id, m().StartStepRun(s));
    std::vector<ArtifactRecord> arts = {
        MakeArtifact(run, "p", "train", "model", "model " + run),
        MakeArtifact(run, "p", "train", "metrics", "metrics " + run)};
    ASSERT_OK(Finish(m(), s, StepStatus::kCompleted, &arts));
    EXPECT_GT(arts[0].id, 0);
    EXPECT_GT(arts[1].id, 0);
    EXPECT_NE(arts[0].id, arts[1].id);
    EXPECT_EQ(arts[0].step_run_id, s.id);
    EXPECT_EQ(arts[0].version, i + 1);
    EXPECT_EQ(arts[1].version, i + 1);
    ASSERT_OK_AND_ASSIGN(ArtifactRecord got, m().GetArtifact(std::to_string(arts[0].id)));
    EXPECT_EQ(got.id, arts[0].id);
    EXPECT_EQ(got.step_run_id, s.id);
    EXPECT_EQ(got.run_id, run);
    EXPECT_EQ(got.pipeline, "p");
    EXPECT_EQ(got.step, "train");
    EXPECT_EQ(got.name, "model");
    EXPECT_EQ(got.version, i + 1);
    EXPECT_EQ(got.digest, arts[0].digest);
    EXPECT_EQ(got.size, arts[0].size);
    EXPECT_EQ(got.kind, "file");
    EXPECT_EQ(got.uri, arts[0].uri);
    EXPECT_EQ(got.created_at, 5000);
    EXPECT_EQ(got.materializer, "text");
    EXPECT_EQ(got.type, "std::string");
  }
  // Another pipeline, or another step of the same pipeline, counts from 1.
  ASSERT_OK(AddRun(m(), MakeRun("q0", "q", 500)));
  StepRunRecord s = MakeStep("q0", "train");
  ASSERT_OK_AND_ASSIGN(s.id, m().StartStepRun(s));
  StepRunRecord e = MakeStep("q0", "eval");
  ASSERT_OK_AND_ASSIGN(e.id, m().StartStepRun(e));
  std::vector<ArtifactRecord> qa = {MakeArtifact("q0", "q", "train", "model", "q model")};
  ASSERT_OK(Finish(m(), s, StepStatus::kCompleted, &qa));
  EXPECT_EQ(qa[0].version, 1);
  std::vector<ArtifactRecord> ea = {MakeArtifact("q0", "q", "eval", "model", "q eval model")};
  ASSERT_OK(Finish(m(), e, StepStatus::kCompleted, &ea));
  EXPECT_EQ(ea[0].version, 1);
}

TEST_P(MetadataStoreContract, GetArtifactTakesAnIdOrADigestPrefix) {
  ASSERT_OK(AddRun(m(), MakeRun("r")));
  StepRunRecord s = MakeStep("r", "train");
  ASSERT_OK_AND_ASSIGN(s.id, m().StartStepRun(s));
  std::vector<ArtifactRecord> arts = {MakeArtifact("r", "p", "train", "model", "weights")};
  ASSERT_OK(Finish(m(), s, StepStatus::kCompleted, &arts));
  const ArtifactRecord& a = arts[0];
  EXPECT_EQ(m().GetArtifact(a.digest)->id, a.id);
  EXPECT_EQ(m().GetArtifact(a.digest.substr(0, 6))->id, a.id);
  EXPECT_EQ(m().GetArtifact("sha256:" + a.digest.substr(0, 12))->id, a.id);
  EXPECT_CODE(m().GetArtifact(a.digest.substr(0, 5)), Code::kNotFound);  // too short to be a prefix
  EXPECT_CODE(m().GetArtifact(std::to_string(a.id + 100)), Code::kNotFound);
  EXPECT_CODE(m().GetArtifact(Digest("absent")), Code::kNotFound);
}

TEST_P(MetadataStoreContract, LineageRecordsOutputsReusedOutputsInputsAndConsumers) {
  ASSERT_OK(AddRun(m(), MakeRun("r1", "p", 100)));
  StepRunRecord train = MakeStep("r1", "train");
  ASSERT_OK_AND_ASSIGN(train.id, m().StartStepRun(train));
  std::vector<ArtifactRecord> outs = {MakeArtifact("r1", "p", "train", "model", "m1"),
                                      MakeArtifact("r1", "p", "train", "metrics", "x1")};
  ASSERT_OK(Finish(m(), train, StepStatus::kCompleted, &outs));
  const ArtifactRecord model = outs[0], metrics = outs[1];

  StepRunRecord eval = MakeStep("r1", "eval");
  ASSERT_OK_AND_ASSIGN(eval.id, m().StartStepRun(eval));
  std::vector<ArtifactRecord> report = {MakeArtifact("r1", "p", "eval", "report", "rep")};
  ASSERT_OK(Finish(m(), eval, StepStatus::kCompleted, &report, {},
                   {{"m", model.id}, {"scores", metrics.id}}));

  // A second run reuses train's outputs (a cache hit) and feeds them to another eval.
  ASSERT_OK(AddRun(m(), MakeRun("r2", "p", 200)));
  StepRunRecord cached = MakeStep("r2", "train");
  ASSERT_OK_AND_ASSIGN(cached.id, m().StartStepRun(cached));
  cached.cached_from = train.id;
  ASSERT_OK(Finish(m(), cached, StepStatus::kCached, nullptr,
                   {{"model", model.id}, {"metrics", metrics.id}}));
  EXPECT_EQ(m().GetStepRun(cached.id)->cached_from, train.id);
  StepRunRecord eval2 = MakeStep("r2", "eval");
  ASSERT_OK_AND_ASSIGN(eval2.id, m().StartStepRun(eval2));
  ASSERT_OK(Finish(m(), eval2, StepStatus::kFailed, nullptr, {}, {{"m", model.id}}));

  ASSERT_OK_AND_ASSIGN(auto train_outs, m().StepOutputs(train.id));
  ASSERT_EQ(train_outs.size(), 2u);  // by output name
  EXPECT_EQ(train_outs[0].first, "metrics");
  EXPECT_EQ(train_outs[0].second.id, metrics.id);
  EXPECT_EQ(train_outs[1].first, "model");
  EXPECT_EQ(train_outs[1].second.id, model.id);
  ASSERT_OK_AND_ASSIGN(auto cached_outs, m().StepOutputs(cached.id));
  ASSERT_EQ(cached_outs.size(), 2u);
  EXPECT_EQ(cached_outs[1].first, "model");
  EXPECT_EQ(cached_outs[1].second.id, model.id);
  EXPECT_EQ(cached_outs[1].second.step_run_id, train.id);  // still the producer's
  EXPECT_EQ(cached_outs[1].second.version, 1);             // no new version
  ASSERT_OK_AND_ASSIGN(auto eval_ins, m().StepInputs(eval.id));
  ASSERT_EQ(eval_ins.size(), 2u);  // by input name
  EXPECT_EQ(eval_ins[0].first, "m");
  EXPECT_EQ(eval_ins[0].second.id, model.id);
  EXPECT_EQ(eval_ins[1].first, "scores");
  EXPECT_EQ(eval_ins[1].second.id, metrics.id);
  EXPECT_TRUE(m().StepInputs(train.id)->empty());
  EXPECT_TRUE(m().StepOutputs(eval2.id)->empty());

  EXPECT_EQ(StepIds(*m().Consumers(model.id)), (std::vector<int64_t>{eval.id, eval2.id}));
  EXPECT_EQ(StepIds(*m().Consumers(metrics.id)), (std::vector<int64_t>{eval.id}));
  EXPECT_TRUE(m().Consumers(report[0].id)->empty());

  // A run's artifacts are those its step runs output, new or reused; newest first.
  ASSERT_OK_AND_ASSIGN(auto r1_arts, m().ListArtifacts("r1", 0));
  ASSERT_EQ(r1_arts.size(), 3u);
  EXPECT_EQ(r1_arts[0].id, report[0].id);
  ASSERT_OK_AND_ASSIGN(auto r2_arts, m().ListArtifacts("r2", 0));
  std::set<int64_t> r2_ids;
  for (const auto& a : r2_arts) r2_ids.insert(a.id);
  EXPECT_EQ(r2_ids, (std::set<int64_t>{model.id, metrics.id}));
  EXPECT_EQ(m().ListArtifacts("", 0)->size(), 3u);
  EXPECT_EQ(m().ListArtifacts("", 2)->size(), 2u);
  EXPECT_EQ(m().ListArtifacts("", 1)->at(0).id, report[0].id);
}

TEST_P(MetadataStoreContract, LineageToAMissingArtifactIsRefused) {
  ASSERT_OK(AddRun(m(), MakeRun("r")));
  StepRunRecord s = MakeStep("r", "eval");
  ASSERT_OK_AND_ASSIGN(s.id, m().StartStepRun(s));
  std::vector<ArtifactRecord> arts = {MakeArtifact("r", "p", "eval", "report", "rep")};
  EXPECT_CODE(Finish(m(), s, StepStatus::kCompleted, &arts, {}, {{"m", 987654}}), Code::kNotFound);
  // Nothing of the refused write remains: the step run is still running, with no artifact.
  EXPECT_EQ(m().GetStepRun(s.id)->status, StepStatus::kRunning);
  EXPECT_TRUE(m().ListArtifacts("", 0)->empty());
  EXPECT_TRUE(m().StepOutputs(s.id)->empty());
}

TEST_P(MetadataStoreContract, FindRunOutputTakesTheLatestSuccessfulAttempt) {
  ASSERT_OK(AddRun(m(), MakeRun("r")));
  auto attempt = [&](int n, StepStatus status, const std::string& content) -> int64_t {
    StepRunRecord s = MakeStep("r", "train", n);
    auto id = m().StartStepRun(s);
    EXPECT_OK(id);
    s.id = *id;
    std::vector<ArtifactRecord> arts = {MakeArtifact("r", "p", "train", "model", content)};
    EXPECT_OK(Finish(m(), s, status, &arts));
    return arts[0].id;
  };
  EXPECT_FALSE(m().FindRunOutput("r", "train", "model")->has_value());
  attempt(1, StepStatus::kFailed, "failed 1");
  EXPECT_FALSE(m().FindRunOutput("r", "train", "model")->has_value());
  int64_t second = attempt(2, StepStatus::kCompleted, "good 2");
  EXPECT_EQ(m().FindRunOutput("r", "train", "model")->value().id, second);
  attempt(3, StepStatus::kFailed, "failed 3");
  EXPECT_EQ(m().FindRunOutput("r", "train", "model")->value().id, second);
  int64_t fourth = attempt(4, StepStatus::kCompleted, "good 4");
  EXPECT_EQ(m().FindRunOutput("r", "train", "model")->value().id, fourth);
  EXPECT_FALSE(m().FindRunOutput("r", "train", "nosuch")->has_value());
  EXPECT_FALSE(m().FindRunOutput("r", "nosuch", "model")->has_value());
  EXPECT_FALSE(m().FindRunOutput("nosuch", "train", "model")->has_value());
  // A cached attempt's reused outputs count too.
  ASSERT_OK(AddRun(m(), MakeRun("r2")));
  StepRunRecord c = MakeStep("r2", "train");
  ASSERT_OK_AND_ASSIGN(c.id, m().StartStepRun(c));
  ASSERT_OK(Finish(m(), c, StepStatus::kCached, nullptr, {{"model", fourth}}));
  EXPECT_EQ(m().FindRunOutput("r2", "train", "model")->value().id, fourth);
}

TEST_P(MetadataStoreContract, FindCacheHitIsTheLatestCompletedNotCachedStepRun) {
  const std::string key = Digest("the key");
  EXPECT_FALSE(m().FindCacheHit(key)->has_value());
  ASSERT_OK(AddRun(m(), MakeRun("r")));
  auto step = [&](const std::string& name, StepStatus status) -> int64_t {
    StepRunRecord s = MakeStep("r", name);
    s.cache_key = key;
    auto id = m().StartStepRun(s);
    EXPECT_OK(id);
    s.id = *id;
    EXPECT_OK(Finish(m(), s, status));
    return s.id;
  };
  int64_t first = step("a", StepStatus::kCompleted);
  EXPECT_EQ(m().FindCacheHit(key)->value().id, first);
  step("b", StepStatus::kCached);
  step("c", StepStatus::kFailed);
  step("d", StepStatus::kStopped);
  step("e", StepStatus::kRunning);
  EXPECT_EQ(m().FindCacheHit(key)->value().id, first);
  int64_t latest = step("f", StepStatus::kCompleted);
  EXPECT_EQ(m().FindCacheHit(key)->value().id, latest);
  EXPECT_FALSE(m().FindCacheHit(Digest("other key"))->has_value());
}

TEST_P(MetadataStoreContract, PreviousStepRunIsTheLatestSuccessOfThePipelineElsewhere) {
  auto run_step = [&](const std::string& run, const std::string& pipeline, const std::string& step,
                      StepStatus status, int64_t created) -> int64_t {
    if (!m().GetRun(run).ok()) {
      EXPECT_OK(AddRun(m(), MakeRun(run, pipeline, created)));
    }
    StepRunRecord s = MakeStep(run, step);
    auto id = m().StartStepRun(s);
    EXPECT_OK(id);
    s.id = *id;
    EXPECT_OK(Finish(m(), s, status));
    return s.id;
  };
  EXPECT_FALSE(m().PreviousStepRun("p", "train", "r3")->has_value());
  run_step("r1", "p", "train", StepStatus::kCompleted, 100);
  int64_t cached = run_step("r2", "p", "train", StepStatus::kCached, 200);
  run_step("r2b", "p", "train", StepStatus::kFailed, 250);
  run_step("q1", "q", "train", StepStatus::kCompleted, 260);  // another pipeline
  run_step("r2", "p", "eval", StepStatus::kCompleted, 200);   // another step
  run_step("r3", "p", "train", StepStatus::kCompleted, 300);  // the run asking
  EXPECT_EQ(m().PreviousStepRun("p", "train", "r3")->value().id, cached);
  EXPECT_FALSE(m().PreviousStepRun("p", "nosuch", "r3")->has_value());
}

TEST_P(MetadataStoreContract, StepDurationsAverageCompletedAttemptsOfRecentRuns) {
  // Six runs: the oldest (with an outlier) is outside the five most recent.
  for (int i = 0; i < 6; ++i) {
    const std::string run = "r" + std::to_string(i);
    ASSERT_OK(AddRun(m(), MakeRun(run, "p", 100 + i)));
    auto add = [&](const std::string& step, StepStatus status, int64_t duration) {
      StepRunRecord s = MakeStep(run, step);
      auto id = m().StartStepRun(s);
      ASSERT_OK(id);
      s.id = *id;
      s.status = status;
      s.ended_at = s.started_at + duration;
      std::vector<ArtifactRecord> none;
      ASSERT_OK(m().FinishStepRun(s, &none, {}, {}));
    };
    add("train", StepStatus::kCompleted, i == 0 ? 1000000 : 100 * i);
    add("eval", StepStatus::kFailed, 5000);  // never successful: absent
    if (i > 0) add("report", StepStatus::kCompleted, 10);
  }
  ASSERT_OK(AddRun(m(), MakeRun("other", "q", 999)));
  ASSERT_OK_AND_ASSIGN(auto durations, m().StepDurations("p"));
  std::sort(durations.begin(), durations.end());
  ASSERT_EQ(durations.size(), 2u);
  EXPECT_EQ(durations[0].first, "report");
  EXPECT_DOUBLE_EQ(durations[0].second, 10.0);
  EXPECT_EQ(durations[1].first, "train");
  EXPECT_DOUBLE_EQ(durations[1].second, 300.0);  // (100 + 200 + 300 + 400 + 500) / 5
  EXPECT_TRUE(m().StepDurations("q")->empty());
}

TEST_P(MetadataStoreContract, ComponentsCreateReadUpdateDelete) {
  ComponentRecord c{"orchestrator", "o1", "local", R"({"jobs":4})", 0, 0};
  ASSERT_OK(m().CreateComponent(c));
  EXPECT_CODE(m().CreateComponent({"orchestrator", "o1", "slurm", "{}", 0, 0}),
              Code::kAlreadyExists);
  ASSERT_OK_AND_ASSIGN(ComponentRecord got, m().GetComponent("orchestrator", "o1"));
  EXPECT_EQ(got.type, "orchestrator");
  EXPECT_EQ(got.name, "o1");
  EXPECT_EQ(got.flavor, "local");
  EXPECT_EQ(got.config, R"({"jobs":4})");
  EXPECT_GT(got.created_at, 0);  // set by the store
  EXPECT_EQ(got.updated_at, got.created_at);
  // Names are per type.
  ASSERT_OK(m().CreateComponent({"artifact_store", "o1", "local", "{}", 0, 0}));
  ASSERT_OK(
      m().CreateComponent({"container_registry", "reg", "default", R"({"uri":"r.io"})", 0, 0}));
  ASSERT_OK(m().CreateComponent({"orchestrator", "a0", "local", "{}", 0, 0}));
  std::vector<std::string> names;
  auto orchestrators = m().ListComponents("orchestrator");
  ASSERT_OK(orchestrators.status());
  for (const auto& x : *orchestrators) names.push_back(x.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a0", "default", "o1"}));  // by name
  EXPECT_EQ(m().ListComponents("container_registry")->size(), 1u);
  EXPECT_TRUE(m().ListComponents("nosuch")->empty());

  ComponentRecord changed{"orchestrator", "o1", "slurm", R"({"partition":"gpu"})", 0, 0};
  ASSERT_OK(m().UpdateComponent(changed));
  ASSERT_OK_AND_ASSIGN(got, m().GetComponent("orchestrator", "o1"));
  EXPECT_EQ(got.flavor, "slurm");
  EXPECT_EQ(got.config, R"({"partition":"gpu"})");
  EXPECT_GE(got.updated_at, got.created_at);
  EXPECT_EQ(m().GetComponent("artifact_store", "o1")->flavor, "local");
  EXPECT_CODE(m().UpdateComponent({"orchestrator", "nosuch", "local", "{}", 0, 0}),
              Code::kNotFound);
  EXPECT_CODE(m().GetComponent("orchestrator", "nosuch"), Code::kNotFound);

  ASSERT_OK(m().DeleteComponent("orchestrator", "o1"));
  EXPECT_CODE(m().GetComponent("orchestrator", "o1"), Code::kNotFound);
  EXPECT_OK(m().GetComponent("artifact_store", "o1"));
  EXPECT_CODE(m().DeleteComponent("orchestrator", "o1"), Code::kNotFound);
  ASSERT_OK(m().DeleteComponent("container_registry", "reg"));
}

TEST_P(MetadataStoreContract, AComponentAStackUsesCannotBeDeleted) {
  ASSERT_OK(m().CreateComponent({"orchestrator", "o1", "local", "{}", 0, 0}));
  ASSERT_OK(m().CreateComponent({"artifact_store", "a1", "local", "{}", 0, 0}));
  ASSERT_OK(m().CreateStack({"s1", "o1", "a1", 0, 0}));
  ASSERT_OK(m().CreateStack({"s2", "o1", "default", 0, 0}));
  Status st = m().DeleteComponent("orchestrator", "o1");
  EXPECT_CODE(st, Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("s1, s2"), std::string::npos) << st.message();  // names the users
  EXPECT_CODE(m().DeleteComponent("artifact_store", "a1"), Code::kFailedPrecondition);
  EXPECT_OK(m().GetComponent("orchestrator", "o1"));
  ASSERT_OK(m().DeleteStack("s1"));
  EXPECT_OK(m().DeleteComponent("artifact_store", "a1"));
  EXPECT_CODE(m().DeleteComponent("orchestrator", "o1"), Code::kFailedPrecondition);
  ASSERT_OK(m().DeleteStack("s2"));
  EXPECT_OK(m().DeleteComponent("orchestrator", "o1"));
}

TEST_P(MetadataStoreContract, UsersAndTokensRoundTripAndGoTogether) {
  // A new store holds no users, except that a store reached through a server holds the one
  // reaching it: what was there before is left out of what follows.
  ASSERT_OK_AND_ASSIGN(std::vector<UserRecord> before, m().ListUsers());
  ASSERT_OK_AND_ASSIGN(std::vector<TokenRecord> tokens_before, m().ListTokens(""));
  if (GetParam().name != "server") {
    EXPECT_TRUE(before.empty());
  } else {
    EXPECT_EQ(before.size(), 1u);
  }
  auto new_users = [&]() {
    std::vector<UserRecord> out;
    const std::vector<UserRecord> now = *m().ListUsers();
    for (const auto& u : now)
      if (std::none_of(before.begin(), before.end(), [&](const UserRecord& b) { return b.name == u.name; }))
        out.push_back(u);
    return out;
  };
  auto new_tokens = [&](const std::string& user) {
    std::vector<TokenRecord> out;
    const std::vector<TokenRecord> now = *m().ListTokens(user);
    for (const auto& t : now)
      if (std::none_of(tokens_before.begin(), tokens_before.end(), [&](const TokenRecord& b) { return b.id == t.id; }))
        out.push_back(t);
    return out;
  };
  ASSERT_OK(m().CreateUser({"ada", "user", "admin", 1000}));
  ASSERT_OK(m().CreateUser({"ci", "service", "editor", 0}));
  EXPECT_CODE(m().CreateUser({"ada", "user", "viewer", 0}), Code::kAlreadyExists);
  ASSERT_OK_AND_ASSIGN(UserRecord ada, m().GetUser("ada"));
  EXPECT_EQ(ada.kind, "user");
  EXPECT_EQ(ada.role, "admin");
  EXPECT_EQ(ada.created_at, 1000);
  EXPECT_GT(m().GetUser("ci")->created_at, 0) << "a zero time is filled in";
  EXPECT_CODE(m().GetUser("nobody"), Code::kNotFound);
  std::vector<UserRecord> users = new_users();
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0].name, "ada");
  EXPECT_EQ(users[1].name, "ci");

  const TokenRecord t1{"tok1", "ada", Digest("secret 1"), "", "laptop", 10, 0, 0};
  const TokenRecord t2{"tok2", "ci", Digest("secret 2"), "run-1", "run token", 20, 99, 0};
  ASSERT_OK(m().CreateToken(t1));
  ASSERT_OK(m().CreateToken(t2));
  EXPECT_CODE(m().CreateToken({"tok3", "nobody", Digest("secret 3"), "", "", 0, 0, 0}),
              Code::kNotFound);
  EXPECT_CODE(m().CreateToken({"tok1", "ada", Digest("secret 4"), "", "", 0, 0, 0}),
              Code::kAlreadyExists);
  EXPECT_CODE(m().CreateToken({"tok5", "ada", Digest("secret 1"), "", "", 0, 0, 0}),
              Code::kAlreadyExists)
      << "two tokens cannot share a secret";
  ASSERT_OK_AND_ASSIGN(TokenRecord found, m().FindToken(Digest("secret 2")));
  EXPECT_EQ(found.id, "tok2");
  EXPECT_EQ(found.user, "ci");
  EXPECT_EQ(found.run_id, "run-1");
  EXPECT_EQ(found.description, "run token");
  EXPECT_EQ(found.created_at, 20);
  EXPECT_EQ(found.expires_at, 99);
  EXPECT_CODE(m().FindToken(Digest("secret 9")), Code::kNotFound);
  ASSERT_OK(m().TouchToken("tok2", 1234));
  EXPECT_EQ(m().FindToken(Digest("secret 2"))->last_used_at, 1234);
  EXPECT_OK(m().TouchToken("gone", 1));
  std::vector<TokenRecord> all = new_tokens("");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "tok2") << "newest first";
  std::vector<TokenRecord> adas = new_tokens("ada");
  ASSERT_EQ(adas.size(), 1u);
  EXPECT_EQ(adas[0].id, "tok1");

  ASSERT_OK(m().DeleteToken("tok1"));
  EXPECT_CODE(m().DeleteToken("tok1"), Code::kNotFound);
  EXPECT_CODE(m().FindToken(Digest("secret 1")), Code::kNotFound);
  // A user goes with the tokens they hold.
  ASSERT_OK(m().DeleteUser("ci"));
  EXPECT_CODE(m().FindToken(Digest("secret 2")), Code::kNotFound);
  EXPECT_CODE(m().DeleteUser("ci"), Code::kNotFound);
  EXPECT_EQ(new_users().size(), 1u);
  EXPECT_TRUE(new_tokens("").empty());
}

TEST_P(MetadataStoreContract, SchedulesRoundTripAndAdvanceOnceFromTheTimeExpected) {
  ASSERT_OK_AND_ASSIGN(std::vector<ScheduleRecord> none, m().ListSchedules());
  EXPECT_TRUE(none.empty());
  ScheduleRecord nightly;
  nightly.name = "nightly";
  nightly.pipeline_file = "pipelines/train.yaml";
  nightly.cron = "30 2 * * *";
  nightly.time_zone = "Europe/Berlin";
  nightly.stack = "gpu";
  nightly.run_config = "run.yaml";
  nightly.catchup = "all";
  nightly.overlap = "queue";
  nightly.created_at = 1000;
  nightly.updated_at = 2000;
  ASSERT_OK(m().CreateSchedule(nightly));
  ScheduleRecord hourly;
  hourly.name = "hourly";
  hourly.pipeline_file = "p.yaml";
  hourly.cron = "@hourly";
  ASSERT_OK(m().CreateSchedule(hourly));
  EXPECT_CODE(m().CreateSchedule(hourly), Code::kAlreadyExists);
  ASSERT_OK_AND_ASSIGN(ScheduleRecord got, m().GetSchedule("nightly"));
  EXPECT_EQ(got.pipeline_file, "pipelines/train.yaml");
  EXPECT_EQ(got.cron, "30 2 * * *");
  EXPECT_EQ(got.time_zone, "Europe/Berlin");
  EXPECT_EQ(got.stack, "gpu");
  EXPECT_EQ(got.run_config, "run.yaml");
  EXPECT_EQ(got.catchup, "all");
  EXPECT_EQ(got.overlap, "queue");
  EXPECT_FALSE(got.paused);
  EXPECT_EQ(got.created_at, 1000);
  EXPECT_EQ(got.updated_at, 2000);
  EXPECT_EQ(got.last_fire, 0);
  EXPECT_EQ(got.last_run, "");
  ASSERT_OK_AND_ASSIGN(ScheduleRecord defaults, m().GetSchedule("hourly"));
  EXPECT_EQ(defaults.time_zone, "UTC");
  EXPECT_EQ(defaults.catchup, "latest");
  EXPECT_EQ(defaults.overlap, "skip");
  EXPECT_GT(defaults.created_at, 0);
  ASSERT_OK_AND_ASSIGN(std::vector<ScheduleRecord> all, m().ListSchedules());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "hourly");
  EXPECT_EQ(all[1].name, "nightly");
  EXPECT_CODE(m().GetSchedule("weekly").status(), Code::kNotFound);

  // Advancing: from the time expected only, so that one of two servers fires each time.
  ASSERT_OK_AND_ASSIGN(bool moved, m().AdvanceSchedule("nightly", 0, 5000, "run-1"));
  EXPECT_TRUE(moved);
  ASSERT_OK_AND_ASSIGN(moved, m().AdvanceSchedule("nightly", 0, 5000, "run-2"));
  EXPECT_FALSE(moved);
  ASSERT_OK_AND_ASSIGN(got, m().GetSchedule("nightly"));
  EXPECT_EQ(got.last_fire, 5000);
  EXPECT_EQ(got.last_run, "run-1");
  // A time skipped (no run) keeps the last run.
  ASSERT_OK_AND_ASSIGN(moved, m().AdvanceSchedule("nightly", 5000, 9000, ""));
  EXPECT_TRUE(moved);
  ASSERT_OK_AND_ASSIGN(got, m().GetSchedule("nightly"));
  EXPECT_EQ(got.last_fire, 9000);
  EXPECT_EQ(got.last_run, "run-1");
  EXPECT_CODE(m().AdvanceSchedule("weekly", 0, 1, "").status(), Code::kNotFound);

  // Updating replaces what a person sets, not the times a server moves; pausing is an update.
  got.cron = "0 3 * * *";
  got.last_fire = 1;
  got.last_run = "forged";
  got.paused = true;
  got.overlap = "allow";
  got.updated_at = 3000;
  ASSERT_OK(m().UpdateSchedule(got));
  ASSERT_OK_AND_ASSIGN(ScheduleRecord changed, m().GetSchedule("nightly"));
  EXPECT_EQ(changed.cron, "0 3 * * *");
  EXPECT_TRUE(changed.paused);
  EXPECT_EQ(changed.overlap, "allow");
  EXPECT_EQ(changed.updated_at, 3000);
  EXPECT_EQ(changed.created_at, 1000);
  EXPECT_EQ(changed.last_fire, 9000);
  EXPECT_EQ(changed.last_run, "run-1");
  ScheduleRecord ghost = got;
  ghost.name = "ghost";
  EXPECT_CODE(m().UpdateSchedule(ghost), Code::kNotFound);

  ASSERT_OK(m().DeleteSchedule("hourly"));
  EXPECT_CODE(m().DeleteSchedule("hourly"), Code::kNotFound);
  ASSERT_OK_AND_ASSIGN(all, m().ListSchedules());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].name, "nightly");
}

TEST_P(MetadataStoreContract, StacksCreateReadUpdateDelete) {
  ASSERT_OK(m().CreateComponent({"orchestrator", "o1", "local", "{}", 0, 0}));
  ASSERT_OK(m().CreateComponent({"artifact_store", "a1", "local", "{}", 0, 0}));
  // A stack's components must exist.
  EXPECT_CODE(m().CreateStack({"s1", "nosuch", "a1", 0, 0}), Code::kNotFound);
  EXPECT_CODE(m().CreateStack({"s1", "o1", "nosuch", 0, 0}), Code::kNotFound);
  EXPECT_CODE(m().CreateStack({"s1", "a1", "a1", 0, 0}), Code::kNotFound);  // a1 is no orchestrator
  EXPECT_CODE(m().GetStack("s1"), Code::kNotFound);
  ASSERT_OK(m().CreateStack({"s1", "o1", "a1", 0, 0}));
  EXPECT_CODE(m().CreateStack({"s1", "default", "default", 0, 0}), Code::kAlreadyExists);
  ASSERT_OK_AND_ASSIGN(StackRecord s, m().GetStack("s1"));
  EXPECT_EQ(s.name, "s1");
  EXPECT_EQ(s.orchestrator, "o1");
  EXPECT_EQ(s.artifact_store, "a1");
  EXPECT_GT(s.created_at, 0);
  ASSERT_OK(m().CreateStack({"a-first", "default", "default", 0, 0}));
  EXPECT_EQ(StackNames(*m().ListStacks()), (std::vector<std::string>{"a-first", "default", "s1"}));

  ASSERT_OK(m().UpdateStack({"s1", "default", "a1", 0, 0}));
  ASSERT_OK_AND_ASSIGN(s, m().GetStack("s1"));
  EXPECT_EQ(s.orchestrator, "default");
  EXPECT_EQ(s.artifact_store, "a1");
  EXPECT_GE(s.updated_at, s.created_at);
  EXPECT_CODE(m().UpdateStack({"s1", "nosuch", "a1", 0, 0}), Code::kNotFound);
  EXPECT_EQ(m().GetStack("s1")->orchestrator, "default");
  EXPECT_CODE(m().UpdateStack({"nosuch", "default", "default", 0, 0}), Code::kNotFound);

  ASSERT_OK(m().DeleteStack("s1"));
  EXPECT_CODE(m().GetStack("s1"), Code::kNotFound);
  EXPECT_CODE(m().DeleteStack("s1"), Code::kNotFound);
}

// Which stack is the default or the active one, and what may be done to them, are rules of the
// app layer (app/stack.h); the store keeps only the integrity of its records.
TEST_P(MetadataStoreContract, TheStoreLeavesDomainRulesToTheAppLayer) {
  ASSERT_OK(m().CreateComponent({"orchestrator", "o1", "local", "{}", 0, 0}));
  EXPECT_OK(m().UpdateStack({"default", "o1", "default", 0, 0}));
  EXPECT_EQ(m().GetStack("default")->orchestrator, "o1");
  EXPECT_OK(m().DeleteComponent("orchestrator", "default"));
  EXPECT_OK(m().DeleteStack("default"));  // while the active_stack setting names it
  EXPECT_OK(m().DeleteComponent("artifact_store", "default"));
}

TEST_P(MetadataStoreContract, SettingsAreUpsertedWithAFallback) {
  EXPECT_EQ(*m().GetSetting("color", "auto"), "auto");
  ASSERT_OK(m().SetSetting("color", "never"));
  EXPECT_EQ(*m().GetSetting("color", "auto"), "never");
  ASSERT_OK(m().SetSetting("color", "always"));
  EXPECT_EQ(*m().GetSetting("color", "auto"), "always");
  ASSERT_OK(m().SetSetting("empty", ""));
  EXPECT_EQ(*m().GetSetting("empty", "fallback"), "");
  ASSERT_OK(m().SetSetting("active_stack", "gpu"));
  EXPECT_EQ(*Open()->GetSetting("active_stack", "default"), "gpu");
}

TEST_P(MetadataStoreContract, PluginsAreKeyedByTypeAndFlavor) {
  EXPECT_TRUE(m().ListPlugins()->empty());
  ASSERT_OK(m().PutPlugin({"orchestrator", "script", "/lib/a.so", Digest("a"), 0}));
  ASSERT_OK(m().PutPlugin({"orchestrator", "batch", "/lib/b.so", Digest("b"), 0}));
  ASSERT_OK(m().PutPlugin({"artifact_store", "script", "/lib/c.so", Digest("c"), 0}));
  // The same type and flavor again replaces the first.
  ASSERT_OK(m().PutPlugin({"orchestrator", "script", "/lib/a2.so", Digest("a2"), 0}));
  ASSERT_OK_AND_ASSIGN(auto plugins, m().ListPlugins());
  ASSERT_EQ(plugins.size(), 3u);  // by type, then flavor
  EXPECT_EQ(plugins[0].type, "artifact_store");
  EXPECT_EQ(plugins[1].flavor, "batch");
  EXPECT_EQ(plugins[2].flavor, "script");
  EXPECT_EQ(plugins[2].path, "/lib/a2.so");
  EXPECT_EQ(plugins[2].digest, Digest("a2"));
  EXPECT_GT(plugins[2].registered_at, 0);  // set by the store
  ASSERT_OK(m().DeletePlugin("orchestrator", "script"));
  EXPECT_CODE(m().DeletePlugin("orchestrator", "script"), Code::kNotFound);
  ASSERT_OK_AND_ASSIGN(plugins, m().ListPlugins());
  ASSERT_EQ(plugins.size(), 2u);
  EXPECT_EQ(plugins[0].flavor, "script");  // the artifact_store one stays
}

TEST_P(MetadataStoreContract, BatchesGroupWritesIntoOneTransaction) {
  auto reader = Open();
  ASSERT_NE(reader, nullptr);
  ASSERT_OK(AddRun(m(), MakeRun("before")));
  ASSERT_OK(m().BeginBatch());
  ASSERT_OK(AddRun(m(), MakeRun("in-batch")));
  StepRunRecord s = MakeStep("in-batch", "train");
  ASSERT_OK_AND_ASSIGN(s.id, m().StartStepRun(s));
  std::vector<ArtifactRecord> arts = {MakeArtifact("in-batch", "p", "train", "model", "w")};
  ASSERT_OK(Finish(m(), s, StepStatus::kCompleted, &arts));
  ASSERT_OK(m().SetSetting("k", "v"));
  // The batch's writes are visible to the instance that makes them...
  EXPECT_EQ(m().GetStepRun(s.id)->status, StepStatus::kCompleted);
  EXPECT_OK(m().GetRun("in-batch"));
  // ...nested batches are counted: only the outermost EndBatch commits...
  ASSERT_OK(m().BeginBatch());
  ASSERT_OK(m().UpdateRunStatus("in-batch", RunStatus::kCompleted, "", 8000));
  ASSERT_OK(m().EndBatch());
  // ...and to no other until the batch ends.
  EXPECT_CODE(reader->GetRun("in-batch"), Code::kNotFound);
  EXPECT_TRUE(reader->ListArtifacts("", 0)->empty());
  EXPECT_EQ(*reader->GetSetting("k", "unset"), "unset");
  EXPECT_OK(reader->GetRun("before"));
  ASSERT_OK(m().EndBatch());
  EXPECT_EQ(reader->GetRun("in-batch")->status, RunStatus::kCompleted);
  EXPECT_EQ(reader->ListArtifacts("", 0)->size(), 1u);
  EXPECT_EQ(*reader->GetSetting("k", "unset"), "v");
  // An EndBatch without a batch does nothing.
  EXPECT_OK(m().EndBatch());
  EXPECT_OK(AddRun(m(), MakeRun("after")));
  EXPECT_OK(reader->GetRun("after"));
}

TEST_P(MetadataStoreContract, AFailedWriteInsideABatchUndoesOnlyItself) {
  ASSERT_OK(m().BeginBatch());
  ASSERT_OK(AddRun(m(), MakeRun("r1")));
  EXPECT_CODE(AddRun(m(), MakeRun("r1", "other")), Code::kAlreadyExists);
  StepRunRecord s = MakeStep("r1", "train");
  ASSERT_OK_AND_ASSIGN(s.id, m().StartStepRun(s));
  // Fails half-way: the step run's new status and the new artifact go with it.
  std::vector<ArtifactRecord> arts = {MakeArtifact("r1", "p", "train", "model", "w")};
  EXPECT_CODE(Finish(m(), s, StepStatus::kCompleted, &arts, {}, {{"missing", 424242}}),
              Code::kNotFound);
  EXPECT_CODE(m().CreateStack({"s", "nosuch", "default", 0, 0}), Code::kNotFound);
  EXPECT_CODE(m().CreateComponent({"orchestrator", "default", "local", "{}", 0, 0}),
              Code::kAlreadyExists);
  ASSERT_OK(m().CreateComponent({"orchestrator", "o1", "local", "{}", 0, 0}));
  ASSERT_OK(AddRun(m(), MakeRun("r2")));
  ASSERT_OK(m().EndBatch());

  auto other = Open();
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->GetRun("r1")->pipeline, "p");
  EXPECT_OK(other->GetRun("r2"));
  EXPECT_OK(other->GetComponent("orchestrator", "o1"));
  EXPECT_CODE(other->GetStack("s"), Code::kNotFound);
  ASSERT_OK_AND_ASSIGN(StepRunRecord got, other->GetStepRun(s.id));
  EXPECT_EQ(got.status, StepStatus::kRunning);
  EXPECT_TRUE(other->ListArtifacts("", 0)->empty());
  // The batch's version counter was not consumed by the undone artifact.
  ASSERT_OK(Finish(*other, got, StepStatus::kCompleted, &arts));
  EXPECT_EQ(arts[0].version, 1);
}

// Two writers, each with its own instance on the store, recording runs, step runs and versioned
// artifacts of one pipeline step at once (one in batches, one write by write). Under contention a
// write may fail with Unavailable, which leaves nothing behind and may be retried; nothing else.
TEST_P(MetadataStoreContract, TwoInstancesWritingAtOnceLoseNothing) {
  constexpr int kRunsPerWriter = 20;
  std::unique_ptr<MetadataStore> stores[2] = {Open(), Open()};
  ASSERT_NE(stores[0], nullptr);
  ASSERT_NE(stores[1], nullptr);
  std::vector<std::string> errors[2];
  auto writer = [&](int w) {
    MetadataStore& s = *stores[w];
    auto retry = [&](const std::function<Status()>& f) {
      for (int attempt = 0;; ++attempt) {
        Status st = f();
        if (st.code() == Code::kUnavailable && attempt < 100) continue;
        if (!st.ok()) errors[w].push_back(st.ToString());
        return st.ok();
      }
    };
    for (int i = 0; i < kRunsPerWriter; ++i) {
      const std::string run = "w" + std::to_string(w) + "-" + std::to_string(i);
      const bool batch = w == 0;
      if (batch && !retry([&] { return s.BeginBatch(); })) return;
      if (!retry([&] { return AddRun(s, MakeRun(run, "p", NowMicros())); })) return;
      StepRunRecord step = MakeStep(run, "train");
      if (!retry([&] {
            auto id = s.StartStepRun(step);
            if (id.ok()) step.id = *id;
            return id.status();
          }))
        return;
      std::vector<ArtifactRecord> arts;
      if (!retry([&] {
            arts = {MakeArtifact(run, "p", "train", "model", run)};
            return Finish(s, step, StepStatus::kCompleted, &arts);
          }))
        return;
      if (!retry([&] { return s.UpdateRunStatus(run, RunStatus::kCompleted, "", NowMicros()); }))
        return;
      if (batch && !retry([&] { return s.EndBatch(); })) return;
    }
  };
  std::thread t0(writer, 0), t1(writer, 1);
  t0.join();
  t1.join();
  EXPECT_TRUE(errors[0].empty()) << errors[0].front();
  EXPECT_TRUE(errors[1].empty()) << errors[1].front();

  ASSERT_OK_AND_ASSIGN(auto runs, m().ListRuns("p", 0));
  EXPECT_EQ(runs.size(), 2u * kRunsPerWriter);
  for (const auto& r : runs) {
    EXPECT_EQ(r.status, RunStatus::kCompleted) << r.id;
    ASSERT_OK_AND_ASSIGN(auto steps, m().ListStepRuns(r.id));
    ASSERT_EQ(steps.size(), 1u) << r.id;
    EXPECT_EQ(steps[0].status, StepStatus::kCompleted) << r.id;
    ASSERT_OK_AND_ASSIGN(auto out, m().FindRunOutput(r.id, "train", "model"));
    ASSERT_TRUE(out.has_value()) << r.id;
    EXPECT_EQ(out->digest, Digest(r.id));
  }
  // Versions are 1..N with no gap and no duplicate, whoever wrote them.
  ASSERT_OK_AND_ASSIGN(auto arts, m().ListArtifacts("", 0));
  std::vector<int> versions;
  for (const auto& a : arts) versions.push_back(a.version);
  std::sort(versions.begin(), versions.end());
  std::vector<int> expected(2 * kRunsPerWriter);
  for (int i = 0; i < 2 * kRunsPerWriter; ++i) expected[i] = i + 1;
  EXPECT_EQ(versions, expected);
}

// Two processes starting on a new workspace at once both open (and create) its store.
TEST_P(MetadataStoreContract, AFreshStoreCanBeOpenedFromTwoThreadsAtOnce) {
  constexpr int kRounds = 10;
  for (int round = 0; round < kRounds; ++round) {
    auto home = GetParam().fresh();
    ASSERT_TRUE(home.ok()) << home.status().ToString();
    Status opened[2];
    std::unique_ptr<MetadataStore> stores[2];
    std::atomic<int> ready{0};
    auto open = [&](int i) {
      ready++;
      while (ready.load() < 2) std::this_thread::yield();
      auto s = Stores().OpenMetadataStore(home->uri);
      opened[i] = s.status();
      if (s.ok()) stores[i] = std::move(*s);
    };
    std::thread t0(open, 0), t1(open, 1);
    t0.join();
    t1.join();
    ASSERT_OK(opened[0]) << "round " << round;
    ASSERT_OK(opened[1]) << "round " << round;
    EXPECT_EQ(StackNames(*stores[0]->ListStacks()), std::vector<std::string>{"default"});
    ASSERT_OK(AddRun(*stores[0], MakeRun("from-0")));
    ASSERT_OK(AddRun(*stores[1], MakeRun("from-1")));
    EXPECT_EQ(stores[1]->ListRuns("", 0)->size(), 2u);
  }
}

TEST_P(MetadataStoreContract, AProcessExitingInsideABatchLeavesNothingOfIt) {
  CrashAndCheck(false);
}

TEST_P(MetadataStoreContract, AProcessKilledInsideABatchLeavesNothingOfIt) { CrashAndCheck(true); }

std::string KindName(const ::testing::TestParamInfo<MetadataStoreKind>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Stores, MetadataStoreContract, ::testing::ValuesIn(MetadataStoreKinds()),
                         KindName);

// ---- ArtifactStoreContract ----

class ArtifactStoreContract : public ::testing::TestWithParam<ArtifactStoreKind> {
 protected:
  void SetUp() override {
    if (GetParam().unavailable) {
      const std::string why = GetParam().unavailable();
      const char* ci = std::getenv("CI");
      if (!why.empty() && ci != nullptr && *ci != '\0') FAIL() << why << " (CI must test every store)";
      if (!why.empty()) GTEST_SKIP() << why;
    }
    auto home = GetParam().fresh();
    ASSERT_TRUE(home.ok()) << home.status().ToString();
    home_ = std::move(*home);
    store_ = Open();
    ASSERT_NE(store_, nullptr);
  }

  std::unique_ptr<ArtifactStore> Open() {
    auto s = Stores().OpenArtifactStore(home_.uri);
    EXPECT_TRUE(s.ok()) << home_.uri << ": " << s.status().ToString();
    if (!s.ok()) return nullptr;
    return std::move(*s);
  }

  ArtifactStore& a() { return *store_; }

  // A new path under the store's staging directory, for one Put.
  static std::string StagePath(ArtifactStore& store) {
    static std::atomic<int> n{0};
    return store.StagingDir() + "/contract-" + std::to_string(::getpid()) + "-" +
           std::to_string(n++);
  }

  // Stages a file with `content`; returns its path.
  static std::string StageFile(ArtifactStore& store, const std::string& content) {
    std::string p = StagePath(store);
    EXPECT_OK(fs::MakeDirs(fs::Dirname(p)));
    EXPECT_OK(fs::WriteFile(p, content));
    return p;
  }

  // Stages a tree: files, an executable, an empty directory, a nested file and a symlink.
  static std::string StageTree(ArtifactStore& store, const std::string& seed) {
    std::string p = StagePath(store);
    EXPECT_OK(fs::MakeDirs(p + "/sub/deeper"));
    EXPECT_OK(fs::MakeDirs(p + "/empty"));
    EXPECT_OK(fs::WriteFile(p + "/a.txt", "alpha " + seed + "\n"));
    EXPECT_OK(fs::WriteFile(p + "/sub/b.bin", std::string(70000, 'b') + seed));
    EXPECT_OK(fs::WriteFile(p + "/sub/deeper/c", "c"));
    EXPECT_OK(fs::WriteFile(p + "/run.sh", "#!/bin/sh\necho " + seed + "\n"));
    EXPECT_OK(fs::Chmod(p + "/run.sh", 0755));
    EXPECT_EQ(::symlink("sub/b.bin", (p + "/link").c_str()), 0);
    return p;
  }

  static uint64_t TreeBytes(const std::string& seed) {
    return ("alpha " + seed + "\n").size() + 70000 + seed.size() + 1 +
           ("#!/bin/sh\necho " + seed + "\n").size();
  }

  // What `sha256sum` says of a file.
  static std::string Sha256Sum(const std::string& path) {
    auto r = RunProgram("/", {"/usr/bin/sha256sum", path});
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    return r.out.substr(0, r.out.find(' '));
  }

  StoreHome home_;
  std::unique_ptr<ArtifactStore> store_;
};

TEST_P(ArtifactStoreContract, UriIsNormalizedAndStagingIsALocalDirectory) {
  EXPECT_EQ(a().uri().substr(0, home_.uri.find(':') + 3),
            home_.uri.substr(0, home_.uri.find(':') + 3));
  auto other = Open();
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->uri(), a().uri());
  EXPECT_TRUE(fs::IsDir(a().StagingDir())) << a().StagingDir();
}

TEST_P(ArtifactStoreContract, PutStoresAFileUnderItsSha256AndConsumesIt) {
  const std::string content = "hello artifact\n";
  std::string staged = StageFile(a(), content);
  const std::string expected = Sha256Sum(staged);
  ASSERT_EQ(expected.size(), 64u);
  ASSERT_OK_AND_ASSIGN(StoredObject obj, a().Put(staged));
  EXPECT_EQ(obj.digest, expected);
  EXPECT_EQ(obj.size, content.size());
  EXPECT_FALSE(obj.is_dir);
  EXPECT_FALSE(obj.uri.empty());
  EXPECT_FALSE(fs::Exists(staged)) << "Put must consume " << staged;
  EXPECT_TRUE(a().Exists(expected));
  ASSERT_OK_AND_ASSIGN(StoredObject st, a().Stat(expected));
  EXPECT_EQ(st.digest, expected);
  EXPECT_EQ(st.size, content.size());
  EXPECT_FALSE(st.is_dir);
  ASSERT_OK_AND_ASSIGN(std::string path, a().Get(expected));
  EXPECT_EQ(ReadFileOrDie(path), content);
  EXPECT_EQ(Sha256Sum(path), expected);
}

TEST_P(ArtifactStoreContract, PutStoresADirectoryTreeUnderItsTreeDigest) {
  std::string staged = StageTree(a(), "one");
  ASSERT_OK_AND_ASSIGN(TreeDigest before, DigestPath(staged));
  ASSERT_OK_AND_ASSIGN(StoredObject obj, a().Put(staged));
  EXPECT_EQ(obj.digest, before.digest);
  EXPECT_TRUE(obj.is_dir);
  EXPECT_EQ(obj.size, TreeBytes("one"));  // regular files only; the symlink is not counted
  EXPECT_FALSE(fs::Exists(staged));
  ASSERT_OK_AND_ASSIGN(StoredObject st, a().Stat(obj.digest));
  EXPECT_TRUE(st.is_dir);
  EXPECT_EQ(st.size, obj.size);
  ASSERT_OK_AND_ASSIGN(std::string path, a().Get(obj.digest));
  ASSERT_OK_AND_ASSIGN(TreeDigest after, DigestPath(path));
  EXPECT_EQ(after.digest, obj.digest);
  EXPECT_EQ(ReadFileOrDie(path + "/a.txt"), "alpha one\n");
  EXPECT_TRUE(fs::IsDir(path + "/empty"));
  // An empty directory is an object too.
  std::string empty = StagePath(a());
  ASSERT_OK(fs::MakeDirs(empty));
  ASSERT_OK_AND_ASSIGN(StoredObject e, a().Put(empty));
  EXPECT_TRUE(e.is_dir);
  EXPECT_EQ(e.size, 0u);
  EXPECT_TRUE(a().Exists(e.digest));
  EXPECT_NE(e.digest, obj.digest);
}

TEST_P(ArtifactStoreContract, IdenticalContentIsStoredOnce) {
  std::string f1 = StageFile(a(), "same bytes");
  std::string f2 = StageFile(a(), "same bytes");
  ASSERT_OK_AND_ASSIGN(StoredObject o1, a().Put(f1));
  ASSERT_OK_AND_ASSIGN(StoredObject o2, a().Put(f2));
  EXPECT_EQ(o1.digest, o2.digest);
  EXPECT_EQ(o1.uri, o2.uri);
  EXPECT_FALSE(fs::Exists(f2)) << "a deduplicated Put consumes what was staged too";
  std::string t1 = StageTree(a(), "same");
  std::string t2 = StageTree(a(), "same");
  ASSERT_OK_AND_ASSIGN(StoredObject d1, a().Put(t1));
  ASSERT_OK_AND_ASSIGN(StoredObject d2, a().Put(t2));
  EXPECT_EQ(d1.digest, d2.digest);
  EXPECT_FALSE(fs::Exists(t2));
  ASSERT_OK_AND_ASSIGN(std::string path, a().Get(d1.digest));
  EXPECT_EQ(DigestPath(path)->digest, d1.digest);
  // A different tree is a different object.
  ASSERT_OK_AND_ASSIGN(StoredObject d3, a().Put(StageTree(a(), "other")));
  EXPECT_NE(d3.digest, d1.digest);
}

TEST_P(ArtifactStoreContract, ListObjectsNamesEveryObjectAndDeleteRemovesOne) {
  EXPECT_TRUE(a().ListObjects()->empty());
  const int64_t before = NowMicros();
  ASSERT_OK_AND_ASSIGN(StoredObject file, a().Put(StageFile(a(), "twelve bytes")));
  ASSERT_OK_AND_ASSIGN(StoredObject tree, a().Put(StageTree(a(), "listed")));
  ASSERT_OK(a().PutBlob("snapshots/x.json", "{}"));  // blobs are no objects
  ASSERT_OK_AND_ASSIGN(auto listed, a().ListObjects());
  std::map<std::string, StoredObject> by_digest;
  for (const auto& o : listed) by_digest[o.digest] = o;
  ASSERT_EQ(by_digest.size(), 2u);
  ASSERT_EQ(listed.size(), 2u);
  ASSERT_TRUE(by_digest.count(file.digest));
  ASSERT_TRUE(by_digest.count(tree.digest));
  EXPECT_EQ(by_digest[file.digest].size, 12u);
  EXPECT_GT(by_digest[tree.digest].size, 0u);
  // Store clocks may be coarse (seconds) and a little off: within a minute of the Put.
  for (const auto& o : listed) {
    EXPECT_GT(o.modified_at, before - 60000000) << o.digest;
    EXPECT_LT(o.modified_at, NowMicros() + 60000000) << o.digest;
  }

  ASSERT_OK(a().Delete(file.digest, 0));
  EXPECT_FALSE(a().Exists(file.digest));
  EXPECT_CODE(a().Get(file.digest), Code::kNotFound);
  ASSERT_OK_AND_ASSIGN(listed, a().ListObjects());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].digest, tree.digest);
  EXPECT_OK(a().Delete(file.digest, 0)) << "an absent object is fine";
  EXPECT_CODE(a().Delete("not-a-digest", 0), Code::kInvalidArgument);
  ASSERT_OK(a().Delete(tree.digest, 0));
  EXPECT_FALSE(a().Exists(tree.digest));
  EXPECT_TRUE(a().ListObjects()->empty());
  EXPECT_EQ(*a().GetBlob("snapshots/x.json"), "{}");
  // Content Put again after a delete is stored again.
  ASSERT_OK_AND_ASSIGN(StoredObject again, a().Put(StageFile(a(), "twelve bytes")));
  EXPECT_EQ(again.digest, file.digest);
  ASSERT_OK_AND_ASSIGN(std::string path, a().Get(file.digest));
  EXPECT_EQ(*fs::ReadFile(path), "twelve bytes");
}

// A garbage collector spares an object a run Put again after it listed the store: every Put
// refreshes the object's time, also when the content was stored already.
TEST_P(ArtifactStoreContract, APutOfStoredContentRefreshesItsTime) {
  // Over 1 MiB: a remote store checks for the object before sending it, and skips the upload.
  const std::string big(static_cast<size_t>(1 << 20) + 17, 'g');
  ASSERT_OK_AND_ASSIGN(StoredObject first, a().Put(StageFile(a(), big)));
  ASSERT_OK_AND_ASSIGN(StoredObject small, a().Put(StageFile(a(), "small")));
  // Some stores keep times in whole seconds.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const int64_t listed_at = NowMicros();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_OK(a().Put(StageFile(a(), big)).status());
  ASSERT_OK(a().Put(StageFile(a(), "small")).status());
  for (const std::string& digest : {first.digest, small.digest}) {
    EXPECT_CODE(a().Delete(digest, listed_at), Code::kFailedPrecondition) << digest;
    EXPECT_TRUE(a().Exists(digest)) << digest;
    ASSERT_OK_AND_ASSIGN(std::string path, a().Get(digest));
    EXPECT_EQ(DigestPath(path)->digest, digest);
  }
  ASSERT_OK_AND_ASSIGN(auto listed, a().ListObjects());
  for (const auto& o : listed) EXPECT_GT(o.modified_at, listed_at - 1000000) << o.digest;
  // Without the condition, or with a later one, it goes.
  EXPECT_OK(a().Delete(first.digest, NowMicros() + 3600000000LL));
  EXPECT_FALSE(a().Exists(first.digest));
}

TEST_P(ArtifactStoreContract, GetGivesAReadOnlyLocalPath) {
  ASSERT_OK_AND_ASSIGN(StoredObject f, a().Put(StageFile(a(), "read me")));
  ASSERT_OK_AND_ASSIGN(StoredObject d, a().Put(StageTree(a(), "ro")));
  for (const auto& digest : {f.digest, d.digest}) {
    ASSERT_OK_AND_ASSIGN(std::string path, a().Get(digest));
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_mode & 0222, 0u) << path << " is writable";
  }
  ASSERT_OK_AND_ASSIGN(std::string dir, a().Get(d.digest));
  struct stat st;
  ASSERT_EQ(::stat((dir + "/sub/b.bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0u);
  // Another instance reads what this one stored.
  auto other = Open();
  ASSERT_NE(other, nullptr);
  ASSERT_OK_AND_ASSIGN(std::string again, other->Get(f.digest));
  EXPECT_EQ(ReadFileOrDie(again), "read me");
}

TEST_P(ArtifactStoreContract, AbsentObjectsAreNotFound) {
  const std::string absent = Sha256Hex("never stored");
  EXPECT_FALSE(a().Exists(absent));
  EXPECT_CODE(a().Get(absent), Code::kNotFound);
  EXPECT_CODE(a().Stat(absent), Code::kNotFound);
  TempDir out;
  EXPECT_CODE(a().Export(absent, out.path() + "/x"), Code::kNotFound);
  EXPECT_FALSE(fs::Exists(out.path() + "/x"));
  EXPECT_CODE(a().Put(StagePath(a())), Code::kNotFound);  // nothing staged there
  EXPECT_CODE(a().GetBlob("snapshots/absent.json"), Code::kNotFound);
}

TEST_P(ArtifactStoreContract, ExportCopiesToANewPathOnly) {
  ASSERT_OK_AND_ASSIGN(StoredObject f, a().Put(StageFile(a(), "export me")));
  ASSERT_OK_AND_ASSIGN(StoredObject d, a().Put(StageTree(a(), "exp")));
  TempDir out;
  ASSERT_OK(a().Export(f.digest, out.path() + "/file"));
  EXPECT_EQ(ReadFileOrDie(out.path() + "/file"), "export me");
  ASSERT_OK(a().Export(d.digest, out.path() + "/tree"));
  EXPECT_EQ(DigestPath(out.path() + "/tree")->digest, d.digest);
  // Never over something that is there; what is there stays as it was.
  out.Write("taken", "mine");
  EXPECT_CODE(a().Export(f.digest, out.path() + "/taken"), Code::kAlreadyExists);
  EXPECT_EQ(ReadFileOrDie(out.path() + "/taken"), "mine");
  ASSERT_OK(fs::MakeDirs(out.path() + "/dir"));
  EXPECT_CODE(a().Export(d.digest, out.path() + "/dir"), Code::kAlreadyExists);
  EXPECT_TRUE(fs::ListDir(out.path() + "/dir")->empty());
  // The stored object is untouched by exports.
  EXPECT_TRUE(a().Exists(f.digest));
  EXPECT_EQ(ReadFileOrDie(*a().Get(f.digest)), "export me");
}

TEST_P(ArtifactStoreContract, QuarantineTakesAnObjectOutOfTheStore) {
  ASSERT_OK_AND_ASSIGN(StoredObject f, a().Put(StageFile(a(), "doomed")));
  ASSERT_OK_AND_ASSIGN(StoredObject d, a().Put(StageTree(a(), "doomed")));
  ASSERT_OK_AND_ASSIGN(StoredObject kept, a().Put(StageFile(a(), "kept")));
  for (const auto& digest : {f.digest, d.digest}) {
    ASSERT_OK(a().Quarantine(digest));
    EXPECT_FALSE(a().Exists(digest));
    EXPECT_CODE(a().Get(digest), Code::kNotFound);
    EXPECT_CODE(a().Stat(digest), Code::kNotFound);
    EXPECT_OK(a().Quarantine(digest));  // an absent object is fine
  }
  EXPECT_TRUE(a().Exists(kept.digest));
  // The same content can be stored again afterwards.
  ASSERT_OK_AND_ASSIGN(StoredObject back, a().Put(StageFile(a(), "doomed")));
  EXPECT_EQ(back.digest, f.digest);
  EXPECT_EQ(ReadFileOrDie(*a().Get(f.digest)), "doomed");
  EXPECT_OK(a().Quarantine(Sha256Hex("never stored")));
}

// The interface promises verification on Get only for stores that copy into a local read cache;
// a store on this machine's filesystem hands out the object itself, and its readers (the step
// runner re-hashes inputs) detect damage and Quarantine the object. Either way, a damaged object
// is never handed out as good once detected.
TEST_P(ArtifactStoreContract, ACorruptedObjectIsDetectedAndQuarantined) {
  if (!GetParam().corrupt) GTEST_SKIP() << "this store kind supplies no way to damage an object";
  for (bool dir : {false, true}) {
    SCOPED_TRACE(dir ? "directory" : "file");
    std::string staged = dir ? StageTree(a(), "victim") : StageFile(a(), "victim");
    ASSERT_OK_AND_ASSIGN(StoredObject obj, a().Put(staged));
    ASSERT_OK(GetParam().corrupt(home_, obj.digest));
    auto got = a().Get(obj.digest);
    if (GetParam().get_verifies) {
      EXPECT_FALSE(got.ok()) << "Get handed out damaged content of " << obj.digest;
    } else {
      ASSERT_OK(got);
      ASSERT_OK_AND_ASSIGN(TreeDigest now, DigestPath(*got));
      EXPECT_NE(now.digest, obj.digest) << "the damage did not reach the stored object";
    }
    ASSERT_OK(a().Quarantine(obj.digest));
    EXPECT_FALSE(a().Exists(obj.digest));
    EXPECT_CODE(a().Get(obj.digest), Code::kNotFound);
    // Storing the content again repairs the store.
    std::string again = dir ? StageTree(a(), "victim") : StageFile(a(), "victim");
    ASSERT_OK_AND_ASSIGN(StoredObject back, a().Put(again));
    EXPECT_EQ(back.digest, obj.digest);
    ASSERT_OK_AND_ASSIGN(std::string path, a().Get(obj.digest));
    EXPECT_EQ(DigestPath(path)->digest, obj.digest);
  }
}

// Export hands over only content that matches the digest; a damaged object goes out of the store.
TEST_P(ArtifactStoreContract, ExportRefusesADamagedObject) {
  if (!GetParam().corrupt) GTEST_SKIP() << "this store kind supplies no way to damage an object";
  for (bool dir : {false, true}) {
    SCOPED_TRACE(dir ? "directory" : "file");
    ASSERT_OK_AND_ASSIGN(StoredObject obj,
                         a().Put(dir ? StageTree(a(), "spoilt") : StageFile(a(), "spoilt")));
    ASSERT_OK(GetParam().corrupt(home_, obj.digest));
    TempDir out;
    Status st = a().Export(obj.digest, out.path() + "/copy");
    EXPECT_CODE(st, Code::kInternal);
    EXPECT_NE(st.message().find("does not match its digest"), std::string::npos) << st.ToString();
    EXPECT_FALSE(fs::Exists(out.path() + "/copy"));
    EXPECT_FALSE(a().Exists(obj.digest));
  }
}

// Content produced again replaces a damaged object of its digest, without anyone quarantining it.
TEST_P(ArtifactStoreContract, APutReplacesADamagedObject) {
  if (!GetParam().corrupt) GTEST_SKIP() << "this store kind supplies no way to damage an object";
  for (bool dir : {false, true}) {
    SCOPED_TRACE(dir ? "directory" : "file");
    ASSERT_OK_AND_ASSIGN(StoredObject obj,
                         a().Put(dir ? StageTree(a(), "mend") : StageFile(a(), "mend")));
    ASSERT_OK(GetParam().corrupt(home_, obj.digest));
    ASSERT_OK_AND_ASSIGN(StoredObject again,
                         a().Put(dir ? StageTree(a(), "mend") : StageFile(a(), "mend")));
    EXPECT_EQ(again.digest, obj.digest);
    ASSERT_OK_AND_ASSIGN(StoredObject st, a().Stat(obj.digest));
    EXPECT_EQ(st.size, obj.size);
    ASSERT_OK_AND_ASSIGN(std::string path, a().Get(obj.digest));
    EXPECT_EQ(DigestPath(path)->digest, obj.digest);
  }
}

// A staged file with another hard link is copied in: the other link keeps its mode, and changing
// it later changes no object.
TEST_P(ArtifactStoreContract, AHardLinkedStagedFileIsCopiedNotAdopted) {
  TempDir user;
  const std::string mine = user.Write("data.csv", "a,b\n");
  ASSERT_OK(fs::Chmod(mine, 0644));
  std::string staged = StagePath(a());
  ASSERT_OK(fs::MakeDirs(fs::Dirname(staged)));
  if (::link(mine.c_str(), staged.c_str()) != 0)
    GTEST_SKIP() << "no hard link from here to the staging directory";
  std::string tree = StagePath(a());
  ASSERT_OK(fs::MakeDirs(tree));
  ASSERT_EQ(::link(mine.c_str(), (tree + "/d.csv").c_str()), 0);
  ASSERT_OK_AND_ASSIGN(StoredObject f, a().Put(staged));
  ASSERT_OK_AND_ASSIGN(StoredObject d, a().Put(tree));
  struct stat st;
  ASSERT_EQ(::stat(mine.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(st.st_nlink, 1u);
  ASSERT_OK(fs::WriteFile(mine, "changed\n"));
  ASSERT_OK_AND_ASSIGN(std::string fp, a().Get(f.digest));
  EXPECT_EQ(ReadFileOrDie(fp), "a,b\n");
  ASSERT_OK_AND_ASSIGN(std::string dp, a().Get(d.digest));
  EXPECT_EQ(ReadFileOrDie(dp + "/d.csv"), "a,b\n");
}

TEST_P(ArtifactStoreContract, BlobsAreWrittenOnceAtStableKeys) {
  ASSERT_OK(a().PutBlob("snapshots/abc.json", "{\"v\":1}"));
  EXPECT_EQ(*a().GetBlob("snapshots/abc.json"), "{\"v\":1}");
  EXPECT_OK(a().PutBlob("snapshots/abc.json", "{\"v\":1}"));
  EXPECT_OK(a().PutBlob("snapshots/abc.json", "{\"v\":2}"));  // keeps the first content
  EXPECT_EQ(*a().GetBlob("snapshots/abc.json"), "{\"v\":1}");
  ASSERT_OK(a().PutBlob("top", ""));
  EXPECT_EQ(*a().GetBlob("top"), "");
  EXPECT_EQ(*Open()->GetBlob("snapshots/abc.json"), "{\"v\":1}");
  EXPECT_CODE(a().GetBlob("snapshots/other.json"), Code::kNotFound);
  // Keys are relative names inside the store.
  EXPECT_CODE(a().PutBlob("../escape", "x"), Code::kInvalidArgument);
  EXPECT_CODE(a().PutBlob("/abs", "x"), Code::kInvalidArgument);
  EXPECT_CODE(a().GetBlob("../escape"), Code::kInvalidArgument);
}

// Two instances in two threads put the same content at once, again and again: every Put succeeds
// with the same digest, consumes what it staged, and one whole object results.
TEST_P(ArtifactStoreContract, ConcurrentPutsOfTheSameContentAllSucceed) {
  constexpr int kRounds = 20;
  std::unique_ptr<ArtifactStore> stores[2] = {Open(), Open()};
  ASSERT_NE(stores[0], nullptr);
  ASSERT_NE(stores[1], nullptr);
  for (int round = 0; round < kRounds; ++round) {
    const bool dir = round % 2 == 1;
    const std::string seed = "race " + std::to_string(round);
    std::string staged[2];
    for (int i = 0; i < 2; ++i)
      staged[i] = dir ? StageTree(*stores[i], seed) : StageFile(*stores[i], seed);
    Result<StoredObject> results[2] = {Status(), Status()};
    std::atomic<int> ready{0};
    auto put = [&](int i) {
      ready++;
      while (ready.load() < 2) std::this_thread::yield();
      results[i] = stores[i]->Put(staged[i]);
    };
    std::thread t0(put, 0), t1(put, 1);
    t0.join();
    t1.join();
    ASSERT_OK(results[0]) << seed;
    ASSERT_OK(results[1]) << seed;
    EXPECT_EQ(results[0]->digest, results[1]->digest);
    EXPECT_FALSE(fs::Exists(staged[0]));
    EXPECT_FALSE(fs::Exists(staged[1]));
    ASSERT_OK_AND_ASSIGN(std::string path, a().Get(results[0]->digest));
    EXPECT_EQ(DigestPath(path)->digest, results[0]->digest) << seed;
    ASSERT_OK_AND_ASSIGN(StoredObject st, a().Stat(results[0]->digest));
    EXPECT_EQ(st.size, results[0]->size);
  }
}

TEST_P(ArtifactStoreContract, ConcurrentPutBlobsOfOneKeyAllSucceed) {
  constexpr int kRounds = 20;
  std::unique_ptr<ArtifactStore> stores[2] = {Open(), Open()};
  ASSERT_NE(stores[0], nullptr);
  ASSERT_NE(stores[1], nullptr);
  for (int round = 0; round < kRounds; ++round) {
    const std::string key = "snapshots/" + Sha256Hex(std::to_string(round)) + ".json";
    const std::string body = "{\"round\":" + std::to_string(round) + "}";
    Status results[2];
    std::atomic<int> ready{0};
    auto put = [&](int i) {
      ready++;
      while (ready.load() < 2) std::this_thread::yield();
      results[i] = stores[i]->PutBlob(key, body);
    };
    std::thread t0(put, 0), t1(put, 1);
    t0.join();
    t1.join();
    EXPECT_OK(results[0]) << key;
    EXPECT_OK(results[1]) << key;
    EXPECT_EQ(*a().GetBlob(key), body);
  }
}

// Permission checks do not apply to root, which tests often run as; a store on this machine's
// filesystem must work for the unprivileged users that run baton too (moving a read-only tree to
// another directory, for one, is refused to them). Runs the store's life as `nobody` in a child.
TEST_P(ArtifactStoreContract, AnUnprivilegedUserCanPutGetAndQuarantine) {
  if (home_.root.empty()) GTEST_SKIP() << "not a store on this machine's filesystem";
  if (::geteuid() != 0)
    GTEST_SKIP() << "runs as an unprivileged user already (the other tests cover it)";
  constexpr uid_t kNobody = 65534;
  store_.reset();
  // The test's directory (mode 0700) and everything in it become nobody's.
  auto chown = RunProgram("/", {"/bin/chown", "-R", "65534:65534", home_.dir->path()});
  if (chown.exit_code != 0)
    GTEST_SKIP() << "cannot give the store to nobody here: " << Describe(chown);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
        ::setresuid(kNobody, kNobody, kNobody) != 0 || !fs::IsDir(home_.root))
      ::_exit(10);  // no nobody here, or a temporary directory nobody cannot reach
    auto opened = Stores().OpenArtifactStore(home_.uri);
    if (!opened.ok()) ::_exit(11);
    ArtifactStore& s = **opened;
    std::string tree = s.StagingDir() + "/tree";
    if (!fs::MakeDirs(tree + "/sub").ok() || !fs::WriteFile(tree + "/sub/f", "f").ok()) ::_exit(12);
    auto put = s.Put(tree);
    if (!put.ok()) ::_exit(13);
    std::string again = s.StagingDir() + "/again";
    if (!fs::MakeDirs(again + "/sub").ok() || !fs::WriteFile(again + "/sub/f", "f").ok())
      ::_exit(14);
    if (!s.Put(again).ok() || fs::Exists(again)) ::_exit(15);
    std::string file = s.StagingDir() + "/file";
    if (!fs::WriteFile(file, "content").ok() || !s.Put(file).ok()) ::_exit(16);
    auto got = s.Get(put->digest);
    if (!got.ok() || !fs::Exists(*got + "/sub/f")) ::_exit(17);
    if (!s.Quarantine(put->digest).ok() || s.Exists(put->digest)) ::_exit(18);
    if (!s.PutBlob("snapshots/x.json", "{}").ok()) ::_exit(19);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 10) GTEST_SKIP() << "nobody cannot reach the store here";
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "the child failed as nobody with exit code " << WEXITSTATUS(status);
}

std::string ArtifactKindName(const ::testing::TestParamInfo<ArtifactStoreKind>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Stores, ArtifactStoreContract, ::testing::ValuesIn(ArtifactStoreKinds()),
                         ArtifactKindName);

}  // namespace
}  // namespace baton::testing
