// baton artifacts list|show|export.

#include <set>

#include "app/record_json.h"
#include "app/run_pipeline.h"
#include "cli/cli.h"
#include "platform/fs.h"

namespace baton::cli {

namespace {

int List(const std::string& run, int limit, const std::string& out) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  std::string run_id;
  if (!run.empty()) {
    auto r = ws->meta->GetRun(run);
    if (!r.ok()) return Fail(r.status());
    run_id = r->id;
  }
  auto arts = ws->meta->ListArtifacts(run_id, limit);
  if (!arts.ok()) return Fail(arts.status());
  if (out == "json") {
    Json j = Json::array();
    for (const auto& a : *arts) j.push_back(ArtifactJson(a));
    PrintJson(j);
    return 0;
  }
  Table t({"ID", "PIPELINE", "STEP", "NAME", "VERSION", "DIGEST", "SIZE", "KIND", "RUN", "CREATED"});
  for (const auto& a : *arts)
    t.Add({std::to_string(a.id), a.pipeline, a.step, a.name, "v" + std::to_string(a.version),
           a.digest.substr(0, 12), HumanSize(a.size), a.kind, a.run_id, Ago(a.created_at)});
  t.Print();
  return 0;
}

// Walks lineage upwards: artifact <- producing step run <- its inputs <- ...
Status Lineage(Workspace& ws, const ArtifactRecord& a, int depth, std::set<int64_t>* seen, Json* out, std::string* text) {
  std::string pad(static_cast<size_t>(depth) * 4, ' ');
  BATON_ASSIGN_OR_RETURN(StepRunRecord producer, ws.meta->GetStepRun(a.step_run_id));
  Json node = {{"artifact", a.id}, {"name", a.name}, {"digest", "sha256:" + a.digest},
               {"step", producer.step}, {"step_run", producer.id}, {"run", producer.run_id}, {"inputs", Json::object()}};
  *text += pad + "#" + std::to_string(a.id) + " " + a.step + "." + a.name + " v" + std::to_string(a.version) + " (" +
           a.digest.substr(0, 12) + ")  <- step " + producer.step + " [step run " + std::to_string(producer.id) +
           ", run " + producer.run_id + "]\n";
  if (!seen->insert(a.id).second) {
    *out = node;
    return Status::Ok();
  }
  BATON_ASSIGN_OR_RETURN(auto inputs, ws.meta->StepInputs(producer.id));
  for (const auto& [name, in] : inputs) {
    *text += pad + "  reads " + name + ":\n";
    Json child;
    BATON_RETURN_IF_ERROR(Lineage(ws, in, depth + 1, seen, &child, text));
    node["inputs"][name] = child;
  }
  *out = node;
  return Status::Ok();
}

// Artifacts live in the store of the stack their run used.
Status OpenStoreOf(Workspace& ws, const ArtifactRecord& a) {
  BATON_ASSIGN_OR_RETURN(RunRecord run, ws.meta->GetRun(a.run_id));
  BATON_ASSIGN_OR_RETURN(PipelineSpec spec, LoadRunSpec(ws, run));
  return UseStackArtifactStore(ws, spec);
}

int ShowArtifact(const std::string& id, const std::string& out) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto a = ws->meta->GetArtifact(id);
  if (!a.ok()) return Fail(a.status());
  auto consumers = ws->meta->Consumers(a->id);
  if (!consumers.ok()) return Fail(consumers.status());
  std::set<int64_t> seen;
  Json lineage;
  std::string text;
  Status st = Lineage(*ws, *a, 0, &seen, &lineage, &text);
  if (!st.ok()) return Fail(st);
  st = OpenStoreOf(*ws, *a);
  if (!st.ok()) return Fail(st);
  // Whether the content is there, without fetching it from a remote store; a local store's
  // path to it.
  const bool present = ws->artifacts->Exists(a->digest);
  Result<std::string> path = NotFound("not local");
  if (present && ws->artifacts->uri().rfind("file://", 0) == 0) path = ws->artifacts->Get(a->digest);
  if (out == "json") {
    Json j = ArtifactJson(*a);
    j["present"] = present;
    j["path"] = path.ok() ? Json(*path) : Json();
    j["lineage"] = lineage;
    j["consumers"] = Json::array();
    for (const auto& c : *consumers) j["consumers"].push_back({{"step_run", c.id}, {"step", c.step}, {"run", c.run_id}, {"status", ToString(c.status)}});
    PrintJson(j);
    return 0;
  }
  std::printf("artifact:   #%lld %s.%s v%d\n", static_cast<long long>(a->id), a->step.c_str(), a->name.c_str(), a->version);
  std::printf("digest:     sha256:%s\n", a->digest.c_str());
  std::printf("size:       %s (%s)\n", HumanSize(a->size).c_str(), a->kind.c_str());
  if (!a->materializer.empty()) std::printf("holds:      %s (materializer %s)\n", a->type.c_str(), a->materializer.c_str());
  std::printf("location:   %s%s\n", a->uri.c_str(), present ? "" : "  (content missing from the store)");
  std::printf("produced:   run %s, %s\n", a->run_id.c_str(), FormatTimestamp(a->created_at).c_str());
  std::printf("\nlineage:\n%s", text.c_str());
  std::printf("\nread by:%s\n", consumers->empty() ? " (no step yet)" : "");
  for (const auto& c : *consumers)
    std::printf("  step %s [step run %lld, run %s, %s]\n", c.step.c_str(), static_cast<long long>(c.id), c.run_id.c_str(), ToString(c.status));
  return 0;
}

int Export(const std::string& id, const std::string& dest) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto a = ws->meta->GetArtifact(id);
  if (!a.ok()) return Fail(a.status());
  Status st = OpenStoreOf(*ws, *a);
  if (!st.ok()) return Fail(st);
  st = ws->artifacts->Export(a->digest, dest);
  if (!st.ok()) return Fail(st);
  std::printf("exported #%lld %s.%s (%s) to %s\n", static_cast<long long>(a->id), a->step.c_str(), a->name.c_str(),
              HumanSize(a->size).c_str(), dest.c_str());
  return 0;
}

}  // namespace

void AddArtifactsCommands(CLI::App& app) {
  auto* arts = app.add_subcommand("artifacts", "Inspect artifacts: list, show (with lineage), export");
  arts->require_subcommand(1);

  struct ListArgs { std::string run, output = "table"; int limit = 100; };
  auto la = std::make_shared<ListArgs>();
  auto* list = arts->add_subcommand("list", "List artifacts, newest first");
  list->add_option("--run", la->run, "Only artifacts of this run (produced or reused from the cache)");
  list->add_option("-n,--limit", la->limit, "At most this many (0: all)");
  AddOutputOption(list, &la->output);
  list->callback([la] { SetAction([la] { return List(la->run, la->limit, la->output); }); });

  struct ShowArgs { std::string id, output = "table"; };
  auto sa = std::make_shared<ShowArgs>();
  auto* show = arts->add_subcommand("show", "Show an artifact, where it came from (lineage) and who read it");
  show->add_option("artifact", sa->id, "Artifact id or digest prefix (6+ hex digits)")->required();
  AddOutputOption(show, &sa->output);
  show->callback([sa] { SetAction([sa] { return ShowArtifact(sa->id, sa->output); }); });

  struct ExportArgs { std::string id, dest; };
  auto ea = std::make_shared<ExportArgs>();
  auto* exp = arts->add_subcommand("export", "Copy an artifact's content out of the store");
  exp->add_option("artifact", ea->id, "Artifact id or digest prefix")->required();
  exp->add_option("dest", ea->dest, "Destination path (must not exist)")->required();
  exp->callback([ea] { SetAction([ea] { return Export(ea->id, ea->dest); }); });

  AddArtifactsGcCommand(arts);
}

}  // namespace baton::cli
