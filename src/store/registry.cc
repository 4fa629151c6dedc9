#include "store/registry.h"

#include <cctype>

#include "store/local_artifact_store.h"
#include "store/postgres_store.h"
#include "store/remote/remote_store.h"
#include "store/s3/s3_artifact_store.h"
#include "store/sqlite_store.h"

namespace baton {
namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

Result<std::string> Decode(const std::string& s, const std::string& uri) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || Hex(s[i + 1]) < 0 || Hex(s[i + 2]) < 0)
      return InvalidArgument("bad percent escape in " + uri);
    out += static_cast<char>(Hex(s[i + 1]) * 16 + Hex(s[i + 2]));
    i += 2;
  }
  return out;
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x + "://";
  return s;
}

// `sqlite:///abs/path` and `file:///abs/path`: a local path, absolute, no host.
Result<std::string> LocalPath(const StoreUri& u) {
  if (!u.authority.empty() && u.authority != "localhost")
    return InvalidArgument("store URI " + u.text + " names a host; a " + u.scheme + " store is a local path (" +
                           u.scheme + ":///ABSOLUTE/PATH)");
  if (u.path.empty() || u.path[0] != '/')
    return InvalidArgument("store URI " + u.text + " needs an absolute path (" + u.scheme + ":///ABSOLUTE/PATH)");
  if (!u.query.empty()) return InvalidArgument("store URI " + u.text + " takes no parameters");
  return u.path;
}

}  // namespace

Result<StoreUri> StoreUri::Parse(const std::string& text) {
  StoreUri u;
  u.text = text;
  size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0) return InvalidArgument("'" + text + "' is not a store URI (SCHEME://...)");
  u.scheme = text.substr(0, colon);
  for (char c : u.scheme)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.')
      return InvalidArgument("'" + text + "' is not a store URI (SCHEME://...)");
  std::string rest = text.substr(colon + 1);
  if (rest.rfind("//", 0) != 0) return InvalidArgument("store URI " + text + " must start with " + u.scheme + "://");
  rest = rest.substr(2);
  size_t q = rest.find('?');
  std::string query = q == std::string::npos ? "" : rest.substr(q + 1);
  rest = rest.substr(0, q);
  size_t slash = rest.find('/');
  u.authority = rest.substr(0, slash);
  if (slash != std::string::npos) {
    BATON_ASSIGN_OR_RETURN(u.path, Decode(rest.substr(slash), text));
  }
  size_t at = 0;
  while (at < query.size()) {
    size_t amp = query.find('&', at);
    std::string kv = query.substr(at, amp == std::string::npos ? std::string::npos : amp - at);
    size_t eq = kv.find('=');
    if (kv.empty() || eq == 0) return InvalidArgument("bad parameter '" + kv + "' in store URI " + text);
    BATON_ASSIGN_OR_RETURN(std::string key, Decode(kv.substr(0, eq), text));
    std::string value;
    if (eq != std::string::npos) {
      BATON_ASSIGN_OR_RETURN(value, Decode(kv.substr(eq + 1), text));
    }
    u.query[key] = value;
    if (amp == std::string::npos) break;
    at = amp + 1;
  }
  return u;
}

Status StoreRegistry::RegisterMetadataStore(const std::string& scheme, MetadataStoreFactory factory) {
  if (!metadata_.emplace(scheme, std::move(factory)).second)
    return AlreadyExists("a metadata store is registered for " + scheme + "://");
  return Status::Ok();
}

Status StoreRegistry::RegisterArtifactStore(const std::string& scheme, ArtifactStoreFactory factory) {
  if (!artifacts_.emplace(scheme, std::move(factory)).second)
    return AlreadyExists("an artifact store is registered for " + scheme + "://");
  return Status::Ok();
}

std::vector<std::string> StoreRegistry::MetadataSchemes() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : metadata_) out.push_back(k);
  return out;
}

std::vector<std::string> StoreRegistry::ArtifactSchemes() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : artifacts_) out.push_back(k);
  return out;
}

Result<std::unique_ptr<MetadataStore>> StoreRegistry::OpenMetadataStore(const std::string& uri) const {
  BATON_ASSIGN_OR_RETURN(StoreUri u, StoreUri::Parse(uri));
  auto it = metadata_.find(u.scheme);
  if (it == metadata_.end())
    return InvalidArgument("no metadata store for " + u.scheme + "://; this baton has " + Join(MetadataSchemes()));
  return it->second(u);
}

Result<std::unique_ptr<ArtifactStore>> StoreRegistry::OpenArtifactStore(const std::string& uri) const {
  BATON_ASSIGN_OR_RETURN(StoreUri u, StoreUri::Parse(uri));
  auto it = artifacts_.find(u.scheme);
  if (it == artifacts_.end())
    return InvalidArgument("no artifact store for " + u.scheme + "://; this baton has " + Join(ArtifactSchemes()));
  return it->second(u);
}

Status RegisterBuiltinStores(StoreRegistry* registry) {
  BATON_RETURN_IF_ERROR(registry->RegisterMetadataStore("sqlite", [](const StoreUri& u) -> Result<std::unique_ptr<MetadataStore>> {
    BATON_ASSIGN_OR_RETURN(std::string path, LocalPath(u));
    return OpenSqliteStore(path);
  }));
  for (const char* scheme : {"postgresql", "postgres"})
    BATON_RETURN_IF_ERROR(registry->RegisterMetadataStore(scheme, OpenPostgresStore));
  for (const char* scheme : {"https", "http"})
    BATON_RETURN_IF_ERROR(registry->RegisterMetadataStore(scheme, OpenRemoteStore));
  BATON_RETURN_IF_ERROR(registry->RegisterArtifactStore("file", [](const StoreUri& u) -> Result<std::unique_ptr<ArtifactStore>> {
    BATON_ASSIGN_OR_RETURN(std::string path, LocalPath(u));
    return OpenLocalArtifactStore(path);
  }));
  return registry->RegisterArtifactStore("s3", OpenS3ArtifactStore);
}

const StoreRegistry& Stores() {
  static const StoreRegistry* registry = [] {
    auto* r = new StoreRegistry();
    (void)RegisterBuiltinStores(r);
    return r;
  }();
  return *registry;
}

std::string SqliteUri(const std::string& path) { return "sqlite://" + path; }
std::string FileUri(const std::string& path) { return "file://" + path; }

}  // namespace baton
