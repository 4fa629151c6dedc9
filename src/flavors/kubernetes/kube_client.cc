#include "flavors/kubernetes/kube_client.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <thread>

#include "baton/format.h"
#include "baton/hash.h"
#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/process.h"

namespace baton {

using Json = nlohmann::json;

namespace {

void SleepUs(int64_t us) { std::this_thread::sleep_for(std::chrono::microseconds(us)); }

// Seconds since the epoch of an RFC 3339 time ("2026-12-07T10:00:00Z", fractions and offsets
// allowed), or 0.
int64_t ParseRfc3339(const std::string& s) {
  std::tm tm{};
  int y, mo, d, h, mi, sec;
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &sec) != 6) return 0;
  tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = sec;
  int64_t t = timegm(&tm);
  const size_t zone = s.find_first_of("Z+-", 19);
  if (zone != std::string::npos && s[zone] != 'Z') {
    int oh = 0, om = 0;
    if (std::sscanf(s.c_str() + zone + 1, "%d:%d", &oh, &om) == 2) t -= (s[zone] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
  }
  return t;
}

}  // namespace

KubeClient::KubeClient(KubeTarget target, KubeClientOptions options)
    : target_(std::move(target)), opts_(options) {
  tokens_ = opts_.burst;
  refilled_us_ = MonotonicMicros();
}

void KubeClient::WaitForRate() {
  if (opts_.qps <= 0) return;
  for (;;) {
    int64_t wait_us;
    {
      std::lock_guard<std::mutex> l(mu_);
      const int64_t now = MonotonicMicros();
      tokens_ = std::min<double>(opts_.burst, tokens_ + (now - refilled_us_) * opts_.qps / 1e6);
      refilled_us_ = now;
      if (tokens_ >= 1) {
        tokens_ -= 1;
        return;
      }
      wait_us = static_cast<int64_t>((1 - tokens_) * 1e6 / opts_.qps) + 1;
    }
    SleepUs(wait_us);
  }
}

std::unique_ptr<HttpClient> KubeClient::TakeConnection(const Credentials& creds) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (creds.cert_pem != idle_cert_) {
      idle_.clear();  // they present a certificate the plugin has replaced
      idle_cert_ = creds.cert_pem;
    }
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  HttpTls tls = target_.tls;
  if (!creds.cert_pem.empty()) {
    tls.cert_file.clear();
    tls.key_file.clear();
    tls.cert_pem = creds.cert_pem;
    tls.key_pem = creds.key_pem;
  }
  return std::make_unique<HttpClient>(tls);
}

void KubeClient::ReturnConnection(std::unique_ptr<HttpClient> c, const std::string& cert_pem) {
  std::lock_guard<std::mutex> l(mu_);
  if (idle_.size() < 8 && cert_pem == idle_cert_) idle_.push_back(std::move(c));
}

Result<KubeClient::ExecCredential> KubeClient::ExecCredentials() {
  {
    std::lock_guard<std::mutex> l(mu_);
    const int64_t now = NowMicros();
    if (exec_cred_ && !exec_stale_ && (exec_expires_us_ == 0 || exec_expires_us_ - 10'000'000 > now))
      return *exec_cred_;
  }
  const KubeExecPlugin& p = *target_.exec;
  std::vector<std::string> argv = {p.command};
  // A plugin that waits for a person (a browser login) must not hold baton forever.
  if (FindInPath("timeout")) argv.insert(argv.begin(), {"timeout", "120"});
  argv.insert(argv.end(), p.args.begin(), p.args.end());
  std::vector<std::string> env = p.env;
  env.push_back("KUBERNETES_EXEC_INFO=" +
                Json{{"apiVersion", p.api_version}, {"kind", "ExecCredential"}, {"spec", {{"interactive", false}}}}.dump());
  auto r = RunCommand(argv, env);
  const std::string hint = p.install_hint.empty() ? "" : " (" + p.install_hint + ")";
  if (!r.ok()) return Unauthenticated("cannot run the credential plugin " + p.command + hint + ": " + r.status().message());
  if (r->exit_code != 0)
    return Unauthenticated("the credential plugin " + p.command + " failed (exit " + std::to_string(r->exit_code) + ")" + hint + ": " +
                           Trim(r->err));
  Json cred = Json::parse(r->out, nullptr, false);
  if (!cred.is_object() || !cred.contains("status") || !cred["status"].is_object())
    return Unauthenticated("the credential plugin " + p.command + " printed no ExecCredential");
  const Json& st = cred["status"];
  ExecCredential got{FieldText(st, "token"), FieldText(st, "clientCertificateData"), FieldText(st, "clientKeyData")};
  if (got.cert_pem.empty() != got.key_pem.empty())
    return Unauthenticated("the credential plugin " + p.command + " gave " +
                           (got.cert_pem.empty() ? "a client key without its certificate" : "a client certificate without its key"));
  if (got.token.empty() && got.cert_pem.empty())
    return Unauthenticated("the credential plugin " + p.command + " gave neither a token nor a client certificate");
  std::lock_guard<std::mutex> l(mu_);
  exec_cred_ = got;
  exec_stale_ = false;
  const int64_t expires = ParseRfc3339(FieldText(st, "expirationTimestamp"));
  exec_expires_us_ = expires > 0 ? expires * 1'000'000 : 0;
  return got;
}

Result<KubeClient::Credentials> KubeClient::CurrentCredentials() {
  Credentials c;
  if (target_.exec) {
    BATON_ASSIGN_OR_RETURN(ExecCredential e, ExecCredentials());
    if (!e.token.empty()) c.authorization = "Bearer " + e.token;
    c.cert_pem = std::move(e.cert_pem);
    c.key_pem = std::move(e.key_pem);
  } else if (!target_.token_file.empty()) {
    auto t = fs::ReadFile(target_.token_file);
    if (!t.ok()) return Unauthenticated("cannot read the token file " + target_.token_file + ": " + t.status().message());
    c.authorization = "Bearer " + Trim(*t);
  } else if (!target_.token.empty()) {
    c.authorization = "Bearer " + target_.token;
  }
  return c;
}

Status KubeClient::ErrorOf(const HttpReply& reply, const std::string& what) {
  Json body = Json::parse(reply.body, nullptr, false);
  std::string message, reason;
  message = FieldText(body, "message");
  reason = FieldText(body, "reason");
  if (message.empty()) message = reply.body.substr(0, 300);
  message = "Kubernetes API: " + what + ": " + message + " (HTTP " + std::to_string(reply.status) + ")";
  switch (reply.status) {
    case 400:
    case 422: return InvalidArgument(message);
    case 401: return Unauthenticated(message);
    case 403: return PermissionDenied(message);
    case 404: return NotFound(message);
    case 409: return reason == "AlreadyExists" ? AlreadyExists(message) : FailedPrecondition(message);
    case 410: return FailedPrecondition(message);
    default: return Unavailable(message);
  }
}

Result<HttpReply> KubeClient::Send(HttpCall call, bool counted, const std::function<bool()>& keep_going) {
  int64_t backoff_us = 200'000;
  const int max_attempts = counted ? opts_.max_attempts : 1;
  // Sleeps `us`, unless the caller gives up meanwhile; false then.
  const auto pause = [&](int64_t us) {
    for (const int64_t until = MonotonicMicros() + us; MonotonicMicros() < until;) {
      if (keep_going && !keep_going()) return false;
      SleepUs(std::min<int64_t>(100'000, until - MonotonicMicros()));
    }
    return true;
  };
  if (keep_going && !call.keep_going) call.keep_going = keep_going;
  for (int attempt = 1;; ++attempt) {
    WaitForRate();
    BATON_ASSIGN_OR_RETURN(Credentials creds, CurrentCredentials());
    HttpCall c = call;
    if (!creds.authorization.empty()) c.headers.push_back("Authorization: " + creds.authorization);
    if (counted) {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return in_flight_ < opts_.max_in_flight; });
      ++in_flight_;
    }
    auto conn = TakeConnection(creds);
    ++requests_;
    Result<HttpReply> r = conn->Perform(c);
    ReturnConnection(std::move(conn), creds.cert_pem);
    if (counted) {
      std::lock_guard<std::mutex> l(mu_);
      --in_flight_;
      cv_.notify_one();
    }
    const bool last = attempt >= max_attempts || (keep_going && !keep_going());
    if (!r.ok()) {
      if (last) return r.status();
    } else if (r->status == 401 && target_.exec && attempt == 1) {
      std::lock_guard<std::mutex> l(mu_);
      exec_stale_ = true;  // once: the plugin may hand out fresh credentials
      continue;
    } else if (r->status == 429 || r->status >= 500) {
      if (last) return r;
      if (r->status == 429) {
        const int64_t after = std::atoll(r->retry_after.c_str());
        if (!pause(std::clamp<int64_t>(after, 1, 30) * 1'000'000)) return r;
        continue;
      }
    } else {
      return r;
    }
    if (!pause(backoff_us)) return r.ok() ? r : r.status();
    backoff_us = std::min<int64_t>(backoff_us * 2, 5'000'000);
  }
}

Result<Json> KubeClient::Call(const std::string& method, const std::string& path, const Json* body,
                              const std::string& content_type, const std::function<bool()>& keep_going) {
  HttpCall call;
  call.method = method;
  call.url = target_.server + path;
  call.timeout_ms = opts_.timeout_ms;
  call.headers = {"Accept: application/json"};
  if (body != nullptr) {
    call.body = body->dump();
    call.headers.push_back("Content-Type: " + content_type);
  }
  BATON_ASSIGN_OR_RETURN(HttpReply reply, Send(std::move(call), true, keep_going));
  if (reply.ended_early) return Cancelled(method + " " + path + ": given up");
  if (reply.status < 200 || reply.status >= 300) return ErrorOf(reply, method + " " + path);
  if (reply.body.empty()) return Json::object();
  Json j = Json::parse(reply.body, nullptr, false);
  if (j.is_discarded()) return Unavailable("Kubernetes API: " + method + " " + path + ": the answer is not JSON");
  return j;
}

Result<Json> KubeClient::Create(const std::string& collection, const Json& object) {
  return Call("POST", collection + (collection.find('?') == std::string::npos ? "?" : "&") + "fieldValidation=Strict", &object);
}

Result<Json> KubeClient::MergePatch(const std::string& path, const Json& patch) {
  return Call("PATCH", path + "?fieldValidation=Strict", &patch, "application/merge-patch+json");
}

Status KubeClient::Delete(const std::string& path, const std::string& propagation) {
  const Json options = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"propagationPolicy", propagation}};
  auto r = Call("DELETE", path, &options);
  if (!r.ok() && r.status().code() != Code::kNotFound) return r.status();
  return Status::Ok();
}

Result<WatchEnd> KubeClient::Watch(const std::string& path, const std::string& query, std::string* resource_version,
                                   const std::function<bool(const std::string&, const Json&)>& on_event,
                                   const std::function<bool()>& keep_going, int timeout_s) {
  HttpCall call;
  call.url = target_.server + path + "?watch=true&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(timeout_s);
  if (!query.empty()) call.url += "&" + query;
  if (!resource_version->empty()) call.url += "&resourceVersion=" + PercentEncode(*resource_version);
  call.headers = {"Accept: application/json"};
  call.timeout_ms = (timeout_s + 30) * 1000LL;
  // The server sends a bookmark now and then: a watch silent for 90 s is on a dead connection.
  call.idle_timeout_s = 90;
  bool gone = false, stopped = false;
  std::string server_error;
  std::string pending;
  call.on_data = [&](std::string_view data) {
    pending.append(data);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      const std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line.empty()) continue;
      Json ev = Json::parse(line, nullptr, false);
      if (!ev.is_object() || !ev.contains("object") || !ev["object"].is_object()) continue;
      const std::string type = FieldText(ev, "type");
      const Json& obj = ev["object"];
      if (type == "ERROR") {
        if (obj.contains("code") && obj["code"] == 410) gone = true;
        else server_error = FieldText(obj, "message").empty() ? obj.dump() : FieldText(obj, "message");
        return false;
      }
      const std::string rv = FieldText(Field(obj, "metadata"), "resourceVersion");
      if (!rv.empty()) *resource_version = rv;
      if (type == "BOOKMARK") continue;
      if (!on_event(type, obj)) {
        stopped = true;
        return false;
      }
    }
    return true;
  };
  call.keep_going = [&] {
    if (keep_going && !keep_going()) {
      stopped = true;
      return false;
    }
    return true;
  };
  BATON_ASSIGN_OR_RETURN(HttpReply reply, Send(std::move(call), false));
  if (gone || reply.status == 410) return WatchEnd::kGone;
  if (!server_error.empty()) return Unavailable("Kubernetes API: watch " + path + ": " + server_error);
  if (stopped) return WatchEnd::kStopped;
  if (reply.status < 200 || reply.status >= 300) return ErrorOf(reply, "watch " + path);
  return WatchEnd::kClosed;
}

Status KubeClient::Stream(const std::string& path, const std::function<bool(std::string_view)>& on_data,
                          const std::function<bool()>& keep_going) {
  HttpCall call;
  call.url = target_.server + path;
  call.timeout_ms = 0;
  call.on_data = on_data;
  call.keep_going = keep_going;
  BATON_ASSIGN_OR_RETURN(HttpReply reply, Send(std::move(call), false));
  if (!reply.ended_early && (reply.status < 200 || reply.status >= 300)) return ErrorOf(reply, "GET " + path);
  return Status::Ok();
}

const Json& Field(const Json& o, const char* key) {
  static const Json empty = Json::object();
  if (!o.is_object()) return empty;
  auto it = o.find(key);
  return it == o.end() || it->is_null() ? empty : *it;
}

std::string FieldText(const Json& o, const char* key) {
  if (!o.is_object()) return "";
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string KubeName(const std::string& s, size_t max) {
  std::string out;
  for (char c : s) {
    const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if ((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9')) out += l;
    else if (!out.empty() && out.back() != '-') out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.empty()) out = "x";
  if (out.size() > max || out != s) {
    // Shortened or changed: a hash of the original keeps distinct names distinct.
    const std::string h = Sha256Hex(s).substr(0, 6);
    if (out.size() + 1 + h.size() > max) out.resize(max - 1 - h.size());
    while (!out.empty() && out.back() == '-') out.pop_back();
    if (out != s) out += "-" + h;
  }
  return out;
}

std::string KubeLabelValue(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ? c : '_';
  const auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (out.size() <= 63 && out == s && (out.empty() || (alnum(out.front()) && alnum(out.back())))) return out;
  std::string h = Sha256Hex(s).substr(0, 8);
  std::string head;
  for (char c : out) if (head.size() < 54) head += c;
  while (!head.empty() && !alnum(head.front())) head.erase(head.begin());
  while (!head.empty() && !alnum(head.back())) head.pop_back();
  return head.empty() ? h : head + "-" + h;
}

}  // namespace baton
