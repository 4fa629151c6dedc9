#pragma once
// What the server hands out from files: step logs and artifact contents. Records name where these
// lie, and records can be written by any token that may record a run (a pod's run token
// included), so a path from a record is never opened as it is: a log must resolve to a regular
// file in a run's own log directory (…/.baton/logs/RUN/NAME.log), an artifact is read by digest
// from an artifact store the run's stack names, or from a file:// object on this machine whose
// content is checked against the digest first, and a path inside a directory artifact must stay
// inside it once symbolic links are resolved.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "baton/metadata_store.h"

namespace baton::server {

// The log file of step run `s` of run `run_id`, resolved. NotFound when it is not on this
// machine (the run recorded from elsewhere); PermissionDenied when the record names a file that
// is not a log of that run.
Result<std::string> ServableLogPath(const StepRunRecord& s, const std::string& run_id);

// Where the content of an artifact lies on this machine: a file, or a directory tree.
struct LocalContent {
  std::string path;
  bool is_dir = false;
};

// The copies of logs that workspaces on other machines send (MetadataStore::AppendRunLog through
// the store API), kept as DIR/RUN/FILE: a step's log can then be read and followed through the
// server wherever the step ran. `dir` "" keeps none (FailedPrecondition, saying why).
class RunLogCopies {
 public:
  RunLogCopies(std::string dir, std::string why_none)
      : dir_(std::move(dir)), why_none_(std::move(why_none)) {}
  // Thread-safe. InvalidArgument for a run id or file name that is not one (a file is
  // NAME.log of letters, digits, '.', '_' and '-'), NotFound for a run the store does not have.
  Result<int64_t> Append(MetadataStore& m, const std::string& run_id, const std::string& file,
                         int64_t offset, const std::string& bytes);
  // The copy of the log of `s` (the name its record gives it), when there is one.
  Result<std::string> Find(const StepRunRecord& s, const std::string& run_id) const;

 private:
  const std::string dir_, why_none_;
  std::mutex mu_;  // one append at a time: the size is read, then written after
};

class ArtifactFiles {
 public:
  // `workspace_root`: the server's workspace ("" when none), against which a stack's relative
  // artifact store paths resolve.
  explicit ArtifactFiles(std::string workspace_root) : workspace_root_(std::move(workspace_root)) {}
  // Thread-safe. NotFound when the content is nowhere this server can reach; FailedPrecondition when what
  // is there does not match the digest.
  Result<LocalContent> Find(MetadataStore& m, const ArtifactRecord& a);

 private:
  std::string workspace_root_;
  std::mutex mu_;
  std::map<std::string, std::string> verified_;  // path -> its stat fingerprint when checked
};

// A path inside a directory artifact: `rel` (slash-separated, relative, no "." or ".." segment)
// resolved under `dir`, refused (InvalidArgument, or PermissionDenied for a link that leads out)
// unless it stays inside.
Result<std::string> PathInTree(const std::string& dir, const std::string& rel);

// A Content-Type for a file: by its name's extension, else by its first bytes (images, UTF-8
// text), else application/octet-stream. Markup (HTML, SVG) is served as text, never rendered.
std::string ContentTypeFor(const std::string& name, const std::string& head);

}  // namespace baton::server
