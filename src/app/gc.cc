#include "app/gc.h"

#include <algorithm>
#include <set>

#include "baton/flavor.h"
#include "flavors/builtin.h"
#include "platform/fs.h"
#include "store/registry.h"

namespace baton {

Result<std::vector<std::string>> ArtifactStoreUris(Workspace& ws) {
  std::vector<std::string> uris = {ws.artifacts_uri};
  FlavorRegistry builtins;
  BATON_RETURN_IF_ERROR(RegisterBuiltinFlavors(&builtins));
  BATON_ASSIGN_OR_RETURN(auto components, ws.meta->ListComponents("artifact_store"));
  for (const ComponentRecord& c : components) {
    const FlavorInfo* f = builtins.Find(ComponentType::kArtifactStore, c.flavor);
    if (f == nullptr || !f->store_uri)
      return FailedPrecondition("artifact store '" + c.name + "': flavor '" + c.flavor +
                                "' is not available");
    Json config = Json::parse(c.config.empty() ? "{}" : c.config, nullptr, false);
    if (config.is_discarded()) config = Json::object();
    BATON_ASSIGN_OR_RETURN(std::string uri, f->store_uri(WithDefaults(*f, config), ws.root));
    if (uri.empty()) continue;
    if (std::find(uris.begin(), uris.end(), uri) == uris.end()) uris.push_back(uri);
  }
  return uris;
}

namespace {

Result<int64_t> Cutoff(Workspace& ws, const GcOptions& options, GcReport* report) {
  int64_t cutoff = NowMicros() - options.min_age;
  for (RunStatus s : {RunStatus::kPending, RunStatus::kRunning}) {
    BATON_ASSIGN_OR_RETURN(auto runs, ws.meta->RunsWithStatus(s));
    for (const RunRecord& r : runs) {
      report->in_progress.push_back(r.id);
      const int64_t began = r.started_at ? r.started_at : r.created_at;
      cutoff = std::min(cutoff, began - kGcClockSkew);
    }
  }
  std::sort(report->in_progress.begin(), report->in_progress.end());
  return cutoff;
}

Status CollectStore(Workspace& ws, ArtifactStore& store, int64_t cutoff, const GcOptions& options,
                    GcStoreReport* out) {
  BATON_ASSIGN_OR_RETURN(auto before, ws.meta->ArtifactDigests());
  std::set<std::string> named(before.begin(), before.end());
  BATON_ASSIGN_OR_RETURN(std::vector<StoredObject> objects, store.ListObjects());
  // Read again after listing: an artifact recorded in between is named now.
  BATON_ASSIGN_OR_RETURN(auto after, ws.meta->ArtifactDigests());
  named.insert(after.begin(), after.end());
  std::sort(objects.begin(), objects.end(),
            [](const StoredObject& a, const StoredObject& b) { return a.digest < b.digest; });
  for (const StoredObject& o : objects) {
    ++out->objects;
    if (named.count(o.digest)) {
      ++out->referenced;
      continue;
    }
    if (o.modified_at > cutoff) {
      ++out->recent;
      continue;
    }
    if (!options.dry_run) {
      Status st = store.Delete(o.digest, cutoff);
      if (st.code() == Code::kFailedPrecondition) {  // stored again meanwhile
        ++out->recent;
        continue;
      }
      if (!st.ok()) {
        out->errors.push_back(o.digest + ": " + st.message());
        continue;
      }
    }
    out->removed.emplace_back(o.digest, o.size);
    out->removed_bytes += o.size;
  }
  return Status::Ok();
}

}  // namespace

Status ForEachArtifactStore(
    Workspace& ws, const std::function<Status(const std::string& uri, ArtifactStore&)>& fn) {
  BATON_ASSIGN_OR_RETURN(std::vector<std::string> uris, ArtifactStoreUris(ws));
  for (const std::string& uri : uris) {
    std::unique_ptr<ArtifactStore> opened;
    ArtifactStore* store = ws.artifacts.get();
    if (uri != ws.artifacts_uri) {
      auto o = Stores().OpenArtifactStore(uri);
      if (!o.ok()) return o.status().Annotate("cannot open artifact store " + uri);
      opened = std::move(*o);
      store = opened.get();
    }
    Status st = fn(uri, *store);
    if (!st.ok()) return st.Annotate("artifact store " + uri);
  }
  return Status::Ok();
}

Result<GcReport> CollectGarbage(Workspace& ws, const GcOptions& options) {
  GcReport report;
  BATON_ASSIGN_OR_RETURN(report.cutoff, Cutoff(ws, options, &report));
  BATON_RETURN_IF_ERROR(ForEachArtifactStore(ws, [&](const std::string& uri, ArtifactStore& store) {
    GcStoreReport store_report;
    store_report.uri = uri;
    BATON_RETURN_IF_ERROR(CollectStore(ws, store, report.cutoff, options, &store_report));
    report.stores.push_back(std::move(store_report));
    return Status::Ok();
  }));
  return report;
}

}  // namespace baton
