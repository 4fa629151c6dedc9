#pragma once
// Run archives: one run of a workspace with its records and the content of every artifact its
// step runs read or wrote, as one file that another workspace imports (`baton runs export`,
// `baton runs import`).
//
// An archive is a POSIX tar (store/s3/tar_stream.h writes and reads it) holding:
//   manifest.json         {"format": "baton-run-archive", "version": 1, "exported_at", "run",
//                         "snapshot": {hash, pipeline, body}, "step_runs" (each record with
//                         "inputs" and "outputs": {name: artifact id}, and "log" when its log is
//                         in the archive), "artifacts" (records, ids as in the exporting
//                         workspace), "objects": [{digest, kind, size}]}
//   objects/DIGEST        a file artifact's content, once per digest
//   objects/DIGEST/...    a directory artifact's tree
//   logs/ID.log           the log of step run ID, where the exporting workspace still had it
// Records are written field by field under their names in the metadata store structs; a reader
// keeps the default of a field an archive lacks, so archives of older versions stay readable.

#include <cstdint>
#include <string>

#include "app/workspace.h"

namespace baton {

inline constexpr const char* kRunArchiveFormat = "baton-run-archive";
inline constexpr int kRunArchiveVersion = 1;

struct RunExportSummary {
  std::string run_id;
  size_t step_runs = 0;
  size_t artifacts = 0;
  size_t objects = 0;  // distinct contents
  uint64_t bytes = 0;  // of the archive file
};

// Writes run `run_ref` (an id, a unique prefix or "last") of the workspace to the new file
// `file`: first to a temporary file beside it, renamed into place once whole, so that a failure
// leaves nothing. AlreadyExists when `file` exists; FailedPrecondition for a run still running or
// one whose artifacts are no longer all in the artifact store; NotFound for an unknown run.
Result<RunExportSummary> ExportRun(Workspace& ws, const std::string& run_ref,
                                   const std::string& file);

struct RunImportSummary {
  std::string run_id;
  std::string pipeline;
  std::string status;
  size_t step_runs = 0;
  size_t artifacts = 0;
  size_t logs = 0;
  // Cached step runs whose source step run belongs to another run: it is not in this workspace,
  // so their cached_from is recorded as 0.
  size_t dropped_cached_from = 0;
  // Inputs naming an artifact no step run of the run output (not recorded).
  size_t dropped_inputs = 0;
};

// Imports the archive `file` into the workspace, all or nothing: every artifact's content is
// verified against its digest before anything is stored (InvalidArgument naming the artifact
// when one does not match), the contents go into the artifact store of the run's stack as this
// workspace resolves it (where `artifacts export` and `runs resume` look for them), and the
// snapshot, the run (same id), its step runs and artifacts are recorded in one batch. Artifacts
// get new ids and versions here; the step runs' inputs, outputs and cached_from follow them.
// AlreadyExists, recording nothing, when the workspace has a run of that id; InvalidArgument for
// a file that is not a whole run archive.
Result<RunImportSummary> ImportRun(Workspace& ws, const std::string& file);

}  // namespace baton
