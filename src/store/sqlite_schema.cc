// The SQLite metadata store's schema: migration v creates version v from version v-1
// (store/migrations.h). docs/metadata-schema.md describes it; a new version appends a migration,
// never edits one, and appends the same version to the other stores' lists
// (store/postgres_schema.cc).

#include "store/sqlite_schema.h"

namespace baton {

const int kSqliteSchemaVersion = 6;

namespace {

// Migration N brings the schema from version N-1 to N.
const Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE pipelines(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL);
CREATE TABLE snapshots(
  hash TEXT PRIMARY KEY,
  pipeline_id INTEGER NOT NULL REFERENCES pipelines(id),
  body TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE runs(
  id TEXT PRIMARY KEY,
  pipeline_id INTEGER NOT NULL REFERENCES pipelines(id),
  snapshot_hash TEXT NOT NULL REFERENCES snapshots(hash),
  status TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  started_at INTEGER NOT NULL DEFAULT 0,
  ended_at INTEGER NOT NULL DEFAULT 0,
  stack TEXT NOT NULL,
  orchestrator TEXT NOT NULL,
  host TEXT NOT NULL DEFAULT '',
  pid INTEGER NOT NULL DEFAULT 0,
  pid_start INTEGER NOT NULL DEFAULT 0,
  attempt INTEGER NOT NULL DEFAULT 1,
  parameters TEXT NOT NULL DEFAULT '{}',
  pipeline_file TEXT NOT NULL DEFAULT '');
CREATE INDEX runs_pipeline ON runs(pipeline_id, created_at);
CREATE INDEX runs_created ON runs(created_at);
CREATE INDEX runs_status ON runs(status);
CREATE TABLE step_runs(
  id INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL REFERENCES runs(id),
  step TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  status TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  started_at INTEGER NOT NULL DEFAULT 0,
  ended_at INTEGER NOT NULL DEFAULT 0,
  exit_code INTEGER NOT NULL DEFAULT -1,
  log_path TEXT NOT NULL DEFAULT '',
  cache_key TEXT NOT NULL DEFAULT '',
  cached_from INTEGER NOT NULL DEFAULT 0,
  metadata TEXT NOT NULL DEFAULT '',
  pid INTEGER NOT NULL DEFAULT 0,
  command TEXT NOT NULL DEFAULT '',
  cache_components TEXT NOT NULL DEFAULT '',
  UNIQUE(run_id, step, attempt));
CREATE INDEX step_runs_cache ON step_runs(cache_key, status);
CREATE TABLE artifacts(
  id INTEGER PRIMARY KEY,
  step_run_id INTEGER NOT NULL REFERENCES step_runs(id),
  run_id TEXT NOT NULL,
  pipeline TEXT NOT NULL,
  step TEXT NOT NULL,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  kind TEXT NOT NULL,
  uri TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE INDEX artifacts_digest ON artifacts(digest);
CREATE INDEX artifacts_version ON artifacts(pipeline, step, name, version);
CREATE TABLE step_outputs(
  step_run_id INTEGER NOT NULL REFERENCES step_runs(id),
  name TEXT NOT NULL,
  artifact_id INTEGER NOT NULL REFERENCES artifacts(id),
  PRIMARY KEY(step_run_id, name));
CREATE TABLE step_inputs(
  step_run_id INTEGER NOT NULL REFERENCES step_runs(id),
  name TEXT NOT NULL,
  artifact_id INTEGER NOT NULL REFERENCES artifacts(id),
  PRIMARY KEY(step_run_id, name));
CREATE INDEX step_inputs_artifact ON step_inputs(artifact_id);
)sql"},
    {2, R"sql(
CREATE TABLE components(
  type TEXT NOT NULL,
  name TEXT NOT NULL,
  flavor TEXT NOT NULL,
  config TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY(type, name));
CREATE TABLE stacks(
  name TEXT PRIMARY KEY,
  orchestrator TEXT NOT NULL,
  artifact_store TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE TABLE plugins(
  type TEXT NOT NULL,
  flavor TEXT NOT NULL,
  path TEXT NOT NULL,
  digest TEXT NOT NULL,
  registered_at INTEGER NOT NULL,
  PRIMARY KEY(type, flavor));
CREATE TABLE settings(
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL);
INSERT INTO components(type, name, flavor, config, created_at, updated_at)
  VALUES('orchestrator', 'default', 'local', '{}', 0, 0), ('artifact_store', 'default', 'local', '{}', 0, 0);
INSERT INTO stacks(name, orchestrator, artifact_store, created_at, updated_at) VALUES('default', 'default', 'default', 0, 0);
INSERT INTO settings(key, value) VALUES('active_stack', 'default');
)sql"},
    {3, R"sql(
ALTER TABLE artifacts ADD COLUMN materializer TEXT NOT NULL DEFAULT '';
ALTER TABLE artifacts ADD COLUMN type TEXT NOT NULL DEFAULT '';
)sql"},
    {4, R"sql(
ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN use_cache INTEGER NOT NULL DEFAULT 1;
CREATE INDEX artifacts_step_run ON artifacts(step_run_id);
CREATE INDEX step_outputs_artifact ON step_outputs(artifact_id);
CREATE INDEX step_runs_cached_from ON step_runs(cached_from);
)sql"},
    {5, R"sql(
CREATE TABLE users(
  name TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  role TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE tokens(
  id TEXT PRIMARY KEY,
  user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
  hash TEXT NOT NULL UNIQUE,
  run_id TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL DEFAULT 0,
  last_used_at INTEGER NOT NULL DEFAULT 0);
CREATE INDEX tokens_user ON tokens(user_name);
)sql"},
    {6, R"sql(
ALTER TABLE runs ADD COLUMN schedule TEXT NOT NULL DEFAULT '';
CREATE TABLE schedules(
  name TEXT PRIMARY KEY,
  pipeline_file TEXT NOT NULL,
  cron TEXT NOT NULL,
  time_zone TEXT NOT NULL,
  stack TEXT NOT NULL DEFAULT '',
  run_config TEXT NOT NULL DEFAULT '',
  catchup TEXT NOT NULL,
  overlap TEXT NOT NULL,
  paused INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_fire INTEGER NOT NULL DEFAULT 0,
  last_run TEXT NOT NULL DEFAULT '');
)sql"},
};

}  // namespace

MigrationList SqliteMigrations() { return kMigrations; }

}  // namespace baton
