#include "store/remote/remote_store.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "baton/env.h"
#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/net.h"
#include "platform/client_libs.h"
#include "store/remote/store_rpc.h"

namespace baton {
namespace {

using store_rpc::Base64Encode;
using store_rpc::Decode;
using store_rpc::kAppendRunLog;
using store_rpc::Encode;
using store_rpc::Method;
using store_rpc::ResultValue;

std::once_flag curl_init;

size_t Collect(char* data, size_t size, size_t n, void* p) {
  static_cast<std::string*>(p)->append(data, size * n);
  return size * n;
}

// Notes whether the answer says it may be sent again (Retry-After: the server did nothing).
size_t NoteRetryAfter(char* data, size_t size, size_t n, void* p) {
  static constexpr char kName[] = "retry-after:";
  const size_t len = size * n;
  if (len >= sizeof kName - 1) {
    bool match = true;
    for (size_t i = 0; i + 1 < sizeof kName && match; ++i)
      match = std::tolower(static_cast<unsigned char>(data[i])) == kName[i];
    if (match) *static_cast<bool*>(p) = true;
  }
  return len;
}

// The host of an authority (user@host:port, [v6]:port).
std::string HostOf(const std::string& authority) {
  std::string host = authority.substr(authority.find('@') == std::string::npos ? 0 : authority.find('@') + 1);
  if (!host.empty() && host[0] == '[') return host.substr(1, host.find(']') - 1);
  return host.substr(0, host.find(':'));
}

class RemoteStore final : public MetadataStore {
 public:
  RemoteStore(std::string base, std::string token, std::string ca, int retry_seconds)
      : base_(std::move(base)), token_(std::move(token)), ca_(std::move(ca)),
        retry_us_(int64_t{retry_seconds} * 1'000'000) {}
  ~RemoteStore() override {
    // A batch not ended is undone, as a store's connection closing would undo it.
    if (!batch_.empty()) (void)Post("AbortBatch", Json::array(), "", /*retry=*/false);
    if (curl_) curl_easy_cleanup(curl_);
  }

  // Whether the server answers and takes the token: a store that cannot be used fails to open.
  Status Check() { return Post("Ping", Json::array()).status(); }

  Status BeginBatch() override {
    if (depth_++ > 0) return Status::Ok();
    auto reply = Post("BeginBatch", Json::array());
    if (!reply.ok()) {
      depth_ = 0;
      return reply.status();
    }
    auto it = reply->find("result");
    if (it == reply->end() || !it->is_string() || it->get<std::string>().empty()) {
      depth_ = 0;
      return BadReply("BeginBatch");
    }
    batch_ = it->get<std::string>();
    return Status::Ok();
  }
  Status EndBatch() override {
    if (depth_ == 0 || --depth_ > 0) return Status::Ok();
    auto reply = Post("EndBatch", Json::array());
    batch_.clear();
    return reply.status();
  }

#define BATON_CALL(M, ...) return Call<&MetadataStore::M>(#M, __VA_ARGS__)
#define BATON_CALL0(M) return Call<&MetadataStore::M>(#M)
  Status PutSnapshot(const std::string& hash, const std::string& pipeline, const std::string& body) override {
    BATON_CALL(PutSnapshot, hash, pipeline, body);
  }
  Result<std::string> GetSnapshot(const std::string& hash) override { BATON_CALL(GetSnapshot, hash); }
  Status CreateRun(const RunRecord& run) override { BATON_CALL(CreateRun, run); }
  Status UpdateRunStatus(const std::string& run_id, RunStatus status, const std::string& reason,
                         int64_t ended_at) override {
    BATON_CALL(UpdateRunStatus, run_id, status, reason, ended_at);
  }
  Status ClaimRun(const std::string& run_id, int64_t pid, int64_t pid_start, const std::string& host) override {
    BATON_CALL(ClaimRun, run_id, pid, pid_start, host);
  }
  Status MarkRunInterrupted(const std::string& run_id, const std::string& reason) override {
    BATON_CALL(MarkRunInterrupted, run_id, reason);
  }
  Result<std::vector<RunRecord>> RunsWithStatus(RunStatus status) override { BATON_CALL(RunsWithStatus, status); }
  Result<RunRecord> GetRun(const std::string& id_or_prefix) override { BATON_CALL(GetRun, id_or_prefix); }
  Status SetRunLabels(const std::string& run_id, const std::vector<std::string>& tags,
                      const std::string& note) override {
    BATON_CALL(SetRunLabels, run_id, tags, note);
  }
  Status DeleteRun(const std::string& run_id) override { BATON_CALL(DeleteRun, run_id); }
  Result<std::vector<std::string>> RunUsers(const std::string& run_id) override { BATON_CALL(RunUsers, run_id); }
  Result<std::vector<RunRecord>> ListRuns(const std::string& pipeline, int limit) override {
    BATON_CALL(ListRuns, pipeline, limit);
  }
  Result<int64_t> StartStepRun(const StepRunRecord& rec) override { BATON_CALL(StartStepRun, rec); }
  Status FinishStepRun(const StepRunRecord& rec, std::vector<ArtifactRecord>* new_artifacts,
                       const std::vector<OutputUse>& reused_outputs,
                       const std::vector<InputUse>& inputs) override {
    BATON_CALL(FinishStepRun, rec, new_artifacts, reused_outputs, inputs);
  }
  Result<std::vector<StepRunRecord>> ListStepRuns(const std::string& run_id) override {
    BATON_CALL(ListStepRuns, run_id);
  }
  Result<StepRunRecord> GetStepRun(int64_t id) override {
    cache_key_ = KeyOfHit(id);
    BATON_CALL(GetStepRun, id);
  }
  Result<std::optional<ArtifactRecord>> FindRunOutput(const std::string& run_id, const std::string& step,
                                                      const std::string& output) override {
    BATON_CALL(FindRunOutput, run_id, step, output);
  }
  Result<ArtifactRecord> GetArtifact(const std::string& id_or_digest_prefix) override {
    BATON_CALL(GetArtifact, id_or_digest_prefix);
  }
  Result<std::vector<ArtifactRecord>> ListArtifacts(const std::string& run_id, int limit) override {
    BATON_CALL(ListArtifacts, run_id, limit);
  }
  Result<std::vector<std::pair<std::string, ArtifactRecord>>> StepOutputs(int64_t step_run_id) override {
    cache_key_ = KeyOfHit(step_run_id);
    BATON_CALL(StepOutputs, step_run_id);
  }
  Result<std::vector<std::pair<std::string, ArtifactRecord>>> StepInputs(int64_t step_run_id) override {
    BATON_CALL(StepInputs, step_run_id);
  }
  Result<std::vector<std::string>> ArtifactDigests() override { BATON_CALL0(ArtifactDigests); }
  Result<std::vector<StepRunRecord>> Consumers(int64_t artifact_id) override { BATON_CALL(Consumers, artifact_id); }
  Result<std::optional<StepRunRecord>> FindCacheHit(const std::string& cache_key) override {
    auto hit = Call<&MetadataStore::FindCacheHit>("FindCacheHit", cache_key);
    // A run token reads the hit's record and outputs only with the key it was found by.
    if (hit.ok() && *hit) hits_[(*hit)->id] = cache_key;
    return hit;
  }
  Result<std::optional<StepRunRecord>> PreviousStepRun(const std::string& pipeline, const std::string& step,
                                                       const std::string& run_id) override {
    BATON_CALL(PreviousStepRun, pipeline, step, run_id);
  }
  Status CreateComponent(const ComponentRecord& c) override { BATON_CALL(CreateComponent, c); }
  Status UpdateComponent(const ComponentRecord& c) override { BATON_CALL(UpdateComponent, c); }
  Result<ComponentRecord> GetComponent(const std::string& type, const std::string& name) override {
    BATON_CALL(GetComponent, type, name);
  }
  Result<std::vector<ComponentRecord>> ListComponents(const std::string& type) override {
    BATON_CALL(ListComponents, type);
  }
  Status DeleteComponent(const std::string& type, const std::string& name) override {
    BATON_CALL(DeleteComponent, type, name);
  }
  Status CreateStack(const StackRecord& s) override { BATON_CALL(CreateStack, s); }
  Status UpdateStack(const StackRecord& s) override { BATON_CALL(UpdateStack, s); }
  Result<StackRecord> GetStack(const std::string& name) override { BATON_CALL(GetStack, name); }
  Result<std::vector<StackRecord>> ListStacks() override { BATON_CALL0(ListStacks); }
  Status DeleteStack(const std::string& name) override { BATON_CALL(DeleteStack, name); }
  Result<std::string> GetSetting(const std::string& key, const std::string& fallback) override {
    BATON_CALL(GetSetting, key, fallback);
  }
  Status SetSetting(const std::string& key, const std::string& value) override { BATON_CALL(SetSetting, key, value); }
  Status PutPlugin(const PluginRecord& p) override { BATON_CALL(PutPlugin, p); }
  Result<std::vector<PluginRecord>> ListPlugins() override { BATON_CALL0(ListPlugins); }
  Status DeletePlugin(const std::string& type, const std::string& flavor) override {
    BATON_CALL(DeletePlugin, type, flavor);
  }
  Status CreateUser(const UserRecord& u) override { BATON_CALL(CreateUser, u); }
  Result<UserRecord> GetUser(const std::string& name) override { BATON_CALL(GetUser, name); }
  Result<std::vector<UserRecord>> ListUsers() override { BATON_CALL0(ListUsers); }
  Status DeleteUser(const std::string& name) override { BATON_CALL(DeleteUser, name); }
  Status CreateToken(const TokenRecord& t) override { BATON_CALL(CreateToken, t); }
  Result<TokenRecord> FindToken(const std::string& hash) override { BATON_CALL(FindToken, hash); }
  Result<std::vector<TokenRecord>> ListTokens(const std::string& user) override { BATON_CALL(ListTokens, user); }
  Status DeleteToken(const std::string& id) override { BATON_CALL(DeleteToken, id); }
  Status TouchToken(const std::string& id, int64_t when) override { BATON_CALL(TouchToken, id, when); }
  Result<std::vector<std::pair<std::string, double>>> StepDurations(const std::string& pipeline) override {
    BATON_CALL(StepDurations, pipeline);
  }
  // The bytes go as base64: a log need not be text.
  Result<int64_t> AppendRunLog(const std::string& run_id, const std::string& file, int64_t offset,
                               const std::string& bytes) override {
    auto reply = Post(kAppendRunLog, Json::array({run_id, file, offset, Base64Encode(bytes)}));
    if (!reply.ok()) return reply.status();
    auto it = reply->find("result");
    if (it == reply->end() || !it->is_number_integer()) return BadReply(kAppendRunLog);
    return it->get<int64_t>();
  }
  Status CreateSchedule(const ScheduleRecord& s) override { BATON_CALL(CreateSchedule, s); }
  Result<ScheduleRecord> GetSchedule(const std::string& name) override { BATON_CALL(GetSchedule, name); }
  Result<std::vector<ScheduleRecord>> ListSchedules() override { BATON_CALL0(ListSchedules); }
  Status UpdateSchedule(const ScheduleRecord& s) override { BATON_CALL(UpdateSchedule, s); }
  Status DeleteSchedule(const std::string& name) override { BATON_CALL(DeleteSchedule, name); }
  Result<bool> AdvanceSchedule(const std::string& name, int64_t expected, int64_t fire,
                               const std::string& run_id) override {
    BATON_CALL(AdvanceSchedule, name, expected, fire, run_id);
  }
#undef BATON_CALL
#undef BATON_CALL0

 private:
  template <class T>
  static Json EncodeArg(const T& v) {
    if constexpr (std::is_pointer_v<T>) {
      return Encode(*v);
    } else {
      return Encode(v);
    }
  }
  // The k-th value of `out` into what a pointer argument points to.
  template <class T>
  static void CopyOut(const Json& out, size_t* k, const T& v, bool* ok) {
    if constexpr (std::is_pointer_v<T>) {
      if (!out.is_array() || *k >= out.size() || !Decode(out[*k], v)) *ok = false;
      ++*k;
    }
  }

  template <auto M, class... A>
  typename Method<decltype(M)>::Return Call(const char* name, const A&... args) {
    using R = typename Method<decltype(M)>::Return;
    Json jargs = Json::array();
    (jargs.push_back(EncodeArg(args)), ...);
    std::string key;
    key.swap(cache_key_);
    auto reply = Post(name, std::move(jargs), key);
    if (!reply.ok()) return reply.status();
    size_t k = 0;
    bool ok = true;
    const Json none;
    auto out = reply->find("out");
    (CopyOut(out == reply->end() ? none : *out, &k, args, &ok), ...);
    if (!ok) return BadReply(name);
    if constexpr (std::is_same_v<R, Status>) {
      return Status::Ok();
    } else {
      typename ResultValue<R>::type value{};
      auto it = reply->find("result");
      if (it == reply->end() || !Decode(*it, &value)) return BadReply(name);
      return value;
    }
  }

  Status BadReply(const std::string& method) const {
    return Internal("the server at " + base_ + " answered " + method + " with something else than its result");
  }

  // One request: the server's JSON answer, or the Status its error names.
  std::string KeyOfHit(int64_t id) const {
    auto it = hits_.find(id);
    return it == hits_.end() ? "" : it->second;
  }

  // One request: the server's JSON answer, or the Status its error names. `cache_key`: sent in
  // X-Baton-Cache-Key. Sent again (until `retry_seconds`) when it never reached the server, and
  // when the server answers 503 for a read, or with Retry-After (it did nothing).
  Result<Json> Post(const std::string& method, const Json& args, const std::string& cache_key = "",
                    bool retry = true) {
    if (!curl_) {
      std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
      curl_ = curl_easy_init();
      if (!curl_) return Internal("cannot make an HTTP client handle");
    }
    const std::string url = base_ + "/api/v1/store/" + method;
    const std::string body = Json{{"args", args}}.dump(-1, ' ', false, Json::error_handler_t::replace);
    const int64_t deadline = PosixEnv()->MonotonicMicros() + retry_us_;
    for (int attempt = 0;; ++attempt) {
      std::string answer;
      long http = 0;
      curl_easy_reset(curl_);  // keeps the connection
      curl_slist* headers = nullptr;
      headers = curl_slist_append(headers, ("Authorization: Bearer " + token_).c_str());
      headers = curl_slist_append(headers, "Content-Type: application/json");
      headers = curl_slist_append(headers, "Expect:");
      if (!batch_.empty()) headers = curl_slist_append(headers, ("X-Baton-Batch: " + batch_).c_str());
      if (!cache_key.empty()) headers = curl_slist_append(headers, ("X-Baton-Cache-Key: " + cache_key).c_str());
      bool retry_after = false;
      char error[CURL_ERROR_SIZE] = "";
      curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
      curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error);
      curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(curl_, CURLOPT_TCP_NODELAY, 1L);
      curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
      curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1L);  // a server silent for 120 s has failed
      curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, 120L);
      curl_easy_setopt(curl_, CURLOPT_POST, 1L);
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Collect);
      curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &answer);
      curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, NoteRetryAfter);
      curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &retry_after);
      if (!ca_.empty()) curl_easy_setopt(curl_, CURLOPT_CAINFO, ca_.c_str());
      const CURLcode code = curl_easy_perform(curl_);
      curl_slist_free_all(headers);
      if (code == CURLE_OK) curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &http);
      // Retried: what never reached the server, and what it refused for now.
      const bool unsent = code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST;
      const bool again = unsent || (http == 503 && (retry_after || store_rpc::IsRead(method)));
      if (retry && again && PosixEnv()->MonotonicMicros() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50 << std::min(attempt, 5), 1000)));
        continue;
      }
      if (code != CURLE_OK)
        return Unavailable("cannot reach the baton server at " + base_ + ": " +
                           (error[0] ? error : curl_easy_strerror(code)));
      Json j = Json::parse(answer, nullptr, false);
      if (http == 200 && j.is_object()) return j;
      const Json* e = j.is_object() && j.contains("error") && j["error"].is_object() ? &j["error"] : nullptr;
      auto text = [e](const char* key) {
        auto it = e->find(key);
        return it != e->end() && it->is_string() ? it->get<std::string>() : std::string();
      };
      if (!e || text("message").empty())
        return Unavailable("the baton server at " + base_ + " answered HTTP " + std::to_string(http) +
                           " to " + method);
      const Code c = store_rpc::CodeFromName(text("code"));
      std::string message = text("message");
      if (c == Code::kUnauthenticated || c == Code::kPermissionDenied)
        message = "the baton server at " + base_ + " refused " + method + ": " + message;
      return Status(c, message);
    }
  }

  std::string base_;
  std::string token_;
  std::string ca_;
  int64_t retry_us_;
  CURL* curl_ = nullptr;
  std::string batch_;
  int depth_ = 0;
  std::map<int64_t, std::string> hits_;  // step run id -> the cache key FindCacheHit found it by
  std::string cache_key_;                // for the next call
};

}  // namespace

std::string CredentialsPath() {
  Env* env = PosixEnv();
  std::string dir = env->GetEnv("XDG_CONFIG_HOME").value_or("");
  if (dir.empty()) dir = env->GetEnv("HOME").value_or("") + "/.config";
  return dir + "/baton/credentials.json";
}

Result<std::string> ServerBase(const std::string& url) {
  BATON_ASSIGN_OR_RETURN(StoreUri uri, StoreUri::Parse(url));
  if ((uri.scheme != "https" && uri.scheme != "http") || uri.authority.empty())
    return InvalidArgument("'" + url + "' is not a server URL (https://HOST:PORT)");
  std::string base = uri.scheme + "://" + uri.authority + uri.path;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

namespace {

Result<Json> ReadCredentials() {
  auto text = PosixEnv()->ReadFile(CredentialsPath());
  if (!text.ok()) return Json::object();  // none kept yet
  Json j = Json::parse(*text, nullptr, false);
  if (!j.is_object())
    return FailedPrecondition(CredentialsPath() + " is damaged (not a JSON object); remove it and log in again");
  return j;
}

Status WriteCredentials(const Json& j) {
  const std::string path = CredentialsPath();
  const std::string dir = path.substr(0, path.rfind('/'));
  BATON_RETURN_IF_ERROR(fs::MakeDirs(dir, 0700));
  BATON_RETURN_IF_ERROR(fs::Chmod(dir, 0700));  // no one else may look inside
  BATON_RETURN_IF_ERROR(fs::WriteFileAtomic(path, j.dump(2) + "\n"));
  return fs::Chmod(path, 0600);
}

}  // namespace

Status Login(const std::string& url, const std::string& token) {
  BATON_ASSIGN_OR_RETURN(std::string base, ServerBase(url));
  BATON_ASSIGN_OR_RETURN(StoreUri uri, StoreUri::Parse(url));
  if (uri.scheme == "http" && !IsLoopbackHost(HostOf(uri.authority)))
    return InvalidArgument("plain http:// is for a server on this machine (loopback); use https://");
  std::string ca;
  if (auto it = uri.query.find("ca"); it != uri.query.end()) ca = it->second;
  if (token.empty()) return InvalidArgument("no token given");
  BATON_RETURN_IF_ERROR(LoadHttpClient());
  RemoteStore check(base, token, ca, 5);
  BATON_RETURN_IF_ERROR(check.Check());
  BATON_ASSIGN_OR_RETURN(Json j, ReadCredentials());
  j[base] = token;
  return WriteCredentials(j);
}

Status Logout(const std::string& url) {
  BATON_ASSIGN_OR_RETURN(std::string base, ServerBase(url));
  BATON_ASSIGN_OR_RETURN(Json j, ReadCredentials());
  if (!j.contains(base)) return NotFound("no token is kept for " + base);
  j.erase(base);
  return WriteCredentials(j);
}

Result<std::unique_ptr<MetadataStore>> OpenRemoteStore(const StoreUri& uri) {
  if (uri.authority.empty())
    return InvalidArgument("store URI " + uri.text + " names no server (" + uri.scheme + "://HOST:PORT)");
  if (uri.authority.find('@') != std::string::npos)
    return InvalidArgument("store URI " + uri.text +
                           " holds credentials; give the token with ?token_file=, BATON_TOKEN or baton login");
  if (uri.scheme == "http" && !IsLoopbackHost(HostOf(uri.authority)))
    return InvalidArgument("store URI " + uri.text +
                           ": plain http:// is for a server on this machine (loopback); use https://");
  for (const auto& [k, v] : uri.query)
    if (k != "token_file" && k != "ca" && k != "retry_seconds")
      return InvalidArgument("store URI " + uri.text + ": unknown option '" + k +
                             "' (token_file, ca, retry_seconds)");
  std::string base = uri.scheme + "://" + uri.authority + uri.path;
  while (!base.empty() && base.back() == '/') base.pop_back();
  int retry_seconds = 30;
  if (auto it = uri.query.find("retry_seconds"); it != uri.query.end()) {
    char* end = nullptr;
    const long n = std::strtol(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end || n < 0 || n > 3600)
      return InvalidArgument("store URI " + uri.text + ": retry_seconds takes 0 to 3600");
    retry_seconds = static_cast<int>(n);
  }
  Env* env = PosixEnv();
  std::string token;
  if (auto it = uri.query.find("token_file"); it != uri.query.end()) {
    auto text = env->ReadFile(it->second);
    if (!text.ok())
      return InvalidArgument("store URI " + uri.text + ": cannot read the token file: " + text.status().message());
    token = *text;
  } else if (auto t = env->GetEnv("BATON_TOKEN"); t && !t->empty()) {
    token = *t;
  } else if (auto saved = env->ReadFile(CredentialsPath()); saved.ok()) {
    Json j = Json::parse(*saved, nullptr, false);
    if (j.is_object() && j.contains(base) && j[base].is_string()) token = j[base].get<std::string>();
  }
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty())
    return Unauthenticated("no token for the baton server at " + base +
                           ": run `baton login " + base + "`, set BATON_TOKEN, or add ?token_file=PATH");
  std::string ca;
  if (auto it = uri.query.find("ca"); it != uri.query.end()) ca = it->second;
  BATON_RETURN_IF_ERROR(LoadHttpClient());
  auto store = std::make_unique<RemoteStore>(base, token, ca, retry_seconds);
  BATON_RETURN_IF_ERROR(store->Check());
  return std::unique_ptr<MetadataStore>(std::move(store));
}

}  // namespace baton
