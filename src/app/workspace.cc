#include "app/workspace.h"

#include <cstdlib>
#include <set>

#include "baton/json_text.h"
#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/process.h"
#include "app/orchestrated_run.h"
#include "app/run_pipeline.h"
#include "store/registry.h"

namespace baton {

namespace {
// What every workspace directory holds once initialized: its SQLite file, or a config naming
// another metadata store; and its artifacts.
bool IsWorkspaceDir(const std::string& dir) {
  return fs::Exists(dir + "/baton.db") || fs::Exists(dir + "/config.json") ||
         fs::IsDir(dir + "/artifacts");
}
}  // namespace

Result<std::string> FindWorkspace(const std::string& start) {
  if (auto d = PosixEnv()->GetEnv("BATON_DIR"); d && !d->empty()) {
    if (!fs::IsDir(*d)) return NotFound("BATON_DIR=" + *d + " is not a directory");
    // Any directory is not a workspace: only `baton init` and `baton run` make one.
    if (!IsWorkspaceDir(*d))
      return NotFound("BATON_DIR=" + *d +
                      " is not a baton workspace directory (it has no baton.db, config.json or "
                      "artifacts/); run 'baton init' to make it one");
    BATON_ASSIGN_OR_RETURN(std::string abs, fs::Absolute(*d));
    return fs::Dirname(abs);
  }
  BATON_ASSIGN_OR_RETURN(std::string dir, fs::Absolute(start));
  for (;;) {
    if (fs::IsDir(dir + "/.baton")) return dir;
    if (dir == "/" || dir.empty()) break;
    dir = fs::Dirname(dir);
  }
  return NotFound("not in a baton workspace (no .baton directory here or above); run 'baton init'");
}

namespace {

constexpr int64_t kReserveBytes = 1 << 20;

// Best effort: without the reserve baton works the same, it only loses the chance to record a
// failure on a full disk.
void EnsureReserve(const Workspace& ws) {
  const std::string path = ws.ReservePath();
  if (fs::Exists(path)) return;
  (void)fs::Preallocate(path, kReserveBytes);
}

Result<Workspace> Open(const std::string& root, const std::string& dir) {
  Workspace ws;
  ws.root = root;
  ws.dir = dir;
  BATON_ASSIGN_OR_RETURN(ws.metadata_uri, WorkspaceMetadataUri(dir));
  ws.artifacts_uri = FileUri(dir + "/artifacts");
  ws.shared_paths = {dir};
  // A SQLite file elsewhere is shared with steps elsewhere too.
  if (auto u = StoreUri::Parse(ws.metadata_uri); u.ok() && u->scheme == "sqlite" && u->path.rfind(dir + "/", 0) != 0)
    ws.shared_paths.push_back(fs::Dirname(u->path));
  BATON_ASSIGN_OR_RETURN(ws.meta, Stores().OpenMetadataStore(ws.metadata_uri));
  BATON_ASSIGN_OR_RETURN(ws.artifacts, Stores().OpenArtifactStore(ws.artifacts_uri));
  EnsureReserve(ws);
  return ws;
}

}  // namespace

Result<WorkspaceConfig> ReadWorkspaceConfig(const std::string& dir) {
  WorkspaceConfig config;
  const std::string path = dir + "/config.json";
  if (!fs::Exists(path)) return config;
  BATON_ASSIGN_OR_RETURN(std::string text, fs::ReadFile(path));
  Json j = Json::parse(text, nullptr, false);
  if (!j.is_object()) return InvalidArgument(path + " is not a workspace config (a JSON object)");
  const Json& m = j.contains("metadata") ? j["metadata"] : Json();
  if (!m.is_null() && !m.is_string()) return InvalidArgument(path + ": 'metadata' must be a store URI");
  if (m.is_string()) config.metadata_uri = m.get<std::string>();
  return config;
}

Status WriteWorkspaceConfig(const std::string& dir, const WorkspaceConfig& config) {
  Json j = Json::object();
  if (!config.metadata_uri.empty()) j["metadata"] = config.metadata_uri;
  return fs::WriteFileAtomic(dir + "/config.json", DumpJson(j, 2) + "\n");
}

Result<std::string> WorkspaceMetadataUri(const std::string& dir) {
  if (auto env = PosixEnv()->GetEnv("BATON_METADATA_URI"); env && !env->empty()) return *env;
  BATON_ASSIGN_OR_RETURN(WorkspaceConfig config, ReadWorkspaceConfig(dir));
  if (!config.metadata_uri.empty()) return config.metadata_uri;
  return SqliteUri(dir + "/baton.db");
}

Status SetWorkspaceMetadataStore(const std::string& dir, const std::string& uri) {
  BATON_ASSIGN_OR_RETURN(WorkspaceConfig config, ReadWorkspaceConfig(dir));
  BATON_RETURN_IF_ERROR(Stores().OpenMetadataStore(uri.empty() ? SqliteUri(dir + "/baton.db") : uri).status());
  config.metadata_uri = uri;
  return WriteWorkspaceConfig(dir, config);
}

std::string DirFor(const std::string& root) {
  if (auto d = PosixEnv()->GetEnv("BATON_DIR"); d && !d->empty()) {
    auto abs = fs::Absolute(*d);
    if (abs.ok()) return *abs;
  }
  return root + "/.baton";
}

Result<Workspace> OpenWorkspace(const std::string& root) {
  BATON_ASSIGN_OR_RETURN(Workspace ws, Open(root, DirFor(root)));
  // In a container (a step entrypoint of a container orchestrator) the host's processes are
  // invisible, while the host name may be the host's: every run would look dead.
  // On a full disk the marking waits for the next command with room to write: reading the
  // store (runs list, runs show) must not depend on it.
  if (!PosixEnv()->GetEnv("BATON_CONTAINER")) {
    Status reaped = ReapDeadRuns(ws).status();
    if (!reaped.ok() && reaped.code() != Code::kResourceExhausted) return reaped;
  }
  return ws;
}

bool ReleaseReserve(const Workspace& ws) {
  if (!fs::Exists(ws.ReservePath())) return false;
  return fs::RemoveFile(ws.ReservePath()).ok();
}

bool RunProcessAlive(const RunRecord& run) {
  if (run.host != HostName()) return true;  // cannot tell from here; assume it lives
  return ProcessAlive(static_cast<pid_t>(run.pid), run.pid_start);
}

namespace {

// Frees what an interrupted run staged: the outputs of attempts that never finished. A resume
// never reads them (it runs the unfinished steps again, as new attempts, and takes finished
// outputs from the store), so they only hold disk space. Best effort.
void ReclaimStaging(Workspace& ws, const RunRecord& run) {
  (void)fs::RemoveTree(ws.artifacts->StagingDir() + "/" + run.id);
  // The run's stack may have had an artifact store of its own.
  auto spec = LoadRunSpec(ws, run);
  if (!spec.ok()) return;
  auto uri = StackArtifactsUri(*spec, ws.root);
  if (!uri.ok() || uri->empty() || *uri == ws.artifacts_uri) return;
  auto store = Stores().OpenArtifactStore(*uri);
  if (store.ok()) (void)fs::RemoveTree((*store)->StagingDir() + "/" + run.id);
}

}  // namespace

Result<std::vector<std::string>> ReapDeadRuns(Workspace& ws) {
  std::vector<std::string> reaped;
  // Processes that start after this instant belong to whoever takes the run over next (a resume
  // that marks the run running again only after the read below), never to the dead baton.
  const int64_t now_ticks = BootTicksNow();
  auto running = ws.meta->RunsWithStatus(RunStatus::kRunning);
  // A run token (a server's store, for one step's run) may not list other runs: reaping them is
  // left to those who may.
  if (!running.ok() && running.status().code() == Code::kPermissionDenied) return reaped;
  BATON_RETURN_IF_ERROR(running.status());
  for (const auto& run : *running) {
    // Every orchestrator so far is driven by the baton process that started the run.
    if (RunProcessAlive(run)) continue;
    // First what the backend still runs of it (Slurm jobs, containers), through its
    // orchestrator, so that the backend records those as cancelled rather than killed.
    Result<std::string> cleaned = CleanupDeadRun(ws, run);
    std::set<pid_t> killed;
    KillJournaledGroups(ws.LogsDir(run.id) + "/.pids", run.started_at, &killed);
    // A step the dead baton was starting when it died may be missing from the journal; every
    // step process (and hook) carries BATON_RUN_ID in its environment.
    KillGroupsWithEnv("BATON_RUN_ID=" + run.id, now_ticks, &killed);
    std::string reason = "interrupted: the baton process (pid " + std::to_string(run.pid) +
                         ") ended without finishing the run";
    if (!killed.empty()) reason += "; terminated " + std::to_string(killed.size()) + " step process group(s) it left running";
    if (!cleaned.ok()) reason += "; ending its backend's work failed: " + cleaned.status().message();
    else if (!cleaned->empty()) reason += "; " + *cleaned;
    BATON_RETURN_IF_ERROR(ws.meta->MarkRunInterrupted(run.id, reason));
    ReclaimStaging(ws, run);
    reaped.push_back(run.id);
  }
  return reaped;
}

Result<bool> ReapLostDetachedRun(Workspace& ws, const RunRecord& run) {
  if (run.status != RunStatus::kRunning || !IsDetachedRun(run)) return false;
  BATON_ASSIGN_OR_RETURN(auto orch, RunBackend(ws, run));
  if (!orch) return false;
  const RunState state = orch->State(run.id);
  if (!state.status || *state.status == RunStatus::kRunning) return false;
  Result<std::string> cleaned = orch->Cleanup(run.id);
  std::string reason = "interrupted: " + state.reason;
  if (!cleaned.ok()) reason += "; ending its backend's work failed: " + cleaned.status().message();
  else if (!cleaned->empty()) reason += "; " + *cleaned;
  BATON_RETURN_IF_ERROR(ws.meta->MarkRunInterrupted(run.id, reason));
  return true;
}

Result<Workspace> OpenStoresWorkspace(const std::string& dir, const std::string& metadata_uri,
                                      const std::string& artifacts_uri) {
  BATON_RETURN_IF_ERROR(fs::MakeDirs(dir + "/logs"));
  Workspace ws;
  ws.root = dir;
  ws.dir = dir;
  ws.metadata_uri = metadata_uri;
  ws.artifacts_uri = artifacts_uri;
  BATON_ASSIGN_OR_RETURN(ws.meta, Stores().OpenMetadataStore(metadata_uri));
  BATON_ASSIGN_OR_RETURN(ws.artifacts, Stores().OpenArtifactStore(artifacts_uri));
  return ws;
}

Result<Workspace> InitWorkspace(const std::string& root) {
  std::string dir = DirFor(root);
  BATON_RETURN_IF_ERROR(fs::MakeDirs(dir + "/logs"));
  if (!fs::Exists(dir + "/.gitignore")) BATON_RETURN_IF_ERROR(fs::WriteFile(dir + "/.gitignore", "*\n"));
  return Open(root, dir);
}

}  // namespace baton
