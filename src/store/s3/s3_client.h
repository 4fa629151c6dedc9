#pragma once
// A small S3 client on libcurl: every request signed with SigV4 (x-amz-content-sha256 always
// set), connections kept alive in a pool of handles, transient failures retried with
// exponential backoff and jitter, and S3's XML errors turned into Statuses that name the
// endpoint, bucket and key.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "baton/status.h"
#include "store/s3/s3_options.h"

namespace baton::s3 {

using Headers = std::vector<std::pair<std::string, std::string>>;

// One S3 request. `key` is empty for an operation on the bucket, `bucket` too for one on the
// service.
struct Request {
  std::string method = "GET";
  std::string bucket;
  std::string key;
  Headers query;          // decoded names and values
  Headers headers;        // signed, like host, x-amz-date and x-amz-content-sha256
  std::string_view body;  // sent as is (it must outlive the call); its SHA-256 signs the request
  // Where the body of a successful response goes (null: Response::body). `restart` is called
  // before a retry sends the request again, so that the sink can start over.
  std::function<Status(std::string_view)> sink;
  std::function<void()> restart;
  // A transfer that moves under 1 KiB/s for this long has stalled and fails (and is retried).
  // A server-side copy sends nothing until the copy is done, so copies wait longer.
  long stall_s = 60;
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // names in lowercase
  std::string body;

  std::string Header(const std::string& name) const;
};

// The Code and Message of an S3 XML error body ("" when the body holds none).
struct ErrorInfo {
  std::string code;
  std::string message;
};
ErrorInfo ParseError(const std::string& body);

// The text of each <tag>...</tag> in `xml`, entities decoded, in order.
std::vector<std::string> XmlValues(const std::string& xml, const std::string& tag);
// Microseconds since the epoch of an S3 time: ISO 8601 as listings give it
// ("2026-12-06T03:20:11.000Z") or an HTTP date as Last-Modified headers do; 0 when unreadable.
int64_t ParseS3Time(const std::string& text);
// The first one, or "".
std::string XmlValue(const std::string& xml, const std::string& tag);
// `text` with &, <, >, " and ' escaped, for request bodies.
std::string XmlEscape(const std::string& text);

// Whether a response with this HTTP status and S3 error code is worth sending again.
bool IsRetryable(long http_status, const std::string& code);
// The Status of a failed response: NotFound for 404/NoSuchKey, FailedPrecondition for denied
// access and other refusals of the request as configured, Unavailable for 5xx and throttling,
// Internal otherwise. `what` names the request ("PUT bucket B, key K").
Status ErrorStatus(long http_status, const ErrorInfo& error, const std::string& endpoint,
                   const std::string& what);

// Thread-safe: any number of threads may send requests at once, each on a connection of its own.
class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const std::string& endpoint() const { return options_.endpoint; }
  const ClientOptions& options() const { return options_; }

  // Sends the request until it succeeds, fails for good, or the retries are spent (the last
  // failure is returned, with the number of attempts). HTTP statuses in `accept` are returned as
  // responses rather than errors (404 for a HEAD that asks whether an object exists).
  Result<Response> Send(const Request& request, std::initializer_list<long> accept = {});

  // Conveniences over Send.
  Status CreateBucket(const std::string& bucket);
  Status PutObject(const std::string& bucket, const std::string& key, std::string_view body,
                   const Headers& headers = {});
  Result<std::string> GetObject(const std::string& bucket, const std::string& key);
  Status DeleteObject(const std::string& bucket, const std::string& key);
  // The keys of the objects under `prefix`, all pages of them.
  Result<std::vector<std::string>> ListObjects(const std::string& bucket,
                                               const std::string& prefix);
  // The same, with each object's size and last modification (microseconds since the epoch).
  struct Listed {
    std::string key;
    uint64_t size = 0;
    int64_t modified_at = 0;
  };
  Result<std::vector<Listed>> ListObjectDetails(const std::string& bucket,
                                                const std::string& prefix);
  // The keys and upload ids of the multipart uploads in progress under `prefix`.
  Result<std::vector<std::pair<std::string, std::string>>> ListMultipartUploads(
      const std::string& bucket, const std::string& prefix);

  // "PUT bucket B, key K", for messages.
  static std::string Describe(const Request& request);

 private:
  void* Acquire();
  void Release(void* handle);
  // One try: a transport failure (the server was not reached or the connection broke) comes back
  // as a Status with `*transport` set; an HTTP response of any status as a Response.
  Result<Response> Perform(void* handle, const Request& request, const std::string& payload_hash,
                           bool* transport);
  std::string Url(const Request& request) const;
  std::string Host(const Request& request) const;
  Headers SignedHeaders(const Request& request, const std::string& payload_hash) const;

  ClientOptions options_;
  std::mutex mu_;
  std::vector<void*> idle_;  // CURL easy handles, each keeping its connection alive
};

}  // namespace baton::s3
