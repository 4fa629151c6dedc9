#include "app/verify.h"

#include <algorithm>
#include <memory>

#include "app/gc.h"
#include "platform/hash.h"
#include "store/registry.h"

namespace baton {
namespace {

// Checks one object; adds it to `out` as damaged or as an error, or not at all when intact or
// gone meanwhile (deleted by a garbage collector).
void VerifyObject(ArtifactStore& store, const StoredObject& o, VerifyStoreReport* out) {
  auto path = store.Get(o.digest);
  if (!path.ok()) {
    // A store that verifies what it fetches reports damage as Internal, and quarantines it.
    if (path.status().code() == Code::kInternal)
      out->damaged.push_back({o.digest, path.status().message(), !store.Exists(o.digest)});
    else if (path.status().code() != Code::kNotFound)
      out->errors.push_back(o.digest + ": " + path.status().message());
    return;
  }
  auto got = DigestPath(*path);
  if (got.ok() && got->digest == o.digest) return;
  if (!got.ok() && got.status().code() == Code::kNotFound) return;
  if (!got.ok() && got.status().code() == Code::kInternal) {  // unreadable: say so, keep it
    out->errors.push_back(o.digest + ": " + got.status().message());
    return;
  }
  DamagedObject d{o.digest,
                  got.ok() ? "its content hashes to " + got->digest : got.status().message()};
  Status q = store.Quarantine(o.digest);
  d.quarantined = q.ok();
  if (!q.ok()) d.why += "; taking it out of the store failed: " + q.message();
  out->damaged.push_back(std::move(d));
}

Status VerifyStore(ArtifactStore& store, VerifyStoreReport* out) {
  BATON_ASSIGN_OR_RETURN(std::vector<StoredObject> objects, store.ListObjects());
  std::sort(objects.begin(), objects.end(),
            [](const StoredObject& a, const StoredObject& b) { return a.digest < b.digest; });
  for (const StoredObject& o : objects) {
    ++out->objects;
    out->bytes += o.size;
    VerifyObject(store, o, out);
  }
  return Status::Ok();
}

}  // namespace

bool VerifyReport::Clean() const {
  for (const auto& s : stores)
    if (!s.damaged.empty() || !s.errors.empty()) return false;
  return true;
}

Result<VerifyReport> VerifyArtifactStores(Workspace& ws) {
  VerifyReport report;
  BATON_RETURN_IF_ERROR(ForEachArtifactStore(ws, [&](const std::string& uri, ArtifactStore& store) {
    VerifyStoreReport store_report;
    store_report.uri = uri;
    BATON_RETURN_IF_ERROR(VerifyStore(store, &store_report));
    report.stores.push_back(std::move(store_report));
    return Status::Ok();
  }));
  return report;
}

}  // namespace baton
