// The slurm flavor: its description, config schema and factory.

#include <cctype>

#include "core/spec.h"
#include "flavors/slurm/slurm_orchestrator.h"

namespace baton {
namespace {

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
      {"poll_interval", "duration", false, "1s", "how often baton asks Slurm about the run's jobs", false, true,
       DurationCheck},
      {"bin_dir", "string", false, "", "directory of sbatch, squeue, sacct and scancel (default: found on PATH)",
       false, true, nullptr},
  };
  f.make_orchestrator = [](const Json& config) -> Result<std::unique_ptr<Orchestrator>> {
    return std::unique_ptr<Orchestrator>(new SlurmOrchestrator(config));
  };
  return f;
}

}  // namespace baton
