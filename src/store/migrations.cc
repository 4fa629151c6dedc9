#include "store/migrations.h"

namespace baton {

int64_t LatestVersion(MigrationList migrations) {
  return migrations.empty() ? 0 : migrations.back().version;
}

Result<int64_t> SchemaVersion(SchemaDb& db) {
  return db.QueryInt("SELECT MAX(version) FROM schema_version");
}

Status ApplyMigrations(SchemaDb& db, MigrationList migrations, const std::string& store) {
  for (size_t i = 0; i < migrations.size(); ++i)
    if (migrations[i].version != static_cast<int64_t>(i) + 1 || migrations[i].sql == nullptr)
      return Internal("the migrations of " + store + " are not numbered 1, 2, 3...: entry " +
                      std::to_string(i) + " has version " + std::to_string(migrations[i].version));
  const int64_t latest = LatestVersion(migrations);
  return db.InWriteTransaction([&]() -> Status {
    BATON_RETURN_IF_ERROR(
        db.ExecScript("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)"));
    BATON_ASSIGN_OR_RETURN(int64_t version, SchemaVersion(db));
    if (version > latest)
      return FailedPrecondition(store + " has schema version " + std::to_string(version) +
                                ", newer than this baton understands (" + std::to_string(latest) +
                                "); upgrade baton");
    for (int64_t v = version + 1; v <= latest; ++v) {
      Status s = db.ExecScript(migrations[v - 1].sql);
      if (!s.ok()) return s.Annotate("migration to schema version " + std::to_string(v));
      BATON_RETURN_IF_ERROR(
          db.ExecScript("INSERT INTO schema_version(version) VALUES(" + std::to_string(v) + ")"));
    }
    return Status::Ok();
  });
}

}  // namespace baton
