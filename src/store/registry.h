#pragma once
// The stores compiled into baton, by URI scheme: metadata `sqlite`, `postgresql` (also
// `postgres`), `https` and `http` (a baton server); artifacts `file`, `s3`.

#include <string>

#include "baton/stores.h"

namespace baton {

// Registers the built-in schemes.
Status RegisterBuiltinStores(StoreRegistry* registry);
// A process-wide registry holding the built-in stores.
const StoreRegistry& Stores();
// The URIs of local stores at absolute paths.
std::string SqliteUri(const std::string& path);
std::string FileUri(const std::string& path);

}  // namespace baton
