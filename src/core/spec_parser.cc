#include "core/spec_parser.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

#include "core/condition.h"
#include "core/matrix.h"
#include "core/yaml_doc.h"

namespace baton {
namespace {

using yaml::Node;

// A scalar with a value (yaml-cpp's meaning, which the messages below were written for: a key
// written without a value is null, not a scalar).
bool IsScalar(const Node& n) { return n.IsScalar() && !n.IsNull(); }

// A value from the file as it appears in a message: quoted and cut to a bounded length.
std::string Q(const std::string& s) { return yaml::QuoteForMessage(s); }

// The standard tags a pipeline or run config may use, with the kind of node each applies to.
const std::map<std::string, yaml::Kind>& StandardTags() {
  static const auto* tags = new std::map<std::string, yaml::Kind>{
      {"str", yaml::Kind::kScalar},  {"int", yaml::Kind::kScalar},  {"float", yaml::Kind::kScalar},
      {"bool", yaml::Kind::kScalar}, {"null", yaml::Kind::kScalar}, {"seq", yaml::Kind::kSequence},
      {"map", yaml::Kind::kMapping}};
  return *tags;
}

const std::vector<std::string> kPipelineKeys = {"name",         "description", "version",
                                                "parameters",   "defaults",    "steps",
                                                "failure_mode", "pools",       "hooks"};
const std::vector<std::string> kSettingKeys = {"resources", "retries", "timeout",     "cache",
                                               "image",     "env",     "orchestrator"};
const std::vector<std::string> kStepKeys = {
    "run",       "description", "inputs",  "outputs", "after", "params", "settings",    "hooks",
    "resources", "retries",     "timeout", "cache",   "image", "env",    "orchestrator", "matrix",
    "when",      "for_each"};
const std::vector<std::string> kRunConfigKeys = {"parameters", "settings",     "steps", "schedule",
                                                 "run_name",   "failure_mode", "stack"};
const std::vector<std::string> kRunConfigStepKeys = {"settings", "parameters", "cache"};
const std::vector<std::string> kScheduleKeys = {"cron", "name"};

// Cron: five fields (minute hour day-of-month month day-of-week) of *, numbers, ranges, lists
// and steps, or one of the @hourly/@daily/@weekly/@monthly/@yearly shorthands.
bool ValidCron(const std::string& expr, std::string* why) {
  static const std::vector<std::string> kShort = {"@hourly",  "@daily",  "@midnight", "@weekly",
                                                  "@monthly", "@yearly", "@annually"};
  if (std::find(kShort.begin(), kShort.end(), expr) != kShort.end()) return true;
  std::vector<std::string> fields;
  std::string cur;
  for (char c : expr + " ") {
    if (c == ' ' || c == '\t') {
      if (!cur.empty()) fields.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (fields.size() != 5) {
    *why = Q(expr) + " has " + std::to_string(fields.size()) + " fields";
    return false;
  }
  static const int kMin[5] = {0, 0, 1, 1, 0}, kMax[5] = {59, 23, 31, 12, 7};
  static const char* kName[5] = {"minute", "hour", "day of month", "month", "day of week"};
  auto number = [](const std::string& t, int* v) {
    if (t.empty() || t.size() > 2) return false;
    for (char c : t)
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    *v = std::stoi(t);
    return true;
  };
  for (int f = 0; f < 5; ++f) {
    std::string item;
    std::istringstream list(fields[f]);
    while (std::getline(list, item, ',')) {
      std::string range = item, step;
      if (auto slash = item.find('/'); slash != std::string::npos) {
        range = item.substr(0, slash);
        step = item.substr(slash + 1);
        int st;
        if (!number(step, &st) || st == 0) {
          *why = "bad step " + Q(step) + " in the " + kName[f] + " field";
          return false;
        }
      }
      if (range == "*") continue;
      int lo, hi;
      auto dash = range.find('-');
      bool ok = dash == std::string::npos
                    ? number(range, &lo) && (hi = lo, true)
                    : number(range.substr(0, dash), &lo) && number(range.substr(dash + 1), &hi);
      if (!ok || lo < kMin[f] || hi > kMax[f] || lo > hi) {
        *why = Q(item) + " is not valid in the " + kName[f] + " field (" + std::to_string(kMin[f]) +
               "-" + std::to_string(kMax[f]) + ")";
        return false;
      }
    }
  }
  return true;
}

// Collects diagnostics while walking the YAML tree.
class Parser {
 public:
  Parser(std::string file) : file_(std::move(file)) {}

  Location Loc(const Node& n) const { return {file_, n.line, n.column}; }
  void Error(const Node& n, std::string msg) { diags_.push_back({Loc(n), std::move(msg)}); }
  void Error(const Location& l, std::string msg) { diags_.push_back({l, std::move(msg)}); }
  std::vector<Diagnostic>& diags() { return diags_; }
  const UnreadableParts& unreadable() const { return unreadable_; }

  // Whether errors were reported since diags().size() was `before`.
  bool ErrorsSince(size_t before) const { return diags_.size() > before; }

  // Scalar keys of mapping `n` written without a value (ForEachKey reports and skips them).
  static std::vector<std::string> KeysWithoutValue(const Node& n) {
    std::vector<std::string> out;
    if (!n.IsMap()) return out;
    for (const auto& [kp, vp] : n.pairs()) {
      const Node& k = *kp;
      const Node& v = *vp;
      if (IsScalar(k) && v.IsNull()) out.push_back(k.value);
    }
    return out;
  }

  static const char* KindName(const Node& n) {
    if (n.IsMap()) return "a mapping";
    if (n.IsSequence()) return "a list";
    return n.IsNull() ? "null" : "a scalar";
  }

  // Iterates a mapping, rejecting duplicate and unknown keys. Returns false if n is no map.
  template <typename F>
  bool ForEachKey(const Node& n, const std::string& what, const std::vector<std::string>* allowed,
                  F&& f) {
    if (!n.IsMap()) {
      Error(n, what + " must be a mapping, not " + KindName(n));
      return false;
    }
    std::map<std::string, const Node*> seen;
    for (const auto& [kp, vp] : n.pairs()) {
      const Node& k = *kp;
      const Node& v = *vp;
      if (!IsScalar(k)) {
        Error(k, "keys of " + what + " must be plain names");
        continue;
      }
      std::string key = k.value;
      if (auto [first, inserted] = seen.emplace(key, &k); !inserted) {
        Error(k, "duplicate key " + Q(key) + " in " + what + " (first at " +
                     std::to_string(first->second->line) + ":" +
                     std::to_string(first->second->column) + ")");
        continue;
      }
      // A value written as nothing is reported at its key, where the reader looks.
      if (v.IsNull()) {
        Error(k, Q(key) + " in " + what + " has no value");
        continue;
      }
      if (allowed && std::find(allowed->begin(), allowed->end(), key) == allowed->end()) {
        std::string hint = ClosestMatch(key, *allowed);
        std::string list;
        for (const auto& a : *allowed) list += (list.empty() ? "" : ", ") + a;
        Error(k, "unknown key " + Q(key) + " in " + what +
                     (hint.empty() ? " (valid keys: " + list + ")"
                                   : " (did you mean '" + hint + "'?)"));
        continue;
      }
      f(key, k, v);
    }
    return true;
  }

  bool String(const Node& n, const std::string& what, std::string* out) {
    if (!IsScalar(n)) {
      Error(n, what + " must be a string, not " + std::string(KindName(n)));
      return false;
    }
    *out = n.value;
    return true;
  }

  bool Number(const Node& n, const std::string& what, double* out) {
    if (IsScalar(n) && !n.IsStringTyped()) {
      const std::string& s = n.value;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
      if (ec == std::errc() && p == s.data() + s.size() && std::isfinite(*out)) return true;
    }
    Error(n, what + " must be a number");
    return false;
  }

  bool Int(const Node& n, const std::string& what, int64_t* out, int64_t min = 0) {
    if (IsScalar(n) && !n.IsStringTyped()) {
      const std::string& s = n.value;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
      if (ec == std::errc() && p == s.data() + s.size() && *out >= min) return true;
    }
    Error(n, what + " must be an integer" + (min == 0 ? " >= 0" : ""));
    return false;
  }

  bool Bool(const Node& n, const std::string& what, bool* out) {
    if (IsScalar(n) && !n.IsStringTyped()) {
      const std::string& s = n.value;
      if (s == "true" || s == "True" || s == "TRUE") return *out = true, true;
      if (s == "false" || s == "False" || s == "FALSE") return *out = false, true;
    }
    Error(n, what + " must be true or false");
    return false;
  }

  bool Duration(const Node& n, const std::string& what, int64_t* out) {
    if (IsScalar(n) && ParseDuration(n.value, out)) return true;
    Error(n, what + " must be a duration such as 30s, 10m, 1h30m or 500ms");
    return false;
  }

  bool StringList(const Node& n, const std::string& what, std::vector<std::string>* out) {
    if (IsScalar(n)) {  // a single name is accepted as a one-element list
      out->push_back(n.value);
      return true;
    }
    if (!n.IsSequence()) {
      Error(n, what + " must be a list of names");
      return false;
    }
    for (const Node* e : n.items()) {
      std::string s;
      if (String(*e, what + " entries", &s)) out->push_back(s);
    }
    return true;
  }

  void ParseResources(const Node& n, Settings* r) {
    static const std::vector<std::string>* kNone = nullptr;
    ForEachKey(n, "resources", kNone, [&](const std::string& key, const Node& k, const Node& v) {
      if (key == "cpu") {
        double c;
        if (Number(v, "resources.cpu", &c)) {
          if (c <= 0) Error(v, "resources.cpu must be greater than 0");
          r->cpu = c;
        }
      } else if (key == "memory") {
        int64_t b;
        if (IsScalar(v) && ParseMemory(v.value, &b))
          r->memory = b;
        else
          Error(v, "resources.memory must be a size such as 512Mi, 4Gi or 1G");
      } else if (key == "gpu") {
        int64_t g;
        if (Int(v, "resources.gpu", &g)) r->gpu = g;
      } else if (std::string hint = ClosestMatch(key, {"cpu", "memory", "gpu"}); !hint.empty()) {
        Error(k, "unknown resource " + Q(key) + " (did you mean '" + hint + "'?)");
      } else if (IsValidParamName(key)) {
        int64_t c;
        if (Int(v, "resources." + key, &c)) {
          r->pools[key] = c;
          pool_refs_.push_back({key, Loc(k)});
        }
      } else {
        Error(k, "unknown resource " + Q(key) +
                     " (cpu, memory, gpu, or a pool declared under 'pools')");
      }
    });
  }

  void ParseRetries(const Node& n, Settings* r) {
    if (IsScalar(n)) {  // `retries: 3` is shorthand for `retries: {max: 3}`
      int64_t m;
      if (Int(n, "retries", &m)) r->retry_max = static_cast<int>(m);
      return;
    }
    static const std::vector<std::string> keys = {"max", "delay", "backoff"};
    ForEachKey(n, "retries", &keys, [&](const std::string& key, const Node&, const Node& v) {
      if (key == "max") {
        int64_t m;
        if (Int(v, "retries.max", &m)) r->retry_max = static_cast<int>(m);
      } else if (key == "delay") {
        int64_t d;
        if (Duration(v, "retries.delay", &d)) r->retry_delay_us = d;
      } else {
        double b;
        if (Number(v, "retries.backoff", &b)) {
          if (b < 1) Error(v, "retries.backoff must be at least 1");
          r->retry_backoff = b;
        }
      }
    });
  }

  void ParseCache(const Node& n, Settings* c) {
    if (IsScalar(n)) {
      bool on;
      if (Bool(n, "cache", &on)) c->cache = on;
      return;
    }
    static const std::vector<std::string> keys = {"enabled", "files"};
    ForEachKey(n, "cache", &keys, [&](const std::string& key, const Node&, const Node& v) {
      if (key == "enabled") {
        bool on;
        if (Bool(v, "cache.enabled", &on)) c->cache = on;
      } else {
        std::vector<std::string> files;
        if (StringList(v, "cache.files", &files)) c->cache_files = files;
      }
    });
  }

  // A YAML value as JSON: scalars typed like parameter defaults (bool, int, float, string).
  Json ToJson(const Node& n) {
    if (n.IsMap()) {
      Json j = Json::object();
      for (const auto& [kp, vp] : n.pairs()) {
        const Node& k = *kp;
        const Node& v = *vp;
        if (IsScalar(k)) j[k.value] = ToJson(v);
      }
      return j;
    }
    if (n.IsSequence()) {
      Json j = Json::array();
      for (const Node* e : n.items()) j.push_back(ToJson(*e));
      return j;
    }
    if (!IsScalar(n)) return nullptr;
    return TypedScalar(n);
  }

  static Json TypedScalar(const Node& v) {
    const std::string& s = v.value;
    if (v.IsStringTyped()) return s;
    const char* b = s.data();
    const char* e = b + s.size();
    int64_t i;
    double d;
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    const bool is_float = v.tag() == std::string(yaml::kStandardTagPrefix) + "float";
    if (auto [p, ec] = std::from_chars(b, e, i); ec == std::errc() && p == e)
      return is_float ? Json(double(i)) : Json(i);
    if (auto [p2, ec2] = std::from_chars(b, e, d);
        ec2 == std::errc() && p2 == e && std::isfinite(d))
      return d;
    return s;
  }

  // `orchestrator: {FLAVOR: {key: value}}`. The keys are checked against the flavor's schema
  // later, when the stack is known; here only the shape.
  void ParseOrchestratorBlocks(const Node& n, Settings* s) {
    ForEachKey(n, "orchestrator", nullptr,
               [&](const std::string& flavor, const Node& fk, const Node& fv) {
                 if (!IsValidStepName(flavor)) {
                   Error(fk, "invalid orchestrator flavor name " + Q(flavor));
                   return;
                 }
                 s->locs["orchestrator." + flavor] = Loc(fk);
                 Json& block = s->orchestrator[flavor];
                 if (!block.is_object()) block = Json::object();
                 ForEachKey(fv, "orchestrator." + flavor, nullptr,
                            [&](const std::string& key, const Node& kk, const Node& kv) {
                              block[key] = ToJson(kv);
                              s->locs["orchestrator." + flavor + "." + key] = Loc(kk);
                            });
               });
  }

  void ParseEnv(const Node& n, std::map<std::string, std::string>* env) {
    ForEachKey(n, "env", nullptr, [&](const std::string& key, const Node& k, const Node& v) {
      bool ok = !key.empty() && !std::isdigit(static_cast<unsigned char>(key[0]));
      for (char c : key) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
      if (!ok) {
        Error(k, "invalid environment variable name " + Q(key));
        return;
      }
      std::string s;
      if (String(v, "env." + key, &s)) (*env)[key] = s;
    });
  }

  // One settings key (shared by defaults, steps, `settings:` blocks and run configs).
  void ParseSetting(const std::string& key, const Node& v, Settings* s) {
    if (key == "resources") {
      ParseResources(v, s);
    } else if (key == "retries") {
      ParseRetries(v, s);
    } else if (key == "timeout") {
      int64_t t;
      if (Duration(v, "timeout", &t)) s->timeout_us = t;
    } else if (key == "cache") {
      ParseCache(v, s);
    } else if (key == "image") {
      std::string i;
      if (String(v, "image", &i)) s->image = i;
    } else if (key == "env") {
      ParseEnv(v, &s->env);
    } else if (key == "orchestrator") {
      ParseOrchestratorBlocks(v, s);
    }
  }

  void ParseSettingsBlock(const Node& v, const std::string& what, Settings* s) {
    ForEachKey(v, what, &kSettingKeys, [&](const std::string& sk, const Node&, const Node& sv) {
      ParseSetting(sk, sv, s);
    });
  }

  void ParseHooks(const Node& n, Hooks* h) {
    static const std::vector<std::string> keys = {"on_success", "on_failure"};
    ForEachKey(n, "hooks", &keys, [&](const std::string& key, const Node&, const Node& v) {
      String(v, "hooks." + key, key == "on_success" ? &h->on_success : &h->on_failure);
    });
  }

  // Records that the file uses something format version 1 does not have.
  void NeedsVersion2(const Node& at, const std::string& what) {
    v2_uses_.emplace_back(Loc(at), what);
  }

  // `matrix: {AXIS: [values], include: [{...}], exclude: [{...}]}`, or `matrix: STEP`.
  void ParseMatrix(const Node& v, const std::string& step, MatrixSpec* m) {
    m->loc = Loc(v);
    const size_t before = diags_.size();
    const std::string who = "step " + Q(step) + ": matrix";
    if (IsScalar(v)) {
      m->from = v.value;
      return;
    }
    if (!v.IsMap()) {
      Error(v, who + " must be a mapping of axes to lists of values, or the name of a matrix step");
      return;
    }
    auto combos = [&](const Node& list, const std::string& what, std::vector<Json>* out) {
      if (!list.IsSequence()) {
        Error(list, who + ": " + what + " must be a list of mappings");
        return;
      }
      for (const Node* e : list.items()) {
        if (!e->IsMap() || e->pairs().empty()) {
          Error(*e, who + ": each " + what + " entry must be a mapping of axes to values");
          continue;
        }
        Json j = Json::object();
        for (const auto& [kp, vp] : e->pairs()) {
          if (!IsScalar(*vp) || !IsValidParamName(kp->value)) {
            Error(*vp, who + ": " + what + " values must be scalars named by axes");
            continue;
          }
          j[kp->value] = TypedScalar(*vp);
        }
        out->push_back(std::move(j));
      }
    };
    for (const auto& [kp, vp] : v.pairs()) {
      const std::string& axis = kp->value;
      if (axis == "include") {
        combos(*vp, "include", &m->include);
        continue;
      }
      if (axis == "exclude") {
        combos(*vp, "exclude", &m->exclude);
        continue;
      }
      if (!IsValidParamName(axis)) {
        Error(*kp, who + ": invalid axis name " + Q(axis) + " (use [A-Za-z_][A-Za-z0-9_]*)");
        continue;
      }
      if (!vp->IsSequence() || vp->items().empty()) {
        Error(*vp, who + ": axis " + Q(axis) + " must be a non-empty list of values");
        continue;
      }
      std::vector<Json> values;
      for (const Node* e : vp->items()) {
        if (!IsScalar(*e)) {
          Error(*e, who + ": the values of axis " + Q(axis) + " must be scalars (string, number or bool)");
          continue;
        }
        values.push_back(TypedScalar(*e));
      }
      m->axes.emplace_back(axis, std::move(values));
    }
    if (m->axes.empty() && m->include.empty() && !ErrorsSince(before))
      Error(v, who + " has no axis (and no include)");
  }

  // `for_each: STEP.OUTPUT`, or `for_each: {items: STEP.OUTPUT, as: KIND, max: N, parallel: N}`.
  void ParseForEach(const Node& v, const std::string& step, ForEachSpec* f) {
    f->loc = Loc(v);
    const std::string who = "step " + Q(step) + ": for_each";
    auto items = [&](const Node& n) {
      std::string ref;
      if (!String(n, "for_each items", &ref)) return;
      auto dot = ref.find('.');
      if (dot == std::string::npos || dot == 0 || dot + 1 == ref.size() || ref.find('[') != std::string::npos) {
        Error(n, who + " must name a list artifact as STEP.OUTPUT, not " + Q(ref));
        return;
      }
      f->step = ref.substr(0, dot);
      f->output = ref.substr(dot + 1);
      f->loc = Loc(n);
    };
    if (IsScalar(v)) {
      items(v);
      return;
    }
    static const std::vector<std::string> keys = {"items", "as", "max", "parallel"};
    bool have_items = false;
    ForEachKey(v, "for_each", &keys, [&](const std::string& key, const Node&, const Node& kv) {
      if (key == "items") {
        have_items = true;
        items(kv);
      } else if (key == "as") {
        if (String(kv, "for_each.as", &f->as) && f->as != "json" && f->as != "lines" && f->as != "entries")
          Error(kv, who + ".as must be json, lines or entries, not " + Q(f->as));
      } else if (key == "max") {
        int64_t m;
        if (Int(kv, "for_each.max", &m, 1)) f->max = m;
      } else {
        int64_t m;
        if (Int(kv, "for_each.parallel", &m, 1)) f->parallel = static_cast<int>(std::min<int64_t>(m, 1 << 20));
      }
    });
    if (v.IsMap() && !have_items) Error(v, who + " needs 'items: STEP.OUTPUT'");
  }

  // `when: EXPRESSION` (condition.h); errors point into the expression where it is on one line.
  void ParseWhen(const Node& v, const std::string& step, StepSpec* s) {
    if (!String(v, "when", &s->when)) return;
    s->when_loc = Loc(v);
    size_t at = 0;
    auto c = Condition::Parse(s->when, &at);
    if (!c.ok()) {
      Location loc = Loc(v);
      if (s->when.find('\n') == std::string::npos && at <= s->when.size())
        loc.column += static_cast<int>(at) + (v.style == yaml::Style::kPlain ? 0 : 1);
      Error(loc, "step " + Q(step) + ": when: " + c.status().message());
      s->when.clear();  // reported here; the graph checks leave it alone
      return;
    }
    s->when_steps = c->Steps();
  }

  void ParseStep(const std::string& name, const Node& k, const Node& n, PipelineSpec* spec) {
    StepSpec s;
    s.name = name;
    s.loc = Loc(k);
    if (!IsValidStepName(name))
      Error(k, "invalid step name " + Q(name) + " (use [A-Za-z0-9_-], at most 63 characters)");
    bool have_run = false;
    if (!n.IsMap()) unreadable_.steps.insert(name);
    ForEachKey(
        n, "step " + Q(name), &kStepKeys,
        [&](const std::string& key, const Node& kk, const Node& v) {
          // What a broken `run`, `inputs` or `outputs` hides is left out of the graph checks.
          const size_t before = diags_.size();
          if (key == "run") {
            have_run = true;
            s.run_loc = Loc(v);
            if (IsScalar(v)) {
              s.shell = true;
              s.run = {v.value};
            } else if (v.IsSequence()) {
              s.shell = false;
              for (const Node* e : v.items()) {
                std::string a;
                if (String(*e, "run list entries", &a)) s.run.push_back(a);
              }
              if (s.run.empty()) Error(v, "step " + Q(name) + ": 'run' list is empty");
            } else {
              Error(v, "step " + Q(name) + ": 'run' must be a string or a list of strings");
            }
            if (ErrorsSince(before)) unreadable_.runs.insert(name);
          } else if (key == "description") {
          } else if (key == "inputs") {
            ForEachKey(
                v, "inputs of step " + Q(name), nullptr,
                [&](const std::string& in, const Node& ik, const Node& iv) {
                  std::string ref;
                  if (!String(iv, "input " + Q(in), &ref)) return;
                  // STEP.OUTPUT, or STEP[SELECTOR].OUTPUT for a matrix step's instances.
                  std::string selector;
                  size_t from = 0;
                  auto open = ref.find('[');
                  auto first_dot = ref.find('.');
                  if (open != std::string::npos && (first_dot == std::string::npos || open < first_dot)) {
                    auto close = ref.find(']', open);
                    if (close == std::string::npos || close == open + 1) {
                      Error(iv, "input " + Q(in) + ": '[' must be closed after a selector, as in STEP[*].OUTPUT or "
                                "STEP[K=V].OUTPUT, not " + Q(ref));
                      return;
                    }
                    selector = ref.substr(open + 1, close - open - 1);
                    ref.erase(open, close - open + 1);
                    from = open;
                  }
                  auto dot = ref.find('.', from);
                  if (dot == std::string::npos || dot == 0 || dot + 1 == ref.size()) {
                    Error(iv, "input " + Q(in) + " must be written as STEP.OUTPUT, not " + Q(ref));
                    return;
                  }
                  if (!selector.empty()) NeedsVersion2(iv, "a matrix selector");
                  InputRef r{in, ref.substr(0, dot), ref.substr(dot + 1), Loc(iv), {}, {}};
                  r.selector = selector;
                  s.inputs.push_back(std::move(r));
                  (void)ik;
                });
            if (ErrorsSince(before)) unreadable_.inputs.insert(name);
          } else if (key == "outputs") {
            StringList(v, "outputs", &s.outputs);
            if (ErrorsSince(before)) unreadable_.outputs.insert(name);
          } else if (key == "after") {
            s.after_loc = Loc(v);
            StringList(v, "after", &s.after);
          } else if (key == "params") {
            StringList(v, "params", &s.params);
          } else if (key == "hooks") {
            ParseHooks(v, &s.hooks);
          } else if (key == "matrix") {
            NeedsVersion2(kk, "'matrix'");
            ParseMatrix(v, name, &s.matrix);
          } else if (key == "when") {
            NeedsVersion2(kk, "'when'");
            ParseWhen(v, name, &s);
          } else if (key == "for_each") {
            NeedsVersion2(kk, "'for_each'");
            ParseForEach(v, name, &s.for_each);
          } else if (key == "settings") {
            ParseSettingsBlock(v, "settings of step " + Q(name), &s.settings);
          } else {
            ParseSetting(key, v, &s.settings);
          }
          (void)kk;
        });
    if (n.IsMap() && !have_run) {
      Error(k, "step " + Q(name) + " has no 'run' command");
      unreadable_.runs.insert(name);
    }
    spec->steps.push_back(std::move(s));
  }

  void ParseParameters(const Node& n, PipelineSpec* spec) {
    if (!n.IsMap()) unreadable_.all_params = true;
    for (const auto& key : KeysWithoutValue(n)) unreadable_.params.insert(key);
    ForEachKey(n, "parameters", nullptr, [&](const std::string& key, const Node& k, const Node& v) {
      if (!IsValidParamName(key)) {
        Error(k, "invalid parameter name " + Q(key) + " (use [A-Za-z_][A-Za-z0-9_]*)");
        unreadable_.params.insert(key);
        return;
      }
      if (!IsScalar(v)) {
        Error(v, "parameter " + Q(key) + " must have a scalar default (string, number or bool)");
        unreadable_.params.insert(key);
        return;
      }
      spec->parameters[key] = TypedScalar(v);
      spec->param_locs[key] = Loc(k);
    });
  }

  // `pools: {NAME: capacity}`. Pools declared but unreadable are remembered, so that the steps
  // using them are not also told that the pool is undeclared.
  void ParsePools(const Node& n, PipelineSpec* spec) {
    if (!n.IsMap()) all_pools_unreadable_ = true;
    for (const auto& key : KeysWithoutValue(n)) unreadable_pools_.insert(key);
    ForEachKey(n, "pools", nullptr, [&](const std::string& pk, const Node& pkn, const Node& pv) {
      if (!IsValidParamName(pk) || pk == "cpu" || pk == "memory" || pk == "gpu") {
        Error(pkn, "invalid pool name " + Q(pk));
        return;
      }
      int64_t c;
      if (Int(pv, "pool " + Q(pk), &c, 1))
        spec->pools[pk] = c;
      else
        unreadable_pools_.insert(pk);
    });
  }

  void ParseRoot(const Node& root, PipelineSpec* spec) {
    if (!root.IsMap()) {
      Error(root, "a pipeline file must be a mapping with 'name' and 'steps'");
      return;
    }
    bool have_steps = false;
    ForEachKey(root, "the pipeline", &kPipelineKeys,
               [&](const std::string& key, const Node& k, const Node& v) {
                 if (key == "name") {
                   if (String(v, "name", &spec->name) && !IsValidStepName(spec->name))
                     Error(v, "invalid pipeline name " + Q(spec->name) +
                                  " (use [A-Za-z0-9_-], at most 63 characters)");
                 } else if (key == "description") {
                 } else if (key == "version") {
                   int64_t ver;
                   if (Int(v, "version", &ver)) {
                     if (ver != 1 && ver != 2)
                       Error(v, "unsupported pipeline format version " + std::to_string(ver) +
                                    " (this baton reads versions 1 and 2)");
                     else
                       spec->format_version = static_cast<int>(ver);
                   }
                 } else if (key == "parameters") {
                   ParseParameters(v, spec);
                 } else if (key == "defaults") {
                   ParseSettingsBlock(v, "defaults", &spec->defaults);
                 } else if (key == "failure_mode") {
                   std::string m;
                   if (String(v, "failure_mode", &m) && !ParseFailureMode(m, &spec->failure_mode))
                     Error(v, "failure_mode must be continue, stop or fail_fast, not " + Q(m));
                 } else if (key == "pools") {
                   ParsePools(v, spec);
                 } else if (key == "hooks") {
                   ParseHooks(v, &spec->hooks);
                 } else if (key == "steps") {
                   have_steps = true;
                   if (v.IsMap() && v.pairs().empty()) Error(v, "the pipeline has no steps");
                   for (const auto& name : KeysWithoutValue(v)) unreadable_.steps.insert(name);
                   ForEachKey(v, "steps", nullptr,
                              [&](const std::string& sk, const Node& skn, const Node& sv) {
                                ParseStep(sk, skn, sv, spec);
                              });
                 }
                 (void)k;
               });
    if (spec->format_version == 1)
      for (const auto& [loc, what] : v2_uses_)
        Error(loc, what + " needs pipeline format version 2 (the file says version: 1)");
    if (spec->name.empty()) Error(Location{file_, 1, 1}, "the pipeline has no 'name'");
    if (!have_steps) Error(Location{file_, 1, 1}, "the pipeline has no 'steps'");
    // Pools are declared at the top level, possibly after the steps that use them.
    unreadable_.pools_checked = true;
    for (const auto& [pool, loc] : pool_refs_)
      if (!spec->pools.count(pool) && !all_pools_unreadable_ && !unreadable_pools_.count(pool))
        Error(loc, "resource " + Q(pool) +
                       " is neither cpu, memory, gpu nor a pool declared under 'pools'");
  }

  void ParseRunConfigParams(const Node& n, const std::string& what,
                            std::map<std::string, RunConfigValue>* out) {
    ForEachKey(n, what, nullptr, [&](const std::string& key, const Node& k, const Node& v) {
      if (!IsScalar(v)) {
        Error(v, "parameter " + Q(key) + " must be a scalar (string, number or bool)");
        return;
      }
      (*out)[key] = RunConfigValue{v.value, Loc(k)};
    });
  }

  void ParseRunConfigRoot(const Node& root, RunConfig* rc) {
    if (root.IsNull()) return;  // an empty run config changes nothing
    ForEachKey(
        root, "the run config", &kRunConfigKeys,
        [&](const std::string& key, const Node& k, const Node& v) {
          if (key == "parameters") {
            ParseRunConfigParams(v, "parameters", &rc->parameters);
          } else if (key == "settings") {
            ParseSettingsBlock(v, "settings", &rc->settings);
          } else if (key == "steps") {
            ForEachKey(
                v, "steps", nullptr, [&](const std::string& name, const Node& sk, const Node& sv) {
                  RunConfig::StepOverride& o = rc->steps[name];
                  o.loc = Loc(sk);
                  ForEachKey(sv, "steps." + name, &kRunConfigStepKeys,
                             [&](const std::string& ok, const Node&, const Node& ov) {
                               if (ok == "settings")
                                 ParseSettingsBlock(ov, "settings of step " + Q(name), &o.settings);
                               else if (ok == "parameters")
                                 ParseRunConfigParams(ov, "parameters of step " + Q(name),
                                                      &o.parameters);
                               else
                                 ParseCache(ov, &o.settings);
                             });
                });
          } else if (key == "schedule") {
            rc->schedule_loc = Loc(v);
            if (IsScalar(v)) {
              rc->schedule = v.value;
              std::string why;
              if (!ValidCron(rc->schedule, &why))
                Error(v, "schedule must be a cron expression (5 fields): " + why);
            } else {
              ForEachKey(v, "schedule", &kScheduleKeys,
                         [&](const std::string& sk, const Node&, const Node& sv) {
                           std::string text;
                           if (!String(sv, "schedule." + sk, &text)) return;
                           if (sk == "cron") {
                             rc->schedule = text;
                             std::string why;
                             if (!ValidCron(text, &why))
                               Error(sv,
                                     "schedule.cron must be a cron expression (5 fields): " + why);
                           } else {
                             rc->schedule_name = text;
                             if (!IsValidStepName(text))
                               Error(sv, "invalid schedule name " + Q(text));
                           }
                         });
              if (rc->schedule.empty()) Error(v, "schedule needs 'cron'");
            }
          } else if (key == "run_name") {
            if (String(v, "run_name", &rc->run_name)) {
              rc->run_name_loc = Loc(v);
              std::string why;
              if (!ValidRunNameTemplate(rc->run_name, &why)) Error(v, "run_name: " + why);
            }
          } else if (key == "failure_mode") {
            std::string m;
            FailureMode fm;
            if (String(v, "failure_mode", &m)) {
              if (ParseFailureMode(m, &fm))
                rc->failure_mode = fm;
              else
                Error(v, "failure_mode must be continue, stop or fail_fast, not " + Q(m));
            }
          } else if (key == "stack") {
            if (String(v, "stack", &rc->stack) && !IsValidStepName(rc->stack))
              Error(v, "invalid stack name " + Q(rc->stack));
          }
          (void)k;
        });
  }

 private:
  std::string file_;
  std::vector<Diagnostic> diags_;
  std::vector<std::pair<std::string, Location>> pool_refs_;
  UnreadableParts unreadable_;
  std::set<std::string> unreadable_pools_;
  bool all_pools_unreadable_ = false;
  std::vector<std::pair<Location, std::string>> v2_uses_;
};

// Whether a scalar reads as the standard type its tag names.
bool ScalarFitsTag(const Node& n, const std::string& type) {
  if (!n.IsScalar() || type == "str") return true;
  if (type == "null")
    return n.value.empty() || n.value == "~" || n.value == "null" || n.value == "Null" ||
           n.value == "NULL";
  Node untagged = n;
  untagged.tag_info = nullptr;
  untagged.style = yaml::Style::kPlain;
  const Json j = Parser::TypedScalar(untagged);
  return type == "int" ? j.is_number_integer() : type == "float" ? j.is_number() : j.is_boolean();
}

// Reports every tag that is not a standard one, or that stands on the wrong kind of node: a
// pipeline means what it says, so `run: !include x` is an error rather than `run: x`. Each node
// is checked once, however many aliases point at it.
void CheckTags(const Node& root, const std::string& file, std::vector<Diagnostic>* diags) {
  std::set<const Node*> seen;
  std::vector<const Node*> todo = {&root};
  while (!todo.empty()) {
    const Node* n = todo.back();
    todo.pop_back();
    // Only an anchored node can be reached twice (through its aliases).
    if (n->anchored && !seen.insert(n).second) continue;
    for (const Node* e : n->items()) todo.push_back(e);
    for (const auto& [k, v] : n->pairs()) todo.push_back(v), todo.push_back(k);
    const std::string& tag = n->tag();
    if (tag.empty() || tag == "!") continue;
    const std::string prefix = yaml::kStandardTagPrefix;
    const Location at{file, n->tag_line() ? n->tag_line() : n->line,
                      n->tag_line() ? n->tag_column() : n->column};
    auto std_tag = tag.rfind(prefix, 0) == 0 ? StandardTags().find(tag.substr(prefix.size()))
                                                : StandardTags().end();
    if (std_tag == StandardTags().end()) {
      diags->push_back(
          {at,
           "unknown tag " +
               Q(tag.rfind(prefix, 0) == 0 ? "!!" + tag.substr(prefix.size()) : tag) +
               " (only the standard tags !!str, !!int, !!float, !!bool, !!null, !!seq and !!map)"});
    } else if (std_tag->second != n->kind) {
      diags->push_back({at, "tag '!!" + std_tag->first + "' does not fit " +
                                (n->IsMap()        ? "a mapping"
                                 : n->IsSequence() ? "a list"
                                                   : "a scalar")});
    } else if (!ScalarFitsTag(*n, std_tag->first)) {
      diags->push_back({at, Q(n->value) + " is not " +
                                (std_tag->first == "int"     ? "an integer"
                                 : std_tag->first == "float" ? "a number"
                                 : std_tag->first == "bool"  ? "true or false"
                                                             : "null") +
                                ", as its tag '!!" + std_tag->first + "' says"});
    }
  }
}

// Loads YAML `text` and hands its one document to `walk`, which reports into `p` (an empty
// stream is one null document). A YAML error becomes the one diagnostic at its location; a
// second document and unknown tags are reported beside what `walk` finds. Returns whether the
// document was walked (so that checks on what was read make sense).
template <typename Walk>
bool ParseYaml(const std::string& text, const std::string& file, Parser& p, Walk&& walk) {
  yaml::Stream stream;
  yaml::Error error;
  if (!yaml::ParseStream(text, &stream, &error)) {
    p.Error(Location{file, error.line, error.column},
            (error.syntax ? "invalid YAML: " : "") + error.message);
    return false;
  }
  const auto& docs = stream.documents();
  if (docs.size() > 1)
    p.Error(Location{file, docs[1].line, docs[1].column},
            "a second YAML document (a file holds one; '---' starts another, '...' ends one)");
  Node empty;
  const Node& root = docs.empty() ? empty : *docs[0].root;
  CheckTags(root, file, &p.diags());
  walk(root);
  return true;
}

}  // namespace

const std::vector<std::string>& StepKeys() { return kStepKeys; }

std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    // The distance is at least the difference in length: a long word skips the table.
    if ((word.size() > c.size() ? word.size() - c.size() : c.size() - word.size()) >= best_d)
      continue;
    std::vector<size_t> prev(c.size() + 1), cur(c.size() + 1);
    for (size_t j = 0; j <= c.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= word.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= c.size(); ++j)
        cur[j] = std::min(
            {prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (word[i - 1] == c[j - 1] ? 0 : 1)});
      std::swap(prev, cur);
    }
    if (prev[c.size()] < best_d) {
      best_d = prev[c.size()];
      best = c;
    }
  }
  return best;
}

Result<PipelineSpec> ParsePipelineText(const std::string& text, const std::string& file,
                                       const std::string& root) {
  Parser p(file);
  PipelineSpec spec;
  spec.file = file;
  spec.root = root;
  // Every error at once: those of reading each key, then the graph checks on what was read.
  if (ParseYaml(text, file, p, [&](const Node& doc) { p.ParseRoot(doc, &spec); })) {
    const bool read_errors = !p.diags().empty();
    for (auto& d : ValidatePipeline(spec, p.unreadable())) {
      // Whole-pipeline problems (no name, no steps) were reported where they were read.
      if (read_errors && d.loc.line == 0) continue;
      p.diags().push_back(std::move(d));
    }
  }
  if (!p.diags().empty()) return DiagnosticsToStatus(p.diags());
  if (auto diags = ExpandMatrices(&spec); !diags.empty()) return DiagnosticsToStatus(diags);
  return spec;
}

Result<PipelineSpec> ParsePipelineFile(Env& env, const std::string& path) {
  auto text = env.ReadRegularFile(path, kMaxInputFileBytes);
  if (!text.ok()) return InvalidArgument("cannot read pipeline file: " + text.status().message());
  BATON_ASSIGN_OR_RETURN(std::string abs, env.Absolute(path));
  std::string root = abs.substr(0, abs.rfind('/'));
  return ParsePipelineText(*text, path, root.empty() ? "/" : root);
}

Result<RunConfig> ParseRunConfigText(const std::string& text, const std::string& file) {
  Parser p(file);
  RunConfig rc;
  rc.file = file;
  ParseYaml(text, file, p, [&](const Node& doc) { p.ParseRunConfigRoot(doc, &rc); });
  if (!p.diags().empty()) return DiagnosticsToStatus(p.diags());
  return rc;
}

Result<RunConfig> ParseRunConfigFile(Env& env, const std::string& path) {
  auto text = env.ReadRegularFile(path, kMaxInputFileBytes);
  if (!text.ok()) return InvalidArgument("cannot read run config: " + text.status().message());
  return ParseRunConfigText(*text, path);
}

Status ApplyRunConfig(const RunConfig& rc, PipelineSpec* spec) {
  std::vector<Diagnostic> d;
  auto set_param = [&](const std::string& name, const RunConfigValue& v, Json* target) {
    if (!spec->parameters.contains(name)) {
      d.push_back({v.loc, UnknownParameterMessage(*spec, name)});
      return;
    }
    Json value;
    Status st = ConvertParamValue(name, spec->parameters[name], v.text, &value);
    if (!st.ok())
      d.push_back({v.loc, st.message()});
    else
      (*target)[name] = value;
  };
  Json params = Json::object();
  for (const auto& [name, v] : rc.parameters) set_param(name, v, &params);
  std::vector<std::string> names;
  std::set<std::string> groups;  // matrix and for_each steps: their settings reach every instance
  for (const auto& s : spec->steps) {
    names.push_back(s.name);
    if (!s.group.empty()) groups.insert(s.group);
  }
  for (const auto& [name, o] : rc.steps) {
    if (spec->FindStep(name) == nullptr && !groups.count(name)) {
      std::string hint = ClosestMatch(name, names);
      d.push_back({o.loc, "the pipeline has no step " + Q(name) +
                              (hint.empty() ? "" : " (did you mean '" + hint + "'?)")});
    }
  }
  std::map<std::string, Json> step_params;
  for (const auto& [name, o] : rc.steps)
    for (const auto& [pn, v] : o.parameters) set_param(pn, v, &step_params[name]);
  if (!d.empty()) return DiagnosticsToStatus(d);

  for (auto it = params.begin(); it != params.end(); ++it) spec->parameters[it.key()] = it.value();
  for (auto& s : spec->steps) {
    s.settings.MergeFrom(rc.settings);
    // An instance takes what the run config says for its step, then for itself.
    for (const std::string& key : {s.group, s.name}) {
      auto o = key.empty() ? rc.steps.end() : rc.steps.find(key);
      if (o == rc.steps.end()) continue;
      s.settings.MergeFrom(o->second.settings);
      for (auto it = step_params[key].begin(); it != step_params[key].end(); ++it) s.parameters[it.key()] = it.value();
    }
  }
  if (rc.failure_mode) spec->failure_mode = *rc.failure_mode;
  auto v = ValidatePipeline(*spec);
  if (!v.empty()) return DiagnosticsToStatus(v);
  return Status::Ok();
}

bool ValidRunNameTemplate(const std::string& tmpl, std::string* why) {
  if (tmpl.empty() || tmpl.size() > 200) {
    *why = "must hold 1 to 200 characters";
    return false;
  }
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl.compare(i, 2, "{{") == 0) {
      auto end = tmpl.find("}}", i + 2);
      if (end == std::string::npos) {
        *why = "'{{' without '}}'";
        return false;
      }
      std::string name = tmpl.substr(i + 2, end - i - 2);
      while (!name.empty() && name.front() == ' ') name.erase(0, 1);
      while (!name.empty() && name.back() == ' ') name.pop_back();
      bool ok = name == "date" || name == "time" || name == "random" || name == "pipeline.name" ||
                (name.rfind("params.", 0) == 0 && IsValidParamName(name.substr(7)));
      if (!ok) {
        *why = "unknown placeholder '{{" + name +
               "}}' (use {{date}}, {{time}}, {{random}}, {{pipeline.name}} or {{params.NAME}})";
        return false;
      }
      i = end + 2;
      continue;
    }
    char c = tmpl[i];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.') ||
        (i == 0 && c == '.')) {
      *why = std::string("character '") + c + "' is not allowed in run names ([A-Za-z0-9_.-])";
      return false;
    }
    ++i;
  }
  return true;
}

}  // namespace baton
