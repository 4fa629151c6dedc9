#include "app/record_json.h"

#include "baton/format.h"
#include "core/matrix.h"

namespace baton {

Json JsonOrText(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) return Json(text);
  return j;
}

Json RunJson(const RunRecord& r) {
  return {{"id", r.id},
          {"pipeline", r.pipeline},
          {"status", ToString(r.status)},
          {"reason", r.reason},
          {"created_at", FormatTimestamp(r.created_at)},
          {"ended_at", r.ended_at ? Json(FormatTimestamp(r.ended_at)) : Json()},
          {"duration_s", r.ended_at ? Json((r.ended_at - r.started_at) / 1e6) : Json()},
          {"snapshot", r.snapshot_hash},
          {"stack", r.stack},
          {"orchestrator", r.orchestrator},
          {"attempt", r.attempt},
          {"parameters", Json::parse(r.parameters.empty() ? "{}" : r.parameters, nullptr, false)},
          {"pipeline_file", r.pipeline_file},
          {"tags", r.tags},
          {"note", r.note},
          {"use_cache", r.use_cache},
          {"schedule", r.schedule.empty() ? Json() : Json(r.schedule)}};
}

Json ArtifactJson(const ArtifactRecord& a) {
  Json j = {{"id", a.id},       {"pipeline", a.pipeline}, {"step", a.step},   {"name", a.name},
            {"version", a.version}, {"digest", "sha256:" + a.digest}, {"size", a.size}, {"kind", a.kind},
            {"uri", a.uri},     {"run", a.run_id},        {"step_run", a.step_run_id},
            {"created_at", FormatTimestamp(a.created_at)}};
  if (!a.materializer.empty()) {
    j["materializer"] = a.materializer;
    j["type"] = a.type;
  }
  return j;
}

Json StepRunJson(const StepRunRecord& s, const NamedArtifacts& inputs, const NamedArtifacts& outputs) {
  Json jo = Json::object(), ji = Json::object();
  for (const auto& [name, a] : outputs) jo[name] = ArtifactJson(a);
  for (const auto& [name, a] : inputs) ji[name] = ArtifactJson(a);
  Json metadata = s.metadata.empty() ? Json() : Json::parse(s.metadata, nullptr, false);
  Json j = {{"id", s.id},
            {"step", s.step},
            {"attempt", s.attempt},
            {"status", ToString(s.status)},
            {"reason", s.reason},
            {"started_at", FormatTimestamp(s.started_at)},
            {"duration_s", s.ended_at ? Json((s.ended_at - s.started_at) / 1e6) : Json()},
            {"exit_code", s.exit_code},
            {"command", s.command},
            {"log", s.log_path},
            {"cache_key", s.cache_key},
            {"cached_from", s.cached_from ? Json(s.cached_from) : Json()},
            {"metadata", metadata},
            {"inputs", ji},
            {"outputs", jo}};
  const std::string group = GroupOf(s.step);
  if (group != s.step) {
    j["group"] = group;
    j["instance"] = s.step.substr(group.size() + 1, s.step.size() - group.size() - 2);
  }
  return j;
}

}  // namespace baton
