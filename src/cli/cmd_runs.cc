// baton runs list|show|logs.

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <map>
#include <cstring>
#include <thread>

#include "app/orchestrated_run.h"
#include "app/record_json.h"
#include "app/stack.h"
#include "app/workspace.h"
#include "app/run_pipeline.h"
#include "baton/json_text.h"
#include "baton/signal_numbers.h"
#include "cli/cli.h"
#include "core/matrix.h"
#include "core/spec.h"
#include "cli/progress.h"
#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/process.h"

namespace baton::cli {
namespace {

std::string Duration(const RunRecord& r) {
  if (r.ended_at) return FormatDuration(r.ended_at - r.started_at);
  return FormatDuration(NowMicros() - r.started_at) + "+";
}

struct ListArgs {
  std::string pipeline, output = "table", since, until;
  std::vector<std::string> statuses, params, tags;
  int limit = 50;
};

// A point in time from the command line: a duration back from now ("2h", "3d", "90m") or a
// UTC date ("2026-12-01") or time ("2026-12-01T13:00:00").
Result<int64_t> TimeArg(const std::string& flag, const std::string& text) {
  int64_t micros = 0;
  if (ParseDuration(text, &micros)) return NowMicros() - micros;
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr || *end != '\0') {
    tm = std::tm{};
    end = strptime(text.c_str(), "%Y-%m-%d", &tm);
  }
  if (end == nullptr || *end != '\0')
    return InvalidArgument(flag + " " + text +
                           ": give a duration back from now (30m, 2h, 7d) or a UTC date "
                           "(2026-12-01, 2026-12-01T13:00:00)");
  return static_cast<int64_t>(timegm(&tm)) * 1000000;
}

// Whether the run's parameters hold NAME=VALUE (VALUE compared as the parameter's JSON text,
// or as the string itself).
bool HasParam(const RunRecord& r, const std::string& name, const std::string& value) {
  Json p = Json::parse(r.parameters.empty() ? "{}" : r.parameters, nullptr, false);
  if (!p.is_object() || !p.contains(name)) return false;
  const Json& v = p[name];
  return (v.is_string() && v.get<std::string>() == value) || DumpJson(v) == value;
}

int List(const ListArgs& a) {
  std::vector<RunStatus> statuses;
  for (const std::string& name : a.statuses) {
    RunStatus s;
    if (!ParseRunStatus(name, &s)) {
      std::vector<std::string> all;
      for (RunStatus k : kAllRunStatuses) all.push_back(ToString(k));
      std::string known;
      for (const auto& n : all) known += (known.empty() ? "" : ", ") + n;
      auto close = Suggest(name, all);
      return Fail(InvalidArgument("--status " + name + ": not a run status (" + known + ")" +
                                  (close.empty() ? "" : "; did you mean " + close[0] + "?")));
    }
    statuses.push_back(s);
  }
  int64_t since = 0, until = 0;
  if (!a.since.empty()) {
    auto t = TimeArg("--since", a.since);
    if (!t.ok()) return Fail(t.status());
    since = *t;
  }
  if (!a.until.empty()) {
    auto t = TimeArg("--until", a.until);
    if (!t.ok()) return Fail(t.status());
    until = *t;
  }
  std::vector<std::pair<std::string, std::string>> params;
  for (const std::string& p : a.params) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0)
      return Fail(InvalidArgument("--param " + p + ": give NAME=VALUE"));
    params.emplace_back(p.substr(0, eq), p.substr(eq + 1));
  }
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  const bool filtered = !statuses.empty() || since || until || !params.empty() || !a.tags.empty();
  auto all = ws->meta->ListRuns(a.pipeline, filtered ? 0 : a.limit);
  if (!all.ok()) return Fail(all.status());
  // Runs driven in a backend that lost their driver are marked so now: asking the backend is
  // left to the commands that show runs, so that every other command stays fast.
  for (auto& r : *all) {
    auto reaped = ReapLostDetachedRun(*ws, r);
    if (reaped.ok() && *reaped) {
      if (auto again = ws->meta->GetRun(r.id); again.ok()) r = std::move(*again);
    }
  }
  std::vector<RunRecord> runs;
  for (auto& r : *all) {
    if (a.limit > 0 && static_cast<int>(runs.size()) >= a.limit) break;
    if (!statuses.empty() &&
        std::find(statuses.begin(), statuses.end(), r.status) == statuses.end())
      continue;
    if (since && r.created_at < since) continue;
    if (until && r.created_at >= until) continue;
    if (!std::all_of(params.begin(), params.end(),
                     [&](const auto& p) { return HasParam(r, p.first, p.second); }))
      continue;
    if (!std::all_of(a.tags.begin(), a.tags.end(), [&](const std::string& t) {
          return std::find(r.tags.begin(), r.tags.end(), t) != r.tags.end();
        }))
      continue;
    runs.push_back(std::move(r));
  }
  if (a.output == "json") {
    Json j = Json::array();
    for (const auto& r : runs) j.push_back(RunJson(r));
    PrintJson(j);
    return 0;
  }
  Table t({"RUN", "PIPELINE", "STATUS", "STARTED", "DURATION", "TAGS", "REASON"});
  for (const auto& r : runs) {
    std::string tags;
    for (const auto& tag : r.tags) tags += (tags.empty() ? "" : ",") + tag;
    t.Add({r.id, r.pipeline, ToString(r.status), Ago(r.created_at), Duration(r),
           tags.empty() ? "-" : tags, r.reason});
  }
  t.Print();
  return 0;
}

int ShowRun(const std::string& id, const std::string& out) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto run = ws->meta->GetRun(id);
  if (!run.ok()) return Fail(run.status());
  if (auto reaped = ReapLostDetachedRun(*ws, *run); reaped.ok() && *reaped) run = ws->meta->GetRun(run->id);
  if (!run.ok()) return Fail(run.status());
  auto steps = ws->meta->ListStepRuns(run->id);
  if (!steps.ok()) return Fail(steps.status());
  // The instances of a matrix step are listed together, under a line for the step, where its
  // first instance came.
  std::map<std::string, size_t> group_pos;
  std::map<std::string, std::map<std::string, int>> group_counts;  // group -> status -> latest attempts
  std::map<std::string, const StepRunRecord*> newest;
  for (size_t i = 0; i < steps->size(); ++i) {
    const std::string g = GroupOf((*steps)[i].step);
    group_pos.emplace(g, i);
    auto& l = newest[(*steps)[i].step];
    if (!l || (*steps)[i].attempt >= l->attempt) l = &(*steps)[i];
  }
  for (const auto& [name, rec] : newest)
    if (name != GroupOf(name)) group_counts[GroupOf(name)][ToString(rec->status)]++;
  std::stable_sort(steps->begin(), steps->end(), [&](const StepRunRecord& a, const StepRunRecord& b) {
    return group_pos[GroupOf(a.step)] < group_pos[GroupOf(b.step)];
  });
  Json jsteps = Json::array();
  Table t({"STEP", "ATTEMPT", "STATUS", "DURATION", "OUTPUTS", "METRICS", "REASON"});
  std::string last_group;
  for (const auto& s : *steps) {
    const std::string group = GroupOf(s.step);
    const bool instance = group != s.step;
    if (instance && group != last_group) {
      int n = 0;
      std::string counts;
      for (const auto& [status, c] : group_counts[group]) {
        n += c;
        counts += (counts.empty() ? "" : ", ") + std::to_string(c) + " " + status;
      }
      t.Add({group, "-", "-", "-", "-", "-", std::to_string(n) + " instance" + (n == 1 ? "" : "s") + ": " + counts});
    }
    last_group = instance ? group : "";
    auto outs = ws->meta->StepOutputs(s.id);
    auto ins = ws->meta->StepInputs(s.id);
    if (!outs.ok()) return Fail(outs.status());
    if (!ins.ok()) return Fail(ins.status());
    Json metadata = s.metadata.empty() ? Json() : Json::parse(s.metadata, nullptr, false);
    std::string outputs, metrics;
    for (const auto& [name, a] : *outs)
      outputs += (outputs.empty() ? "" : " ") + name + "=#" + std::to_string(a.id) + ":" + a.digest.substr(0, 10) + "(" + HumanSize(a.size) + ")";
    if (metadata.is_object())
      for (auto it = metadata.begin(); it != metadata.end(); ++it) {
        std::string v = it->is_number_float() ? [&] { char b[32]; std::snprintf(b, sizeof b, "%.4g", it->get<double>()); return std::string(b); }()
                                              : it->dump();
        metrics += (metrics.empty() ? "" : " ") + it.key() + "=" + v;
      }
    std::string dur = s.ended_at ? FormatDuration(s.ended_at - s.started_at) : (s.status == StepStatus::kRunning ? FormatDuration(NowMicros() - s.started_at) + "+" : "-");
    t.Add({instance ? "  " + s.step.substr(group.size()) : s.step, std::to_string(s.attempt), ToString(s.status), dur,
           outputs.empty() ? "-" : outputs, metrics.empty() ? "-" : metrics, s.reason});
    jsteps.push_back(StepRunJson(s, *ins, *outs));
  }
  if (out == "json") {
    Json j = RunJson(*run);
    j["steps"] = jsteps;
    PrintJson(j);
    return 0;
  }
  std::printf("run:          %s\n", run->id.c_str());
  std::printf("pipeline:     %s (%s)\n", run->pipeline.c_str(), run->pipeline_file.c_str());
  std::printf("status:       %s%s\n", ToString(run->status), run->reason.empty() ? "" : ("  (" + run->reason + ")").c_str());
  std::printf("started:      %s   duration: %s\n", FormatTimestamp(run->started_at).c_str(), Duration(*run).c_str());
  std::printf("stack:        %s (orchestrator %s)\n", run->stack.c_str(), run->orchestrator.c_str());
  std::printf("parameters:   %s\n", run->parameters.c_str());
  std::printf("snapshot:     sha256:%s\n", run->snapshot_hash.c_str());
  if (!run->use_cache) std::printf("cache:        off (--no-cache; a resume keeps it off)\n");
  if (!run->tags.empty()) {
    std::string tags;
    for (const auto& t : run->tags) tags += (tags.empty() ? "" : " ") + t;
    std::printf("tags:         %s\n", tags.c_str());
  }
  if (!run->note.empty()) std::printf("note:         %s\n", run->note.c_str());
  // The steps whose latest attempt failed, with why, before the table.
  std::map<std::string, const StepRunRecord*> latest;
  for (const auto& s : *steps) latest[s.step] = &s;
  for (const auto& s : *steps) {
    if (latest[s.step] != &s || s.status != StepStatus::kFailed) continue;
    std::printf("failed step:  %s (attempt %d): %s\n", s.step.c_str(), s.attempt,
                s.reason.c_str());
  }
  std::printf("\n");
  t.Print();
  return 0;
}

// NotFound, with a suggestion, when `step` is neither a step run of the run nor a step of its
// pipeline (a step that has not started yet is not an unknown step).
Status CheckStepName(Workspace& ws, const RunRecord& run, const std::vector<StepRunRecord>& steps,
                     const std::string& step) {
  if (step.empty()) return Status::Ok();
  for (const auto& s : steps)
    if (s.step == step) return Status::Ok();
  auto spec = LoadRunSpec(ws, run);
  std::vector<std::string> names;
  if (spec.ok())
    for (const auto& ps : spec->steps) names.push_back(ps.name);
  if (std::find(names.begin(), names.end(), step) != names.end()) return Status::Ok();
  auto close = Suggest(step, names);
  return NotFound("run " + run.id + " has no step '" + step + "'" +
                  (close.empty() ? "" : "; did you mean " + close[0] + "?"));
}

// The note for a step (or a run) that has no log to print.
void NoLogNote(const RunRecord& run, const std::vector<StepRunRecord>& steps,
               const std::string& step) {
  const StepRunRecord* last = nullptr;
  for (const auto& s : steps)
    if (step.empty() || s.step == step) last = &s;
  if (last == nullptr && step.empty()) {
    std::fprintf(stderr, "baton: note: no step of run %s has started yet: no log so far\n",
                 run.id.c_str());
    return;
  }
  if (last == nullptr) {
    std::fprintf(stderr, "baton: note: step %s of run %s has not started yet: no log so far\n",
                 step.c_str(), run.id.c_str());
    return;
  }
  const bool why = last->status == StepStatus::kSkipped || last->status == StepStatus::kCached;
  std::fprintf(stderr, "baton: note: no log for %s (%s%s)\n",
               step.empty() ? "this run" : step.c_str(),
               last->status == StepStatus::kSkipped  ? "it was skipped: "
               : last->status == StepStatus::kCached ? "it was cached: "
                                                     : "it ran no command",
               why ? last->reason.c_str() : "");
}

// One step run's log being followed: the open file and the line it has not ended yet.
struct FollowedLog {
  std::string prefix;  // "[step] " before every line, or ""
  FILE* file = nullptr;
  std::string partial;
  ~FollowedLog() {
    if (file) std::fclose(file);
  }
};

// Prints what is new in a followed log. With a prefix, whole lines, each after it (and with
// `ended`, the unfinished last line too, ended).
void Drain(FollowedLog& log, const std::string& path, bool ended) {
  if (!log.file) log.file = std::fopen(path.c_str(), "r");
  if (log.file) {
    char buf[1 << 15];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, log.file)) > 0) log.partial.append(buf, n);
    std::clearerr(log.file);
  }
  std::string out;
  if (log.prefix.empty()) {
    out.swap(log.partial);  // unprefixed: the bytes as the step wrote them
  } else {
    size_t start = 0;
    for (size_t nl; (nl = log.partial.find('\n', start)) != std::string::npos; start = nl + 1)
      out += log.prefix + log.partial.substr(start, nl - start + 1);
    log.partial.erase(0, start);
    if (ended && !log.partial.empty()) out += log.prefix + log.partial + "\n", log.partial.clear();
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

// Whether following `step` is over: its latest attempt ended and no retry of it can come (a
// failed attempt of a step with retries waits for the next attempt or the end of the run).
bool StepOver(const std::vector<StepRunRecord>& steps, const std::string& step,
              const PipelineSpec* spec) {
  const StepRunRecord* last = nullptr;
  for (const auto& s : steps)
    if (s.step == step) last = &s;
  if (last == nullptr || last->status == StepStatus::kRunning) return false;
  if (last->status != StepStatus::kFailed || spec == nullptr) return true;
  for (const auto& ps : spec->steps)
    if (ps.name == step) return spec->EffectiveSettings(ps).retries().max == 0;
  return true;
}

// Follows a whole run (every step's log as it starts, "[step] " before its lines when the
// pipeline has several steps) or one step (its latest attempt, then any later one), until the
// run or the step ends. Returns 0 when the run (or the step) completed, else 1.
int FollowLogs(Workspace& ws, const RunRecord& run, const std::string& step) {
  auto spec = LoadRunSpec(ws, run);
  const bool prefixed = step.empty() && (!spec.ok() || spec->steps.size() > 1);
  const bool color = ColorEnabled(1);
  std::map<int64_t, FollowedLog> logs;  // by step run id: the order steps started in
  std::vector<StepRunRecord> steps;
  RunRecord now = run;
  for (bool first = true;; first = false) {
    // The run first: when it had ended, the step runs listed after it are final.
    auto r = ws.meta->GetRun(run.id);
    if (!r.ok()) return Fail(r.status());
    now = std::move(*r);
    auto listed = ws.meta->ListStepRuns(run.id);
    if (!listed.ok()) return Fail(listed.status());
    steps = std::move(*listed);
    const bool run_over = now.status != RunStatus::kRunning || !RunProcessAlive(now);
    for (size_t i = 0; i < steps.size(); ++i) {
      const StepRunRecord& s = steps[i];
      if ((!step.empty() && s.step != step) || s.log_path.empty()) continue;
      if (first && !step.empty() &&
          std::any_of(steps.begin() + i + 1, steps.end(),
                      [&](const auto& o) { return o.step == step; }))
        continue;  // one step starts at its latest attempt
      auto [it, added] = logs.try_emplace(s.id);
      if (added && prefixed) it->second.prefix = Paint("[" + s.step + "]", "36", color) + " ";
      Drain(it->second, s.log_path, run_over || s.status != StepStatus::kRunning);
    }
    if (run_over || (!step.empty() && StepOver(steps, step, spec.ok() ? &*spec : nullptr))) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (!step.empty()) {
    if (logs.empty()) NoLogNote(now, steps, step);
    const StepRunRecord* last = nullptr;
    for (const auto& s : steps)
      if (s.step == step) last = &s;
    return last && (last->status == StepStatus::kCompleted || last->status == StepStatus::kCached)
               ? 0
               : 1;
  }
  if (now.status == RunStatus::kRunning)
    std::fprintf(stderr, "baton: note: the baton process driving run %s is gone\n", run.id.c_str());
  return now.status == RunStatus::kCompleted ? 0 : 1;
}

// Copies the logs of a run's steps to stdout; with `follow`, keeps printing until they end.
int Logs(const std::string& id, const std::string& step, int attempt, bool follow) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto run = ws->meta->GetRun(id);
  if (!run.ok()) return Fail(run.status());
  auto steps = ws->meta->ListStepRuns(run->id);
  if (!steps.ok()) return Fail(steps.status());
  if (Status st = CheckStepName(*ws, *run, *steps, step); !st.ok()) return Fail(st);
  if (follow && attempt == 0) return FollowLogs(*ws, *run, step);
  std::vector<StepRunRecord> chosen;
  for (const auto& s : *steps) {
    if (!step.empty() && s.step != step) continue;
    if (attempt > 0 && s.attempt != attempt) continue;
    if (s.log_path.empty()) continue;
    chosen.push_back(s);
  }
  if (!step.empty() && attempt == 0 && !chosen.empty()) chosen = {chosen.back()};
  if (chosen.empty()) {
    int last = 0;
    for (const auto& s : *steps)
      if (step.empty() || s.step == step) last = std::max(last, s.attempt);
    if (attempt > 0 && last > 0 && last < attempt)
      return Fail(NotFound((step.empty() ? "no step of run " + run->id : "step " + step) +
                           " has no attempt " + std::to_string(attempt) + " (attempts: 1-" +
                           std::to_string(last) + ")"));
    NoLogNote(*run, *steps, step);
    return 0;
  }
  for (const auto& s : chosen) {
    if (step.empty())
      std::printf("==> %s (attempt %d, %s) <==\n", s.step.c_str(), s.attempt, ToString(s.status));
    std::fflush(stdout);
    FILE* f = std::fopen(s.log_path.c_str(), "r");
    if (!f && !follow) {
      if (s.command.rfind("in-process function ", 0) == 0) continue;  // it logged nothing
      std::fprintf(stderr, "baton: warning: log %s is missing\n", s.log_path.c_str());
      continue;
    }
    char buf[1 << 15];
    StepStatus status = s.status;
    for (;;) {
      if (f) {
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) std::fwrite(buf, 1, n, stdout);
        std::fflush(stdout);
        std::clearerr(f);
      }
      if (!follow || status != StepStatus::kRunning) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (!f) f = std::fopen(s.log_path.c_str(), "r");
      auto now = ws->meta->GetStepRun(s.id);
      if (!now.ok()) break;
      status = now->status;
    }
    if (f) std::fclose(f);
  }
  return 0;
}

int Stop(const std::string& id, const std::string& wait) {
  int64_t wait_us = 60'000'000;
  if (!wait.empty() && !ParseDuration(wait, &wait_us)) return Fail(InvalidArgument("--wait must be a duration such as 30s"));
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto run = ws->meta->GetRun(id);
  if (!run.ok()) return Fail(run.status());
  if (auto reaped = ReapLostDetachedRun(*ws, *run); reaped.ok() && *reaped) {
    std::printf("run %s: its driver in the orchestrator's backend was gone; marked interrupted\n", run->id.c_str());
    return 0;
  }
  if (run->status != RunStatus::kRunning)
    return Fail(FailedPrecondition("run " + run->id + " is not running (it is " + ToString(run->status) + ")"));
  const bool here = run->host == HostName();
  if (!here) {
    // Driven elsewhere: the request goes through the store, which that baton watches.
    if (Status st = RequestRunStop(*ws->meta, *run, "baton runs stop on " + HostName()); !st.ok()) return Fail(st);
    std::printf("stopping run %s (asked the baton on host %s)...\n", run->id.c_str(), run->host.c_str());
    std::fflush(stdout);
  } else if (!RunProcessAlive(*run)) {
    auto reaped = ReapDeadRuns(*ws);
    if (!reaped.ok()) return Fail(reaped.status());
    std::printf("run %s: its baton process was gone; marked interrupted\n", run->id.c_str());
    return 0;
  }
  // The driving baton takes SIGTERM like Ctrl-C: it terminates every running step (grace, then
  // SIGKILL), records them as stopped and the run as stopped.
  if (here) {
    if (!SignalProcess(run->pid, kSigTerm))
      return Fail(Internal("cannot signal baton process " + std::to_string(run->pid) + ": " + std::strerror(errno)));
    std::printf("stopping run %s (signalled baton process %lld)...\n", run->id.c_str(), static_cast<long long>(run->pid));
    std::fflush(stdout);
  }
  int64_t deadline = MonotonicMicros() + wait_us;
  while (MonotonicMicros() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto now = ws->meta->GetRun(run->id);
    if (!now.ok()) return Fail(now.status());
    if (now->status != RunStatus::kRunning) {
      std::printf("run %s %s%s\n", run->id.c_str(), ToString(now->status), now->reason.empty() ? "" : (" (" + now->reason + ")").c_str());
      return 0;
    }
    if (here && !RunProcessAlive(*now)) {
      (void)ReapDeadRuns(*ws);
      std::printf("run %s: its baton process ended; marked interrupted\n", run->id.c_str());
      return 0;
    }
  }
  return Fail(Status(Code::kDeadlineExceeded, "run " + run->id + " did not stop within " + FormatDuration(wait_us)));
}

struct ResumeArgs {
  std::string run;
  int jobs = 0;
  bool no_cache = false, explain = false, quiet = false;
  std::string output = "table";
};

int Resume(const ResumeArgs& a) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto run = ws->meta->GetRun(a.run);
  if (!run.ok()) return Fail(run.status());
  if (Status st = CheckResumable(*run); !st.ok()) return Fail(st);
  auto spec = LoadRunSpec(*ws, *run);
  if (!spec.ok()) return Fail(spec.status());
  // The run's orchestrator (recorded in its snapshot) may be a plugin flavor.
  auto flavors = LoadFlavors(*ws->meta);
  if (!flavors.ok()) return Fail(flavors.status());
  RunOptions opts;
  opts.jobs = a.jobs;
  // A run started without the cache resumes without it.
  opts.use_cache = !a.no_cache && run->use_cache;
  opts.explain = a.explain;
  opts.flavors = flavors->get();
  bool json = a.output == "json";
  ProgressDisplay progress(*spec, a.quiet || json, a.explain);
  ExecutionObserver silent;
  if (!json) std::printf("resuming run %s (%s)\n", run->id.c_str(), ToString(run->status)), std::fflush(stdout);
  opts.on_stop_signal = [&progress](int signal, int count) { progress.OnStopSignal(signal, count); };
  auto summary = ResumeRun(*ws, *run, *spec, opts, json ? &silent : static_cast<ExecutionObserver*>(&progress));
  progress.Finish();
  if (!summary.ok()) return Fail(summary.status());
  return ReportRun(run->id, *summary, json);
}

struct DriveArgs {
  std::string run, schedule, snapshot, metadata, artifacts;
  bool no_cache = false;
};

// `runs drive`: what a backend runs as a detached run's driver (Orchestrator::Detach), or as a
// firing of a schedule it keeps (ApplySchedule, with BATON_DRIVER_ID naming the firing).
int Drive(const DriveArgs& a) {
  if (a.run.empty() == a.schedule.empty()) return Fail(InvalidArgument("give a run id, or --schedule with --snapshot"));
  if (!a.schedule.empty() && a.snapshot.rfind("sha256:", 0) != 0)
    return Fail(InvalidArgument("--schedule needs --snapshot sha256:HASH"));
  const std::string dir = PosixEnv()->GetEnv("BATON_DIR").value_or("/tmp/baton-driver");
  auto ws = OpenStoresWorkspace(dir, a.metadata, a.artifacts);
  if (!ws.ok()) return Fail(ws.status());
  auto flavors = LoadFlavors(*ws->meta);
  if (!flavors.ok()) return Fail(flavors.status());
  RunOptions opts;
  opts.use_cache = !a.no_cache;
  opts.flavors = flavors->get();
  // The driver's own log (kubectl logs): a line per step start and end.
  std::unique_ptr<ProgressDisplay> progress;
  ExecutionObserver silent;
  auto observer = [&](const std::string& snapshot) -> ExecutionObserver* {
    auto spec = LoadSnapshot(*ws->meta, snapshot, nullptr);
    if (!spec.ok()) return &silent;
    progress = std::make_unique<ProgressDisplay>(*spec, false, false);
    return progress.get();
  };
  std::string run_id = a.run;
  Result<RunSummary> summary = Internal("not driven");
  if (!a.run.empty()) {
    auto run = ws->meta->GetRun(a.run);
    if (!run.ok()) return Fail(run.status());
    std::printf("driving run %s\n", run->id.c_str());
    std::fflush(stdout);
    summary = DriveRun(*ws, run->id, opts, observer("sha256:" + run->snapshot_hash));
  } else {
    const std::string id = PosixEnv()->GetEnv("BATON_DRIVER_ID").value_or("");
    std::printf("driving a run of schedule %s (%s)\n", a.schedule.c_str(), id.c_str());
    std::fflush(stdout);
    summary = DriveScheduledRun(*ws, a.schedule, a.snapshot.substr(7), id, opts, observer(a.snapshot), &run_id);
  }
  if (progress) progress->Finish();
  if (!summary.ok()) return Fail(summary.status());
  // How the run ended is recorded; the driver itself did its work.
  ReportRun(run_id, *summary, false);
  return 0;
}

}  // namespace

void AddRunsCommands(CLI::App& app) {
  auto* runs = app.add_subcommand("runs", "Inspect and control runs: list, show, logs, stop, resume");
  runs->require_subcommand(1);

  auto la = std::make_shared<ListArgs>();
  auto* list = runs->add_subcommand("list", "List runs, newest first");
  list->add_option("--pipeline", la->pipeline, "Only runs of this pipeline");
  list->add_option("--status", la->statuses,
                   "Only runs in this state (repeat or separate by commas: failed,stopped)")
      ->delimiter(',');
  list->add_option("--since", la->since, "Only runs created since: 2h, 7d, 2026-12-01");
  list->add_option("--until", la->until, "Only runs created before: 2h, 7d, 2026-12-01");
  list->add_option("--param", la->params, "Only runs with this parameter value: NAME=VALUE");
  list->add_option("--tag", la->tags, "Only runs with this tag (repeat: all of them)");
  list->add_option("-n,--limit", la->limit, "At most this many runs (0: all)");
  AddOutputOption(list, &la->output);
  list->callback([la] { SetAction([la] { return List(*la); }); });

  struct ShowArgs { std::string run, output = "table"; };
  auto sa = std::make_shared<ShowArgs>();
  auto* show = runs->add_subcommand("show", "Show a run: every step with status, duration, artifacts and metrics (instances of a matrix or for_each step listed under it)");
  show->add_option("run", sa->run, "Run id, a unique prefix of it, or 'last'")->required();
  AddOutputOption(show, &sa->output);
  show->callback([sa] { SetAction([sa] { return ShowRun(sa->run, sa->output); }); });

  struct LogArgs { std::string run, step; int attempt = 0; bool follow = false; };
  auto lg = std::make_shared<LogArgs>();
  auto* logs = runs->add_subcommand("logs", "Print the logs of a run's steps (stdout and stderr)");
  logs->add_option("run", lg->run, "Run id, a unique prefix of it, or 'last'")->required();
  logs->add_option("step", lg->step, "Only this step (default: every step)");
  logs->add_option("--attempt", lg->attempt, "Only this attempt (default: the latest)");
  logs->add_flag("-f,--follow", lg->follow, "Keep printing while the step runs");
  logs->callback([lg] { SetAction([lg] { return Logs(lg->run, lg->step, lg->attempt, lg->follow); }); });

  struct StopArgs { std::string run, wait; };
  auto st = std::make_shared<StopArgs>();
  auto* stop = runs->add_subcommand("stop", "Stop a running run: its steps are terminated and it is recorded as stopped");
  stop->add_option("run", st->run, "Run id, a unique prefix of it, or 'last'")->required();
  stop->add_option("--wait", st->wait, "How long to wait for the run to stop (default 60s)");
  stop->callback([st] { SetAction([st] { return Stop(st->run, st->wait); }); });

  auto ra = std::make_shared<ResumeArgs>();
  auto* resume = runs->add_subcommand("resume", "Run again only the steps of a run that did not complete");
  resume->add_option("run", ra->run, "Run id, a unique prefix of it, or 'last'")->required();
  resume->add_option("-j,--jobs", ra->jobs, "Steps to run at once (default: number of cores)")->check(CLI::PositiveNumber);
  resume->add_flag("--no-cache", ra->no_cache, "Run every remaining step, ignoring earlier results");
  resume->add_flag("--explain", ra->explain, "Say for every step why it ran or which run it was cached from");
  resume->add_flag("-q,--quiet", ra->quiet, "Print only failures and the summary");
  AddOutputOption(resume, &ra->output);
  resume->callback([ra] { SetAction([ra] { return Resume(*ra); }); });

  auto da = std::make_shared<DriveArgs>();
  auto* drive = runs->add_subcommand("drive", "Drive a detached run in the orchestrator's backend (what its driver job runs)");
  drive->group("");  // internal: run by the backend, not by users
  drive->add_option("run", da->run, "Run id");
  drive->add_option("--schedule", da->schedule, "Start and drive a run of this schedule (named after BATON_DRIVER_ID)");
  drive->add_option("--snapshot", da->snapshot, "The schedule's snapshot: sha256:HASH");
  drive->add_option("--metadata", da->metadata, "Metadata store URI")->required();
  drive->add_option("--artifacts", da->artifacts, "Artifact store URI")->required();
  drive->add_flag("--no-cache", da->no_cache, "Run every step, ignoring earlier results");
  drive->callback([da] { SetAction([da] { return Drive(*da); }); });

  AddRunsDeleteCommands(runs);
  AddRunsTransferCommands(runs);
}

}  // namespace baton::cli
