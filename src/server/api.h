#pragma once
// The REST API of `baton server` (/api/v1, JSON) over one metadata store. Every route but
// /api/v1/health needs a token (server/auth.h). Errors are {"error": {"code", "message"}} with
// the HTTP status of their kind. docs/server.md lists the routes; /api/v1/openapi.json describes
// them.

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "baton/metadata_store.h"
#include "platform/http_server.h"
#include "server/router.h"

namespace baton::server {

// Store connections for the request threads: a store is not thread-safe, so each request
// borrows one of its own, opened from the URI when none is free. At most `most` are open at once
// (the database's own limit is finite, and more connections than it has cores make no request
// faster): a Borrow beyond it waits up to `wait_us` for one to come back, then answers
// Unavailable, which clients retry.
class StorePool {
 public:
  explicit StorePool(std::string uri, size_t most = 32, int64_t wait_us = 10'000'000)
      : uri_(std::move(uri)), most_(std::max<size_t>(1, most)), wait_us_(wait_us) {}
  class Lease {
   public:
    Lease(StorePool* pool, std::unique_ptr<MetadataStore> store)
        : pool_(pool), store_(std::move(store)) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), store_(std::move(o.store_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    MetadataStore& operator*() const { return *store_; }
    MetadataStore* operator->() const { return store_.get(); }
    // Closes the connection instead of returning it (a transaction left open is rolled back).
    void Discard();

   private:
    StorePool* pool_;
    std::unique_ptr<MetadataStore> store_;
  };
  Result<Lease> Borrow();
  const std::string& uri() const { return uri_; }

 private:
  void Closed();  // a connection was closed instead of returned

  std::string uri_;
  const size_t most_;
  const int64_t wait_us_;
  std::mutex mu_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<MetadataStore>> free_;
  size_t open_ = 0;  // free or lent
};

// One line per request, for an access log: method, path, status, user, microseconds.
using AccessLog = std::function<void(const HttpRequest&, int status, const std::string& user,
                                     int64_t micros)>;
// What went wrong inside the server (a store that cannot be reached, an internal error): the
// client is told only that it did.
using ErrorLog = std::function<void(const std::string& message)>;

class StoreApi;
class PrincipalCache;
class EventHub;
class ArtifactFiles;
class RunLogCopies;
class RunStarter;
class Scheduler;

struct ApiOptions {
  // A store API batch whose client sends nothing for this long is rolled back.
  int64_t batch_timeout_us = 30'000'000;
  // The workspace the server starts runs in (resumes, schedules), recording into the store it
  // serves; "" for none, and then `runs_disabled` says why.
  std::string workspace_root;
  std::string runs_disabled = "this server starts no runs: it was started outside a workspace";
  std::string baton_binary = "baton";  // the CLI, for the runs it starts
  int64_t events_interval_us = 500'000;
  // How long a token's principal, once read from the store, is trusted without reading it again
  // (PrincipalCache); 0 reads it for every request.
  int64_t auth_cache_us = 1'000'000;
  // The most connections to the store open at once for requests (StorePool): more than the
  // database has cores only adds waiting for its write lock (100 clients recording through a
  // 2-core server and database: 2,660 step updates a second on 4 connections, 1,930 on 16).
  int store_connections = 4;
  // Store batches hold a connection each from a pool of their own, from their begin to their
  // end, so that they never wait for the requests' (nor those for them); beyond this many at
  // once a batch is refused with 503, which clients retry.
  int batch_connections = 64;
  // Where the logs that workspaces on other machines send are kept (RunLogCopies); "" for
  // nowhere, and then `no_log_copies` says why.
  std::string log_copies_dir;
  std::string no_log_copies = "this server keeps no logs sent to it: it has no workspace (give it --logs DIR)";
  // The schedules' clock (microseconds since the epoch): the wall clock unless a test sets one.
  std::function<int64_t()> now_us;
  // What the scheduler did (a run started, a time passed over), one line each.
  std::function<void(const std::string&)> notes;
};

class Api {
 public:
  // Opens the store once (creating or migrating its schema), to fail early.
  static Result<std::unique_ptr<Api>> Open(const std::string& metadata_uri, AccessLog log = nullptr,
                                           ErrorLog errors = nullptr, ApiOptions options = {});
  ~Api();
  // Thread-safe.
  HttpResponse Handle(const HttpRequest& request);
  const Router& router() const { return router_; }
  // Before the server stops: lets the store batches that are open end (new ones are refused, to
  // begin on the next server), waiting up to `timeout_us`. True when none is left open.
  bool Drain(int64_t timeout_us);

 private:
  Api(std::string uri, AccessLog log, ErrorLog errors, ApiOptions options);
  void AddRoutes();
  // The response for a failure: its HTTP status and message, except that what the client need
  // not know (internal errors; any failure before the request is authenticated, which may name
  // the store) is logged and answered in general terms.
  HttpResponse Failure(const Status& st, bool authenticated) const;

  StorePool pool_;
  StorePool batch_pool_;
  std::unique_ptr<PrincipalCache> principals_;
  AccessLog log_;
  ErrorLog errors_;
  std::unique_ptr<RunLogCopies> log_copies_;
  Router router_;
  std::unique_ptr<StoreApi> store_api_;
  std::unique_ptr<EventHub> events_;
  std::unique_ptr<ArtifactFiles> files_;
  std::unique_ptr<RunStarter> starter_;
  std::unique_ptr<Scheduler> scheduler_;
};

// The OpenAPI 3 document of the API.
std::string OpenApiDocument();

}  // namespace baton::server
