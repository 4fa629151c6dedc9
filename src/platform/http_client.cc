#include "platform/http_client.h"

#include <curl/curl.h>

#include <strings.h>

#include <cctype>
#include <cstdlib>
#include <mutex>

#include "platform/client_libs.h"

namespace baton {
namespace {

std::once_flag curl_init;

struct Transfer {
  const HttpCall* call;
  HttpReply* reply;
  long status = 0;  // of the final answer, known once its headers are in
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new answer (after a redirect or 100-continue): its status line.
    const size_t sp = line.find(' ');
    t->status = sp == std::string_view::npos ? 0 : std::atol(std::string(line.substr(sp + 1, 3)).c_str());
    t->reply->retry_after.clear();
  } else if (line.size() > 12 && strncasecmp(line.data(), "Retry-After:", 12) == 0) {
    std::string v(line.substr(12));
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.erase(v.begin());
    t->reply->retry_after = v;
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  // Errors are collected whole, whatever the caller streams.
  if (t->call->on_data && t->status >= 200 && t->status < 300) {
    if (!t->call->on_data(std::string_view(data, bytes))) {
      t->reply->ended_early = true;
      return 0;  // ends the transfer
    }
    return bytes;
  }
  t->reply->body.append(data, bytes);
  return bytes;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->call->keep_going && !t->call->keep_going()) {
    t->reply->ended_early = true;
    return 1;  // aborts
  }
  return 0;
}

// PEM text given in memory. A libcurl that cannot take it (older than 7.77, or a TLS backend
// without blob support) is an error, not a connection without the certificate.
Status SetBlob(CURL* curl, CURLoption option, const std::string& pem, const char* what) {
  curl_blob blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
  const CURLcode code = curl_easy_setopt(curl, option, &blob);
  if (code != CURLE_OK)
    return FailedPrecondition(std::string("this libcurl cannot take a ") + what + " from memory (" + curl_easy_strerror(code) +
                              "); give it as a file instead");
  return Status::Ok();
}

}  // namespace

HttpClient::~HttpClient() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Result<HttpReply> HttpClient::Perform(const HttpCall& call) {
  if (curl_ == nullptr) {
    BATON_RETURN_IF_ERROR(LoadHttpClient());
    std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
    if (curl_ == nullptr) return Internal("cannot make an HTTP client handle");
  }
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);  // keeps the connection
  HttpReply reply;
  Transfer t{&call, &reply};
  char error[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  for (const auto& h : call.headers) headers = curl_slist_append(headers, h.c_str());
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(curl, CURLOPT_URL, call.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(call.connect_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(call.timeout_ms));
  if (call.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (call.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  }
  if (call.method != "GET" && call.method != "HEAD" && (!call.body.empty() || call.method != "DELETE")) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, call.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  if (call.keep_going) {
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
  }
  if (call.idle_timeout_s > 0) {
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(call.idle_timeout_s));
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  }
  Status tls;
  if (!tls_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, tls_.ca_file.c_str());
  if (!tls_.ca_pem.empty() && tls.ok()) tls = SetBlob(curl, CURLOPT_CAINFO_BLOB, tls_.ca_pem, "CA certificate");
  if (!tls_.cert_file.empty()) curl_easy_setopt(curl, CURLOPT_SSLCERT, tls_.cert_file.c_str());
  if (!tls_.cert_pem.empty() && tls.ok()) tls = SetBlob(curl, CURLOPT_SSLCERT_BLOB, tls_.cert_pem, "client certificate");
  if (!tls_.key_file.empty()) curl_easy_setopt(curl, CURLOPT_SSLKEY, tls_.key_file.c_str());
  if (!tls_.key_pem.empty() && tls.ok()) tls = SetBlob(curl, CURLOPT_SSLKEY_BLOB, tls_.key_pem, "client key");
  if (!tls.ok()) {
    curl_slist_free_all(headers);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
    return tls;
  }
  if (tls_.insecure) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  const CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);  // it lives on this stack only
  const std::string message = error[0] ? error : curl_easy_strerror(code);
  if (reply.ended_early) {
    reply.status = t.status;
    return reply;
  }
  if (code != CURLE_OK) {
    return Unavailable(call.method + " " + call.url + ": " + message);
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

}  // namespace baton
