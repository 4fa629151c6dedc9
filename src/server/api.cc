#include "server/api.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "app/record_json.h"
#include "app/run_pipeline.h"
#include "app/schedules.h"
#include "app/workspace.h"
#include "baton/format.h"
#include "baton/json_text.h"
#include "baton/signal_numbers.h"
#include "core/matrix.h"
#include "platform/fs.h"
#include "platform/process.h"
#include "server/auth.h"
#include "server/downloads.h"
#include "server/events.h"
#include "server/run_starter.h"
#include "server/scheduler.h"
#include "server/dashboard.h"
#include "server/store_api.h"
#include "store/remote/store_rpc.h"
#include "store/registry.h"

namespace baton::server {

namespace {

constexpr int kDefaultLimit = 50;
constexpr int kMaxLimit = 1000;

int HttpStatusOf(Code code) { return store_rpc::HttpStatus(code); }
const char* ErrorCode(Code code) { return store_rpc::CodeName(code); }

HttpResponse JsonResponse(const Json& j, int status = 200) {
  HttpResponse r;
  r.status = status;
  // Records may hold bytes that are not UTF-8 (a step's command or reason): replaced, not fatal.
  r.body = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

HttpResponse Error(int http_status, const std::string& code, const std::string& message) {
  HttpResponse r = JsonResponse({{"error", {{"code", code}, {"message", message}}}}, http_status);
  if (http_status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"baton\"");
  return r;
}


// A positive integer query parameter, at most `max`; `fallback` when absent.
Result<int> IntParam(const HttpRequest& r, const std::string& name, int fallback, int max) {
  if (!r.HasQuery(name)) return fallback;
  const std::string v = r.Query(name);
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < 1 || n > max)
    return InvalidArgument("?" + name + "= takes a number from 1 to " + std::to_string(max) +
                           ", not '" + v + "'");
  return static_cast<int>(n);
}

// A request in progress: its principal and store, and the route's parameters.
struct Call {
  const HttpRequest& request;
  const PathParams& params;
  const Principal& principal;
  MetadataStore& store;
};

using CallHandler = std::function<Result<Json>(Call&)>;
// A handler whose answer is not a JSON document (a file, a stream).
using RawHandler = std::function<Result<HttpResponse>(Call&)>;

// A non-negative integer query parameter, at most `max`; `fallback` when absent.
Result<int64_t> SizeParam(const HttpRequest& r, const std::string& name, int64_t fallback, int64_t max) {
  if (!r.HasQuery(name)) return fallback;
  const std::string v = r.Query(name);
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < 0 || n > max)
    return InvalidArgument("?" + name + "= takes a number from 0 to " + std::to_string(max) + ", not '" + v + "'");
  return static_cast<int64_t>(n);
}

bool FlagParam(const HttpRequest& r, const std::string& name) {
  const std::string v = r.Query(name);
  return v == "1" || v == "true" || v == "yes";
}

constexpr uint64_t kPiece = 256 << 10;  // what a streamed file is sent in

// A file's bytes from `offset`, at most `max`, sent as they are read.
std::function<void(HttpStream&)> FileStream(std::string path, uint64_t max) {
  return [path = std::move(path), max](HttpStream& out) {
    uint64_t sent = 0;
    while (sent < max && out.Open()) {
      auto piece = fs::ReadRange(path, sent, std::min<uint64_t>(kPiece, max - sent));
      if (!piece.ok() || piece->empty()) return;
      if (!out.Write(*piece)) return;
      sent += piece->size();
    }
  };
}

// A name for Content-Disposition: the characters that cannot break the header.
std::string SafeFileName(const std::string& name) {
  std::string out;
  for (char c : name.substr(name.rfind('/') == std::string::npos ? 0 : name.rfind('/') + 1))
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') ? c : '_';
  return out.empty() ? "artifact" : out;
}

Json TreeJson(const std::vector<fs::TreeEntry>& entries, bool truncated) {
  Json list = Json::array();
  for (const auto& e : entries) list.push_back({{"path", e.path}, {"size", e.size}, {"kind", e.kind}});
  return Json{{"entries", std::move(list)}, {"truncated", truncated}};
}

Result<Json> RunWithSteps(MetadataStore& m, const RunRecord& run) {
  Json j = RunJson(run);
  BATON_ASSIGN_OR_RETURN(std::vector<StepRunRecord> steps, m.ListStepRuns(run.id));
  Json list = Json::array();
  for (const auto& s : steps) {
    BATON_ASSIGN_OR_RETURN(NamedArtifacts outs, m.StepOutputs(s.id));
    BATON_ASSIGN_OR_RETURN(NamedArtifacts ins, m.StepInputs(s.id));
    list.push_back(StepRunJson(s, ins, outs));
  }
  j["steps"] = std::move(list);
  return j;
}

// Whether a step run of `run_id` read or wrote the artifact.
Result<bool> RunUses(MetadataStore& m, const std::string& run_id, int64_t artifact_id) {
  BATON_ASSIGN_OR_RETURN(std::vector<StepRunRecord> steps, m.ListStepRuns(run_id));
  for (const auto& s : steps) {
    BATON_ASSIGN_OR_RETURN(NamedArtifacts outs, m.StepOutputs(s.id));
    BATON_ASSIGN_OR_RETURN(NamedArtifacts ins, m.StepInputs(s.id));
    for (const NamedArtifacts* list : {&outs, &ins})
      for (const auto& [name, a] : *list)
        if (a.id == artifact_id) return true;
  }
  return false;
}

}  // namespace

StorePool::Lease::~Lease() {
  if (!store_) return;
  {
    std::lock_guard<std::mutex> lock(pool_->mu_);
    pool_->free_.push_back(std::move(store_));
  }
  pool_->returned_.notify_one();
}

void StorePool::Lease::Discard() {
  if (!store_) return;
  store_.reset();
  pool_->Closed();
}

void StorePool::Closed() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --open_;
  }
  returned_.notify_one();
}

Result<StorePool::Lease> StorePool::Borrow() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    const bool got = returned_.wait_for(lock, std::chrono::microseconds(wait_us_),
                                        [this] { return !free_.empty() || open_ < most_; });
    if (!got)
      return Unavailable("all " + std::to_string(most_) +
                         " connections to the metadata store are in use; try again");
    if (!free_.empty()) {
      auto store = std::move(free_.back());
      free_.pop_back();
      return Lease(this, std::move(store));
    }
    ++open_;  // taken before opening, which happens outside the lock
  }
  auto store = Stores().OpenMetadataStore(uri_);
  if (!store.ok()) {
    Closed();
    return store.status();
  }
  return Lease(this, std::move(*store));
}

Api::Api(std::string uri, AccessLog log, ErrorLog errors, ApiOptions options)
    : pool_(uri, static_cast<size_t>(std::max(1, options.store_connections))),
      batch_pool_(std::move(uri), static_cast<size_t>(std::max(1, options.batch_connections)), 5'000'000),
      principals_(std::make_unique<PrincipalCache>(options.auth_cache_us)),
      log_(std::move(log)), errors_(std::move(errors)),
      log_copies_(std::make_unique<RunLogCopies>(options.log_copies_dir, options.no_log_copies)),
      store_api_(std::make_unique<StoreApi>(&pool_, &batch_pool_, principals_.get(), log_copies_.get(),
                                            options.batch_timeout_us)),
      events_(std::make_unique<EventHub>(&pool_, errors_, EventHubOptions{options.events_interval_us, 25, 2000})),
      files_(std::make_unique<ArtifactFiles>(options.workspace_root)),
      starter_(std::make_unique<RunStarter>(options.workspace_root, options.baton_binary, options.runs_disabled)),
      scheduler_(std::make_unique<Scheduler>(&pool_, starter_.get(), options.notes ? options.notes : errors_,
                                             options.now_us ? options.now_us
                                                            : std::function<int64_t()>([] { return NowMicros(); }))) {}

Api::~Api() = default;

bool Api::Drain(int64_t timeout_us) { return store_api_->Drain(timeout_us); }

HttpResponse Api::Failure(const Status& st, bool authenticated) const {
  const int http = HttpStatusOf(st.code());
  if (st.code() == Code::kUnauthenticated) return Error(http, ErrorCode(st.code()), st.message());
  if (http >= 500 || !authenticated) {
    if (errors_) errors_(st.ToString());
    if (http == 500) return Error(500, "internal", "internal error");
    return Error(503, "unavailable", "the server cannot use its metadata store now; try again");
  }
  return Error(http, ErrorCode(st.code()), st.message());
}

Result<std::unique_ptr<Api>> Api::Open(const std::string& metadata_uri, AccessLog log,
                                       ErrorLog errors, ApiOptions options) {
  std::unique_ptr<Api> api(new Api(metadata_uri, std::move(log), std::move(errors), options));
  BATON_RETURN_IF_ERROR(api->pool_.Borrow().status());
  api->AddRoutes();
  return api;
}

HttpResponse Api::Handle(const HttpRequest& request) {
  const int64_t start = MonotonicMicros();
  std::string user;
  HttpResponse response = [&]() -> HttpResponse {
    const RouteHandler* handler = nullptr;
    PathParams params;
    int status = 0;
    std::string allow;
    if (!router_.Match(request.method, request.path, &handler, &params, &status, &allow)) {
      // Which paths exist is not a secret worth a token: the API is documented.
      if (status == 405) {
        HttpResponse r = Error(405, "method_not_allowed",
                               request.method + " is not allowed on " + request.path);
        r.headers.emplace_back("Allow", allow);
        return r;
      }
      return Error(404, "not_found", "no such endpoint: " + request.path);
    }
    HttpResponse r = (*handler)(request, params);
    if (r.headers.size() && r.headers.back().first == "X-Baton-User") {
      user = r.headers.back().second;
      r.headers.pop_back();
    }
    return r;
  }();
  if (request.method == "HEAD") response.body.clear();
  if (log_) log_(request, response.status, user, MonotonicMicros() - start);
  return response;
}

void Api::AddRoutes() {
  // Routes that need a principal: authenticated here, authorized by the handler (which knows
  // the run a request is about).
  auto guarded_raw = [this](RawHandler handler) -> RouteHandler {
    return [this, handler](const HttpRequest& req, const PathParams& params) -> HttpResponse {
      auto store = pool_.Borrow();
      if (!store.ok()) return Failure(store.status(), false);
      auto principal = principals_->Authenticate(**store, req.Header("authorization"), NowMicros(),
                                                 MonotonicMicros());
      if (!principal.ok()) return Failure(principal.status(), false);
      Call call{req, params, *principal, **store};
      auto out = handler(call);
      HttpResponse r = out.ok() ? std::move(*out) : Failure(out.status(), true);
      r.headers.emplace_back("X-Baton-User", principal->user);
      return r;
    };
  };
  // The same, for a handler that answers a JSON document.
  auto guarded = [guarded_raw](CallHandler handler) -> RouteHandler {
    return guarded_raw([handler](Call& c) -> Result<HttpResponse> {
      BATON_ASSIGN_OR_RETURN(Json j, handler(c));
      return JsonResponse(j);
    });
  };
  // The run a request names, after checking that the principal may read (or write) it.
  auto run_of = [](Call& c, Access access) -> Result<RunRecord> {
    // A run token may name only its own run: checked on the full id, before anything is read,
    // so that it cannot even learn which other runs exist.
    const std::string& asked = c.params.at("id");
    if (!c.principal.run_id.empty() && asked != c.principal.run_id)
      return Authorize(c.principal, access, asked);
    BATON_ASSIGN_OR_RETURN(RunRecord run, c.store.GetRun(asked));
    BATON_RETURN_IF_ERROR(Authorize(c.principal, access, run.id));
    return run;
  };

  router_.Add("GET", "/api/v1/health", [](const HttpRequest&, const PathParams&) {
    return JsonResponse({{"status", "ok"}, {"api", "v1"}});
  });
  router_.Add("GET", "/api/v1/openapi.json", guarded([](Call& c) -> Result<Json> {
                BATON_RETURN_IF_ERROR(Authorize(c.principal, Access::kRead, ""));
                return Json::parse(OpenApiDocument());
              }));
  router_.Add("GET", "/api/v1/whoami", guarded([](Call& c) -> Result<Json> {
                const Principal& p = c.principal;
                return Json{{"user", p.user},
                            {"kind", p.kind},
                            {"role", p.role},
                            {"token", p.token_id},
                            {"run", p.run_id.empty() ? Json() : Json(p.run_id)}};
              }));
  router_.Add("GET", "/api/v1/runs", guarded([](Call& c) -> Result<Json> {
                BATON_RETURN_IF_ERROR(Authorize(c.principal, Access::kRead, ""));
                BATON_ASSIGN_OR_RETURN(int limit, IntParam(c.request, "limit", kDefaultLimit, kMaxLimit));
                const std::string status = c.request.Query("status");
                const std::string tag = c.request.Query("tag");
                RunStatus want{};
                if (!status.empty() && !ParseRunStatus(status, &want))
                  return InvalidArgument("unknown run status '" + status + "'");
                // Filters other than the pipeline are applied here, so ask for enough.
                const bool filtered = !status.empty() || !tag.empty();
                BATON_ASSIGN_OR_RETURN(
                    std::vector<RunRecord> runs,
                    c.store.ListRuns(c.request.Query("pipeline"), filtered ? 0 : limit));
                Json list = Json::array();
                for (const RunRecord& r : runs) {
                  if (!status.empty() && r.status != want) continue;
                  if (!tag.empty() && std::find(r.tags.begin(), r.tags.end(), tag) == r.tags.end()) continue;
                  list.push_back(RunJson(r));
                  if (static_cast<int>(list.size()) == limit) break;
                }
                return Json{{"runs", std::move(list)}};
              }));
  router_.Add("GET", "/api/v1/runs/{id}", guarded([run_of](Call& c) -> Result<Json> {
                BATON_ASSIGN_OR_RETURN(RunRecord run, run_of(c, Access::kRead));
                return RunWithSteps(c.store, run);
              }));
  router_.Add("PATCH", "/api/v1/runs/{id}", guarded([run_of](Call& c) -> Result<Json> {
                BATON_ASSIGN_OR_RETURN(RunRecord run, run_of(c, Access::kWrite));
                const Json body = Json::parse(c.request.body, nullptr, false);
                if (!body.is_object()) return InvalidArgument("the body is not a JSON object");
                std::vector<std::string> tags = run.tags;
                std::string note = run.note;
                for (auto it = body.begin(); it != body.end(); ++it) {
                  if (it.key() == "tags" && it->is_array()) {
                    tags.clear();
                    for (const Json& t : *it) {
                      if (!t.is_string()) return InvalidArgument("tags are strings");
                      tags.push_back(t.get<std::string>());
                    }
                  } else if (it.key() == "note" && it->is_string()) {
                    note = it->get<std::string>();
                  } else {
                    return InvalidArgument("a run's `tags` (strings) and `note` (a string) can "
                                           "change, not '" + it.key() + "'");
                  }
                }
                BATON_RETURN_IF_ERROR(c.store.SetRunLabels(run.id, tags, note));
                BATON_ASSIGN_OR_RETURN(RunRecord changed, c.store.GetRun(run.id));
                return RunJson(changed);
              }));
  router_.Add("GET", "/api/v1/runs/{id}/steps", guarded([run_of](Call& c) -> Result<Json> {
                BATON_ASSIGN_OR_RETURN(RunRecord run, run_of(c, Access::kRead));
                BATON_ASSIGN_OR_RETURN(Json j, RunWithSteps(c.store, run));
                return Json{{"steps", j["steps"]}};
              }));
  router_.Add("GET", "/api/v1/runs/{id}/artifacts", guarded([run_of](Call& c) -> Result<Json> {
                BATON_ASSIGN_OR_RETURN(RunRecord run, run_of(c, Access::kRead));
                BATON_ASSIGN_OR_RETURN(std::vector<ArtifactRecord> arts,
                                       c.store.ListArtifacts(run.id, 0));
                Json list = Json::array();
                for (const auto& a : arts) list.push_back(ArtifactJson(a));
                return Json{{"artifacts", std::move(list)}};
              }));
  // The artifact a request names, after checking that the principal may read it.
  auto artifact_of = [](Call& c) -> Result<ArtifactRecord> {
    auto found = c.store.GetArtifact(c.params.at("artifact"));
    // A run token learns nothing of other runs' artifacts, not even which exist.
    if (!found.ok() && found.status().code() == Code::kNotFound && !c.principal.run_id.empty())
      return Authorize(c.principal, Access::kRead, "");
    BATON_ASSIGN_OR_RETURN(ArtifactRecord a, std::move(found));
    // A run token sees the artifacts its run made or used (a cached step's outputs were made
    // by an earlier run).
    if (!c.principal.run_id.empty() && a.run_id != c.principal.run_id) {
      BATON_ASSIGN_OR_RETURN(bool used, RunUses(c.store, c.principal.run_id, a.id));
      if (!used) return Authorize(c.principal, Access::kRead, a.run_id);
    } else {
      BATON_RETURN_IF_ERROR(Authorize(c.principal, Access::kRead, a.run_id));
    }
    return a;
  };
  router_.Add("GET", "/api/v1/artifacts/{artifact}", guarded([artifact_of](Call& c) -> Result<Json> {
                BATON_ASSIGN_OR_RETURN(ArtifactRecord a, artifact_of(c));
                Json j = ArtifactJson(a);
                BATON_ASSIGN_OR_RETURN(StepRunRecord producer, c.store.GetStepRun(a.step_run_id));
                BATON_ASSIGN_OR_RETURN(NamedArtifacts ins, c.store.StepInputs(producer.id));
                Json inputs = Json::object();
                for (const auto& [name, in] : ins) inputs[name] = ArtifactJson(in);
                j["producer"] = {{"step_run", producer.id},
                                 {"run", producer.run_id},
                                 {"step", producer.step},
                                 {"inputs", std::move(inputs)}};
                BATON_ASSIGN_OR_RETURN(std::vector<StepRunRecord> consumers, c.store.Consumers(a.id));
                Json used = Json::array();
                for (const auto& s : consumers) {
                  if (!c.principal.run_id.empty() && s.run_id != c.principal.run_id) continue;
                  used.push_back({{"step_run", s.id}, {"run", s.run_id}, {"step", s.step}});
                }
                j["consumers"] = std::move(used);
                return j;
              }));
  router_.Add("GET", "/api/v1/stacks", guarded([](Call& c) -> Result<Json> {
                BATON_RETURN_IF_ERROR(Authorize(c.principal, Access::kRead, ""));
                BATON_ASSIGN_OR_RETURN(std::vector<StackRecord> stacks, c.store.ListStacks());
                BATON_ASSIGN_OR_RETURN(std::string active, c.store.GetSetting("active_stack", "default"));
                Json list = Json::array();
                for (const auto& s : stacks)
                  list.push_back({{"name", s.name},
                                  {"orchestrator", s.orchestrator},
                                  {"artifact_store", s.artifact_store},
                                  {"active", s.name == active}});
                return Json{{"stacks", std::move(list)}};
              }));
  router_.Add("GET", "/api/v1/components", guarded([](Call& c) -> Result<Json> {
                BATON_RETURN_IF_ERROR(Authorize(c.principal, Access::kRead, ""));
                Json list = Json::array();
                for (const char* type : {"orchestrator", "artifact_store", "container_registry"}) {
                  if (c.request.HasQuery("type") && c.request.Query("type") != type) continue;
                  BATON_ASSIGN_OR_RETURN(std::vector<ComponentRecord> cs, c.store.ListComponents(type));
                  // A component's config may hold {{env.NAME}} references, never secrets
                  // themselves; it is returned as stored.
                  for (const auto& comp : cs)
                    list.push_back({{"type", comp.type},
                                    {"name", comp.name},
                                    {"flavor", comp.flavor},
                                    {"config", JsonOrText(comp.config)}});
                }
                return Json{{"components", std::move(list)}};
              }));
  router_.Add("GET", "/api/v1/artifacts/{artifact}/content", guarded_raw([this, artifact_of](Call& c) -> Result<HttpResponse> {
                BATON_ASSIGN_OR_RETURN(ArtifactRecord a, artifact_of(c));
                BATON_ASSIGN_OR_RETURN(int64_t limit, SizeParam(c.request, "limit", -1, INT64_MAX));
                BATON_ASSIGN_OR_RETURN(LocalContent content, files_->Find(c.store, a));
                std::string path = content.path;
                std::string name = a.name;
                if (content.is_dir || c.request.HasQuery("path")) {
                  if (!content.is_dir)
                    return InvalidArgument("artifact " + std::to_string(a.id) + " is a file; ?path= names a file inside a directory artifact");
                  if (c.request.HasQuery("path")) {
                    name = c.request.Query("path");
                    BATON_ASSIGN_OR_RETURN(path, PathInTree(content.path, name));
                  }
                  if (fs::IsDir(path)) {
                    bool truncated = false;
                    BATON_ASSIGN_OR_RETURN(std::vector<fs::TreeEntry> entries, fs::ListTree(path, 10000, &truncated));
                    return JsonResponse(TreeJson(entries, truncated));
                  }
                }
                auto head = fs::ReadRange(path, 0, 4096);
                if (!head.ok()) return PermissionDenied("'" + name + "' is not a regular file; it is not served");
                const int64_t size = fs::FileSize(path);
                const uint64_t max = limit < 0 ? static_cast<uint64_t>(size) : std::min<uint64_t>(limit, size);
                HttpResponse r;
                r.content_type = ContentTypeFor(name, *head);
                r.headers = {{"X-Content-Type-Options", "nosniff"},
                             {"Content-Security-Policy", "sandbox; default-src 'none'"},
                             {"Content-Disposition", "attachment; filename=\"" + SafeFileName(name) + "\""},
                             {"X-Baton-Size", std::to_string(size)},
                             {"X-Baton-Digest", "sha256:" + a.digest}};
                if (max < static_cast<uint64_t>(size)) r.headers.emplace_back("X-Baton-Truncated", "1");
                r.stream = FileStream(path, max);
                return r;
              }));
  router_.Add("GET", "/api/v1/runs/{id}/dag", guarded([run_of](Call& c) -> Result<Json> {
                BATON_ASSIGN_OR_RETURN(RunRecord run, run_of(c, Access::kRead));
                BATON_ASSIGN_OR_RETURN(PipelineSpec spec, LoadSnapshot(c.store, "sha256:" + run.snapshot_hash, nullptr));
                // The steps as written: instances (of a matrix or for_each) are one node.
                auto node = [](const StepSpec& st) { return st.group.empty() ? st.name : st.group; };
                std::map<std::string, std::string> node_of;
                for (const StepSpec& st : spec.steps) node_of[st.name] = node(st);
                Json steps = Json::array();
                std::map<std::string, size_t> index;
                for (const StepSpec& st : spec.steps) {
                  const std::string name = node(st);
                  std::vector<std::string> needs;
                  auto need = [&](const std::string& other) {
                    auto it = node_of.find(other);
                    const std::string n = it == node_of.end() ? other : it->second;
                    if (n != name && std::find(needs.begin(), needs.end(), n) == needs.end()) needs.push_back(n);
                  };
                  for (const InputRef& in : st.inputs) need(in.step);
                  for (const std::string& a : st.after) need(a);
                  for (const std::string& w : st.when_steps) need(w);
                  if (!st.for_each.empty()) need(st.for_each.step);
                  const bool instances = !st.matrix.empty() || !st.for_each.empty() || !st.group.empty();
                  auto it = index.find(name);
                  if (it == index.end()) {
                    index[name] = steps.size();
                    steps.push_back({{"name", name}, {"needs", needs}, {"instances", instances},
                                     {"outputs", st.outputs}, {"when", st.when}});
                    continue;
                  }
                  Json& existing = steps[it->second]["needs"];
                  for (const auto& n : needs)
                    if (std::find(existing.begin(), existing.end(), Json(n)) == existing.end()) existing.push_back(n);
                }
                return Json{{"run", run.id}, {"pipeline", spec.name}, {"steps", std::move(steps)}};
              }));
  router_.Add("GET", "/api/v1/runs/{id}/steps/{step}/log", guarded_raw([this, run_of](Call& c) -> Result<HttpResponse> {
                BATON_ASSIGN_OR_RETURN(RunRecord run, run_of(c, Access::kRead));
                const std::string step = c.params.at("step");
                BATON_ASSIGN_OR_RETURN(int attempt, IntParam(c.request, "attempt", 0, 1'000'000));
                BATON_ASSIGN_OR_RETURN(int64_t offset, SizeParam(c.request, "offset", 0, INT64_MAX));
                const bool follow = FlagParam(c.request, "follow");
                BATON_ASSIGN_OR_RETURN(std::vector<StepRunRecord> steps, c.store.ListStepRuns(run.id));
                const StepRunRecord* chosen = nullptr;
                for (const auto& s : steps) {
                  if (s.step != step || (attempt != 0 && s.attempt != attempt)) continue;
                  if (chosen == nullptr || s.attempt > chosen->attempt) chosen = &s;
                }
                if (chosen == nullptr)
                  return NotFound("run " + run.id + " has no step run of '" + step + "'" +
                                  (attempt ? " with attempt " + std::to_string(attempt) : ""));
                if (chosen->status == StepStatus::kCached)
                  return NotFound("step " + step + " of run " + run.id + " was cached from step run " +
                                  std::to_string(chosen->cached_from) + ": it ran nothing, and the log is that run's");
                // The file where the step wrote it, when this machine has it; else the copy its
                // workspace sent (AppendRunLog), which grows a second or so behind the step.
                auto servable = ServableLogPath(*chosen, run.id);
                Result<std::string> copied = NotFound("");
                if (!servable.ok() && servable.status().code() == Code::kNotFound)
                  copied = log_copies_->Find(*chosen, run.id);
                const bool copy = copied.ok();
                if (!servable.ok() && !copy) return servable.status();
                const std::string path = copy ? *copied : *servable;
                HttpResponse r;
                r.content_type = "text/plain; charset=utf-8";
                r.headers = {{"X-Content-Type-Options", "nosniff"},
                             {"Cache-Control", "no-store"},
                             {"X-Baton-Step-Run", std::to_string(chosen->id)},
                             {"X-Baton-Attempt", std::to_string(chosen->attempt)}};
                const int64_t step_run = chosen->id;
                bool ended = !follow || chosen->status != StepStatus::kRunning;
                const bool wait_tail = copy && follow;
                r.stream = [this, path, offset, ended, step_run, wait_tail](HttpStream& out) mutable {
                  uint64_t at = static_cast<uint64_t>(offset);
                  int64_t next_look = 0;
                  // A copy's last bytes come up to a second after the step ends: it is read
                  // until it has not grown for kCopyQuiet after the end.
                  constexpr int64_t kCopyQuiet = 2'500'000;
                  int64_t quiet_since = ended ? MonotonicMicros() : 0;
                  while (out.Open()) {
                    auto piece = fs::ReadRange(path, at, kPiece);
                    if (!piece.ok()) return;
                    if (!piece->empty()) {
                      if (!out.Write(*piece)) return;
                      at += piece->size();
                      if (ended) quiet_since = MonotonicMicros();
                      continue;
                    }
                    if (ended && (!wait_tail || MonotonicMicros() - quiet_since >= kCopyQuiet)) return;
                    // Following: the step's end is read from the store once a second; what the
                    // log holds then is sent before the stream ends.
                    if (!ended && MonotonicMicros() >= next_look) {
                      next_look = MonotonicMicros() + 1'000'000;
                      if (auto store = pool_.Borrow(); store.ok()) {
                        auto s = (*store)->GetStepRun(step_run);
                        if (!s.ok() || s->status != StepStatus::kRunning) ended = true;
                      }
                      if (ended) {
                        quiet_since = MonotonicMicros();
                        continue;
                      }
                    }
                    std::this_thread::sleep_for(std::chrono::milliseconds(200));
                  }
                };
                return r;
              }));
  router_.Add("POST", "/api/v1/runs/{id}/stop", guarded_raw([run_of](Call& c) -> Result<HttpResponse> {
                BATON_ASSIGN_OR_RETURN(RunRecord run, run_of(c, Access::kWrite));
                if (run.status != RunStatus::kRunning)
                  return FailedPrecondition("run " + run.id + " is not running (it is " + ToString(run.status) + ")");
                BATON_RETURN_IF_ERROR(RequestRunStop(c.store, run, c.principal.user + " through the server"));
                // On this machine the driving baton is also signalled, as `baton runs stop` does:
                // it stops at once rather than at its next look at the store.
                if (run.host == HostName() && RunProcessAlive(run)) (void)SignalProcess(run.pid, kSigTerm);
                HttpResponse r = JsonResponse({{"run", RunJson(run)}, {"stop", "requested"}}, 202);
                return r;
              }));
  router_.Add("POST", "/api/v1/runs/{id}/resume", guarded_raw([this, run_of](Call& c) -> Result<HttpResponse> {
                if (!c.principal.run_id.empty())
                  return PermissionDenied("a run token cannot resume runs: it may only record its own run");
                BATON_ASSIGN_OR_RETURN(RunRecord run, run_of(c, Access::kWrite));
                BATON_RETURN_IF_ERROR(CheckResumable(run));
                BATON_ASSIGN_OR_RETURN(
                    int64_t pid, starter_->Start({"runs", "resume", run.id, "--quiet"},
                                                 "resume-" + run.id + "-" + std::to_string(run.attempt + 1)));
                (void)pid;
                return JsonResponse({{"run", RunJson(run)}, {"resumed", true}}, 202);
              }));
  router_.Add("GET", "/api/v1/events", guarded_raw([this](Call& c) -> Result<HttpResponse> {
                std::string run = c.request.Query("run");
                if (!c.principal.run_id.empty()) {
                  // A run token hears of its own run only.
                  if (!run.empty() && run != c.principal.run_id) return Authorize(c.principal, Access::kRead, run);
                  run = c.principal.run_id;
                } else if (!run.empty()) {
                  BATON_ASSIGN_OR_RETURN(RunRecord r, c.store.GetRun(run));
                  BATON_RETURN_IF_ERROR(Authorize(c.principal, Access::kRead, r.id));
                  run = r.id;
                } else {
                  BATON_RETURN_IF_ERROR(Authorize(c.principal, Access::kRead, ""));
                }
                int64_t last = 0;
                if (const std::string id = c.request.Header("last-event-id"); !id.empty())
                  last = std::strtoll(id.c_str(), nullptr, 10);
                std::shared_ptr<EventHub::Subscription> sub = events_->Subscribe(run, last);
                const std::string auth = c.request.Header("authorization");
                HttpResponse r;
                r.content_type = "text/event-stream";
                r.headers = {{"Cache-Control", "no-store"}, {"X-Accel-Buffering", "no"}};
                r.stream = [this, sub, auth](HttpStream& out) {
                  // `ready`: the client reads the state now; events from here on change it.
                  if (!out.Write("retry: 2000\n\nevent: ready\ndata: {}\n\n")) return;
                  int64_t next_ping = MonotonicMicros() + 15'000'000;
                  int64_t next_auth = MonotonicMicros() + 60'000'000;
                  while (out.Open()) {
                    bool reset = false;
                    std::vector<Event> events = sub->Next(std::min(MonotonicMicros() + 500'000, next_ping), &reset);
                    std::string chunk;
                    if (reset) chunk += "event: reset\ndata: {}\n\n";
                    for (const Event& e : events)
                      chunk += "id: " + std::to_string(e.id) + "\nevent: " + e.type + "\ndata: " + e.data + "\n\n";
                    const int64_t now = MonotonicMicros();
                    if (now >= next_ping) {
                      chunk += ": keepalive\n\n";
                      next_ping = now + 15'000'000;
                    }
                    if (!chunk.empty() && !out.Write(chunk)) return;
                    // A token revoked or expired while it listens stops hearing.
                    if (now >= next_auth) {
                      next_auth = now + 60'000'000;
                      auto store = pool_.Borrow();
                      if (store.ok() && !Authenticate(**store, auth, NowMicros(), false).ok()) return;
                    }
                  }
                };
                return r;
              }));
  // The store API: what a metadata URI https://HOST:PORT sends (server/store_api.h).
  router_.Add("POST", "/api/v1/store/{method}", [this](const HttpRequest& req, const PathParams& params) {
    const std::string& method = params.at("method");
    StoreApi::Reply r = store_api_->Handle(req, method);
    if (r.result.ok() && !store_rpc::IsRead(method) && method != store_rpc::kAppendRunLog) events_->Wake();
    HttpResponse resp;
    if (r.result.ok()) {
      resp = JsonResponse(*r.result);
    } else if (r.authenticated && r.result.status().code() != Code::kInternal) {
      // The store's own answer, code and message, for the client to return as it is.
      const Status& st = r.result.status();
      resp = Error(HttpStatusOf(st.code()), ErrorCode(st.code()), st.message());
    } else {
      resp = Failure(r.result.status(), r.authenticated);
    }
    // A failure that did nothing may be sent again; the client sends a write again only then.
    if (r.retry) resp.headers.emplace_back("Retry-After", "1");
    if (!r.user.empty()) resp.headers.emplace_back("X-Baton-User", r.user);
    return resp;
  });
  router_.Add("GET", "/api/v1/schedules", guarded([](Call& c) -> Result<Json> {
                BATON_RETURN_IF_ERROR(Authorize(c.principal, Access::kRead, ""));
                BATON_ASSIGN_OR_RETURN(std::vector<ScheduleRecord> all, c.store.ListSchedules());
                Json list = Json::array();
                for (const auto& s : all) list.push_back(ScheduleJson(s));
                return Json{{"schedules", std::move(list)}};
              }));
  router_.Add("GET", "/api/v1/users", guarded([](Call& c) -> Result<Json> {
                BATON_RETURN_IF_ERROR(Authorize(c.principal, Access::kAdmin, ""));
                BATON_ASSIGN_OR_RETURN(std::vector<UserRecord> users, c.store.ListUsers());
                Json list = Json::array();
                for (const auto& u : users)
                  list.push_back({{"name", u.name}, {"kind", u.kind}, {"role", u.role},
                                  {"created_at", FormatTimestamp(u.created_at)}});
                return Json{{"users", std::move(list)}};
              }));
  // The dashboard (server/dashboard.h): static assets, no token needed.
  auto dashboard = [](const HttpRequest& req, const PathParams&) {
    HttpResponse r;
    if (DashboardAsset(req.path, &r)) return r;
    return Error(404, "not_found", "no such dashboard file: " + req.path);
  };
  router_.Add("GET", "/", dashboard);
  router_.Add("GET", "/ui/{file}", dashboard);
}

}  // namespace baton::server
