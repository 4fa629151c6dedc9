#include "server/api.h"

#include <algorithm>
#include <cstdlib>

#include "app/record_json.h"
#include "baton/format.h"
#include "baton/json_text.h"
#include "core/matrix.h"
#include "platform/fs.h"
#include "server/auth.h"
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
  std::lock_guard<std::mutex> lock(pool_->mu_);
  pool_->free_.push_back(std::move(store_));
}

Result<StorePool::Lease> StorePool::Borrow() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      auto store = std::move(free_.back());
      free_.pop_back();
      return Lease(this, std::move(store));
    }
  }
  BATON_ASSIGN_OR_RETURN(auto store, Stores().OpenMetadataStore(uri_));
  return Lease(this, std::move(store));
}

Api::Api(std::string uri, AccessLog log, ErrorLog errors, ApiOptions options)
    : pool_(std::move(uri)), log_(std::move(log)), errors_(std::move(errors)),
      store_api_(std::make_unique<StoreApi>(&pool_, options.batch_timeout_us)) {}

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
  auto guarded = [this](CallHandler handler) -> RouteHandler {
    return [this, handler](const HttpRequest& req, const PathParams& params) -> HttpResponse {
      auto store = pool_.Borrow();
      if (!store.ok()) return Failure(store.status(), false);
      auto principal = Authenticate(**store, req.Header("authorization"), NowMicros());
      if (!principal.ok()) return Failure(principal.status(), false);
      Call call{req, params, *principal, **store};
      auto out = handler(call);
      HttpResponse r = out.ok() ? JsonResponse(*out) : Failure(out.status(), true);
      r.headers.emplace_back("X-Baton-User", principal->user);
      return r;
    };
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
  router_.Add("GET", "/api/v1/artifacts/{artifact}", guarded([](Call& c) -> Result<Json> {
                auto found = c.store.GetArtifact(c.params.at("artifact"));
                // A run token learns nothing of other runs' artifacts, not even which exist.
                if (!found.ok() && found.status().code() == Code::kNotFound && !c.principal.run_id.empty())
                  return Authorize(c.principal, Access::kRead, "");
                BATON_ASSIGN_OR_RETURN(ArtifactRecord a, std::move(found));
                // A run token sees the artifacts its run made or used (a cached step's outputs
                // were made by an earlier run).
                if (!c.principal.run_id.empty() && a.run_id != c.principal.run_id) {
                  BATON_ASSIGN_OR_RETURN(bool used, RunUses(c.store, c.principal.run_id, a.id));
                  if (!used) return Authorize(c.principal, Access::kRead, a.run_id);
                } else {
                  BATON_RETURN_IF_ERROR(Authorize(c.principal, Access::kRead, a.run_id));
                }
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
  // The store API: what a metadata URI https://HOST:PORT sends (server/store_api.h).
  router_.Add("POST", "/api/v1/store/{method}", [this](const HttpRequest& req, const PathParams& params) {
    StoreApi::Reply r = store_api_->Handle(req, params.at("method"));
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
