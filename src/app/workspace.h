#pragma once
// Workspace: a directory holding `.baton/` (metadata store, artifacts, logs), found by walking
// up from the current directory like git does.

#include <memory>
#include <string>
#include <vector>

#include "baton/artifact_store.h"
#include "baton/metadata_store.h"

namespace baton {

struct Workspace {
  std::string root;  // the directory that holds .baton
  std::string dir;   // root/.baton
  std::unique_ptr<MetadataStore> meta;
  std::unique_ptr<ArtifactStore> artifacts;
  std::string metadata_uri;   // what `meta` was opened from
  std::string artifacts_uri;  // what `artifacts` was opened from
  // Directories of this machine the stores and logs live in: what a step entrypoint elsewhere
  // (a container, a cluster node) must see at the same path.
  std::vector<std::string> shared_paths;

  std::string LogsDir(const std::string& run_id) const { return dir + "/logs/" + run_id; }
  // A small file of reserved disk space, given up when the disk is full so that baton can still
  // record why a run failed. Recreated when a workspace is opened and space allows.
  std::string ReservePath() const { return dir + "/reserve"; }
};

// Deletes the workspace's reserve file; true when there was one to free.
bool ReleaseReserve(const Workspace& ws);

// The nearest directory at or above `start` that holds .baton, or NotFound. BATON_DIR, when
// set, names the .baton directory directly.
Result<std::string> FindWorkspace(const std::string& start);
// The workspace directory (.baton) of the workspace at `root`: BATON_DIR when set.
std::string DirFor(const std::string& root);

// A workspace's own settings, kept in DIR/config.json: they choose the metadata store, so they
// cannot live in it.
struct WorkspaceConfig {
  std::string metadata_uri;  // "" for the SQLite file DIR/baton.db
};
// The config of the workspace directory `dir` (all defaults when it has none). InvalidArgument
// for a file that is not a config.
Result<WorkspaceConfig> ReadWorkspaceConfig(const std::string& dir);
// Replaces the config, atomically.
Status WriteWorkspaceConfig(const std::string& dir, const WorkspaceConfig& config);
// The metadata store of the workspace directory `dir`: BATON_METADATA_URI when set, else its
// config's, else sqlite://DIR/baton.db.
Result<std::string> WorkspaceMetadataUri(const std::string& dir);
// Makes `uri` the metadata store of the workspace directory `dir` ("" for its own SQLite file)
// once it opens (creating or migrating its schema); nothing changes when it does not.
Status SetWorkspaceMetadataStore(const std::string& dir, const std::string& uri);
// Opens an existing workspace; marks runs whose baton process died as interrupted.
Result<Workspace> OpenWorkspace(const std::string& root);

// Finds runs recorded as running on this host whose baton process is gone (killed, crashed,
// machine rebooted), kills the step processes they left behind, has the run's orchestrator end
// what its backend still runs (Orchestrator::Cleanup) and marks them interrupted. Returns the
// ids of the runs it marked.
Result<std::vector<std::string>> ReapDeadRuns(Workspace& ws);
// For a detached run (IsDetachedRun) that is still recorded as running: asks its orchestrator
// whether the run's driver in the backend is still there, and when it ended for good (its job
// failed, or is gone) ends what it left running and marks the run interrupted with why. Returns
// whether it marked the run.
Result<bool> ReapLostDetachedRun(Workspace& ws, const RunRecord& run);
// A workspace in directory `dir` (logs only) on the stores `metadata_uri` and `artifacts_uri`:
// what a run's driver in a backend works in. Reaps nothing.
Result<Workspace> OpenStoresWorkspace(const std::string& dir, const std::string& metadata_uri,
                                      const std::string& artifacts_uri);
// Whether the baton process recorded on a run is alive (only answerable on the same host).
bool RunProcessAlive(const RunRecord& run);
// Creates `root/.baton` if needed and opens it.
Result<Workspace> InitWorkspace(const std::string& root);


}  // namespace baton
