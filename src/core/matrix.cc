#include "core/matrix.h"

#include "baton/json_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

namespace baton {

namespace {

bool Plain(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("_.+-:@", c) != nullptr;
}

std::string Escape(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    if (c != '\0' && Plain(c)) {
      out += c;
    } else {
      auto u = static_cast<unsigned char>(c);
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  return out;
}

std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool AsNumber(const std::string& s, double* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && std::isfinite(*out);
}

// Whether a value as written in a selector is `v`.
bool TextIs(const std::string& text, const Json& v) {
  if (ParamToString(v) == text) return true;
  double a;
  return v.is_number() && AsNumber(text, &a) && a == v.get<double>();
}

bool SameValue(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  return a == b;
}

std::string Quoted(const std::string& s) { return "'" + s + "'"; }

std::string Listed(const std::vector<Json>& combos, const std::string& step, size_t cap = 4) {
  std::string out;
  for (size_t i = 0; i < combos.size() && i < cap; ++i) out += (i ? ", " : "") + InstanceName(step, combos[i]);
  if (combos.size() > cap) out += ", ... (" + std::to_string(combos.size()) + " in all)";
  return out;
}

class Expander {
 public:
  explicit Expander(PipelineSpec* spec) : spec_(spec) {
    for (const auto& s : spec->steps) {
      by_name_[s.name] = &s;
      if (!s.for_each.empty()) dynamic_.insert(s.name);
    }
  }

  std::vector<Diagnostic> Run() {
    for (const auto& s : spec_->steps)
      if (!s.matrix.empty()) Combos(s, 0);
    if (!diags_.empty()) return diags_;
    if (combos_.empty()) {
      // No matrix: the steps stay where they are (a copy of each cost a million-step pipeline
      // seconds); only references to for_each steps and misplaced selectors are looked at.
      for (auto& t : spec_->steps) Rewrite(&t);
      return diags_;
    }
    std::vector<StepSpec> out;
    for (const auto& s : spec_->steps) {
      auto c = combos_.find(s.name);
      if (c == combos_.end()) {
        out.push_back(s);
        continue;
      }
      for (const Json& values : c->second) {
        StepSpec inst = s;
        inst.name = InstanceName(s.name, values);
        inst.group = s.name;
        inst.matrix_values = values;
        inst.matrix = MatrixSpec{};
        out.push_back(std::move(inst));
      }
    }
    for (auto& t : out) Rewrite(&t);
    if (!diags_.empty()) return diags_;
    spec_->steps = std::move(out);
    return {};
  }

 private:
  void Err(const Location& loc, std::string msg) { diags_.push_back({loc, std::move(msg)}); }

  // The combinations of a matrix step, computed once; `from` chains followed.
  const std::vector<Json>* Combos(const StepSpec& s, int depth) {
    if (auto it = combos_.find(s.name); it != combos_.end()) return &it->second;
    if (failed_.count(s.name)) return nullptr;
    const MatrixSpec& m = s.matrix;
    const std::string who = "step " + Quoted(s.name) + ": matrix";
    if (!m.from.empty()) {
      auto src = by_name_.find(m.from);
      if (src == by_name_.end() || src->second->matrix.empty() || depth > 64 || m.from == s.name) {
        Err(m.loc, who + " names " + Quoted(m.from) +
                       (src == by_name_.end()       ? ", which is no step"
                        : m.from == s.name || depth > 64 ? ", which leads back to this step"
                                                    : ", which has no matrix"));
        failed_.insert(s.name);
        return nullptr;
      }
      const std::vector<Json>* c = Combos(*src->second, depth + 1);
      if (!c) {
        failed_.insert(s.name);
        return nullptr;
      }
      axes_[s.name] = axes_[m.from];
      return &(combos_[s.name] = *c);
    }
    std::vector<std::string> axes;
    for (const auto& [axis, values] : m.axes) axes.push_back(axis);
    if (axes.empty() && !m.include.empty())
      for (auto it = m.include[0].begin(); it != m.include[0].end(); ++it) axes.push_back(it.key());
    std::vector<Json> combos;
    if (!m.axes.empty()) {
      combos.push_back(Json::object());
      for (const auto& [axis, values] : m.axes) {
        std::vector<Json> next;
        for (const Json& c : combos)
          for (const Json& v : values) {
            Json n = c;
            n[axis] = v;
            next.push_back(std::move(n));
            if (next.size() > kMaxMatrixInstances) break;
          }
        combos = std::move(next);
        if (combos.size() > kMaxMatrixInstances) break;
      }
    }
    bool ok = true;
    for (const Json& ex : m.exclude) {
      for (auto it = ex.begin(); it != ex.end(); ++it)
        if (std::find(axes.begin(), axes.end(), it.key()) == axes.end()) {
          Err(m.loc, who + ": exclude names " + Quoted(it.key()) + ", which is not an axis");
          ok = false;
        }
      std::erase_if(combos, [&](const Json& c) {
        for (auto it = ex.begin(); it != ex.end(); ++it)
          if (!c.contains(it.key()) || !SameValue(c[it.key()], *it)) return false;
        return true;
      });
    }
    for (const Json& in : m.include) {
      std::set<std::string> keys;
      for (auto it = in.begin(); it != in.end(); ++it) keys.insert(it.key());
      if (keys != std::set<std::string>(axes.begin(), axes.end())) {
        std::string want;
        for (const auto& a : axes) want += (want.empty() ? "" : ", ") + a;
        Err(m.loc, who + ": each include names every axis (" + want + ")");
        ok = false;
        continue;
      }
      Json ordered = Json::object();
      for (const auto& a : axes) ordered[a] = in[a];
      bool present = std::any_of(combos.begin(), combos.end(), [&](const Json& c) {
        for (const auto& a : axes)
          if (!SameValue(c[a], ordered[a])) return false;
        return true;
      });
      if (!present) combos.push_back(std::move(ordered));
    }
    if (ok && combos.size() > kMaxMatrixInstances) {
      Err(m.loc, who + " has more than " + std::to_string(kMaxMatrixInstances) + " combinations (" +
                     "the limit of one matrix)");
      ok = false;
    }
    if (ok && combos.empty()) {
      Err(m.loc, who + " leaves no combination to run");
      ok = false;
    }
    std::set<std::string> names;
    for (const Json& c : combos)
      if (ok && !names.insert(InstanceKey(c)).second) {
        Err(m.loc, who + " has the combination " + InstanceKey(c) + " twice");
        ok = false;
      }
    if (!ok) {
      failed_.insert(s.name);
      return nullptr;
    }
    axes_[s.name] = axes;
    return &(combos_[s.name] = std::move(combos));
  }

  // The instances of matrix step `group` that `t` reads when it names the step with `selector`
  // ("": paired with t's own values when t shares every axis; else every instance if
  // `all_if_unpaired`). Reports and returns nothing when the reference is wrong.
  std::vector<const Json*> Select(const StepSpec& t, const std::string& group, const std::string& selector,
                                  bool all_if_unpaired, const Location& loc, const std::string& what) {
    std::vector<const Json*> out;
    const auto& combos = combos_.at(group);
    const std::string consumer = "step " + Quoted(t.group.empty() ? t.name : t.group) + ": " + what;
    if (selector == "*") {
      for (const Json& c : combos) out.push_back(&c);
      return out;
    }
    if (!selector.empty()) {
      std::vector<std::pair<std::string, std::string>> sel;
      if (!ParseSelector(selector, &sel)) {
        Err(loc, consumer + ": " + Quoted(selector) + " is not K=V,... (or *)");
        return out;
      }
      for (const auto& [k, v] : sel)
        if (std::find(axes_.at(group).begin(), axes_.at(group).end(), k) == axes_.at(group).end()) {
          Err(loc, consumer + ": " + Quoted(k) + " is not an axis of step " + Quoted(group));
          return out;
        }
      for (const Json& c : combos)
        if (SelectorMatches(sel, c)) out.push_back(&c);
      if (out.size() != 1) {
        Err(loc, consumer + ": " + group + "[" + selector + "] " +
                     (out.empty() ? "names no instance (instances: " + Listed(combos, group) + ")"
                                  : "matches " + std::to_string(out.size()) + " instances; name every axis"));
        out.clear();
      }
      return out;
    }
    const auto& axes = axes_.at(group);
    bool shares = !t.group.empty();
    for (const auto& a : axes) shares = shares && t.matrix_values.contains(a);
    if (shares) {
      for (const Json& c : combos) {
        bool same = true;
        for (const auto& a : axes) same = same && SameValue(c[a], t.matrix_values[a]);
        if (same) out.push_back(&c);
      }
      if (out.empty())
        Err(loc, consumer + ": step " + Quoted(group) + " has no instance for " + t.name);
      return out;
    }
    if (all_if_unpaired) {
      for (const Json& c : combos) out.push_back(&c);
      return out;
    }
    Err(loc, consumer + ": step " + Quoted(group) + " has a matrix; name its instances as " + group + "[*] (all) or " +
                 group + "[K=V,...] (one)");
    return out;
  }

  void Rewrite(StepSpec* t) {
    std::vector<InputRef> inputs;
    for (const InputRef& in : t->inputs) {
      if (dynamic_.count(in.step)) {
        // Its instances are known at run time: the list is resolved when the consumer starts.
        if (in.selector != "*") {
          Err(in.loc, "step " + Quoted(t->group.empty() ? t->name : t->group) + ": input " + Quoted(in.name) +
                          ": step " + Quoted(in.step) + " runs once per element of a list known only at run time; "
                          "read every instance's output as " + in.step + "[*]." + in.output);
          continue;
        }
        InputRef e = in;
        e.list = in.name;
        inputs.push_back(std::move(e));
        continue;
      }
      if (!combos_.count(in.step)) {
        if (!in.selector.empty())
          Err(in.loc, "step " + Quoted(t->group.empty() ? t->name : t->group) + ": input " + Quoted(in.name) +
                          ": step " + Quoted(in.step) + " has no matrix; write " + in.step + "." + in.output);
        inputs.push_back(in);
        continue;
      }
      const auto picked = Select(*t, in.step, in.selector, false, in.loc, "input " + Quoted(in.name));
      for (const Json* c : picked) {
        InputRef e = in;
        e.step = InstanceName(in.step, *c);
        e.selector.clear();
        if (in.selector == "*") {
          e.list = in.name;
          e.name = in.name + "[" + InstanceKey(*c) + "]";
        }
        inputs.push_back(std::move(e));
      }
    }
    t->inputs = std::move(inputs);
    std::vector<std::string> after;
    for (const auto& a : t->after) {
      if (!combos_.count(a)) {
        after.push_back(a);
        continue;
      }
      const Location& loc = t->after_loc.line ? t->after_loc : t->loc;
      for (const Json* c : Select(*t, a, "", true, loc, "after")) after.push_back(InstanceName(a, *c));
    }
    t->after = std::move(after);
    std::vector<std::string> when_steps;
    for (const auto& w : t->when_steps) {
      std::string step = w, selector;
      if (auto b = w.find('['); b != std::string::npos) {
        step = w.substr(0, b);
        selector = w.substr(b + 1, w.size() - b - 2);
      }
      const Location& loc = t->when_loc.line ? t->when_loc : t->loc;
      if (dynamic_.count(step)) {
        Err(loc, "step " + Quoted(t->group.empty() ? t->name : t->group) + ": when: step " + Quoted(step) +
                     " is a for_each step; a condition reads a step that runs once");
        continue;
      }
      if (!combos_.count(step)) {
        if (!selector.empty())
          Err(loc, "step " + Quoted(t->group.empty() ? t->name : t->group) + ": when: step " + Quoted(step) +
                       " has no matrix; write steps." + step);
        when_steps.push_back(step);
        continue;
      }
      for (const Json* c : Select(*t, step, selector, false, loc, "when")) when_steps.push_back(InstanceName(step, *c));
    }
    t->when_steps = std::move(when_steps);
  }

  PipelineSpec* spec_;
  std::map<std::string, const StepSpec*> by_name_;
  std::map<std::string, std::vector<Json>> combos_;
  std::map<std::string, std::vector<std::string>> axes_;
  std::set<std::string> failed_;
  std::set<std::string> dynamic_;  // for_each steps
  std::vector<Diagnostic> diags_;
};

}  // namespace

std::string ItemText(const Json& item) {
  if (item.is_string() || item.is_boolean() || item.is_number()) return ParamToString(item);
  return DumpJson(item);
}

Result<std::vector<Json>> ItemsFromText(const std::string& text, const std::string& as) {
  std::vector<Json> out;
  if (as == "json" || as.empty()) {
    Json j = Json::parse(text, nullptr, false);
    if (!j.is_discarded() && j.is_array()) {
      for (auto& e : j) out.push_back(std::move(e));
      return out;
    }
    if (as == "json")
      return InvalidArgument(j.is_discarded() ? std::string("the list is not JSON")
                                              : std::string("the list is JSON but not a list (") + j.type_name() + ")");
  }
  if (as != "lines" && !as.empty()) return InvalidArgument("unknown list kind '" + as + "'");
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
    start = end + 1;
  }
  return out;
}

std::string ForEachLimitError(const StepSpec& t, size_t n) {
  const int64_t max = t.for_each.max > 0 ? t.for_each.max : kMaxForEachInstances;
  if (static_cast<int64_t>(n) <= max) return "";
  return "for_each: " + t.for_each.step + "." + t.for_each.output + " has " + std::to_string(n) +
         " elements, more than the " + std::to_string(max) + " instances allowed" +
         (t.for_each.max > 0 ? " (for_each.max)" : "");
}

StepSpec ForEachInstance(const StepSpec& t, int64_t index, const Json& item) {
  StepSpec inst = t;
  inst.name = t.name + "[" + std::to_string(index) + "]";
  inst.group = t.name;
  inst.item = item;
  inst.item_index = index;
  inst.for_each = ForEachSpec{};
  return inst;
}

std::string InstanceKey(const Json& values) {
  std::string out;
  for (auto it = values.begin(); it != values.end(); ++it)
    out += (out.empty() ? "" : ",") + Escape(it.key()) + "=" + Escape(ParamToString(*it));
  return out;
}

std::string InstanceName(const std::string& step, const Json& values) {
  return step + "[" + InstanceKey(values) + "]";
}

std::string GroupOf(const std::string& step_name) {
  auto b = step_name.find('[');
  return b == std::string::npos ? step_name : step_name.substr(0, b);
}

bool ParseSelector(const std::string& selector, std::vector<std::pair<std::string, std::string>>* out) {
  out->clear();
  size_t start = 0;
  while (start <= selector.size()) {
    size_t end = selector.find(',', start);
    if (end == std::string::npos) end = selector.size();
    std::string part = selector.substr(start, end - start);
    while (!part.empty() && part.front() == ' ') part.erase(0, 1);
    while (!part.empty() && part.back() == ' ') part.pop_back();
    auto eq = part.find('=');
    if (eq == std::string::npos || eq == 0) return false;
    out->emplace_back(Unescape(part.substr(0, eq)), Unescape(part.substr(eq + 1)));
    start = end + 1;
  }
  return !out->empty();
}

bool SelectorMatches(const std::vector<std::pair<std::string, std::string>>& sel, const Json& values) {
  for (const auto& [k, v] : sel)
    if (!values.contains(k) || !TextIs(v, values[k])) return false;
  return true;
}

std::vector<Diagnostic> ExpandMatrices(PipelineSpec* spec) {
  // Most pipelines have none of these: they pay one pass over their steps.
  const bool any = std::any_of(spec->steps.begin(), spec->steps.end(), [](const StepSpec& s) {
    return !s.matrix.empty() || !s.when_steps.empty() || !s.for_each.empty() ||
           std::any_of(s.inputs.begin(), s.inputs.end(), [](const InputRef& in) { return !in.selector.empty(); });
  });
  if (!any) return {};
  return Expander(spec).Run();
}

}  // namespace baton
