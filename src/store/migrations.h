#pragma once
// Numbered schema migrations, the one way every metadata store creates and upgrades its schema.
// Migration N brings a store from schema version N-1 to N; a store records each applied version
// in its `schema_version` table. Opening a store applies the migrations it lacks, all in one
// transaction that holds the store's write lock, and refuses a store newer than the binary.
// Each store writes its migrations in its own SQL dialect; the versions and what each adds are
// the same for every store (docs/metadata-schema.md).

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "baton/status.h"

namespace baton {

// One migration: the SQL statements that bring a schema to `version` from version - 1.
struct Migration {
  int64_t version;
  const char* sql;
};

// A store's migrations in order: entry i brings the schema to version i + 1. A prefix of a
// store's list is the schema an older binary had (tests of upgrades open stores with one).
using MigrationList = std::span<const Migration>;

// The version a list brings a new store to (0 for an empty list).
int64_t LatestVersion(MigrationList migrations);

// A database connection as the migration framework needs it; each store implements it on its
// own connection.
class SchemaDb {
 public:
  virtual ~SchemaDb() = default;
  // Runs `body` in one write transaction holding the store's write lock (waiting for it), and
  // commits when `body` returns Ok; rolls everything back otherwise.
  virtual Status InWriteTransaction(const std::function<Status()>& body) = 0;
  // Runs SQL text of one or more statements, without parameters.
  virtual Status ExecScript(const std::string& sql) = 0;
  // The first column of the first row `sql` returns, as an integer; 0 when it returns no row or
  // NULL.
  virtual Result<int64_t> QueryInt(const std::string& sql) = 0;
};

// The schema version of a migrated store (0 when it has applied no migration).
Result<int64_t> SchemaVersion(SchemaDb& db);

// Brings the store to LatestVersion(migrations): in one write transaction, creates
// schema_version if missing, applies every migration above the store's version in order and
// records each. Nothing changes when one fails (its error, naming the version, is returned).
// FailedPrecondition for a store newer than the list (`store` names it in the message);
// Internal for a list that is not numbered 1, 2, 3...
Status ApplyMigrations(SchemaDb& db, MigrationList migrations, const std::string& store);

}  // namespace baton
