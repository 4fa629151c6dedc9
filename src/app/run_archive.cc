#include "app/run_archive.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "app/run_pipeline.h"
#include "baton/format.h"
#include "baton/json_text.h"
#include "core/spec.h"
#include "platform/fs.h"
#include "platform/hash.h"
#include "store/record_codec.h"
#include "store/registry.h"
#include "store/s3/byte_stream.h"
#include "store/s3/tar_stream.h"

namespace baton {
namespace {

// ---- Records as JSON (store/record_codec.h) ----

Status Damaged(const std::string& what) {
  return InvalidArgument("the run archive's manifest is damaged: " + what);
}

template <class R>
Status FromJson(const Json& j, const std::string& what, R* record) {
  const std::string bad = ReadRecord(j, record);
  if (bad == "(not an object)") return Damaged(what + " is not an object");
  if (!bad.empty()) return Damaged(what + "." + bad + " has a wrong value");
  return Status::Ok();
}

bool IsDigest(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string ArtifactLabel(const ArtifactRecord& a) {
  return "artifact " + a.step + "." + a.name + " (sha256:" + a.digest.substr(0, 12) + ")";
}

// Removes the temporary files and trees it names when it goes out of scope.
class RemoveOnExit {
 public:
  RemoveOnExit() = default;
  RemoveOnExit(const RemoveOnExit&) = delete;
  RemoveOnExit& operator=(const RemoveOnExit&) = delete;
  ~RemoveOnExit() {
    for (const auto& p : paths_) (void)fs::RemoveTree(p);
  }
  void Add(std::string path) { paths_.push_back(std::move(path)); }

 private:
  std::vector<std::string> paths_;
};

constexpr size_t kChunk = size_t{1} << 20;

// ---- Export ----

// {name: artifact id} of a step run's inputs or outputs; the artifacts join `artifacts`.
Json UsesJson(const std::vector<std::pair<std::string, ArtifactRecord>>& uses,
              std::map<int64_t, ArtifactRecord>* artifacts) {
  Json j = Json::object();
  for (const auto& [name, a] : uses) {
    j[name] = a.id;
    artifacts->emplace(a.id, a);
  }
  return j;
}

// Copies a step run's log into the staging tree; its path in the archive, or "" without one.
Result<std::string> StageLog(const StepRunRecord& s, const std::string& staging) {
  if (s.log_path.empty() || !fs::Exists(s.log_path) || fs::IsDir(s.log_path)) return std::string();
  const std::string rel = "logs/" + std::to_string(s.id) + ".log";
  BATON_RETURN_IF_ERROR(fs::MakeDirs(staging + "/logs"));
  BATON_RETURN_IF_ERROR(fs::CopyTree(s.log_path, staging + "/" + rel));
  return rel;
}

// Copies an artifact's content out of the store and checks it against its digest: a local
// store hands out its objects unverified, and an archive must not carry damage on.
Status StageObject(Workspace& ws, const ArtifactRecord& a, const std::string& dest) {
  Status st = ws.artifacts->Export(a.digest, dest);
  if (st.code() == Code::kNotFound)
    return FailedPrecondition(ArtifactLabel(a) + " is no longer in the artifact store " +
                              ws.artifacts->uri() + ", so the run cannot be exported whole");
  BATON_RETURN_IF_ERROR(st);
  BATON_ASSIGN_OR_RETURN(TreeDigest d, DigestPath(dest));
  if (d.digest != a.digest) {
    (void)ws.artifacts->Quarantine(a.digest);
    return Internal("the content of " + ArtifactLabel(a) +
                    " in the artifact store no longer matches its digest; it was taken out of "
                    "the store and the run was not exported");
  }
  return Status::Ok();
}

// Stages the step runs (with their inputs, outputs and logs), artifact records and objects of
// `run` under `staging` and describes them in the manifest.
Status StageRun(Workspace& ws, const RunRecord& run, const std::string& staging, Json* manifest,
                RunExportSummary* summary) {
  BATON_ASSIGN_OR_RETURN(std::vector<StepRunRecord> steps, ws.meta->ListStepRuns(run.id));
  std::map<int64_t, ArtifactRecord> artifacts;
  Json jsteps = Json::array();
  for (const auto& s : steps) {
    Json js = RecordJson(s);
    BATON_ASSIGN_OR_RETURN(auto outputs, ws.meta->StepOutputs(s.id));
    BATON_ASSIGN_OR_RETURN(auto inputs, ws.meta->StepInputs(s.id));
    js["outputs"] = UsesJson(outputs, &artifacts);
    js["inputs"] = UsesJson(inputs, &artifacts);
    BATON_ASSIGN_OR_RETURN(std::string log, StageLog(s, staging));
    if (!log.empty()) js["log"] = log;
    jsteps.push_back(std::move(js));
  }
  Json jartifacts = Json::array();
  std::map<std::string, const ArtifactRecord*> objects;  // by digest: content once
  for (const auto& [id, a] : artifacts) {
    jartifacts.push_back(RecordJson(a));
    objects.emplace(a.digest, &a);
  }
  BATON_RETURN_IF_ERROR(fs::MakeDirs(staging + "/objects"));
  Json jobjects = Json::array();
  for (const auto& [digest, a] : objects) {
    BATON_RETURN_IF_ERROR(StageObject(ws, *a, staging + "/objects/" + digest));
    jobjects.push_back({{"digest", digest}, {"kind", a->kind}, {"size", a->size}});
  }
  (*manifest)["step_runs"] = std::move(jsteps);
  (*manifest)["artifacts"] = std::move(jartifacts);
  (*manifest)["objects"] = std::move(jobjects);
  summary->step_runs = steps.size();
  summary->artifacts = artifacts.size();
  summary->objects = objects.size();
  return Status::Ok();
}

Status WriteTar(const std::string& dir, const std::string& dest) {
  BATON_ASSIGN_OR_RETURN(std::unique_ptr<s3::TarSource> source, s3::TarSource::Open(dir));
  BATON_ASSIGN_OR_RETURN(std::unique_ptr<s3::FileSink> sink, s3::FileSink::Create(dest));
  std::vector<char> buf(kChunk);
  for (;;) {
    BATON_ASSIGN_OR_RETURN(size_t n, source->Read(buf.data(), buf.size()));
    if (n == 0) break;
    BATON_RETURN_IF_ERROR(sink->Write(std::string_view(buf.data(), n)));
  }
  return sink->Finish().status();
}

// ---- Import ----

struct ArchivedStepRun {
  StepRunRecord rec;  // ids as in the exporting workspace
  std::vector<std::pair<std::string, int64_t>> inputs, outputs;  // name, archive artifact id
  std::string log;  // its path in the archive, "" when the archive has none
};

struct Manifest {
  RunRecord run;
  std::string snapshot_hash, snapshot_pipeline, snapshot_body;
  std::vector<ArchivedStepRun> step_runs;
  std::map<int64_t, ArtifactRecord> artifacts;  // by archive id
  std::map<std::string, std::string> objects;   // digest -> kind
};

Status NotAnArchive(const std::string& file, const Status& st) {
  // Disk full, or a file that cannot be written, is no fault of the archive.
  if (st.code() != Code::kInternal || st.message().rfind("cannot ", 0) == 0) return st;
  return InvalidArgument(file + " is not a whole baton run archive (" + st.message() + ")");
}

Status Extract(const std::string& file, const std::string& dest) {
  BATON_ASSIGN_OR_RETURN(std::unique_ptr<s3::FileSource> source, s3::FileSource::Open(file));
  s3::TarExtractor tar(dest);
  BATON_RETURN_IF_ERROR(tar.Begin());
  std::vector<char> buf(kChunk);
  for (;;) {
    BATON_ASSIGN_OR_RETURN(size_t n, source->Read(buf.data(), buf.size()));
    if (n == 0) break;
    if (Status st = tar.Feed(std::string_view(buf.data(), n)); !st.ok())
      return NotAnArchive(file, st);
  }
  if (Status st = tar.Finish(); !st.ok()) return NotAnArchive(file, st);
  return Status::Ok();
}

Result<std::vector<std::pair<std::string, int64_t>>> ReadUses(const Json& j,
                                                              const std::string& what,
                                                              const Manifest& m) {
  std::vector<std::pair<std::string, int64_t>> uses;
  if (j.is_null()) return uses;
  if (!j.is_object()) return Damaged(what + " is not an object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it->is_number_integer() || !m.artifacts.count(it->get<int64_t>()))
      return Damaged(what + "." + it.key() + " names no artifact of the archive");
    uses.emplace_back(it.key(), it->get<int64_t>());
  }
  return uses;
}

Status ReadObjectsAndArtifacts(const Json& j, Manifest* m) {
  if (!j["objects"].is_array() || !j["artifacts"].is_array())
    return Damaged("it lists no objects or artifacts");
  for (const Json& o : j["objects"]) {
    const std::string digest = o.value("digest", std::string());
    const std::string kind = o.value("kind", std::string());
    if (!IsDigest(digest) || (kind != "file" && kind != "dir"))
      return Damaged("an object has no valid digest or kind");
    m->objects[digest] = kind;
  }
  for (const Json& ja : j["artifacts"]) {
    ArtifactRecord a;
    BATON_RETURN_IF_ERROR(FromJson(ja, "an artifact", &a));
    auto object = m->objects.find(a.digest);
    if (object == m->objects.end() || object->second != a.kind)
      return Damaged(ArtifactLabel(a) + " has no content in the archive");
    if (!m->artifacts.emplace(a.id, a).second)
      return Damaged("artifact id " + std::to_string(a.id) + " is given twice");
  }
  return Status::Ok();
}

Status ReadStepRuns(const Json& j, const std::string& root, Manifest* m) {
  if (!j["step_runs"].is_array()) return Damaged("it lists no step runs");
  std::set<int64_t> ids;
  for (const Json& js : j["step_runs"]) {
    ArchivedStepRun s;
    BATON_RETURN_IF_ERROR(FromJson(js, "a step run", &s.rec));
    const std::string what = "step run " + std::to_string(s.rec.id) + " (" + s.rec.step + ")";
    if (s.rec.run_id != m->run.id) return Damaged(what + " belongs to another run");
    if (!ids.insert(s.rec.id).second) return Damaged(what + " is given twice");
    BATON_ASSIGN_OR_RETURN(s.inputs, ReadUses(js.value("inputs", Json()), what + " inputs", *m));
    BATON_ASSIGN_OR_RETURN(s.outputs, ReadUses(js.value("outputs", Json()), what + " outputs", *m));
    s.log = js.value("log", std::string());
    if (!s.log.empty() &&
        (s.log != "logs/" + std::to_string(s.rec.id) + ".log" || !fs::Exists(root + "/" + s.log)))
      return Damaged(what + " names a log the archive does not hold");
    m->step_runs.push_back(std::move(s));
  }
  return Status::Ok();
}

Result<Manifest> ParseManifest(const std::string& file, const Json& j, const std::string& root) {
  if (!j.is_object() || j.value("format", std::string()) != kRunArchiveFormat)
    return InvalidArgument(file + " is not a baton run archive (its manifest.json is not one)");
  const int version = j.value("version", 0);
  if (version < 1 || version > kRunArchiveVersion)
    return InvalidArgument(file + " is a run archive of format version " + std::to_string(version) +
                           "; this baton reads version " + std::to_string(kRunArchiveVersion) +
                           " and older");
  Manifest m;
  BATON_RETURN_IF_ERROR(FromJson(j.value("run", Json()), "run", &m.run));
  if (m.run.id.empty()) return Damaged("the run has no id");
  if (m.run.status == RunStatus::kRunning)
    return Damaged("run " + m.run.id + " was still running when it was exported");
  const Json snapshot = j.value("snapshot", Json::object());
  m.snapshot_hash = snapshot.value("hash", std::string());
  m.snapshot_pipeline = snapshot.value("pipeline", std::string());
  m.snapshot_body = snapshot.value("body", std::string());
  if (m.snapshot_hash != m.run.snapshot_hash || Sha256Hex(m.snapshot_body) != m.snapshot_hash)
    return Damaged("the pipeline snapshot does not match its hash");
  BATON_RETURN_IF_ERROR(ReadObjectsAndArtifacts(j, &m));
  BATON_RETURN_IF_ERROR(ReadStepRuns(j, root, &m));
  return m;
}

Result<Manifest> ReadManifest(const std::string& file, const std::string& root) {
  auto text = fs::ReadFile(root + "/manifest.json");
  if (!text.ok())
    return InvalidArgument(file + " is not a baton run archive: it holds no manifest.json");
  Json j = Json::parse(*text, nullptr, false);
  if (j.is_discarded()) return Damaged("manifest.json is not JSON");
  // Values of unexpected types throw in the JSON library; they stop here.
  try {
    return ParseManifest(file, j, root);
  } catch (const Json::exception& e) {
    return Damaged(e.what());
  }
}

// The artifacts of the archive that hold `digest`, for messages.
std::string ArtifactsWith(const Manifest& m, const std::string& digest) {
  std::string out;
  for (const auto& [id, a] : m.artifacts)
    if (a.digest == digest) out += (out.empty() ? "" : ", ") + ArtifactLabel(a);
  return out;
}

Status VerifyObjects(const Manifest& m, const std::string& root) {
  for (const auto& [digest, kind] : m.objects) {
    const std::string path = root + "/objects/" + digest;
    std::string problem;
    if (!fs::Exists(path)) {
      problem = "is missing from the archive";
    } else {
      BATON_ASSIGN_OR_RETURN(TreeDigest d, DigestPath(path));
      if (d.digest != digest || d.is_dir != (kind == "dir")) problem = "does not match its digest";
    }
    if (!problem.empty())
      return InvalidArgument("the run archive is damaged: the content of " +
                             ArtifactsWith(m, digest) + " " + problem + "; nothing was imported");
  }
  return Status::Ok();
}

// AlreadyExists when the store has a run of exactly this id.
Status CheckNewRun(MetadataStore& meta, const std::string& id) {
  auto r = meta.GetRun(id);
  if (r.ok() && r->id == id)
    return AlreadyExists("run " + id + " is in this workspace already; nothing was imported");
  if (!r.ok() && r.status().code() != Code::kNotFound &&
      r.status().code() != Code::kInvalidArgument)
    return r.status();
  return Status::Ok();
}

// Puts every object into the workspace's artifact store; the URI of each, by digest.
Result<std::map<std::string, std::string>> StoreObjects(Workspace& ws, const Manifest& m,
                                                        const std::string& root) {
  std::map<std::string, std::string> uris;
  for (const auto& [digest, kind] : m.objects) {
    BATON_ASSIGN_OR_RETURN(StoredObject o, ws.artifacts->Put(root + "/objects/" + digest));
    if (o.digest != digest)
      return Internal("the artifact store stored " + ArtifactsWith(m, digest) +
                      " under another digest, " + o.digest);
    uris[digest] = o.uri;
  }
  return uris;
}

// Where the archive's logs go in this workspace: the step runs' log paths are set to them.
// Returns (path in the extracted archive, destination) pairs.
std::vector<std::pair<std::string, std::string>> PlaceLogs(const Workspace& ws,
                                                           const std::string& root, Manifest* m) {
  std::vector<std::pair<std::string, std::string>> moves;
  std::set<std::string> taken;
  for (auto& s : m->step_runs) {
    if (s.log.empty()) {
      s.rec.log_path.clear();
      continue;
    }
    std::string name = fs::Basename(s.rec.log_path);
    if (name.empty() || !taken.insert(name).second) name = std::to_string(s.rec.id) + "-" + name;
    s.rec.log_path = ws.LogsDir(m->run.id) + "/" + name;
    moves.emplace_back(root + "/" + s.log, s.rec.log_path);
  }
  return moves;
}

// The new records of one step run's outputs, and those that reuse artifacts recorded already.
struct OutputRecords {
  std::vector<ArtifactRecord> fresh;
  std::vector<int64_t> fresh_archive_ids;
  std::vector<OutputUse> reused;
};

OutputRecords MapOutputs(const Manifest& m, const ArchivedStepRun& s,
                         const std::map<int64_t, int64_t>& artifact_ids,
                         const std::map<std::string, std::string>& uris) {
  OutputRecords out;
  for (const auto& [name, archive_id] : s.outputs) {
    if (auto it = artifact_ids.find(archive_id); it != artifact_ids.end()) {
      out.reused.push_back({name, it->second});
      continue;
    }
    ArtifactRecord a = m.artifacts.at(archive_id);
    if (a.step_run_id != s.rec.id) {
      // Reused from a run this workspace does not have: recorded as this step run's own.
      a.pipeline = m.run.pipeline;
      a.step = s.rec.step;
      a.name = name;
    }
    a.run_id = m.run.id;
    a.uri = uris.at(a.digest);
    out.fresh.push_back(std::move(a));
    out.fresh_archive_ids.push_back(archive_id);
  }
  return out;
}

Status RecordStepRuns(MetadataStore& meta, const Manifest& m,
                      const std::map<std::string, std::string>& uris, RunImportSummary* summary) {
  std::map<int64_t, int64_t> step_ids, artifact_ids;  // archive id -> id here
  for (const ArchivedStepRun& s : m.step_runs) {
    StepRunRecord rec = s.rec;
    BATON_ASSIGN_OR_RETURN(rec.id, meta.StartStepRun(rec));
    step_ids[s.rec.id] = rec.id;
    if (rec.cached_from != 0) {
      auto it = step_ids.find(rec.cached_from);
      summary->dropped_cached_from += it == step_ids.end();
      rec.cached_from = it == step_ids.end() ? 0 : it->second;
    }
    OutputRecords outputs = MapOutputs(m, s, artifact_ids, uris);
    std::vector<InputUse> inputs;
    for (const auto& [name, archive_id] : s.inputs) {
      auto it = artifact_ids.find(archive_id);
      if (it == artifact_ids.end()) {
        ++summary->dropped_inputs;
        continue;
      }
      inputs.push_back({name, it->second});
    }
    BATON_RETURN_IF_ERROR(meta.FinishStepRun(rec, &outputs.fresh, outputs.reused, inputs));
    for (size_t i = 0; i < outputs.fresh.size(); ++i)
      artifact_ids[outputs.fresh_archive_ids[i]] = outputs.fresh[i].id;
    summary->artifacts += outputs.fresh.size();
  }
  summary->step_runs = m.step_runs.size();
  return Status::Ok();
}

Status RecordInBatch(MetadataStore& meta, const Manifest& m,
                     const std::map<std::string, std::string>& uris, RunImportSummary* summary) {
  BATON_RETURN_IF_ERROR(CheckNewRun(meta, m.run.id));
  BATON_RETURN_IF_ERROR(meta.PutSnapshot(m.snapshot_hash, m.snapshot_pipeline, m.snapshot_body));
  BATON_RETURN_IF_ERROR(meta.CreateRun(m.run));
  return RecordStepRuns(meta, m, uris, summary);
}

// Records everything in one batch, on a store instance of its own: a batch has no abort, but a
// store closed inside a batch leaves none of it (as a process dying inside one does), so a
// failed write is undone by closing the instance.
Status RecordRun(Workspace& ws, const Manifest& m, const std::map<std::string, std::string>& uris,
                 RunImportSummary* summary) {
  BATON_ASSIGN_OR_RETURN(std::unique_ptr<MetadataStore> meta,
                         Stores().OpenMetadataStore(ws.metadata_uri));
  BATON_RETURN_IF_ERROR(meta->BeginBatch());
  Status st = RecordInBatch(*meta, m, uris, summary);
  if (!st.ok()) {
    meta.reset();
    return st.code() == Code::kAlreadyExists ? st : st.Annotate("nothing was imported");
  }
  return meta->EndBatch();
}

}  // namespace

Result<RunExportSummary> ExportRun(Workspace& ws, const std::string& run_ref,
                                   const std::string& file) {
  if (fs::Exists(file)) return AlreadyExists(file + " already exists; name a new file");
  BATON_ASSIGN_OR_RETURN(RunRecord run, ws.meta->GetRun(run_ref));
  if (run.status == RunStatus::kRunning)
    return FailedPrecondition("run " + run.id +
                              " is still running; export it once it has ended (or stop it with "
                              "'baton runs stop " +
                              run.id + "')");
  BATON_ASSIGN_OR_RETURN(std::string body, ws.meta->GetSnapshot(run.snapshot_hash));
  BATON_ASSIGN_OR_RETURN(PipelineSpec spec, LoadRunSpec(ws, run));
  BATON_RETURN_IF_ERROR(UseStackArtifactStore(ws, spec));

  RemoveOnExit cleanup;
  BATON_ASSIGN_OR_RETURN(std::string staging, fs::MakeTempDir(file + ".tmp"));
  cleanup.Add(staging);
  const std::string part = staging + ".tar";
  cleanup.Add(part);
  Json manifest = {
      {"format", kRunArchiveFormat},
      {"version", kRunArchiveVersion},
      {"exported_at", FormatTimestamp(NowMicros())},
      {"run", RecordJson(run)},
      {"snapshot", {{"hash", run.snapshot_hash}, {"pipeline", run.pipeline}, {"body", body}}}};
  RunExportSummary summary;
  summary.run_id = run.id;
  BATON_RETURN_IF_ERROR(StageRun(ws, run, staging, &manifest, &summary));
  BATON_RETURN_IF_ERROR(fs::WriteFile(staging + "/manifest.json", DumpJson(manifest, 1) + "\n"));
  BATON_RETURN_IF_ERROR(WriteTar(staging, part));
  if (fs::Exists(file)) return AlreadyExists(file + " appeared while the run was exported");
  BATON_RETURN_IF_ERROR(fs::Rename(part, file));
  summary.bytes = static_cast<uint64_t>(std::max<int64_t>(0, fs::FileSize(file)));
  return summary;
}

Result<RunImportSummary> ImportRun(Workspace& ws, const std::string& file) {
  if (!fs::Exists(file)) return NotFound("no file " + file);
  if (fs::IsDir(file)) return InvalidArgument(file + " is a directory, not a run archive");
  RemoveOnExit cleanup;
  BATON_ASSIGN_OR_RETURN(std::string tmp, fs::MakeTempDir(ws.dir + "/import"));
  cleanup.Add(tmp);
  const std::string root = tmp + "/archive";
  BATON_RETURN_IF_ERROR(Extract(file, root));
  BATON_ASSIGN_OR_RETURN(Manifest m, ReadManifest(file, root));
  BATON_RETURN_IF_ERROR(VerifyObjects(m, root));
  BATON_RETURN_IF_ERROR(CheckNewRun(*ws.meta, m.run.id));

  // The contents go where this workspace will look for them: the store of the run's stack.
  Json snapshot = Json::parse(m.snapshot_body, nullptr, false);
  if (snapshot.is_discarded()) return Damaged("the pipeline snapshot is not JSON");
  BATON_ASSIGN_OR_RETURN(PipelineSpec spec, SpecFromJson(snapshot));
  BATON_RETURN_IF_ERROR(UseStackArtifactStore(ws, spec));
  BATON_ASSIGN_OR_RETURN(auto uris, StoreObjects(ws, m, root));
  BATON_RETURN_IF_ERROR(
      ws.artifacts->PutBlob("snapshots/" + m.snapshot_hash + ".json", m.snapshot_body));

  const auto log_moves = PlaceLogs(ws, root, &m);
  RunImportSummary summary;
  summary.run_id = m.run.id;
  summary.pipeline = m.run.pipeline;
  summary.status = ToString(m.run.status);
  BATON_RETURN_IF_ERROR(RecordRun(ws, m, uris, &summary));
  // Logs are for people: the run is recorded whether or not they can be put in place.
  for (const auto& [from, to] : log_moves)
    if (fs::MakeDirs(fs::Dirname(to)).ok() && fs::Rename(from, to).ok()) ++summary.logs;
  return summary;
}

}  // namespace baton
