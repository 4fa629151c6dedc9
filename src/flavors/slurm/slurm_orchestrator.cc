#include "flavors/slurm/slurm_orchestrator.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <chrono>
#include <optional>
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
                        const std::vector<std::string>& options, const std::vector<std::string>& argv) {
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
  for (const auto& a : argv) s += " " + ShellQuote(a);
  return s + "\n";
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
    const bool final = step.settings.value("retries", Json::object()).value("max", 0) == 0;
    auto argv = AttemptCommand(step, 1, ResultFile(req.log_dir + "/results", step.name, 1), final);
    BATON_RETURN_IF_ERROR(fs::WriteFileAtomic(ScriptPath(dir, step.name, 1), BatchScript(req, step, 1, opts, argv)));
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

namespace {

// The StepBackend of the slurm flavor: one batch job per attempt, held by Slurm until its
// upstream jobs completed (afterok). Handles are job ids.
class SlurmBackend : public StepBackend {
 public:
  SlurmBackend(const SubmitRequest& req, const Json& config) : req_(req), config_(config), dir_(req.log_dir + "/slurm") {
    ParseDuration(config.value("poll_interval", std::string("1s")), &poll_us_);
  }

  bool HoldsDependencies() const override { return true; }

  Result<std::string> Start(const AttemptRequest& a) override {
    if (started_ == 0) {
      BATON_RETURN_IF_ERROR(fs::MakeDirs(dir_));
      t0_ = MonotonicMicros();
    }
    const StepJob& step = *a.step;
    Job job{step.name, a.attempt, dir_ + "/" + step.name + "." + std::to_string(a.attempt) + ".out", a.result_file};
    const std::string script = ScriptPath(dir_, step.name, a.attempt);
    auto opts = SlurmOrchestrator::SbatchOptions(req_, step, a.attempt, job.output);
    BATON_RETURN_IF_ERROR(fs::WriteFileAtomic(script, BatchScript(req_, step, a.attempt, opts, a.argv)));
    std::vector<std::string> argv = {Tool(config_, "sbatch"), "--parsable"};
    if (!a.after.empty()) argv.push_back("--dependency=" + Dependency(a.after));
    for (const auto& x : step.settings.value("orchestrator", Json::object()).value("sbatch_args", Json::array()))
      argv.push_back(x.get<std::string>());
    argv.push_back(script);
    BATON_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, req_.env));
    if (r.exit_code != 0) return CommandError(argv, r);
    std::string id = Trim(r.out);
    if (auto semi = id.find(';'); semi != std::string::npos) id.resize(semi);  // "id;cluster"
    if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
      return Unavailable("sbatch printed no job id: " + Trim(r.out + r.err));
    jobs_[id] = std::move(job);
    ++started_;
    return id;
  }

  Status Redepend(const std::string& handle, const std::vector<std::string>& after) override {
    std::vector<std::string> argv = {Tool(config_, "scontrol"), "update", "JobId=" + handle,
                                     "Dependency=" + (after.empty() ? std::string() : Dependency(after))};
    BATON_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv));
    return r.exit_code == 0 ? Status::Ok() : CommandError(argv, r);
  }

  // One squeue call for the run's jobs per poll interval; jobs slurmctld no longer holds come
  // from sacct.
  Result<std::map<std::string, AttemptEnd>> Wait(const std::vector<std::string>& live, int64_t timeout_us) override {
    LogSubmission();
    std::map<std::string, AttemptEnd> ends;
    const int64_t now = MonotonicMicros();
    if (now >= next_poll_) {
      next_poll_ = now + poll_us_;
      BATON_ASSIGN_OR_RETURN(auto info, Query(live));
      for (const auto& id : live) {
        auto it = info.find(id);
        if (it == info.end() || !Terminal(it->second.state)) continue;
        BATON_ASSIGN_OR_RETURN(AttemptEnd end, EndOf(id, it->second));
        ends[id] = std::move(end);
        jobs_.erase(id);
      }
      if (!ends.empty()) return ends;
    }
    const int64_t nap = std::min(timeout_us, std::max<int64_t>(0, next_poll_ - MonotonicMicros()));
    std::this_thread::sleep_for(std::chrono::microseconds(nap));
    return ends;
  }

  Status Cancel(const std::vector<std::string>& ids, bool stop) override {
    if (!stop) {
      for (const auto& id : ids) jobs_.erase(id);
      return Scancel(config_, ids);
    }
    stopping_ = true;
    // scancel signals every process of a job at once, so a step could end (a shell whose
    // command was killed exits 0) before its entrypoint sees the stop. Signal the entrypoints
    // (the batch scripts) first, so that they take the step's end as a stop; then cancel every
    // job at once, while the entrypoints are still recording (so that Slurm says CANCELLED).
    std::vector<std::string> first = {Tool(config_, "scancel"), "--batch", "--signal=TERM", "--state=RUNNING"};
    first.insert(first.end(), ids.begin(), ids.end());
    (void)RunCommand(first);
    return Scancel(config_, ids);
  }

 private:
  struct Job {
    std::string step;
    int attempt = 1;
    std::string output;       // the job's stdout and stderr
    std::string result_file;  // the entrypoint's result
  };

  static std::string Dependency(const std::vector<std::string>& after) {
    std::string d = "afterok";
    for (const auto& id : after) d += ":" + id;
    return d;
  }

  void LogSubmission() {
    if (logged_ || started_ == 0) return;
    logged_ = true;
    const int64_t us = MonotonicMicros() - t0_;
    char line[160];
    std::snprintf(line, sizeof line, "submitted %d jobs in %.1f ms (%.2f ms per job)\n", started_, us / 1000.0,
                  us / 1000.0 / started_);
    (void)fs::WriteFileAtomic(dir_ + "/submit.log", line);
  }

  Result<std::map<std::string, JobInfo>> Query(const std::vector<std::string>& live) {
    std::map<std::string, JobInfo> info;
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
    if (missing.empty()) return info;
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
    return info;
  }

  // How an ended job's attempt ended: the entrypoint's result where it wrote one, Slurm's end
  // state where that says more (a time limit, the memory limit, a node failure).
  Result<AttemptEnd> EndOf(const std::string& id, JobInfo ji) {
    const Job& job = jobs_[id];
    if (stopping_ && ji.state == "CANCELLED")
      return AttemptEnd{AttemptEnd::Kind::kCancelled, "Slurm job " + id + " cancelled by the stop (scancel)"};
    const std::optional<StepResult> result = ReadStepResult(job.result_file);
    if (result && !result->status) return AttemptEnd{AttemptEnd::Kind::kFailed, "Slurm job " + id + " failed: " + result->error};
    const std::optional<AttemptEnd> recorded = EndFromResult(job.result_file);
    // A step whose condition is false exits non-zero so that afterok holds its dependents.
    if (recorded && recorded->kind == AttemptEnd::Kind::kSkipped) return *recorded;
    if (ji.state == "COMPLETED") return recorded.value_or(AttemptEnd{AttemptEnd::Kind::kSucceeded, ""});
    if (ji.exit_code.empty()) {
      // squeue does not print exit codes; scontrol does while slurmctld holds the job.
      std::vector<std::string> argv = {Tool(config_, "scontrol"), "show", "job", "-o", id};
      BATON_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv));
      auto p = r.out.find(" ExitCode=");
      if (p != std::string::npos) ji.exit_code = r.out.substr(p + 10, r.out.find(' ', p + 10) - p - 10);
    }
    auto output = fs::ReadFile(job.output);
    std::string reason =
        SlurmOrchestrator::FailureReason(id, ji.state, ji.exit_code, ji.time_limit, output.ok() ? *output : "");
    if (reason.empty() && recorded) return *recorded;
    return AttemptEnd{AttemptEnd::Kind::kFailed, reason};
  }

  const SubmitRequest& req_;
  const Json& config_;
  const std::string dir_;
  int64_t poll_us_ = 1'000'000;
  int64_t next_poll_ = 0;
  std::map<std::string, Job> jobs_;  // by job id, until it ends
  int started_ = 0;
  int64_t t0_ = 0;
  bool logged_ = false;
  bool stopping_ = false;
};

}  // namespace

Status SlurmOrchestrator::Submit(const SubmitRequest& req) {
  SlurmBackend backend(req, config_);
  DagDriver driver(req, &backend);
  auto registered = running_.Register(req.run_id, &driver);
  return driver.Run();
}

Status SlurmOrchestrator::Stop(const std::string& run_id) {
  running_.Stop(run_id);
  return Status::Ok();
}

Result<std::string> SlurmOrchestrator::Cleanup(const std::string& run_id) {
  std::vector<std::string> argv = {Tool(config_, "squeue"), "-h", "-o", "%i|%k"};
  BATON_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv));
  if (r.exit_code != 0) return CommandError(argv, r);
  const std::string mark = "baton run=" + run_id + " ";
  std::vector<std::string> ids;
  for (const auto& line : SplitLines(r.out)) {
    auto f = Split(line, '|');
    if (f.size() >= 2 && f[1].rfind(mark, 0) == 0) ids.push_back(Trim(f[0]));
  }
  if (ids.empty()) return std::string();
  BATON_RETURN_IF_ERROR(Scancel(config_, ids));
  return "cancelled its backend jobs (" + std::to_string(ids.size()) + " Slurm job(s))";
}

}  // namespace baton
