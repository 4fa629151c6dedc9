#pragma once
// PipelineSpec: the validated, in-memory form of a pipeline (from YAML or the C++ API), and its
// canonical JSON form, which is the body of a snapshot.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/status.h"

namespace baton {

using Json = nlohmann::json;

// Where something was written in a pipeline file; line and column are 1-based, 0 when unknown.
struct Location {
  std::string file;
  int line = 0;
  int column = 0;
  std::string ToString() const;
};

// One problem found in a pipeline, with its location.
struct Diagnostic {
  Location loc;
  std::string message;
  std::string ToString() const;  // "file:line:col: error: message", on one line (\n escaped)
};

struct Resources {
  double cpu = 1;         // cores
  int64_t memory = 0;     // bytes; 0 = unaccounted
  int64_t gpu = 0;
  std::map<std::string, int64_t> pools;  // user-named pools
};

struct RetryPolicy {
  int max = 0;               // retries after the first attempt
  int64_t delay_us = 0;      // before the first retry
  double backoff = 2.0;      // delay multiplier per retry
};

struct CachePolicy {
  bool enabled = true;
  std::vector<std::string> files;  // files whose digests join the cache key
};

struct Hooks {
  std::string on_success;
  std::string on_failure;
};

// The settings that may stand in `defaults:`, on a step, under a step's `settings:`, or in a run
// config. Every field is optional so that levels merge field by field: a step that sets
// `resources: {gpu: 1}` keeps the cpu and memory of `defaults`.
struct Settings {
  std::optional<double> cpu;
  std::optional<int64_t> memory;
  std::optional<int64_t> gpu;
  std::map<std::string, int64_t> pools;
  std::optional<int> retry_max;
  std::optional<int64_t> retry_delay_us;
  std::optional<double> retry_backoff;
  std::optional<int64_t> timeout_us;
  std::optional<bool> cache;
  std::optional<std::vector<std::string>> cache_files;
  std::optional<std::string> image;
  std::map<std::string, std::string> env;
  // `orchestrator: {FLAVOR: {key: value}}`: flavor-specific settings, checked against the
  // flavor's schema once the stack is known; merged key by key.
  std::map<std::string, Json> orchestrator;
  // Where each `orchestrator.FLAVOR` block and `orchestrator.FLAVOR.KEY` was written.
  std::map<std::string, Location> locs;

  // Overlays `over` onto this (later wins; env, pools and flavor blocks merge key by key).
  void MergeFrom(const Settings& over);
  bool has_resources() const { return cpu || memory || gpu || !pools.empty(); }
  Resources resources() const;     // with defaults filled in (1 cpu)
  RetryPolicy retries() const;
  CachePolicy cache_policy() const;
};

struct InputRef {
  std::string name;    // local name inside the consuming step
  std::string step;    // producer step
  std::string output;  // producer output
  Location loc;
  // As written, before matrices are expanded: "" for the step itself, "*" for every instance of
  // a matrix step (a list input), or "K=V,..." for one instance.
  std::string selector;
  // After expansion, an element of a list input: the list's name (the consuming step's input
  // name) while `name` is the element's own ("models[C=1]"), "" for a plain input.
  std::string list;
};

// `matrix:` on a step, as written: axes in the order written, combinations added and removed.
struct MatrixSpec {
  std::vector<std::pair<std::string, std::vector<Json>>> axes;
  std::vector<Json> include;  // objects naming every axis
  std::vector<Json> exclude;  // objects naming some axes: every combination matching is removed
  std::string from;           // `matrix: STEP`: the same combinations as that step's
  Location loc;
  bool empty() const { return axes.empty() && include.empty() && from.empty(); }
};

enum class FailureMode { kContinue, kStop, kFailFast };
const char* FailureModeName(FailureMode m);
bool ParseFailureMode(const std::string& s, FailureMode* out);

// How an in-process step's input or output is (de)serialized.
struct ValueType {
  std::string materializer;  // "json", "bytes", "file", "directory", or a user materializer's name
  std::string type;          // "float", "list<string>", "matrix", ...
  bool operator==(const ValueType& o) const { return materializer == o.materializer && type == o.type; }
};

// `for_each:` on a step: one instance per element of a list artifact, known at run time.
struct ForEachSpec {
  std::string step, output;  // the list artifact
  std::string as;            // "json", "lines", "entries", or "" (a directory's entries, a JSON
                             // list, else the lines)
  int64_t max = 0;           // most instances (0: kMaxForEachInstances)
  int parallel = 0;          // most instances running at once (0: no bound of its own)
  Location loc;
  bool empty() const { return step.empty(); }
};

struct StepSpec {
  std::string name;
  Location loc;
  bool shell = true;                 // true: `run` is one string for /bin/sh -c
  std::vector<std::string> run;      // the string (shell) or the argv list
  Location run_loc;
  Location after_loc;  // of the `after:` value
  std::vector<InputRef> inputs;
  std::vector<std::string> outputs;
  std::vector<std::string> after;
  std::vector<std::string> params;   // parameters read only through BATON_PARAM_* (not templates)
  Json parameters = Json::object();  // values a run config sets for this step only
  Settings settings;                 // as written on the step (not merged)
  Hooks hooks;
  // In-process C++ steps (the C++ API): the registered function, a version that joins the cache
  // key (bump it when the function's code changes), and the types of inputs and outputs.
  std::string function;
  std::string code_version;
  bool params_declared = false;  // `params` is the complete list of what the function reads
  std::map<std::string, ValueType> input_types;
  std::map<std::string, ValueType> output_types;
  // A matrix step as written (expanded into instances by ExpandMatrices).
  MatrixSpec matrix;
  // A for_each step as written (instances are added when its list artifact exists).
  ForEachSpec for_each;
  // An instance: the step it was expanded from, and its values (an object, axes in order) or
  // its element and index (for_each).
  std::string group;
  Json matrix_values;
  Json item;
  int64_t item_index = -1;
  // `when:` the condition that decides at run time whether the step runs ("" always runs), and
  // the steps it reads (which it waits for, as with `after`).
  std::string when;
  Location when_loc;
  std::vector<std::string> when_steps;
};

struct PipelineSpec {
  std::string name;
  std::string file;                  // the pipeline file, absolute ("" for C++ pipelines)
  std::string root;                  // directory steps run in (the file's directory)
  Json parameters = Json::object();  // name -> default value (typed)
  std::map<std::string, Location> param_locs;  // where each parameter was declared (not in JSON)
  Settings defaults;
  FailureMode failure_mode = FailureMode::kContinue;
  std::map<std::string, int64_t> pools;  // user-named pool capacities
  Hooks hooks;
  std::vector<StepSpec> steps;       // in file order (a matrix step's instances where it stood)
  int format_version = 0;            // `version:` as written (0: not written)
  Json stack;                        // the stack a snapshot was compiled for (null: none)

  const StepSpec* FindStep(const std::string& name) const;
  // The parameters a step uses: those its templates name plus its `params` list, sorted.
  std::vector<std::string> StepParams(const StepSpec& step) const;
  // The settings a step runs with: pipeline defaults overlaid with the step's own.
  Settings EffectiveSettings(const StepSpec& step) const;
  // EffectiveSettings(step).resources() without copying the rest.
  Resources EffectiveResources(const StepSpec& step) const;
  // The value of parameter `name` as `step` sees it (a step override, else the pipeline's).
  const Json& ParamValue(const StepSpec& step, const std::string& name) const;
};

// Names: steps and outputs [A-Za-z0-9_-]{1,63}; parameters [A-Za-z_][A-Za-z0-9_]{0,62}.
bool IsValidStepName(const std::string& s);
bool IsValidParamName(const std::string& s);

// Parses "512Mi", "4Gi", "1G", "1000" into bytes.
bool ParseMemory(const std::string& s, int64_t* bytes);
// Parses "30m", "1h30m", "500ms", "10" (seconds) into microseconds.
bool ParseDuration(const std::string& s, int64_t* micros);
std::string FormatMemory(int64_t bytes);

// Parts of a pipeline that a front end could not read and has already reported. The graph
// checks stay quiet about what depends on them, so that one mistake gives one error, not a
// second one about a step or output that is missing only because it was unreadable.
struct UnreadableParts {
  std::set<std::string> steps;    // steps whose body could not be read at all
  std::set<std::string> runs;     // steps whose `run` is missing or malformed
  std::set<std::string> inputs;   // steps with an unreadable `inputs` entry
  std::set<std::string> outputs;  // steps with an unreadable `outputs` entry
  std::set<std::string> params;   // parameters whose declaration is unreadable
  bool all_params = false;        // `parameters:` itself is unreadable
  bool pools_checked = false;     // the front end checked (and reported) pool references itself
};

// Checks the graph-level rules every front end shares: names, duplicate steps and outputs,
// unknown producers and outputs, cycles, templates naming undeclared inputs/outputs/params.
std::vector<Diagnostic> ValidatePipeline(const PipelineSpec& spec, const UnreadableParts& unreadable = {});

// All of `diags` as one InvalidArgument status, one diagnostic per line: sorted by file, line
// and column (in the order found where equal), exact repeats dropped, and at most `cap` lines
// followed by "FILE: error: and N more errors". Ok when `diags` is empty.
Status DiagnosticsToStatus(std::vector<Diagnostic> diags, size_t cap = 50);

// Converts the text `value` to the type of the parameter's default `declared`.
Status ConvertParamValue(const std::string& name, const Json& declared, const std::string& value, Json* out);
// "unknown parameter 'x' (parameters: a, b)".
std::string UnknownParameterMessage(const PipelineSpec& spec, const std::string& name);
// Overrides parameter values from "name=value" strings, converting to each parameter's type. A
// value that does not convert, or is not UTF-8, is an error at the parameter's declaration.
Status ApplyParameterOverrides(PipelineSpec* spec, const std::vector<std::string>& assignments);

// Canonical JSON (the body of a snapshot) and back.
Json SpecToJson(const PipelineSpec& spec);
Result<PipelineSpec> SpecFromJson(const Json& j);

// Environment variable suffix for a name: upper-cased, '-' as '_'.
std::string EnvName(const std::string& name);

// Renders a parameter value as it appears in commands and the environment.
std::string ParamToString(const Json& v);

}  // namespace baton
