// baton runs compare|export|import.

#include <cstdio>
#include <map>
#include <set>

#include "app/run_archive.h"
#include "baton/format.h"
#include "baton/json_text.h"
#include "cli/cli.h"

namespace baton::cli {
namespace {

// ---- compare ----

// The latest attempt of one step in one run, as compare shows it.
struct StepView {
  std::string status;
  Json duration_s;  // null while not ended
  bool cached = false;
  std::map<std::string, std::string> outputs;  // name -> "sha256:..."
  std::map<std::string, double> metrics;       // numbers of the step's metadata, by key
};

struct RunView {
  RunRecord run;
  Json parameters = Json::object();
  std::map<std::string, StepView> steps;
  std::vector<std::string> step_order;  // as the steps first started
};

// The numbers of a step's metadata JSON; nested objects give dotted keys ("eval.f1").
void CollectMetrics(const Json& j, const std::string& prefix, std::map<std::string, double>* out) {
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_number())
      (*out)[key] = it->get<double>();
    else if (it->is_object())
      CollectMetrics(*it, key, out);
  }
}

Json DurationSeconds(int64_t started, int64_t ended) {
  return ended ? Json((ended - started) / 1e6) : Json();
}

Result<RunView> LoadRunView(Workspace& ws, const std::string& ref) {
  RunView v;
  BATON_ASSIGN_OR_RETURN(v.run, ws.meta->GetRun(ref));
  Json params = Json::parse(v.run.parameters.empty() ? "{}" : v.run.parameters, nullptr, false);
  if (params.is_object()) v.parameters = params;
  BATON_ASSIGN_OR_RETURN(std::vector<StepRunRecord> steps, ws.meta->ListStepRuns(v.run.id));
  for (const auto& s : steps) {  // in start order: the last attempt of a step wins
    if (!v.steps.count(s.step)) v.step_order.push_back(s.step);
    StepView sv;
    sv.status = ToString(s.status);
    sv.duration_s = DurationSeconds(s.started_at, s.ended_at);
    sv.cached = s.status == StepStatus::kCached;
    BATON_ASSIGN_OR_RETURN(auto outputs, ws.meta->StepOutputs(s.id));
    for (const auto& [name, a] : outputs) sv.outputs[name] = "sha256:" + a.digest;
    if (!s.metadata.empty())
      CollectMetrics(Json::parse(s.metadata, nullptr, false), "", &sv.metrics);
    v.steps[s.step] = std::move(sv);
  }
  return v;
}

// Whether the values differ between the runs.
bool Differ(const std::vector<Json>& values) {
  for (const auto& v : values)
    if (v != values.front()) return true;
  return false;
}

// What compare shows, row by row: a name and one JSON value per run (null where a run lacks it).
struct Rows {
  std::vector<std::string> names;
  std::map<std::string, std::vector<Json>> values;
  void Add(const std::string& name, size_t run, size_t runs, Json value) {
    auto [it, fresh] = values.try_emplace(name, std::vector<Json>(runs));
    if (fresh) names.push_back(name);
    it->second[run] = std::move(value);
  }
};

struct Comparison {
  std::vector<RunView> runs;
  Rows parameters, steps, outputs, metrics;  // outputs: "step.output" -> digest
};

Comparison Compare(std::vector<RunView> runs) {
  Comparison c;
  const size_t n = runs.size();
  std::vector<std::string> step_order;
  std::set<std::string> seen;
  for (const auto& r : runs)
    for (const auto& s : r.step_order)
      if (seen.insert(s).second) step_order.push_back(s);
  std::set<std::string> param_names;
  for (const auto& r : runs)
    for (auto it = r.parameters.begin(); it != r.parameters.end(); ++it)
      param_names.insert(it.key());
  for (size_t i = 0; i < n; ++i) {
    const RunView& r = runs[i];
    for (const auto& p : param_names)
      c.parameters.Add(p, i, n, r.parameters.contains(p) ? r.parameters[p] : Json());
    for (const auto& name : step_order) {
      auto it = r.steps.find(name);
      if (it == r.steps.end()) {
        c.steps.Add(name, i, n, Json());
        continue;
      }
      const StepView& s = it->second;
      Json outputs = Json::object();
      for (const auto& [out, digest] : s.outputs) {
        outputs[out] = digest;
        c.outputs.Add(name + "." + out, i, n, digest);
      }
      c.steps.Add(name, i, n,
                  {{"status", s.status},
                   {"duration_s", s.duration_s},
                   {"cached", s.cached},
                   {"outputs", outputs}});
      for (const auto& [key, value] : s.metrics) c.metrics.Add(name + "." + key, i, n, value);
    }
  }
  c.runs = std::move(runs);
  return c;
}

// Whether a step differs between the runs: its outcome, or any of its outputs. A step that
// completed in one run and was cached in another has the same outcome.
bool StepDiffers(const Comparison& c, const std::string& step) {
  std::vector<Json> statuses;
  for (const Json& v : c.steps.values.at(step)) {
    const Json status = v.is_null() ? Json() : v["status"];
    statuses.push_back(status == "cached" ? Json("completed") : status);
  }
  if (Differ(statuses)) return true;
  for (const auto& name : c.outputs.names)
    if (name.rfind(step + ".", 0) == 0 && Differ(c.outputs.values.at(name))) return true;
  return false;
}

Json ValuesJson(const Rows& rows) {
  Json j = Json::object();
  for (const auto& name : rows.names) j[name] = rows.values.at(name);
  return j;
}

Json DifferingJson(const Rows& rows) {
  Json j = Json::array();
  for (const auto& name : rows.names)
    if (Differ(rows.values.at(name))) j.push_back(name);
  return j;
}

Json ComparisonJson(const Comparison& c) {
  Json runs = Json::array();
  for (const auto& r : c.runs)
    runs.push_back({{"id", r.run.id},
                    {"pipeline", r.run.pipeline},
                    {"status", ToString(r.run.status)},
                    {"reason", r.run.reason},
                    {"created_at", FormatTimestamp(r.run.created_at)},
                    {"duration_s", DurationSeconds(r.run.started_at, r.run.ended_at)},
                    {"tags", r.run.tags},
                    {"note", r.run.note}});
  Json steps_differ = Json::array();
  for (const auto& name : c.steps.names)
    if (StepDiffers(c, name)) steps_differ.push_back(name);
  std::vector<Json> statuses;
  for (const auto& r : c.runs) statuses.push_back(ToString(r.run.status));
  return {{"runs", runs},
          {"parameters", ValuesJson(c.parameters)},
          {"steps", ValuesJson(c.steps)},
          {"metrics", ValuesJson(c.metrics)},
          {"differences",
           {{"status", Differ(statuses)},
            {"parameters", DifferingJson(c.parameters)},
            {"steps", steps_differ},
            {"outputs", DifferingJson(c.outputs)},
            {"metrics", DifferingJson(c.metrics)}}}};
}

std::string Number(double v, const char* format = "%.4g") {
  char buf[32];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string ValueText(const Json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return Number(v.get<double>());
  return DumpJson(v);
}

std::string DurationText(const Json& seconds) {
  return seconds.is_null() ? "-"
                           : FormatDuration(static_cast<int64_t>(seconds.get<double>() * 1e6));
}

std::string Marker(bool differs) { return differs ? "*" : ""; }

std::vector<std::string> Header(const Comparison& c, const std::string& what) {
  std::vector<std::string> h = {"", what};
  for (const auto& r : c.runs) h.push_back(r.run.id);
  return h;
}

void PrintRunsTable(const Comparison& c) {
  Table t(Header(c, "RUN"));
  std::vector<std::string> pipeline = {"", "pipeline"}, status = {"", "status"},
                           duration = {"", "duration"};
  std::vector<Json> statuses;
  for (const auto& r : c.runs) {
    pipeline.push_back(r.run.pipeline);
    status.push_back(ToString(r.run.status));
    statuses.push_back(ToString(r.run.status));
    duration.push_back(DurationText(DurationSeconds(r.run.started_at, r.run.ended_at)));
  }
  status[0] = Marker(Differ(statuses));
  t.Add(pipeline);
  t.Add(status);
  t.Add(duration);
  // Labels only when some run has them.
  std::vector<std::string> tags = {"", "tags"}, note = {"", "note"};
  bool any_tags = false, any_note = false;
  for (const auto& r : c.runs) {
    std::string joined;
    for (const auto& tag : r.run.tags) joined += (joined.empty() ? "" : ",") + tag;
    tags.push_back(joined.empty() ? "-" : joined);
    note.push_back(r.run.note.empty() ? "-" : r.run.note.substr(0, r.run.note.find('\n')));
    any_tags = any_tags || !joined.empty();
    any_note = any_note || !r.run.note.empty();
  }
  if (any_tags) t.Add(tags);
  if (any_note) t.Add(note);
  t.Print();
}

void PrintParametersTable(const Comparison& c) {
  if (c.parameters.names.empty()) return;
  Table t(Header(c, "PARAMETER"));
  for (const auto& name : c.parameters.names) {
    const auto& values = c.parameters.values.at(name);
    std::vector<std::string> row = {Marker(Differ(values)), name};
    for (const auto& v : values) row.push_back(ValueText(v));
    t.Add(row);
  }
  std::printf("\n");
  t.Print();
}

// One row per step (status and duration), then one per output (its digest, abbreviated).
void PrintStepsTable(const Comparison& c) {
  if (c.steps.names.empty()) return;
  Table t(Header(c, "STEP"));
  for (const auto& name : c.steps.names) {
    std::vector<std::string> row = {Marker(StepDiffers(c, name)), name};
    for (const auto& v : c.steps.values.at(name)) {
      const std::string status = v.is_null() ? "-" : v["status"].get<std::string>();
      // A cached step took no time of its own; one that never ran has none.
      const bool timed = !v.is_null() && !v["cached"].get<bool>() && !v["duration_s"].is_null();
      row.push_back(timed ? status + " " + DurationText(v["duration_s"]) : status);
    }
    t.Add(row);
    for (const auto& out : c.outputs.names) {
      if (out.rfind(name + ".", 0) != 0) continue;
      const auto& digests = c.outputs.values.at(out);
      std::vector<std::string> orow = {Marker(Differ(digests)), "  " + out.substr(name.size() + 1)};
      for (const auto& d : digests)
        orow.push_back(d.is_null() ? "-" : d.get<std::string>().substr(7, 12));
      t.Add(orow);
    }
  }
  std::printf("\n");
  t.Print();
}

// Metric values, each after the first run's with its difference to it.
void PrintMetricsTable(const Comparison& c) {
  if (c.metrics.names.empty()) return;
  Table t(Header(c, "METRIC"));
  for (const auto& name : c.metrics.names) {
    const auto& values = c.metrics.values.at(name);
    std::vector<std::string> row = {Marker(Differ(values)), name};
    for (size_t i = 0; i < values.size(); ++i) {
      std::string cell = ValueText(values[i]);
      if (i > 0 && values[i].is_number() && values[0].is_number() && values[i] != values[0])
        cell += " (" + Number(values[i].get<double>() - values[0].get<double>(), "%+.4g") + ")";
      row.push_back(cell);
    }
    t.Add(row);
  }
  std::printf("\n");
  t.Print();
}

int CompareRuns(const std::vector<std::string>& refs, const std::string& output) {
  if (refs.size() < 2)
    return Fail(InvalidArgument(
        "runs compare needs at least two runs: baton runs compare RUN RUN [RUN...]"));
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  std::vector<RunView> runs;
  for (const auto& ref : refs) {
    auto v = LoadRunView(*ws, ref);
    if (!v.ok()) return Fail(v.status());
    runs.push_back(std::move(*v));
  }
  Comparison c = Compare(std::move(runs));
  if (output == "json") {
    PrintJson(ComparisonJson(c));
    return 0;
  }
  PrintRunsTable(c);
  PrintParametersTable(c);
  PrintStepsTable(c);
  PrintMetricsTable(c);
  std::printf("\n* differs between the runs; metrics show the difference to the first run\n");
  return 0;
}

// ---- export, import ----

int ExportRunCommand(const std::string& run, const std::string& file) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto s = ExportRun(*ws, run, file);
  if (!s.ok()) return Fail(s.status());
  std::printf("exported run %s to %s: %s, %s (%s), %s\n", s->run_id.c_str(), file.c_str(),
              Count(s->step_runs, "step run").c_str(), Count(s->artifacts, "artifact").c_str(),
              Count(s->objects, "distinct content").c_str(),
              HumanSize(static_cast<int64_t>(s->bytes)).c_str());
  return 0;
}

int ImportRunCommand(const std::string& file) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto s = ImportRun(*ws, file);
  if (!s.ok()) return Fail(s.status());
  std::printf("imported run %s (pipeline %s, %s): %s, %s, %s\n", s->run_id.c_str(),
              s->pipeline.c_str(), s->status.c_str(), Count(s->step_runs, "step run").c_str(),
              Count(s->artifacts, "artifact").c_str(), Count(s->logs, "log").c_str());
  if (s->dropped_cached_from > 0)
    std::fprintf(stderr,
                 "baton: note: %s reused the outputs of runs this workspace does not have; "
                 "their outputs are recorded as their own, without the step run they came from\n",
                 Count(s->dropped_cached_from, "cached step run").c_str());
  if (s->dropped_inputs > 0)
    std::fprintf(stderr,
                 "baton: note: %s named artifacts no step of the run output; not recorded\n",
                 Count(s->dropped_inputs, "input").c_str());
  return 0;
}

}  // namespace

void AddRunsTransferCommands(CLI::App* runs) {
  struct CompareArgs {
    std::vector<std::string> runs;
    std::string output = "table";
  };
  auto ca = std::make_shared<CompareArgs>();
  auto* compare = runs->add_subcommand(
      "compare", "Compare runs side by side: parameters, step statuses, outputs and metrics");
  compare->add_option("runs", ca->runs, "Two or more runs: ids, unique prefixes or 'last'");
  AddOutputOption(compare, &ca->output);
  compare->callback([ca] { SetAction([ca] { return CompareRuns(ca->runs, ca->output); }); });

  struct ExportArgs {
    std::string run, file;
  };
  auto ea = std::make_shared<ExportArgs>();
  auto* exp = runs->add_subcommand(
      "export", "Write a run, its records and its artifacts' content to one archive file");
  exp->add_option("run", ea->run, "Run id, a unique prefix of it, or 'last'")->required();
  exp->add_option("file", ea->file, "The archive to write (must not exist)")->required();
  exp->callback([ea] { SetAction([ea] { return ExportRunCommand(ea->run, ea->file); }); });

  auto file = std::make_shared<std::string>();
  auto* imp = runs->add_subcommand("import",
                                   "Add a run from an archive of 'runs export' to this workspace");
  imp->add_option("file", *file, "The archive to read")->required();
  imp->callback([file] { SetAction([file] { return ImportRunCommand(*file); }); });
}

}  // namespace baton::cli
