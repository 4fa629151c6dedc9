#include "store/sqlite_db.h"

#include <cerrno>
#include <chrono>
#include <thread>

#include "platform/fs.h"

namespace baton {

SqliteDb::~SqliteDb() {
  stmts_.clear();
  if (db_ == nullptr) return;
  // A small WAL is left for the next connection instead of being copied into the database as
  // the last connection closes: that copy costs two fsyncs, and restarting the WAL after it a
  // third and a directory sync at the next write (four of the 19 ms of a one-step run). The
  // next first opener reads it back (about a millisecond per megabyte); a large WAL is still
  // copied here, and checkpoints still run every wal_autocheckpoint pages. Committed records
  // are as safe either way against a crash of baton; after a power loss the database holds a
  // prefix of its transactions, as SQLite's synchronous=NORMAL promises in WAL mode.
  const int64_t wal = fs::FileSize(wal_path_);
  if (wal >= 0 && wal < kCheckpointOnCloseBytes)
    sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  sqlite3_close_v2(db_);
}

namespace {
// Whether the last failure on `db` came from a full disk: SQLITE_FULL, or an I/O error whose
// system error was ENOSPC (extending the WAL index, for one, reports only "disk I/O error").
bool DiskFull(sqlite3* db) {
  int code = sqlite3_extended_errcode(db) & 0xff;
  return code == SQLITE_FULL || (code == SQLITE_IOERR && sqlite3_system_errno(db) == ENOSPC);
}
}  // namespace

Status SqliteDb::Open(const std::string& path) {
  Status s = OpenWith(path, false);
  if (s.code() != Code::kResourceExhausted) return s;
  // A full disk leaves no room for the WAL index (the -shm file) that shared access needs. In
  // exclusive locking mode SQLite keeps that index in memory, so reads still work (runs list,
  // runs show) and writes fail saying the disk is full. Only while no other baton has the
  // store open, which is when the index is missing.
  stmts_.clear();
  sqlite3_close_v2(db_);
  db_ = nullptr;
  return OpenWith(path, true);
}

Status SqliteDb::OpenWith(const std::string& path, bool exclusive) {
  // A database that does not exist yet holds nothing to lose: it is created, switched to WAL and
  // given its schema without syncing (six fewer fsyncs when a workspace is made). A power loss in
  // those milliseconds can leave a file to delete; a crash of baton cannot harm it.
  creating_ = !fs::Exists(path) || fs::FileSize(path) == 0;
  int rc = sqlite3_open_v2(path.c_str(), &db_,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return Unavailable("cannot open metadata store " + path + ": " + sqlite3_errstr(rc));
  path_ = path;
  wal_path_ = path + "-wal";
  sqlite3_busy_timeout(db_, 30000);
  if (exclusive) BATON_RETURN_IF_ERROR(Exec("PRAGMA locking_mode=EXCLUSIVE"));
  // Switching a new database to WAL takes an exclusive lock and answers SQLITE_BUSY at once,
  // without the busy handler, while another connection opens the same file: retried.
  if (creating_) BATON_RETURN_IF_ERROR(ExecRetrying("PRAGMA synchronous=OFF"));
  BATON_RETURN_IF_ERROR(ExecRetrying("PRAGMA journal_mode=WAL"));
  // The WAL and its index stay when the last connection closes: every command opens the store,
  // and creating and unlinking two files each time was a sixth of a `baton runs list` (what is
  // left in the WAL at close, see ~SqliteDb).
  int persist_wal = 1;
  sqlite3_file_control(db_, "main", SQLITE_FCNTL_PERSIST_WAL, &persist_wal);
  // One script, parsed once. Checkpoints (which fsync) every ~40 MB of WAL instead of every
  // 4 MB: a step writes a few dozen KB of pages, and a checkpoint per hundred steps showed in
  // per-step overhead. Savepoints inside a batch keep their undo records in memory, not in a
  // temporary file, and a batch of a thousand cached steps fits the page cache without spilling.
  // (A new database syncs nothing until Migrate has written its schema.)
  const std::string pragmas = std::string(creating_ ? "" : "PRAGMA synchronous=NORMAL; ") +
                              "PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=10000; "
                              "PRAGMA journal_size_limit=67108864; PRAGMA temp_store=MEMORY; "
                              "PRAGMA cache_size=-32768";
  BATON_RETURN_IF_ERROR(ExecRetrying(pragmas.c_str()));
  // The first read sets up the WAL index: a full disk shows here, not at a later query.
  char* err = nullptr;
  if (sqlite3_exec(db_, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, &err) != SQLITE_OK) {
    sqlite3_free(err);
    return Err("opening " + path);
  }
  return Status::Ok();
}

Status SqliteDb::Migrate(MigrationList migrations) {
  // Up to date already (every open but the first): read, without taking the write lock, so a
  // command that only reads never waits for a running pipeline's commit.
  if (!creating_) {
    auto version = SchemaVersion(*this);  // an error when schema_version is missing
    if (version.ok() && *version == LatestVersion(migrations)) return Status::Ok();
  }
  BATON_RETURN_IF_ERROR(ApplyMigrations(*this, migrations, "the metadata store " + path_));
  if (!creating_) return Status::Ok();
  creating_ = false;
  return ExecRetrying("PRAGMA synchronous=NORMAL");
}

Result<int64_t> SqliteDb::QueryInt(const std::string& sql) {
  Query q(S(sql.c_str()));
  int rc = q.Step();
  if (rc == SQLITE_ROW) return q.Int(0);
  if (rc == SQLITE_DONE) return int64_t{0};
  return Err(sql);
}

sqlite3_stmt* SqliteDb::S(const char* sql) {
  auto it = stmts_.find(sql);
  if (it == stmts_.end()) {
    auto stmt = std::make_unique<Stmt>(db_, sql);
    if (!stmt->error().empty()) {
      prepare_error_ = stmt->error();
      return nullptr;  // not cached: the next call tries again
    }
    it = stmts_.emplace(sql, std::move(stmt)).first;
  }
  return it->second->get();
}

Status SqliteDb::Err(const std::string& what) {
  if (!prepare_error_.empty()) {
    std::string m = "metadata store: " + what + ": " + prepare_error_ + " (is the store from another baton version?)";
    prepare_error_.clear();
    return Internal(m);
  }
  int code = sqlite3_extended_errcode(db_);
  if (DiskFull(db_)) return ResourceExhausted("metadata store: " + what + ": the disk is full");
  std::string msg = "metadata store: " + what + ": " + sqlite3_errmsg(db_);
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Unavailable(msg);
    case SQLITE_FULL:
      return ResourceExhausted(msg);
    case SQLITE_CONSTRAINT:
      // A key that is taken, a reference to a record that does not exist, or a bad value.
      if (code == SQLITE_CONSTRAINT_PRIMARYKEY || code == SQLITE_CONSTRAINT_UNIQUE) return AlreadyExists(msg);
      if (code == SQLITE_CONSTRAINT_FOREIGNKEY) return NotFound(msg + " (it names a record the store does not have)");
      return InvalidArgument(msg);
    default:
      return Internal(msg);
  }
}

Status SqliteDb::Run(const char* sql) {
  Query q(S(sql));
  int rc = q.Step();
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::Ok();
  return Err(sql);
}

Status SqliteDb::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "unknown error";
    sqlite3_free(err);
    int code = sqlite3_errcode(db_);
    if (code == SQLITE_BUSY) return Unavailable("metadata store busy: " + m);
    if (DiskFull(db_)) return ResourceExhausted("metadata store: the disk is full");
    return Internal("metadata store: " + m);
  }
  return Status::Ok();
}

Status SqliteDb::ExecRetrying(const char* sql) {
  for (int attempt = 0;; ++attempt) {
    Status s = Exec(sql);
    if (s.code() != Code::kUnavailable || attempt >= 100) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + attempt));
  }
}

Status SqliteDb::StartBatch() {
  if (batch_depth_++ > 0) return Status::Ok();
  Status s = BeginImmediate();
  if (!s.ok()) batch_depth_ = 0;
  return s;
}

Status SqliteDb::FinishBatch() {
  if (batch_depth_ == 0) return Status::Ok();
  if (--batch_depth_ > 0) return Status::Ok();
  return Commit();
}

Status SqliteDb::Commit() {
  Status s = Run("COMMIT");
  if (!s.ok()) {
    Rollback();
    return s;
  }
  KeepLogAhead();
  return s;
}

void SqliteDb::Rollback() {
  // A failed COMMIT may have rolled back already.
  if (!sqlite3_get_autocommit(db_)) (void)Run("ROLLBACK");
}

void SqliteDb::KeepLogAhead() {
  const int64_t size = fs::FileSize(wal_path_);
  if (size < 0 || size + kLogHeadroom <= log_reserved_) return;
  if (fs::ReserveBlocks(wal_path_, size + 2 * kLogHeadroom)) log_reserved_ = size + 2 * kLogHeadroom;
}

Status SqliteDb::BeginImmediate() {
  for (int attempt = 0;; ++attempt) {
    Status s = Run("BEGIN IMMEDIATE");
    if (s.code() == Code::kUnavailable && attempt < 100) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5 + attempt));
      continue;
    }
    return s;
  }
}

}  // namespace baton
