#pragma once
// The PostgreSQL metadata store's schema, as numbered migrations (store/postgres_schema.cc): the
// same tables, columns, keys, references and versions as the SQLite store's
// (store/sqlite_schema.cc), in PostgreSQL's dialect.

#include "store/migrations.h"

namespace baton {

// The PostgreSQL store's migrations, in order (store/migrations.h).
MigrationList PostgresMigrations();

}  // namespace baton
