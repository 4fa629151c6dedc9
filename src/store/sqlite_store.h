#pragma once
// The SQLite metadata store (sqlite:///path): WAL, crash-safe, schema migrations on open.

#include <memory>
#include <string>

#include "baton/metadata_store.h"

namespace baton {

// Opens (creating and migrating as needed) the SQLite store at `path`.
Result<std::unique_ptr<MetadataStore>> OpenSqliteStore(const std::string& path);

}  // namespace baton
