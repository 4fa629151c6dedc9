#pragma once
// The SQLite metadata store's schema, as numbered migrations (store/sqlite_schema.cc), and how
// to open a store on a given list of them.

#include <memory>
#include <string>

#include "baton/metadata_store.h"
#include "store/migrations.h"

namespace baton {

extern const int kSqliteSchemaVersion;
// The SQLite store's migrations, in order (store/migrations.h).
MigrationList SqliteMigrations();

// Opens (creating and migrating as needed) the SQLite store at `path` with `migrations` instead
// of SqliteMigrations(): with a prefix of it, a store as an older baton made it (tests of
// upgrades). OpenSqliteStore (store/sqlite_store.h) uses the whole list.
Result<std::unique_ptr<MetadataStore>> OpenSqliteStoreWithSchema(const std::string& path, MigrationList migrations);

}  // namespace baton
