#include "core/step_runner.h"

#include <cstring>

#include "baton/hash.h"
#include "baton/json_text.h"
#include "core/condition.h"
#include "core/functions.h"
#include "core/matrix.h"
#include "core/template.h"

namespace baton {
namespace {
// Free space under which a failed step is said to have met a full disk.
constexpr uint64_t kFullDiskBytes = 64 << 10;
}  // namespace

namespace {
constexpr int kCacheSchema = 1;

std::string Short(const std::string& digest) { return digest.substr(0, 12); }

// Says which component of the cache key differs between an earlier run and this one.
std::string ExplainDifference(const Json& before, const Json& now) {
  std::vector<std::string> why;
  auto obj = [](const Json& j, const char* k) { return j.contains(k) ? j[k] : Json::object(); };
  for (const char* section : {"params", "inputs", "files", "env"}) {
    Json b = obj(before, section), n = obj(now, section);
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string what = std::string(section == std::string("params") ? "parameter" :
                                     section == std::string("inputs") ? "input" :
                                     section == std::string("files") ? "file" : "env") + " '" + it.key() + "'";
      if (!b.contains(it.key())) why.push_back(what + " is new");
      else if (b[it.key()] != it.value()) {
        auto show = [&](const Json& v) {
          std::string s = v.is_string() ? v.get<std::string>() : DumpJson(v);
          return (std::string(section) == "inputs" || std::string(section) == "files") ? Short(s) : s;
        };
        why.push_back(what + " changed (" + show(b[it.key()]) + " -> " + show(it.value()) + ")");
      }
    }
    for (auto it = b.begin(); it != b.end(); ++it)
      if (!n.contains(it.key())) why.push_back(std::string(section) + " '" + it.key() + "' was removed");
  }
  for (const char* k : {"command", "shell", "image", "outputs", "schema"})
    if (before.value(k, Json()) != now.value(k, Json())) why.push_back(std::string(k) + " changed");
  if (before.value("run_id", Json()) != now.value("run_id", Json()))
    why.push_back("the command uses {{run.id}}, which differs in every run");
  if (why.empty()) return "cache key changed";
  std::string s;
  for (const auto& w : why) s += (s.empty() ? "" : "; ") + w;
  return s;
}
}  // namespace

StepRunner::StepRunner(RunContext ctx, MetadataStore* meta, ArtifactStore* artifacts)
    : ctx_(std::move(ctx)), env_(ctx_.env), meta_(meta), artifacts_(artifacts) {
  for (auto& e : env_->Environment())
    if (e.compare(0, 6, "BATON_") != 0) base_env_.push_back(std::move(e));
  run_staging_ = artifacts_->StagingDir() + "/" + ctx_.run_id;
  // Time between SIGTERM and SIGKILL when a step is stopped or times out.
  if (ctx_.kill_grace_us > 0) grace_us_ = ctx_.kill_grace_us;
  kill_grace_env_ = env_->GetEnv("BATON_KILL_GRACE");
  if (kill_grace_env_) ParseDuration(*kill_grace_env_, &grace_us_);
}

std::vector<std::string> StepRunner::BuildEnv(const StepSpec& s, const Settings& eff, const PreparedStep& p,
                                              const std::map<std::string, std::string>& inputs,
                                              const std::map<std::string, std::vector<std::string>>& lists) const {
  std::vector<std::string> env;
  env.reserve(base_env_.size() + 8 + inputs.size() + p.output_paths.size() + eff.env.size());
  for (const auto& e : base_env_) {
    if (!eff.env.empty()) {
      auto eq = e.find('=');
      if (eff.env.count(e.substr(0, eq))) continue;
    }
    env.push_back(e);
  }
  env.push_back("BATON_RUN_ID=" + ctx_.run_id);
  env.push_back("BATON_STEP=" + s.name);
  env.push_back("BATON_ATTEMPT=" + std::to_string(p.attempt));
  env.push_back("BATON_PIPELINE=" + ctx_.spec->name);
  env.push_back("BATON_METADATA=" + p.metadata_path);
  for (const auto& [n, path] : inputs)
    if (n.find('[') == std::string::npos) env.push_back("BATON_INPUT_" + EnvName(n) + "=" + path);
  for (const auto& [n, paths] : lists) {
    std::string joined;
    for (const auto& path : paths) joined += (joined.empty() ? "" : "\n") + path;
    env.push_back("BATON_INPUT_" + EnvName(n) + "=" + joined);
  }
  for (auto it = s.matrix_values.begin(); it != s.matrix_values.end(); ++it)
    env.push_back("BATON_MATRIX_" + EnvName(it.key()) + "=" + ParamToString(*it));
  if (s.item_index >= 0) {
    env.push_back("BATON_ITEM=" + ItemText(s.item));
    env.push_back("BATON_ITEM_INDEX=" + std::to_string(s.item_index));
  }
  for (const auto& [n, path] : p.output_paths) env.push_back("BATON_OUTPUT_" + EnvName(n) + "=" + path);
  for (const auto& pn : ctx_.spec->StepParams(s))
    env.push_back("BATON_PARAM_" + EnvName(pn) + "=" + ParamToString(ctx_.spec->ParamValue(s, pn)));
  for (const auto& [k, v] : eff.env) env.push_back(k + "=" + v);
  return env;
}

// Inputs: the artifacts the producers recorded for this run. Returns why one cannot be
// resolved, or "".
Result<std::string> StepRunner::ResolveInputs(const StepSpec& s, PreparedStep* p, Resolved* r) {
  // Every instance's output of a for_each step: the instances the run has made, in order.
  std::vector<InputRef> dynamic;
  const std::vector<InputRef>* inputs = &s.inputs;
  for (const auto& in : s.inputs)
    if (in.selector == "*") inputs = &dynamic;
  if (inputs == &dynamic) {
    for (const auto& in : s.inputs) {
      if (in.selector != "*") {
        dynamic.push_back(in);
        continue;
      }
      for (const auto& inst : ctx_.spec->steps) {
        if (inst.group != in.step || inst.item_index < 0) continue;
        InputRef e = in;
        e.step = inst.name;
        e.name = in.name + "[" + std::to_string(inst.item_index) + "]";
        e.list = in.name;
        e.selector.clear();
        dynamic.push_back(std::move(e));
      }
      r->input_lists[in.name];  // an empty list is still a list
    }
  }
  for (const auto& in : *inputs) {
    std::optional<ArtifactRecord> art;
    if (auto it = produced_.find(in.step + "/" + in.output); it != produced_.end()) {
      art = it->second;
    } else {
      BATON_ASSIGN_OR_RETURN(art, meta_->FindRunOutput(ctx_.run_id, in.step, in.output));
    }
    if (!art)
      return "input '" + in.name + "' (" + in.step + "." + in.output + ") has not been produced in run " + ctx_.run_id;
    auto path = artifacts_->Get(art->digest);
    if (!path.ok()) return "input '" + in.name + "': " + path.status().message();
    r->input_types[in.name] = {art->materializer, art->type};
    r->input_paths[in.name] = *path;
    if (!in.list.empty()) r->input_lists[in.list].push_back(*path);
    p->inputs.push_back({in.name, art->id});
    p->input_digests[in.name] = art->digest;
  }
  return std::string();
}

// The command: argv lists are exec'd as written; a string goes to /bin/sh -c with each value
// quoted for the context it sits in (bare, "...", '...'), unless it needs no shell at all (then
// it is split and exec'd directly). The step's env values are rendered too.
Status StepRunner::Render(const StepSpec& s, const PreparedStep& p, Resolved* r) const {
  const PipelineSpec& spec = *ctx_.spec;
  TemplateResolver resolve = [&](const TemplatePiece& piece) -> std::string {
    switch (piece.kind) {
      case TemplatePiece::kInput: {
        auto it = r->input_paths.find(piece.text);
        return it == r->input_paths.end() ? std::string() : it->second;
      }
      case TemplatePiece::kMatrix: return ParamToString(s.matrix_values.value(piece.text, Json("")));
      case TemplatePiece::kItem: return ItemText(s.item);
      case TemplatePiece::kItemIndex: return std::to_string(s.item_index);
      case TemplatePiece::kOutput: return p.output_paths.at(piece.text);
      case TemplatePiece::kParam: return ParamToString(spec.ParamValue(s, piece.text));
      case TemplatePiece::kRunId: return ctx_.run_id;
      case TemplatePiece::kStepName: return s.name;
      default: return piece.text;
    }
  };
  auto note_run_id = [&](const std::vector<TemplatePiece>& pieces) {
    for (const auto& piece : pieces) r->uses_run_id = r->uses_run_id || piece.kind == TemplatePiece::kRunId;
  };
  // A list input (every instance's output of a matrix step) stands alone as a word or a list
  // element (validated); it becomes one word or element per path.
  ListResolver lists = [&](const TemplatePiece& piece) -> const std::vector<std::string>* {
    if (piece.kind != TemplatePiece::kInput) return nullptr;
    auto it = r->input_lists.find(piece.text);
    return it == r->input_lists.end() ? nullptr : &it->second;
  };
  auto word_list = [&](const std::vector<TemplatePiece>& w) -> const std::vector<std::string>* {
    return w.size() == 1 ? lists(w[0]) : nullptr;
  };
  if (s.shell) {
    BATON_ASSIGN_OR_RETURN(auto pieces, ParseTemplate(s.run[0]));
    std::vector<std::vector<TemplatePiece>> words;
    BATON_ASSIGN_OR_RETURN(r->display, RenderShellCommand(pieces, resolve, nullptr, lists));
    if (SplitSimpleCommand(pieces, &words)) {
      for (const auto& w : words) {
        if (const auto* l = word_list(w)) r->argv.insert(r->argv.end(), l->begin(), l->end());
        else r->argv.push_back(RenderTemplate(w, resolve));
      }
    } else {
      r->argv = {"/bin/sh", "-c", r->display};
    }
    note_run_id(pieces);
  } else {
    for (const auto& a : s.run) {
      BATON_ASSIGN_OR_RETURN(auto pieces, ParseTemplate(a));
      if (const auto* l = word_list(pieces)) {
        for (const auto& v : *l) {
          r->argv.push_back(v);
          r->display += (r->display.empty() ? "" : " ") + ShellQuote(v);
        }
        continue;
      }
      r->argv.push_back(RenderTemplate(pieces, resolve));
      note_run_id(pieces);
      r->display += (r->display.empty() ? "" : " ") + ShellQuote(r->argv.back());
    }
  }
  r->settings = spec.EffectiveSettings(s);
  r->env_key = Json::object();
  for (auto& [k, v] : r->settings.env) {
    BATON_ASSIGN_OR_RETURN(auto pieces, ParseTemplate(v));
    r->env_key[k] = v;  // the template: the values it references are key components of their own
    note_run_id(pieces);
    v = RenderTemplate(pieces, resolve);
  }
  return Status::Ok();
}

// The cache key: what determines the outputs, with output paths abstracted. The command and
// env enter as templates; the parameter values and input digests they reference are components
// of their own, so --explain can name what changed.
void StepRunner::ComputeCacheKey(const StepSpec& s, const Resolved& r, PreparedStep* p) const {
  const PipelineSpec& spec = *ctx_.spec;
  const Settings& eff = r.settings;  // env rendered; the key takes env_key instead
  Json comp = {{"schema", kCacheSchema}, {"command", s.run}, {"shell", s.shell},
               {"image", eff.image.value_or("")}, {"env", r.env_key}, {"outputs", s.outputs},
               {"inputs", p->input_digests}, {"params", Json::object()}, {"files", Json::object()}};
  for (const auto& pn : spec.StepParams(s)) comp["params"][pn] = spec.ParamValue(s, pn);
  if (r.uses_run_id) comp["run_id"] = ctx_.run_id;
  if (!s.group.empty() && s.item_index < 0) comp["matrix"] = s.matrix_values;
  if (s.item_index >= 0) comp["item"] = s.item;
  if (!s.function.empty()) {
    Json types = Json::object();
    for (const auto& [n, t] : s.output_types) types[n] = t.materializer + ":" + t.type;
    comp["function"] = {{"name", s.function}, {"version", s.code_version}, {"outputs", types}};
  }
  if (eff.cache_files) {
    for (const auto& f : *eff.cache_files) {
      auto d = env_->DigestPath(f.size() && f[0] == '/' ? f : spec.root + "/" + f);
      comp["files"][f] = d.ok() ? d->digest : "missing";
    }
  }
  // Values that are not UTF-8 (refused in pipelines and on the command line) cannot make two
  // keys collide here; file names in `files` are the pipeline's own.
  p->cache_components = DumpJson(comp);
  p->cache_key = Sha256Hex(p->cache_components);
}

// With --explain: why the step runs (refined by TryCacheHit when a result exists).
Result<std::string> StepRunner::WhyItRuns(const StepSpec& s, const PreparedStep& p, bool cache_on) {
  if (!cache_on)
    return std::string(ctx_.use_cache ? "runs: caching is disabled for this step"
                                      : "runs: caching is disabled for this run (--no-cache)");
  BATON_ASSIGN_OR_RETURN(auto prev, meta_->PreviousStepRun(ctx_.spec->name, s.name, ctx_.run_id));
  if (!prev) return std::string("runs: no earlier run of this step");
  if (prev->cache_key != p.cache_key)
    return "runs: " +
           ExplainDifference(Json::parse(prev->cache_components.empty() ? "{}" : prev->cache_components),
                             Json::parse(p.cache_components)) +
           " since run " + prev->run_id;
  return std::string("runs: the earlier outputs with the same key are gone");
}

// A cache hit: a completed step run with the same key whose artifacts all still exist. Records
// the attempt as cached and sets p->done; otherwise leaves p alone (and refines `explain`).
Status StepRunner::TryCacheHit(const StepSpec& s, StepRunRecord rec, PreparedStep* p, std::string* explain) {
  BATON_ASSIGN_OR_RETURN(auto hit, meta_->FindCacheHit(p->cache_key));
  if (!hit) return Status::Ok();
  BATON_ASSIGN_OR_RETURN(auto outs, meta_->StepOutputs(hit->id));
  if (std::string why = CheckCachedOutputs(s, outs, *hit); !why.empty()) {
    if (ctx_.explain) *explain = "runs: " + why;
    return Status::Ok();
  }
  rec.status = StepStatus::kCached;
  rec.cached_from = hit->id;
  rec.reason = "cached from run " + hit->run_id;
  rec.ended_at = env_->NowMicros();
  rec.exit_code = 0;
  rec.metadata = hit->metadata;
  BATON_ASSIGN_OR_RETURN(rec.id, meta_->StartStepRun(rec));
  p->step_run_id = rec.id;
  std::vector<OutputUse> reused;
  for (const auto& [name, art] : outs) {
    reused.push_back({name, art.id});
    produced_[s.name + "/" + name] = art;
  }
  std::vector<ArtifactRecord> none;
  BATON_RETURN_IF_ERROR(meta_->FinishStepRun(rec, &none, reused, p->inputs));
  StepOutcome o{StepStatus::kCached, rec.reason, 0, rec.id, rec.ended_at - rec.started_at, "", ""};
  if (ctx_.explain) {
    o.explain = "cached: same cache key as step run " + std::to_string(hit->id) + " of run " + hit->run_id;
    // A hit from another workspace (a colleague's, on a shared store) says whose.
    if (auto from = meta_->GetRun(hit->run_id); from.ok() && from->pipeline_file != ctx_.spec->file)
      o.explain += " (" + from->pipeline_file + (from->host.empty() ? "" : " on " + from->host) + ")";
  }
  p->done = o;
  return Status::Ok();
}

// Whether a cached result's outputs can be reused: all there, each of the size recorded for it (a
// cheap Stat; the content is hashed when a dependent reads it, and on export). An object of
// another size is damaged: it is quarantined, and the step runs again and stores it anew; its
// record says why. Returns why the result cannot be reused, or "".
std::string StepRunner::CheckCachedOutputs(
    const StepSpec& s, const std::vector<std::pair<std::string, ArtifactRecord>>& outs,
    const StepRunRecord& hit) {
  const std::string from = "a cached result exists (run " + hit.run_id + ")";
  if (outs.size() != s.outputs.size()) return from + " but its artifacts were deleted";
  for (const auto& [name, art] : outs) {
    auto st = artifacts_->Stat(art.digest);
    if (!st.ok()) return from + " but its artifacts were deleted";
    if (static_cast<int64_t>(st->size) == art.size) continue;
    Status q = artifacts_->Quarantine(art.digest);
    damage_notes_[s.name] =
        "the cached output '" + name + "' (run " + hit.run_id + ", " + Short(art.digest) +
        ") was damaged in the artifact store (" + std::to_string(st->size) + " bytes, " +
        std::to_string(art.size) + " recorded); " +
        (q.ok() ? "it was taken out of the store and the step ran again"
                : "the step ran again, but taking it out of the store failed: " + q.message());
    return damage_notes_[s.name];
  }
  return "";
}

// Inputs are hashed before the step reads them: a store on this machine's filesystem hands out
// its objects unverified, and a step must neither compute on damaged bytes nor have results
// derived from them recorded. An object is hashed once per runner while its stat fingerprint
// (inode, size, times) stays the same, so that many consumers of one artifact pay one read.
// Returns why the step cannot run, or "".
std::string StepRunner::VerifyInputs(const Resolved& r, PreparedStep* p) {
  for (const auto& [name, path] : r.input_paths) {
    const std::string& digest = p->input_digests[name];
    auto fp = env_->StatFingerprint(path);
    if (auto v = verified_.find(digest); fp.ok() && v != verified_.end() && v->second == *fp)
      continue;
    auto d = env_->DigestPath(path);
    if (d.ok() && d->digest == digest) {
      if (fp.ok()) verified_[digest] = *fp;
      continue;
    }
    Status q = artifacts_->Quarantine(digest);
    return "input '" + name + "' is damaged in the artifact store: its content " +
           (d.ok() ? "hashes to " + Short(d->digest)
                   : "cannot be read (" + d.status().message() + ")") +
           ", not " + Short(digest) + "; " +
           (q.ok()
                ? "it was taken out of the store, so that its producer runs again in the next run"
                : "taking it out of the store failed: " + q.message());
  }
  return "";
}

// The staging and log directories, without leftovers of an attempt that baton did not see
// finish (a crash), which must not become outputs.
Status StepRunner::ReadyDirectories(const PreparedStep& p) {
  Status st;
  if (!dirs_ready_) {
    st = env_->MakeDirs(run_staging_);
    if (st.ok()) st = env_->MakeDirs(ctx_.logs_dir);
    dirs_ready_ = st.ok();
  }
  for (const auto& [name, path] : p.output_paths)
    if (st.ok() && env_->Exists(path)) st = env_->RemoveTree(path);
  return st;
}

// An in-process step: the function this binary registered, checked against what its inputs
// hold. Returns why it cannot run, or "".
std::string StepRunner::BindFunction(const StepSpec& s, const Resolved& r, PreparedStep* p) const {
  const PipelineSpec& spec = *ctx_.spec;
  const StepFunction* fn = FindStepFunction(s.function);
  if (fn == nullptr) return "this binary has no in-process step function '" + s.function + "': run the pipeline's own binary";
  // The artifacts must hold what this build of the function reads.
  for (size_t i = 0; i < s.inputs.size() && i < fn->input_types.size(); ++i) {
    const ValueType& want = fn->input_types[i];
    auto got = r.input_types.find(s.inputs[i].name);
    if (got != r.input_types.end() && !got->second.materializer.empty() && !(got->second == want))
      return "input '" + s.inputs[i].name + "' (" + s.inputs[i].step + "." + s.inputs[i].output + ") holds a " +
             got->second.type + " (materializer " + got->second.materializer + "), but step '" + s.name +
             "' reads a " + want.type + " (materializer " + want.materializer + ")";
  }
  const StepBody* body = &fn->body;
  std::vector<std::string> in_paths, out_paths;
  for (const auto& in : s.inputs) in_paths.push_back(r.input_paths.at(in.name));
  for (const auto& o : s.outputs) out_paths.push_back(p->output_paths[o]);
  Json params = Json::object();
  for (const auto& name : spec.StepParams(s)) params[name] = spec.ParamValue(s, name);
  Json instance = Json::object();
  if (s.item_index >= 0) instance = {{"item", s.item}, {"index", s.item_index}};
  else if (!s.group.empty()) instance = {{"matrix", s.matrix_values}};
  p->process.in_process = [env = env_, body, in_paths, out_paths, params, instance, run = ctx_.run_id, step = s.name,
                           attempt = p->attempt, log = p->process.log_path,
                           metadata = p->metadata_path](const std::atomic<bool>& stop) -> std::string {
    StepContext ctx(run, step, attempt, params, log, &stop);
    ctx.SetInstance(instance);
    try {
      (*body)(ctx, in_paths, out_paths);
    } catch (const std::exception& e) {
      ctx.Log() << "error: " << e.what() << std::endl;
      return std::string("exception: ") + e.what();
    } catch (...) {
      ctx.Log() << "error: an exception of unknown type" << std::endl;
      return "exception of unknown type";
    }
    if (stop.load()) return "stopped";
    if (!ctx.metadata().empty()) {
      if (Status w = env->WriteFile(metadata, DumpJson(ctx.metadata())); !w.ok())
        return w.message();
    }
    return "";
  };
  return "";
}

Result<std::vector<Json>> StepRunner::ForEachItems(const StepSpec& t) {
  const ForEachSpec& f = t.for_each;
  const std::string what = f.step + "." + f.output;
  std::optional<ArtifactRecord> art;
  if (auto it = produced_.find(f.step + "/" + f.output); it != produced_.end()) {
    art = it->second;
  } else {
    BATON_ASSIGN_OR_RETURN(art, meta_->FindRunOutput(ctx_.run_id, f.step, f.output));
  }
  if (!art) return FailedPrecondition(what + " has not been produced in run " + ctx_.run_id);
  BATON_ASSIGN_OR_RETURN(std::string path, artifacts_->Get(art->digest));
  if (auto names = env_->ListDir(path); names.ok()) {
    if (f.as == "json" || f.as == "lines")
      return InvalidArgument(what + " is a directory, not a list file (as: " + f.as + ")");
    std::vector<Json> out;
    for (const auto& n : *names) out.push_back(path + "/" + n);
    return out;
  }
  if (f.as == "entries") return InvalidArgument(what + " is a file, not a directory (as: entries)");
  if (art->size > kMaxForEachListBytes)
    return InvalidArgument(what + " is " + std::to_string(art->size) + " bytes; a list file has at most 64 MiB");
  BATON_ASSIGN_OR_RETURN(std::string text, env_->ReadFile(path));
  auto items = ItemsFromText(text, f.as);
  if (!items.ok()) return InvalidArgument(what + ": " + items.status().message());
  return items;
}

// The step a condition's steps.NAME[SELECTOR] reference reads: among the steps the condition
// waits for (matrix references were made concrete when the pipeline was expanded).
std::string StepRunner::ConditionStep(const StepSpec& s, const ConditionRef& ref) const {
  std::vector<std::pair<std::string, std::string>> sel;
  if (!ref.selector.empty()) ParseSelector(ref.selector, &sel);
  for (const auto& w : s.when_steps) {
    if (GroupOf(w) != ref.step) continue;
    if (w == ref.step || sel.empty()) return w;
    const StepSpec* inst = ctx_.spec->FindStep(w);
    if (inst && SelectorMatches(sel, inst->matrix_values)) return w;
  }
  return ref.step;
}

// The value a condition reference stands for, from this run's records.
Result<Json> StepRunner::ConditionValue(const StepSpec& s, const ConditionRef& ref) {
  const PipelineSpec& spec = *ctx_.spec;
  const std::string shown = "{{" + ref.text + "}}";
  if (ref.kind == ConditionRef::kParam) {
    if (!spec.parameters.contains(ref.name)) return InvalidArgument(shown + ": no such parameter");
    return spec.ParamValue(s, ref.name);
  }
  if (ref.kind == ConditionRef::kMatrix) {
    if (!s.matrix_values.contains(ref.name)) return InvalidArgument(shown + ": the step has no such axis");
    return s.matrix_values[ref.name];
  }
  const std::string step = ConditionStep(s, ref);
  Json value;
  if (ref.kind == ConditionRef::kMetadata) {
    BATON_ASSIGN_OR_RETURN(auto runs, meta_->ListStepRuns(ctx_.run_id));
    const StepRunRecord* last = nullptr;
    for (const auto& rec : runs)
      if (rec.step == step && Succeeded(rec.status) && (!last || rec.attempt >= last->attempt)) last = &rec;
    if (!last) return FailedPrecondition(shown + ": step '" + step + "' has not completed in this run");
    if (last->metadata.empty()) return FailedPrecondition(shown + ": step '" + step + "' recorded no metadata");
    value = Json::parse(last->metadata, nullptr, false);
  } else {
    std::optional<ArtifactRecord> art;
    if (auto it = produced_.find(step + "/" + ref.name); it != produced_.end()) {
      art = it->second;
    } else {
      BATON_ASSIGN_OR_RETURN(art, meta_->FindRunOutput(ctx_.run_id, step, ref.name));
    }
    if (!art) return FailedPrecondition(shown + ": step '" + step + "' has not produced '" + ref.name + "' in this run");
    constexpr int64_t kMaxConditionOutput = 1 << 20;
    if (art->size > kMaxConditionOutput)
      return FailedPrecondition(shown + ": the output is " + std::to_string(art->size) +
                                " bytes; a condition reads outputs of at most 1 MiB");
    BATON_ASSIGN_OR_RETURN(std::string path, artifacts_->Get(art->digest));
    BATON_ASSIGN_OR_RETURN(std::string text, env_->ReadFile(path));
    value = Json::parse(text, nullptr, false);
    if (value.is_discarded()) {
      // Not JSON: the text itself, without surrounding white space.
      size_t b = text.find_first_not_of(" \t\r\n"), e = text.find_last_not_of(" \t\r\n");
      value = b == std::string::npos ? std::string() : text.substr(b, e - b + 1);
    }
  }
  std::string at = ref.kind == ConditionRef::kMetadata ? "metadata" : "output '" + ref.name + "'";
  for (const auto& key : ref.path) {
    if (!value.is_object() || !value.contains(key)) {
      std::string have;
      if (value.is_object())
        for (auto it = value.begin(); it != value.end(); ++it) have += (have.empty() ? "" : ", ") + it.key();
      return FailedPrecondition(shown + ": the " + at + " of step '" + step + "' has no '" + key + "'" +
                                (have.empty() ? "" : " (it has: " + have + ")"));
    }
    value = Json(value[key]);
    at += "." + key;
  }
  return value;
}

Result<bool> StepRunner::EvaluateCondition(const StepSpec& s, std::string* values) {
  BATON_ASSIGN_OR_RETURN(Condition c, Condition::Parse(s.when));
  return c.Evaluate([&](const ConditionRef& ref) { return ConditionValue(s, ref); }, values);
}

Result<PreparedStep> StepRunner::Prepare(int index, int attempt) {
  const PipelineSpec& spec = *ctx_.spec;
  const StepSpec& s = spec.steps[index];
  PreparedStep p;
  p.step = index;
  p.attempt = attempt;
  p.started_at = env_->NowMicros();
  std::string condition_note;
  if (!s.when.empty()) {
    std::string values;
    Result<bool> go = EvaluateCondition(s, &values);
    if (go.ok() && !*go) {
      BATON_ASSIGN_OR_RETURN(StepOutcome o, RecordNotRun(index, attempt, StepStatus::kSkipped,
                                                         "condition false: " + s.when + (values.empty() ? "" : " (" + values + ")")));
      o.explain = ctx_.explain ? "skipped: its condition is false" : "";
      p.done = o;
      return p;
    }
    if (!go.ok()) condition_note = "when: " + go.status().message();
  }
  Resolved r;
  BATON_ASSIGN_OR_RETURN(std::string unrunnable, ResolveInputs(s, &p, &r));
  if (unrunnable.empty()) unrunnable = condition_note;
  // Outputs are staged beside each other in the run's staging directory (names cannot clash:
  // step and output names hold no '.'), so a step costs no directory of its own.
  const std::string stage = run_staging_ + "/" + s.name + "." + std::to_string(attempt);
  p.metadata_path = stage + ".metadata.json";
  for (const auto& o : s.outputs) p.output_paths[o] = stage + "." + o;
  BATON_RETURN_IF_ERROR(Render(s, p, &r));
  const bool cache_on = ctx_.use_cache && r.settings.cache.value_or(true);
  if (unrunnable.empty()) ComputeCacheKey(s, r, &p);

  StepRunRecord rec;
  rec.run_id = ctx_.run_id;
  rec.step = s.name;
  rec.attempt = attempt;
  rec.started_at = p.started_at;
  rec.cache_key = p.cache_key;
  rec.cache_components = p.cache_components;
  rec.command = s.function.empty() ? r.display : "in-process function " + s.function;
  std::string explain;
  if (unrunnable.empty() && ctx_.explain) {
    BATON_ASSIGN_OR_RETURN(explain, WhyItRuns(s, p, cache_on));
  }
  if (unrunnable.empty() && cache_on) {
    BATON_RETURN_IF_ERROR(TryCacheHit(s, rec, &p, &explain));
    if (p.done) return p;
  }
  if (unrunnable.empty()) unrunnable = VerifyInputs(r, &p);

  rec.status = StepStatus::kRunning;
  rec.log_path = ctx_.logs_dir + "/" + s.name + "." + std::to_string(attempt) + ".log";
  rec.pid = env_->ProcessId();
  BATON_ASSIGN_OR_RETURN(rec.id, meta_->StartStepRun(rec));
  p.step_run_id = rec.id;
  if (unrunnable.empty()) {
    Status st = ReadyDirectories(p);
    if (!st.ok()) unrunnable = st.message();
  }
  p.process.argv = std::move(r.argv);
  p.process.env = BuildEnv(s, r.settings, p, r.input_paths, r.input_lists);
  p.process.cwd = spec.root;
  p.process.log_path = rec.log_path;
  p.process.timeout_us = r.settings.timeout_us.value_or(0);
  p.process.grace_us = grace_us_;
  if (unrunnable.empty() && !s.function.empty()) unrunnable = BindFunction(s, r, &p);
  if (!unrunnable.empty()) {
    BATON_ASSIGN_OR_RETURN(StepOutcome o, FinishUnlaunched(p, StepStatus::kFailed, unrunnable));
    p.done = o;
    return p;
  }
  for (const auto& [name, path] : r.input_paths) {
    auto fp = env_->StatFingerprint(path);
    if (fp.ok()) p.input_checks[name] = {path, *fp};
  }
  // The orchestrator's per-step `kill_grace`, for flavors that have one (validated when the run
  // was compiled).
  if (auto o = r.settings.orchestrator.find(ctx_.flavor); o != r.settings.orchestrator.end() && !kill_grace_env_) {
    int64_t g;
    if (o->second.contains("kill_grace") && o->second["kill_grace"].is_string() &&
        ParseDuration(o->second["kill_grace"].get<std::string>(), &g))
      p.process.grace_us = g;
  }
  if (ctx_.explain) pending_explain_[rec.id] = explain;
  return p;
}

// A step must not modify what it reads: re-hash an input whose stat fingerprint changed.
// Returns why the attempt fails, or "".
std::string StepRunner::CheckInputsUnchanged(PreparedStep& p) {
  for (const auto& [name, check] : p.input_checks) {
    auto fp = env_->StatFingerprint(check.first);
    if (fp.ok() && *fp == check.second) continue;
    auto d = env_->DigestPath(check.first);
    if (d.ok() && d->digest == p.input_digests[name]) continue;
    // The stored object no longer matches its digest: take it out of the store so that no
    // later step, cache hit or resume can use it; its producer will run again.
    Status q = artifacts_->Quarantine(p.input_digests[name]);
    return "the step modified its input '" + name + "', which is read-only; " +
           (q.ok() ? "the damaged content was removed from the artifact store"
                   : "removing the damaged content failed: " + q.message());
  }
  // Asking the store again lets it take back an object the step hard-linked elsewhere (`ln
  // {{inputs.x}} mine.csv`), before anything is done through that link.
  for (const auto& [name, digest] : p.input_digests) (void)artifacts_->Get(digest);
  return "";
}

// Step metadata: a JSON object written to $BATON_METADATA. Returns why it is unusable, or "".
std::string StepRunner::ReadMetadata(const PreparedStep& p, std::string* metadata) {
  if (!env_->Exists(p.metadata_path)) return "";
  auto text = env_->ReadFile(p.metadata_path);
  if (!text.ok()) return "";
  Json j = Json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "the step wrote invalid JSON to $BATON_METADATA (expected an object)";
  *metadata = DumpJson(j);
  return "";
}

// Outputs: every declared output must exist; each is stored atomically. Returns why the
// attempt fails (with `*arts` empty), or "".
std::string StepRunner::PublishOutputs(const StepSpec& s, PreparedStep& p, std::vector<ArtifactRecord>* arts) {
  for (const auto& o : s.outputs)
    if (!env_->Exists(p.output_paths[o])) return "the step did not write its declared output '" + o + "' ({{outputs." + o + "}})";
  const int64_t now = env_->NowMicros();
  for (const auto& o : s.outputs) {
    auto obj = artifacts_->Put(p.output_paths[o]);
    if (!obj.ok()) {
      arts->clear();
      return (obj.status().code() == Code::kResourceExhausted ? "disk full while storing output '"
                                                              : "cannot store output '") +
             o + "': " + obj.status().message();
    }
    // A local object known to hold what was just hashed needs no hashing again when a step of
    // this run reads it (VerifyInputs), as long as it is not changed meanwhile.
    if (obj->checked && obj->uri.rfind("file://", 0) == 0) {
      if (auto fp = env_->StatFingerprint(obj->uri.substr(7)); fp.ok()) verified_[obj->digest] = *fp;
    }
    ArtifactRecord a;
    a.run_id = ctx_.run_id;
    a.pipeline = ctx_.spec->name;
    a.step = s.name;
    a.name = o;
    a.digest = obj->digest;
    a.size = static_cast<int64_t>(obj->size);
    a.kind = obj->is_dir ? "dir" : "file";
    a.uri = obj->uri;
    if (auto t = s.output_types.find(o); t != s.output_types.end()) {
      a.materializer = t->second.materializer;
      a.type = t->second.type;
    }
    a.created_at = now;
    arts->push_back(std::move(a));
  }
  return "";
}

Result<StepOutcome> StepRunner::Finish(PreparedStep& p, const Completion& c) {
  const StepSpec& s = ctx_.spec->steps[p.step];
  StepRunRecord rec;
  rec.id = p.step_run_id;
  rec.cache_key = p.cache_key;
  rec.exit_code = c.signal ? 128 + c.signal : c.exit_code;
  rec.pid = 0;
  std::vector<ArtifactRecord> arts;
  std::string failure;
  if (!c.ok()) {
    failure = c.Describe(p.process.timeout_us);
    rec.status = c.cancelled ? StepStatus::kStopped : StepStatus::kFailed;
    // A step that failed writing its outputs on a full disk says little more than its exit code.
    if (!c.cancelled && !c.timed_out) {
      auto free = env_->FreeBytes(run_staging_);
      if (free.ok() && *free < kFullDiskBytes) failure += "; the disk holding its outputs is full";
    }
  }
  if (failure.empty()) failure = CheckInputsUnchanged(p);
  if (failure.empty()) failure = ReadMetadata(p, &rec.metadata);
  if (failure.empty()) failure = PublishOutputs(s, p, &arts);
  if (!failure.empty()) {
    if (rec.status == StepStatus::kRunning) rec.status = StepStatus::kFailed;
    rec.reason = failure;
    arts.clear();
    // A failed attempt's outputs are never used: free their space before recording (a step
    // that failed because it filled the disk leaves the store room to record why).
    for (const auto& [name, path] : p.output_paths) (void)env_->RemoveTree(path);
  } else {
    rec.status = StepStatus::kCompleted;
    // A step that ran because its cached result was damaged says so.
    if (auto n = damage_notes_.find(s.name); n != damage_notes_.end()) rec.reason = n->second;
  }
  return Record(p, rec, &arts, {});
}

Result<StepOutcome> StepRunner::FinishUnlaunched(PreparedStep& p, StepStatus status, const std::string& reason) {
  StepRunRecord rec;
  rec.id = p.step_run_id;
  rec.cache_key = p.cache_key;
  rec.status = status;
  rec.reason = reason;
  std::vector<ArtifactRecord> none;
  return Record(p, rec, &none, {});
}

Result<StepOutcome> StepRunner::Record(PreparedStep& p, StepRunRecord& rec, std::vector<ArtifactRecord>* arts,
                                       const std::vector<OutputUse>& reused) {
  rec.ended_at = env_->NowMicros();
  // Lineage of failed attempts is kept too: it shows what a failing step read.
  BATON_RETURN_IF_ERROR(meta_->FinishStepRun(rec, arts, reused, p.inputs));
  if (rec.status == StepStatus::kCompleted)
    for (const auto& a : *arts) produced_[a.step + "/" + a.name] = a;
  // Whatever a failed attempt left in staging is dropped; published outputs were moved away.
  if (!Succeeded(rec.status))
    for (const auto& [name, path] : p.output_paths) (void)env_->RemoveTree(path);
  if (!p.metadata_path.empty()) (void)env_->RemoveTree(p.metadata_path);
  StepOutcome o{rec.status, rec.reason, rec.exit_code, rec.id, rec.ended_at - p.started_at, "", ""};
  o.log_path = p.process.log_path;
  auto it = pending_explain_.find(rec.id);
  if (it != pending_explain_.end()) {
    o.explain = it->second;
    pending_explain_.erase(it);
  }
  return o;
}

std::optional<ProcessSpec> StepRunner::HookProcess(const PreparedStep& p, const StepOutcome& o) const {
  if (o.status == StepStatus::kCached || o.status == StepStatus::kSkipped || o.status == StepStatus::kStopped)
    return std::nullopt;
  const StepSpec& s = ctx_.spec->steps[p.step];
  const std::string& step_hook = o.ok() ? s.hooks.on_success : s.hooks.on_failure;
  const std::string& run_hook = o.ok() ? ctx_.spec->hooks.on_success : ctx_.spec->hooks.on_failure;
  const std::string& cmd = step_hook.empty() ? run_hook : step_hook;
  if (cmd.empty()) return std::nullopt;
  ProcessSpec h;
  h.argv = {"/bin/sh", "-c", cmd};
  h.env = p.process.env.empty() ? base_env_ : p.process.env;
  if (p.process.env.empty()) {
    h.env.push_back("BATON_RUN_ID=" + ctx_.run_id);
    h.env.push_back("BATON_STEP=" + s.name);
    h.env.push_back("BATON_PIPELINE=" + ctx_.spec->name);
  }
  h.env.push_back(std::string("BATON_STEP_STATUS=") + ToString(o.status));
  h.env.push_back("BATON_STEP_REASON=" + o.reason);
  h.env.push_back("BATON_STEP_LOG=" + p.process.log_path);
  h.cwd = ctx_.spec->root;
  h.log_path = ctx_.logs_dir + "/" + s.name + "." + std::to_string(p.attempt) + ".hook.log";
  h.timeout_us = 5 * 60 * 1000000LL;
  h.grace_us = 2 * 1000000LL;
  return h;
}

Result<StepOutcome> StepRunner::RecordNotRun(int index, int attempt, StepStatus status,
                                             const std::string& reason) {
  return RecordNotRunNamed(ctx_.spec->steps[index].name, attempt, status, reason);
}

Result<StepOutcome> StepRunner::RecordNotRunNamed(const std::string& step, int attempt, StepStatus status,
                                                  const std::string& reason) {
  StepRunRecord rec;
  rec.run_id = ctx_.run_id;
  rec.step = step;
  rec.attempt = attempt;
  rec.status = status;
  rec.reason = reason;
  rec.started_at = rec.ended_at = env_->NowMicros();
  BATON_ASSIGN_OR_RETURN(rec.id, meta_->StartStepRun(rec));
  return StepOutcome{status, reason, -1, rec.id, 0, "", ""};
}

}  // namespace baton
