#include "server/downloads.h"

#include <algorithm>
#include <cctype>
#include <memory>

#include "app/run_pipeline.h"
#include "baton/artifact_store.h"
#include "baton/stores.h"
#include "core/spec.h"
#include "platform/fs.h"
#include "platform/hash.h"
#include "store/registry.h"

namespace baton::server {

namespace {

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool ValidUtf8Text(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    int extra = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : -1;
    if (extra < 0) return false;
    // A sequence cut by the end of what was read is fine: the text goes on.
    for (int k = 1; k <= extra; ++k) {
      if (i + k >= s.size()) return true;
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    i += static_cast<size_t>(extra) + 1;
  }
  return true;
}

}  // namespace

Result<std::string> ServableLogPath(const StepRunRecord& s, const std::string& run_id) {
  if (s.log_path.empty() || s.log_path[0] != '/')
    return NotFound("step run " + std::to_string(s.id) + " has no log on this machine");
  auto real = fs::RealPath(s.log_path);
  if (!real.ok()) {
    if (real.status().code() == Code::kNotFound)
      return NotFound("the log of step run " + std::to_string(s.id) + " is not on this server's machine (" +
                      s.log_path + "); it stays with the workspace that ran the step");
    return real.status();
  }
  const std::string dir = fs::Dirname(*real);
  if (fs::Basename(dir) != run_id || fs::Basename(fs::Dirname(dir)) != "logs" ||
      fs::Basename(fs::Dirname(fs::Dirname(dir))) != ".baton" || !EndsWith(*real, ".log"))
    return PermissionDenied("step run " + std::to_string(s.id) +
                            " names a log outside its run's log directory; it is not served");
  auto head = fs::ReadRange(*real, 0, 0);
  if (!head.ok()) return PermissionDenied("the log of step run " + std::to_string(s.id) + " is not a regular file");
  return *real;
}

namespace {

// A name that is one path segment of the copies' directory and nothing else.
bool PlainName(const std::string& name) {
  if (name.empty() || name.size() > 200 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

bool LogName(const std::string& file) { return PlainName(file) && EndsWith(file, ".log"); }

}  // namespace

Result<int64_t> RunLogCopies::Append(MetadataStore& m, const std::string& run_id,
                                     const std::string& file, int64_t offset,
                                     const std::string& bytes) {
  if (dir_.empty()) return FailedPrecondition(why_none_);
  if (!PlainName(run_id)) return InvalidArgument("'" + run_id + "' is not a run id");
  if (!LogName(file))
    return InvalidArgument("'" + file + "' is not a log's name (NAME.log: letters, digits, '.', '_', '-')");
  if (offset < 0) return InvalidArgument("a log's offset is 0 or more");
  // GetRun takes a unique prefix: the copies are kept under the full id only.
  BATON_ASSIGN_OR_RETURN(RunRecord run, m.GetRun(run_id));
  if (run.id != run_id) return NotFound("no run " + run_id);
  const std::string dir = dir_ + "/" + run_id, path = dir + "/" + file;
  std::lock_guard<std::mutex> lock(mu_);
  BATON_RETURN_IF_ERROR(fs::MakeDirs(dir));
  const int64_t size = std::max<int64_t>(0, fs::FileSize(path));
  if (offset != size || bytes.empty()) return size;
  BATON_RETURN_IF_ERROR(fs::AppendFile(path, bytes));
  return size + static_cast<int64_t>(bytes.size());
}

Result<std::string> RunLogCopies::Find(const StepRunRecord& s, const std::string& run_id) const {
  const std::string file = fs::Basename(s.log_path);
  if (dir_.empty() || !PlainName(run_id) || !LogName(file))
    return NotFound("no copy of the log of step run " + std::to_string(s.id));
  const std::string path = dir_ + "/" + run_id + "/" + file;
  if (!fs::Exists(path)) return NotFound("no copy of the log of step run " + std::to_string(s.id));
  return path;
}

Result<std::string> PathInTree(const std::string& dir, const std::string& rel) {
  if (rel.empty() || rel[0] == '/' || rel.find('\0') != std::string::npos)
    return InvalidArgument("?path= is a relative path inside the artifact, such as data/part-0.csv");
  size_t start = 0;
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    const std::string seg = rel.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..")
      return InvalidArgument("?path= may not hold empty, '.' or '..' segments: '" + rel + "'");
    start = end + 1;
  }
  BATON_ASSIGN_OR_RETURN(std::string root, fs::RealPath(dir));
  auto real = fs::RealPath(dir + "/" + rel);
  if (!real.ok()) {
    if (real.status().code() == Code::kNotFound) return NotFound("the artifact has no '" + rel + "'");
    return real.status();
  }
  if (real->rfind(root + "/", 0) != 0)
    return PermissionDenied("'" + rel + "' leads out of the artifact (a symbolic link); it is not served");
  return *real;
}

Result<LocalContent> ArtifactFiles::Find(MetadataStore& m, const ArtifactRecord& a) {
  const std::string missing = "the content of artifact " + std::to_string(a.id) + " (" + a.uri +
                              ") is not reachable from this server";
  // The artifact store the run's stack names, when it is one this server can open (S3, or a
  // directory on this machine): the content by digest, as every reader gets it.
  if (auto run = m.GetRun(a.run_id); run.ok()) {
    if (auto spec = LoadSnapshot(m, "sha256:" + run->snapshot_hash, nullptr); spec.ok()) {
      auto uri = StackArtifactsUri(*spec, workspace_root_);
      // A local store is opened only where it exists (opening one would make its directory).
      const bool usable = uri.ok() && !uri->empty() &&
                          (uri->rfind("file://", 0) != 0 || fs::IsDir(uri->substr(7)));
      if (usable) {
        if (auto store = Stores().OpenArtifactStore(*uri); store.ok()) {
          auto path = (*store)->Get(a.digest);
          if (path.ok()) return LocalContent{*path, fs::IsDir(*path)};
          if (path.status().code() != Code::kNotFound) return path.status();
        }
      }
    }
  }
  // Else a file:// object on this machine, in the layout of a local store (…/sha256/ab/DIGEST),
  // checked against the digest, since the record's URI could name anything.
  const std::string prefix = "file://";
  if (a.uri.rfind(prefix, 0) != 0 || a.digest.size() != 64) return NotFound(missing);
  const std::string path = a.uri.substr(prefix.size());
  if (!EndsWith(path, "/sha256/" + a.digest.substr(0, 2) + "/" + a.digest)) return NotFound(missing);
  auto real = fs::RealPath(path);
  if (!real.ok()) return NotFound(missing);
  BATON_ASSIGN_OR_RETURN(std::string fingerprint, fs::StatFingerprint(*real));
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = verified_.find(*real);
    if (it != verified_.end() && it->second == fingerprint) return LocalContent{*real, fs::IsDir(*real)};
  }
  BATON_ASSIGN_OR_RETURN(TreeDigest d, DigestPath(*real));
  if (d.digest != a.digest)
    return FailedPrecondition("the content at " + a.uri + " does not match artifact " +
                              std::to_string(a.id) + "'s digest");
  std::lock_guard<std::mutex> lock(mu_);
  if (verified_.size() > 10000) verified_.clear();
  verified_[*real] = fingerprint;
  return LocalContent{*real, d.is_dir};
}

std::string ContentTypeFor(const std::string& name, const std::string& head) {
  static const std::pair<const char*, const char*> kByExtension[] = {
      {".json", "application/json"},  {".csv", "text/csv; charset=utf-8"},
      {".tsv", "text/tab-separated-values; charset=utf-8"},
      {".png", "image/png"},          {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},        {".gif", "image/gif"},
      {".webp", "image/webp"},        {".txt", "text/plain; charset=utf-8"},
      {".log", "text/plain; charset=utf-8"}, {".md", "text/plain; charset=utf-8"},
      {".yaml", "text/plain; charset=utf-8"}, {".yml", "text/plain; charset=utf-8"},
      {".html", "text/plain; charset=utf-8"}, {".svg", "text/plain; charset=utf-8"},
  };
  const std::string lower = Lower(name);
  for (const auto& [ext, type] : kByExtension)
    if (EndsWith(lower, ext)) return type;
  if (head.rfind("\x89PNG\r\n\x1a\n", 0) == 0) return "image/png";
  if (head.rfind("\xff\xd8\xff", 0) == 0) return "image/jpeg";
  if (head.rfind("GIF87a", 0) == 0 || head.rfind("GIF89a", 0) == 0) return "image/gif";
  if (ValidUtf8Text(head)) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace baton::server
