#pragma once
// The S3 artifact store (s3://bucket/prefix?endpoint=...&region=...): content-addressed objects
// in any S3-compatible server (AWS, Ceph RGW, MinIO), signed with SigV4.

#include <memory>

#include "baton/artifact_store.h"
#include "baton/stores.h"

namespace baton {

// Opens the store the URI names. Credentials never come from the URI itself.
Result<std::unique_ptr<ArtifactStore>> OpenS3ArtifactStore(const StoreUri& uri);

}  // namespace baton
