#include "core/spec.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <functional>
#include <set>
#include <tuple>

#include "baton/json_text.h"
#include "baton/suggest.h"
#include "core/condition.h"
#include "core/template.h"
#include "core/yaml_doc.h"

namespace baton {

std::string Location::ToString() const {
  std::string s = file.empty() ? "<pipeline>" : file;
  if (line > 0) s += ":" + std::to_string(line) + ":" + std::to_string(column);
  return s;
}

std::string Diagnostic::ToString() const {
  // One diagnostic per line, even when the message quotes a multi-line command.
  std::string text;
  for (char c : message) {
    if (c == '\n')
      text += "\\n";
    else if (c == '\r')
      text += "\\r";
    else
      text += c;
  }
  return loc.ToString() + ": error: " + text;
}

void Settings::MergeFrom(const Settings& over) {
  if (over.cpu) cpu = over.cpu;
  if (over.memory) memory = over.memory;
  if (over.gpu) gpu = over.gpu;
  for (const auto& [k, v] : over.pools) pools[k] = v;
  if (over.retry_max) retry_max = over.retry_max;
  if (over.retry_delay_us) retry_delay_us = over.retry_delay_us;
  if (over.retry_backoff) retry_backoff = over.retry_backoff;
  if (over.timeout_us) timeout_us = over.timeout_us;
  if (over.cache) cache = over.cache;
  if (over.cache_files) cache_files = over.cache_files;
  if (over.image) image = over.image;
  for (const auto& [k, v] : over.env) env[k] = v;
  for (const auto& [flavor, block] : over.orchestrator) {
    Json& mine = orchestrator[flavor];
    if (!mine.is_object()) mine = Json::object();
    for (auto it = block.begin(); it != block.end(); ++it) mine[it.key()] = it.value();
  }
  for (const auto& [k, l] : over.locs) locs[k] = l;
}

Resources Settings::resources() const {
  Resources r;
  r.cpu = cpu.value_or(1.0);
  r.memory = memory.value_or(0);
  r.gpu = gpu.value_or(0);
  r.pools = pools;
  return r;
}

RetryPolicy Settings::retries() const {
  RetryPolicy r;
  r.max = retry_max.value_or(0);
  r.delay_us = retry_delay_us.value_or(0);
  r.backoff = retry_backoff.value_or(2.0);
  return r;
}

CachePolicy Settings::cache_policy() const {
  CachePolicy c;
  c.enabled = cache.value_or(true);
  if (cache_files) c.files = *cache_files;
  return c;
}

const Json& PipelineSpec::ParamValue(const StepSpec& step, const std::string& name) const {
  auto it = step.parameters.find(name);
  if (it != step.parameters.end()) return *it;
  static const Json kNull;
  auto p = parameters.find(name);
  return p == parameters.end() ? kNull : *p;
}

const char* FailureModeName(FailureMode m) {
  switch (m) {
    case FailureMode::kContinue: return "continue";
    case FailureMode::kStop: return "stop";
    case FailureMode::kFailFast: return "fail_fast";
  }
  return "continue";
}

bool ParseFailureMode(const std::string& s, FailureMode* out) {
  if (s == "continue") *out = FailureMode::kContinue;
  else if (s == "stop") *out = FailureMode::kStop;
  else if (s == "fail_fast") *out = FailureMode::kFailFast;
  else return false;
  return true;
}

const StepSpec* PipelineSpec::FindStep(const std::string& n) const {
  for (const auto& s : steps)
    if (s.name == n) return &s;
  return nullptr;
}

std::vector<std::string> PipelineSpec::StepParams(const StepSpec& step) const {
  std::set<std::string> names(step.params.begin(), step.params.end());
  // An in-process step may read any parameter through its context, unless it declared which.
  if (!step.function.empty() && !step.params_declared)
    for (auto it = parameters.begin(); it != parameters.end(); ++it) names.insert(it.key());
  auto scan = [&](const std::string& t) {
    auto pieces = ParseTemplate(t);
    if (!pieces.ok()) return;
    for (const auto& p : *pieces)
      if (p.kind == TemplatePiece::kParam) names.insert(p.text);
  };
  for (const auto& r : step.run) scan(r);
  for (const auto& [k, v] : EffectiveSettings(step).env) scan(v);
  return {names.begin(), names.end()};
}

Settings PipelineSpec::EffectiveSettings(const StepSpec& step) const {
  Settings s = defaults;
  s.MergeFrom(step.settings);
  return s;
}

Resources PipelineSpec::EffectiveResources(const StepSpec& step) const {
  const Settings& d = defaults;
  const Settings& o = step.settings;
  Resources r;
  r.cpu = o.cpu.value_or(d.cpu.value_or(1.0));
  r.memory = o.memory.value_or(d.memory.value_or(0));
  r.gpu = o.gpu.value_or(d.gpu.value_or(0));
  r.pools = d.pools;
  for (const auto& [k, v] : o.pools) r.pools[k] = v;
  return r;
}

bool IsValidStepName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

bool IsValidParamName(const std::string& s) {
  if (s.empty() || s.size() > 63 || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

namespace {
// Values above this (about 146 years in microseconds, 8 EiB in bytes) are rejected.
constexpr double kMaxQuantity = 4.6e18;
}  // namespace

bool ParseMemory(const std::string& s, int64_t* bytes) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || !std::isfinite(v) || v < 0) return false;
  std::string unit(p, s.data() + s.size());
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1},          {"Ki", 1024.0},      {"Mi", 1048576.0}, {"Gi", 1073741824.0},
      {"Ti", 1099511627776.0}, {"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}};
  for (const auto& [u, mult] : kUnits) {
    if (unit == u) {
      if (v * mult > kMaxQuantity) return false;
      *bytes = static_cast<int64_t>(std::llround(v * mult));
      return true;
    }
  }
  return false;
}

std::string FormatMemory(int64_t b) {
  char buf[32];
  if (b >= (1LL << 30) && b % (1LL << 30) == 0) std::snprintf(buf, sizeof buf, "%lldGi", static_cast<long long>(b >> 30));
  else if (b >= (1LL << 20) && b % (1LL << 20) == 0) std::snprintf(buf, sizeof buf, "%lldMi", static_cast<long long>(b >> 20));
  else std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(b));
  return buf;
}

bool ParseDuration(const std::string& s, int64_t* micros) {
  if (s.empty()) return false;
  const char* p = s.data();
  const char* end = p + s.size();
  double total = 0;
  bool any = false;
  while (p < end) {
    double v = 0;
    auto [q, ec] = std::from_chars(p, end, v);
    if (ec != std::errc() || !std::isfinite(v) || v < 0) return false;
    p = q;
    double mult;
    if (p == end) {
      if (any) return false;  // "1h30" is ambiguous
      mult = 1e6;
    } else if (end - p >= 2 && p[0] == 'm' && p[1] == 's') {
      mult = 1e3;
      p += 2;
    } else if (*p == 's') {
      mult = 1e6;
      ++p;
    } else if (*p == 'm') {
      mult = 60e6;
      ++p;
    } else if (*p == 'h') {
      mult = 3600e6;
      ++p;
    } else if (*p == 'd') {
      mult = 86400e6;
      ++p;
    } else {
      return false;
    }
    total += v * mult;
    if (total > kMaxQuantity) return false;
    any = true;
  }
  *micros = static_cast<int64_t>(std::llround(total));
  return true;
}

std::string EnvName(const std::string& name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string ParamToString(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) {
    char buf[64];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v.get<double>());
    std::string s(buf, p);
    if (s.find_first_of(".eE") == std::string::npos && s.find("inf") == std::string::npos &&
        s.find("nan") == std::string::npos)
      s += ".0";
    return s;
  }
  return DumpJson(v);
}

// ---------------------------------------------------------------------------------------------
// Validation shared by every front end.

namespace {

using Report = std::function<void(const Location&, std::string)>;

// Whether `name` is a declared parameter, or one whose declaration could not be read.
bool ParamKnown(const PipelineSpec& spec, const UnreadableParts& u, const std::string& name) {
  return spec.parameters.contains(name) || u.all_params || u.params.count(name);
}

// Names of the pipeline, its steps and parameters; fills `by_name`.
void ValidateNames(const PipelineSpec& spec, std::map<std::string, const StepSpec*>* by_name, const Report& err) {
  Location top{spec.file, 0, 0};
  if (spec.name.empty()) err(top, "pipeline has no name");
  else if (!IsValidStepName(spec.name))
    err(top, "invalid pipeline name '" + spec.name + "' (use [A-Za-z0-9_-], at most 63 characters)");
  if (spec.steps.empty()) err(top, "pipeline has no steps");
  for (const auto& s : spec.steps) {
    if (!IsValidStepName(s.group.empty() ? s.name : s.group))
      err(s.loc, "invalid step name '" + s.name + "' (use [A-Za-z0-9_-], at most 63 characters)");
    if (!by_name->emplace(s.name, &s).second) err(s.loc, "duplicate step '" + s.name + "'");
  }
  for (auto it = spec.parameters.begin(); it != spec.parameters.end(); ++it)
    if (!IsValidParamName(it.key()))
      err(top, "invalid parameter name '" + it.key() + "' (use [A-Za-z_][A-Za-z0-9_]*)");
}

std::vector<std::string> StepNames(const std::map<std::string, const StepSpec*>& by_name) {
  std::vector<std::string> out;
  for (const auto& [name, step] : by_name) out.push_back(name);
  return out;
}

// A step's outputs and inputs (each input names a step and an output it declares); fills
// the step's output and input names. (`after` is checked by the caller, in its order.)
void ValidateEdges(const StepSpec& s, const std::map<std::string, const StepSpec*>& by_name,
                   const UnreadableParts& u, std::set<std::string>* outs,
                   std::set<std::string>* ins, const Report& err) {
  for (const auto& o : s.outputs) {
    if (!IsValidStepName(o)) err(s.loc, "step '" + s.name + "': invalid output name '" + o + "'");
    if (!outs->insert(o).second) err(s.loc, "step '" + s.name + "': duplicate output '" + o + "'");
  }
  std::set<std::string> lists;
  for (const auto& in : s.inputs) {
    if (!in.list.empty()) {
      // An element of a list input (an expanded pipeline): the list is the input.
      if (lists.insert(in.list).second && !ins->insert(in.list).second)
        err(in.loc, "step '" + s.name + "': duplicate input '" + in.list + "'");
      if (by_name.find(in.step) == by_name.end() && !u.steps.count(in.step) && in.selector.empty())
        err(in.loc, "step '" + s.name + "': input '" + in.list + "' names unknown step '" + in.step + "'");
      continue;
    }
    if (!IsValidStepName(in.name)) err(in.loc, "step '" + s.name + "': invalid input name '" + in.name + "'");
    if (!ins->insert(in.name).second) err(in.loc, "step '" + s.name + "': duplicate input '" + in.name + "'");
    if (u.steps.count(in.step) || u.outputs.count(in.step)) continue;  // its outputs are unknown
    auto p = by_name.find(in.step);
    if (p == by_name.end()) {
      err(in.loc, "step '" + s.name + "': input '" + in.name + "' names unknown step '" + in.step + "'" +
                      DidYouMean(in.step, StepNames(by_name)));
      continue;
    }
    const auto& po = p->second->outputs;
    if (std::find(po.begin(), po.end(), in.output) == po.end()) {
      std::string have;
      for (const auto& o : po) have += (have.empty() ? "" : ", ") + o;
      err(in.loc, "step '" + s.name + "': input '" + in.name + "' names output '" + in.output + "' that step '" +
                      in.step + "' does not declare" +
                      (have.empty() ? " (it has no outputs)" : " (it has: " + have + ")"));
    }
  }
}

// The axes of a step's matrix (following `matrix: STEP`), or nullopt when it has none (or it
// cannot be known: a `from` that names no matrix step is reported on its own).
std::optional<std::vector<std::string>> AxesOf(const std::map<std::string, const StepSpec*>& by_name,
                                               const StepSpec& s, int depth = 0) {
  if (!s.group.empty()) {
    std::vector<std::string> axes;
    for (auto it = s.matrix_values.begin(); it != s.matrix_values.end(); ++it) axes.push_back(it.key());
    return axes;
  }
  const MatrixSpec& m = s.matrix;
  if (m.empty()) return std::nullopt;
  if (!m.from.empty()) {
    auto src = by_name.find(m.from);
    if (src == by_name.end() || depth > 64) return std::nullopt;
    return AxesOf(by_name, *src->second, depth + 1);
  }
  std::vector<std::string> axes;
  for (const auto& [a, values] : m.axes) axes.push_back(a);
  if (axes.empty() && !m.include.empty())
    for (auto it = m.include[0].begin(); it != m.include[0].end(); ++it) axes.push_back(it.key());
  return axes;
}

// A step's `when`: it parses, and names parameters, axes, steps and outputs that exist.
void ValidateWhen(const PipelineSpec& spec, const StepSpec& s, const std::map<std::string, const StepSpec*>& by_name,
                  const UnreadableParts& u, const Report& err) {
  if (s.when.empty()) return;
  const Location& loc = s.when_loc.line ? s.when_loc : s.loc;
  const std::string who = "step '" + (s.group.empty() ? s.name : s.group) + "': when: ";
  size_t at = 0;
  auto c = Condition::Parse(s.when, &at);
  if (!c.ok()) {
    err(loc, who + c.status().message() + " (at offset " + std::to_string(at) + ")");
    return;
  }
  for (const auto& r : c->refs()) {
    const std::string ref = "{{" + r.text + "}}";
    if (r.kind == ConditionRef::kParam) {
      if (!ParamKnown(spec, u, r.name)) err(loc, who + ref + " names undeclared parameter '" + r.name + "'");
      continue;
    }
    if (r.kind == ConditionRef::kMatrix) {
      auto axes = AxesOf(by_name, s);
      if (!axes) err(loc, who + ref + ": the step has no matrix");
      else if (std::find(axes->begin(), axes->end(), r.name) == axes->end())
        err(loc, who + ref + " names no axis of the step's matrix");
      continue;
    }
    if (r.step == s.name || (!s.group.empty() && r.step == s.group)) {
      err(loc, who + ref + " names the step itself");
      continue;
    }
    auto p = by_name.find(r.step);
    if (p == by_name.end()) {
      // In an expanded pipeline a matrix step is its instances: any of them declares its outputs.
      p = std::find_if(by_name.begin(), by_name.end(), [&](const auto& kv) { return kv.second->group == r.step; });
    }
    if (p == by_name.end()) {
      if (!u.steps.count(r.step)) err(loc, who + ref + " names unknown step '" + r.step + "'" + DidYouMean(r.step, StepNames(by_name)));
      continue;
    }
    if (r.kind == ConditionRef::kOutput && !u.outputs.count(r.step)) {
      const auto& po = p->second->outputs;
      if (std::find(po.begin(), po.end(), r.name) == po.end())
        err(loc, who + ref + " names output '" + r.name + "' that step '" + r.step + "' does not declare");
    }
  }
}

// A for_each step names a list artifact that another step declares, and has no matrix.
void ValidateForEach(const StepSpec& s, const std::map<std::string, const StepSpec*>& by_name,
                     const UnreadableParts& u, const Report& err) {
  const ForEachSpec& f = s.for_each;
  if (f.empty()) return;
  const Location& loc = f.loc.line ? f.loc : s.loc;
  const std::string who = "step '" + s.name + "': for_each";
  if (!s.matrix.empty()) err(loc, who + " and matrix cannot be combined on one step");
  if (f.step == s.name) {
    err(loc, who + " names the step itself");
    return;
  }
  auto p = by_name.find(f.step);
  if (p == by_name.end()) {
    if (!u.steps.count(f.step))
      err(loc, who + " names unknown step '" + f.step + "'" + DidYouMean(f.step, StepNames(by_name)));
    return;
  }
  if (!p->second->matrix.empty() || !p->second->for_each.empty()) {
    err(loc, who + " reads '" + f.step + "', which runs more than once; read a step that runs once");
    return;
  }
  const auto& po = p->second->outputs;
  if (!u.outputs.count(f.step) && std::find(po.begin(), po.end(), f.output) == po.end())
    err(loc, who + " names output '" + f.output + "' that step '" + f.step + "' does not declare");
}

// Templates in a step's command and env values name only what the step declares.
void ValidateTemplates(const PipelineSpec& spec, const StepSpec& s, const UnreadableParts& u,
                       const std::set<std::string>& outs, const std::set<std::string>& ins,
                       const std::map<std::string, const StepSpec*>& by_name, const Report& err) {
  const auto axes = AxesOf(by_name, s);
  std::set<std::string> lists;  // inputs that are lists (every instance of a matrix step)
  for (const auto& in : s.inputs)
    if (in.selector == "*") lists.insert(in.name);
    else if (!in.list.empty()) lists.insert(in.list);
  const bool inputs_known = !u.steps.count(s.name) && !u.inputs.count(s.name);
  const bool outputs_known = !u.steps.count(s.name) && !u.outputs.count(s.name);
  auto check = [&](const std::string& t, const Location& loc) {
    auto pieces = ParseTemplate(t);
    if (!pieces.ok()) {
      err(loc, "step '" + s.name + "': " + pieces.status().message());
      return;
    }
    for (const auto& p : *pieces) {
      if (p.kind == TemplatePiece::kInput && inputs_known && !ins.count(p.text))
        err(loc, "step '" + s.name + "': template names undeclared input '" + p.text + "'");
      if (p.kind == TemplatePiece::kOutput && outputs_known && !outs.count(p.text))
        err(loc, "step '" + s.name + "': template names undeclared output '" + p.text + "'");
      if (p.kind == TemplatePiece::kParam && !ParamKnown(spec, u, p.text))
        err(loc, "step '" + s.name + "': template names undeclared parameter '" + p.text + "'");
      if ((p.kind == TemplatePiece::kItem || p.kind == TemplatePiece::kItemIndex) && s.for_each.empty() &&
          s.item_index < 0)
        err(loc, "step '" + s.name + "': template names {{item" + (p.kind == TemplatePiece::kItem ? "" : ".index") +
                     "}} but the step has no for_each");
      if (p.kind == TemplatePiece::kMatrix && !axes)
        err(loc, "step '" + s.name + "': template names {{matrix." + p.text + "}} but the step has no matrix");
      else if (p.kind == TemplatePiece::kMatrix && std::find(axes->begin(), axes->end(), p.text) == axes->end())
        err(loc, "step '" + s.name + "': template names {{matrix." + p.text + "}}, which is no axis of the step's matrix");
    }
  };
  // A list input stands alone where it is referenced.
  if (!lists.empty()) {
    for (const auto& part : s.run) {
      auto pieces = ParseTemplate(part);
      if (!pieces.ok()) continue;
      Status st = CheckListReferences(*pieces, lists, s.shell);
      if (!st.ok()) err(s.run_loc.line ? s.run_loc : s.loc, "step '" + s.name + "': " + st.message());
    }
    for (const auto& [k, v] : spec.EffectiveSettings(s).env) {
      auto pieces = ParseTemplate(v);
      if (!pieces.ok()) continue;
      for (const auto& p : *pieces)
        if (p.kind == TemplatePiece::kInput && lists.count(p.text))
          err(s.loc, "step '" + s.name + "': env " + k + ": {{inputs." + p.text +
                         "}} is a list; read $BATON_INPUT_" + EnvName(p.text) + " (one path per line) instead");
    }
  }
  const Location& run_loc = s.run_loc.line ? s.run_loc : s.loc;
  for (const auto& part : s.run) check(part, run_loc);
  // A string command's values must each be quotable where they sit (template.h).
  if (s.shell && !s.run.empty()) {
    auto pieces = ParseTemplate(s.run[0]);
    Status st = pieces.ok() ? ScanShellContexts(*pieces).status() : Status::Ok();
    if (!st.ok()) err(run_loc, "step '" + s.name + "': " + st.message());
  }
  Settings eff = spec.EffectiveSettings(s);
  for (const auto& [k, v] : eff.env) check(v, s.loc);
  if (u.pools_checked) return;
  for (const auto& [pool, n] : eff.pools)
    if (!spec.pools.count(pool))
      err(s.loc, "step '" + s.name + "': resources name pool '" + pool + "' that the pipeline's 'pools' does not declare");
}

// Cycles: depth-first search over producer and `after` edges; reports the first cycle itself.
// Edges to unknown steps are left out (they are reported on their own).
void FindCycle(const PipelineSpec& spec, const std::map<std::string, const StepSpec*>& by_name, const Report& err) {
  std::map<std::string, int> state;  // 0 unvisited, 1 on stack, 2 done
  std::vector<std::string> stack;
  std::function<bool(const StepSpec&)> visit = [&](const StepSpec& s) -> bool {
    state[s.name] = 1;
    stack.push_back(s.name);
    std::vector<std::string> deps;
    for (const auto& in : s.inputs) deps.push_back(in.step);
    for (const auto& a : s.after) deps.push_back(a);
    for (const auto& w : s.when_steps) deps.push_back(w.substr(0, w.find('[')));
    if (!s.for_each.empty()) deps.push_back(s.for_each.step);
    for (const auto& dep : deps) {
      if (!by_name.count(dep)) continue;
      int st = state[dep];
      if (st == 1) {
        auto from = std::find(stack.begin(), stack.end(), dep);
        std::string cycle;
        for (auto it = from; it != stack.end(); ++it) cycle += *it + " -> ";
        cycle += dep;
        err(by_name.at(dep)->loc, "dependency cycle: " + cycle);
        return false;
      }
      if (st == 0 && !visit(*by_name.at(dep))) return false;
    }
    stack.pop_back();
    state[s.name] = 2;
    return true;
  };
  for (const auto& s : spec.steps)
    if (state[s.name] == 0 && !visit(s)) break;
}

}  // namespace

std::vector<Diagnostic> ValidatePipeline(const PipelineSpec& spec, const UnreadableParts& u) {
  std::vector<Diagnostic> d;
  Report err = [&](const Location& loc, std::string msg) { d.push_back({loc, std::move(msg)}); };
  std::map<std::string, const StepSpec*> by_name;
  ValidateNames(spec, &by_name, err);
  for (const auto& s : spec.steps) {
    std::set<std::string> outs, ins;
    ValidateEdges(s, by_name, u, &outs, &ins, err);
    for (const auto& pname : s.params)
      if (!ParamKnown(spec, u, pname))
        err(s.loc, "step '" + s.name + "': 'params' names undeclared parameter '" + pname + "'");
    for (const auto& a : s.after)
      if (!by_name.count(a) && !u.steps.count(a))
        err(s.after_loc.line ? s.after_loc : s.loc,
            "step '" + s.name + "': 'after' names unknown step '" + a + "'" + DidYouMean(a, StepNames(by_name)));
    const bool run_known = !u.steps.count(s.name) && !u.runs.count(s.name);
    if (run_known && (s.run.empty() || (s.shell && s.run[0].empty())))
      err(s.run_loc.line ? s.run_loc : s.loc, "step '" + s.name + "' has an empty 'run' command");
    ValidateTemplates(spec, s, u, outs, ins, by_name, err);
    ValidateWhen(spec, s, by_name, u, err);
    ValidateForEach(s, by_name, u, err);
  }
  FindCycle(spec, by_name, err);
  return d;
}

Status DiagnosticsToStatus(std::vector<Diagnostic> diags, size_t cap) {
  if (diags.empty()) return Status::Ok();
  auto position = [](const Diagnostic& d) {
    return std::tie(d.loc.file, d.loc.line, d.loc.column);
  };
  std::stable_sort(diags.begin(), diags.end(), [&](const Diagnostic& a, const Diagnostic& b) {
    return position(a) < position(b);
  });
  std::set<std::string> seen;
  std::string msg;
  size_t shown = 0, left = 0;
  for (const auto& d : diags) {
    std::string line = d.ToString();
    if (!seen.insert(line).second) continue;
    if (shown == cap) {
      ++left;
      continue;
    }
    msg += (msg.empty() ? "" : "\n") + line;
    ++shown;
  }
  if (left > 0) {
    Location whole{diags.front().loc.file, 0, 0};
    msg += "\n" + Diagnostic{whole, "and " + std::to_string(left) + " more errors"}.ToString();
  }
  return InvalidArgument(msg);
}

Status ConvertParamValue(const std::string& name, const Json& declared, const std::string& value, Json* out) {
  const char* b = value.data();
  const char* e = b + value.size();
  if (declared.is_boolean()) {
    if (value == "true" || value == "True" || value == "TRUE" || value == "1") *out = true;
    else if (value == "false" || value == "False" || value == "FALSE" || value == "0") *out = false;
    else return InvalidArgument("parameter '" + name + "' is a bool; '" + value + "' is not true or false");
  } else if (declared.is_number_integer()) {
    int64_t v;
    auto [p, ec] = std::from_chars(b, e, v);
    if (ec != std::errc() || p != e)
      return InvalidArgument("parameter '" + name + "' is an int; '" + value + "' is not an integer");
    *out = v;
  } else if (declared.is_number_float()) {
    double v;
    auto [p, ec] = std::from_chars(b, e, v);
    if (ec != std::errc() || p != e || !std::isfinite(v))
      return InvalidArgument("parameter '" + name + "' is a float; '" + value + "' is not a number");
    *out = v;
  } else {
    *out = value;
  }
  return Status::Ok();
}

std::string UnknownParameterMessage(const PipelineSpec& spec, const std::string& name) {
  std::string have;
  for (auto it = spec.parameters.begin(); it != spec.parameters.end(); ++it) have += (have.empty() ? "" : ", ") + it.key();
  return "unknown parameter " + yaml::QuoteForMessage(name) +
         (have.empty() ? " (the pipeline has no parameters)" : " (parameters: " + have + ")");
}

namespace {

// "-p NAME=VALUE" as a message shows it: cut to a bounded length, bad bytes escaped.
std::string ShownAssignment(const std::string& a) {
  std::string q = yaml::QuoteForMessage(a);
  return "-p " + q.substr(1, q.size() - 2);
}

const char* TypeWithArticle(const Json& v) {
  return v.is_boolean() ? "a bool" : v.is_number_integer() ? "an int" : v.is_number() ? "a float" : "a string";
}

}  // namespace

Status ApplyParameterOverrides(PipelineSpec* spec, const std::vector<std::string>& assignments) {
  for (const auto& a : assignments) {
    auto eq = a.find('=');
    if (eq == std::string::npos) return InvalidArgument("parameter override " + yaml::QuoteForMessage(a) + " is not NAME=VALUE");
    std::string name = a.substr(0, eq), value = a.substr(eq + 1);
    if (!spec->parameters.contains(name)) return InvalidArgument(UnknownParameterMessage(*spec, name));
    // Wrong values are reported where the parameter is declared, naming what was given.
    auto located = [&](const std::string& msg) {
      auto loc = spec->param_locs.find(name);
      return loc == spec->param_locs.end() ? InvalidArgument(msg) : DiagnosticsToStatus({{loc->second, msg}});
    };
    if (!yaml::IsUtf8(value)) return located("parameter '" + name + "': " + ShownAssignment(a) + " is not valid UTF-8");
    Json& cur = spec->parameters[name];
    if (!ConvertParamValue(name, cur, value, &cur).ok())
      return located("parameter '" + name + "' is " + TypeWithArticle(cur) + "; " + ShownAssignment(a) + " is not");
    // The command line wins over values a run config set for single steps.
    for (auto& step : spec->steps) step.parameters.erase(name);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Canonical JSON.

namespace {

Json SettingsToJson(const Settings& s) {
  Json j = Json::object();
  if (s.has_resources()) {
    Json r = Json::object();
    if (s.cpu) r["cpu"] = *s.cpu;
    if (s.memory) r["memory"] = *s.memory;
    if (s.gpu) r["gpu"] = *s.gpu;
    if (!s.pools.empty()) r["pools"] = s.pools;
    j["resources"] = r;
  }
  if (s.retry_max || s.retry_delay_us || s.retry_backoff) {
    Json r = Json::object();
    if (s.retry_max) r["max"] = *s.retry_max;
    if (s.retry_delay_us) r["delay_us"] = *s.retry_delay_us;
    if (s.retry_backoff) r["backoff"] = *s.retry_backoff;
    j["retries"] = r;
  }
  if (s.timeout_us) j["timeout_us"] = *s.timeout_us;
  if (s.cache || s.cache_files) {
    Json c = Json::object();
    if (s.cache) c["enabled"] = *s.cache;
    if (s.cache_files) c["files"] = *s.cache_files;
    j["cache"] = c;
  }
  if (s.image) j["image"] = *s.image;
  if (!s.env.empty()) j["env"] = s.env;
  if (!s.orchestrator.empty()) j["orchestrator"] = s.orchestrator;
  return j;
}

Settings SettingsFromJson(const Json& j) {
  Settings s;
  if (j.contains("resources")) {
    const Json& rj = j["resources"];
    if (rj.contains("cpu")) s.cpu = rj["cpu"].get<double>();
    if (rj.contains("memory")) s.memory = rj["memory"].get<int64_t>();
    if (rj.contains("gpu")) s.gpu = rj["gpu"].get<int64_t>();
    if (rj.contains("pools")) s.pools = rj["pools"].get<std::map<std::string, int64_t>>();
  }
  if (j.contains("retries")) {
    const Json& rj = j["retries"];
    if (rj.contains("max")) s.retry_max = rj["max"].get<int>();
    if (rj.contains("delay_us")) s.retry_delay_us = rj["delay_us"].get<int64_t>();
    if (rj.contains("backoff")) s.retry_backoff = rj["backoff"].get<double>();
  }
  if (j.contains("timeout_us")) s.timeout_us = j["timeout_us"].get<int64_t>();
  if (j.contains("cache")) {
    const Json& c = j["cache"];
    if (c.contains("enabled")) s.cache = c["enabled"].get<bool>();
    if (c.contains("files")) s.cache_files = c["files"].get<std::vector<std::string>>();
  }
  if (j.contains("image")) s.image = j["image"].get<std::string>();
  if (j.contains("env")) s.env = j["env"].get<std::map<std::string, std::string>>();
  if (j.contains("orchestrator")) s.orchestrator = j["orchestrator"].get<std::map<std::string, Json>>();
  return s;
}

Json HooksToJson(const Hooks& h) {
  Json j = Json::object();
  if (!h.on_success.empty()) j["on_success"] = h.on_success;
  if (!h.on_failure.empty()) j["on_failure"] = h.on_failure;
  return j;
}

Hooks HooksFromJson(const Json& j) {
  return Hooks{j.value("on_success", std::string()), j.value("on_failure", std::string())};
}

}  // namespace

Json SpecToJson(const PipelineSpec& spec) {
  Json steps = Json::array();
  for (const auto& s : spec.steps) {
    Json inputs = Json::array();
    for (const auto& in : s.inputs) {
      Json ij = {{"name", in.name}, {"step", in.step}, {"output", in.output}};
      if (!in.list.empty()) ij["list"] = in.list;
      if (!in.selector.empty()) ij["selector"] = in.selector;
      inputs.push_back(std::move(ij));
    }
    Json js = {{"name", s.name},   {"shell", s.shell},     {"run", s.run},
               {"inputs", inputs}, {"outputs", s.outputs}, {"after", s.after}, {"params", s.params},
               {"settings", SettingsToJson(s.settings)}};
    if (!s.parameters.empty()) js["parameters"] = s.parameters;
    if (!s.function.empty()) {
      js["function"] = s.function;
      js["code_version"] = s.code_version;
      if (s.params_declared) js["params_declared"] = true;
      Json it = Json::object(), ot = Json::object();
      for (const auto& [n, t] : s.input_types) it[n] = {{"materializer", t.materializer}, {"type", t.type}};
      for (const auto& [n, t] : s.output_types) ot[n] = {{"materializer", t.materializer}, {"type", t.type}};
      js["input_types"] = it;
      js["output_types"] = ot;
    }
    Json hooks = HooksToJson(s.hooks);
    if (!hooks.empty()) js["hooks"] = hooks;
    if (!s.group.empty() && s.item_index < 0) {
      js["group"] = s.group;
      js["matrix"] = s.matrix_values;
    }
    if (!s.when.empty()) {
      js["when"] = s.when;
      js["when_steps"] = s.when_steps;
    }
    if (!s.for_each.empty()) {
      js["for_each"] = {{"step", s.for_each.step}, {"output", s.for_each.output}, {"as", s.for_each.as},
                        {"max", s.for_each.max}, {"parallel", s.for_each.parallel}};
    }
    if (s.item_index >= 0) {
      js["group"] = s.group;
      js["item"] = s.item;
      js["item_index"] = s.item_index;
    }
    steps.push_back(std::move(js));
  }
  Json j = {{"format", 1},
            {"name", spec.name},
            {"file", spec.file},
            {"root", spec.root},
            {"parameters", spec.parameters},
            {"defaults", SettingsToJson(spec.defaults)},
            {"failure_mode", FailureModeName(spec.failure_mode)},
            {"pools", spec.pools},
            {"steps", steps}};
  Json hooks = HooksToJson(spec.hooks);
  if (!hooks.empty()) j["hooks"] = hooks;
  if (!spec.stack.is_null()) j["stack"] = spec.stack;
  return j;
}

Result<PipelineSpec> SpecFromJson(const Json& j) {
  try {
    if (j.value("format", 0) != 1) return InvalidArgument("unsupported snapshot format");
    PipelineSpec spec;
    spec.name = j.at("name").get<std::string>();
    spec.file = j.value("file", std::string());
    spec.root = j.value("root", std::string());
    spec.parameters = j.value("parameters", Json::object());
    spec.defaults = SettingsFromJson(j.value("defaults", Json::object()));
    ParseFailureMode(j.value("failure_mode", std::string("continue")), &spec.failure_mode);
    spec.pools = j.value("pools", std::map<std::string, int64_t>{});
    spec.hooks = HooksFromJson(j.value("hooks", Json::object()));
    spec.stack = j.value("stack", Json());
    for (const auto& js : j.at("steps")) {
      StepSpec s;
      s.name = js.at("name").get<std::string>();
      s.shell = js.value("shell", true);
      s.run = js.at("run").get<std::vector<std::string>>();
      for (const auto& in : js.value("inputs", Json::array())) {
        InputRef r{in.at("name"), in.at("step"), in.at("output"), {}, {}, {}};
        r.list = in.value("list", std::string());
        r.selector = in.value("selector", std::string());
        s.inputs.push_back(std::move(r));
      }
      s.outputs = js.value("outputs", std::vector<std::string>{});
      s.after = js.value("after", std::vector<std::string>{});
      s.params = js.value("params", std::vector<std::string>{});
      s.settings = SettingsFromJson(js.value("settings", Json::object()));
      s.parameters = js.value("parameters", Json::object());
      s.function = js.value("function", std::string());
      s.code_version = js.value("code_version", std::string());
      s.params_declared = js.value("params_declared", false);
      // Named copies: iterating items() of a temporary would dangle.
      const Json in_types = js.value("input_types", Json::object());
      const Json out_types = js.value("output_types", Json::object());
      for (auto it = in_types.begin(); it != in_types.end(); ++it)
        s.input_types[it.key()] = {it->value("materializer", std::string()), it->value("type", std::string())};
      for (auto it = out_types.begin(); it != out_types.end(); ++it)
        s.output_types[it.key()] = {it->value("materializer", std::string()), it->value("type", std::string())};
      s.hooks = HooksFromJson(js.value("hooks", Json::object()));
      s.group = js.value("group", std::string());
      if (js.contains("matrix")) s.matrix_values = js.at("matrix");
      s.when = js.value("when", std::string());
      s.when_steps = js.value("when_steps", std::vector<std::string>{});
      if (js.contains("for_each")) {
        const Json& f = js["for_each"];
        s.for_each.step = f.at("step").get<std::string>();
        s.for_each.output = f.at("output").get<std::string>();
        s.for_each.as = f.value("as", std::string());
        s.for_each.max = f.value("max", int64_t{0});
        s.for_each.parallel = f.value("parallel", 0);
      }
      if (js.contains("item_index")) {
        s.item = js.at("item");
        s.item_index = js.at("item_index").get<int64_t>();
      }
      spec.steps.push_back(std::move(s));
    }
    return spec;
  } catch (const Json::exception& e) {
    return InvalidArgument(std::string("malformed snapshot: ") + e.what());
  }
}

}  // namespace baton
