#pragma once
// Routes of the REST API: a method and a path pattern whose `{name}` segments match one path
// segment each, to a handler that gets them by name.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "platform/http_server.h"

namespace baton::server {

using PathParams = std::map<std::string, std::string>;
using RouteHandler = std::function<HttpResponse(const HttpRequest&, const PathParams&)>;

struct Route {
  std::string method;
  std::string pattern;  // "/api/v1/runs/{id}"
  RouteHandler handler;
};

class Router {
 public:
  void Add(const std::string& method, const std::string& pattern, RouteHandler handler);
  // The handler of the first route that matches. Returns false with *status 404 when no
  // pattern matches the path, 405 (and *allow the methods that would) when only the method
  // differs.
  bool Match(const std::string& method, const std::string& path, const RouteHandler** handler,
             PathParams* params, int* status, std::string* allow) const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace baton::server
