#include "store/record_codec.h"

namespace baton {
namespace {

// Each function names every field of a record once, for writing and for reading alike: a new
// field of a record is one more line here.

template <class R, class F>
void Fields(R& r, F&& f, const RunRecord*) {
  f("id", r.id);
  f("pipeline", r.pipeline);
  f("snapshot_hash", r.snapshot_hash);
  f("status", r.status);
  f("reason", r.reason);
  f("created_at", r.created_at);
  f("started_at", r.started_at);
  f("ended_at", r.ended_at);
  f("stack", r.stack);
  f("orchestrator", r.orchestrator);
  f("host", r.host);
  f("pid", r.pid);
  f("pid_start", r.pid_start);
  f("attempt", r.attempt);
  f("parameters", r.parameters);
  f("pipeline_file", r.pipeline_file);
  f("tags", r.tags);
  f("note", r.note);
  f("use_cache", r.use_cache);
  f("schedule", r.schedule);
}

template <class R, class F>
void Fields(R& s, F&& f, const StepRunRecord*) {
  f("id", s.id);
  f("run_id", s.run_id);
  f("step", s.step);
  f("attempt", s.attempt);
  f("status", s.status);
  f("reason", s.reason);
  f("started_at", s.started_at);
  f("ended_at", s.ended_at);
  f("exit_code", s.exit_code);
  f("log_path", s.log_path);
  f("cache_key", s.cache_key);
  f("cached_from", s.cached_from);
  f("metadata", s.metadata);
  f("pid", s.pid);
  f("command", s.command);
  f("cache_components", s.cache_components);
}

template <class R, class F>
void Fields(R& a, F&& f, const ArtifactRecord*) {
  f("id", a.id);
  f("step_run_id", a.step_run_id);
  f("run_id", a.run_id);
  f("pipeline", a.pipeline);
  f("step", a.step);
  f("name", a.name);
  f("version", a.version);
  f("digest", a.digest);
  f("size", a.size);
  f("kind", a.kind);
  f("uri", a.uri);
  f("created_at", a.created_at);
  f("materializer", a.materializer);
  f("type", a.type);
}

template <class R, class F>
void Fields(R& c, F&& f, const ComponentRecord*) {
  f("type", c.type);
  f("name", c.name);
  f("flavor", c.flavor);
  f("config", c.config);
  f("created_at", c.created_at);
  f("updated_at", c.updated_at);
}

template <class R, class F>
void Fields(R& s, F&& f, const StackRecord*) {
  f("name", s.name);
  f("orchestrator", s.orchestrator);
  f("artifact_store", s.artifact_store);
  f("created_at", s.created_at);
  f("updated_at", s.updated_at);
}

template <class R, class F>
void Fields(R& p, F&& f, const PluginRecord*) {
  f("type", p.type);
  f("flavor", p.flavor);
  f("path", p.path);
  f("digest", p.digest);
  f("registered_at", p.registered_at);
}

template <class R, class F>
void Fields(R& u, F&& f, const UserRecord*) {
  f("name", u.name);
  f("kind", u.kind);
  f("role", u.role);
  f("created_at", u.created_at);
}

template <class R, class F>
void Fields(R& t, F&& f, const TokenRecord*) {
  f("id", t.id);
  f("user", t.user);
  f("hash", t.hash);
  f("run_id", t.run_id);
  f("description", t.description);
  f("created_at", t.created_at);
  f("expires_at", t.expires_at);
  f("last_used_at", t.last_used_at);
}

template <class R, class F>
void Fields(R& s, F&& f, const ScheduleRecord*) {
  f("name", s.name);
  f("pipeline_file", s.pipeline_file);
  f("cron", s.cron);
  f("time_zone", s.time_zone);
  f("stack", s.stack);
  f("run_config", s.run_config);
  f("catchup", s.catchup);
  f("overlap", s.overlap);
  f("paused", s.paused);
  f("created_at", s.created_at);
  f("updated_at", s.updated_at);
  f("last_fire", s.last_fire);
  f("last_run", s.last_run);
}

template <class R, class F>
void Fields(R& u, F&& f, const InputUse*) {
  f("name", u.name);
  f("artifact_id", u.artifact_id);
}

template <class R, class F>
void Fields(R& u, F&& f, const OutputUse*) {
  f("name", u.name);
  f("artifact_id", u.artifact_id);
}

class Writer {
 public:
  explicit Writer(Json* out) : out_(out) {}
  template <class T>
  void operator()(const char* name, const T& value) {
    (*out_)[name] = value;
  }
  void operator()(const char* name, RunStatus s) { (*out_)[name] = ToString(s); }
  void operator()(const char* name, StepStatus s) { (*out_)[name] = ToString(s); }

 private:
  Json* out_;
};

class Reader {
 public:
  explicit Reader(const Json& in) : in_(in) {}
  template <class T>
  void operator()(const char* name, T& value) {
    auto it = in_.find(name);
    if (it == in_.end()) return;
    try {
      value = it->get<T>();
    } catch (const Json::exception&) {
      Bad(name);
    }
  }
  void operator()(const char* name, RunStatus& s) {
    std::string text;
    (*this)(name, text);
    if (!text.empty() && !ParseRunStatus(text, &s)) Bad(name);
  }
  void operator()(const char* name, StepStatus& s) {
    std::string text;
    (*this)(name, text);
    if (!text.empty() && !ParseStepStatus(text, &s)) Bad(name);
  }
  const std::string& bad() const { return bad_; }

 private:
  void Bad(const char* name) {
    if (bad_.empty()) bad_ = name;
  }
  const Json& in_;
  std::string bad_;
};

template <class R>
Json Write(const R& r) {
  Json j = Json::object();
  Writer w(&j);
  Fields(r, w, static_cast<const R*>(nullptr));
  return j;
}

template <class R>
std::string Read(const Json& j, R* r) {
  if (!j.is_object()) return "(not an object)";
  Reader reader(j);
  Fields(*r, reader, static_cast<const R*>(nullptr));
  return reader.bad();
}

}  // namespace

#define BATON_RECORD_CODEC(R)                                        \
  Json RecordJson(const R& r) { return Write(r); }                   \
  std::string ReadRecord(const Json& j, R* r) { return Read(j, r); }
BATON_RECORD_CODEC(RunRecord)
BATON_RECORD_CODEC(StepRunRecord)
BATON_RECORD_CODEC(ArtifactRecord)
BATON_RECORD_CODEC(ComponentRecord)
BATON_RECORD_CODEC(StackRecord)
BATON_RECORD_CODEC(PluginRecord)
BATON_RECORD_CODEC(UserRecord)
BATON_RECORD_CODEC(TokenRecord)
BATON_RECORD_CODEC(ScheduleRecord)
BATON_RECORD_CODEC(InputUse)
BATON_RECORD_CODEC(OutputUse)
#undef BATON_RECORD_CODEC

}  // namespace baton
