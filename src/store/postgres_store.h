#pragma once
// The PostgreSQL metadata store (postgresql://user@host:port/db?sslmode=...): a team's shared
// history of runs, step runs, artifacts and caches, on the same schema versions as SQLite.

#include <memory>

#include "baton/metadata_store.h"
#include "baton/stores.h"

namespace baton {

// Opens the store the URI names (creating its tables, migrating an older schema). The password
// never comes from the URI: libpq takes it from PGPASSWORD or PGPASSFILE (~/.pgpass).
Result<std::unique_ptr<MetadataStore>> OpenPostgresStore(const StoreUri& uri);

}  // namespace baton
