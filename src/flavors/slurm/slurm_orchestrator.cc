#include "flavors/slurm/slurm_orchestrator.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <thread>

#include "core/spec.h"
#include "platform/fs.h"
#include "platform/process.h"

namespace baton {
namespace {

// Quotes `s` for bash.
std::string ShellQuote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:@,+%") ==
                        std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string DurationCheck(const Json& v) {
  int64_t us;
  return ParseDuration(v.get<std::string>(), &us) && us > 0 ? "" : "must be a duration such as 1s or 500ms";
}

// Slurm time limits: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or UNLIMITED.
std::string TimeLimitCheck(const Json& v) {
  const std::string s = v.get<std::string>();
  if (s.empty() || s == "UNLIMITED" || s == "INFINITE") return "";
  int colons = 0, dashes = 0;
  for (char c : s) {
    if (c == ':') ++colons;
    else if (c == '-') ++dashes;
    else if (!std::isdigit(static_cast<unsigned char>(c))) return "must be a Slurm time limit such as 30, 2:00:00 or 1-12:00:00";
  }
  if (colons > 2 || dashes > 1 || s.front() == ':' || s.back() == ':' || s.front() == '-' || s.back() == '-')
    return "must be a Slurm time limit such as 30, 2:00:00 or 1-12:00:00";
  return "";
}

std::string Str(const Json& settings, const char* key) {
  const Json& o = settings.contains("orchestrator") ? settings["orchestrator"] : settings;
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string Tool(const Json& config, const std::string& name) {
  std::string dir = config.value("bin_dir", std::string());
  return dir.empty() ? name : dir + "/" + name;
}

// The script a job runs: the environment baton's steps need, the setup lines, the entrypoint.
std::string BatchScript(const SubmitRequest& req, const StepJob& step, int attempt,
                        const std::vector<std::string>& options) {
  std::string s = "#!/bin/bash\n";
  s += "# baton: run " + req.run_id + ", step " + step.name + ", attempt " + std::to_string(attempt) + "\n";
  for (const auto& o : options) {
    // sbatch reads directives up to whitespace unless the value is double-quoted.
    auto eq = o.find('=');
    bool quote = eq != std::string::npos && o.find_first_of(" \t", eq) != std::string::npos;
    s += "#SBATCH " + (quote ? o.substr(0, eq + 1) + "\"" + o.substr(eq + 1) + "\"" : o) + "\n";
  }
  for (const auto& e : req.env) {
    auto eq = e.find('=');
    s += "export " + e.substr(0, eq) + "=" + ShellQuote(e.substr(eq + 1)) + "\n";
  }
  const std::string setup = Str(step.settings, "setup");
  if (!setup.empty()) s += setup + (setup.back() == '\n' ? "" : "\n");
  s += "exec";
  for (const auto& a : step.command) s += " " + ShellQuote(a);
  s += " --attempt " + std::to_string(attempt) + "\n";
  return s;
}

std::string ScriptPath(const std::string& dir, const std::string& step, int attempt) {
  return dir + "/" + step + "." + std::to_string(attempt) + ".sbatch";
}

bool Terminal(const std::string& state) {
  static const std::set<std::string> kLive = {"PENDING",  "RUNNING",    "CONFIGURING", "COMPLETING", "SUSPENDED",
                                              "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING",   "SIGNALING",
                                              "STAGE_OUT", "STOPPED",   "RESV_DEL_HOLD"};
  return !state.empty() && !kLive.count(state);
}

std::vector<std::string> SplitLines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t at = 0;
  for (;;) {
    size_t p = s.find(sep, at);
    out.push_back(s.substr(at, p == std::string::npos ? std::string::npos : p - at));
    if (p == std::string::npos) return out;
    at = p + 1;
  }
}

Status CommandError(const std::vector<std::string>& argv, const CommandResult& r) {
  std::string msg = Trim(r.err.empty() ? r.out : r.err);
  return Unavailable(argv[0] + " failed (exit code " + std::to_string(r.exit_code) + ")" +
                     (msg.empty() ? "" : ": " + msg));
}

// Cancels the jobs `ids` (scancel).
Status Scancel(const Json& config, const std::vector<std::string>& ids) {
  std::vector<std::string> argv = {Tool(config, "scancel")};
  argv.insert(argv.end(), ids.begin(), ids.end());
  BATON_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv));
  return r.exit_code == 0 ? Status::Ok() : CommandError(argv, r);
}

// What baton knows of one job.
struct JobInfo {
  std::string state;
  std::string exit_code;   // "N:S"
  std::string time_limit;  // as Slurm prints it
};

}  // namespace

FlavorInfo SlurmFlavor() {
  FlavorInfo f;
  f.type = ComponentType::kOrchestrator;
  f.name = "slurm";
  f.summary = "Runs each step as a Slurm batch job (sbatch), with afterok dependencies mirroring the DAG";
  f.schema = {
      {"partition", "string", false, "", "partition (sbatch --partition); empty: the cluster's default", false, false, nullptr},
      {"account", "string", false, "", "account to charge (sbatch --account)", false, false, nullptr},
      {"qos", "string", false, "", "quality of service (sbatch --qos)", false, false, nullptr},
      {"time_limit", "string", false, "",
       "job time limit in Slurm's format (30, 2:00:00, 1-00:00:00); default: the step's timeout rounded up to "
       "whole minutes plus one minute, or the partition's limit",
       false, false, TimeLimitCheck},
      {"sbatch_args", "list", false, Json::array(), "further sbatch arguments, for example --constraint=a100", false,
       false, nullptr},
      {"setup", "string", false, "", "shell lines run before the step on the node, for example 'module load cuda'",
       false, false, nullptr},
      {"workdir", "string", false, "",
       "working directory of the jobs on the shared filesystem (default: the pipeline's directory)", false, false,
       nullptr},
      {"poll_interval", "string", false, "1s", "how often baton asks Slurm about the run's jobs", false, true,
       DurationCheck},
      {"bin_dir", "string", false, "", "directory of sbatch, squeue, sacct and scancel (default: found on PATH)",
       false, true, nullptr},
  };
  f.make_orchestrator = [](const Json& config) -> Result<std::unique_ptr<Orchestrator>> {
    return std::unique_ptr<Orchestrator>(new SlurmOrchestrator(config));
  };
  return f;
}

std::vector<std::string> SlurmOrchestrator::SbatchOptions(const SubmitRequest& req, const StepJob& step, int attempt,
                                                         const std::string& output_path) {
  const Json& s = step.settings;
  std::vector<std::string> o;
  o.push_back("--job-name=" + req.pipeline + "." + step.name);
  o.push_back("--comment=baton run=" + req.run_id + " step=" + step.name + " attempt=" + std::to_string(attempt));
  o.push_back("--output=" + output_path);
  std::string workdir = Str(s, "workdir");
  o.push_back("--chdir=" + (workdir.empty() ? req.workdir : workdir));
  for (const char* k : {"partition", "account", "qos"})
    if (std::string v = Str(s, k); !v.empty()) o.push_back(std::string("--") + k + "=" + v);
  std::string limit = Str(s, "time_limit");
  if (limit.empty() && s.value("timeout_us", int64_t{0}) > 0) {
    // Whole minutes, with a minute for baton to stop the step and record it when the step's own
    // timeout (which the entrypoint enforces) fires first.
    int64_t minutes = (s["timeout_us"].get<int64_t>() + 59'999'999) / 60'000'000 + 1;
    limit = std::to_string(minutes);
  }
  if (!limit.empty()) o.push_back("--time=" + limit);
  if (s.contains("resources")) {
    const Json& r = s["resources"];
    double cpu = r.value("cpu", 1.0);
    o.push_back("--cpus-per-task=" + std::to_string(std::max<int64_t>(1, static_cast<int64_t>(std::ceil(cpu)))));
    int64_t mem = r.value("memory", int64_t{0});
    if (mem > 0) o.push_back("--mem=" + std::to_string((mem + (1 << 20) - 1) >> 20) + "M");
    int64_t gpu = r.value("gpu", int64_t{0});
    if (gpu > 0) o.push_back("--gres=gpu:" + std::to_string(gpu));
  }
  return o;
}

std::string SlurmOrchestrator::FailureReason(const std::string& job_id, const std::string& state,
                                             const std::string& exit_code, const std::string& time_limit,
                                             const std::string& output) {
  const std::string job = "Slurm job " + job_id;
  // The accounting plugin kills a job over its --mem without cgroups; Slurm then reports the job
  // FAILED or CANCELLED, and says why only in the job's output.
  bool over_memory = output.find("Exceeded job memory limit") != std::string::npos ||
                     output.find("exceeded memory limit") != std::string::npos;
  if (state == "COMPLETED") return "";
  if (state == "OUT_OF_MEMORY" || over_memory) return "out of memory: " + job + " exceeded its memory limit (--mem)";
  if (state == "TIMEOUT")
    return "timed out: " + job + " reached its time limit" + (time_limit.empty() ? "" : " (" + time_limit + ")");
  if (state == "NODE_FAIL") return job + " ended with NODE_FAIL: its node failed";
  if (state == "PREEMPTED") return job + " was preempted";
  if (state == "BOOT_FAIL") return job + " ended with BOOT_FAIL: its node could not be booted";
  if (state == "DEADLINE") return job + " missed its deadline";
  if (state == "CANCELLED") return job + " was cancelled outside baton (scancel)";
  if (state == "FAILED") {
    // The entrypoint could not do its work (no workspace on the node, a store it cannot open):
    // its error is in the job's output.
    if (auto e = output.find("baton: error: "); e != std::string::npos)
      return job + " failed: " + output.substr(e + 14, output.find('\n', e) - e - 14);
    // Exit code 1 is the entrypoint's "the step failed", already recorded with its reason.
    if (exit_code == "1:0") return "";
    auto parts = Split(exit_code, ':');
    if (parts.size() == 2 && parts[1] != "0") return job + " was killed by signal " + parts[1];
    return job + " failed with exit code " + (parts.empty() ? exit_code : parts[0]) +
           " before the step entrypoint could record it";
  }
  return job + " ended in state " + state;
}

Status SlurmOrchestrator::Compile(const SubmitRequest& req, const std::string& out_dir) {
  const std::string dir = out_dir + "/slurm";
  BATON_RETURN_IF_ERROR(fs::MakeDirs(dir));
  std::string submit =
      "#!/bin/bash\n# Submits run " + req.run_id + " of pipeline " + req.pipeline +
      " to Slurm, one job per step, in dependency order.\nset -euo pipefail\ncd \"$(dirname \"$0\")\"\n";
  for (const auto& step : req.steps) {
    auto opts = SbatchOptions(req, step, 1, req.log_dir + "/slurm/" + step.name + ".1.%j.out");
    BATON_RETURN_IF_ERROR(fs::WriteFileAtomic(ScriptPath(dir, step.name, 1), BatchScript(req, step, 1, opts)));
    std::string var = "job_" + std::to_string(&step - req.steps.data());
    std::string deps;
    for (const auto& up : step.upstream) {
      for (size_t i = 0; i < req.steps.size(); ++i)
        if (req.steps[i].name == up) deps += ":$job_" + std::to_string(i);
    }
    submit += var + "=$(sbatch --parsable" + (deps.empty() ? "" : " --dependency=afterok" + deps);
    for (const auto& a : config_.value("sbatch_args", Json::array())) submit += " " + ShellQuote(a.get<std::string>());
    submit += " " + ShellQuote(step.name + ".1.sbatch") + ")\n";
    submit += "echo \"" + step.name + " $" + var + "\"\n";
  }
  BATON_RETURN_IF_ERROR(fs::WriteFileAtomic(dir + "/submit.sh", submit));
  BATON_RETURN_IF_ERROR(fs::Chmod(dir + "/submit.sh", 0755));
  return Status::Ok();
}

Status SlurmOrchestrator::Stop(const std::string&) {
  stop_ = true;
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ids.assign(live_jobs_.begin(), live_jobs_.end());
  }
  if (ids.empty()) return Status::Ok();
  // scancel signals every process of a job at once, so a step could end (a shell whose command
  // was killed exits 0) before its entrypoint sees the stop. Signal the entrypoints (the batch
  // scripts) first, so that they take the step's end as a stop; then cancel every job at once,
  // while the entrypoints are still recording (so that Slurm's records say CANCELLED).
  std::vector<std::string> first = {Tool(config_, "scancel"), "--batch", "--signal=TERM", "--state=RUNNING"};
  first.insert(first.end(), ids.begin(), ids.end());
  (void)RunCommand(first);
  return Scancel(config_, ids);
}

Status SlurmOrchestrator::Submit(const SubmitRequest& req) {
  const std::string dir = req.log_dir + "/slurm";
  BATON_RETURN_IF_ERROR(fs::MakeDirs(dir));
  int64_t poll_us = 1'000'000;
  ParseDuration(config_.value("poll_interval", std::string("1s")), &poll_us);

  const size_t n = req.steps.size();
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < n; ++i) index[req.steps[i].name] = i;
  std::vector<std::vector<size_t>> ups(n), downs(n);
  for (size_t i = 0; i < n; ++i)
    for (const auto& u : req.steps[i].upstream) {
      auto it = index.find(u);
      if (it == index.end()) continue;  // done in an earlier attempt of the run
      ups[i].push_back(it->second);
      downs[it->second].push_back(i);
    }

  enum class S { kWaiting, kSubmitted, kRetryWait, kDone, kFailed, kCancelled };
  std::vector<S> st(n, S::kWaiting);
  std::vector<int> attempt(n, 1);
  for (size_t i = 0; i < n; ++i) attempt[i] = std::max(1, req.steps[i].attempt);
  std::vector<std::string> job(n);
  std::vector<int64_t> retry_at(n, 0), delay(n, 0);
  for (size_t i = 0; i < n; ++i) delay[i] = req.steps[i].settings.value("retries", Json::object()).value("delay_us", int64_t{0});

  auto output_of = [&](size_t i) {
    return dir + "/" + req.steps[i].name + "." + std::to_string(attempt[i]) + ".out";
  };
  // The dependency list of step i: the current jobs of its upstream steps not yet done.
  auto dependency = [&](size_t i) {
    std::string d;
    for (size_t u : ups[i])
      if (st[u] != S::kDone) d += ":" + job[u];
    return d.empty() ? std::string() : "afterok" + d;
  };
  auto submit = [&](size_t i) -> Status {
    const StepJob& step = req.steps[i];
    auto opts = SbatchOptions(req, step, attempt[i], output_of(i));
    const std::string script = ScriptPath(dir, step.name, attempt[i]);
    BATON_RETURN_IF_ERROR(fs::WriteFileAtomic(script, BatchScript(req, step, attempt[i], opts)));
    std::vector<std::string> argv = {Tool(config_, "sbatch"), "--parsable"};
    if (std::string d = dependency(i); !d.empty()) argv.push_back("--dependency=" + d);
    for (const auto& a : step.settings.value("orchestrator", Json::object()).value("sbatch_args", Json::array()))
      argv.push_back(a.get<std::string>());
    argv.push_back(script);
    BATON_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, req.env));
    if (r.exit_code != 0) return CommandError(argv, r);
    std::string id = Trim(r.out);
    if (auto semi = id.find(';'); semi != std::string::npos) id.resize(semi);  // "id;cluster"
    if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
      return Unavailable("sbatch printed no job id: " + Trim(r.out + r.err));
    job[i] = id;
    st[i] = S::kSubmitted;
    std::string ids;
    {
      std::lock_guard<std::mutex> lock(mu_);
      live_jobs_.insert(id);
      for (const auto& j : live_jobs_) ids += " " + j;
    }
    // If this baton dies, the next command cancels what is left (see SubmitRequest::log_dir).
    return fs::WriteFileAtomic(req.log_dir + "/cancel.sh", ShellQuote(Tool(config_, "scancel")) + ids + " 2>/dev/null || true\n");
  };
  auto forget = [&](const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    live_jobs_.erase(id);
  };
  // Cancels every step downstream of i that has not ended: it can never run.
  auto cancel_downstream = [&](size_t i) -> Status {
    std::vector<size_t> todo = downs[i];
    std::vector<std::string> ids;
    while (!todo.empty()) {
      size_t d = todo.back();
      todo.pop_back();
      if (st[d] == S::kCancelled || st[d] == S::kDone || st[d] == S::kFailed) continue;
      if (st[d] == S::kSubmitted) {
        ids.push_back(job[d]);
        forget(job[d]);
      }
      st[d] = S::kCancelled;
      for (size_t dd : downs[d]) todo.push_back(dd);
    }
    return ids.empty() ? Status::Ok() : Scancel(config_, ids);
  };

  // Submit everything, upstream first (the request's order).
  const int64_t t0 = MonotonicMicros();
  for (size_t i = 0; i < n && !stop_; ++i) BATON_RETURN_IF_ERROR(submit(i));
  {
    const int64_t us = MonotonicMicros() - t0;
    char line[160];
    std::snprintf(line, sizeof line, "submitted %zu jobs in %.1f ms (%.2f ms per job)\n", n, us / 1000.0,
                  n ? us / 1000.0 / static_cast<double>(n) : 0.0);
    (void)fs::WriteFileAtomic(dir + "/submit.log", line);
  }

  // Follow the jobs.
  bool cancelled_all = false;
  for (;;) {
    std::vector<std::string> live;
    for (size_t i = 0; i < n; ++i)
      if (st[i] == S::kSubmitted) live.push_back(job[i]);
    bool waiting_retry = false;
    for (size_t i = 0; i < n; ++i) waiting_retry |= st[i] == S::kRetryWait;
    if (live.empty() && !waiting_retry) break;
    if (stop_ && !cancelled_all) {
      cancelled_all = true;
      (void)Stop(req.run_id);
      for (size_t i = 0; i < n; ++i)
        if (st[i] == S::kRetryWait || st[i] == S::kWaiting) st[i] = S::kCancelled;
    }

    // One squeue call for the run's jobs; jobs slurmctld no longer holds come from sacct.
    std::map<std::string, JobInfo> info;
    if (!live.empty()) {
      std::string ids;
      for (const auto& id : live) ids += (ids.empty() ? "" : ",") + id;
      std::vector<std::string> argv = {Tool(config_, "squeue"), "-h", "-t", "all", "-j", ids, "-o", "%i|%T|%l"};
      BATON_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv));
      if (r.exit_code == 0) {
        for (const auto& line : SplitLines(r.out)) {
          auto f = Split(line, '|');
          if (f.size() >= 3) info[Trim(f[0])] = {Trim(f[1]), "", Trim(f[2])};
        }
      }
      std::string missing;
      for (const auto& id : live)
        if (!info.count(id)) missing += (missing.empty() ? "" : ",") + id;
      if (!missing.empty()) {
        std::vector<std::string> sacct = {Tool(config_, "sacct"), "-n", "-P", "-X", "-j", missing,
                                          "-o", "JobID,State,ExitCode,Timelimit"};
        BATON_ASSIGN_OR_RETURN(CommandResult a, RunCommand(sacct));
        if (a.exit_code == 0) {
          for (const auto& line : SplitLines(a.out)) {
            auto f = Split(line, '|');
            // "CANCELLED by 0" -> CANCELLED
            if (f.size() >= 4) info[f[0]] = {Split(f[1], ' ')[0], f[2], f[3]};
          }
        }
      }
    }

    const int64_t now = MonotonicMicros();
    for (size_t i = 0; i < n; ++i) {
      if (st[i] == S::kRetryWait && now >= retry_at[i] && !stop_) {
        BATON_RETURN_IF_ERROR(submit(i));
        // Jobs that waited on the failed one wait on the new one.
        for (size_t d : downs[i]) {
          if (st[d] != S::kSubmitted) continue;
          std::vector<std::string> argv = {Tool(config_, "scontrol"), "update", "JobId=" + job[d],
                                           "Dependency=" + dependency(d)};
          BATON_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv));
          if (r.exit_code != 0) return CommandError(argv, r);
        }
        continue;
      }
      if (st[i] != S::kSubmitted) continue;
      auto it = info.find(job[i]);
      if (it == info.end() || !Terminal(it->second.state)) continue;
      JobInfo ji = it->second;
      forget(job[i]);
      if (ji.state == "COMPLETED") {
        st[i] = S::kDone;
        continue;
      }
      if (ji.exit_code.empty()) {
        // squeue does not print exit codes; scontrol does while slurmctld holds the job.
        std::vector<std::string> argv = {Tool(config_, "scontrol"), "show", "job", "-o", job[i]};
        BATON_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv));
        auto p = r.out.find(" ExitCode=");
        if (p != std::string::npos) ji.exit_code = r.out.substr(p + 10, r.out.find(' ', p + 10) - p - 10);
      }
      auto output = fs::ReadFile(output_of(i));
      std::string reason = FailureReason(job[i], ji.state, ji.exit_code, ji.time_limit, output.ok() ? *output : "");
      if (stop_ && ji.state == "CANCELLED") {
        // baton cancelled it: the run is stopped. scancel signals every process of the job, so
        // the step may have died before its entrypoint could record the stop.
        st[i] = S::kCancelled;
        if (req.report_stopped)
          req.report_stopped(req.steps[i].name, attempt[i], "Slurm job " + job[i] + " cancelled by the stop (scancel)");
        continue;
      }
      if (!reason.empty() && req.report_failure) req.report_failure(req.steps[i].name, attempt[i], reason);
      const Json retries = req.steps[i].settings.value("retries", Json::object());
      if (attempt[i] <= retries.value("max", 0) && !stop_) {
        ++attempt[i];
        st[i] = S::kRetryWait;
        retry_at[i] = now + delay[i];
        delay[i] = static_cast<int64_t>(static_cast<double>(delay[i]) * retries.value("backoff", 1.0));
      } else {
        st[i] = S::kFailed;
        BATON_RETURN_IF_ERROR(cancel_downstream(i));
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(poll_us));
  }
  return Status::Ok();
}

}  // namespace baton
