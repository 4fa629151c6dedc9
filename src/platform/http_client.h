#pragma once
// HttpClient: blocking HTTP(S) requests over libcurl (loaded when first used, see
// client_libs.h), for clients of REST APIs that flavors talk to (the Kubernetes API server).
// One client keeps one connection alive between calls; it is not thread-safe, so threads that
// call at the same time each use their own.
//
// TLS material comes as files or as PEM text in memory (a kubeconfig carries both forms).
// A streamed response (a watch, a followed log) hands its bytes to a callback as they arrive;
// the callback or `keep_going` can end it early.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "baton/status.h"

namespace baton {

struct HttpTls {
  std::string ca_file, ca_pem;      // the CAs the server's certificate must chain to
  std::string cert_file, cert_pem;  // a client certificate
  std::string key_file, key_pem;    // its key
  bool insecure = false;            // do not verify the server (never the default)
};

struct HttpCall {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  int64_t timeout_ms = 60'000;  // the whole call; 0: none (streams)
  int64_t connect_timeout_ms = 10'000;
  // A connection that carries no byte for this long is dead (0: no such limit): for streams,
  // which have no overall timeout, and whose server sends something now and then.
  int64_t idle_timeout_s = 0;
  // Streams: called with each piece of the body as it arrives (the reply's body then stays
  // empty for 2xx answers); return false to end the call (not an error).
  std::function<bool(std::string_view)> on_data;
  // Asked while a call runs (by libcurl's progress callback: often while bytes flow, about once
  // a second while none do); false ends it (not an error).
  std::function<bool()> keep_going;
};

struct HttpReply {
  long status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header, when there was one
  bool ended_early = false; // on_data or keep_going ended the call
};

class HttpClient {
 public:
  explicit HttpClient(HttpTls tls = {}) : tls_(std::move(tls)) {}
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Performs `call`. Unavailable when no answer came (connection refused, reset, timed out),
  // with curl's message; any HTTP status is an answer.
  Result<HttpReply> Perform(const HttpCall& call);

 private:
  HttpTls tls_;
  void* curl_ = nullptr;
};

}  // namespace baton
