#include "server/store_api.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "platform/fs.h"
#include "platform/random.h"
#include "store/remote/store_rpc.h"

namespace baton::server {
namespace {

using store_rpc::Decode;
using store_rpc::Encode;
using store_rpc::Method;

// A non-pointer argument is passed as a reference to its decoded value; a pointer argument (one
// the method fills in) as a pointer to it.
template <bool kOut, class T>
decltype(auto) Pass(T& value) {
  if constexpr (kOut) {
    return &value;
  } else {
    return (value);
  }
}

// Decodes the arguments, calls the method, encodes what it gives back.
template <auto M>
Result<Json> Invoke(MetadataStore& m, const Json& args) {
  using Mt = Method<decltype(M)>;
  using Args = typename Mt::Args;
  constexpr size_t n = std::tuple_size_v<Args>;
  if (!args.is_array() || args.size() != n)
    return InvalidArgument("this method takes " + std::to_string(n) + " arguments, in a JSON array `args`");
  Args values;
  size_t bad = n;
  [&]<size_t... I>(std::index_sequence<I...>) {
    ((bad == n && !Decode(args[I], &std::get<I>(values)) ? (void)(bad = I) : void()), ...);
  }(std::make_index_sequence<n>{});
  if (bad != n) return InvalidArgument("argument " + std::to_string(bad + 1) + " has a wrong value");
  auto result = [&]<size_t... I>(std::index_sequence<I...>) {
    return (m.*M)(Pass<Mt::kOut[I + 1]>(std::get<I>(values))...);
  }(std::make_index_sequence<n>{});
  Json reply = Json::object();
  if constexpr (std::is_same_v<decltype(result), Status>) {
    if (!result.ok()) return result;
    reply["result"] = nullptr;
  } else {
    if (!result.ok()) return result.status();
    reply["result"] = Encode(*result);
  }
  Json out = Json::array();
  [&]<size_t... I>(std::index_sequence<I...>) {
    ((Mt::kOut[I + 1] ? out.push_back(Encode(std::get<I>(values))) : void()), ...);
  }(std::make_index_sequence<n>{});
  if (!out.empty()) reply["out"] = std::move(out);
  return reply;
}

using Invoker = Result<Json> (*)(MetadataStore&, const Json&);

const std::map<std::string, Invoker>& Invokers() {
  static const auto* table = [] {
    auto* t = new std::map<std::string, Invoker>;
#define BATON_INVOKER(M) (*t)[#M] = &Invoke<&MetadataStore::M>;
    BATON_STORE_RPC_METHODS(BATON_INVOKER)
#undef BATON_INVOKER
    return t;
  }();
  return *table;
}

const std::set<std::string> kAdmin = {
    "DeleteRun", "DeleteComponent", "DeleteStack", "DeletePlugin", "CreateUser", "GetUser",
    "ListUsers", "DeleteUser", "CreateToken", "FindToken", "ListTokens", "DeleteToken", "TouchToken"};

const std::set<std::string> kCredentialWrites = {"CreateUser", "DeleteUser", "CreateToken",
                                                 "DeleteToken"};

Access AccessOf(const std::string& method) {
  if (kAdmin.count(method)) return Access::kAdmin;  // users' and tokens' reads among them
  if (store_rpc::IsRead(method)) return Access::kRead;
  return Access::kWrite;  // the other writes, and batches
}

std::string StringArg(const Json& args, size_t k) {
  return args.is_array() && args.size() > k && args[k].is_string() ? args[k].get<std::string>() : "";
}
int64_t IntArg(const Json& args, size_t k) {
  return args.is_array() && args.size() > k && args[k].is_number_integer() ? args[k].get<int64_t>() : 0;
}

// A lookup that a run token's check makes: not finding the record refuses the call (the token
// learns nothing of what exists); any other failure (the store busy) is passed on as it is.
template <class T>
Status Looked(const Result<T>& r, bool* found) {
  *found = r.ok();
  if (r.ok() || r.status().code() == Code::kNotFound || r.status().code() == Code::kInvalidArgument)
    return Status::Ok();
  return r.status();
}

// Whether a step run may be read with a token of run `run`: one of its run's, or the completed
// step run that `cache_key` names (FindCacheHit's answer, whose outputs a cached step reuses:
// the client proves it looked the key up by sending it).
Result<bool> RunTokenMayReadStepRun(MetadataStore& m, const std::string& run, int64_t id,
                                    const std::string& cache_key) {
  auto s = m.GetStepRun(id);
  bool found = false;
  BATON_RETURN_IF_ERROR(Looked(s, &found));
  if (!found) return false;
  if (s->run_id == run) return true;
  return !cache_key.empty() && s->cache_key == cache_key && s->status == StepStatus::kCompleted &&
         s->cached_from == 0;
}

// The ids of the artifacts run `run` output (new or reused).
Result<std::set<int64_t>> RunArtifactIds(MetadataStore& m, const std::string& run) {
  BATON_ASSIGN_OR_RETURN(std::vector<ArtifactRecord> arts, m.ListArtifacts(run, 0));
  std::set<int64_t> ids;
  for (const auto& a : arts) ids.insert(a.id);
  return ids;
}

// FinishStepRun with a run token: the step run is its run's; what it reuses is its run's or the
// outputs of the cache hit it names (same key, completed); what it read is its run's; and its new
// artifacts are labelled with its run, pipeline and step whatever the client said.
Status CheckRunTokenFinish(MetadataStore& m, const std::string& run, Json* args, bool* ok) {
  *ok = false;
  StepRunRecord rec;
  std::vector<OutputUse> reused;
  std::vector<InputUse> inputs;
  if (!args->is_array() || args->size() != 4 || !Decode((*args)[0], &rec) ||
      !Decode((*args)[2], &reused) || !Decode((*args)[3], &inputs) || !(*args)[1].is_array())
    return Status::Ok();
  if (rec.run_id != run) return Status::Ok();
  bool found = false;
  auto stored = m.GetStepRun(rec.id);
  BATON_RETURN_IF_ERROR(Looked(stored, &found));
  if (!found || stored->run_id != run) return Status::Ok();
  BATON_ASSIGN_OR_RETURN(std::set<int64_t> own, RunArtifactIds(m, run));
  std::set<int64_t> hit_outputs;
  if (rec.cached_from != 0) {
    auto hit = m.GetStepRun(rec.cached_from);
    BATON_RETURN_IF_ERROR(Looked(hit, &found));
    if (found && hit->cache_key == rec.cache_key && !rec.cache_key.empty() &&
        hit->status == StepStatus::kCompleted) {
      BATON_ASSIGN_OR_RETURN(auto outs, m.StepOutputs(hit->id));
      for (const auto& [name, a] : outs) hit_outputs.insert(a.id);
    }
  }
  for (const OutputUse& u : reused)
    if (!own.count(u.artifact_id) && !hit_outputs.count(u.artifact_id)) return Status::Ok();
  for (const InputUse& u : inputs)
    if (!own.count(u.artifact_id)) return Status::Ok();
  auto r = m.GetRun(run);
  BATON_RETURN_IF_ERROR(Looked(r, &found));
  if (!found) return Status::Ok();
  for (Json& a : (*args)[1]) {
    if (!a.is_object()) return Status::Ok();
    a["run_id"] = run;
    a["pipeline"] = r->pipeline;
    a["step"] = stored->step;
  }
  *ok = true;
  return Status::Ok();
}

// What a run token may call: the calls a step of its run makes, on its own run. May rewrite
// `args` (the labels of new artifacts).
Status AuthorizeRunToken(const Principal& p, const std::string& method, Json* args,
                         const std::string& cache_key, MetadataStore& m) {
  const std::string& run = p.run_id;
  auto refuse = [&] {
    return PermissionDenied("a run token is good for its own run (" + run + ") alone; " + method +
                            " with these arguments is not for it");
  };
  static const std::set<std::string> kOwnRunFirst = {
      "GetRun", "ListStepRuns", "FindRunOutput", "UpdateRunStatus", "ClaimRun",
      "MarkRunInterrupted", "ListArtifacts"};
  static const std::set<std::string> kConfig = {"GetComponent", "ListComponents", "GetStack",
                                                "ListStacks", "GetSetting", "ListPlugins",
                                                "FindCacheHit", "Ping", "BeginBatch", "EndBatch",
                                                "AbortBatch"};
  if (kConfig.count(method)) return Status::Ok();
  if (kOwnRunFirst.count(method) || method == store_rpc::kAppendRunLog)
    return StringArg(*args, 0) == run ? Status::Ok() : refuse();
  bool found = false;
  if (method == "GetSnapshot" || method == "PreviousStepRun") {
    auto r = m.GetRun(run);
    BATON_RETURN_IF_ERROR(Looked(r, &found));
    if (!found) return refuse();
    if (method == "GetSnapshot") return StringArg(*args, 0) == r->snapshot_hash ? Status::Ok() : refuse();
    return StringArg(*args, 0) == r->pipeline && StringArg(*args, 2) == run ? Status::Ok() : refuse();
  }
  if (method == "StartStepRun") {
    StepRunRecord rec;
    if (!args->is_array() || args->size() != 1 || !Decode((*args)[0], &rec)) return refuse();
    return rec.run_id == run ? Status::Ok() : refuse();
  }
  if (method == "FinishStepRun") {
    bool ok = false;
    BATON_RETURN_IF_ERROR(CheckRunTokenFinish(m, run, args, &ok));
    return ok ? Status::Ok() : refuse();
  }
  if (method == "GetStepRun" || method == "StepOutputs" || method == "StepInputs") {
    BATON_ASSIGN_OR_RETURN(bool may, RunTokenMayReadStepRun(m, run, IntArg(*args, 0),
                                                            method == "StepInputs" ? "" : cache_key));
    return may ? Status::Ok() : refuse();
  }
  if (method == "GetArtifact") {
    auto a = m.GetArtifact(StringArg(*args, 0));
    BATON_RETURN_IF_ERROR(Looked(a, &found));
    if (!found) return refuse();  // not even whether it exists
    BATON_ASSIGN_OR_RETURN(std::set<int64_t> own, RunArtifactIds(m, run));
    return own.count(a->id) ? Status::Ok() : refuse();
  }
  return refuse();
}

}  // namespace

StoreApi::StoreApi(StorePool* pool, StorePool* batch_pool, PrincipalCache* principals,
                   RunLogCopies* logs, int64_t batch_timeout_us)
    : pool_(pool), batch_pool_(batch_pool), principals_(principals), logs_(logs),
      batch_timeout_us_(batch_timeout_us),
      reaper_([this] { Reap(); }) {}

StoreApi::~StoreApi() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  reaper_.join();
  for (auto& [id, b] : batches_) {
    std::lock_guard<std::mutex> lock(b->mu);
    if (b->lease) b->lease->Discard();
  }
}

std::vector<std::string> StoreApi::Methods() {
  std::vector<std::string> out;
  for (const auto& [name, f] : Invokers()) out.push_back(name);
  for (const char* m : {"BeginBatch", "EndBatch", "AbortBatch", "Ping", store_rpc::kAppendRunLog})
    out.push_back(m);
  return out;
}

size_t StoreApi::open_batches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return batches_.size();
}

bool StoreApi::Drain(int64_t timeout_us) {
  std::unique_lock<std::mutex> lock(mu_);
  draining_ = true;
  return ended_.wait_for(lock, std::chrono::microseconds(timeout_us), [this] { return batches_.empty(); });
}

std::shared_ptr<StoreApi::Batch> StoreApi::FindBatch(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = batches_.find(id);
  return it == batches_.end() ? nullptr : it->second;
}

// Rolls back the batches whose client has gone quiet for too long. A batch is taken out under its
// own lock (a request that finds it afterwards is told it ended) and closed outside every lock.
void StoreApi::Reap() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::milliseconds(std::min<int64_t>(1000, batch_timeout_us_ / 4000 + 1)));
    const int64_t now = MonotonicMicros();
    std::vector<std::unique_ptr<StorePool::Lease>> idle;
    for (auto it = batches_.begin(); it != batches_.end();) {
      std::shared_ptr<Batch> b = it->second;  // outlives `busy`
      std::unique_lock<std::mutex> busy(b->mu, std::try_to_lock);
      if (busy.owns_lock() && now - b->last_used_us > batch_timeout_us_) {
        idle.push_back(std::move(b->lease));
        it = batches_.erase(it);
      } else {
        ++it;
      }
    }
    if (idle.empty()) continue;
    lock.unlock();
    for (auto& lease : idle)
      if (lease) lease->Discard();
    idle.clear();
    lock.lock();
    ended_.notify_all();
  }
}

StoreApi::Reply StoreApi::Handle(const HttpRequest& request, const std::string& method) {
  Reply reply;
  const std::string batch_id = request.Header(store_rpc::kBatchHeader);
  Json body = Json::parse(request.body, nullptr, false);
  const bool well_formed = body.is_object() && body.contains("args") && body["args"].is_array();
  Json args = well_formed ? std::move(body["args"]) : Json();
  // Checks what authentication cannot: the method, and the body's shape.
  auto usable = [&]() -> Status {
    const bool special = method == "BeginBatch" || method == "EndBatch" || method == "AbortBatch" ||
                         method == "Ping" || method == store_rpc::kAppendRunLog;
    if (!special && Invokers().find(method) == Invokers().end())
      return FailedPrecondition("this server has no store method " + method +
                                "; is it older than the baton calling it?");
    if (!well_formed) return InvalidArgument("the body is a JSON object with the arguments in `args`");
    return Status::Ok();
  };
  const std::string cache_key = request.Header(store_rpc::kCacheKeyHeader);
  if (!batch_id.empty()) {
    // Inside a batch, on the batch's own connection: another would wait for the write lock the
    // batch holds (opening one may need it). Authentication there only reads, and nothing else
    // happens (the batch is not even kept alive) unless the caller is the batch's token.
    if (std::shared_ptr<Batch> batch = FindBatch(batch_id)) {
      std::lock_guard<std::mutex> lock(batch->mu);
      if (batch->lease) {
        auto principal = principals_->Authenticate(**batch->lease, request.Header("authorization"),
                                                   NowMicros(), MonotonicMicros(), false);
        if (principal.ok() && principal->token_id == batch->token_id) {
          reply.authenticated = true;
          reply.user = principal->user;
          if (Status st = usable(); !st.ok()) {
            reply.result = st;
            return reply;
          }
          batch->last_used_us = MonotonicMicros();
          Call(*principal, method, &args, cache_key, **batch->lease, batch_id, &reply);
          batch->last_used_us = MonotonicMicros();
          return reply;
        }
      }
    }
  }
  // Authenticated on a connection of the pool, never inside someone's batch.
  auto pooled = pool_->Borrow();
  if (!pooled.ok()) {
    reply.result = pooled.status();
    reply.retry = true;
    return reply;
  }
  auto principal = principals_->Authenticate(**pooled, request.Header("authorization"), NowMicros(),
                                             MonotonicMicros());
  if (!principal.ok()) {
    reply.result = principal.status();
    reply.retry = principal.status().code() != Code::kUnauthenticated;
    return reply;
  }
  reply.authenticated = true;
  reply.user = principal->user;
  if (!batch_id.empty()) {
    reply.result = FailedPrecondition("the server holds no batch " + batch_id +
                                      " of this token: it was idle too long or the server "
                                      "restarted, and its writes were rolled back");
    return reply;
  }
  if (Status st = usable(); !st.ok()) {
    reply.result = st;
    return reply;
  }
  Call(*principal, method, &args, cache_key, **pooled, "", &reply);
  return reply;
}

void StoreApi::Call(const Principal& p, const std::string& method, Json* args,
                    const std::string& cache_key, MetadataStore& store, const std::string& batch_id,
                    Reply* reply) {
  const Access access = AccessOf(method);
  Status allowed = p.run_id.empty() ? Authorize(p, access, "")
                                    : AuthorizeRunToken(p, method, args, cache_key, store);
  // A run token's user's role still bounds it (a viewer's run token records nothing).
  if (allowed.ok() && !p.run_id.empty()) allowed = Authorize(p, access, p.run_id);
  if (!allowed.ok()) {
    reply->result = allowed;
    return;
  }
  if (method == "Ping") {
    reply->result = Json{{"result", {{"user", p.user}, {"role", p.role}}}};
    return;
  }
  if (method == "BeginBatch") {
    if (!batch_id.empty()) {
      reply->result = FailedPrecondition("batch " + batch_id + " is open already; batches nest in the client");
      return;
    }
    // A connection of its own, from the batches' pool, while this request's goes back to the
    // requests' pool: with SQLite, opening a connection may need the write lock the batch is
    // about to hold, so the others' requests must find one open.
    auto lease = batch_pool_->Borrow();
    if (!lease.ok()) {
      reply->result = lease.status();
      reply->retry = true;
      return;
    }
    auto id = SecureRandomHex(16);
    if (!id.ok()) {
      reply->result = id.status();
      return;
    }
    if (Status st = (**lease).BeginBatch(); !st.ok()) {
      reply->result = st;
      reply->retry = st.code() == Code::kUnavailable;  // the write lock was not had: nothing began
      return;
    }
    auto b = std::make_shared<Batch>();
    b->lease = std::make_unique<StorePool::Lease>(std::move(*lease));
    b->token_id = p.token_id;
    b->last_used_us = MonotonicMicros();
    const std::string key = "batch-" + *id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!draining_) {
        batches_[key] = b;
        reply->result = Json{{"result", key}};
        return;
      }
    }
    // The server began to stop meanwhile: the batch begins on the next one.
    b->lease->Discard();
    reply->result = Unavailable("the server is stopping; a batch begins on the next one");
    reply->retry = true;
    return;
  }
  if (method == "EndBatch" || method == "AbortBatch") {
    if (batch_id.empty()) {
      reply->result = Json{{"result", nullptr}};  // outside a batch: nothing to do
      return;
    }
    std::shared_ptr<Batch> b = FindBatch(batch_id);  // Handle holds its mutex: it is there
    {
      std::lock_guard<std::mutex> lock(mu_);
      batches_.erase(batch_id);
    }
    ended_.notify_all();
    if (method == "EndBatch") {
      Status st = store.EndBatch();
      b->lease.reset();
      if (b->changed_credentials) principals_->Forget();
      reply->result = st.ok() ? Result<Json>(Json{{"result", nullptr}}) : Result<Json>(st);
    } else {
      b->lease->Discard();
      b->lease.reset();
      reply->result = Json{{"result", nullptr}};
    }
    return;
  }
  if (method == store_rpc::kAppendRunLog) {
    std::string bytes;
    if (!args->is_array() || args->size() != 4 || !(*args)[2].is_number_integer() ||
        !(*args)[3].is_string() || !store_rpc::Base64Decode((*args)[3].get<std::string>(), &bytes)) {
      reply->result = InvalidArgument("AppendRunLog takes [run id, file, offset, base64 bytes]");
      return;
    }
    auto size = logs_->Append(store, StringArg(*args, 0), StringArg(*args, 1),
                              (*args)[2].get<int64_t>(), bytes);
    reply->result = size.ok() ? Result<Json>(Json{{"result", *size}}) : Result<Json>(size.status());
    return;
  }
  reply->result = Invokers().at(method)(store, *args);
  // A principal read before a change to users or tokens is not used after it: forgotten now,
  // and again when the batch that made the change ends (until then, others read the old rows).
  if (kCredentialWrites.count(method)) {
    principals_->Forget();
    if (!batch_id.empty())
      if (std::shared_ptr<Batch> b = FindBatch(batch_id)) b->changed_credentials = true;
  }
}

}  // namespace baton::server
