// cpp-httplib underneath; this file is the only one that includes it.

#include "platform/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace baton {

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The request threads. A connection holds one while it is open (keep-alive included), so a pool
// of fixed size makes the clients beyond it wait for whole connections to end: with 100 clients
// recording at once on 16 threads, the rest waited seconds each. This pool keeps `kept` threads
// and starts another whenever a connection arrives and none is idle, up to `most`; a thread
// beyond `kept` ends after kIdle without work.
class ElasticPool : public httplib::TaskQueue {
 public:
  ElasticPool(size_t kept, size_t most) : kept_(std::max<size_t>(1, kept)), most_(std::max(most, kept_)) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < kept_; ++i) StartLocked();
  }
  ~ElasticPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::vector<std::thread> ended;
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(fn));
      if (idle_ < jobs_.size() && threads_.size() < most_) StartLocked();
      ended.swap(ended_);
    }
    work_.notify_one();
    for (auto& t : ended) t.join();
  }

  void shutdown() override {
    std::map<uint64_t, std::thread> all;
    std::vector<std::thread> ended;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      all.swap(threads_);
      ended.swap(ended_);
    }
    work_.notify_all();
    for (auto& [id, t] : all) t.join();
    for (auto& t : ended) t.join();
  }

 private:
  static constexpr auto kIdle = std::chrono::seconds(10);

  void StartLocked() {
    const uint64_t id = next_id_++;
    threads_.emplace(id, std::thread([this, id] { Work(id); }));
  }

  void Work(uint64_t id) {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      ++idle_;
      const bool woken = work_.wait_for(lock, kIdle, [this] { return stopping_ || !jobs_.empty(); });
      --idle_;
      if (stopping_ && jobs_.empty()) return;
      if (!woken) {
        if (threads_.size() <= kept_) continue;
        // Ends: its std::thread is joined by the next enqueue (or the shutdown).
        auto it = threads_.find(id);
        ended_.push_back(std::move(it->second));
        threads_.erase(it);
        return;
      }
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }

  const size_t kept_, most_;
  std::mutex mu_;
  std::condition_variable work_;
  std::deque<std::function<void()>> jobs_;
  std::map<uint64_t, std::thread> threads_;  // running, by id
  std::vector<std::thread> ended_;           // ended on their own, to join
  size_t idle_ = 0;
  uint64_t next_id_ = 0;
  bool stopping_ = false;
};

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
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> serving{false};
};

namespace {

void Refuse(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  res.status = status;
  // The rest of what the client sent is not read: the connection ends with the answer.
  res.set_header("Connection", "close");
  res.set_content("{\"error\":{\"code\":\"" + code + "\",\"message\":\"" + message + "\"}}",
                  "application/json");
}

// Before the body is read: only bodies the server can bound and parse are taken. A body must come
// with one Content-Length within the limit, unencoded, as JSON; chunked or compressed bodies
// (which the library would read or inflate without a bound) and ambiguous framing (what lets a
// request be smuggled past a proxy) are refused.
bool RefusedBeforeReading(const httplib::Request& req, httplib::Response& res, size_t max_body) {
  if (req.has_header("Transfer-Encoding")) {
    Refuse(res, 411, "length_required", "send the body with a Content-Length, not chunked");
    return true;
  }
  if (req.has_header("Content-Encoding")) {
    Refuse(res, 415, "unsupported_media_type", "bodies are not accepted compressed");
    return true;
  }
  const size_t lengths = req.get_header_value_count("Content-Length");
  if (lengths > 1) {
    Refuse(res, 400, "bad_request", "more than one Content-Length");
    return true;
  }
  if (lengths == 0) return false;
  const std::string length = req.get_header_value("Content-Length");
  if (length.empty() || length.size() > 18 ||
      length.find_first_not_of("0123456789") != std::string::npos) {
    Refuse(res, 400, "bad_request", "a Content-Length that is not a number");
    return true;
  }
  const unsigned long long n = std::stoull(length);
  if (n > max_body) {
    Refuse(res, 413, "too_large", "the body is over the limit of " + std::to_string(max_body) + " bytes");
    return true;
  }
  if (n > 0 && req.get_header_value("Content-Type").rfind("application/json", 0) != 0) {
    Refuse(res, 415, "unsupported_media_type", "a body is JSON (Content-Type: application/json)");
    return true;
  }
  return false;
}

// The query of the request target alone (the library also merges form bodies into its params).
std::vector<std::pair<std::string, std::string>> QueryOf(const httplib::Request& req) {
  std::vector<std::pair<std::string, std::string>> out;
  const size_t q = req.target.find('?');
  if (q == std::string::npos) return out;
  httplib::Params params;
  httplib::detail::parse_query_text(req.target.substr(q + 1), params);
  for (const auto& [k, v] : params) out.emplace_back(k, v);
  return out;
}

}  // namespace

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
  const size_t most = static_cast<size_t>(std::max(1, options.threads));
  const size_t kept = std::min(most, static_cast<size_t>(std::max(1, options.kept_threads)));
  s.new_task_queue = [kept, most] { return new ElasticPool(kept, most); };
  s.set_payload_max_length(options.max_body_bytes);
  s.set_read_timeout(options.read_timeout_s, 0);
  s.set_write_timeout(options.read_timeout_s, 0);
  s.set_keep_alive_timeout(5);
  // A response is written in more than one piece (headers, body): without TCP_NODELAY the second
  // waits for the client's delayed ACK, 40 ms a request.
  s.set_tcp_nodelay(true);
  // A client that sends one request after another (a run recording through the store API)
  // keeps its connection for 100 of them before it must open another; a connection holds a
  // request thread while it is open, so it is not kept longer than that.
  s.set_keep_alive_max_count(100);
  const size_t max_body = options.max_body_bytes;
  s.set_pre_routing_handler([max_body](const httplib::Request& req, httplib::Response& res) {
    return RefusedBeforeReading(req, res, max_body) ? httplib::Server::HandlerResponse::Handled
                                                    : httplib::Server::HandlerResponse::Unhandled;
  });
  Impl* raw = impl.get();
  auto dispatch = [raw](const httplib::Request& req, httplib::Response& res) {
    HttpRequest r;
    r.method = req.method;
    r.path = req.path;
    r.query = QueryOf(req);
    for (const auto& [k, v] : req.headers) r.headers.emplace_back(Lower(k), v);
    r.body = req.body;
    r.remote_addr = req.remote_addr;
    HttpResponse out = raw->handler(r);
    res.status = out.status;
    for (const auto& [k, v] : out.headers) res.set_header(k, v);
    if (!out.stream || req.method == "HEAD") {
      res.set_content(out.body, out.content_type);
      return;
    }
    // A streamed body is never compressed: the library's compressors hold what they are given
    // until the end, so a browser (which always accepts compression) would see a followed log
    // only once it ended. Without the request's Accept-Encoding the library sends it as it
    // comes. (The request is the library's own, not const; it is handed to us as const.)
    const_cast<httplib::Request&>(req).headers.erase("Accept-Encoding");
    auto stream = std::move(out.stream);
    res.set_chunked_content_provider(
        out.content_type, [raw, stream](size_t, httplib::DataSink& sink) {
          class Sink : public HttpStream {
           public:
            Sink(Impl* impl, httplib::DataSink& sink) : impl_(impl), sink_(sink) {}
            bool Write(std::string_view data) override {
              if (gone_ || data.empty()) return !gone_;
              gone_ = !sink_.write(data.data(), data.size());
              return !gone_;
            }
            bool Open() override {
              if (!gone_ && !sink_.is_writable()) gone_ = true;
              return !gone_ && !impl_->stop_requested.load();
            }

           private:
            Impl* impl_;
            httplib::DataSink& sink_;
            bool gone_ = false;
          } out(raw, sink);
          stream(out);
          sink.done();
          return true;
        });
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
  impl_->serving = true;
  if (impl_->stop_requested) {
    impl_->serving = false;
    return Status::Ok();
  }
  const bool ok = impl_->server->listen_after_bind();
  impl_->serving = false;
  if (!ok && !impl_->stop_requested) return Internal("the server's listening socket failed");
  return Status::Ok();
}

void HttpServer::Stop() {
  if (!impl_ || !impl_->server) return;
  impl_->stop_requested = true;
  // The library ignores a stop before it listens: between Serve()'s look at the flag and the
  // start of listening, wait for it to listen (or for Serve to end), then stop it.
  for (int i = 0; i < 10000 && impl_->serving && !impl_->server->is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  impl_->server->stop();
}

}  // namespace baton
