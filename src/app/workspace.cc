#include "app/workspace.h"

#include <unistd.h>

#include <cstdlib>

#include "platform/fs.h"

namespace baton {

std::string HostName() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

Result<std::string> FindWorkspace(const std::string& start) {
  if (const char* d = std::getenv("BATON_DIR"); d && *d) {
    if (!fs::IsDir(d)) return NotFound(std::string("BATON_DIR=") + d + " is not a directory");
    BATON_ASSIGN_OR_RETURN(std::string abs, fs::Absolute(d));
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
Result<Workspace> Open(const std::string& root, const std::string& dir) {
  Workspace ws;
  ws.root = root;
  ws.dir = dir;
  BATON_ASSIGN_OR_RETURN(ws.meta, OpenSqliteStore(dir + "/baton.db"));
  BATON_ASSIGN_OR_RETURN(ws.artifacts, OpenLocalArtifactStore(dir + "/artifacts"));
  return ws;
}

std::string DirFor(const std::string& root) {
  if (const char* d = std::getenv("BATON_DIR"); d && *d) {
    auto abs = fs::Absolute(d);
    if (abs.ok()) return *abs;
  }
  return root + "/.baton";
}
}  // namespace

Result<Workspace> OpenWorkspace(const std::string& root) { return Open(root, DirFor(root)); }

Result<Workspace> InitWorkspace(const std::string& root) {
  std::string dir = DirFor(root);
  BATON_RETURN_IF_ERROR(fs::MakeDirs(dir + "/logs"));
  if (!fs::Exists(dir + "/.gitignore")) BATON_RETURN_IF_ERROR(fs::WriteFileAtomic(dir + "/.gitignore", "*\n"));
  return Open(root, dir);
}

}  // namespace baton
