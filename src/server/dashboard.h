#pragma once
// The web dashboard of `baton server`: HTML, CSS and JavaScript (web/dashboard/) built into the
// binary (cmake/EmbedAssets.cmake writes the table below at build time) and served without a
// token; the pages ask for one and send it to /api/v1 themselves (docs/dashboard.md).

#include <cstddef>
#include <string>

#include "platform/http_server.h"

namespace baton::server {

// One embedded file of web/dashboard/.
struct EmbeddedAsset {
  const char* path;          // its name in the folder: "app.js"
  const char* content_type;  // "text/javascript; charset=utf-8"
  const char* etag;          // a quoted prefix of its SHA-256
  const unsigned char* bytes;
  size_t size;
};

// The generated table, in name order.
extern const EmbeddedAsset kDashboardAssets[];
extern const size_t kDashboardAssetCount;

// The response for a dashboard path: "/" (index.html) or "/ui/NAME" (a file of web/dashboard/),
// with its content type, an ETag, `Cache-Control: no-cache` (a browser asks again and gets the
// assets of the binary it talks to), a Content-Security-Policy that allows only the server's own
// scripts, styles and connections (no inline code), and `X-Content-Type-Options: nosniff`.
// False, leaving *out alone, for any other path.
bool DashboardAsset(const std::string& path, HttpResponse* out);

}  // namespace baton::server
