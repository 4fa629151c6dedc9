// The C++ pipeline API (include/baton/pipeline.h): builds the same PipelineSpec as a pipeline
// file, with in-process steps registered as functions.

#include "baton/pipeline.h"


#include <algorithm>
#include <set>

#include "api/pipeline_data.h"
#include "cli/cli.h"
#include "core/condition.h"
#include "core/functions.h"
#include "core/matrix.h"
#include "platform/fs.h"
#include "platform/process.h"

namespace baton {

namespace detail {
void CopyPath(const std::string& from, const std::string& to) {
  if (!fs::Exists(from)) throw std::runtime_error("output path " + from + " does not exist");
  Status st = fs::CopyTree(from, to);
  if (!st.ok()) throw std::runtime_error(st.message());
}
}  // namespace detail

Pipeline::Pipeline(std::string name) : d_(std::make_unique<Data>()) {
  d_->spec.name = std::move(name);
  auto cwd = fs::Absolute(".");
  d_->spec.root = cwd.ok() ? *cwd : ".";
}
Pipeline::~Pipeline() = default;
Pipeline::Pipeline(Pipeline&&) noexcept = default;

const std::string& Pipeline::name() const { return d_->spec.name; }

void Pipeline::AddParam(const std::string& name, nlohmann::json value) {
  if (!IsValidParamName(name)) d_->Problem("invalid parameter name '" + name + "'");
  if (!(value.is_boolean() || value.is_number() || value.is_string()))
    d_->Problem("parameter '" + name + "' must be a bool, number or string");
  d_->spec.parameters[name] = std::move(value);
}

int Pipeline::AddFunctionStep(const std::string& name, std::vector<std::pair<int, int>> inputs,
                              std::vector<detail::TypeDecl> input_types, std::vector<detail::TypeDecl> output_types,
                              StepBody body) {
  StepSpec s;
  s.name = name;
  s.loc = {"(C++ pipeline " + d_->spec.name + ")", 0, 0};
  s.shell = false;
  s.run = {"<in-process " + name + ">"};
  s.function = name;
  for (size_t i = 0; i < output_types.size(); ++i) {
    std::string out = output_types.size() == 1 ? "out" : "out" + std::to_string(i);
    s.outputs.push_back(out);
    s.output_types[out] = {output_types[i].materializer, output_types[i].type};
  }
  d_->spec.steps.push_back(std::move(s));
  d_->wiring.push_back(std::move(inputs));
  if (d_->functions.count(name)) d_->Problem("duplicate step '" + name + "'");
  StepFunction fn;
  fn.body = std::move(body);
  for (const auto& t : input_types) fn.input_types.push_back({t.materializer, t.type});
  d_->wired_types.push_back(std::move(input_types));
  for (const auto& t : output_types) fn.output_types.push_back({t.materializer, t.type});
  d_->functions[name] = std::move(fn);
  return static_cast<int>(d_->spec.steps.size()) - 1;
}

CommandRef Pipeline::Command(const std::string& name, const std::string& run) {
  StepSpec s;
  s.name = name;
  s.loc = {"(C++ pipeline " + d_->spec.name + ")", 0, 0};
  s.shell = true;
  s.run = {run};
  d_->spec.steps.push_back(std::move(s));
  d_->wiring.emplace_back();
  d_->wired_types.emplace_back();
  return CommandRef(this, static_cast<int>(d_->spec.steps.size()) - 1);
}

CommandRef Pipeline::Command(const std::string& name, const std::vector<std::string>& argv) {
  CommandRef r = Command(name, std::string());
  d_->spec.steps.back().shell = false;
  d_->spec.steps.back().run = argv;
  return r;
}

void CommandRef::AddInput(const std::string& name, int step, int index, const std::string& selector) {
  auto& d = p_->data();
  d.wiring[step_].push_back({step, index});
  d.wired_names.resize(d.spec.steps.size());
  d.wired_names[step_][d.wiring[step_].size() - 1] = name;
  d.wired_selectors.resize(d.spec.steps.size());
  if (!selector.empty()) d.wired_selectors[step_][d.wiring[step_].size() - 1] = selector;
}

int CommandRef::AddOutput(const std::string& name) {
  auto& s = p_->data().spec.steps[step_];
  s.outputs.push_back(name);
  return static_cast<int>(s.outputs.size()) - 1;
}

Settings& Pipeline::Data::SettingsOf(int step) { return step < 0 ? spec.defaults : spec.steps[step].settings; }

void Pipeline::Data::Problem(const std::string& message) {
  Diagnostic d;
  d.loc.file = "(C++ pipeline " + spec.name + ")";
  d.message = message;
  problems.push_back(std::move(d));
}

PipelineSpec Pipeline::Data::Finalize() const {
  PipelineSpec out = spec;
  for (size_t i = 0; i < out.steps.size(); ++i) {
    StepSpec& s = out.steps[i];
    std::set<std::string> used;
    for (size_t k = 0; k < wiring[i].size(); ++k) {
      auto [from, index] = wiring[i][k];
      const StepSpec& producer = spec.steps[from];
      std::string local;
      if (i < wired_names.size() && wired_names[i].count(k)) {
        local = wired_names[i].at(k);
      } else {
        local = producer.name + "_" + producer.outputs[index];
        if (local.size() > 63 || used.count(local)) local = "in" + std::to_string(k);
      }
      used.insert(local);
      std::string selector;
      if (i < wired_selectors.size() && wired_selectors[i].count(k)) selector = wired_selectors[i].at(k);
      s.inputs.push_back({local, producer.name, producer.outputs[index], s.loc, selector, {}});
      if (k < wired_types[i].size()) s.input_types[local] = {wired_types[i][k].materializer, wired_types[i][k].type};
    }
  }
  return out;
}

StepSettings& StepSettings::After(const std::string& step) {
  p_->data().spec.steps.at(step_).after.push_back(step);
  return *this;
}

StepSettings& StepSettings::Retries(int max, const std::string& delay, double backoff) {
  Settings& s = p_->data().SettingsOf(step_);
  s.retry_max = max;
  int64_t us;
  if (ParseDuration(delay, &us)) s.retry_delay_us = us;
  else p_->data().Problem("retries: '" + delay + "' is not a duration such as 10s");
  if (backoff < 1) p_->data().Problem("retries: backoff must be at least 1");
  s.retry_backoff = backoff;
  return *this;
}

StepSettings& StepSettings::Timeout(const std::string& duration) {
  int64_t us;
  if (ParseDuration(duration, &us)) p_->data().SettingsOf(step_).timeout_us = us;
  else p_->data().Problem("timeout: '" + duration + "' is not a duration such as 10m");
  return *this;
}

StepSettings& StepSettings::Resources(double cpu, const std::string& memory, int gpu) {
  Settings& s = p_->data().SettingsOf(step_);
  if (cpu <= 0) p_->data().Problem("resources: cpu must be greater than 0");
  s.cpu = cpu;
  if (!memory.empty()) {
    int64_t b;
    if (ParseMemory(memory, &b)) s.memory = b;
    else p_->data().Problem("resources: '" + memory + "' is not a size such as 512Mi or 4Gi");
  }
  if (gpu > 0) s.gpu = gpu;
  return *this;
}

StepSettings& StepSettings::Cache(bool enabled) {
  p_->data().SettingsOf(step_).cache = enabled;
  return *this;
}

StepSettings& StepSettings::Env(const std::string& name, const std::string& value) {
  p_->data().SettingsOf(step_).env[name] = value;
  return *this;
}

StepSettings& StepSettings::Image(const std::string& image) {
  p_->data().SettingsOf(step_).image = image;
  return *this;
}

StepSettings& StepSettings::Uses(const std::vector<std::string>& params) {
  if (step_ >= 0) {
    auto& s = p_->data().spec.steps[step_];
    s.params.insert(s.params.end(), params.begin(), params.end());
    s.params_declared = true;
  }
  return *this;
}

StepSettings& StepSettings::Version(const std::string& version) {
  if (step_ >= 0) p_->data().spec.steps[step_].code_version = version;
  return *this;
}

StepSettings& StepSettings::Orchestrator(const std::string& flavor, const std::string& key, nlohmann::json value) {
  Json& block = p_->data().SettingsOf(step_).orchestrator[flavor];
  if (!block.is_object()) block = Json::object();
  block[key] = std::move(value);
  return *this;
}

StepSettings& StepSettings::Named(const std::vector<std::string>& outputs) {
  StepSpec& s = p_->data().spec.steps.at(step_);
  if (outputs.size() != s.outputs.size()) {
    p_->data().Problem("step '" + s.name + "' has " + std::to_string(s.outputs.size()) + " outputs; Named() got " +
                       std::to_string(outputs.size()) + " names");
    return *this;
  }
  std::map<std::string, ValueType> types;
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (auto t = s.output_types.find(s.outputs[i]); t != s.output_types.end()) types[outputs[i]] = t->second;
    s.outputs[i] = outputs[i];
  }
  if (!s.output_types.empty()) s.output_types = types;
  return *this;
}

StepSettings& StepSettings::AddMatrixAxis(const std::string& axis, std::vector<nlohmann::json> values) {
  if (step_ < 0) {
    p_->data().Problem("Matrix() is for a step, not for Defaults()");
    return *this;
  }
  StepSpec& s = p_->data().spec.steps.at(step_);
  if (!IsValidParamName(axis)) p_->data().Problem("step '" + s.name + "': invalid matrix axis name '" + axis + "'");
  for (const auto& v : values)
    if (!(v.is_string() || v.is_number() || v.is_boolean()))
      p_->data().Problem("step '" + s.name + "': matrix axis '" + axis + "' takes strings, numbers or bools");
  if (values.empty()) p_->data().Problem("step '" + s.name + "': matrix axis '" + axis + "' has no values");
  s.matrix.axes.emplace_back(axis, std::move(values));
  s.matrix.loc = s.loc;
  return *this;
}

StepSettings& StepSettings::MatrixInclude(nlohmann::json combination) {
  if (step_ < 0 || !combination.is_object()) {
    p_->data().Problem("MatrixInclude() takes an object of axes to values, on a step");
    return *this;
  }
  p_->data().spec.steps.at(step_).matrix.include.push_back(std::move(combination));
  return *this;
}

StepSettings& StepSettings::MatrixExclude(nlohmann::json partial) {
  if (step_ < 0 || !partial.is_object()) {
    p_->data().Problem("MatrixExclude() takes an object of axes to values, on a step");
    return *this;
  }
  p_->data().spec.steps.at(step_).matrix.exclude.push_back(std::move(partial));
  return *this;
}

StepSettings& StepSettings::MatrixOf(const std::string& step) {
  if (step_ < 0) return *this;
  StepSpec& s = p_->data().spec.steps.at(step_);
  s.matrix.from = step;
  s.matrix.loc = s.loc;
  return *this;
}

StepSettings& StepSettings::When(const WhenCondition& condition) { return When(condition.text()); }

StepSettings& StepSettings::When(const std::string& expression) {
  if (step_ < 0) {
    p_->data().Problem("When() is for a step, not for Defaults()");
    return *this;
  }
  StepSpec& s = p_->data().spec.steps.at(step_);
  s.when = expression;
  s.when_loc = s.loc;
  s.when_steps.clear();
  size_t at = 0;
  auto c = baton::Condition::Parse(expression, &at);
  if (!c.ok()) {
    p_->data().Problem("step '" + s.name + "': when: " + c.status().message() + " (at offset " +
                       std::to_string(at) + ")");
    s.when.clear();
    return *this;
  }
  s.when_steps = c->Steps();
  return *this;
}

StepSettings& StepSettings::SetForEach(int step, int index, const std::string& as, int64_t max, int parallel) {
  if (step_ < 0) {
    p_->data().Problem("ForEach() is for a step, not for Defaults()");
    return *this;
  }
  auto& d = p_->data();
  StepSpec& s = d.spec.steps.at(step_);
  const StepSpec& producer = d.spec.steps.at(step);
  s.for_each.step = producer.name;
  s.for_each.output = producer.outputs.at(index);
  s.for_each.as = as;
  s.for_each.max = max;
  s.for_each.parallel = parallel;
  s.for_each.loc = s.loc;
  if (max < 0 || parallel < 0) d.Problem("step '" + s.name + "': ForEach() max and parallel are at least 0");
  return *this;
}

WhenValue Metadata(const std::string& step, const std::string& key) {
  return WhenValue("steps." + step + ".metadata." + key);
}
WhenValue OutputValue(const std::string& step, const std::string& output, const std::string& key) {
  return WhenValue("steps." + step + ".outputs." + output + (key.empty() ? "" : "." + key));
}
WhenValue ParamValue(const std::string& name) { return WhenValue("params." + name); }
WhenValue MatrixValue(const std::string& axis) { return WhenValue("matrix." + axis); }

std::string WhenLiteral(const nlohmann::json& value) {
  if (value.is_string()) {
    std::string out = "'";
    for (char c : value.get<std::string>()) {
      if (c == '\\' || c == '\'') out += '\\';
      out += c;
    }
    return out + "'";
  }
  return value.dump();
}

WhenCondition Compare(const WhenValue& a, const char* op, const std::string& b) {
  return WhenCondition(a.text() + " " + op + " " + b);
}

namespace {
// Every problem the builder noted, then validation; a valid pipeline's matrices are expanded.
Status Check(const Pipeline::Data& d, PipelineSpec* spec) {
  std::vector<Diagnostic> all = d.problems;
  for (auto& x : ValidatePipeline(*spec)) all.push_back(x);
  if (all.empty()) all = ExpandMatrices(spec);
  if (all.empty()) return Status::Ok();
  std::string msg;
  for (const auto& x : all) msg += (msg.empty() ? "" : "\n") + x.ToString();
  return InvalidArgument(msg);
}
}  // namespace

Status Pipeline::Validate() const {
  PipelineSpec spec = d_->Finalize();
  return Check(*d_, &spec);
}

int Main(const Pipeline& pipeline, int argc, char** argv) {
  static PipelineSpec spec;
  spec = pipeline.data().Finalize();
  Status st = Check(pipeline.data(), &spec);
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.message().c_str());
    return 2;
  }
  if (std::string exe = SelfExecutable(); exe != "baton") spec.file = exe;
  SetStepFunctions(&pipeline.data().functions);
  cli::SetEmbeddedPipeline(&spec);
  return cli::RunCli(argc, argv);
}

}  // namespace baton
