#pragma once
// An HTTP/1.1 server, plain or over TLS (OpenSSL): the transport of `baton server`. It knows no
// routes: every request goes to one handler, on a thread of a pool that grows with the open
// connections (HttpServerOptions::threads). Bodies over the
// limit are refused with 413 before they are read to the end.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "baton/status.h"

namespace baton {

struct HttpRequest {
  std::string method;
  std::string path;  // percent-decoded, without the query
  std::vector<std::pair<std::string, std::string>> query;    // decoded, in order
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::string body;
  std::string remote_addr;

  // The first value of a header (`name` in lower case) or query parameter; "" when absent.
  std::string Header(const std::string& name) const;
  std::string Query(const std::string& name) const;
  bool HasQuery(const std::string& name) const;
};

// Where a streamed body goes, piece by piece (a response that follows events or a log).
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  // Sends a piece at once; false when the client has gone (nothing more will reach it).
  virtual bool Write(std::string_view data) = 0;
  // False once the client has gone or the server is stopping: a stream checks it between
  // pieces (at least twice a second) and returns.
  virtual bool Open() = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is what this writes (sent chunked, as it comes) and `body` is not sent.
  // It runs on the request's thread, which it holds until it returns.
  std::function<void(HttpStream&)> stream;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8237;  // 0: a free port, which port() tells
  std::string tls_cert;  // PEM files: both for TLS, neither for plain HTTP
  std::string tls_key;
  size_t max_body_bytes = 8u << 20;
  // Request threads: an open connection (keep-alive included) holds one. Up to `threads` are
  // started as connections arrive, `kept_threads` of them kept while idle; the others end after
  // 10 s without work. Connections beyond `threads` wait for one to end.
  int threads = 256;
  int kept_threads = 8;
  int read_timeout_s = 30;  // a client that sends nothing for this long is dropped
};

class HttpServer {
 public:
  // Binds the address (the port is taken once this returns). InvalidArgument for half a TLS
  // configuration or certificate files that do not load; Unavailable when the address cannot
  // be bound.
  static Result<std::unique_ptr<HttpServer>> Bind(const HttpServerOptions& options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  bool tls() const;
  // Serves until Stop(); Internal when the listening socket fails.
  Status Serve();
  // Ends Serve() (from any thread); requests in flight finish first.
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton
