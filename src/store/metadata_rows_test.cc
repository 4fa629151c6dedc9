// The row copy of store/metadata_rows.h between SQLite stores: the tables it knows are the
// schema's, and a copy keeps every row and id and refuses a target that is not new. Copies to and
// from PostgreSQL, through `baton store migrate`, are in tests/postgres_test.cc.

#include "store/metadata_rows.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "baton/metadata_store.h"
#include "store/sqlite_store.h"
#include "test_util.h"

namespace baton::testing {
namespace {

#define ASSERT_OK(expr)                                     \
  do {                                                      \
    const Status _s = (expr);                               \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)

// The rows of a query on a SQLite file, read directly, each as its columns' text.
std::vector<std::vector<std::string>> SqliteRows(const std::string& path, const std::string& sql) {
  std::vector<std::vector<std::string>> out;
  sqlite3* db = nullptr;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_open(path.c_str(), &db) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK) {
    while (sqlite3_step(s) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(s); ++c) {
        auto* t = sqlite3_column_text(s, c);
        row.push_back(t ? reinterpret_cast<const char*>(t) : "");
      }
      out.push_back(row);
    }
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

TEST(MetadataRows, TheTablesAreTheSqliteSchema) {
  TempDir d;
  const std::string path = d.path() + "/baton.db";
  ASSERT_OK(OpenSqliteStore(path).status());
  std::set<std::string> listed;
  for (const Table& t : MetadataTables()) {
    listed.insert(t.name);
    std::vector<std::vector<std::string>> want;
    for (const Column& c : t.columns)
      want.push_back({c.name, c.type == ColumnType::kInteger ? "INTEGER" : "TEXT"});
    EXPECT_EQ(
        SqliteRows(path, std::string("SELECT name, type FROM pragma_table_info('") + t.name + "')"),
        want)
        << t.name;
  }
  std::set<std::string> tables;
  for (const auto& row : SqliteRows(
           path,
           "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'schema_version'"))
    tables.insert(row[0]);
  EXPECT_EQ(tables, listed);
}

using Dump = std::vector<std::pair<std::string, Row>>;

Dump Export(MetadataStore& m) {
  Dump out;
  auto* rows = dynamic_cast<MetadataRows*>(&m);
  EXPECT_NE(rows, nullptr);
  if (rows == nullptr) return out;
  Status s = rows->ExportRows([&](const Table& t, const Row& r) {
    out.emplace_back(t.name, r);
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// A small history: two runs, one reusing the other's output (cached_from), an input, a failed
// attempt, a component, a stack, a plugin and a setting.
void Populate(MetadataStore& m) {
  ASSERT_OK(m.PutSnapshot("h", "p", "{\"name\":\"p\"}"));
  for (const char* id : {"r1", "r2"}) {
    RunRecord r;
    r.id = id;
    r.pipeline = "p";
    r.snapshot_hash = "h";
    r.status = RunStatus::kCompleted;
    r.created_at = 1000;  // the same time: their order is the order they were created in
    r.parameters = "{\"n\":1}";
    ASSERT_OK(m.CreateRun(r));
  }
  StepRunRecord train;
  train.run_id = "r1";
  train.step = "train";
  train.cache_key = "key";
  auto id = m.StartStepRun(train);
  ASSERT_OK(id.status());
  train.id = *id;
  train.status = StepStatus::kCompleted;
  ArtifactRecord a;
  a.run_id = "r1";
  a.pipeline = "p";
  a.step = "train";
  a.name = "model";
  a.digest = "0123456789abcdef";
  a.kind = "file";
  a.uri = "file:///x";
  a.materializer = "text";
  std::vector<ArtifactRecord> arts = {a};
  ASSERT_OK(m.FinishStepRun(train, &arts, {}, {}));
  StepRunRecord cached;
  cached.run_id = "r2";
  cached.step = "train";
  id = m.StartStepRun(cached);
  ASSERT_OK(id.status());
  cached.id = *id;
  cached.status = StepStatus::kCached;
  cached.cached_from = train.id;
  std::vector<ArtifactRecord> none;
  ASSERT_OK(m.FinishStepRun(cached, &none, {{"model", arts[0].id}}, {}));
  StepRunRecord eval;
  eval.run_id = "r2";
  eval.step = "eval";
  id = m.StartStepRun(eval);
  ASSERT_OK(id.status());
  eval.id = *id;
  eval.status = StepStatus::kFailed;
  eval.reason = "exit code 1";
  ASSERT_OK(m.FinishStepRun(eval, &none, {}, {{"m", arts[0].id}}));
  ASSERT_OK(m.CreateComponent({"orchestrator", "fast", "local", "{\"jobs\":2}", 0, 0}));
  ASSERT_OK(m.CreateStack({"team", "fast", "default", 0, 0}));
  ASSERT_OK(m.PutPlugin({"orchestrator", "script", "/lib/s.so", "d", 0}));
  ASSERT_OK(m.SetSetting("active_stack", "team"));
}

TEST(MetadataRows, ACopyBetweenSqliteStoresKeepsEveryRowAndId) {
  TempDir d;
  auto from = OpenSqliteStore(d.path() + "/from.db");
  auto to = OpenSqliteStore(d.path() + "/to.db");
  ASSERT_OK(from.status());
  ASSERT_OK(to.status());
  Populate(**from);
  std::map<std::string, int64_t> copied;
  ASSERT_OK(CopyMetadataRows(*dynamic_cast<MetadataRows*>(from->get()),
                             *dynamic_cast<MetadataRows*>(to->get()), &copied));
  EXPECT_EQ(copied["runs"], 2);
  EXPECT_EQ(copied["step_runs"], 3);
  EXPECT_EQ(copied["step_inputs"], 1);
  const Dump original = Export(**from);
  EXPECT_EQ(Export(**to), original);
  // The copy answers as the original does: order of runs created at the same time, lineage.
  auto runs = (*to)->ListRuns("", 0);
  ASSERT_OK(runs.status());
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[0].id, "r2");
  auto consumers = (*to)->Consumers(1);
  ASSERT_OK(consumers.status());
  ASSERT_EQ(consumers->size(), 1u);
  EXPECT_EQ((*consumers)[0].step, "eval");
  // New ids continue after the copied ones.
  StepRunRecord s;
  s.run_id = "r1";
  s.step = "later";
  auto id = (*to)->StartStepRun(s);
  ASSERT_OK(id.status());
  EXPECT_EQ(*id, 4);

  // A store holding more than a new store does is never replaced.
  auto third = OpenSqliteStore(d.path() + "/third.db");
  ASSERT_OK(third.status());
  ASSERT_OK((*third)->SetSetting("color", "never"));
  const Dump before = Export(**third);
  Status refused = CopyMetadataRows(*dynamic_cast<MetadataRows*>(from->get()),
                                    *dynamic_cast<MetadataRows*>(third->get()), nullptr);
  EXPECT_EQ(refused.code(), Code::kFailedPrecondition) << refused.ToString();
  EXPECT_NE(refused.message().find("not empty"), std::string::npos) << refused.message();
  EXPECT_EQ(Export(**third), before);
}

}  // namespace
}  // namespace baton::testing
