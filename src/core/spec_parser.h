#pragma once
// ManifestParser for pipeline files (format v1): YAML text -> PipelineSpec, with every problem
// reported as file:line:column. Nothing is written anywhere.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "baton/env.h"
#include "core/spec.h"

namespace baton {

// The largest pipeline or run-config file read (larger ones, and what is not a regular file,
// are refused before parsing).
inline constexpr uint64_t kMaxInputFileBytes = 256u << 20;

// Parses and validates. On failure the status message holds one diagnostic per line.
Result<PipelineSpec> ParsePipelineFile(Env& env, const std::string& path);
Result<PipelineSpec> ParsePipelineText(const std::string& text, const std::string& file,
                                       const std::string& root);

// A run config file (`baton run -c run.yaml`): parameter values, settings for every step and for
// single steps, a schedule, a run name template. Values keep their location for diagnostics.
struct RunConfigValue {
  std::string text;
  Location loc;
};
struct RunConfig {
  std::string file;
  std::map<std::string, RunConfigValue> parameters;
  Settings settings;  // over every step's own settings
  struct StepOverride {
    Location loc;
    Settings settings;
    std::map<std::string, RunConfigValue> parameters;
  };
  std::map<std::string, StepOverride> steps;
  std::string schedule;  // cron expression, "" when none
  std::string schedule_name;
  Location schedule_loc;
  std::string run_name;  // template, "" for the default
  Location run_name_loc;
  std::optional<FailureMode> failure_mode;
  std::string stack;
};
Result<RunConfig> ParseRunConfigFile(Env& env, const std::string& path);
Result<RunConfig> ParseRunConfigText(const std::string& text, const std::string& file);
// Applies a run config to a parsed pipeline: checks step and parameter names and types (errors
// name the run config's file:line:column), then overlays parameters and settings.
Status ApplyRunConfig(const RunConfig& rc, PipelineSpec* spec);

// Whether `tmpl` is a valid run name template ({{date}}, {{time}}, {{random}},
// {{pipeline.name}}, {{params.NAME}} and [A-Za-z0-9_.-]).
bool ValidRunNameTemplate(const std::string& tmpl, std::string* why);

// The keys a step may carry (for help texts and templates).
const std::vector<std::string>& StepKeys();

// The closest of `candidates` to `word` when it is near enough to be a likely typo, else "".
std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace baton
