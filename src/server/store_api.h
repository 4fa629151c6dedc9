#pragma once
// The server's store API (POST /api/v1/store/METHOD, store/remote/store_rpc.h): what a metadata
// URI https://HOST:PORT sends. Each call is authenticated, then authorized by its method and
// arguments:
//   viewer  the reads (runs, step runs, artifacts, lineage, components, stacks, settings)
//   editor  also the writes (snapshots, runs and their records, components, stacks, settings,
//           plugins) and batches
//   admin   also deletes, and users and tokens
// A run token may call only what a step of its run needs, on its own run: its run, snapshot and
// step runs, recording them, the outputs of its run's steps, and cache lookups (FindCacheHit by
// key, and the outputs and records of the completed step run that key names); and read the
// workspace's stacks, components and settings. Everything else is refused.
//
// Batches are held here: BeginBatch lends the caller a store connection of its own with the
// transaction open, until EndBatch commits it. A batch left without a request for
// `batch_timeout_us` (its client died) is rolled back, as a database would when the client's
// connection closed.

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "platform/http_server.h"
#include "server/api.h"
#include "server/auth.h"
#include "server/downloads.h"
#include "store/record_codec.h"

namespace baton::server {

class StoreApi {
 public:
  // `principals` (the server's, shared with its other routes) is told of changes to users and
  // tokens made through this API.
  StoreApi(StorePool* pool, StorePool* batch_pool, PrincipalCache* principals,
           RunLogCopies* logs, int64_t batch_timeout_us);
  ~StoreApi();
  StoreApi(const StoreApi&) = delete;
  StoreApi& operator=(const StoreApi&) = delete;

  struct Reply {
    Result<Json> result = Json();
    bool authenticated = false;  // whether the failure, if any, came after authentication
    std::string user;
    bool retry = false;  // the failure did nothing: the same request may be sent again
  };
  // Thread-safe.
  Reply Handle(const HttpRequest& request, const std::string& method);

  // Every method, for the OpenAPI document.
  static std::vector<std::string> Methods();
  // Batches open now (for tests and the access log).
  size_t open_batches() const;
  // For a graceful stop: refuses new batches (503, which clients retry, reaching the next
  // server) and waits up to `timeout_us` for the open ones to end. True when none is left.
  bool Drain(int64_t timeout_us);

 private:
  struct Batch {
    std::mutex mu;  // one request at a time
    std::unique_ptr<StorePool::Lease> lease;
    std::string token_id;
    int64_t last_used_us = 0;
    bool changed_credentials = false;  // users or tokens changed in it: forget principals at its end
  };
  void Call(const Principal& p, const std::string& method, Json* args, const std::string& cache_key,
            MetadataStore& store, const std::string& batch_id, Reply* reply);
  std::shared_ptr<Batch> FindBatch(const std::string& id);
  void Reap();

  StorePool* pool_;
  StorePool* batch_pool_;  // the connections batches hold
  PrincipalCache* principals_;
  RunLogCopies* logs_;  // where AppendRunLog writes
  const int64_t batch_timeout_us_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Batch>> batches_;
  bool stopping_ = false;
  bool draining_ = false;
  std::condition_variable ended_;  // a batch ended
  std::condition_variable wake_;
  std::thread reaper_;
};

}  // namespace baton::server
