#pragma once
// PgDb: one libpq connection as baton's PostgreSQL metadata store uses it: a cache of prepared
// statements, write transactions that hold the store's write lock (retried on serialization
// failures and deadlocks), batches (savepoints inside one transaction), reconnection after a lost
// connection, and the outcome of a commit whose answer was lost. Not thread-safe: one per thread.
//
// The write lock is a transaction-scoped advisory lock named after the store's schema: writers of
// one store take turns, as SQLite's writers do, so a batch's checks still hold when it commits and
// versions counted inside a transaction are never counted twice; readers never wait for it.
// Statements outside a transaction are reads: one that finds the connection lost is sent again
// once on a new connection. A statement inside a transaction that finds the connection lost fails
// with Unavailable (the server rolled the transaction back; inside a batch, the whole batch, and
// every call until its end says so). When the connection is lost while committing, PgDb
// reconnects and asks the server whether that transaction committed (txid_status), so that the
// caller learns the real outcome; only when the server stays unreachable is the outcome unknown,
// which the Unavailable message says.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "baton/status.h"
#include "baton/stores.h"
#include "store/migrations.h"

// libpq's handles (libpq-fe.h names them PGconn and PGresult).
struct pg_conn;
struct pg_result;

namespace baton {

// What a postgresql:// (or postgres://) URI names, split for libpq.
struct PgTarget {
  std::string conninfo;  // the URI as libpq takes it: without baton's own parameters
  std::string schema;    // the PostgreSQL schema holding the store's tables ("public" by default)
  std::string where;     // host:port/database, for messages
};

// Splits a store URI. The password never comes from a URI (they are recorded in step commands
// and snapshots): InvalidArgument for one with a password, and for a URI libpq does not accept
// (naming the parameter). `schema=NAME` is baton's; every other parameter (sslmode,
// connect_timeout, application_name...) goes to libpq.
Result<PgTarget> ParsePostgresUri(const StoreUri& uri);

// The rows of one statement's result, in libpq's text format. Move-only.
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(pg_result* r) : r_(r) {}
  PgResult(PgResult&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
  PgResult& operator=(PgResult&& o) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult();

  int rows() const;
  int columns() const;
  bool IsNull(int row, int col) const;
  std::string Text(int row, int col) const;  // "" for NULL
  int64_t Int(int row, int col) const;       // 0 for NULL
  double Double(int row, int col) const;     // 0 for NULL
  int64_t affected() const;                  // rows an INSERT, UPDATE or DELETE changed

 private:
  pg_result* r_ = nullptr;
};

// The parameters of one statement, in text form.
class PgParams {
 public:
  PgParams& Add(const std::string& v) {
    values_.push_back(v);
    return *this;
  }
  PgParams& Add(const char* v) { return Add(std::string(v)); }
  PgParams& Add(int64_t v) { return Add(std::to_string(v)); }
  PgParams& Add(int v) { return Add(std::to_string(v)); }
  const std::vector<std::string>& values() const { return values_; }

 private:
  std::vector<std::string> values_;
};

// One statement of PgDb::WriteAll.
struct PgStatement {
  std::string sql;
  PgParams params;
  std::string what;  // names it in error messages
};

class PgDb : public SchemaDb {
 public:
  PgDb() = default;
  PgDb(const PgDb&) = delete;
  PgDb& operator=(const PgDb&) = delete;
  ~PgDb() override;

  // Connects to the server and database of `target`, with the target's schema first on the
  // search path (it need not exist yet). Unavailable, naming host:port, when the server cannot
  // be reached; FailedPrecondition for a server older than PostgreSQL 10.
  Status Open(const PgTarget& target);

  // Creates the target's schema when it is missing and brings it to the end of `migrations`
  // (ApplyMigrations in store/migrations.h), all under the store's write lock. Takes no lock
  // when the store is up to date already.
  Status Migrate(MigrationList migrations);

  // SchemaDb.
  Status InWriteTransaction(const std::function<Status()>& body) override { return Txn(body); }
  Status ExecScript(const std::string& sql) override;
  Result<int64_t> QueryInt(const std::string& sql) override;

  // Runs SQL text (one statement or several, no parameters) and returns the last one's rows.
  Result<PgResult> QueryText(const std::string& sql);

  const PgTarget& target() const { return target_; }
  // host:port/database of the connection, for messages.
  const std::string& where() const { return target_.where; }
  // The server process serving this connection (0 when not connected).
  int BackendPid() const;

 protected:
  // Runs one prepared statement (prepared once per connection, cached by its text). `what`
  // names the operation in error messages. Error codes: a taken key is AlreadyExists, a missing
  // reference NotFound, a bad value InvalidArgument, a full disk ResourceExhausted, a lost
  // connection, a lock not granted in time, a serialization failure or a deadlock Unavailable.
  Result<PgResult> Execute(const std::string& sql, const PgParams& params, const std::string& what);

  template <typename... A>
  Result<PgResult> Q(const std::string& sql, const std::string& what, const A&... args) {
    PgParams params;
    (params.Add(args), ...);
    return Execute(sql, params, what);
  }

  // Runs f in a write transaction holding the store's write lock and commits it; rolls it back
  // when f fails. Retried (f runs again) after a serialization failure or a deadlock. Inside a
  // batch or another transaction, f runs in a savepoint instead: a failure undoes only f.
  template <typename F>
  Status Txn(F&& f) {
    if (in_txn_ || batch_depth_ > 0)
      return InSavepoint(std::function<Status()>(std::forward<F>(f)));
    return Standalone(std::function<Status()>(std::forward<F>(f)));
  }

  // Runs `statements` as one write transaction and returns their results, in order. Outside a
  // batch, the transaction begins (with its id, for a lost commit) in one round trip, and the
  // write lock, the statements and the commit go in the next, at once (libpq's pipeline mode):
  // the lock is held while the server executes them, never across a round trip to this process,
  // where Txn holds it across one for each statement. All or nothing: the first statement that
  // fails rolls back all, and its error is returned; a check that must undo the others has to be
  // one the server makes (a foreign key, a constraint). Retried as Txn is. Inside a batch or
  // another transaction they run one by one in a savepoint. When the answer to the commit was
  // lost and the server says it committed, the statements' answers may be lost with it: then
  // fewer results than statements come back, and the caller reads what it needs again.
  Result<std::vector<PgResult>> WriteAll(const std::vector<PgStatement>& statements);

  // Runs f in a read-only transaction that sees one state of the database (REPEATABLE READ),
  // without the write lock. Not inside a batch or another transaction.
  Status ReadTransaction(const std::function<Status()>& f);

  // Batches: the writes until the outermost FinishBatch share one transaction, which begins with
  // the batch's first statement (taking the write lock then); nested calls are counted.
  Status StartBatch();
  Status FinishBatch();

 private:
  Status Connect();
  void Disconnect();
  Status EnsureConnected();
  // Sends a statement: prepared (params given) or as SQL text (params null).
  pg_result* Send(const std::string& sql, const PgParams* params);
  Result<PgResult> Run(const std::string& sql, const PgParams* params, const std::string& what);
  Status Begin(const char* begin_sql, bool write);
  Status Commit();
  void Rollback();
  Status Standalone(const std::function<Status()>& f);
  // One attempt of WriteAll outside a transaction: `out` gets the results.
  Status Pipelined(const std::vector<PgStatement>& statements, std::vector<PgResult>* out);
  // The name of the statement prepared for `sql` on this connection, preparing it first.
  Result<std::string> Prepared(const std::string& sql, int params, const std::string& what);
  Status InSavepoint(const std::function<Status()>& f);
  Status ResolveLostCommit(const std::string& lost);
  // The error of a failed result (and whether it may be retried), and the failure of a lost
  // connection.
  Status ErrorOf(pg_result* r, const std::string& what);
  Status LostConnection(const std::string& detail, const std::string& what);
  bool ConnectionLost() const;

  pg_conn* conn_ = nullptr;
  PgTarget target_;
  int64_t lock_key_ = 0;
  std::string begin_write_;  // begins a write transaction: READ COMMITTED, the lock, its xid
  std::string lock_sql_;     // takes the write lock inside a transaction
  std::map<std::string, std::string> statements_;  // SQL text -> prepared statement name
  int next_statement_ = 0;
  bool in_txn_ = false;  // a transaction of ours is open on the connection
  int64_t txn_xid_ = 0;  // its transaction id (write transactions)
  int savepoints_ = 0;   // savepoints open in it
  int batch_depth_ = 0;
  Status batch_error_;      // why the current batch's transaction is gone
  bool retryable_ = false;  // the last error was a serialization failure or a deadlock
};

}  // namespace baton
