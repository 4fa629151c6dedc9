#include "store/postgres_store.h"

namespace baton {

Result<std::unique_ptr<MetadataStore>> OpenPostgresStore(const StoreUri& uri) {
  return Unavailable("the PostgreSQL metadata store is not built yet (" + uri.text + ")");
}

}  // namespace baton
