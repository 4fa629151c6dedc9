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

std::string HexOf(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

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

const std::set<std::string> kReads = {
    "GetSnapshot", "RunsWithStatus", "GetRun", "RunUsers", "ListRuns", "ListStepRuns",
    "GetStepRun", "FindRunOutput", "GetArtifact", "ListArtifacts", "StepOutputs", "StepInputs",
    "ArtifactDigests", "Consumers", "FindCacheHit", "PreviousStepRun", "GetComponent",
    "ListComponents", "GetStack", "ListStacks", "GetSetting", "ListPlugins", "StepDurations"};
const std::set<std::string> kAdmin = {
    "DeleteRun", "DeleteComponent", "DeleteStack", "DeletePlugin", "CreateUser", "GetUser",
    "ListUsers", "DeleteUser", "CreateToken", "FindToken", "ListTokens", "DeleteToken", "TouchToken"};

Access AccessOf(const std::string& method) {
  if (kReads.count(method) || method == "Ping") return Access::kRead;
  if (kAdmin.count(method)) return Access::kAdmin;
  return Access::kWrite;  // the other writes, and batches
}

std::string StringArg(const Json& args, size_t k) {
  return args.is_array() && args.size() > k && args[k].is_string() ? args[k].get<std::string>() : "";
}
int64_t IntArg(const Json& args, size_t k) {
  return args.is_array() && args.size() > k && args[k].is_number_integer() ? args[k].get<int64_t>() : 0;
}

// Whether a step run may be read with a token of run `run`: one of its run's, or the completed
// step run a cache key names (FindCacheHit's answer, whose outputs a cached step reuses).
Result<bool> RunTokenMayReadStepRun(MetadataStore& m, const std::string& run, int64_t id) {
  auto s = m.GetStepRun(id);
  if (!s.ok()) return s.status().code() == Code::kNotFound ? Result<bool>(false) : Result<bool>(s.status());
  if (s->run_id == run) return true;
  return s->status == StepStatus::kCompleted && s->cached_from == 0 && !s->cache_key.empty();
}

// What a run token may call: the calls a step of its run makes, on its own run.
Status AuthorizeRunToken(const Principal& p, const std::string& method, const Json& args,
                         MetadataStore& m) {
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
  if (kOwnRunFirst.count(method)) return StringArg(args, 0) == run ? Status::Ok() : refuse();
  if (method == "GetSnapshot" || method == "PreviousStepRun") {
    BATON_ASSIGN_OR_RETURN(RunRecord r, m.GetRun(run));
    if (method == "GetSnapshot") return StringArg(args, 0) == r.snapshot_hash ? Status::Ok() : refuse();
    return StringArg(args, 0) == r.pipeline && StringArg(args, 2) == run ? Status::Ok() : refuse();
  }
  if (method == "StartStepRun" || method == "FinishStepRun") {
    if (!args.is_array() || args.empty() || !args[0].is_object()) return refuse();
    if (args[0].value("run_id", std::string()) != run) return refuse();
    if (method == "FinishStepRun") {
      auto s = m.GetStepRun(args[0].value("id", int64_t{0}));
      if (!s.ok() || s->run_id != run) return refuse();
    }
    return Status::Ok();
  }
  if (method == "GetStepRun" || method == "StepOutputs" || method == "StepInputs") {
    BATON_ASSIGN_OR_RETURN(bool may, RunTokenMayReadStepRun(m, run, IntArg(args, 0)));
    return may ? Status::Ok() : refuse();
  }
  if (method == "GetArtifact") {
    auto a = m.GetArtifact(StringArg(args, 0));
    if (!a.ok()) return refuse();  // not even whether it exists
    if (a->run_id == run) return Status::Ok();
    BATON_ASSIGN_OR_RETURN(bool may, RunTokenMayReadStepRun(m, run, a->step_run_id));
    return may ? Status::Ok() : refuse();
  }
  return refuse();
}

}  // namespace

StoreApi::StoreApi(StorePool* pool, int64_t batch_timeout_us)
    : pool_(pool), batch_timeout_us_(batch_timeout_us), reaper_([this] { Reap(); }) {}

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
  for (const char* m : {"BeginBatch", "EndBatch", "AbortBatch", "Ping"}) out.push_back(m);
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

// Rolls back the batches whose client has gone quiet for too long.
void StoreApi::Reap() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::milliseconds(std::min<int64_t>(1000, batch_timeout_us_ / 4000 + 1)));
    const int64_t now = MonotonicMicros();
    for (auto it = batches_.begin(); it != batches_.end();) {
      Batch& b = *it->second;
      std::unique_lock<std::mutex> busy(b.mu, std::try_to_lock);
      if (busy.owns_lock() && now - b.last_used_us > batch_timeout_us_) {
        if (b.lease) b.lease->Discard();
        b.lease.reset();
        it = batches_.erase(it);
        ended_.notify_all();
      } else {
        ++it;
      }
    }
  }
}

StoreApi::Reply StoreApi::Handle(const HttpRequest& request, const std::string& method) {
  const std::string batch_id = request.Header(store_rpc::kBatchHeader);
  if (batch_id.empty()) {
    auto store = pool_->Borrow();
    if (!store.ok()) return Reply{store.status(), false, ""};
    return Call(request, method, **store, "");
  }
  std::shared_ptr<Batch> batch = FindBatch(batch_id);
  if (!batch)
    return Reply{FailedPrecondition("the server holds no batch " + batch_id +
                                    ": it was idle too long or the server restarted, and its "
                                    "writes were rolled back"),
                 true, ""};
  std::lock_guard<std::mutex> lock(batch->mu);
  if (!batch->lease)
    return Reply{FailedPrecondition("batch " + batch_id + " has ended"), true, ""};
  batch->last_used_us = MonotonicMicros();
  Reply r = Call(request, method, **batch->lease, batch_id);
  batch->last_used_us = MonotonicMicros();
  return r;
}

StoreApi::Reply StoreApi::Call(const HttpRequest& request, const std::string& method,
                               MetadataStore& store, const std::string& batch_id) {
  Reply reply;
  auto principal = Authenticate(store, request.Header("authorization"), NowMicros());
  if (!principal.ok()) {
    reply.result = principal.status();
    return reply;
  }
  reply.authenticated = true;
  reply.user = principal->user;
  const Principal& p = *principal;
  auto invoker = Invokers().find(method);
  const bool special = method == "BeginBatch" || method == "EndBatch" || method == "AbortBatch" || method == "Ping";
  if (invoker == Invokers().end() && !special) {
    reply.result = NotFound("the store API has no method " + method);
    return reply;
  }
  Json body = Json::parse(request.body, nullptr, false);
  if (!body.is_object() || !body.contains("args") || !body["args"].is_array()) {
    reply.result = InvalidArgument("the body is a JSON object with the arguments in `args`");
    return reply;
  }
  const Json& args = body["args"];
  const Access access = AccessOf(method);
  Status allowed = p.run_id.empty() ? Authorize(p, access, "")
                                    : AuthorizeRunToken(p, method, args, store);
  // A run token's user's role still bounds it (a viewer's run token records nothing).
  if (allowed.ok() && !p.run_id.empty()) allowed = Authorize(p, access, p.run_id);
  if (!allowed.ok()) {
    reply.result = allowed;
    return reply;
  }
  if (method == "Ping") {
    reply.result = Json{{"result", {{"user", p.user}, {"role", p.role}}}};
    return reply;
  }
  if (method == "BeginBatch") {
    if (!batch_id.empty()) {
      reply.result = FailedPrecondition("batch " + batch_id + " is open already; batches nest in the client");
      return reply;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (draining_) {
        reply.result = Unavailable("the server is stopping; a batch begins on the next one");
        return reply;
      }
    }
    auto lease = pool_->Borrow();
    if (!lease.ok()) {
      reply.result = lease.status();
      return reply;
    }
    auto id = SecureRandomBytes(16);
    if (!id.ok()) {
      reply.result = id.status();
      return reply;
    }
    if (Status st = (**lease).BeginBatch(); !st.ok()) {
      reply.result = st;
      return reply;
    }
    auto b = std::make_shared<Batch>();
    b->lease = std::make_unique<StorePool::Lease>(std::move(*lease));
    b->token_id = p.token_id;
    b->last_used_us = MonotonicMicros();
    const std::string key = "batch-" + HexOf(*id);
    {
      std::lock_guard<std::mutex> lock(mu_);
      batches_[key] = std::move(b);
    }
    reply.result = Json{{"result", key}};
    return reply;
  }
  if (method == "EndBatch" || method == "AbortBatch") {
    if (batch_id.empty()) {
      reply.result = Json{{"result", nullptr}};  // outside a batch: nothing to do
      return reply;
    }
    std::shared_ptr<Batch> b = FindBatch(batch_id);  // its mutex is held by Handle
    if (b->token_id != p.token_id) {
      reply.result = PermissionDenied("batch " + batch_id + " is another token's");
      return reply;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      batches_.erase(batch_id);
    }
    ended_.notify_all();
    if (method == "EndBatch") {
      Status st = store.EndBatch();
      b->lease.reset();
      reply.result = st.ok() ? Result<Json>(Json{{"result", nullptr}}) : Result<Json>(st);
    } else {
      b->lease->Discard();
      b->lease.reset();
      reply.result = Json{{"result", nullptr}};
    }
    return reply;
  }
  if (!batch_id.empty()) {
    std::shared_ptr<Batch> b = FindBatch(batch_id);
    if (b && b->token_id != p.token_id) {
      reply.result = PermissionDenied("batch " + batch_id + " is another token's");
      return reply;
    }
  }
  reply.result = invoker->second(store, args);
  return reply;
}

}  // namespace baton::server
