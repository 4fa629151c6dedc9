#include "store/s3/s3_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <thread>

#include "baton/hash.h"
#include "platform/client_libs.h"

namespace baton::s3 {
namespace {

const char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string DecodeEntities(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string::npos || semi - i > 10) {
      out += s[i];
      continue;
    }
    const std::string name = s.substr(i + 1, semi - i - 1);
    if (name == "amp")
      out += '&';
    else if (name == "lt")
      out += '<';
    else if (name == "gt")
      out += '>';
    else if (name == "quot")
      out += '"';
    else if (name == "apos")
      out += '\'';
    else if (name.size() > 1 && name[0] == '#') {
      const unsigned long cp = name[1] == 'x' ? std::strtoul(name.c_str() + 2, nullptr, 16)
                                              : std::strtoul(name.c_str() + 1, nullptr, 10);
      if (cp < 0x80) out += static_cast<char>(cp);  // S3 escapes only ASCII this way
    } else {
      out += s.substr(i, semi - i + 1);
    }
    i = semi;
  }
  return out;
}

// x-amz-date: YYYYMMDDTHHMMSSZ, now.
std::string AmzDate() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto day = floor<days>(now);
  const year_month_day ymd{day};
  const hh_mm_ss hms{floor<seconds>(now - day)};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

// Exponential backoff with jitter: half of 200 ms * 2^(attempt-1) (at most 10 s) plus a random
// part of the other half, so that clients that failed together do not retry together.
std::chrono::milliseconds Backoff(int attempt) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const int64_t full = std::min<int64_t>(10000, int64_t{200} << std::min(attempt - 1, 10));
  std::uniform_int_distribution<int64_t> jitter(0, full / 2);
  return std::chrono::milliseconds(full / 2 + jitter(rng));
}

bool RetryableTransport(CURLcode code) {
  switch (code) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_WRITE_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      return false;
    default:
      return true;
  }
}

// The state of one transfer, shared with libcurl's callbacks.
struct Transfer {
  CURL* curl = nullptr;
  const Request* request = nullptr;
  size_t sent = 0;
  Response* response = nullptr;
  Status sink_status;
  int sinking = -1;  // -1: not decided yet (the status line decides)
};

size_t ReadBody(char* buf, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  const std::string_view body = t->request->body;
  const size_t len = std::min(size * n, body.size() - t->sent);
  std::copy_n(body.data() + t->sent, len, buf);
  t->sent += len;
  return len;
}

int SeekBody(void* p, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(p);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > t->request->body.size())
    return CURL_SEEKFUNC_CANTSEEK;
  t->sent = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t WriteBody(char* data, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  if (t->sinking < 0) {
    long code = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
    t->sinking = t->request->sink && code >= 200 && code < 300;
  }
  if (!t->sinking) {
    t->response->body.append(data, size * n);
    return size * n;
  }
  t->sink_status = t->request->sink(std::string_view(data, size * n));
  return t->sink_status.ok() ? size * n : 0;
}

size_t ReadHeader(char* data, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {
    t->response->headers.clear();  // a new response (after 100 Continue)
  } else if (size_t colon = line.find(':'); colon != std::string::npos) {
    size_t v = line.find_first_not_of(' ', colon + 1);
    t->response->headers[Lower(line.substr(0, colon))] =
        v == std::string::npos ? "" : line.substr(v);
  }
  return size * n;
}

std::once_flag curl_init;

}  // namespace

std::string Response::Header(const std::string& name) const {
  auto it = headers.find(Lower(name));
  return it == headers.end() ? "" : it->second;
}

std::vector<std::string> XmlValues(const std::string& xml, const std::string& tag) {
  std::vector<std::string> out;
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  size_t at = 0;
  while ((at = xml.find(open, at)) != std::string::npos) {
    const size_t start = at + open.size();
    const size_t end = xml.find(close, start);
    if (end == std::string::npos) break;
    out.push_back(DecodeEntities(xml.substr(start, end - start)));
    at = end + close.size();
  }
  return out;
}

std::string XmlValue(const std::string& xml, const std::string& tag) {
  auto v = XmlValues(xml, tag);
  return v.empty() ? "" : v.front();
}

std::string XmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

ErrorInfo ParseError(const std::string& body) {
  if (body.find("<Error>") == std::string::npos) return {};
  return {XmlValue(body, "Code"), XmlValue(body, "Message")};
}

bool IsRetryable(long http_status, const std::string& code) {
  if (http_status >= 500 || http_status == 429) return true;
  return code == "SlowDown" || code == "RequestTimeout" || code == "Throttling" ||
         code == "ThrottlingException" || code == "RequestLimitExceeded" ||
         code == "InternalError" || code == "ServiceUnavailable";
}

Status ErrorStatus(long http_status, const ErrorInfo& error, const std::string& endpoint,
                   const std::string& what) {
  std::string detail = error.code.empty() ? "HTTP " + std::to_string(http_status) : error.code;
  if (!error.message.empty()) detail += " (" + error.message + ")";
  if (error.code == "NoSuchBucket")
    return FailedPrecondition(endpoint + " has no " + what.substr(0, what.find(',')) + ": " +
                              detail);
  if (http_status == 404) return NotFound(endpoint + " has no object for " + what + ": " + detail);
  if (IsRetryable(http_status, error.code))
    return Unavailable(endpoint + " is unavailable for " + what + ": " + detail);
  if (http_status == 403)
    return FailedPrecondition("access denied by " + endpoint + " for " + what + ": " + detail);
  if (http_status == 400 &&
      (error.code == "ExpiredToken" || error.code == "InvalidToken" ||
       error.code == "AuthorizationHeaderMalformed" || error.code == "InvalidBucketName"))
    return FailedPrecondition(endpoint + " refused " + what + ": " + detail);
  if (http_status == 409 || http_status == 412)
    return FailedPrecondition(endpoint + " refused " + what + ": " + detail);
  return Internal(endpoint + " answered " + what + " with " + detail);
}

// libcurl is loaded at the first request, not when a store opens: a step that reads and writes
// no artifact (and every command that only opens the store) never loads it and the libraries
// it brings.
Client::Client(ClientOptions options) : options_(std::move(options)) {}

Client::~Client() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* Client::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void Client::Release(void* handle) {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(handle);
}

std::string Client::Describe(const Request& r) {
  if (r.bucket.empty()) return "the service";
  return "bucket " + r.bucket + (r.key.empty() ? "" : ", key " + r.key);
}

std::string Client::Host(const Request& r) const {
  const std::string host = options_.endpoint.substr(options_.endpoint.find("://") + 3);
  return options_.virtual_host && !r.bucket.empty() ? r.bucket + "." + host : host;
}

std::string Client::Url(const Request& r) const {
  const std::string scheme = options_.endpoint.substr(0, options_.endpoint.find("://"));
  std::string url = scheme + "://" + Host(r);
  if (!options_.virtual_host && !r.bucket.empty()) url += "/" + UriEncode(r.bucket, false);
  if (!r.key.empty()) url += "/" + UriEncode(r.key, true);
  if (url.size() == scheme.size() + 3 + Host(r).size()) url += "/";
  char sep = '?';
  for (const auto& [k, v] : r.query) {
    url += sep + UriEncode(k, false) + "=" + UriEncode(v, false);
    sep = '&';
  }
  return url;
}

// The request's headers, then host, x-amz-date, x-amz-content-sha256, the session token and
// Authorization: everything the signature covers, and the signature.
Headers Client::SignedHeaders(const Request& r, const std::string& payload_hash) const {
  SignRequest sr;
  sr.method = r.method;
  sr.path =
      options_.virtual_host || r.bucket.empty() ? "/" : "/" + r.bucket + (r.key.empty() ? "" : "/");
  if (!r.key.empty()) sr.path += r.key;
  sr.query = r.query;
  sr.headers = r.headers;
  sr.headers.emplace_back("host", Host(r));
  SignOptions so;
  so.region = options_.region;
  so.timestamp = AmzDate();
  sr.headers.emplace_back("x-amz-date", so.timestamp);
  sr.headers.emplace_back("x-amz-content-sha256", payload_hash);
  if (!options_.credentials.session_token.empty())
    sr.headers.emplace_back("x-amz-security-token", options_.credentials.session_token);
  sr.payload_hash = payload_hash;
  Signature sig = Sign(sr, options_.credentials, so);
  Headers out = sr.headers;
  out.emplace_back("Authorization", sig.authorization);
  return out;
}

Result<Response> Client::Perform(void* handle, const Request& r, const std::string& payload_hash,
                                 bool* transport) {
  CURL* curl = static_cast<CURL*>(handle);
  curl_easy_reset(curl);  // keeps the connection
  Response response;
  Transfer t{curl, &r, 0, &response, Status::Ok(), -1};
  curl_slist* list = nullptr;
  for (const auto& [k, v] : SignedHeaders(r, payload_hash))
    list = curl_slist_append(list, (k + ": " + v).c_str());
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  const std::string url = Url(r);
  char error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);  // a stalled transfer fails
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, r.stall_s);
  curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L << 10);
  curl_easy_setopt(curl, CURLOPT_UPLOAD_BUFFERSIZE, 2L << 20);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ReadHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  if (r.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (r.method == "PUT" || r.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadBody);
    curl_easy_setopt(curl, CURLOPT_READDATA, &t);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, SeekBody);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &t);
    if (r.method == "PUT") {
      curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    } else {
      curl_easy_setopt(curl, CURLOPT_POST, 1L);
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    }
  } else if (r.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  }
  const CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(list);
  if (!t.sink_status.ok()) return t.sink_status;
  if (code != CURLE_OK) {
    *transport = RetryableTransport(code);
    return Unavailable("cannot reach " + options_.endpoint + " for " + Describe(r) + " (" +
                       r.method + "): " + curl_easy_strerror(code) +
                       (error[0] ? std::string(": ") + error : ""));
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

Result<Response> Client::Send(const Request& request, std::initializer_list<long> accept) {
  BATON_RETURN_IF_ERROR(LoadHttpClient());
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  void* handle = Acquire();
  const std::string payload_hash = request.body.empty() ? kEmptySha256 : Sha256Hex(request.body);
  Status last;
  int attempts = 0;
  for (int attempt = 0; attempt <= options_.retries; ++attempt) {
    if (attempt > 0) {
      std::this_thread::sleep_for(Backoff(attempt));
      if (request.restart) request.restart();
    }
    ++attempts;
    bool transport = false;
    auto r = Perform(handle, request, payload_hash, &transport);
    if (!r.ok()) {
      last = r.status();
      if (transport) continue;
      break;
    }
    if ((r->status >= 200 && r->status < 300) ||
        std::find(accept.begin(), accept.end(), r->status) != accept.end()) {
      Release(handle);
      return r;
    }
    ErrorInfo error = ParseError(r->body);
    if (error.code.empty() && request.method == "HEAD" && (r->status == 400 || r->status == 403)) {
      // A HEAD response has no body to say why; the same GET of one byte does.
      Request probe = request;
      probe.method = "GET";
      probe.headers.emplace_back("Range", "bytes=0-0");
      probe.sink = nullptr;
      bool ignored = false;
      if (auto p = Perform(handle, probe, kEmptySha256, &ignored); p.ok())
        error = ParseError(p->body);
    }
    last = ErrorStatus(r->status, error, options_.endpoint, Describe(request));
    if (!IsRetryable(r->status, error.code)) break;
  }
  Release(handle);
  if (attempts > 1)
    last = Status(last.code(),
                  last.message() + "; gave up after " + std::to_string(attempts) + " attempts");
  return last;
}

Status Client::CreateBucket(const std::string& bucket) {
  Request r;
  r.method = "PUT";
  r.bucket = bucket;
  std::string body;
  if (options_.region != "us-east-1") {
    body =
        "<CreateBucketConfiguration "
        "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>" +
        XmlEscape(options_.region) + "</LocationConstraint></CreateBucketConfiguration>";
    r.body = body;
  }
  auto resp = Send(r, {409});
  if (!resp.ok()) return resp.status();
  if (resp->status == 409 && ParseError(resp->body).code != "BucketAlreadyOwnedByYou")
    return ErrorStatus(409, ParseError(resp->body), options_.endpoint, Describe(r));
  return Status::Ok();
}

Status Client::PutObject(const std::string& bucket, const std::string& key, std::string_view body,
                         const Headers& headers) {
  Request r;
  r.method = "PUT";
  r.bucket = bucket;
  r.key = key;
  r.body = body;
  r.headers = headers;
  return Send(r).status();
}

Result<std::string> Client::GetObject(const std::string& bucket, const std::string& key) {
  Request r;
  r.bucket = bucket;
  r.key = key;
  BATON_ASSIGN_OR_RETURN(Response resp, Send(r));
  return std::move(resp.body);
}

Status Client::DeleteObject(const std::string& bucket, const std::string& key) {
  Request r;
  r.method = "DELETE";
  r.bucket = bucket;
  r.key = key;
  return Send(r, {404}).status();
}

Result<std::vector<std::string>> Client::ListObjects(const std::string& bucket,
                                                     const std::string& prefix) {
  BATON_ASSIGN_OR_RETURN(std::vector<Listed> listed, ListObjectDetails(bucket, prefix));
  std::vector<std::string> out;
  for (Listed& l : listed) out.push_back(std::move(l.key));
  return out;
}

Result<std::vector<Client::Listed>> Client::ListObjectDetails(const std::string& bucket,
                                                              const std::string& prefix) {
  std::vector<Listed> out;
  std::string token;
  for (;;) {
    Request r;
    r.bucket = bucket;
    r.query = {{"list-type", "2"}, {"prefix", prefix}};
    if (!token.empty()) r.query.emplace_back("continuation-token", token);
    BATON_ASSIGN_OR_RETURN(Response resp, Send(r));
    for (const auto& c : XmlValues(resp.body, "Contents"))
      out.push_back({XmlValue(c, "Key"), std::strtoull(XmlValue(c, "Size").c_str(), nullptr, 10),
                     ParseS3Time(XmlValue(c, "LastModified"))});
    token = XmlValue(resp.body, "NextContinuationToken");
    if (XmlValue(resp.body, "IsTruncated") != "true" || token.empty()) break;
  }
  return out;
}

int64_t ParseS3Time(const std::string& text) {
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) {
    tm = std::tm{};
    rest = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S", &tm);
  }
  if (rest == nullptr) return 0;
  int64_t micros = static_cast<int64_t>(timegm(&tm)) * 1000000;
  if (*rest == '.') {  // a fraction of a second: milliseconds from S3, any digits elsewhere
    int64_t scale = 100000;
    for (const char* c = rest + 1; *c >= '0' && *c <= '9' && scale > 0; ++c, scale /= 10)
      micros += (*c - '0') * scale;
  }
  return micros;
}

Result<std::vector<std::pair<std::string, std::string>>> Client::ListMultipartUploads(
    const std::string& bucket, const std::string& prefix) {
  std::vector<std::pair<std::string, std::string>> out;
  std::string key_marker, id_marker;
  for (;;) {
    Request r;
    r.bucket = bucket;
    r.query = {{"uploads", ""}, {"prefix", prefix}};
    if (!key_marker.empty())
      r.query.insert(r.query.end(), {{"key-marker", key_marker}, {"upload-id-marker", id_marker}});
    BATON_ASSIGN_OR_RETURN(Response resp, Send(r));
    for (const auto& upload : XmlValues(resp.body, "Upload"))
      out.emplace_back(XmlValue(upload, "Key"), XmlValue(upload, "UploadId"));
    if (XmlValue(resp.body, "IsTruncated") != "true") break;
    key_marker = XmlValue(resp.body, "NextKeyMarker");
    id_marker = XmlValue(resp.body, "NextUploadIdMarker");
    if (key_marker.empty()) break;
  }
  return out;
}

}  // namespace baton::s3
