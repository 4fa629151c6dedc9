// The migration framework (store/migrations.h) on the SQLite store: a store an older baton made
// is upgraded with its records kept, a newer one is refused, a failing migration changes nothing.
// The same checks on PostgreSQL are in tests/postgres_test.cc.

#include "store/migrations.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "baton/metadata_store.h"
#include "store/sqlite_schema.h"
#include "store/sqlite_store.h"
#include "test_util.h"

namespace baton::testing {
namespace {

#define ASSERT_OK(expr)                                     \
  do {                                                      \
    const Status _s = (expr);                               \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)

// Runs SQL on a SQLite file directly, as an older baton (or a person) would have written it.
class RawSqlite {
 public:
  explicit RawSqlite(const std::string& path) { sqlite3_open(path.c_str(), &db_); }
  ~RawSqlite() { sqlite3_close(db_); }
  std::string Exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) == SQLITE_OK) return "";
    std::string m = err ? err : "error";
    sqlite3_free(err);
    return m;
  }
  // The rows of a query, each as its columns' text.
  std::vector<std::vector<std::string>> Rows(const std::string& sql) {
    std::vector<std::vector<std::string>> out;
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) return out;
    while (sqlite3_step(s) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(s); ++c) {
        auto* t = sqlite3_column_text(s, c);
        row.push_back(t ? reinterpret_cast<const char*>(t) : "");
      }
      out.push_back(row);
    }
    sqlite3_finalize(s);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

// Records of schema version 1 (no artifacts.materializer, no components or settings), as rows.
constexpr const char* kVersionOneRows = R"sql(
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
)sql";

TEST(Migrations, AVersionOneSqliteStoreIsUpgradedWithItsRecords) {
  TempDir d;
  const std::string path = d.path() + "/baton.db";
  {
    auto old = OpenSqliteStoreWithSchema(path, SqliteMigrations().first(1));
    ASSERT_OK(old.status());
  }
  {
    RawSqlite raw(path);
    ASSERT_EQ(raw.Exec(kVersionOneRows), "");
    EXPECT_EQ(raw.Rows("SELECT version FROM schema_version"),
              (std::vector<std::vector<std::string>>{{"1"}}));
  }
  auto opened = OpenSqliteStore(path);
  ASSERT_OK(opened.status());
  MetadataStore& m = **opened;
  auto run = m.GetRun("old-1");
  ASSERT_OK(run.status());
  EXPECT_EQ(run->pipeline, "old");
  EXPECT_EQ(run->status, RunStatus::kCompleted);
  EXPECT_EQ(run->parameters, R"({"a":1})");
  auto steps = m.ListStepRuns("old-1");
  ASSERT_OK(steps.status());
  ASSERT_EQ(steps->size(), 2u);
  EXPECT_EQ((*steps)[1].cached_from, 11);
  // Version 3's columns exist, empty for what was recorded before.
  auto art = m.GetArtifact("21");
  ASSERT_OK(art.status());
  EXPECT_EQ(art->name, "model");
  EXPECT_EQ(art->materializer, "");
  EXPECT_EQ(art->type, "");
  auto ins = m.StepInputs(12);
  ASSERT_OK(ins.status());
  ASSERT_EQ(ins->size(), 1u);
  EXPECT_EQ((*ins)[0].second.id, 21);
  // Version 4's columns: no tags, no note, the cache on.
  auto labelled = m.GetRun("old-1");
  ASSERT_OK(labelled.status());
  EXPECT_TRUE(labelled->tags.empty());
  EXPECT_EQ(labelled->note, "");
  EXPECT_TRUE(labelled->use_cache);
  // Version 2's records.
  EXPECT_EQ(m.GetStack("default")->orchestrator, "default");
  EXPECT_EQ(*m.GetSetting("active_stack", ""), "default");
  // New records get new ids and the next version.
  StepRunRecord s;
  s.run_id = "old-1";
  s.step = "train";
  s.attempt = 2;
  auto id = m.StartStepRun(s);
  ASSERT_OK(id.status());
  EXPECT_GT(*id, 12);
  s.id = *id;
  s.status = StepStatus::kCompleted;
  ArtifactRecord a = *art;
  a.digest = "fedcba";
  std::vector<ArtifactRecord> arts = {a};
  ASSERT_OK(m.FinishStepRun(s, &arts, {}, {}));
  EXPECT_EQ(arts[0].version, 2);
  opened->reset();
  RawSqlite raw(path);
  std::vector<std::vector<std::string>> every;
  for (int64_t v = 1; v <= LatestVersion(SqliteMigrations()); ++v) every.push_back({std::to_string(v)});
  EXPECT_EQ(raw.Rows("SELECT version FROM schema_version ORDER BY version"), every);
}

TEST(Migrations, AStoreNewerThanTheBinaryIsRefused) {
  TempDir d;
  const std::string path = d.path() + "/baton.db";
  ASSERT_OK(OpenSqliteStore(path).status());
  auto older = OpenSqliteStoreWithSchema(path, SqliteMigrations().first(2));
  EXPECT_EQ(older.status().code(), Code::kFailedPrecondition) << older.status().ToString();
  EXPECT_NE(
      older.status().message().find("schema version " +
                                    std::to_string(LatestVersion(SqliteMigrations())) +
                                    ", newer than this baton understands (2)"),
      std::string::npos)
      << older.status().message();
  EXPECT_NE(older.status().message().find(path), std::string::npos) << older.status().message();
}

TEST(Migrations, AFailingMigrationChangesNothing) {
  TempDir d;
  const std::string path = d.path() + "/baton.db";
  const Migration broken[] = {{1, "CREATE TABLE one(x INTEGER);"},
                              {2, "CREATE TABLE two(y INTEGER);"},
                              {3, "CREATE TABLE one(z INTEGER);"}};  // one exists: fails
  auto opened = OpenSqliteStoreWithSchema(path, broken);
  EXPECT_FALSE(opened.ok());
  EXPECT_NE(opened.status().message().find("migration to schema version 3"), std::string::npos)
      << opened.status().message();
  RawSqlite raw(path);
  EXPECT_TRUE(raw.Rows("SELECT name FROM sqlite_master WHERE name IN ('one', 'two')").empty());
  EXPECT_TRUE(raw.Rows("SELECT version FROM schema_version").empty());
  // The first two, alone, apply.
  EXPECT_TRUE(OpenSqliteStoreWithSchema(path, MigrationList(broken).first(2)).ok());
  EXPECT_EQ(raw.Rows("SELECT name FROM sqlite_master WHERE name IN ('one', 'two') ORDER BY name"),
            (std::vector<std::vector<std::string>>{{"one"}, {"two"}}));
}

TEST(Migrations, AListNotNumberedFromOneIsRefused) {
  TempDir d;
  const Migration gap[] = {{1, "CREATE TABLE one(x INTEGER);"},
                           {3, "CREATE TABLE three(x INTEGER);"}};
  auto opened = OpenSqliteStoreWithSchema(d.path() + "/baton.db", gap);
  EXPECT_EQ(opened.status().code(), Code::kInternal) << opened.status().ToString();
  EXPECT_EQ(LatestVersion(SqliteMigrations()), kSqliteSchemaVersion);
}

}  // namespace
}  // namespace baton::testing
