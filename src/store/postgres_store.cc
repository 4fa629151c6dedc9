// PostgreSQL metadata store: one connection per instance (PgDb), prepared statements, the schema
// of store/postgres_schema.cc. Writers of one store take turns on its write lock (PgDb), which
// is what keeps artifact versions 1..N per pipeline, step and name, ClaimRun's check and
// MarkRunInterrupted's check true when they commit, across any number of processes and hosts.

#include "store/postgres_store.h"

#include <cstdint>
#include <optional>

#include "platform/fs.h"
#include "store/metadata_rows.h"
#include "store/postgres_db.h"
#include "store/postgres_schema.h"

namespace baton {
namespace {

constexpr int64_t kNoLimit = INT64_MAX;

// The metadata store on one PostgreSQL schema.
class PostgresStore : public MetadataStore, public MetadataRows, private PgDb {
 public:
  Status Open(const PgTarget& target, MigrationList migrations) {
    BATON_RETURN_IF_ERROR(PgDb::Open(target));
    return Migrate(migrations);
  }

  Status BeginBatch() override { return StartBatch(); }
  Status EndBatch() override { return FinishBatch(); }

  Status PutSnapshot(const std::string& hash, const std::string& pipeline,
                     const std::string& body) override {
    return Txn([&]() -> Status {
      BATON_ASSIGN_OR_RETURN(int64_t pid, PipelineId(pipeline));
      return Q("INSERT INTO snapshots(hash, pipeline_id, body, created_at) VALUES($1, $2, $3, $4) "
               "ON CONFLICT (hash) DO NOTHING",
               "store snapshot", hash, pid, body, NowMicros())
          .status();
    });
  }

  Result<std::string> GetSnapshot(const std::string& hash) override {
    BATON_ASSIGN_OR_RETURN(PgResult r,
                           Q("SELECT body FROM snapshots WHERE hash = $1", "read snapshot", hash));
    if (r.rows() == 0) return NotFound("no snapshot " + hash);
    return r.Text(0, 0);
  }

  Status CreateRun(const RunRecord& r) override {
    auto tags = JoinTags(r.tags);
    if (!tags.ok()) return tags.status();
    return Txn([&]() -> Status {
      BATON_ASSIGN_OR_RETURN(int64_t pid, PipelineId(r.pipeline));
      return Q("INSERT INTO runs(id, pipeline_id, snapshot_hash, status, reason, created_at, "
               "started_at, ended_at, stack, orchestrator, host, pid, pid_start, attempt, "
               "parameters, pipeline_file, tags, note, use_cache, schedule) "
               "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, "
               "$17, $18, $19, $20)",
               "create run", r.id, pid, r.snapshot_hash, ToString(r.status), r.reason, r.created_at,
               r.started_at, r.ended_at, r.stack, r.orchestrator, r.host, r.pid, r.pid_start,
               r.attempt, r.parameters, r.pipeline_file, *tags, r.note,
               static_cast<int64_t>(r.use_cache ? 1 : 0), r.schedule)
          .status();
    });
  }

  Status UpdateRunStatus(const std::string& id, RunStatus status, const std::string& reason,
                         int64_t ended_at) override {
    return Txn([&]() -> Status {
      BATON_ASSIGN_OR_RETURN(
          PgResult u, Q("UPDATE runs SET status = $1, reason = $2, ended_at = $3 WHERE id = $4",
                        "update run", ToString(status), reason, ended_at, id));
      if (u.affected() != 1) return NotFound("no run '" + id + "'");
      if (!Ended(status)) return Status::Ok();
      // A run that ends leaves no step run behind as running.
      return Q("UPDATE step_runs SET status = $1, reason = $2, ended_at = $3 "
               "WHERE run_id = $4 AND status = 'running'",
               "close step runs",
               std::string(ToString(status == RunStatus::kStopped ? StepStatus::kStopped
                                                                  : StepStatus::kInterrupted)),
               reason, ended_at, id)
          .status();
    });
  }

  Status ClaimRun(const std::string& id, int64_t pid, int64_t pid_start,
                  const std::string& host) override {
    return Txn([&]() -> Status {
      // The row is locked by the UPDATE, and its status checked on the latest version.
      BATON_ASSIGN_OR_RETURN(PgResult u,
                             Q("UPDATE runs SET status = 'running', reason = '', ended_at = 0, "
                               "pid = $1, pid_start = $2, host = $3, attempt = attempt + 1 "
                               "WHERE id = $4 AND status <> 'running'",
                               "claim run", pid, pid_start, host, id));
      if (u.affected() == 1) return Status::Ok();
      BATON_ASSIGN_OR_RETURN(bool exists, RunExists(id));
      if (!exists) return NotFound("no run '" + id + "'");
      return FailedPrecondition("run " + id + " is running; stop it first");
    });
  }

  Status MarkRunInterrupted(const std::string& id, const std::string& reason) override {
    return Txn([&]() -> Status {
      const int64_t now = NowMicros();
      BATON_ASSIGN_OR_RETURN(PgResult u,
                             Q("UPDATE runs SET status = 'interrupted', reason = $1, ended_at = $2 "
                               "WHERE id = $3 AND status = 'running'",
                               "mark run interrupted", reason, now, id));
      if (u.affected() != 1) {
        // Not running: nothing changes, not even a step run still marked running.
        BATON_ASSIGN_OR_RETURN(bool exists, RunExists(id));
        return exists ? Status::Ok() : NotFound("no run '" + id + "'");
      }
      return Q("UPDATE step_runs SET status = 'interrupted', reason = $1, ended_at = $2 "
               "WHERE run_id = $3 AND status = 'running'",
               "mark step runs interrupted", reason, now, id)
          .status();
    });
  }

  static constexpr const char* kRunCols =
      "r.id, p.name, r.snapshot_hash, r.status, r.reason, r.created_at, r.started_at, "
      "r.ended_at, r.stack, r.orchestrator, r.host, r.pid, r.attempt, r.parameters, "
      "r.pipeline_file, r.pid_start, r.tags, r.note, r.use_cache, r.schedule";

  static RunRecord ReadRun(const PgResult& q, int row) {
    RunRecord r;
    r.id = q.Text(row, 0);
    r.pipeline = q.Text(row, 1);
    r.snapshot_hash = q.Text(row, 2);
    r.reason = q.Text(row, 4);
    if (!ParseRunStatus(q.Text(row, 3), &r.status)) {
      r.status = RunStatus::kFailed;
      r.reason += " (unknown run status '" + q.Text(row, 3) + "' in the store)";
    }
    r.created_at = q.Int(row, 5);
    r.started_at = q.Int(row, 6);
    r.ended_at = q.Int(row, 7);
    r.stack = q.Text(row, 8);
    r.orchestrator = q.Text(row, 9);
    r.host = q.Text(row, 10);
    r.pid = q.Int(row, 11);
    r.attempt = static_cast<int>(q.Int(row, 12));
    r.parameters = q.Text(row, 13);
    r.pipeline_file = q.Text(row, 14);
    r.pid_start = q.Int(row, 15);
    r.tags = SplitTags(q.Text(row, 16));
    r.note = q.Text(row, 17);
    r.use_cache = q.Int(row, 18) != 0;
    r.schedule = q.Text(row, 19);
    return r;
  }

  static std::vector<RunRecord> ReadRuns(const PgResult& q) {
    std::vector<RunRecord> out;
    for (int i = 0; i < q.rows(); ++i) out.push_back(ReadRun(q, i));
    return out;
  }

  Result<std::vector<RunRecord>> RunsWithStatus(RunStatus status) override {
    BATON_ASSIGN_OR_RETURN(
        PgResult q,
        Q(std::string("SELECT ") + kRunCols +
              " FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE r.status = $1",
          "list runs", ToString(status)));
    return ReadRuns(q);
  }

  Result<RunRecord> GetRun(const std::string& id) override {
    if (id == "last" || id == "latest") {
      BATON_ASSIGN_OR_RETURN(auto runs, ListRuns("", 1));
      if (runs.empty()) return NotFound("there are no runs yet");
      return runs[0];
    }
    // A prefix is literal: LIKE's wildcards in it are escaped.
    BATON_ASSIGN_OR_RETURN(
        PgResult q,
        Q(std::string("SELECT ") + kRunCols +
              " FROM runs r JOIN pipelines p ON p.id = r.pipeline_id "
              "WHERE r.id = $1 OR r.id LIKE $2 ESCAPE '\\' ORDER BY (r.id = $1) DESC LIMIT 2",
          "read run", id, EscapeLike(id) + "%"));
    std::vector<RunRecord> found = ReadRuns(q);
    if (found.empty()) return NotFound("no run '" + id + "'");
    if (found.size() > 1 && found[0].id != id)
      return InvalidArgument("run prefix '" + id + "' is ambiguous");
    return found[0];
  }

  Status SetRunLabels(const std::string& id, const std::vector<std::string>& tags,
                      const std::string& note) override {
    BATON_ASSIGN_OR_RETURN(std::string joined, JoinTags(tags));
    return Txn([&]() -> Status {
      BATON_ASSIGN_OR_RETURN(PgResult u, Q("UPDATE runs SET tags = $1, note = $2 WHERE id = $3",
                                           "label run", joined, note, id));
      if (u.affected() != 1) return NotFound("no run '" + id + "'");
      return Status::Ok();
    });
  }

  Status DeleteRun(const std::string& id) override {
    return Txn([&]() -> Status {
      BATON_ASSIGN_OR_RETURN(
          PgResult run, Q("SELECT status FROM runs WHERE id = $1 FOR UPDATE", "read run", id));
      if (run.rows() == 0) return NotFound("no run '" + id + "'");
      const std::string status = run.Text(0, 0);
      if (status == "running" || status == "pending")
        return FailedPrecondition("run " + id + " is " + status + "; stop it first");
      BATON_ASSIGN_OR_RETURN(std::vector<std::string> users, RunUsers(id));
      if (!users.empty()) return RunInUse(id, users);
      for (const char* sql :
           {"DELETE FROM step_inputs WHERE step_run_id IN (SELECT id FROM step_runs WHERE run_id = $1)",
            "DELETE FROM step_outputs WHERE step_run_id IN (SELECT id FROM step_runs WHERE run_id = $1)",
            "DELETE FROM artifacts WHERE step_run_id IN (SELECT id FROM step_runs WHERE run_id = $1)",
            "DELETE FROM step_runs WHERE run_id = $1", "DELETE FROM runs WHERE id = $1"})
        BATON_RETURN_IF_ERROR(Q(sql, "delete run " + id, id).status());
      return Status::Ok();
    });
  }

  Result<std::vector<std::string>> RunUsers(const std::string& id) override {
    BATON_ASSIGN_OR_RETURN(
        PgResult u,
        Q("SELECT DISTINCT u.run_id FROM step_runs u WHERE u.run_id != $1 AND ("
          " u.id IN (SELECT o.step_run_id FROM step_outputs o JOIN artifacts a"
          "  ON a.id = o.artifact_id JOIN step_runs p ON p.id = a.step_run_id WHERE p.run_id = $1)"
          " OR u.id IN (SELECT i.step_run_id FROM step_inputs i JOIN artifacts a"
          "  ON a.id = i.artifact_id JOIN step_runs p ON p.id = a.step_run_id WHERE p.run_id = $1)"
          " OR u.cached_from IN (SELECT id FROM step_runs WHERE run_id = $1)) ORDER BY u.run_id",
          "find the runs that use run " + id, id));
    std::vector<std::string> users;
    for (int i = 0; i < u.rows(); ++i) users.push_back(u.Text(i, 0));
    if (users.empty()) {
      BATON_ASSIGN_OR_RETURN(PgResult r, Q("SELECT 1 FROM runs WHERE id = $1", "read run", id));
      if (r.rows() == 0) return NotFound("no run '" + id + "'");
    }
    return users;
  }

  Result<std::vector<std::string>> ArtifactDigests() override {
    BATON_ASSIGN_OR_RETURN(PgResult q, Q("SELECT DISTINCT digest FROM artifacts ORDER BY digest",
                                         "list artifact digests"));
    std::vector<std::string> out;
    for (int i = 0; i < q.rows(); ++i) out.push_back(q.Text(i, 0));
    return out;
  }

  Result<std::vector<RunRecord>> ListRuns(const std::string& pipeline, int limit) override {
    BATON_ASSIGN_OR_RETURN(
        PgResult q,
        Q(std::string("SELECT ") + kRunCols +
              " FROM runs r JOIN pipelines p ON p.id = r.pipeline_id "
              "WHERE ($1 = '' OR p.name = $1) ORDER BY r.created_at DESC, r.seq DESC LIMIT $2",
          "list runs", pipeline, limit <= 0 ? kNoLimit : int64_t{limit}));
    return ReadRuns(q);
  }

  // A step's two records (its start, its end with its outputs) are the writes every step makes,
  // so each is one pipelined transaction (WriteAll): the write lock is held for the server's
  // work alone.
  Result<int64_t> StartStepRun(const StepRunRecord& r) override {
    std::vector<PgStatement> w(1);
    w[0].sql =
        "INSERT INTO step_runs(run_id, step, attempt, status, reason, started_at, log_path, "
        "cache_key, pid, command, cache_components) "
        "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";
    w[0].what = "start step run";
    w[0].params.Add(r.run_id).Add(r.step).Add(r.attempt).Add(ToString(r.status)).Add(r.reason)
        .Add(r.started_at).Add(r.log_path).Add(r.cache_key).Add(r.pid).Add(r.command)
        .Add(r.cache_components);
    BATON_ASSIGN_OR_RETURN(std::vector<PgResult> done, WriteAll(w));
    if (!done.empty()) return done[0].Int(0, 0);
    // Committed, its answer lost: the id is found by the row's key.
    BATON_ASSIGN_OR_RETURN(PgResult q, Q("SELECT id FROM step_runs WHERE run_id = $1 AND step = $2 "
                                         "AND attempt = $3", "read step run", r.run_id, r.step,
                                         r.attempt));
    if (q.rows() != 1) return Internal("metadata store: a committed step run is not there");
    return q.Int(0, 0);
  }

  // The step run's row, then each new artifact with its output link (one statement each: the
  // version is counted under the write lock, taken before either), then the other links. A step
  // run that is not there changes nothing: its links and artifacts name it, so their foreign keys
  // fail and undo all.
  Status FinishStepRun(const StepRunRecord& r, std::vector<ArtifactRecord>* arts,
                       const std::vector<OutputUse>& reused,
                       const std::vector<InputUse>& inputs) override {
    std::vector<PgStatement> w;
    w.push_back({"UPDATE step_runs SET status = $1, reason = $2, ended_at = $3, exit_code = $4, "
                 "cache_key = $5, cached_from = $6, metadata = $7, pid = $8 WHERE id = $9",
                 PgParams(), "finish step run"});
    w.back().params.Add(ToString(r.status)).Add(r.reason).Add(r.ended_at).Add(r.exit_code)
        .Add(r.cache_key).Add(r.cached_from).Add(r.metadata).Add(r.pid).Add(r.id);
    for (const auto& a : *arts) {
      // The next version of (pipeline, step, name).
      w.push_back({"WITH a AS (INSERT INTO artifacts(step_run_id, run_id, pipeline, step, name, "
                   "version, digest, size, kind, uri, created_at, materializer, type) "
                   "SELECT $1, $2, $3, $4, $5, COALESCE(MAX(version), 0) + 1, "
                   "$6, $7, $8, $9, $10, $11, $12 "
                   "FROM artifacts WHERE pipeline = $3 AND step = $4 AND name = $5 "
                   "RETURNING id, version), "
                   "o AS (INSERT INTO step_outputs(step_run_id, name, artifact_id) "
                   "SELECT $1, $5, id FROM a) "
                   "SELECT id, version FROM a",
                   PgParams(), "record artifact"});
      w.back().params.Add(r.id).Add(a.run_id).Add(a.pipeline).Add(a.step).Add(a.name)
          .Add(a.digest).Add(a.size).Add(a.kind).Add(a.uri).Add(a.created_at).Add(a.materializer)
          .Add(a.type);
    }
    for (const auto& o : reused) {
      w.push_back({kOutputs, PgParams(), "record lineage"});
      w.back().params.Add(r.id).Add(o.name).Add(o.artifact_id);
    }
    for (const auto& i : inputs) {
      w.push_back({kInputs, PgParams(), "record lineage"});
      w.back().params.Add(r.id).Add(i.name).Add(i.artifact_id);
    }
    BATON_ASSIGN_OR_RETURN(std::vector<PgResult> done, WriteAll(w));
    if (done.empty()) {
      // Committed, its answers lost: each new artifact is the one its output link names.
      BATON_ASSIGN_OR_RETURN(PgResult there, Q("SELECT 1 FROM step_runs WHERE id = $1",
                                               "read step run", r.id));
      if (there.rows() == 0) return NotFound("no step run " + std::to_string(r.id));
      for (auto& a : *arts) {
        BATON_ASSIGN_OR_RETURN(
            PgResult q, Q("SELECT a.id, a.version FROM step_outputs o JOIN artifacts a ON "
                          "a.id = o.artifact_id WHERE o.step_run_id = $1 AND o.name = $2",
                          "read artifact", r.id, a.name));
        if (q.rows() != 1) return Internal("metadata store: a committed artifact is not there");
        a.id = q.Int(0, 0);
        a.version = static_cast<int>(q.Int(0, 1));
        a.step_run_id = r.id;
      }
      return Status::Ok();
    }
    if (done[0].affected() != 1) return NotFound("no step run " + std::to_string(r.id));
    for (size_t k = 0; k < arts->size(); ++k) {
      ArtifactRecord& a = (*arts)[k];
      a.id = done[1 + k].Int(0, 0);
      a.version = static_cast<int>(done[1 + k].Int(0, 1));
      a.step_run_id = r.id;
    }
    return Status::Ok();
  }

  static constexpr const char* kStepCols =
      "s.id, s.run_id, s.step, s.attempt, s.status, s.reason, s.started_at, s.ended_at, "
      "s.exit_code, s.log_path, s.cache_key, s.cached_from, s.metadata, s.pid, s.command, "
      "s.cache_components";

  static StepRunRecord ReadStep(const PgResult& q, int row) {
    StepRunRecord r;
    r.id = q.Int(row, 0);
    r.run_id = q.Text(row, 1);
    r.step = q.Text(row, 2);
    r.attempt = static_cast<int>(q.Int(row, 3));
    r.reason = q.Text(row, 5);
    if (!ParseStepStatus(q.Text(row, 4), &r.status)) {
      r.status = StepStatus::kFailed;
      r.reason += " (unknown step status '" + q.Text(row, 4) + "' in the store)";
    }
    r.started_at = q.Int(row, 6);
    r.ended_at = q.Int(row, 7);
    r.exit_code = static_cast<int>(q.Int(row, 8));
    r.log_path = q.Text(row, 9);
    r.cache_key = q.Text(row, 10);
    r.cached_from = q.Int(row, 11);
    r.metadata = q.Text(row, 12);
    r.pid = q.Int(row, 13);
    r.command = q.Text(row, 14);
    r.cache_components = q.Text(row, 15);
    return r;
  }

  static std::vector<StepRunRecord> ReadSteps(const PgResult& q) {
    std::vector<StepRunRecord> out;
    for (int i = 0; i < q.rows(); ++i) out.push_back(ReadStep(q, i));
    return out;
  }

  static std::optional<StepRunRecord> FirstStep(const PgResult& q) {
    if (q.rows() == 0) return std::nullopt;
    return ReadStep(q, 0);
  }

  Result<std::vector<StepRunRecord>> ListStepRuns(const std::string& run_id) override {
    BATON_ASSIGN_OR_RETURN(PgResult q, Q(std::string("SELECT ") + kStepCols +
                                             " FROM step_runs s WHERE s.run_id = $1 ORDER BY s.id",
                                         "list step runs", run_id));
    return ReadSteps(q);
  }

  Result<StepRunRecord> GetStepRun(int64_t id) override {
    BATON_ASSIGN_OR_RETURN(
        PgResult q, Q(std::string("SELECT ") + kStepCols + " FROM step_runs s WHERE s.id = $1",
                      "read step run", id));
    if (q.rows() == 0) return NotFound("no step run " + std::to_string(id));
    return ReadStep(q, 0);
  }

  static constexpr const char* kArtCols =
      "a.id, a.step_run_id, a.run_id, a.pipeline, a.step, a.name, a.version, a.digest, a.size, "
      "a.kind, a.uri, a.created_at, a.materializer, a.type";

  static ArtifactRecord ReadArt(const PgResult& q, int row, int o = 0) {
    ArtifactRecord a;
    a.id = q.Int(row, o + 0);
    a.step_run_id = q.Int(row, o + 1);
    a.run_id = q.Text(row, o + 2);
    a.pipeline = q.Text(row, o + 3);
    a.step = q.Text(row, o + 4);
    a.name = q.Text(row, o + 5);
    a.version = static_cast<int>(q.Int(row, o + 6));
    a.digest = q.Text(row, o + 7);
    a.size = q.Int(row, o + 8);
    a.kind = q.Text(row, o + 9);
    a.uri = q.Text(row, o + 10);
    a.created_at = q.Int(row, o + 11);
    a.materializer = q.Text(row, o + 12);
    a.type = q.Text(row, o + 13);
    return a;
  }

  Result<std::optional<ArtifactRecord>> FindRunOutput(const std::string& run_id,
                                                      const std::string& step,
                                                      const std::string& output) override {
    BATON_ASSIGN_OR_RETURN(
        PgResult q, Q(std::string("SELECT ") + kArtCols +
                          " FROM step_runs s JOIN step_outputs o ON o.step_run_id = s.id "
                          "JOIN artifacts a ON a.id = o.artifact_id "
                          "WHERE s.run_id = $1 AND s.step = $2 AND o.name = $3 "
                          "AND s.status IN ('completed', 'cached') ORDER BY s.id DESC LIMIT 1",
                      "find run output", run_id, step, output));
    if (q.rows() == 0) return std::optional<ArtifactRecord>();
    return std::optional<ArtifactRecord>(ReadArt(q, 0));
  }

  Result<ArtifactRecord> GetArtifact(const std::string& key) override {
    // An id in its decimal form wins; else a digest prefix (6+ hex digits, "sha256:" allowed) is a
    // range of the digest index.
    int64_t id = -1;
    if (!key.empty() && key.size() < 19 &&
        key.find_first_not_of("0123456789") == std::string::npos &&
        (key.size() == 1 || key[0] != '0'))
      id = std::stoll(key);
    std::string prefix = key.rfind("sha256:", 0) == 0 ? key.substr(7) : key;
    if (prefix.size() < 6) prefix = "~";  // matches nothing: '~' sorts after every hex digit
    BATON_ASSIGN_OR_RETURN(
        PgResult q, Q(std::string("SELECT ") + kArtCols +
                          " FROM artifacts a WHERE a.id = $1 OR (a.digest >= $2 AND a.digest < $3) "
                          "ORDER BY (a.id = $1) DESC, a.id LIMIT 1",
                      "read artifact", id, prefix, prefix + "~"));
    if (q.rows() == 0)
      return NotFound("no artifact '" + key +
                      "' (give an artifact id or at least 6 digits of its digest)");
    return ReadArt(q, 0);
  }

  Result<std::vector<ArtifactRecord>> ListArtifacts(const std::string& run_id, int limit) override {
    BATON_ASSIGN_OR_RETURN(
        PgResult q,
        Q(std::string("SELECT ") + kArtCols +
              " FROM artifacts a WHERE $1 = '' OR a.id IN "
              "(SELECT o.artifact_id FROM step_outputs o JOIN step_runs s ON s.id = o.step_run_id "
              "WHERE s.run_id = $1) ORDER BY a.id DESC LIMIT $2",
          "list artifacts", run_id, limit <= 0 ? kNoLimit : int64_t{limit}));
    std::vector<ArtifactRecord> out;
    for (int i = 0; i < q.rows(); ++i) out.push_back(ReadArt(q, i));
    return out;
  }

  Result<std::vector<std::pair<std::string, ArtifactRecord>>> StepOutputs(int64_t id) override {
    BATON_ASSIGN_OR_RETURN(PgResult q,
                           Q(std::string("SELECT u.name, ") + kArtCols +
                                 " FROM step_outputs u JOIN artifacts a ON a.id = u.artifact_id "
                                 "WHERE u.step_run_id = $1 ORDER BY u.name",
                             "read lineage", id));
    return Uses(q);
  }

  Result<std::vector<std::pair<std::string, ArtifactRecord>>> StepInputs(int64_t id) override {
    BATON_ASSIGN_OR_RETURN(PgResult q,
                           Q(std::string("SELECT u.name, ") + kArtCols +
                                 " FROM step_inputs u JOIN artifacts a ON a.id = u.artifact_id "
                                 "WHERE u.step_run_id = $1 ORDER BY u.name",
                             "read lineage", id));
    return Uses(q);
  }

  static std::vector<std::pair<std::string, ArtifactRecord>> Uses(const PgResult& q) {
    std::vector<std::pair<std::string, ArtifactRecord>> out;
    for (int i = 0; i < q.rows(); ++i) out.emplace_back(q.Text(i, 0), ReadArt(q, i, 1));
    return out;
  }

  Result<std::vector<StepRunRecord>> Consumers(int64_t artifact_id) override {
    BATON_ASSIGN_OR_RETURN(
        PgResult q,
        Q(std::string("SELECT ") + kStepCols +
              " FROM step_runs s WHERE s.id IN "
              "(SELECT step_run_id FROM step_inputs WHERE artifact_id = $1) ORDER BY s.id",
          "read consumers", artifact_id));
    return ReadSteps(q);
  }

  Result<std::optional<StepRunRecord>> FindCacheHit(const std::string& key) override {
    // Over the whole store: a colleague's run in another workspace is a hit too.
    BATON_ASSIGN_OR_RETURN(
        PgResult q, Q(std::string("SELECT ") + kStepCols +
                          " FROM step_runs s WHERE s.cache_key = $1 AND s.status = 'completed' "
                          "ORDER BY s.id DESC LIMIT 1",
                      "read step run", key));
    return FirstStep(q);
  }

  Result<std::optional<StepRunRecord>> PreviousStepRun(const std::string& pipeline,
                                                       const std::string& step,
                                                       const std::string& run_id) override {
    BATON_ASSIGN_OR_RETURN(
        PgResult q, Q(std::string("SELECT ") + kStepCols +
                          " FROM step_runs s WHERE s.step = $1 AND s.run_id <> $2 "
                          "AND s.status IN ('completed', 'cached') AND s.run_id IN "
                          "(SELECT r.id FROM runs r JOIN pipelines p ON p.id = r.pipeline_id "
                          "WHERE p.name = $3) ORDER BY s.id DESC LIMIT 1",
                      "read step run", step, run_id, pipeline));
    return FirstStep(q);
  }

  Status CreateComponent(const ComponentRecord& c) override {
    return Txn([&]() -> Status {
      const int64_t now = NowMicros();
      Status st = Q("INSERT INTO components(type, name, flavor, config, created_at, updated_at) "
                    "VALUES($1, $2, $3, $4, $5, $6)",
                    "register component", c.type, c.name, c.flavor, c.config, now, now)
                      .status();
      if (st.code() == Code::kAlreadyExists)
        return AlreadyExists(Kind(c.type) + " '" + c.name + "' already exists");
      return st;
    });
  }

  Status UpdateComponent(const ComponentRecord& c) override {
    return Txn([&]() -> Status {
      BATON_ASSIGN_OR_RETURN(
          PgResult u, Q("UPDATE components SET flavor = $1, config = $2, updated_at = $3 WHERE "
                        "type = $4 AND name = $5",
                        "update component", c.flavor, c.config, NowMicros(), c.type, c.name));
      if (u.affected() != 1) return NotFound("no " + Kind(c.type) + " named '" + c.name + "'");
      return Status::Ok();
    });
  }

  static ComponentRecord ReadComponent(const PgResult& q, int row) {
    return {q.Text(row, 0), q.Text(row, 1), q.Text(row, 2),
            q.Text(row, 3), q.Int(row, 4),  q.Int(row, 5)};
  }

  Result<ComponentRecord> GetComponent(const std::string& type, const std::string& name) override {
    BATON_ASSIGN_OR_RETURN(
        PgResult q, Q("SELECT type, name, flavor, config, created_at, updated_at FROM components "
                      "WHERE type = $1 AND name = $2",
                      "read component", type, name));
    if (q.rows() == 0) return NotFound("no " + Kind(type) + " named '" + name + "'");
    return ReadComponent(q, 0);
  }

  Result<std::vector<ComponentRecord>> ListComponents(const std::string& type) override {
    BATON_ASSIGN_OR_RETURN(
        PgResult q, Q("SELECT type, name, flavor, config, created_at, updated_at FROM components "
                      "WHERE type = $1 ORDER BY name",
                      "list components", type));
    std::vector<ComponentRecord> out;
    for (int i = 0; i < q.rows(); ++i) out.push_back(ReadComponent(q, i));
    return out;
  }

  Status DeleteComponent(const std::string& type, const std::string& name) override {
    return Txn([&]() -> Status {
      // Stacks name their orchestrator and artifact store; other components are referenced from
      // component configs and are checked when a run resolves its stack.
      std::string names;
      if (type == "orchestrator" || type == "artifact_store") {
        BATON_ASSIGN_OR_RETURN(
            PgResult users,
            Q(type == "orchestrator"
                  ? "SELECT name FROM stacks WHERE orchestrator = $1 ORDER BY name"
                  : "SELECT name FROM stacks WHERE artifact_store = $1 ORDER BY name",
              "find stacks", name));
        for (int i = 0; i < users.rows(); ++i)
          names += (names.empty() ? "" : ", ") + users.Text(i, 0);
      }
      if (!names.empty())
        return FailedPrecondition(Kind(type) + " '" + name + "' is used by stack(s) " + names +
                                  "; delete or change them first");
      BATON_ASSIGN_OR_RETURN(PgResult d, Q("DELETE FROM components WHERE type = $1 AND name = $2",
                                           "delete component", type, name));
      if (d.affected() != 1) return NotFound("no " + Kind(type) + " named '" + name + "'");
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
      const int64_t now = NowMicros();
      Status st =
          Q("INSERT INTO stacks(name, orchestrator, artifact_store, created_at, updated_at) "
            "VALUES($1, $2, $3, $4, $5)",
            "register stack", s.name, s.orchestrator, s.artifact_store, now, now)
              .status();
      if (st.code() == Code::kAlreadyExists)
        return AlreadyExists("stack '" + s.name + "' already exists");
      return st;
    });
  }

  Status UpdateStack(const StackRecord& s) override {
    return Txn([&]() -> Status {
      BATON_RETURN_IF_ERROR(CheckStackComponents(s));
      BATON_ASSIGN_OR_RETURN(
          PgResult u, Q("UPDATE stacks SET orchestrator = $1, artifact_store = $2, updated_at = $3 "
                        "WHERE name = $4",
                        "update stack", s.orchestrator, s.artifact_store, NowMicros(), s.name));
      if (u.affected() != 1) return NotFound("no stack named '" + s.name + "'");
      return Status::Ok();
    });
  }

  static StackRecord ReadStack(const PgResult& q, int row) {
    return {q.Text(row, 0), q.Text(row, 1), q.Text(row, 2), q.Int(row, 3), q.Int(row, 4)};
  }

  Result<StackRecord> GetStack(const std::string& name) override {
    BATON_ASSIGN_OR_RETURN(
        PgResult q,
        Q("SELECT name, orchestrator, artifact_store, created_at, updated_at FROM stacks "
          "WHERE name = $1",
          "read stack", name));
    if (q.rows() == 0) return NotFound("no stack named '" + name + "'");
    return ReadStack(q, 0);
  }

  Result<std::vector<StackRecord>> ListStacks() override {
    BATON_ASSIGN_OR_RETURN(
        PgResult q,
        Q("SELECT name, orchestrator, artifact_store, created_at, updated_at FROM stacks "
          "ORDER BY name",
          "list stacks"));
    std::vector<StackRecord> out;
    for (int i = 0; i < q.rows(); ++i) out.push_back(ReadStack(q, i));
    return out;
  }

  Status DeleteStack(const std::string& name) override {
    return Txn([&]() -> Status {
      BATON_ASSIGN_OR_RETURN(PgResult d,
                             Q("DELETE FROM stacks WHERE name = $1", "delete stack", name));
      if (d.affected() != 1) return NotFound("no stack named '" + name + "'");
      return Status::Ok();
    });
  }

  Result<std::string> GetSetting(const std::string& key, const std::string& fallback) override {
    BATON_ASSIGN_OR_RETURN(PgResult q,
                           Q("SELECT value FROM settings WHERE key = $1", "read setting", key));
    if (q.rows() == 0) return fallback;
    return q.Text(0, 0);
  }

  Status SetSetting(const std::string& key, const std::string& value) override {
    return Txn([&]() -> Status {
      return Q("INSERT INTO settings(key, value) VALUES($1, $2) ON CONFLICT (key) DO UPDATE SET "
               "value = EXCLUDED.value",
               "write setting", key, value)
          .status();
    });
  }

  Status PutPlugin(const PluginRecord& p) override {
    return Txn([&]() -> Status {
      return Q("INSERT INTO plugins(type, flavor, path, digest, registered_at) "
               "VALUES($1, $2, $3, $4, $5) ON CONFLICT (type, flavor) DO UPDATE SET "
               "path = EXCLUDED.path, digest = EXCLUDED.digest, "
               "registered_at = EXCLUDED.registered_at",
               "register plugin", p.type, p.flavor, p.path, p.digest, NowMicros())
          .status();
    });
  }

  Result<std::vector<PluginRecord>> ListPlugins() override {
    BATON_ASSIGN_OR_RETURN(PgResult q,
                           Q("SELECT type, flavor, path, digest, registered_at FROM plugins "
                             "ORDER BY type, flavor",
                             "list plugins"));
    std::vector<PluginRecord> out;
    for (int i = 0; i < q.rows(); ++i)
      out.push_back({q.Text(i, 0), q.Text(i, 1), q.Text(i, 2), q.Text(i, 3), q.Int(i, 4)});
    return out;
  }

  Status DeletePlugin(const std::string& type, const std::string& flavor) override {
    return Txn([&]() -> Status {
      BATON_ASSIGN_OR_RETURN(PgResult d, Q("DELETE FROM plugins WHERE type = $1 AND flavor = $2",
                                           "delete plugin", type, flavor));
      if (d.affected() != 1) return NotFound("no plugin flavor '" + flavor + "'");
      return Status::Ok();
    });
  }

  Status CreateUser(const UserRecord& u) override {
    return Txn([&]() -> Status {
      Status st = Q("INSERT INTO users(name, kind, role, created_at) VALUES($1, $2, $3, $4)",
                    "add user", u.name, u.kind, u.role, u.created_at ? u.created_at : NowMicros())
                      .status();
      if (st.code() == Code::kAlreadyExists)
        return AlreadyExists("user '" + u.name + "' already exists");
      return st;
    });
  }

  static UserRecord ReadUser(const PgResult& q, int row) {
    return {q.Text(row, 0), q.Text(row, 1), q.Text(row, 2), q.Int(row, 3)};
  }

  Result<UserRecord> GetUser(const std::string& name) override {
    BATON_ASSIGN_OR_RETURN(
        PgResult q,
        Q("SELECT name, kind, role, created_at FROM users WHERE name = $1", "read user", name));
    if (q.rows() == 0) return NotFound("no user named '" + name + "'");
    return ReadUser(q, 0);
  }

  Result<std::vector<UserRecord>> ListUsers() override {
    BATON_ASSIGN_OR_RETURN(
        PgResult q, Q("SELECT name, kind, role, created_at FROM users ORDER BY name", "list users"));
    std::vector<UserRecord> out;
    for (int i = 0; i < q.rows(); ++i) out.push_back(ReadUser(q, i));
    return out;
  }

  Status DeleteUser(const std::string& name) override {
    return Txn([&]() -> Status {
      BATON_ASSIGN_OR_RETURN(PgResult d,
                             Q("DELETE FROM users WHERE name = $1", "delete user", name));
      if (d.affected() != 1) return NotFound("no user named '" + name + "'");
      return Status::Ok();
    });
  }

  Status CreateToken(const TokenRecord& t) override {
    return Txn([&]() -> Status {
      BATON_RETURN_IF_ERROR(GetUser(t.user).status());
      Status st =
          Q("INSERT INTO tokens(id, user_name, hash, run_id, description, created_at, expires_at, "
            "last_used_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8)",
            "add token", t.id, t.user, t.hash, t.run_id, t.description,
            t.created_at ? t.created_at : NowMicros(), t.expires_at, t.last_used_at)
              .status();
      if (st.code() == Code::kAlreadyExists)
        return AlreadyExists("token '" + t.id + "' already exists");
      return st;
    });
  }

  static TokenRecord ReadToken(const PgResult& q, int row) {
    return {q.Text(row, 0), q.Text(row, 1), q.Text(row, 2), q.Text(row, 3),
            q.Text(row, 4), q.Int(row, 5),  q.Int(row, 6),  q.Int(row, 7)};
  }

  Result<TokenRecord> FindToken(const std::string& hash) override {
    BATON_ASSIGN_OR_RETURN(
        PgResult q,
        Q("SELECT id, user_name, hash, run_id, description, created_at, expires_at, last_used_at "
          "FROM tokens WHERE hash = $1",
          "read token", hash));
    if (q.rows() == 0) return NotFound("no such token");
    return ReadToken(q, 0);
  }

  Result<std::vector<TokenRecord>> ListTokens(const std::string& user) override {
    BATON_ASSIGN_OR_RETURN(
        PgResult q,
        Q("SELECT id, user_name, hash, run_id, description, created_at, expires_at, last_used_at "
          "FROM tokens WHERE $1 = '' OR user_name = $1 ORDER BY created_at DESC, id",
          "list tokens", user));
    std::vector<TokenRecord> out;
    for (int i = 0; i < q.rows(); ++i) out.push_back(ReadToken(q, i));
    return out;
  }

  Status DeleteToken(const std::string& id) override {
    return Txn([&]() -> Status {
      BATON_ASSIGN_OR_RETURN(PgResult d, Q("DELETE FROM tokens WHERE id = $1", "delete token", id));
      if (d.affected() != 1) return NotFound("no token '" + id + "'");
      return Status::Ok();
    });
  }

  Status TouchToken(const std::string& id, int64_t when) override {
    return Txn([&]() -> Status {
      return Q("UPDATE tokens SET last_used_at = $1 WHERE id = $2", "record a token's use", when, id)
          .status();
    });
  }

  static ScheduleRecord ReadSchedule(const PgResult& q, int row) {
    ScheduleRecord s;
    s.name = q.Text(row, 0);
    s.pipeline_file = q.Text(row, 1);
    s.cron = q.Text(row, 2);
    s.time_zone = q.Text(row, 3);
    s.stack = q.Text(row, 4);
    s.run_config = q.Text(row, 5);
    s.catchup = q.Text(row, 6);
    s.overlap = q.Text(row, 7);
    s.paused = q.Int(row, 8) != 0;
    s.created_at = q.Int(row, 9);
    s.updated_at = q.Int(row, 10);
    s.last_fire = q.Int(row, 11);
    s.last_run = q.Text(row, 12);
    return s;
  }

  Status CreateSchedule(const ScheduleRecord& sc) override {
    const int64_t now = NowMicros();
    return Txn([&]() -> Status {
      Status st = Q("INSERT INTO schedules(name, pipeline_file, cron, time_zone, stack, run_config, "
                    "catchup, overlap, paused, created_at, updated_at, last_fire, last_run) "
                    "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    "add schedule", sc.name, sc.pipeline_file, sc.cron, sc.time_zone, sc.stack,
                    sc.run_config, sc.catchup, sc.overlap, static_cast<int64_t>(sc.paused ? 1 : 0),
                    sc.created_at ? sc.created_at : now, sc.updated_at ? sc.updated_at : now,
                    sc.last_fire, sc.last_run)
                      .status();
      if (st.code() == Code::kAlreadyExists)
        return AlreadyExists("schedule '" + sc.name + "' already exists");
      return st;
    });
  }

  static constexpr const char* kScheduleSelect =
      "SELECT name, pipeline_file, cron, time_zone, stack, run_config, catchup, overlap, paused, "
      "created_at, updated_at, last_fire, last_run FROM schedules";

  Result<ScheduleRecord> GetSchedule(const std::string& name) override {
    BATON_ASSIGN_OR_RETURN(
        PgResult q, Q(std::string(kScheduleSelect) + " WHERE name = $1", "read schedule", name));
    if (q.rows() == 0) return NotFound("no schedule named '" + name + "'");
    return ReadSchedule(q, 0);
  }

  Result<std::vector<ScheduleRecord>> ListSchedules() override {
    BATON_ASSIGN_OR_RETURN(PgResult q,
                           Q(std::string(kScheduleSelect) + " ORDER BY name", "list schedules"));
    std::vector<ScheduleRecord> out;
    for (int i = 0; i < q.rows(); ++i) out.push_back(ReadSchedule(q, i));
    return out;
  }

  Status UpdateSchedule(const ScheduleRecord& sc) override {
    return Txn([&]() -> Status {
      BATON_ASSIGN_OR_RETURN(
          PgResult d,
          Q("UPDATE schedules SET pipeline_file = $1, cron = $2, time_zone = $3, stack = $4, "
            "run_config = $5, catchup = $6, overlap = $7, paused = $8, updated_at = $9 "
            "WHERE name = $10",
            "update schedule", sc.pipeline_file, sc.cron, sc.time_zone, sc.stack, sc.run_config,
            sc.catchup, sc.overlap, static_cast<int64_t>(sc.paused ? 1 : 0),
            sc.updated_at ? sc.updated_at : NowMicros(), sc.name));
      if (d.affected() != 1) return NotFound("no schedule named '" + sc.name + "'");
      return Status::Ok();
    });
  }

  Status DeleteSchedule(const std::string& name) override {
    return Txn([&]() -> Status {
      BATON_ASSIGN_OR_RETURN(PgResult d,
                             Q("DELETE FROM schedules WHERE name = $1", "delete schedule", name));
      if (d.affected() != 1) return NotFound("no schedule named '" + name + "'");
      return Status::Ok();
    });
  }

  Result<bool> AdvanceSchedule(const std::string& name, int64_t expected, int64_t fire,
                               const std::string& run_id) override {
    bool moved = false;
    BATON_RETURN_IF_ERROR(Txn([&]() -> Status {
      BATON_ASSIGN_OR_RETURN(
          PgResult d,
          Q("UPDATE schedules SET last_fire = $1, last_run = CASE WHEN $2 = '' THEN last_run "
            "ELSE $2 END WHERE name = $3 AND last_fire = $4",
            "advance schedule", fire, run_id, name, expected));
      moved = d.affected() == 1;
      if (!moved) BATON_RETURN_IF_ERROR(GetSchedule(name).status());
      return Status::Ok();
    }));
    return moved;
  }

  Result<std::vector<std::pair<std::string, double>>> StepDurations(
      const std::string& pipeline) override {
    // Average of the completed attempts of each step in the pipeline's five most recent runs.
    BATON_ASSIGN_OR_RETURN(
        PgResult q,
        Q("SELECT s.step, AVG((s.ended_at - s.started_at)::float8) FROM step_runs s "
          "WHERE s.run_id IN (SELECT r.id FROM runs r JOIN pipelines p ON p.id = r.pipeline_id "
          "WHERE p.name = $1 ORDER BY r.created_at DESC, r.seq DESC LIMIT 5) "
          "AND s.status = 'completed' GROUP BY s.step",
          "read step durations", pipeline));
    std::vector<std::pair<std::string, double>> out;
    for (int i = 0; i < q.rows(); ++i) out.emplace_back(q.Text(i, 0), q.Double(i, 1));
    return out;
  }

  // ---- MetadataRows ----

  Result<int64_t> RowsSchemaVersion() override { return SchemaVersion(*this); }

  Status ExportRows(const RowSink& sink) override {
    return ReadTransaction([&] { return ReadRows(sink); });
  }

  Status ImportRows(const RowSink& check,
                    const std::function<Status(const RowSink&)>& source) override {
    return Txn([&]() -> Status {
      BATON_RETURN_IF_ERROR(ReadRows(check));
      const auto& tables = MetadataTables();
      for (auto t = tables.rbegin(); t != tables.rend(); ++t)
        BATON_RETURN_IF_ERROR(ExecScript(std::string("DELETE FROM ") + t->name));
      BATON_RETURN_IF_ERROR(
          source([&](const Table& table, const Row& row) { return InsertRow(table, row); }));
      // Ids made from now on continue after the copied ones.
      for (const char* table : {"pipelines", "step_runs", "artifacts"})
        BATON_RETURN_IF_ERROR(ExecScript(std::string("SELECT setval(pg_get_serial_sequence('") +
                                         table + "', 'id'), COALESCE((SELECT MAX(id) FROM " +
                                         table + "), 0) + 1, false)"));
      return Status::Ok();
    });
  }

 private:
  static constexpr const char* kOutputs =
      "INSERT INTO step_outputs(step_run_id, name, artifact_id) VALUES($1, $2, $3)";
  static constexpr const char* kInputs =
      "INSERT INTO step_inputs(step_run_id, name, artifact_id) VALUES($1, $2, $3)";

  static std::string Kind(const std::string& type) {
    return type == "artifact_store"       ? "artifact store"
           : type == "container_registry" ? "container registry"
                                          : type;
  }

  static std::string EscapeLike(const std::string& s) {
    std::string o;
    for (char c : s) {
      if (c == '%' || c == '_' || c == '\\') o += '\\';
      o += c;
    }
    return o;
  }

  Result<bool> RunExists(const std::string& id) {
    BATON_ASSIGN_OR_RETURN(PgResult q, Q("SELECT 1 FROM runs WHERE id = $1", "read run", id));
    return q.rows() > 0;
  }

  // The id of a pipeline, recorded on first use (under the write lock: no other writer races).
  Result<int64_t> PipelineId(const std::string& name) {
    BATON_ASSIGN_OR_RETURN(PgResult q,
                           Q("SELECT id FROM pipelines WHERE name = $1", "read pipeline", name));
    if (q.rows() > 0) return q.Int(0, 0);
    BATON_ASSIGN_OR_RETURN(PgResult i,
                           Q("INSERT INTO pipelines(name, created_at) VALUES($1, $2) RETURNING id",
                             "record pipeline", name, NowMicros()));
    return i.Int(0, 0);
  }

  Status Link(const char* sql, int64_t step_run, const std::string& name, int64_t artifact) {
    return Q(sql, "record lineage", step_run, name, artifact).status();
  }

  static std::string ColumnList(const Table& table) {
    std::string cols;
    for (const auto& c : table.columns) cols += (cols.empty() ? "" : ", ") + std::string(c.name);
    return cols;
  }

  // Every row of every table in Table::order (insertion order is seq's), read in batches through a
  // cursor (a history can be large).
  Status ReadRows(const RowSink& sink) {
    for (const Table& table : MetadataTables()) {
      BATON_RETURN_IF_ERROR(ExecScript("DECLARE baton_rows NO SCROLL CURSOR FOR SELECT " +
                                       ColumnList(table) + " FROM " + table.name + " ORDER BY " +
                                       (table.order ? table.order : "seq")));
      for (;;) {
        BATON_ASSIGN_OR_RETURN(PgResult q, QueryText("FETCH 500 FROM baton_rows"));
        for (int i = 0; i < q.rows(); ++i) {
          Row row;
          row.reserve(table.columns.size());
          for (size_t c = 0; c < table.columns.size(); ++c) {
            const int col = static_cast<int>(c);
            if (table.columns[c].type == ColumnType::kInteger)
              row.emplace_back(q.Int(i, col));
            else
              row.emplace_back(q.Text(i, col));
          }
          BATON_RETURN_IF_ERROR(sink(table, row));
        }
        if (q.rows() < 500) break;
      }
      BATON_RETURN_IF_ERROR(ExecScript("CLOSE baton_rows"));
    }
    return Status::Ok();
  }

  Status InsertRow(const Table& table, const Row& row) {
    std::string marks;
    for (size_t i = 0; i < table.columns.size(); ++i)
      marks += (i ? ", $" : "$") + std::to_string(i + 1);
    // Cached by its text (the statement cache keeps a copy), one statement per table.
    const std::string sql = std::string("INSERT INTO ") + table.name + "(" + ColumnList(table) +
                            ") VALUES(" + marks + ")";
    PgParams params;
    for (const Value& v : row) {
      if (const int64_t* i = std::get_if<int64_t>(&v))
        params.Add(*i);
      else
        params.Add(std::get<std::string>(v));
    }
    return Execute(sql, params, std::string("copy a row into ") + table.name).status();
  }
};

}  // namespace

Result<std::unique_ptr<MetadataStore>> OpenPostgresStoreWithSchema(const StoreUri& uri,
                                                                   MigrationList migrations) {
  BATON_ASSIGN_OR_RETURN(PgTarget target, ParsePostgresUri(uri));
  auto store = std::make_unique<PostgresStore>();
  BATON_RETURN_IF_ERROR(store->Open(target, migrations));
  return std::unique_ptr<MetadataStore>(std::move(store));
}

Result<std::unique_ptr<MetadataStore>> OpenPostgresStore(const StoreUri& uri) {
  return OpenPostgresStoreWithSchema(uri, PostgresMigrations());
}

}  // namespace baton
