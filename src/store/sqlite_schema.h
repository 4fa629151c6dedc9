#pragma once
// The SQLite metadata store's schema, as numbered migrations (store/sqlite_schema.cc).

namespace baton {

extern const int kSqliteSchemaVersion;
// kSqliteMigrations[v] turns a store of version v-1 into version v; [0] is unused.
extern const char* const kSqliteMigrations[];

}  // namespace baton
