#include "server/dashboard.h"

#include <utility>

namespace baton::server {

namespace {

constexpr char kCsp[] = "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'";

const EmbeddedAsset* Find(const std::string& name) {
  for (size_t i = 0; i < kDashboardAssetCount; ++i)
    if (name == kDashboardAssets[i].path) return &kDashboardAssets[i];
  return nullptr;
}

}  // namespace

bool DashboardAsset(const std::string& path, HttpResponse* out) {
  std::string name;
  if (path == "/") {
    name = "index.html";
  } else if (path.rfind("/ui/", 0) == 0) {
    name = path.substr(4);
  } else {
    return false;
  }
  // The folder is flat: a name with a slash (or "..") names nothing.
  if (name.empty() || name.find('/') != std::string::npos) return false;
  const EmbeddedAsset* asset = Find(name);
  if (asset == nullptr) return false;
  HttpResponse r;
  r.status = 200;
  r.content_type = asset->content_type;
  r.body.assign(reinterpret_cast<const char*>(asset->bytes), asset->size);
  r.headers = {{"Cache-Control", "no-cache"},
               {"ETag", asset->etag},
               {"Content-Security-Policy", kCsp},
               {"X-Content-Type-Options", "nosniff"},
               {"Referrer-Policy", "no-referrer"}};
  *out = std::move(r);
  return true;
}

}  // namespace baton::server
