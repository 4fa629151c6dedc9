#include "server/router.h"

namespace baton::server {

namespace {

std::vector<std::string> Segments(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    const size_t end = path.find('/', i);
    out.push_back(path.substr(i, end == std::string::npos ? std::string::npos : end - i));
    if (end == std::string::npos) break;
    i = end;
  }
  return out;
}

bool MatchPattern(const std::string& pattern, const std::string& path, PathParams* params) {
  const std::vector<std::string> want = Segments(pattern), got = Segments(path);
  if (want.size() != got.size()) return false;
  PathParams found;
  for (size_t i = 0; i < want.size(); ++i) {
    const std::string& w = want[i];
    if (w.size() > 2 && w.front() == '{' && w.back() == '}') {
      if (got[i].empty()) return false;
      found[w.substr(1, w.size() - 2)] = got[i];
    } else if (w != got[i]) {
      return false;
    }
  }
  *params = std::move(found);
  return true;
}

}  // namespace

void Router::Add(const std::string& method, const std::string& pattern, RouteHandler handler) {
  routes_.push_back({method, pattern, std::move(handler)});
}

bool Router::Match(const std::string& method, const std::string& path, const RouteHandler** handler,
                   PathParams* params, int* status, std::string* allow) const {
  allow->clear();
  for (const Route& r : routes_) {
    PathParams p;
    if (!MatchPattern(r.pattern, path, &p)) continue;
    if (r.method == method || (method == "HEAD" && r.method == "GET")) {
      *handler = &r.handler;
      *params = std::move(p);
      return true;
    }
    allow->append(allow->empty() ? "" : ", ").append(r.method);
  }
  *status = allow->empty() ? 404 : 405;
  return false;
}

}  // namespace baton::server
