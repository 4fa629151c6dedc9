#include "core/plan.h"

#include <algorithm>
#include <cstdio>

namespace baton {

Plan::Plan(const PipelineSpec& spec, const Capacity& capacity, const std::map<std::string, double>& weights)
    : spec_(&spec), cap_(capacity) {
  used_.cpu = 0;
  steps_.resize(spec.steps.size());
  for (size_t i = 0; i < spec.steps.size(); ++i) by_name_[spec.steps[i].name] = static_cast<int>(i);
  for (size_t i = 0; i < spec.steps.size(); ++i) {
    const StepSpec& s = spec.steps[i];
    Node& n = steps_[i];
    for (const auto& in : s.inputs) n.deps.push_back(by_name_.at(in.step));
    for (const auto& a : s.after) n.deps.push_back(by_name_.at(a));
    for (const auto& w : s.when_steps) n.deps.push_back(by_name_.at(w));
    if (!s.for_each.empty()) n.deps.push_back(by_name_.at(s.for_each.step));
    std::sort(n.deps.begin(), n.deps.end());
    n.deps.erase(std::unique(n.deps.begin(), n.deps.end()), n.deps.end());
    for (int d : n.deps) steps_[d].dependents.push_back(static_cast<int>(i));
    n.pending = static_cast<int>(n.deps.size());
    n.need = spec.EffectiveResources(s);
    auto w = weights.find(s.name);
    if (w != weights.end() && w->second > 0) n.weight = w->second;

    char buf[160];
    if (n.need.cpu > cap_.cpu) {
      std::snprintf(buf, sizeof buf, "requests %g cpu but at most %g are available", n.need.cpu, cap_.cpu);
      n.unsatisfiable = buf;
    } else if (cap_.memory > 0 && n.need.memory > cap_.memory) {
      n.unsatisfiable = "requests " + FormatMemory(n.need.memory) + " of memory but only " +
                        FormatMemory(cap_.memory) + " are available";
    } else if (n.need.gpu > cap_.gpu) {
      n.unsatisfiable = "requests " + std::to_string(n.need.gpu) + " gpu but " +
                        (cap_.gpu == 0 ? std::string("none is available") : std::to_string(cap_.gpu) + " are available");
    } else {
      for (const auto& [pool, want] : n.need.pools) {
        auto c = cap_.pools.find(pool);
        int64_t have = c == cap_.pools.end() ? 0 : c->second;
        if (want > have) {
          n.unsatisfiable = "requests " + std::to_string(want) + " of pool '" + pool + "' whose capacity is " +
                            std::to_string(have);
          break;
        }
      }
    }
  }
  // Critical path: a step's priority is its weight plus the largest priority of its dependents.
  // Steps are visited in reverse topological order (Kahn's algorithm on the reversed graph).
  std::vector<int> out_left(steps_.size());
  std::vector<int> order;
  for (size_t i = 0; i < steps_.size(); ++i) {
    out_left[i] = static_cast<int>(steps_[i].dependents.size());
    if (out_left[i] == 0) order.push_back(static_cast<int>(i));
  }
  for (size_t k = 0; k < order.size(); ++k) {
    int i = order[k];
    double best = 0;
    for (int d : steps_[i].dependents) best = std::max(best, steps_[d].priority);
    steps_[i].priority = steps_[i].weight + best;
    for (int p : steps_[i].deps)
      if (--out_left[p] == 0) order.push_back(p);
  }
  waiting_ = static_cast<int>(steps_.size());
  for (size_t i = 0; i < steps_.size(); ++i)
    if (steps_[i].pending == 0) MakeReady(static_cast<int>(i));
}

std::vector<int> Plan::TopologicalOrder() const {
  std::vector<int> order, indegree(steps_.size());
  for (size_t i = 0; i < steps_.size(); ++i) indegree[i] = static_cast<int>(steps_[i].deps.size());
  for (size_t i = 0; i < steps_.size(); ++i)
    if (indegree[i] == 0) order.push_back(static_cast<int>(i));
  for (size_t k = 0; k < order.size(); ++k)
    for (int d : steps_[order[k]].dependents)
      if (--indegree[d] == 0) order.push_back(d);
  return order;
}

std::vector<int> Plan::Levels() const {
  std::vector<int> level(steps_.size(), 0);
  for (int i : TopologicalOrder())
    for (int d : steps_[i].deps) level[i] = std::max(level[i], level[d] + 1);
  return level;
}

int Plan::index(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? -1 : it->second;
}

void Plan::MakeReady(int i) {
  steps_[i].state = State::kReady;
  --waiting_;
  ready_.insert({-steps_[i].priority, i});
}

void Plan::MarkDone(int i) {
  Node& n = steps_[i];
  if (n.state == State::kReady) {
    ready_.erase({-n.priority, i});
  } else if (n.state == State::kWaiting) {
    --waiting_;
  } else {
    return;
  }
  n.state = State::kSucceeded;
  for (int d : n.dependents)
    if (--steps_[d].pending == 0 && steps_[d].state == State::kWaiting) MakeReady(d);
}

bool Plan::Fits(const Resources& r) const {
  if (used_.cpu + r.cpu > cap_.cpu + 1e-9) return false;
  if (cap_.memory > 0 && used_.memory + r.memory > cap_.memory) return false;
  if (used_.gpu + r.gpu > cap_.gpu) return false;
  for (const auto& [pool, want] : r.pools) {
    auto u = used_.pools.find(pool);
    int64_t used = u == used_.pools.end() ? 0 : u->second;
    auto c = cap_.pools.find(pool);
    if (c == cap_.pools.end() || used + want > c->second) return false;
  }
  return true;
}

void Plan::Reserve(const Resources& r, int sign) {
  used_.cpu += sign * r.cpu;
  used_.memory += sign * r.memory;
  used_.gpu += sign * r.gpu;
  for (const auto& [pool, want] : r.pools) used_.pools[pool] += sign * want;
}

int Plan::NextToStart(std::string* unsatisfiable) {
  unsatisfiable->clear();
  for (auto it = ready_.begin(); it != ready_.end(); ++it) {
    int i = it->second;
    Node& n = steps_[i];
    if (!n.unsatisfiable.empty()) {
      ready_.erase(it);
      n.state = State::kRunning;
      ++running_;
      *unsatisfiable = n.unsatisfiable;
      return i;
    }
    if (n.group >= 0 && steps_[n.group].max_parallel > 0 &&
        steps_[n.group].running_instances >= steps_[n.group].max_parallel)
      continue;  // its for_each step runs as many instances as it may
    if (!Fits(n.need)) continue;  // a lower-priority step that fits may go first (backfill)
    ready_.erase(it);
    n.state = State::kRunning;
    ++running_;
    if (n.group >= 0) ++steps_[n.group].running_instances;
    Reserve(n.need, +1);
    return i;
  }
  return -1;
}

void Plan::Defer(int i) {
  Node& n = steps_[i];
  if (n.state != State::kRunning) return;
  --running_;
  if (n.group >= 0) --steps_[n.group].running_instances;
  ++deferred_;
  if (n.unsatisfiable.empty()) Reserve(n.need, -1);
  n.state = State::kDeferred;
}

void Plan::Requeue(int i) {
  Node& n = steps_[i];
  if (n.state != State::kDeferred) return;
  --deferred_;
  n.state = State::kReady;
  ready_.insert({-n.priority, i});
}

std::vector<int> Plan::Finished(int i, bool success) {
  Node& n = steps_[i];
  std::vector<int> skipped;
  if (n.state == State::kDeferred) {
    --deferred_;
  } else if (n.state == State::kRunning) {
    --running_;
    if (n.group >= 0) --steps_[n.group].running_instances;
    if (n.unsatisfiable.empty()) Reserve(n.need, -1);
  } else {
    return skipped;
  }
  if (success) {
    n.state = State::kSucceeded;
    for (int d : n.dependents)
      if (--steps_[d].pending == 0 && steps_[d].state == State::kWaiting) MakeReady(d);
    return skipped;
  }
  n.state = State::kFailed;
  std::vector<int> stack(n.dependents.begin(), n.dependents.end());
  while (!stack.empty()) {
    int d = stack.back();
    stack.pop_back();
    Node& m = steps_[d];
    if (m.state != State::kWaiting && m.state != State::kReady) continue;
    if (m.state == State::kReady) ready_.erase({-m.priority, d});
    else --waiting_;
    m.state = State::kSkipped;
    m.blamed = i;
    skipped.push_back(d);
    stack.insert(stack.end(), m.dependents.begin(), m.dependents.end());
  }
  return skipped;
}

void Plan::Expand(int t, int count, int max_parallel) {
  {
    Node& tn = steps_[t];
    // The step was handed out to be expanded, not run: it holds nothing while its instances run.
    --running_;
    if (tn.unsatisfiable.empty()) Reserve(tn.need, -1);
    tn.state = State::kWaiting;
    ++waiting_;
    tn.max_parallel = max_parallel;
    tn.expanded = true;
  }
  const size_t first = steps_.size();
  steps_.resize(first + count);
  Node& tn = steps_[t];
  const std::vector<int> upstream = tn.deps;
  for (size_t k = first; k < steps_.size(); ++k) {
    by_name_[spec_->steps[k].name] = static_cast<int>(k);
    Node& n = steps_[k];
    n.deps = upstream;  // all succeeded: the instance is ready at once
    for (int u : upstream) steps_[u].dependents.push_back(static_cast<int>(k));
    n.dependents = {t};
    n.need = tn.need;
    n.unsatisfiable = tn.unsatisfiable;
    n.weight = tn.weight;
    n.priority = tn.priority;
    n.group = t;
    ++waiting_;
    MakeReady(static_cast<int>(k));
    tn.deps.push_back(static_cast<int>(k));
  }
  tn.pending = count;
  if (count == 0) MakeReady(t);
}

std::vector<int> Plan::Halt() {
  std::vector<int> skipped;
  for (size_t i = 0; i < steps_.size(); ++i) {
    Node& m = steps_[i];
    if (m.state == State::kWaiting || m.state == State::kReady) {
      m.state = State::kSkipped;
      skipped.push_back(static_cast<int>(i));
    }
  }
  ready_.clear();
  waiting_ = 0;
  return skipped;
}

}  // namespace baton
