#pragma once
// SqliteDb: one SQLite connection as baton's stores use it: WAL, pragmas for many small
// transactions, a cache of prepared statements, transactions retried while another process
// holds the write lock, batches of writes (savepoints inside one transaction), and the schema
// migrations of store/migrations.h. Not thread-safe: one per thread.

#include <sqlite3.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "baton/status.h"
#include "store/migrations.h"

namespace baton {

// A prepared statement with typed binding; reset on destruction of the Use scope.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) != SQLITE_OK)
      err_ = sqlite3_errmsg(db);
  }
  ~Stmt() { sqlite3_finalize(s_); }
  const std::string& error() const { return err_; }
  sqlite3_stmt* get() { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
  std::string err_;
};

// Binds and steps one use of a statement.
class Query {
 public:
  // A null statement (one that failed to prepare) makes every Step() fail with SQLITE_ERROR.
  explicit Query(sqlite3_stmt* s) : s_(s) {}
  ~Query() {
    if (!s_) return;
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Query& Bind(const std::string& v) {
    if (!s_) return *this;
    sqlite3_bind_text(s_, ++i_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Query& Bind(const char* v) { return Bind(std::string(v)); }
  Query& Bind(int64_t v) {
    if (!s_) return *this;
    sqlite3_bind_int64(s_, ++i_, v);
    return *this;
  }
  Query& Bind(int v) { return Bind(static_cast<int64_t>(v)); }
  Query& Bind(double v) {
    if (!s_) return *this;
    sqlite3_bind_double(s_, ++i_, v);
    return *this;
  }
  int Step() { return s_ ? sqlite3_step(s_) : SQLITE_ERROR; }
  std::string Text(int c) {
    auto* p = sqlite3_column_text(s_, c);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(s_, c))) : "";
  }
  int64_t Int(int c) { return sqlite3_column_int64(s_, c); }
  double Double(int c) { return sqlite3_column_double(s_, c); }

 private:
  sqlite3_stmt* s_;
  int i_ = 0;
};

class SqliteDb : public SchemaDb {
 public:
  SqliteDb() = default;
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;
  ~SqliteDb() override;

  // Opens (creating) the database file with baton's pragmas. On a full disk it still opens for
  // reading; failures from a full disk are ResourceExhausted and say "the disk is full".
  Status Open(const std::string& path);

  // Brings the schema to the end of `migrations` (ApplyMigrations in store/migrations.h).
  // FailedPrecondition for a store newer than the list.
  Status Migrate(MigrationList migrations);

  // SchemaDb: a write transaction is BEGIN IMMEDIATE (or a savepoint inside a batch).
  Status InWriteTransaction(const std::function<Status()>& body) override { return Txn(body); }
  Status ExecScript(const std::string& sql) override { return Exec(sql.c_str()); }
  Result<int64_t> QueryInt(const std::string& sql) override;

 protected:
  // The prepared statement for `sql` (cached by its text), or null when
  // it does not prepare (Err then says why).
  sqlite3_stmt* S(const char* sql);

  // The connection's last error as a Status: busy is Unavailable, full is ResourceExhausted, a
  // taken key AlreadyExists, a missing reference NotFound.
  Status Err(const std::string& what);
  Status Done(int rc, const std::string& what) { return rc == SQLITE_DONE || rc == SQLITE_ROW ? Status::Ok() : Err(what); }

  // Runs one statement through the prepared-statement cache (for BEGIN, COMMIT, SAVEPOINT...).
  Status Run(const char* sql);

  // Runs SQL text (several statements) outside the statement cache.
  Status Exec(const char* sql);

  // Exec, retried (like BEGIN IMMEDIATE) while the database is busy.
  Status ExecRetrying(const char* sql);
  // Open, in shared or (for a full disk, see Open) exclusive locking mode.
  Status OpenWith(const std::string& path, bool exclusive);

  // Batches: writes until FinishBatch share one transaction; nested calls are counted.
  Status StartBatch();

  Status FinishBatch();

  // BEGIN IMMEDIATE, retried while another process holds the write lock.
  Status BeginImmediate();

  // Runs f inside BEGIN IMMEDIATE ... COMMIT (or a savepoint inside a batch); rolls back on
  // error. Retries while another process holds the write lock.
  template <typename F>
  Status Txn(F&& f) {
    if (batch_depth_ > 0) {
      BATON_RETURN_IF_ERROR(Run("SAVEPOINT w"));
      Status s = f();
      if (!s.ok()) (void)Run("ROLLBACK TO w");
      (void)Run("RELEASE w");
      return s;
    }
    BATON_RETURN_IF_ERROR(BeginImmediate());
    Status s = f();
    return s.ok() ? Commit() : (Rollback(), s);
  }

  // COMMIT (then KeepLogAhead), or ROLLBACK when it fails.
  Status Commit();
  void Rollback();

  sqlite3* db_ = nullptr;

 private:
  // Keeps the disk blocks of the write-ahead log allocated ahead of its end (kLogHeadroom at
  // least), so that a commit does not fail because something else (a step) filled the disk
  // meanwhile: SQLite rolls back a whole transaction whose commit finds the disk full. Best
  // effort; called after every commit (one stat, and a fallocate every kLogHeadroom of growth).
  void KeepLogAhead();
  static constexpr int64_t kLogHeadroom = 256 << 10;
  // Below this size the WAL is left in place when the connection closes (see ~SqliteDb).
  static constexpr int64_t kCheckpointOnCloseBytes = 256 << 10;
  std::string path_;
  std::string wal_path_;
  bool creating_ = false;  // a new, empty database: its schema is written without syncs
  int64_t log_reserved_ = 0;  // bytes of the log known to be allocated

  std::map<std::string, std::unique_ptr<Stmt>> stmts_;
  std::string prepare_error_;
  int batch_depth_ = 0;
};

}  // namespace baton
