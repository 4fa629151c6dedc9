// SQLite metadata store: WAL mode, one connection, prepared statements, versioned schema.
// The schema is documented in docs/metadata-schema.md.

#include "store/sqlite_store.h"

#include "platform/fs.h"
#include "store/metadata_rows.h"
#include "store/migrations.h"
#include "store/sqlite_db.h"
#include "store/sqlite_schema.h"

namespace baton {
namespace {

// The metadata store on one SQLite database (sqlite:///path).
class SqliteStore : public MetadataStore, public MetadataRows, private SqliteDb {
 public:
  Status Open(const std::string& path, MigrationList migrations) {
    BATON_RETURN_IF_ERROR(SqliteDb::Open(path));
    return Migrate(migrations);
  }

  Status BeginBatch() override { return StartBatch(); }
  Status EndBatch() override { return FinishBatch(); }

  Status PutSnapshot(const std::string& hash, const std::string& pipeline, const std::string& body) override {
    return Txn([&]() -> Status {
      BATON_ASSIGN_OR_RETURN(int64_t pid, PipelineId(pipeline));
      Query q(S("INSERT OR IGNORE INTO snapshots(hash, pipeline_id, body, created_at) VALUES(?,?,?,?)"));
      q.Bind(hash).Bind(pid).Bind(body).Bind(NowMicros());
      return Done(q.Step(), "store snapshot");
    });
  }

  Result<std::string> GetSnapshot(const std::string& hash) override {
    Query q(S("SELECT body FROM snapshots WHERE hash = ?"));
    q.Bind(hash);
    int rc = q.Step();
    if (rc == SQLITE_ROW) return q.Text(0);
    if (rc == SQLITE_DONE) return NotFound("no snapshot " + hash);
    return Err("read snapshot");
  }

  Status CreateRun(const RunRecord& r) override {
    auto tags = JoinTags(r.tags);
    if (!tags.ok()) return tags.status();
    return Txn([&]() -> Status {
      BATON_ASSIGN_OR_RETURN(int64_t pid, PipelineId(r.pipeline));
      Query q(S("INSERT INTO runs(id, pipeline_id, snapshot_hash, status, reason, created_at, started_at, "
                "ended_at, stack, orchestrator, host, pid, pid_start, attempt, parameters, pipeline_file, "
                "tags, note, use_cache, schedule) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
      q.Bind(r.id).Bind(pid).Bind(r.snapshot_hash).Bind(ToString(r.status)).Bind(r.reason).Bind(r.created_at)
          .Bind(r.started_at).Bind(r.ended_at).Bind(r.stack).Bind(r.orchestrator).Bind(r.host).Bind(r.pid).Bind(r.pid_start)
          .Bind(r.attempt).Bind(r.parameters).Bind(r.pipeline_file).Bind(*tags).Bind(r.note)
          .Bind(static_cast<int64_t>(r.use_cache ? 1 : 0)).Bind(r.schedule);
      return Done(q.Step(), "create run");
    });
  }

  Status UpdateRunStatus(const std::string& id, RunStatus status, const std::string& reason,
                         int64_t ended_at) override {
    return Txn([&]() -> Status {
      {
        Query q(S("UPDATE runs SET status = ?, reason = ?, ended_at = ? WHERE id = ?"));
        q.Bind(ToString(status)).Bind(reason).Bind(ended_at).Bind(id);
        BATON_RETURN_IF_ERROR(Done(q.Step(), "update run"));
        if (sqlite3_changes(db_) != 1) return NotFound("no run '" + id + "'");
      }
      if (!Ended(status)) return Status::Ok();
      // A run that ends leaves no step run behind as running (only after a baton error can
      // there be one: its process was terminated).
      Query q(S("UPDATE step_runs SET status = ?, reason = ?, ended_at = ? WHERE run_id = ? AND status = 'running'"));
      q.Bind(ToString(status == RunStatus::kStopped ? StepStatus::kStopped : StepStatus::kInterrupted))
          .Bind(reason).Bind(ended_at).Bind(id);
      return Done(q.Step(), "close step runs");
    });
  }

  Status ClaimRun(const std::string& id, int64_t pid, int64_t pid_start, const std::string& host) override {
    return Txn([&]() -> Status {
      Query q(S("UPDATE runs SET status = 'running', reason = '', ended_at = 0, pid = ?, pid_start = ?, host = ?, "
                "attempt = attempt + 1 WHERE id = ? AND status != 'running'"));
      q.Bind(pid).Bind(pid_start).Bind(host).Bind(id);
      BATON_RETURN_IF_ERROR(Done(q.Step(), "claim run"));
      if (sqlite3_changes(db_) == 1) return Status::Ok();
      BATON_ASSIGN_OR_RETURN(bool exists, RunExists(id));
      if (!exists) return NotFound("no run '" + id + "'");
      return FailedPrecondition("run " + id + " is running; stop it first");
    });
  }

  Status MarkRunInterrupted(const std::string& id, const std::string& reason) override {
    return Txn([&]() -> Status {
      int64_t now = NowMicros();
      {
        Query q(S("UPDATE runs SET status = 'interrupted', reason = ?, ended_at = ? WHERE id = ? AND status = 'running'"));
        q.Bind(reason).Bind(now).Bind(id);
        BATON_RETURN_IF_ERROR(Done(q.Step(), "mark run interrupted"));
      }
      if (sqlite3_changes(db_) != 1) {
        // Not running: nothing changes, not even a step run still marked running.
        BATON_ASSIGN_OR_RETURN(bool exists, RunExists(id));
        return exists ? Status::Ok() : NotFound("no run '" + id + "'");
      }
      Query q(S("UPDATE step_runs SET status = 'interrupted', reason = ?, ended_at = ? WHERE run_id = ? AND status = 'running'"));
      q.Bind(reason).Bind(now).Bind(id);
      return Done(q.Step(), "mark step runs interrupted");
    });
  }

  Result<std::vector<RunRecord>> RunsWithStatus(RunStatus status) override {
    static const std::string sql = std::string("SELECT ") + kRunCols +
                                   " FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE r.status = ?";
    Query q(S(sql.c_str()));
    q.Bind(ToString(status));
    std::vector<RunRecord> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadRun(q));
    if (rc != SQLITE_DONE) return Err("list runs");
    return out;
  }

  // The other runs whose step runs read or reuse an artifact a run produced, or were cached from
  // one of its step runs.
  static constexpr const char* kRunUsersSql =
      "SELECT DISTINCT u.run_id FROM step_runs u WHERE u.run_id != ? AND ("
      " u.id IN (SELECT o.step_run_id FROM step_outputs o JOIN artifacts a ON a.id = o.artifact_id"
      "          JOIN step_runs p ON p.id = a.step_run_id WHERE p.run_id = ?)"
      " OR u.id IN (SELECT i.step_run_id FROM step_inputs i JOIN artifacts a ON a.id = i.artifact_id"
      "             JOIN step_runs p ON p.id = a.step_run_id WHERE p.run_id = ?)"
      " OR u.cached_from IN (SELECT id FROM step_runs WHERE run_id = ?)) ORDER BY u.run_id";
  // A run's records, those that refer to others first.
  static constexpr const char* kDeleteRunSql[] = {
      "DELETE FROM step_inputs WHERE step_run_id IN (SELECT id FROM step_runs WHERE run_id = ?)",
      "DELETE FROM step_outputs WHERE step_run_id IN (SELECT id FROM step_runs WHERE run_id = ?)",
      "DELETE FROM artifacts WHERE step_run_id IN (SELECT id FROM step_runs WHERE run_id = ?)",
      "DELETE FROM step_runs WHERE run_id = ?",
      "DELETE FROM runs WHERE id = ?"};

  static constexpr const char* kRunCols =
      "r.id, p.name, r.snapshot_hash, r.status, r.reason, r.created_at, r.started_at, r.ended_at, "
      "r.stack, r.orchestrator, r.host, r.pid, r.attempt, r.parameters, r.pipeline_file, r.pid_start, "
      "r.tags, r.note, r.use_cache, r.schedule";

  static RunRecord ReadRun(Query& q) {
    RunRecord r;
    r.id = q.Text(0);
    r.pipeline = q.Text(1);
    r.snapshot_hash = q.Text(2);
    r.reason = q.Text(4);
    if (!ParseRunStatus(q.Text(3), &r.status)) {
      r.status = RunStatus::kFailed;
      r.reason += " (unknown run status '" + q.Text(3) + "' in the store)";
    }
    r.created_at = q.Int(5);
    r.started_at = q.Int(6);
    r.ended_at = q.Int(7);
    r.stack = q.Text(8);
    r.orchestrator = q.Text(9);
    r.host = q.Text(10);
    r.pid = q.Int(11);
    r.attempt = static_cast<int>(q.Int(12));
    r.parameters = q.Text(13);
    r.pipeline_file = q.Text(14);
    r.pid_start = q.Int(15);
    r.tags = SplitTags(q.Text(16));
    r.note = q.Text(17);
    r.use_cache = q.Int(18) != 0;
    r.schedule = q.Text(19);
    return r;
  }

  Result<RunRecord> GetRun(const std::string& id) override {
    if (id == "last" || id == "latest") {
      auto runs = ListRuns("", 1);
      if (!runs.ok()) return runs.status();
      if (runs->empty()) return NotFound("there are no runs yet");
      return (*runs)[0];
    }
    static const std::string sql = std::string("SELECT ") + kRunCols +
                                   " FROM runs r JOIN pipelines p ON p.id = r.pipeline_id "
                                   "WHERE r.id = ? OR r.id LIKE ? ESCAPE '\\' ORDER BY (r.id = ?) DESC LIMIT 2";
    Query q(S(sql.c_str()));
    q.Bind(id).Bind(EscapeLike(id) + "%").Bind(id);
    std::vector<RunRecord> found;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) found.push_back(ReadRun(q));
    if (rc != SQLITE_DONE) return Err("read run");
    if (found.empty()) return NotFound("no run '" + id + "'");
    if (found.size() > 1 && found[0].id != id) return InvalidArgument("run prefix '" + id + "' is ambiguous");
    return found[0];
  }

  Status SetRunLabels(const std::string& id, const std::vector<std::string>& tags,
                      const std::string& note) override {
    BATON_ASSIGN_OR_RETURN(std::string joined, JoinTags(tags));
    return Txn([&]() -> Status {
      Query q(S("UPDATE runs SET tags = ?, note = ? WHERE id = ?"));
      q.Bind(joined).Bind(note).Bind(id);
      BATON_RETURN_IF_ERROR(Done(q.Step(), "label run"));
      if (sqlite3_changes(db_) != 1) return NotFound("no run '" + id + "'");
      return Status::Ok();
    });
  }

  Status DeleteRun(const std::string& id) override {
    return Txn([&]() -> Status {
      std::string status;
      {
        Query q(S("SELECT status FROM runs WHERE id = ?"));
        q.Bind(id);
        const int rc = q.Step();
        if (rc == SQLITE_DONE) return NotFound("no run '" + id + "'");
        if (rc != SQLITE_ROW) return Err("read run");
        status = q.Text(0);
      }
      if (status == "running" || status == "pending")
        return FailedPrecondition("run " + id + " is " + status + "; stop it first");
      BATON_ASSIGN_OR_RETURN(std::vector<std::string> users, RunUsers(id));
      if (!users.empty()) return RunInUse(id, users);
      for (const char* sql : kDeleteRunSql) {
        Query q(S(sql));
        q.Bind(id);
        BATON_RETURN_IF_ERROR(Done(q.Step(), "delete run " + id));
      }
      return Status::Ok();
    });
  }

  Result<std::vector<std::string>> RunUsers(const std::string& id) override {
    std::vector<std::string> users;
    Query q(S(kRunUsersSql));
    q.Bind(id).Bind(id).Bind(id).Bind(id);
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) users.push_back(q.Text(0));
    if (rc != SQLITE_DONE) return Err("find the runs that use run " + id);
    if (users.empty()) {
      BATON_ASSIGN_OR_RETURN(bool exists, RunExists(id));
      if (!exists) return NotFound("no run '" + id + "'");
    }
    return users;
  }

  Result<std::vector<std::string>> ArtifactDigests() override {
    Query q(S("SELECT DISTINCT digest FROM artifacts ORDER BY digest"));
    std::vector<std::string> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) out.push_back(q.Text(0));
    if (rc != SQLITE_DONE) return Err("list artifact digests");
    return out;
  }

  Result<std::vector<RunRecord>> ListRuns(const std::string& pipeline, int limit) override {
    static const std::string sql = std::string("SELECT ") + kRunCols +
                                   " FROM runs r JOIN pipelines p ON p.id = r.pipeline_id "
                                   "WHERE (? = '' OR p.name = ?) ORDER BY r.created_at DESC, r.rowid DESC LIMIT ?";
    Query q(S(sql.c_str()));
    q.Bind(pipeline).Bind(pipeline).Bind(static_cast<int64_t>(limit <= 0 ? -1 : limit));
    std::vector<RunRecord> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadRun(q));
    if (rc != SQLITE_DONE) return Err("list runs");
    return out;
  }

  Result<int64_t> StartStepRun(const StepRunRecord& r) override {
    int64_t id = 0;
    Status s = Txn([&]() -> Status {
      Query q(S("INSERT INTO step_runs(run_id, step, attempt, status, reason, started_at, log_path, "
                "cache_key, pid, command, cache_components) VALUES(?,?,?,?,?,?,?,?,?,?,?)"));
      q.Bind(r.run_id).Bind(r.step).Bind(r.attempt).Bind(ToString(r.status)).Bind(r.reason).Bind(r.started_at)
          .Bind(r.log_path).Bind(r.cache_key).Bind(r.pid).Bind(r.command).Bind(r.cache_components);
      BATON_RETURN_IF_ERROR(Done(q.Step(), "start step run"));
      id = sqlite3_last_insert_rowid(db_);
      return Status::Ok();
    });
    if (!s.ok()) return s;
    return id;
  }

  Status FinishStepRun(const StepRunRecord& r, std::vector<ArtifactRecord>* arts,
                       const std::vector<OutputUse>& reused, const std::vector<InputUse>& inputs) override {
    return Txn([&]() -> Status {
      {
        Query q(S("UPDATE step_runs SET status = ?, reason = ?, ended_at = ?, exit_code = ?, "
                  "cache_key = ?, cached_from = ?, metadata = ?, pid = ? WHERE id = ?"));
        q.Bind(ToString(r.status)).Bind(r.reason).Bind(r.ended_at).Bind(r.exit_code).Bind(r.cache_key)
            .Bind(r.cached_from).Bind(r.metadata).Bind(r.pid).Bind(r.id);
        BATON_RETURN_IF_ERROR(Done(q.Step(), "finish step run"));
        if (sqlite3_changes(db_) != 1) return NotFound("no step run " + std::to_string(r.id));
      }
      for (auto& a : *arts) {
        {
          Query v(S("SELECT COALESCE(MAX(version), 0) + 1 FROM artifacts WHERE pipeline = ? AND step = ? AND name = ?"));
          v.Bind(a.pipeline).Bind(a.step).Bind(a.name);
          if (v.Step() != SQLITE_ROW) return Err("version artifact");
          a.version = static_cast<int>(v.Int(0));
        }
        Query q(S("INSERT INTO artifacts(step_run_id, run_id, pipeline, step, name, version, digest, size, "
                  "kind, uri, created_at, materializer, type) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)"));
        q.Bind(r.id).Bind(a.run_id).Bind(a.pipeline).Bind(a.step).Bind(a.name).Bind(a.version)
            .Bind(a.digest).Bind(a.size).Bind(a.kind).Bind(a.uri).Bind(a.created_at).Bind(a.materializer).Bind(a.type);
        BATON_RETURN_IF_ERROR(Done(q.Step(), "record artifact"));
        a.id = sqlite3_last_insert_rowid(db_);
        a.step_run_id = r.id;
        BATON_RETURN_IF_ERROR(Link("step_outputs", r.id, a.name, a.id));
      }
      for (const auto& o : reused) BATON_RETURN_IF_ERROR(Link("step_outputs", r.id, o.name, o.artifact_id));
      for (const auto& i : inputs) BATON_RETURN_IF_ERROR(Link("step_inputs", r.id, i.name, i.artifact_id));
      return Status::Ok();
    });
  }

  static constexpr const char* kStepCols =
      "id, run_id, step, attempt, status, reason, started_at, ended_at, exit_code, log_path, "
      "cache_key, cached_from, metadata, pid, command, cache_components";

  static StepRunRecord ReadStep(Query& q, int o = 0) {
    StepRunRecord r;
    r.id = q.Int(o + 0);
    r.run_id = q.Text(o + 1);
    r.step = q.Text(o + 2);
    r.attempt = static_cast<int>(q.Int(o + 3));
    r.reason = q.Text(o + 5);
    if (!ParseStepStatus(q.Text(o + 4), &r.status)) {
      r.status = StepStatus::kFailed;
      r.reason += " (unknown step status '" + q.Text(o + 4) + "' in the store)";
    }
    r.started_at = q.Int(o + 6);
    r.ended_at = q.Int(o + 7);
    r.exit_code = static_cast<int>(q.Int(o + 8));
    r.log_path = q.Text(o + 9);
    r.cache_key = q.Text(o + 10);
    r.cached_from = q.Int(o + 11);
    r.metadata = q.Text(o + 12);
    r.pid = q.Int(o + 13);
    r.command = q.Text(o + 14);
    r.cache_components = q.Text(o + 15);
    return r;
  }

  Result<std::vector<StepRunRecord>> ListStepRuns(const std::string& run_id) override {
    static const std::string sql = std::string("SELECT ") + kStepCols + " FROM step_runs WHERE run_id = ? ORDER BY id";
    Query q(S(sql.c_str()));
    q.Bind(run_id);
    std::vector<StepRunRecord> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadStep(q));
    if (rc != SQLITE_DONE) return Err("list step runs");
    return out;
  }

  Result<StepRunRecord> GetStepRun(int64_t id) override {
    static const std::string sql = std::string("SELECT ") + kStepCols + " FROM step_runs WHERE id = ?";
    Query q(S(sql.c_str()));
    q.Bind(id);
    int rc = q.Step();
    if (rc == SQLITE_ROW) return ReadStep(q);
    if (rc == SQLITE_DONE) return NotFound("no step run " + std::to_string(id));
    return Err("read step run");
  }

  static constexpr const char* kArtCols =
      "a.id, a.step_run_id, a.run_id, a.pipeline, a.step, a.name, a.version, a.digest, a.size, a.kind, "
      "a.uri, a.created_at, a.materializer, a.type";

  static ArtifactRecord ReadArt(Query& q, int o = 0) {
    ArtifactRecord a;
    a.id = q.Int(o + 0);
    a.step_run_id = q.Int(o + 1);
    a.run_id = q.Text(o + 2);
    a.pipeline = q.Text(o + 3);
    a.step = q.Text(o + 4);
    a.name = q.Text(o + 5);
    a.version = static_cast<int>(q.Int(o + 6));
    a.digest = q.Text(o + 7);
    a.size = q.Int(o + 8);
    a.kind = q.Text(o + 9);
    a.uri = q.Text(o + 10);
    a.created_at = q.Int(o + 11);
    a.materializer = q.Text(o + 12);
    a.type = q.Text(o + 13);
    return a;
  }

  Result<std::optional<ArtifactRecord>> FindRunOutput(const std::string& run_id, const std::string& step,
                                                      const std::string& output) override {
    static const std::string sql = std::string("SELECT ") + kArtCols +
                                   " FROM step_runs s JOIN step_outputs o ON o.step_run_id = s.id "
                                   "JOIN artifacts a ON a.id = o.artifact_id "
                                   "WHERE s.run_id = ? AND s.step = ? AND o.name = ? "
                                   "AND s.status IN ('completed', 'cached') ORDER BY s.id DESC LIMIT 1";
    Query q(S(sql.c_str()));
    q.Bind(run_id).Bind(step).Bind(output);
    int rc = q.Step();
    if (rc == SQLITE_ROW) return std::optional<ArtifactRecord>(ReadArt(q));
    if (rc == SQLITE_DONE) return std::optional<ArtifactRecord>();
    return Err("find run output");
  }

  Result<ArtifactRecord> GetArtifact(const std::string& key) override {
    static const std::string sql = std::string("SELECT ") + kArtCols +
                                   " FROM artifacts a WHERE CAST(a.id AS TEXT) = ? OR (a.digest >= ? AND a.digest < ?) "
                                   "ORDER BY (CAST(a.id AS TEXT) = ?) DESC, a.id LIMIT 1";
    Query q(S(sql.c_str()));
    // A digest prefix (6+ hex digits, "sha256:" allowed) is a range scan of artifacts_digest.
    std::string prefix = key.rfind("sha256:", 0) == 0 ? key.substr(7) : key;
    if (prefix.size() < 6) prefix = "~";  // matches nothing: '~' sorts after every hex digit
    q.Bind(key).Bind(prefix).Bind(prefix + "~").Bind(key);
    int rc = q.Step();
    if (rc == SQLITE_ROW) return ReadArt(q);
    if (rc == SQLITE_DONE) return NotFound("no artifact '" + key + "' (give an artifact id or at least 6 digits of its digest)");
    return Err("read artifact");
  }

  Result<std::vector<ArtifactRecord>> ListArtifacts(const std::string& run_id, int limit) override {
    static const std::string sql = std::string("SELECT ") + kArtCols +
                                   " FROM artifacts a WHERE ? = '' OR a.id IN "
                                   "(SELECT o.artifact_id FROM step_outputs o JOIN step_runs s ON s.id = o.step_run_id "
                                   "WHERE s.run_id = ?) ORDER BY a.id DESC LIMIT ?";
    Query q(S(sql.c_str()));
    q.Bind(run_id).Bind(run_id).Bind(static_cast<int64_t>(limit <= 0 ? -1 : limit));
    std::vector<ArtifactRecord> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadArt(q));
    if (rc != SQLITE_DONE) return Err("list artifacts");
    return out;
  }

  Result<std::vector<std::pair<std::string, ArtifactRecord>>> Uses(const char* table, int64_t id) {
    std::string sql = std::string("SELECT u.name, ") + kArtCols + " FROM " + table +
                      " u JOIN artifacts a ON a.id = u.artifact_id WHERE u.step_run_id = ? ORDER BY u.name";
    Query q(S(sql.c_str()));
    q.Bind(id);
    std::vector<std::pair<std::string, ArtifactRecord>> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) out.emplace_back(q.Text(0), ReadArt(q, 1));
    if (rc != SQLITE_DONE) return Err("read lineage");
    return out;
  }
  Result<std::vector<std::pair<std::string, ArtifactRecord>>> StepOutputs(int64_t id) override {
    return Uses("step_outputs", id);
  }
  Result<std::vector<std::pair<std::string, ArtifactRecord>>> StepInputs(int64_t id) override {
    return Uses("step_inputs", id);
  }

  Result<std::vector<StepRunRecord>> Consumers(int64_t artifact_id) override {
    static const std::string sql = std::string("SELECT ") + kStepCols +
                                   " FROM step_runs WHERE id IN (SELECT step_run_id FROM step_inputs WHERE artifact_id = ?) ORDER BY id";
    Query q(S(sql.c_str()));
    q.Bind(artifact_id);
    std::vector<StepRunRecord> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadStep(q));
    if (rc != SQLITE_DONE) return Err("read consumers");
    return out;
  }

  Result<std::optional<StepRunRecord>> FindCacheHit(const std::string& key) override {
    static const std::string sql = std::string("SELECT ") + kStepCols +
                                   " FROM step_runs WHERE cache_key = ? AND status = 'completed' ORDER BY id DESC LIMIT 1";
    return OptionalStep(sql, {key});
  }

  Result<std::optional<StepRunRecord>> PreviousStepRun(const std::string& pipeline, const std::string& step,
                                                       const std::string& run_id) override {
    static const std::string sql = std::string("SELECT ") + kStepCols +
                                   " FROM step_runs WHERE step = ? AND run_id != ? AND status IN ('completed', 'cached') "
                                   "AND run_id IN (SELECT r.id FROM runs r JOIN pipelines p ON p.id = r.pipeline_id "
                                   "WHERE p.name = ?) ORDER BY id DESC LIMIT 1";
    return OptionalStep(sql, {step, run_id, pipeline});
  }

  Result<std::optional<StepRunRecord>> OptionalStep(const std::string& sql, std::initializer_list<std::string> args) {
    Query q(S(sql.c_str()));
    for (const auto& a : args) q.Bind(a);
    int rc = q.Step();
    if (rc == SQLITE_ROW) return std::optional<StepRunRecord>(ReadStep(q));
    if (rc == SQLITE_DONE) return std::optional<StepRunRecord>();
    return Err("read step run");
  }

  Status CreateComponent(const ComponentRecord& c) override {
    return Txn([&]() -> Status {
      int64_t now = NowMicros();
      Query q(S("INSERT INTO components(type, name, flavor, config, created_at, updated_at) VALUES(?,?,?,?,?,?)"));
      q.Bind(c.type).Bind(c.name).Bind(c.flavor).Bind(c.config).Bind(now).Bind(now);
      Status st = Done(q.Step(), "register component");
      if (st.code() == Code::kAlreadyExists) return AlreadyExists(Kind(c.type) + " '" + c.name + "' already exists");
      return st;
    });
  }

  Status UpdateComponent(const ComponentRecord& c) override {
    return Txn([&]() -> Status {
      Query q(S("UPDATE components SET flavor = ?, config = ?, updated_at = ? WHERE type = ? AND name = ?"));
      q.Bind(c.flavor).Bind(c.config).Bind(NowMicros()).Bind(c.type).Bind(c.name);
      BATON_RETURN_IF_ERROR(Done(q.Step(), "update component"));
      if (sqlite3_changes(db_) != 1) return NotFound("no " + Kind(c.type) + " named '" + c.name + "'");
      return Status::Ok();
    });
  }

  static ComponentRecord ReadComponent(Query& q) {
    ComponentRecord c;
    c.type = q.Text(0);
    c.name = q.Text(1);
    c.flavor = q.Text(2);
    c.config = q.Text(3);
    c.created_at = q.Int(4);
    c.updated_at = q.Int(5);
    return c;
  }

  Result<ComponentRecord> GetComponent(const std::string& type, const std::string& name) override {
    Query q(S("SELECT type, name, flavor, config, created_at, updated_at FROM components WHERE type = ? AND name = ?"));
    q.Bind(type).Bind(name);
    int rc = q.Step();
    if (rc == SQLITE_ROW) return ReadComponent(q);
    if (rc != SQLITE_DONE) return Err("read component");
    return NotFound("no " + Kind(type) + " named '" + name + "'");
  }

  Result<std::vector<ComponentRecord>> ListComponents(const std::string& type) override {
    Query q(S("SELECT type, name, flavor, config, created_at, updated_at FROM components WHERE type = ? ORDER BY name"));
    q.Bind(type);
    std::vector<ComponentRecord> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadComponent(q));
    if (rc != SQLITE_DONE) return Err("list components");
    return out;
  }

  Status DeleteComponent(const std::string& type, const std::string& name) override {
    return Txn([&]() -> Status {
      // Stacks name their orchestrator and artifact store; other components are referenced from
      // component configs and are checked when a run resolves its stack.
      std::string col = type == "orchestrator" ? "orchestrator" : type == "artifact_store" ? "artifact_store" : "";
      std::string sql = col.empty() ? "SELECT name FROM stacks WHERE 0" : "SELECT name FROM stacks WHERE " + col + " = ? ORDER BY name";
      Query users(S(sql.c_str()));
      if (!col.empty()) users.Bind(name);
      std::string names;
      int rc;
      while ((rc = users.Step()) == SQLITE_ROW) names += (names.empty() ? "" : ", ") + users.Text(0);
      if (rc != SQLITE_DONE) return Err("find stacks");
      if (!names.empty())
        return FailedPrecondition(Kind(type) + " '" + name + "' is used by stack(s) " + names + "; delete or change them first");
      Query q(S("DELETE FROM components WHERE type = ? AND name = ?"));
      q.Bind(type).Bind(name);
      BATON_RETURN_IF_ERROR(Done(q.Step(), "delete component"));
      if (sqlite3_changes(db_) != 1) return NotFound("no " + Kind(type) + " named '" + name + "'");
      return Status::Ok();
    });
  }

  Status CheckStackComponents(const StackRecord& s) {
    BATON_RETURN_IF_ERROR(GetComponent("orchestrator", s.orchestrator).status());
    return GetComponent("artifact_store", s.artifact_store).status();
  }

  Status CreateStack(const StackRecord& s) override {
    return Txn([&]() -> Status {
      BATON_RETURN_IF_ERROR(CheckStackComponents(s));
      int64_t now = NowMicros();
      Query q(S("INSERT INTO stacks(name, orchestrator, artifact_store, created_at, updated_at) VALUES(?,?,?,?,?)"));
      q.Bind(s.name).Bind(s.orchestrator).Bind(s.artifact_store).Bind(now).Bind(now);
      Status st = Done(q.Step(), "register stack");
      if (st.code() == Code::kAlreadyExists) return AlreadyExists("stack '" + s.name + "' already exists");
      return st;
    });
  }

  Status UpdateStack(const StackRecord& s) override {
    return Txn([&]() -> Status {
      BATON_RETURN_IF_ERROR(CheckStackComponents(s));
      Query q(S("UPDATE stacks SET orchestrator = ?, artifact_store = ?, updated_at = ? WHERE name = ?"));
      q.Bind(s.orchestrator).Bind(s.artifact_store).Bind(NowMicros()).Bind(s.name);
      BATON_RETURN_IF_ERROR(Done(q.Step(), "update stack"));
      if (sqlite3_changes(db_) != 1) return NotFound("no stack named '" + s.name + "'");
      return Status::Ok();
    });
  }

  static StackRecord ReadStack(Query& q) {
    StackRecord s;
    s.name = q.Text(0);
    s.orchestrator = q.Text(1);
    s.artifact_store = q.Text(2);
    s.created_at = q.Int(3);
    s.updated_at = q.Int(4);
    return s;
  }

  Result<StackRecord> GetStack(const std::string& name) override {
    Query q(S("SELECT name, orchestrator, artifact_store, created_at, updated_at FROM stacks WHERE name = ?"));
    q.Bind(name);
    int rc = q.Step();
    if (rc == SQLITE_ROW) return ReadStack(q);
    if (rc != SQLITE_DONE) return Err("read stack");
    return NotFound("no stack named '" + name + "'");
  }

  Result<std::vector<StackRecord>> ListStacks() override {
    Query q(S("SELECT name, orchestrator, artifact_store, created_at, updated_at FROM stacks ORDER BY name"));
    std::vector<StackRecord> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadStack(q));
    if (rc != SQLITE_DONE) return Err("list stacks");
    return out;
  }

  Status DeleteStack(const std::string& name) override {
    return Txn([&]() -> Status {
      Query q(S("DELETE FROM stacks WHERE name = ?"));
      q.Bind(name);
      BATON_RETURN_IF_ERROR(Done(q.Step(), "delete stack"));
      if (sqlite3_changes(db_) != 1) return NotFound("no stack named '" + name + "'");
      return Status::Ok();
    });
  }

  Result<std::string> GetSetting(const std::string& key, const std::string& fallback) override {
    Query q(S("SELECT value FROM settings WHERE key = ?"));
    q.Bind(key);
    int rc = q.Step();
    if (rc == SQLITE_ROW) return q.Text(0);
    if (rc != SQLITE_DONE) return Err("read setting");
    return fallback;
  }

  Status SetSetting(const std::string& key, const std::string& value) override {
    return Txn([&]() -> Status {
      Query q(S("INSERT INTO settings(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"));
      q.Bind(key).Bind(value);
      return Done(q.Step(), "write setting");
    });
  }

  Status PutPlugin(const PluginRecord& p) override {
    return Txn([&]() -> Status {
      Query q(S("INSERT OR REPLACE INTO plugins(type, flavor, path, digest, registered_at) VALUES(?,?,?,?,?)"));
      q.Bind(p.type).Bind(p.flavor).Bind(p.path).Bind(p.digest).Bind(NowMicros());
      return Done(q.Step(), "register plugin");
    });
  }

  Result<std::vector<PluginRecord>> ListPlugins() override {
    Query q(S("SELECT type, flavor, path, digest, registered_at FROM plugins ORDER BY type, flavor"));
    std::vector<PluginRecord> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) out.push_back({q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Int(4)});
    if (rc != SQLITE_DONE) return Err("list plugins");
    return out;
  }

  Status DeletePlugin(const std::string& type, const std::string& flavor) override {
    return Txn([&]() -> Status {
      Query q(S("DELETE FROM plugins WHERE type = ? AND flavor = ?"));
      q.Bind(type).Bind(flavor);
      BATON_RETURN_IF_ERROR(Done(q.Step(), "delete plugin"));
      if (sqlite3_changes(db_) != 1) return NotFound("no plugin flavor '" + flavor + "'");
      return Status::Ok();
    });
  }

  static std::string Kind(const std::string& type) {
    return type == "artifact_store" ? "artifact store" : type == "container_registry" ? "container registry" : type;
  }

  Status CreateUser(const UserRecord& u) override {
    return Txn([&]() -> Status {
      Query q(S("INSERT INTO users(name, kind, role, created_at) VALUES(?,?,?,?)"));
      q.Bind(u.name).Bind(u.kind).Bind(u.role).Bind(u.created_at ? u.created_at : NowMicros());
      Status st = Done(q.Step(), "add user");
      if (st.code() == Code::kAlreadyExists) return AlreadyExists("user '" + u.name + "' already exists");
      return st;
    });
  }

  static UserRecord ReadUser(Query& q) { return {q.Text(0), q.Text(1), q.Text(2), q.Int(3)}; }

  Result<UserRecord> GetUser(const std::string& name) override {
    Query q(S("SELECT name, kind, role, created_at FROM users WHERE name = ?"));
    q.Bind(name);
    int rc = q.Step();
    if (rc == SQLITE_ROW) return ReadUser(q);
    if (rc != SQLITE_DONE) return Err("read user");
    return NotFound("no user named '" + name + "'");
  }

  Result<std::vector<UserRecord>> ListUsers() override {
    Query q(S("SELECT name, kind, role, created_at FROM users ORDER BY name"));
    std::vector<UserRecord> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadUser(q));
    if (rc != SQLITE_DONE) return Err("list users");
    return out;
  }

  Status DeleteUser(const std::string& name) override {
    return Txn([&]() -> Status {
      Query q(S("DELETE FROM users WHERE name = ?"));
      q.Bind(name);
      BATON_RETURN_IF_ERROR(Done(q.Step(), "delete user"));
      if (sqlite3_changes(db_) != 1) return NotFound("no user named '" + name + "'");
      return Status::Ok();
    });
  }

  Status CreateToken(const TokenRecord& t) override {
    return Txn([&]() -> Status {
      BATON_RETURN_IF_ERROR(GetUser(t.user).status());
      Query q(S("INSERT INTO tokens(id, user_name, hash, run_id, description, created_at, expires_at, last_used_at) "
                "VALUES(?,?,?,?,?,?,?,?)"));
      q.Bind(t.id).Bind(t.user).Bind(t.hash).Bind(t.run_id).Bind(t.description)
          .Bind(t.created_at ? t.created_at : NowMicros()).Bind(t.expires_at).Bind(t.last_used_at);
      Status st = Done(q.Step(), "add token");
      if (st.code() == Code::kAlreadyExists) return AlreadyExists("token '" + t.id + "' already exists");
      return st;
    });
  }

  static TokenRecord ReadToken(Query& q) {
    return {q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Text(4), q.Int(5), q.Int(6), q.Int(7)};
  }

  Result<TokenRecord> FindToken(const std::string& hash) override {
    Query q(S("SELECT id, user_name, hash, run_id, description, created_at, expires_at, last_used_at "
              "FROM tokens WHERE hash = ?"));
    q.Bind(hash);
    int rc = q.Step();
    if (rc == SQLITE_ROW) return ReadToken(q);
    if (rc != SQLITE_DONE) return Err("read token");
    return NotFound("no such token");
  }

  Result<std::vector<TokenRecord>> ListTokens(const std::string& user) override {
    Query q(S("SELECT id, user_name, hash, run_id, description, created_at, expires_at, last_used_at "
              "FROM tokens WHERE ? = '' OR user_name = ? ORDER BY created_at DESC, id"));
    q.Bind(user).Bind(user);
    std::vector<TokenRecord> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadToken(q));
    if (rc != SQLITE_DONE) return Err("list tokens");
    return out;
  }

  Status DeleteToken(const std::string& id) override {
    return Txn([&]() -> Status {
      Query q(S("DELETE FROM tokens WHERE id = ?"));
      q.Bind(id);
      BATON_RETURN_IF_ERROR(Done(q.Step(), "delete token"));
      if (sqlite3_changes(db_) != 1) return NotFound("no token '" + id + "'");
      return Status::Ok();
    });
  }

  Status TouchToken(const std::string& id, int64_t when) override {
    return Txn([&]() -> Status {
      Query q(S("UPDATE tokens SET last_used_at = ? WHERE id = ?"));
      q.Bind(when).Bind(id);
      return Done(q.Step(), "record a token's use");
    });
  }

  static constexpr const char* kScheduleCols =
      "name, pipeline_file, cron, time_zone, stack, run_config, catchup, overlap, paused, created_at, "
      "updated_at, last_fire, last_run";

  static ScheduleRecord ReadSchedule(Query& q) {
    ScheduleRecord s;
    s.name = q.Text(0);
    s.pipeline_file = q.Text(1);
    s.cron = q.Text(2);
    s.time_zone = q.Text(3);
    s.stack = q.Text(4);
    s.run_config = q.Text(5);
    s.catchup = q.Text(6);
    s.overlap = q.Text(7);
    s.paused = q.Int(8) != 0;
    s.created_at = q.Int(9);
    s.updated_at = q.Int(10);
    s.last_fire = q.Int(11);
    s.last_run = q.Text(12);
    return s;
  }

  Status CreateSchedule(const ScheduleRecord& sc) override {
    return Txn([&]() -> Status {
      static const std::string sql = std::string("INSERT INTO schedules(") + kScheduleCols +
                                     ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)";
      Query q(S(sql.c_str()));
      const int64_t now = NowMicros();
      q.Bind(sc.name).Bind(sc.pipeline_file).Bind(sc.cron).Bind(sc.time_zone).Bind(sc.stack).Bind(sc.run_config)
          .Bind(sc.catchup).Bind(sc.overlap).Bind(static_cast<int64_t>(sc.paused ? 1 : 0))
          .Bind(sc.created_at ? sc.created_at : now).Bind(sc.updated_at ? sc.updated_at : now)
          .Bind(sc.last_fire).Bind(sc.last_run);
      Status st = Done(q.Step(), "add schedule");
      if (st.code() == Code::kAlreadyExists) return AlreadyExists("schedule '" + sc.name + "' already exists");
      return st;
    });
  }

  Result<ScheduleRecord> GetSchedule(const std::string& name) override {
    static const std::string sql = std::string("SELECT ") + kScheduleCols + " FROM schedules WHERE name = ?";
    Query q(S(sql.c_str()));
    q.Bind(name);
    int rc = q.Step();
    if (rc == SQLITE_ROW) return ReadSchedule(q);
    if (rc != SQLITE_DONE) return Err("read schedule");
    return NotFound("no schedule named '" + name + "'");
  }

  Result<std::vector<ScheduleRecord>> ListSchedules() override {
    static const std::string sql = std::string("SELECT ") + kScheduleCols + " FROM schedules ORDER BY name";
    Query q(S(sql.c_str()));
    std::vector<ScheduleRecord> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadSchedule(q));
    if (rc != SQLITE_DONE) return Err("list schedules");
    return out;
  }

  Status UpdateSchedule(const ScheduleRecord& sc) override {
    return Txn([&]() -> Status {
      Query q(S("UPDATE schedules SET pipeline_file = ?, cron = ?, time_zone = ?, stack = ?, run_config = ?, "
                "catchup = ?, overlap = ?, paused = ?, updated_at = ? WHERE name = ?"));
      q.Bind(sc.pipeline_file).Bind(sc.cron).Bind(sc.time_zone).Bind(sc.stack).Bind(sc.run_config).Bind(sc.catchup)
          .Bind(sc.overlap).Bind(static_cast<int64_t>(sc.paused ? 1 : 0)).Bind(sc.updated_at ? sc.updated_at : NowMicros())
          .Bind(sc.name);
      BATON_RETURN_IF_ERROR(Done(q.Step(), "update schedule"));
      if (sqlite3_changes(db_) != 1) return NotFound("no schedule named '" + sc.name + "'");
      return Status::Ok();
    });
  }

  Status DeleteSchedule(const std::string& name) override {
    return Txn([&]() -> Status {
      Query q(S("DELETE FROM schedules WHERE name = ?"));
      q.Bind(name);
      BATON_RETURN_IF_ERROR(Done(q.Step(), "delete schedule"));
      if (sqlite3_changes(db_) != 1) return NotFound("no schedule named '" + name + "'");
      return Status::Ok();
    });
  }

  Result<bool> AdvanceSchedule(const std::string& name, int64_t expected, int64_t fire,
                               const std::string& run_id) override {
    bool moved = false;
    BATON_RETURN_IF_ERROR(Txn([&]() -> Status {
      Query q(S("UPDATE schedules SET last_fire = ?, last_run = CASE WHEN ? = '' THEN last_run ELSE ? END "
                "WHERE name = ? AND last_fire = ?"));
      q.Bind(fire).Bind(run_id).Bind(run_id).Bind(name).Bind(expected);
      BATON_RETURN_IF_ERROR(Done(q.Step(), "advance schedule"));
      moved = sqlite3_changes(db_) == 1;
      if (!moved) BATON_RETURN_IF_ERROR(GetSchedule(name).status());
      return Status::Ok();
    }));
    return moved;
  }

  Result<std::vector<std::pair<std::string, double>>> StepDurations(const std::string& pipeline) override {
    // Average of the last successful attempts of each step (recent runs only).
    Query q(S("SELECT s.step, AVG(s.ended_at - s.started_at) FROM step_runs s WHERE s.run_id IN "
              "(SELECT r.id FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE p.name = ? "
              " ORDER BY r.created_at DESC LIMIT 5) AND s.status = 'completed' GROUP BY s.step"));
    q.Bind(pipeline);
    std::vector<std::pair<std::string, double>> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) out.emplace_back(q.Text(0), q.Double(1));
    if (rc != SQLITE_DONE) return Err("read step durations");
    return out;
  }

  // ---- MetadataRows ----

  Result<int64_t> RowsSchemaVersion() override { return SchemaVersion(*this); }

  Status ExportRows(const RowSink& sink) override {
    // A read transaction sees one state of the database (WAL) from its first read to its end.
    BATON_RETURN_IF_ERROR(Run("BEGIN"));
    Status s = ReadRows(sink);
    Status ended = Run(s.ok() ? "COMMIT" : "ROLLBACK");
    return s.ok() ? ended : s;
  }

  Status ImportRows(const RowSink& check, const std::function<Status(const RowSink&)>& source) override {
    return Txn([&]() -> Status {
      BATON_RETURN_IF_ERROR(ReadRows(check));
      const auto& tables = MetadataTables();
      for (auto t = tables.rbegin(); t != tables.rend(); ++t)
        BATON_RETURN_IF_ERROR(Exec((std::string("DELETE FROM ") + t->name).c_str()));
      return source([&](const Table& table, const Row& row) { return InsertRow(table, row); });
    });
  }

 private:
  static std::string EscapeLike(const std::string& s) {
    std::string o;
    for (char c : s) {
      if (c == '%' || c == '_' || c == '\\') o += '\\';
      o += c;
    }
    return o;
  }

  Result<bool> RunExists(const std::string& id) {
    Query q(S("SELECT 1 FROM runs WHERE id = ?"));
    q.Bind(id);
    int rc = q.Step();
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return Err("read run");
  }

  Result<int64_t> PipelineId(const std::string& name) {
    {
      Query q(S("SELECT id FROM pipelines WHERE name = ?"));
      q.Bind(name);
      if (q.Step() == SQLITE_ROW) return q.Int(0);
    }
    Query q(S("INSERT INTO pipelines(name, created_at) VALUES(?, ?)"));
    q.Bind(name).Bind(NowMicros());
    BATON_RETURN_IF_ERROR(Done(q.Step(), "record pipeline"));
    return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
  }

  static std::string ColumnList(const Table& table) {
    std::string cols;
    for (const auto& c : table.columns) cols += (cols.empty() ? "" : ", ") + std::string(c.name);
    return cols;
  }

  // Every row of every table, in Table::order (insertion order is the rowid's).
  Status ReadRows(const RowSink& sink) {
    for (const Table& table : MetadataTables()) {
      const std::string sql = "SELECT " + ColumnList(table) + " FROM " + table.name + " ORDER BY " +
                              (table.order ? table.order : "rowid");
      Query q(S(sql.c_str()));
      int rc;
      while ((rc = q.Step()) == SQLITE_ROW) {
        Row row;
        row.reserve(table.columns.size());
        for (size_t i = 0; i < table.columns.size(); ++i) {
          const int c = static_cast<int>(i);
          if (table.columns[i].type == ColumnType::kInteger) row.emplace_back(q.Int(c));
          else row.emplace_back(q.Text(c));
        }
        BATON_RETURN_IF_ERROR(sink(table, row));
      }
      if (rc != SQLITE_DONE) return Err(std::string("read ") + table.name);
    }
    return Status::Ok();
  }

  Status InsertRow(const Table& table, const Row& row) {
    std::string marks;
    for (size_t i = 0; i < table.columns.size(); ++i) marks += i ? ",?" : "?";
    const std::string sql = std::string("INSERT INTO ") + table.name + "(" + ColumnList(table) + ") VALUES(" + marks + ")";
    Query q(S(sql.c_str()));
    for (const Value& v : row) {
      if (const int64_t* i = std::get_if<int64_t>(&v)) q.Bind(*i);
      else q.Bind(std::get<std::string>(v));
    }
    return Done(q.Step(), std::string("copy a row into ") + table.name);
  }

  Status Link(const char* table, int64_t step_run, const std::string& name, int64_t artifact) {
    std::string sql = std::string("INSERT INTO ") + table + "(step_run_id, name, artifact_id) VALUES(?,?,?)";
    Query q(S(sql.c_str()));
    q.Bind(step_run).Bind(name).Bind(artifact);
    return Done(q.Step(), "record lineage");
  }
};

}  // namespace

Result<std::unique_ptr<MetadataStore>> OpenSqliteStoreWithSchema(const std::string& path, MigrationList migrations) {
  auto store = std::make_unique<SqliteStore>();
  BATON_RETURN_IF_ERROR(store->Open(path, migrations));
  return std::unique_ptr<MetadataStore>(std::move(store));
}

Result<std::unique_ptr<MetadataStore>> OpenSqliteStore(const std::string& path) {
  return OpenSqliteStoreWithSchema(path, SqliteMigrations());
}

}  // namespace baton
