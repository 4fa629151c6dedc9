// Unit tests for Plan (plan.h): readiness, critical-path order, resource pools, failures,
// halting and retries, on small graphs. Plan is pure, so no I/O is involved.

#include "core/plan.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/matrix.h"
#include "core/spec_parser.h"

namespace baton {
namespace {

using State = Plan::State;

PipelineSpec Spec(const std::string& yaml) {
  auto r = ParsePipelineText(yaml, "p.yaml", "/root");
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : PipelineSpec{};
}

Capacity Cpus(double cpu) {
  Capacity c;
  c.cpu = cpu;
  return c;
}

// Starts the next step and returns its name ("" when none may start; "!name: reason" when the
// step is returned as unsatisfiable).
std::string Next(Plan& p) {
  std::string why;
  int i = p.NextToStart(&why);
  if (i < 0) {
    EXPECT_TRUE(why.empty());
    return "";
  }
  EXPECT_EQ(p.state(i), State::kRunning);
  return why.empty() ? p.name(i) : "!" + p.name(i) + ": " + why;
}

// Starts everything that may start now, in order.
std::vector<std::string> StartAll(Plan& p) {
  std::vector<std::string> started;
  for (std::string s = Next(p); !s.empty(); s = Next(p)) started.push_back(s);
  return started;
}

std::vector<std::string> Names(const Plan& p, std::vector<int> steps) {
  std::vector<std::string> out;
  for (int i : steps) out.push_back(p.name(i));
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int> Finish(Plan& p, const std::string& step, bool ok) {
  int i = p.index(step);
  EXPECT_GE(i, 0) << step;
  EXPECT_EQ(p.state(i), State::kRunning) << step;
  return p.Finished(i, ok);
}

using V = std::vector<std::string>;

const char* kDiamond = R"(name: diamond
steps:
  a: {run: a, outputs: [o]}
  b: {run: b, inputs: {x: a.o}, outputs: [o]}
  c: {run: c, inputs: {x: a.o}, outputs: [o]}
  d: {run: d, inputs: {x: b.o, y: c.o}}
  e: {run: e, after: [d]}
)";

// ---------------------------------------------------------------------------------------------
// Readiness

TEST(Plan, StepIsReadyOnlyAfterAllDependenciesSucceed) {
  PipelineSpec spec = Spec(kDiamond);
  Plan p(spec, Cpus(8));
  EXPECT_EQ(p.size(), 5u);
  EXPECT_EQ(p.state(p.index("a")), State::kReady);
  for (const char* s : {"b", "c", "d", "e"}) EXPECT_EQ(p.state(p.index(s)), State::kWaiting) << s;

  EXPECT_EQ(StartAll(p), V{"a"});
  EXPECT_EQ(StartAll(p), V{}) << "nothing else is ready while a runs";
  EXPECT_TRUE(Finish(p, "a", true).empty());
  EXPECT_EQ(p.state(p.index("a")), State::kSucceeded);
  EXPECT_EQ(StartAll(p), (V{"b", "c"}));

  Finish(p, "b", true);
  EXPECT_EQ(p.state(p.index("d")), State::kWaiting) << "d still waits for c";
  EXPECT_EQ(StartAll(p), V{});
  Finish(p, "c", true);
  EXPECT_EQ(p.state(p.index("d")), State::kReady);
  EXPECT_EQ(StartAll(p), V{"d"});
  EXPECT_EQ(p.state(p.index("e")), State::kWaiting) << "`after` is a dependency too";
  Finish(p, "d", true);
  EXPECT_EQ(StartAll(p), V{"e"});
  EXPECT_FALSE(p.AllDone());
  Finish(p, "e", true);
  EXPECT_TRUE(p.AllDone());
  EXPECT_EQ(p.running(), 0);
}

TEST(Plan, DependencyListsAreDistinct) {
  // Two inputs from the same producer plus an `after` on it count as one dependency.
  PipelineSpec spec = Spec(R"(name: x
steps:
  a: {run: a, outputs: [o, p]}
  b: {run: b, inputs: {x: a.o, y: a.p}, after: [a]}
)");
  Plan p(spec, Cpus(1));
  EXPECT_EQ(p.dependencies(p.index("b")), std::vector<int>{p.index("a")});
  EXPECT_EQ(p.dependents(p.index("a")), std::vector<int>{p.index("b")});
  EXPECT_EQ(p.index("nosuch"), -1);
  EXPECT_EQ(StartAll(p), V{"a"});
  Finish(p, "a", true);
  EXPECT_EQ(StartAll(p), V{"b"});
}

TEST(Plan, MarkDoneCountsAsSucceeded) {
  PipelineSpec spec = Spec(kDiamond);
  Plan p(spec, Cpus(8));
  p.MarkDone(p.index("a"));
  p.MarkDone(p.index("b"));
  EXPECT_EQ(p.state(p.index("a")), State::kSucceeded);
  EXPECT_EQ(p.state(p.index("b")), State::kSucceeded);
  EXPECT_EQ(StartAll(p), V{"c"}) << "a and b are done; only c is left before d";
  Finish(p, "c", true);
  EXPECT_EQ(StartAll(p), V{"d"});
}

// ---------------------------------------------------------------------------------------------
// Critical path

const char* kChainAndShort = R"(name: x
steps:
  short: {run: s}
  c1: {run: c1, outputs: [o]}
  c2: {run: c2, inputs: {x: c1.o}, outputs: [o]}
  c3: {run: c3, inputs: {x: c2.o}}
)";

TEST(Plan, LongerPathBelowStartsFirst) {
  PipelineSpec spec = Spec(kChainAndShort);
  Plan p(spec, Cpus(1));
  EXPECT_DOUBLE_EQ(p.priority(p.index("c1")), 3);
  EXPECT_DOUBLE_EQ(p.priority(p.index("c2")), 2);
  EXPECT_DOUBLE_EQ(p.priority(p.index("c3")), 1);
  EXPECT_DOUBLE_EQ(p.priority(p.index("short")), 1);
  // `short` comes first in the file, but c1 heads the longer path.
  EXPECT_EQ(StartAll(p), V{"c1"});
  Finish(p, "c1", true);
  EXPECT_EQ(StartAll(p), V{"c2"}) << "c2 (priority 2) before short (priority 1)";
  Finish(p, "c2", true);
  EXPECT_EQ(StartAll(p), V{"short"}) << "equal priority: file order";
}

TEST(Plan, WeightsChangeTheOrder) {
  PipelineSpec spec = Spec(kChainAndShort);
  Plan p(spec, Cpus(1), {{"short", 10}, {"c3", 0.5}});
  EXPECT_DOUBLE_EQ(p.priority(p.index("short")), 10);
  EXPECT_DOUBLE_EQ(p.priority(p.index("c1")), 2.5);
  EXPECT_EQ(StartAll(p), V{"short"});
  Finish(p, "short", true);
  EXPECT_EQ(StartAll(p), V{"c1"});
}

TEST(Plan, PriorityTakesTheLongestBranch) {
  PipelineSpec spec = Spec(kDiamond);
  Plan p(spec, Cpus(1), {{"b", 5}, {"c", 2}, {"nosuch", 100}, {"e", -3}});
  // e: non-positive weights count as 1.
  EXPECT_DOUBLE_EQ(p.priority(p.index("e")), 1);
  EXPECT_DOUBLE_EQ(p.priority(p.index("d")), 2);
  EXPECT_DOUBLE_EQ(p.priority(p.index("b")), 7);
  EXPECT_DOUBLE_EQ(p.priority(p.index("c")), 4);
  EXPECT_DOUBLE_EQ(p.priority(p.index("a")), 8);
  Plan q(spec, Cpus(1), {{"c", 5}});
  EXPECT_EQ(StartAll(q), V{"a"});
  Finish(q, "a", true);
  EXPECT_EQ(StartAll(q), V{"c"}) << "c now heads the longer branch although b is first in the file";
}

// ---------------------------------------------------------------------------------------------
// Resource pools

TEST(Plan, CpuBudget) {
  PipelineSpec spec = Spec(R"(name: x
steps:
  big: {run: a, resources: {cpu: 2}}
  one: {run: b}
  half1: {run: c, resources: {cpu: 0.5}}
  half2: {run: d, resources: {cpu: 0.5}}
)");
  Plan p(spec, Cpus(2));
  EXPECT_EQ(StartAll(p), V{"big"});
  EXPECT_EQ(p.running(), 1);
  Finish(p, "big", true);
  EXPECT_EQ(StartAll(p), (V{"one", "half1", "half2"}));
  Finish(p, "half1", true);
  Finish(p, "half2", true);
  Finish(p, "one", true);
  EXPECT_TRUE(p.AllDone());
}

TEST(Plan, MemoryBudgetAndUnaccountedMemory) {
  const char* yaml = R"(name: x
steps:
  m1: {run: a, resources: {memory: 3Gi}}
  m2: {run: b, resources: {memory: 2Gi}}
  m3: {run: c, resources: {memory: 1Gi}}
)";
  PipelineSpec spec = Spec(yaml);
  Capacity cap = Cpus(8);
  cap.memory = 4LL << 30;
  Plan p(spec, cap);
  // m1 takes 3Gi; m2 does not fit, m3 does.
  EXPECT_EQ(StartAll(p), (V{"m1", "m3"}));
  Finish(p, "m3", true);
  EXPECT_EQ(StartAll(p), V{}) << "m2 needs 2Gi but only 1Gi is free";
  Finish(p, "m1", true);
  EXPECT_EQ(StartAll(p), V{"m2"});

  // Capacity memory 0: memory is not accounted at all.
  Plan q(spec, Cpus(8));
  EXPECT_EQ(StartAll(q), (V{"m1", "m2", "m3"}));
}

TEST(Plan, GpuBudget) {
  PipelineSpec spec = Spec(R"(name: x
steps:
  g1: {run: a, resources: {gpu: 1}}
  g2: {run: b, resources: {gpu: 1}}
  cpu_only: {run: c}
)");
  Capacity cap = Cpus(8);
  cap.gpu = 1;
  Plan p(spec, cap);
  EXPECT_EQ(StartAll(p), (V{"g1", "cpu_only"}));
  EXPECT_EQ(p.state(p.index("g2")), State::kReady);
  Finish(p, "cpu_only", true);
  EXPECT_EQ(StartAll(p), V{}) << "the gpu is still taken";
  Finish(p, "g1", false);
  EXPECT_EQ(StartAll(p), V{"g2"}) << "a failed step releases its gpu too";
}

TEST(Plan, UserNamedPools) {
  PipelineSpec spec = Spec(R"(name: x
pools: {db: 2}
steps:
  w1: {run: a, resources: {db: 1}}
  w2: {run: b, resources: {db: 2}}
  w3: {run: c, resources: {db: 1}}
)");
  Capacity cap = Cpus(8);
  cap.pools = spec.pools;
  Plan p(spec, cap);
  EXPECT_EQ(StartAll(p), (V{"w1", "w3"}));
  Finish(p, "w1", true);
  EXPECT_EQ(StartAll(p), V{}) << "w2 needs the whole pool";
  Finish(p, "w3", true);
  EXPECT_EQ(StartAll(p), V{"w2"});
  EXPECT_EQ(StartAll(p), V{});
}

TEST(Plan, DefaultsResourcesApplyToEveryStep) {
  PipelineSpec spec = Spec(R"(name: x
defaults: {resources: {cpu: 2}}
steps:
  a: {run: a}
  b: {run: b}
  c: {run: c, resources: {cpu: 1}}
)");
  Plan p(spec, Cpus(3));
  EXPECT_EQ(StartAll(p), (V{"a", "c"}));
}

TEST(Plan, SmallerStepBackfillsWhileABiggerOneWaits) {
  PipelineSpec spec = Spec(R"(name: x
steps:
  first: {run: a, resources: {cpu: 2}}
  big: {run: b, resources: {cpu: 4}, outputs: [o]}
  after_big: {run: c, inputs: {x: big.o}}
  small: {run: d, resources: {cpu: 1}}
)");
  Plan p(spec, Cpus(4), {{"first", 10}});
  EXPECT_GT(p.priority(p.index("big")), p.priority(p.index("small")));
  // first (priority 10) starts; big (priority 2) does not fit next to it, small does.
  EXPECT_EQ(StartAll(p), (V{"first", "small"}));
  EXPECT_EQ(p.state(p.index("big")), State::kReady);
  Finish(p, "small", true);
  EXPECT_EQ(StartAll(p), V{});
  Finish(p, "first", true);
  EXPECT_EQ(StartAll(p), V{"big"});
}

TEST(Plan, UnsatisfiableRequestsAreReturnedWithAReason) {
  PipelineSpec spec = Spec(R"(name: x
pools: {db: 2}
steps:
  gpu: {run: a, resources: {gpu: 1}, outputs: [o]}
  needs_gpu: {run: b, inputs: {x: gpu.o}}
  cpus: {run: c, resources: {cpu: 16}}
  mem: {run: d, resources: {memory: 8Gi}}
  db: {run: e, resources: {db: 3}}
  fine: {run: f}
)");
  Capacity cap = Cpus(4);
  cap.memory = 4LL << 30;
  cap.pools = spec.pools;
  Plan p(spec, cap);
  std::vector<std::string> got = StartAll(p);
  EXPECT_EQ(got, (V{"!gpu: requests 1 gpu but none is available",
                    "!cpus: requests 16 cpu but at most 4 are available",
                    "!mem: requests 8Gi of memory but only 4Gi are available",
                    "!db: requests 3 of pool 'db' whose capacity is 2", "fine"}));
  // The caller fails them; their dependents are skipped, and nothing was reserved for them.
  EXPECT_EQ(Names(p, Finish(p, "gpu", false)), V{"needs_gpu"});
  Finish(p, "cpus", false);
  Finish(p, "mem", false);
  Finish(p, "db", false);
  Finish(p, "fine", true);
  EXPECT_TRUE(p.AllDone());
}

TEST(Plan, UnsatisfiableIsReportedEvenWhenEverythingIsBusy) {
  PipelineSpec spec = Spec(R"(name: x
steps:
  busy: {run: a, resources: {cpu: 2}}
  gpu: {run: b, resources: {gpu: 2}}
)");
  Capacity cap = Cpus(2);
  cap.gpu = 1;
  Plan p(spec, cap);
  EXPECT_EQ(StartAll(p), (V{"busy", "!gpu: requests 2 gpu but 1 are available"}));
}

TEST(Plan, PoolMissingFromTheCapacityIsUnsatisfiable) {
  PipelineSpec spec = Spec(R"(name: x
pools: {lic: 1}
steps:
  a: {run: a, resources: {lic: 1}}
)");
  Plan p(spec, Cpus(2));  // the capacity knows no pools
  EXPECT_EQ(StartAll(p), V{"!a: requests 1 of pool 'lic' whose capacity is 0"});
}

// ---------------------------------------------------------------------------------------------
// Failures, halting, retries

TEST(Plan, FailureSkipsTransitiveDependentsOnly) {
  PipelineSpec spec = Spec(R"(name: x
steps:
  a: {run: a, outputs: [o]}
  b: {run: b, inputs: {x: a.o}, outputs: [o]}
  c: {run: c, inputs: {x: b.o}}
  d: {run: d, after: [a]}
  e: {run: e, after: [d, c]}
  indep: {run: f, outputs: [o]}
  indep2: {run: g, inputs: {x: indep.o}}
)");
  Plan p(spec, Cpus(8));
  EXPECT_EQ(StartAll(p), (V{"a", "indep"}));
  std::vector<int> skipped = Finish(p, "a", false);
  EXPECT_EQ(Names(p, skipped), (V{"b", "c", "d", "e"})) << "each dependent is skipped once";
  EXPECT_EQ(skipped.size(), 4u);
  for (const char* s : {"b", "c", "d", "e"}) {
    EXPECT_EQ(p.state(p.index(s)), State::kSkipped) << s;
    EXPECT_EQ(p.skipped_because(p.index(s)), p.index("a")) << s;
  }
  EXPECT_EQ(p.state(p.index("a")), State::kFailed);
  EXPECT_EQ(p.skipped_because(p.index("indep")), -1);
  EXPECT_FALSE(p.AllDone());
  Finish(p, "indep", true);
  EXPECT_EQ(StartAll(p), V{"indep2"}) << "the independent branch goes on";
  Finish(p, "indep2", true);
  EXPECT_TRUE(p.AllDone());
}

TEST(Plan, FailureInOneArmOfADiamond) {
  PipelineSpec spec = Spec(kDiamond);
  Plan p(spec, Cpus(8));
  StartAll(p);
  Finish(p, "a", true);
  EXPECT_EQ(StartAll(p), (V{"b", "c"}));
  EXPECT_EQ(Names(p, Finish(p, "b", false)), (V{"d", "e"}));
  EXPECT_TRUE(Finish(p, "c", true).empty());
  EXPECT_EQ(p.state(p.index("d")), State::kSkipped) << "c's success does not revive d";
  EXPECT_EQ(StartAll(p), V{});
  EXPECT_TRUE(p.AllDone());
}

TEST(Plan, HaltSkipsEverythingNotStarted) {
  PipelineSpec spec = Spec(R"(name: x
steps:
  r1: {run: a, outputs: [o]}
  r2: {run: b}
  ready: {run: c}
  waits: {run: d, inputs: {x: r1.o}}
)");
  Plan p(spec, Cpus(2));
  EXPECT_EQ(StartAll(p), (V{"r1", "r2"}));
  EXPECT_EQ(Names(p, p.Halt()), (V{"ready", "waits"}));
  EXPECT_EQ(p.state(p.index("ready")), State::kSkipped);
  EXPECT_EQ(p.state(p.index("waits")), State::kSkipped);
  EXPECT_EQ(p.state(p.index("r1")), State::kRunning) << "running steps are left to finish";
  EXPECT_FALSE(p.AllDone());
  Finish(p, "r1", true);
  EXPECT_EQ(StartAll(p), V{}) << "nothing starts after a halt, even when capacity frees up";
  EXPECT_EQ(p.state(p.index("waits")), State::kSkipped);
  Finish(p, "r2", false);
  EXPECT_TRUE(p.AllDone());
  EXPECT_TRUE(p.Halt().empty());
}

const char* kFlaky = R"(name: x
steps:
  flaky: {run: a, resources: {cpu: 2}, outputs: [o]}
  other: {run: b, resources: {cpu: 2}}
  next: {run: c, inputs: {x: flaky.o}}
)";

TEST(Plan, DeferredStepHoldsNoResourcesUntilRequeued) {
  PipelineSpec spec = Spec(kFlaky);
  Plan p(spec, Cpus(2));
  EXPECT_EQ(StartAll(p), V{"flaky"});
  // Its attempt failed and it waits for a retry: its cpus are free meanwhile.
  p.Defer(p.index("flaky"));
  EXPECT_EQ(p.state(p.index("flaky")), State::kDeferred);
  EXPECT_EQ(p.running(), 0);
  EXPECT_FALSE(p.AllDone()) << "a deferred step is not done";
  EXPECT_EQ(StartAll(p), V{"other"});
  p.Requeue(p.index("flaky"));
  EXPECT_EQ(p.state(p.index("flaky")), State::kReady);
  EXPECT_EQ(StartAll(p), V{}) << "other holds the cpus now";
  Finish(p, "other", true);
  EXPECT_EQ(StartAll(p), V{"flaky"});
  Finish(p, "flaky", true);
  EXPECT_EQ(StartAll(p), V{"next"});
  Finish(p, "next", true);
  EXPECT_TRUE(p.AllDone());
}

TEST(Plan, RequeueKeepsThePriority) {
  PipelineSpec spec = Spec(kFlaky);
  Plan p(spec, Cpus(2));
  EXPECT_EQ(StartAll(p), V{"flaky"});
  p.Defer(p.index("flaky"));
  p.Requeue(p.index("flaky"));
  // flaky (priority 2) starts again before other (priority 1), which has been ready all along.
  EXPECT_EQ(StartAll(p), V{"flaky"});
}

TEST(Plan, DeferAndRequeueIgnoreOtherStates) {
  PipelineSpec spec = Spec(kFlaky);
  Plan p(spec, Cpus(2));
  p.Requeue(p.index("flaky"));  // ready, not deferred
  EXPECT_EQ(p.state(p.index("flaky")), State::kReady);
  p.Defer(p.index("other"));    // ready, not running
  EXPECT_EQ(p.state(p.index("other")), State::kReady);
  p.Defer(p.index("next"));     // waiting
  EXPECT_EQ(p.state(p.index("next")), State::kWaiting);
  EXPECT_EQ(StartAll(p), V{"flaky"});
  p.Requeue(p.index("flaky"));  // running, not deferred
  EXPECT_EQ(p.state(p.index("flaky")), State::kRunning);
  EXPECT_EQ(p.running(), 1);
}

TEST(Plan, DeferredStepCanFailForGood) {
  PipelineSpec spec = Spec(kFlaky);
  Plan p(spec, Cpus(2));
  EXPECT_EQ(StartAll(p), V{"flaky"});
  p.Defer(p.index("flaky"));
  // A halt while it waits skips what has not started but leaves the deferred step to its owner.
  EXPECT_EQ(Names(p, p.Halt()), (V{"next", "other"}));
  EXPECT_EQ(p.state(p.index("flaky")), State::kDeferred);
  EXPECT_FALSE(p.AllDone());
  EXPECT_TRUE(p.Finished(p.index("flaky"), false).empty()) << "next was already skipped by the halt";
  EXPECT_EQ(p.state(p.index("flaky")), State::kFailed);
  EXPECT_TRUE(p.AllDone());

  Plan q(spec, Cpus(2));
  StartAll(q);
  q.Defer(q.index("flaky"));
  EXPECT_EQ(Names(q, q.Finished(q.index("flaky"), false)), V{"next"});
  EXPECT_EQ(q.skipped_because(q.index("next")), q.index("flaky"));
  EXPECT_EQ(StartAll(q), V{"other"}) << "the deferred step released nothing twice";
  EXPECT_EQ(StartAll(q), V{});
}

TEST(Plan, FinishedIgnoresStepsThatDoNotRun) {
  PipelineSpec spec = Spec(kDiamond);
  Plan p(spec, Cpus(8));
  EXPECT_TRUE(p.Finished(p.index("b"), true).empty());
  EXPECT_EQ(p.state(p.index("b")), State::kWaiting);
  EXPECT_EQ(p.running(), 0);
  StartAll(p);
  Finish(p, "a", true);
  EXPECT_TRUE(p.Finished(p.index("a"), false).empty()) << "a second Finished is a no-op";
  EXPECT_EQ(p.state(p.index("a")), State::kSucceeded);
}

// A for_each step becomes instances that wait for what it waited for (not for each other), at
// most `parallel` running; it is ready again, to be finished, once they all succeeded.
TEST(Plan, AForEachStepExpandsIntoInstancesThatRunUnderItsBound) {
  PipelineSpec spec = Spec(
      "name: x\nsteps:\n  s: {run: 'true', outputs: [l]}\n  w: {run: 'true', for_each: s.l}\n"
      "  g: {run: 'true', after: [w]}\n");
  Plan p(spec, Cpus(8));
  EXPECT_EQ(Next(p), "s");
  p.Finished(p.index("s"), true);
  const int w = p.index("w");
  EXPECT_EQ(Next(p), "w");
  for (int k = 0; k < 3; ++k) spec.steps.push_back(ForEachInstance(spec.steps[w], k, k));
  p.Expand(w, 3, 2);
  EXPECT_TRUE(p.expanded(w));
  EXPECT_EQ(p.size(), 6u);
  for (int k = 3; k < 6; ++k) {
    EXPECT_EQ(p.dependencies(k), std::vector<int>{p.index("s")}) << k;
    EXPECT_EQ(p.group(k), w);
  }
  EXPECT_EQ(Next(p), "w[0]");
  EXPECT_EQ(Next(p), "w[1]");
  EXPECT_EQ(Next(p), "") << "parallel: 2";
  p.Finished(p.index("w[0]"), true);
  EXPECT_EQ(Next(p), "w[2]");
  p.Finished(p.index("w[1]"), true);
  p.Finished(p.index("w[2]"), true);
  EXPECT_EQ(Next(p), "w");
  p.Finished(w, true);
  EXPECT_EQ(Next(p), "g");
  p.Finished(p.index("g"), true);
  EXPECT_TRUE(p.AllDone());
  // Every instance comes after what it waits for, and before the step that gathers them.
  auto order = p.TopologicalOrder();
  EXPECT_EQ(order.size(), 6u);
}

TEST(Plan, AFailedInstanceSkipsItsForEachStepAndWhatFollows) {
  PipelineSpec spec = Spec(
      "name: x\nsteps:\n  s: {run: 'true', outputs: [l]}\n  w: {run: 'true', for_each: s.l}\n"
      "  g: {run: 'true', after: [w]}\n");
  Plan p(spec, Cpus(8));
  Next(p);
  p.Finished(p.index("s"), true);
  const int w = p.index("w");
  Next(p);
  for (int k = 0; k < 2; ++k) spec.steps.push_back(ForEachInstance(spec.steps[w], k, k));
  p.Expand(w, 2, 0);
  EXPECT_EQ(Next(p), "w[0]");
  EXPECT_EQ(Next(p), "w[1]");
  auto skipped = p.Finished(p.index("w[0]"), false);
  std::vector<std::string> names;
  for (int i : skipped) names.push_back(p.name(i));
  EXPECT_EQ(names, (std::vector<std::string>{"w", "g"}));
  EXPECT_EQ(p.skipped_because(p.index("g")), p.index("w[0]"));
  p.Finished(p.index("w[1]"), true);
  EXPECT_TRUE(p.AllDone());
}

TEST(Plan, AnEmptyForEachIsReadyToFinishAtOnce) {
  PipelineSpec spec = Spec("name: x\nsteps:\n  s: {run: 'true', outputs: [l]}\n  w: {run: 'true', for_each: s.l}\n");
  Plan p(spec, Cpus(1));
  Next(p);
  p.Finished(p.index("s"), true);
  EXPECT_EQ(Next(p), "w");
  p.Expand(p.index("w"), 0, 0);
  EXPECT_EQ(Next(p), "w") << "ready again, with no instance";
  p.Finished(p.index("w"), true);
  EXPECT_TRUE(p.AllDone());
}

}  // namespace
}  // namespace baton
