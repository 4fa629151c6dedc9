#pragma once
// KubeClient: the Kubernetes REST API over HTTP(S) (platform/http_client.h), as the kubernetes
// flavor uses it: JSON requests with the server's Status bodies turned into baton errors,
// server-side field validation, retries of 429 (after Retry-After) and 5xx answers with backoff,
// a bounded request rate and number of requests in flight, so that a large run does not flood
// the API server, and streams (watch with resourceVersion, followed pod logs).
// Thread-safe: each call takes a connection of its own from a small pool.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/status.h"
#include "flavors/kubernetes/kube_config.h"
#include "platform/http_client.h"

namespace baton {

struct KubeClientOptions {
  double qps = 20;           // requests a second, sustained
  int burst = 40;            // requests at once above that rate
  int max_in_flight = 8;     // requests waiting for an answer at once (streams not counted)
  int max_attempts = 6;      // per request, counting retries of 429, 5xx and lost connections
  int64_t timeout_ms = 30'000;
};

// How a watch ended.
enum class WatchEnd {
  kStopped,  // on_event or keep_going asked to stop
  kClosed,   // the server ended the stream (timeout, restart): watch again from the last version
  kGone,     // 410: the version is too old; list again
};

class KubeClient {
 public:
  KubeClient(KubeTarget target, KubeClientOptions options = {});
  const KubeTarget& target() const { return target_; }

  // One request to `path` (/api/... or /apis/..., with any query). `body` is sent as JSON with
  // `content_type`. Returns the answer's JSON. Errors carry the server's message:
  // NotFound (404), AlreadyExists (409 AlreadyExists), FailedPrecondition (409 Conflict, 410),
  // InvalidArgument (400, 422), Unauthenticated (401), PermissionDenied (403), Unavailable
  // (429 and 5xx once retries ran out, or no answer).
  // `keep_going`, when given, is asked between retries and while waiting: false gives up.
  Result<nlohmann::json> Call(const std::string& method, const std::string& path, const nlohmann::json* body = nullptr,
                              const std::string& content_type = "application/json",
                              const std::function<bool()>& keep_going = nullptr);
  Result<nlohmann::json> Get(const std::string& path, const std::function<bool()>& keep_going = nullptr) {
    return Call("GET", path, nullptr, "application/json", keep_going);
  }
  // POST with fieldValidation=Strict: a field the server does not know is an error, not ignored.
  Result<nlohmann::json> Create(const std::string& collection, const nlohmann::json& object);
  Result<nlohmann::json> MergePatch(const std::string& path, const nlohmann::json& patch);
  // DELETE with a propagation policy (Foreground, Background, Orphan); NotFound is success.
  Status Delete(const std::string& path, const std::string& propagation);

  // Watches the collection `path` (with `query`, e.g. "labelSelector=..."), from
  // `*resource_version` ("" for the current state as ADDED events first), calling `on_event`
  // with each event's type and object until it returns false, `keep_going` returns false, the
  // server ends the stream, or `timeout_s` passes. Keeps `*resource_version` at the last event's
  // (BOOKMARK events too, which `on_event` does not see). A stream that breaks is not sent again
  // here: the caller watches again from `*resource_version`. An ERROR event other than 410 is
  // Unavailable with the server's message.
  Result<WatchEnd> Watch(const std::string& path, const std::string& query, std::string* resource_version,
                         const std::function<bool(const std::string& type, const nlohmann::json& object)>& on_event,
                         const std::function<bool()>& keep_going, int timeout_s);
  // Streams a body (pods/log?follow=true) to `on_data` until it ends or either callback says
  // stop. A stream that breaks is Unavailable, not sent again (what came would come twice).
  Status Stream(const std::string& path, const std::function<bool(std::string_view)>& on_data,
                const std::function<bool()>& keep_going);

  int64_t requests() const { return requests_; }  // requests sent, retries included

 private:
  class Lease;
  // What an exec plugin hands out (client.authentication.k8s.io ExecCredential status): a bearer
  // token, a client certificate and key (PEM), or both.
  struct ExecCredential {
    std::string token, cert_pem, key_pem;
  };
  // The Authorization header's value ("" for none) and the client certificate (PEM, "" for the
  // kubeconfig's own TLS settings) of the next request.
  struct Credentials {
    std::string authorization, cert_pem, key_pem;
  };
  Result<Credentials> CurrentCredentials();
  Result<ExecCredential> ExecCredentials();  // from the exec plugin, cached until they expire
  void WaitForRate();                        // the token bucket
  // A connection presenting client certificate `cert_pem` ("" for the kubeconfig's TLS).
  std::unique_ptr<HttpClient> TakeConnection(const Credentials& creds);
  void ReturnConnection(std::unique_ptr<HttpClient> c, const std::string& cert_pem);
  // Sends `call`, retrying what may be retried; a stream (not `counted`) is sent once.
  Result<HttpReply> Send(HttpCall call, bool counted, const std::function<bool()>& keep_going = nullptr);
  static Status ErrorOf(const HttpReply& reply, const std::string& what);

  KubeTarget target_;
  KubeClientOptions opts_;
  std::atomic<int64_t> requests_{0};

  std::mutex mu_;  // guards what follows
  std::condition_variable cv_;
  std::vector<std::unique_ptr<HttpClient>> idle_;
  std::string idle_cert_;  // the client certificate the idle connections present
  int in_flight_ = 0;
  double tokens_ = 0;
  int64_t refilled_us_ = 0;
  std::optional<ExecCredential> exec_cred_;
  int64_t exec_expires_us_ = 0;  // 0: never
  bool exec_stale_ = false;      // a 401 came with it
};

// Member `key` of object `o`; an empty object when `o` is not an object or lacks it (API objects
// leave out what is empty).
const nlohmann::json& Field(const nlohmann::json& o, const char* key);
// The string member `key` of `o`, or "".
std::string FieldText(const nlohmann::json& o, const char* key);

// Kubernetes names from baton's: lower-case alphanumerics and '-', starting and ending with an
// alphanumeric, at most `max` characters (a hash of the whole keeps shortened names distinct).
std::string KubeName(const std::string& s, size_t max = 63);
// A label value: [A-Za-z0-9._-], at most 63, alphanumeric at both ends (a hash when it must
// be shortened); "" stays "".
std::string KubeLabelValue(const std::string& s);

}  // namespace baton
