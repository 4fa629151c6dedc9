#pragma once
// The `s3` artifact store flavor: a stack component naming an S3 bucket (AWS, Ceph RGW, MinIO)
// as the artifact store of the runs on that stack. It only turns the component's config into
// the store URI; the store itself is src/store/s3/.

#include "baton/flavor.h"

namespace baton {

FlavorInfo S3ArtifactStoreFlavor();

}  // namespace baton
