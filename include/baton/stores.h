#pragma once
// Stores by URI. A metadata store URI (`sqlite:///abs/path/baton.db`) or an artifact store URI
// (`file:///abs/path`) names the implementation by its scheme; a StoreRegistry maps schemes to
// factories, registered explicitly (src/store/builtin.cc for the built-in ones). A store author
// implements MetadataStore or ArtifactStore, writes a factory, and registers it under a scheme.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "baton/artifact_store.h"
#include "baton/metadata_store.h"
#include "baton/status.h"

namespace baton {

// scheme://authority/path?query, split. `path` keeps its leading '/'. Query values are
// percent-decoded.
struct StoreUri {
  std::string text;  // as given
  std::string scheme;
  std::string authority;  // user@host:port, "" for local stores
  std::string path;
  std::map<std::string, std::string> query;

  // InvalidArgument for text without "scheme:" or with a malformed query.
  static Result<StoreUri> Parse(const std::string& text);
};

using MetadataStoreFactory = std::function<Result<std::unique_ptr<MetadataStore>>(const StoreUri&)>;
using ArtifactStoreFactory = std::function<Result<std::unique_ptr<ArtifactStore>>(const StoreUri&)>;

class StoreRegistry {
 public:
  // AlreadyExists when the scheme has a factory already.
  Status RegisterMetadataStore(const std::string& scheme, MetadataStoreFactory factory);
  Status RegisterArtifactStore(const std::string& scheme, ArtifactStoreFactory factory);
  // Opens (creating as the store needs) the store the URI names. InvalidArgument for a URI
  // of no registered scheme, naming the schemes there are.
  Result<std::unique_ptr<MetadataStore>> OpenMetadataStore(const std::string& uri) const;
  Result<std::unique_ptr<ArtifactStore>> OpenArtifactStore(const std::string& uri) const;
  std::vector<std::string> MetadataSchemes() const;
  std::vector<std::string> ArtifactSchemes() const;

 private:
  std::map<std::string, MetadataStoreFactory> metadata_;
  std::map<std::string, ArtifactStoreFactory> artifacts_;
};

}  // namespace baton
