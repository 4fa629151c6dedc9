#include "store/s3/s3_artifact_store.h"

namespace baton {

Result<std::unique_ptr<ArtifactStore>> OpenS3ArtifactStore(const StoreUri& uri) {
  return Unavailable("the S3 artifact store is not built yet (" + uri.text + ")");
}

}  // namespace baton
