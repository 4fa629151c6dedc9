#pragma once
// The PostgreSQL metadata store (postgresql://user@host:port/db?sslmode=...): a team's shared
// history of runs, step runs, artifacts and caches, on the same schema versions as SQLite.
// `schema=NAME` keeps the store's tables in that PostgreSQL schema (created when missing), so
// that several stores share one database; every other parameter goes to libpq.

#include <memory>

#include "baton/metadata_store.h"
#include "baton/stores.h"
#include "store/migrations.h"

namespace baton {

// Opens the store the URI names (creating its tables, migrating an older schema). The password
// never comes from the URI: libpq takes it from PGPASSWORD or PGPASSFILE (~/.pgpass).
Result<std::unique_ptr<MetadataStore>> OpenPostgresStore(const StoreUri& uri);

// OpenPostgresStore with `migrations` instead of PostgresMigrations() (store/postgres_schema.h):
// with a prefix of it, a store as an older baton made it (tests of upgrades).
Result<std::unique_ptr<MetadataStore>> OpenPostgresStoreWithSchema(const StoreUri& uri,
                                                                   MigrationList migrations);

}  // namespace baton
