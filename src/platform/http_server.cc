// cpp-httplib underneath; this file is the only one that includes it.

#include "platform/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <exception>
#include <utility>

namespace baton {

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string HttpRequest::Header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return "";
}

std::string HttpRequest::Query(const std::string& name) const {
  for (const auto& [k, v] : query)
    if (k == name) return v;
  return "";
}

bool HttpRequest::HasQuery(const std::string& name) const {
  return std::any_of(query.begin(), query.end(), [&](const auto& kv) { return kv.first == name; });
}

struct HttpServer::Impl {
  std::unique_ptr<httplib::Server> server;
  HttpHandler handler;
  int port = 0;
  bool tls = false;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Bind(const HttpServerOptions& options,
                                                     HttpHandler handler) {
  auto impl = std::make_unique<Impl>();
  impl->handler = std::move(handler);
  if (options.tls_cert.empty() != options.tls_key.empty())
    return InvalidArgument("TLS needs both a certificate and its key");
  if (!options.tls_cert.empty()) {
    auto ssl = std::make_unique<httplib::SSLServer>(options.tls_cert.c_str(), options.tls_key.c_str());
    if (!ssl->is_valid())
      return InvalidArgument("cannot load the TLS certificate " + options.tls_cert + " and key " +
                             options.tls_key + " (PEM files, the key matching the certificate)");
    impl->server = std::move(ssl);
    impl->tls = true;
  } else {
    impl->server = std::make_unique<httplib::Server>();
  }
  httplib::Server& s = *impl->server;
  const int threads = std::max(1, options.threads);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  s.set_payload_max_length(options.max_body_bytes);
  s.set_read_timeout(options.read_timeout_s, 0);
  s.set_write_timeout(options.read_timeout_s, 0);
  s.set_keep_alive_timeout(5);
  Impl* raw = impl.get();
  auto dispatch = [raw](const httplib::Request& req, httplib::Response& res) {
    HttpRequest r;
    r.method = req.method;
    r.path = req.path;
    for (const auto& [k, v] : req.params) r.query.emplace_back(k, v);
    for (const auto& [k, v] : req.headers) r.headers.emplace_back(Lower(k), v);
    r.body = req.body;
    r.remote_addr = req.remote_addr;
    HttpResponse out = raw->handler(r);
    res.status = out.status;
    for (const auto& [k, v] : out.headers) res.set_header(k, v);
    res.set_content(out.body, out.content_type);
  };
  s.Get(".*", dispatch);
  s.Post(".*", dispatch);
  s.Put(".*", dispatch);
  s.Patch(".*", dispatch);
  s.Delete(".*", dispatch);
  s.Options(".*", dispatch);
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    std::fprintf(stderr, "baton server: internal error: %s\n", what.c_str());
    res.status = 500;
    res.set_content("{\"error\":{\"code\":\"internal\",\"message\":\"internal error\"}}",
                    "application/json");
  });
  // What the library answers itself (413 for a body over the limit, 400 for a malformed
  // request) gets a JSON body like every other error.
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    const char* code = res.status == 413 ? "too_large" : res.status == 400 ? "bad_request" : "error";
    res.set_content(std::string("{\"error\":{\"code\":\"") + code + "\",\"message\":\"HTTP " +
                        std::to_string(res.status) + "\"}}",
                    "application/json");
  });
  if (options.port == 0) {
    const int port = s.bind_to_any_port(options.host);
    if (port <= 0) return Unavailable("cannot listen on " + options.host);
    impl->port = port;
  } else {
    if (!s.bind_to_port(options.host, options.port))
      return Unavailable("cannot listen on " + options.host + ":" + std::to_string(options.port) +
                         " (in use, or not an address of this machine)");
    impl->port = options.port;
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->port; }
bool HttpServer::tls() const { return impl_->tls; }

Status HttpServer::Serve() {
  if (!impl_->server->listen_after_bind()) return Internal("the server's listening socket failed");
  return Status::Ok();
}

void HttpServer::Stop() {
  if (impl_ && impl_->server) impl_->server->stop();
}

}  // namespace baton
