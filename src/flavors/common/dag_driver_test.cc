// Unit tests of the DagDriver on a scripted backend: which attempts start when, with which
// dependencies, what is retried, cancelled and reported.

#include "flavors/common/dag_driver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <set>

namespace baton {
namespace {

// A backend whose attempts end as the test scripts them: `outcome["step#attempt"]` (default
// success), each ending at the Wait after it started.
class ScriptedBackend : public StepBackend {
 public:
  explicit ScriptedBackend(bool holds) : holds_(holds) {}

  bool HoldsDependencies() const override { return holds_; }
  bool HasRoomFor(const StepJob& step) override { return !no_room.count(step.name); }

  Result<std::string> Start(const AttemptRequest& a) override {
    const std::string key = a.step->name + "#" + std::to_string(a.attempt);
    if (start_error.count(key)) return Unavailable(start_error[key]);
    const std::string handle = "h" + std::to_string(++next_);
    started.push_back(key);
    argv[key] = a.argv;
    after[key] = after_at_start[key] = a.after;
    handles[handle] = key;
    live.insert(handle);
    max_live = std::max(max_live, static_cast<int>(live.size()));
    if (!held.count(a.step->name)) ending.push_back(handle);
    return handle;
  }

  Status Redepend(const std::string& handle, const std::vector<std::string>& a) override {
    redepended.push_back(handles[handle] + "->" + std::to_string(a.size()));
    after[handles[handle]] = a;
    return Status::Ok();
  }

  Result<std::map<std::string, AttemptEnd>> Wait(const std::vector<std::string>&, int64_t) override {
    ++waits;
    std::map<std::string, AttemptEnd> ends;
    if (ending.empty()) return ends;
    const std::string h = ending.front();
    ending.pop_front();
    live.erase(h);
    auto it = outcome.find(handles[h]);
    ends[h] = it == outcome.end() ? AttemptEnd{AttemptEnd::Kind::kSucceeded, ""} : it->second;
    // A held step is released once its upstream attempt succeeded.
    if (ends[h].kind == AttemptEnd::Kind::kSucceeded)
      for (const auto& [hh, key] : handles)
        if (live.count(hh) && std::find(ending.begin(), ending.end(), hh) == ending.end() &&
            std::count(after[key].begin(), after[key].end(), h))
          ending.push_back(hh);
    return ends;
  }

  Status Cancel(const std::vector<std::string>& hs, bool stop) override {
    for (const auto& h : hs) {
      cancelled.push_back(handles[h] + (stop ? " stop" : " never"));
      if (stop) {
        outcome[handles[h]] = {AttemptEnd::Kind::kCancelled, "cancelled " + handles[h]};
        if (std::find(ending.begin(), ending.end(), h) == ending.end()) ending.push_back(h);
      } else {
        live.erase(h);
      }
    }
    return Status::Ok();
  }

  std::map<std::string, AttemptEnd> outcome;
  std::map<std::string, std::string> start_error;
  std::set<std::string> held;     // steps whose attempts never end by themselves
  std::set<std::string> no_room;  // steps the backend has no room for
  std::vector<std::string> started, cancelled, redepended;
  std::map<std::string, std::vector<std::string>> argv, after, after_at_start;
  std::map<std::string, std::string> handles;
  std::set<std::string> live;
  std::deque<std::string> ending;
  int max_live = 0, waits = 0;

 private:
  bool holds_;
  int next_ = 0;
};

StepJob Job(const std::string& name, std::vector<std::string> upstream, int retries = 0, int attempt = 1) {
  StepJob j;
  j.name = name;
  j.upstream = std::move(upstream);
  j.command = {"baton", "step", "run", "--step", name};
  j.settings = {{"retries", {{"max", retries}, {"delay_us", 0}, {"backoff", 1.0}}}};
  j.attempt = attempt;
  return j;
}

struct Reports {
  std::vector<std::string> failures, stops;
  void Attach(SubmitRequest* req) {
    req->report_failure = [this](const std::string& s, int a, const std::string& r) {
      failures.push_back(s + "#" + std::to_string(a) + ": " + r);
    };
    req->report_stopped = [this](const std::string& s, int a, const std::string& r) {
      stops.push_back(s + "#" + std::to_string(a) + ": " + r);
    };
  }
};

SubmitRequest Request(std::vector<StepJob> steps, int jobs = 8) {
  SubmitRequest req;
  req.run_id = "r";
  req.log_dir = "/nonexistent/logs/r";
  req.steps = std::move(steps);
  req.jobs = jobs;
  return req;
}

TEST(DagDriver, StartsUpstreamFirstWithinTheBoundAndPassesTheAttempt) {
  SubmitRequest req = Request({Job("a", {}), Job("b", {"a"}), Job("c", {"a"}), Job("d", {"b", "c"})});
  ScriptedBackend backend(false);
  DagDriver driver(req, &backend, {/*max_running=*/1, /*wait_slice_us=*/1000});
  ASSERT_TRUE(driver.Run().ok());
  EXPECT_EQ(backend.started, (std::vector<std::string>{"a#1", "b#1", "c#1", "d#1"}));
  EXPECT_EQ(backend.max_live, 1);
  const auto& argv = backend.argv["d#1"];
  std::vector<std::string> tail(argv.end() - 5, argv.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"--attempt", "1", "--result", "/nonexistent/logs/r/results/d.1.json",
                                            "--final"}));
}

TEST(DagDriver, RetriesAFailedAttemptAsANewJobAndReportsTheBackendsReason) {
  SubmitRequest req = Request({Job("a", {}, /*retries=*/2, /*attempt=*/3), Job("b", {"a"})});
  Reports reports;
  reports.Attach(&req);
  ScriptedBackend backend(false);
  backend.outcome["a#3"] = {AttemptEnd::Kind::kFailed, "out of memory"};
  backend.outcome["a#4"] = {AttemptEnd::Kind::kFailed, ""};  // the entrypoint recorded why
  DagDriver driver(req, &backend, {0, 1000});
  ASSERT_TRUE(driver.Run().ok());
  // A resumed run numbers on from the step's attempt; the last allowed attempt is --final.
  EXPECT_EQ(backend.started, (std::vector<std::string>{"a#3", "a#4", "a#5", "b#1"}));
  EXPECT_EQ(std::count(backend.argv["a#4"].begin(), backend.argv["a#4"].end(), "--final"), 0);
  EXPECT_EQ(std::count(backend.argv["a#5"].begin(), backend.argv["a#5"].end(), "--final"), 1);
  EXPECT_EQ(reports.failures, (std::vector<std::string>{"a#3: out of memory"}));
}

TEST(DagDriver, AStepThatFailsForGoodLeavesItsDependentsUnstartedAndOthersGoOn) {
  SubmitRequest req = Request({Job("a", {}), Job("b", {"a"}), Job("c", {"b"}), Job("x", {})});
  ScriptedBackend backend(false);
  backend.start_error["a#1"] = "image not available";
  Reports reports;
  reports.Attach(&req);
  DagDriver driver(req, &backend, {0, 1000});
  ASSERT_TRUE(driver.Run().ok());
  EXPECT_EQ(backend.started, (std::vector<std::string>{"x#1"}));
  EXPECT_EQ(reports.failures, (std::vector<std::string>{"a#1: image not available"}));
}

TEST(DagDriver, AStepWithoutRoomWaitsForIt) {
  SubmitRequest req = Request({Job("big", {}), Job("small", {})});
  // Room comes back after the first Wait; the driver must not give up on the step meanwhile.
  struct Roomy : ScriptedBackend {
    using ScriptedBackend::ScriptedBackend;
    Result<std::map<std::string, AttemptEnd>> Wait(const std::vector<std::string>& l, int64_t t) override {
      no_room.clear();
      return ScriptedBackend::Wait(l, t);
    }
  } roomy(false);
  roomy.no_room.insert("big");
  DagDriver d2(req, &roomy, {0, 1000});
  ASSERT_TRUE(d2.Run().ok());
  EXPECT_EQ(roomy.started, (std::vector<std::string>{"small#1", "big#1"}));
}

TEST(DagDriver, ABackendThatHoldsDependenciesGetsEveryStepAtOnceAndRedependsOnRetries) {
  SubmitRequest req = Request({Job("a", {}, /*retries=*/1), Job("b", {"a"}), Job("c", {"b"})});
  ScriptedBackend backend(true);
  backend.outcome["a#1"] = {AttemptEnd::Kind::kFailed, ""};
  backend.held = {"b", "c"};
  DagDriver driver(req, &backend, {0, 1000});
  ASSERT_TRUE(driver.Run().ok());
  EXPECT_EQ(backend.started, (std::vector<std::string>{"a#1", "b#1", "c#1", "a#2"}));
  EXPECT_EQ(backend.after_at_start["b#1"], (std::vector<std::string>{"h1"}));  // a's first job
  EXPECT_EQ(backend.after_at_start["c#1"], (std::vector<std::string>{"h2"}));  // b's job
  // b waited on a's failed job; the retry points it at the new one.
  EXPECT_EQ(backend.redepended, (std::vector<std::string>{"b#1->1"}));
  EXPECT_EQ(backend.after["b#1"], (std::vector<std::string>{"h4"}));
}

TEST(DagDriver, HeldDependentsOfAStepThatFailsForGoodAreCancelled) {
  SubmitRequest req = Request({Job("a", {}), Job("b", {"a"}), Job("c", {"b"}), Job("x", {})});
  ScriptedBackend backend(true);
  backend.outcome["a#1"] = {AttemptEnd::Kind::kFailed, "node failure"};
  backend.held = {"b", "c"};
  DagDriver driver(req, &backend, {0, 1000});
  ASSERT_TRUE(driver.Run().ok());
  std::vector<std::string> cancelled = backend.cancelled;
  std::sort(cancelled.begin(), cancelled.end());
  EXPECT_EQ(cancelled, (std::vector<std::string>{"b#1 never", "c#1 never"}));
}

TEST(DagDriver, StopCancelsWhatRunsReportsItAndStartsNothingMore) {
  SubmitRequest req = Request({Job("slow", {}), Job("next", {"slow"}), Job("retrying", {}, 5)});
  Reports reports;
  reports.Attach(&req);
  // slow runs until cancelled; the driver is stopped during its first Wait.
  struct StopAfterFirstWait : ScriptedBackend {
    using ScriptedBackend::ScriptedBackend;
    DagDriver* driver = nullptr;
    Result<std::map<std::string, AttemptEnd>> Wait(const std::vector<std::string>& l, int64_t t) override {
      auto r = ScriptedBackend::Wait(l, t);
      if (driver) driver->Stop();
      return r;
    }
  } stopping(false);
  stopping.held = {"slow"};
  stopping.outcome["retrying#1"] = {AttemptEnd::Kind::kFailed, ""};
  DagDriver d2(req, &stopping, {0, 1000});
  stopping.driver = &d2;
  ASSERT_TRUE(d2.Run().ok());
  EXPECT_EQ(stopping.started, (std::vector<std::string>{"slow#1", "retrying#1"}));  // no retry, no next
  EXPECT_EQ(stopping.cancelled, (std::vector<std::string>{"slow#1 stop"}));
  EXPECT_EQ(reports.stops, (std::vector<std::string>{"slow#1: cancelled slow#1"}));
  EXPECT_TRUE(stopping.live.empty());
}

TEST(DagDriver, StepsDoneInAnEarlierAttemptOfTheRunAreNotWaitedFor) {
  // A resumed run's request holds only what did not complete; upstream names that are not in
  // it completed before.
  SubmitRequest req = Request({Job("b", {"a"}), Job("c", {"b"})});
  ScriptedBackend backend(false);
  DagDriver driver(req, &backend, {0, 1000});
  ASSERT_TRUE(driver.Run().ok());
  EXPECT_EQ(backend.started, (std::vector<std::string>{"b#1", "c#1"}));
}

// A for_each step's instances: asked for once its upstream succeeded (also from a backend that
// holds dependencies, which otherwise takes steps early), at most max_parallel running at once,
// each as its own job; the gather waits for every one of them.
void ForEachTest(bool holds) {
  StepJob fe = Job("w", {"split"});
  fe.for_each = true;
  fe.max_parallel = 2;
  SubmitRequest req = Request({Job("split", {}), fe, Job("gather", {"w"})});
  std::vector<std::string> asked;
  req.expand = [&](const std::string& step) -> Result<std::vector<StepJob>> {
    asked.push_back(step);
    std::vector<StepJob> jobs;
    for (int i = 0; i < 5; ++i) jobs.push_back(Job(step + "[" + std::to_string(i) + "]", {"split"}));
    return jobs;
  };
  ScriptedBackend backend(holds);
  DagDriver driver(req, &backend, {0, 1000});
  ASSERT_TRUE(driver.Run().ok());
  EXPECT_EQ(asked, std::vector<std::string>{"w"});
  EXPECT_EQ(backend.started, (std::vector<std::string>{"split#1", "w[0]#1", "w[1]#1", "w[2]#1", "w[3]#1", "w[4]#1",
                                                       "gather#1"}));
  EXPECT_EQ(backend.max_live, 2);
}

TEST(DagDriver, AForEachStepBecomesItsInstancesOnceItsListExists) { ForEachTest(false); }

TEST(DagDriver, AForEachStepWaitsForItsListAlsoOnABackendThatHoldsDependencies) { ForEachTest(true); }

TEST(DagDriver, AForEachStepWithoutInstancesFailsWithWhyOrSucceedsWhenTheListIsEmpty) {
  for (bool empty : {false, true}) {
    StepJob fe = Job("w", {"split"});
    fe.for_each = true;
    SubmitRequest req = Request({Job("split", {}), fe, Job("gather", {"w"})});
    Reports reports;
    reports.Attach(&req);
    req.expand = [&](const std::string&) -> Result<std::vector<StepJob>> {
      if (empty) return std::vector<StepJob>{};
      return FailedPrecondition("for_each: split.list has 3 elements, more than the 2 instances allowed");
    };
    ScriptedBackend backend(false);
    DagDriver driver(req, &backend, {0, 1000});
    ASSERT_TRUE(driver.Run().ok());
    if (empty) {
      EXPECT_EQ(backend.started, (std::vector<std::string>{"split#1", "gather#1"}));
      EXPECT_TRUE(reports.failures.empty());
    } else {
      EXPECT_EQ(backend.started, std::vector<std::string>{"split#1"});
      EXPECT_EQ(reports.failures,
                std::vector<std::string>{"w#0: for_each: split.list has 3 elements, more than the 2 instances allowed"});
    }
  }
}

TEST(DagDriver, AFailedInstanceLeavesTheGatherUnstartedAndTheOtherInstancesRun) {
  StepJob fe = Job("w", {});
  fe.for_each = true;
  SubmitRequest req = Request({fe, Job("gather", {"w"})});
  req.expand = [&](const std::string& step) -> Result<std::vector<StepJob>> {
    return std::vector<StepJob>{Job(step + "[0]", {}), Job(step + "[1]", {}), Job(step + "[2]", {})};
  };
  ScriptedBackend backend(false);
  backend.outcome["w[0]#1"] = {AttemptEnd::Kind::kFailed, ""};
  DagDriver driver(req, &backend, {0, 1000});
  ASSERT_TRUE(driver.Run().ok());
  EXPECT_EQ(backend.started, (std::vector<std::string>{"w[0]#1", "w[1]#1", "w[2]#1"}));
}

}  // namespace
}  // namespace baton
