#pragma once
// Plan: which steps are wanted, which are ready, which may start now given the resource pools,
// and in which order (longest critical path first). Pure bookkeeping: no I/O, no clock, so it
// is tested directly on small graphs.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/spec.h"

namespace baton {

// Capacity of the machine (or the backend) that steps draw from.
struct Capacity {
  double cpu = 1;
  int64_t memory = 0;  // 0: memory is not accounted
  int64_t gpu = 0;
  std::map<std::string, int64_t> pools;
};

class Plan {
 public:
  // kDeferred: a running step whose attempt failed and that waits to be retried; it holds no
  // resources meanwhile.
  enum class State { kWaiting, kReady, kRunning, kDeferred, kSucceeded, kFailed, kSkipped };

  // Builds the plan for every step of `spec`. `weights` (by step name, any unit) are expected
  // durations for critical-path ordering; steps without one weigh 1.
  Plan(const PipelineSpec& spec, const Capacity& capacity,
       const std::map<std::string, double>& weights = {});

  // Marks a step as already done before the run starts (resume): it counts as succeeded.
  void MarkDone(int step);

  // The highest-priority ready step whose resources fit now, marked running with its resources
  // reserved; -1 when none. A ready step whose request can never fit is returned too, with
  // `*unsatisfiable` set to the reason; the caller must then call Finished(step, false).
  int NextToStart(std::string* unsatisfiable);

  // Releases the step's resources. On success its dependents may become ready; on failure every
  // transitive dependent is skipped, and the names of the skipped steps are returned.
  std::vector<int> Finished(int step, bool success);

  // A for_each step `t`, just returned by NextToStart, becomes `count` instances: the steps the
  // spec gained at its end (indices size() .. size()+count-1 before the call). They are ready at
  // once (what `t` waited for is done), at most `max_parallel` run at once (0: no bound of their
  // own), and `t` is ready again when all have succeeded (it then only has to be finished).
  void Expand(int t, int count, int max_parallel);
  bool expanded(int i) const { return steps_[i].expanded; }
  // The for_each step an instance belongs to, or -1.
  int group(int i) const { return steps_[i].group; }

  // Starts nothing more: every step not yet started is skipped (failure modes stop/fail_fast,
  // cancellation). Returns the skipped steps.
  std::vector<int> Halt();

  // A running step whose attempt failed and that will be retried releases its resources and
  // waits (Defer) until Requeue makes it ready again. Finished() also accepts a deferred step.
  void Defer(int step);
  void Requeue(int step);

  bool AllDone() const { return running_ == 0 && deferred_ == 0 && ready_.empty() && waiting_ == 0; }
  int running() const { return running_; }
  size_t size() const { return steps_.size(); }
  State state(int i) const { return steps_[i].state; }
  const std::string& name(int i) const { return spec_->steps[i].name; }
  double priority(int i) const { return steps_[i].priority; }
  int index(const std::string& name) const;
  const std::vector<int>& dependents(int i) const { return steps_[i].dependents; }
  const std::vector<int>& dependencies(int i) const { return steps_[i].deps; }
  // Every step, each after the steps it waits for (stable: ties keep the spec's order).
  std::vector<int> TopologicalOrder() const;
  // Each step's level: 0 for a step that waits for none, else one more than its deepest wait.
  std::vector<int> Levels() const;
  // Steps that skipped because of a failure: the failed step that caused it.
  int skipped_because(int i) const { return steps_[i].blamed; }

 private:
  struct Node {
    std::vector<int> deps;        // distinct steps this one waits for
    std::vector<int> dependents;
    int pending = 0;              // deps not yet succeeded
    Resources need;
    std::string unsatisfiable;    // why the request can never fit, or ""
    double weight = 1;
    double priority = 0;          // weight + longest path below
    State state = State::kWaiting;
    int blamed = -1;
    int group = -1;            // the for_each step of an instance
    int max_parallel = 0;      // a for_each step: most instances running at once (0: no bound)
    int running_instances = 0;
    bool expanded = false;     // a for_each step whose instances exist
  };

  bool Fits(const Resources& r) const;
  void Reserve(const Resources& r, int sign);
  void MakeReady(int i);

  const PipelineSpec* spec_;
  Capacity cap_;
  Capacity used_;
  std::vector<Node> steps_;
  std::set<std::pair<double, int>> ready_;  // (-priority, index)
  std::map<std::string, int> by_name_;
  int running_ = 0;
  int waiting_ = 0;
  int deferred_ = 0;
};

}  // namespace baton
