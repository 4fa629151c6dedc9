// Unit tests for the Executor (executor.h): a fake Launcher scripts what each step attempt does
// (exit code, start error, hang) and in which order attempts complete, without real processes;
// the StepRunner, SQLite metadata store and local artifact store are real, in a temp dir. Time is
// a fake clock that moves only when the launcher waits for a deadline, so retry delays and run
// timeouts take no real time and are measured exactly.

#include "core/executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <set>

#include "core/spec_parser.h"
#include "platform/env_posix.h"
#include "platform/fs.h"
#include "store/local_artifact_store.h"
#include "store/sqlite_store.h"
#include "test_util.h"

namespace baton {
namespace {

// Value of KEY in a "KEY=VALUE" environment, or "".
std::string EnvValue(const std::vector<std::string>& env, const std::string& key) {
  for (const auto& e : env)
    if (e.compare(0, key.size() + 1, key + "=") == 0) return e.substr(key.size() + 1);
  return "";
}

// An Env over PosixEnv() whose clocks are a counter that moves only when told: files and the
// process environment are real, time is not.
class FakeClockEnv : public EnvWrapper {
 public:
  FakeClockEnv() : EnvWrapper(PosixEnv()) {}

  int64_t MonotonicMicros() override { return now_us_.load(); }
  int64_t NowMicros() override { return kWallClockOriginUs + now_us_.load(); }

  // Moves the clock forward to `t_us`; a time already past leaves it where it is.
  void AdvanceTo(int64_t t_us) {
    int64_t now = now_us_.load();
    while (now < t_us && !now_us_.compare_exchange_weak(now, t_us)) {
    }
  }

 private:
  // Far from 0, as a real monotonic clock is: a deadline of 1 is in the past.
  static constexpr int64_t kStartUs = 1'000'000'000'000;
  static constexpr int64_t kWallClockOriginUs = 1'700'000'000'000'000 - kStartUs;
  std::atomic<int64_t> now_us_{kStartUs};
};

class FakeLauncher : public Launcher {
 public:
  struct Proc {
    int token = -1;
    std::string step;
    int attempt = 0;
    ProcessSpec spec;
    bool cancelled = false;
    int64_t seq = 0;
    int64_t started_us = 0;  // the fake clock's MonotonicMicros() at Start
  };

  FakeLauncher(int slots, FakeClockEnv* clock) : slots_(slots), clock_(clock) {}

  // --- script ---
  std::map<std::string, std::vector<int>> exit_codes;  // per step, one per attempt; default 0
  std::map<std::string, std::string> start_errors;     // step -> Start() error message
  std::set<std::string> hang;                          // never complete unless cancelled
  std::set<std::string> no_outputs;                    // do not write the declared outputs
  std::vector<std::string> completion_order;           // these complete first, in this order
  int interrupt_at_wait = -1;                          // this Wait call (0-based) is interrupted

  // --- record ---
  std::vector<Proc> started;        // every Start, in order
  std::vector<std::string> log;     // "start a#1", "exit a#1 0", "cancel b", "cancel-all", ...
  int wait_calls = 0;

  bool CanRunMore() const override { return static_cast<int>(running_.size()) < slots_; }
  int running() const override { return static_cast<int>(running_.size()); }

  Status Start(int token, const ProcessSpec& spec) override {
    EXPECT_TRUE(CanRunMore()) << "Start beyond the launcher's slots";
    Proc p;
    p.token = token;
    p.step = EnvValue(spec.env, "BATON_STEP");
    p.attempt = std::atoi(EnvValue(spec.env, "BATON_ATTEMPT").c_str());
    p.spec = spec;
    p.seq = seq_++;
    p.started_us = clock_->MonotonicMicros();
    auto err = start_errors.find(p.step);
    if (err != start_errors.end()) {
      log.push_back("start-error " + p.step);
      return Internal(err->second);
    }
    // Like a real step: write every declared output at $BATON_OUTPUT_<NAME>.
    if (!no_outputs.count(p.step)) {
      for (const auto& e : spec.env) {
        if (e.rfind("BATON_OUTPUT_", 0) != 0) continue;
        std::string path = e.substr(e.find('=') + 1);
        EXPECT_TRUE(fs::WriteFileAtomic(path, p.step + " attempt " + std::to_string(p.attempt) + "\n").ok());
      }
    }
    started.push_back(p);
    running_.push_back(p);
    log.push_back("start " + Name(p));
    return Status::Ok();
  }

  WaitResult Wait(int64_t deadline_us, Completion* out, int* signal_out) override {
    if (wait_calls++ == interrupt_at_wait) {
      *signal_out = SIGINT;
      log.push_back("interrupt");
      return WaitResult::kInterrupted;
    }
    auto next = PickNext();
    if (next == running_.end()) {
      // Nothing can complete: a quiet wait, in which the fake clock reaches the deadline at once.
      if (deadline_us == 0) {
        ADD_FAILURE() << "Wait without a deadline while nothing can ever complete";
        return WaitResult::kDeadline;
      }
      clock_->AdvanceTo(deadline_us);
      return WaitResult::kDeadline;
    }
    Proc p = *next;
    running_.erase(next);
    *out = Completion{};
    out->token = p.token;
    out->duration_us = 1000;
    if (p.cancelled) {
      out->cancelled = true;
      out->signal = SIGTERM;
      log.push_back("stopped " + Name(p));
    } else {
      auto it = exit_codes.find(p.step);
      out->exit_code = it != exit_codes.end() && p.attempt - 1 < static_cast<int>(it->second.size())
                           ? it->second[p.attempt - 1]
                           : 0;
      log.push_back("exit " + Name(p) + " " + std::to_string(out->exit_code));
    }
    return WaitResult::kCompleted;
  }

  void Cancel(int token) override {
    for (auto& p : running_)
      if (p.token == token) {
        p.cancelled = true;
        log.push_back("cancel " + p.step);
      }
  }
  void CancelAll() override {
    log.push_back("cancel-all");
    for (auto& p : running_) p.cancelled = true;
  }

  const Proc* Find(const std::string& step, int attempt) const {
    for (const auto& p : started)
      if (p.step == step && p.attempt == attempt) return &p;
    return nullptr;
  }

 private:
  static std::string Name(const Proc& p) { return p.step + "#" + std::to_string(p.attempt); }

  std::vector<Proc>::iterator PickNext() {
    auto rank = [&](const Proc& p) -> size_t {
      auto it = std::find(completion_order.begin(), completion_order.end(), p.step);
      return static_cast<size_t>(it - completion_order.begin());
    };
    auto best = running_.end();
    for (auto it = running_.begin(); it != running_.end(); ++it) {
      if (hang.count(it->step) && !it->cancelled) continue;
      if (best == running_.end() || std::make_pair(rank(*it), it->seq) < std::make_pair(rank(*best), best->seq))
        best = it;
    }
    return best;
  }

  int slots_;
  FakeClockEnv* clock_;
  int64_t seq_ = 0;
  std::vector<Proc> running_;
};

// Records every event as a line of text.
class RecordingObserver : public ExecutionObserver {
 public:
  std::vector<std::string> events;
  std::vector<int64_t> retry_delays;
  const Plan* plan = nullptr;

  void OnRunStart(const Plan& p) override {
    plan = &p;
    events.push_back("run-start");
  }
  void OnStepStart(int step, int attempt) override {
    events.push_back("start " + plan->name(step) + "#" + std::to_string(attempt));
  }
  void OnStepEnd(int step, int attempt, const StepOutcome& o, int64_t retry_in_us) override {
    events.push_back("end " + plan->name(step) + "#" + std::to_string(attempt) + " " + ToString(o.status) +
                     (retry_in_us >= 0 ? " retry" : ""));
    if (retry_in_us >= 0) retry_delays.push_back(retry_in_us);
  }
  void OnRunEnd(const RunSummary& s) override { events.push_back(std::string("run-end ") + ToString(s.status)); }
};

// One run of a pipeline on a fake launcher with real stores.
class Harness {
 public:
  explicit Harness(const std::string& yaml, int slots = 8, Capacity cap = DefaultCapacity())
      : launcher(slots, &clock), cap_(cap) {
    auto r = ParsePipelineText(yaml, dir.path() + "/p.yaml", dir.path());
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (r.ok()) spec = *r;
    cap_.pools = spec.pools;
    auto m = OpenSqliteStore(dir.path() + "/baton.db");
    EXPECT_TRUE(m.ok()) << m.status().message();
    meta = std::move(*m);
    auto a = OpenLocalArtifactStore(dir.path() + "/artifacts");
    EXPECT_TRUE(a.ok()) << a.status().message();
    arts = std::move(*a);

    std::string body = SpecToJson(spec).dump();
    EXPECT_TRUE(meta->PutSnapshot("snap", spec.name, body).ok());
    RunRecord run;
    run.id = run_id;
    run.pipeline = spec.name;
    run.snapshot_hash = "snap";
    run.status = RunStatus::kRunning;
    run.created_at = run.started_at = clock.NowMicros();
    Status st = meta->CreateRun(run);
    EXPECT_TRUE(st.ok()) << st.message();
  }

  static Capacity DefaultCapacity() {
    Capacity c;
    c.cpu = 8;
    return c;
  }

  RunSummary Run(FailureMode mode = FailureMode::kContinue, int64_t run_timeout_us = 0,
                 const std::map<int, int>& first_attempt = {}) {
    RunContext ctx;
    ctx.env = &clock;
    ctx.spec = &spec;
    ctx.run_id = run_id;
    ctx.snapshot_hash = "snap";
    ctx.logs_dir = dir.path() + "/logs";
    ctx.use_cache = false;
    StepRunner runner(ctx, meta.get(), arts.get());
    plan = std::make_unique<Plan>(spec, cap_);
    ExecutorOptions opts;
    opts.failure_mode = mode;
    opts.run_timeout_us = run_timeout_us;
    Executor ex(spec, plan.get(), &runner, &launcher, &observer, opts);
    auto r = ex.Run(first_attempt);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : RunSummary{};
  }

  std::vector<StepRunRecord> Rows() {
    auto r = meta->ListStepRuns(run_id);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : std::vector<StepRunRecord>{};
  }
  // The step run rows of one step, by attempt.
  std::vector<StepRunRecord> Rows(const std::string& step) {
    std::vector<StepRunRecord> out;
    for (auto& r : Rows())
      if (r.step == step) out.push_back(r);
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.attempt < b.attempt; });
    return out;
  }
  // "status" of a step's only row, or a description of what is wrong.
  std::string StatusOf(const std::string& step) {
    auto rows = Rows(step);
    if (rows.size() != 1) return std::to_string(rows.size()) + " rows";
    return ToString(rows[0].status);
  }
  std::set<std::string> StepsWithArtifacts() {
    std::set<std::string> out;
    auto a = meta->ListArtifacts(run_id, 1000);
    EXPECT_TRUE(a.ok()) << a.status().message();
    if (a.ok())
      for (const auto& art : *a) out.insert(art.step + "." + art.name);
    return out;
  }

  testing::TempDir dir;
  PipelineSpec spec;
  std::unique_ptr<MetadataStore> meta;
  std::unique_ptr<ArtifactStore> arts;
  std::string run_id = "run-1";
  std::unique_ptr<Plan> plan;
  FakeClockEnv clock;  // the run's Env: real files, fake time
  FakeLauncher launcher;
  RecordingObserver observer;

 private:
  Capacity cap_;
};

using V = std::vector<std::string>;

const char* kDiamond = R"(name: diamond
steps:
  a: {run: [gen, a], outputs: [o]}
  b: {run: [gen, b], inputs: {x: a.o}, outputs: [o]}
  c: {run: [gen, c], inputs: {x: a.o}, outputs: [o]}
  d: {run: [gen, d], inputs: {left: b.o, right: c.o}}
)";

// ---------------------------------------------------------------------------------------------

TEST(Executor, DiamondRunsInDependencyOrder) {
  Harness h(kDiamond);
  RunSummary s = h.Run();
  EXPECT_EQ(s.status, RunStatus::kCompleted);
  EXPECT_EQ(s.completed, 4);
  EXPECT_EQ(s.failed + s.skipped + s.stopped + s.cached, 0);
  EXPECT_EQ(h.observer.events, (V{"run-start",
                                  "start a#1", "end a#1 completed",
                                  "start b#1", "start c#1",
                                  "end b#1 completed", "end c#1 completed",
                                  "start d#1", "end d#1 completed",
                                  "run-end completed"}));
  EXPECT_EQ(h.launcher.log, (V{"start a#1", "exit a#1 0", "start b#1", "start c#1", "exit b#1 0",
                               "exit c#1 0", "start d#1", "exit d#1 0"}));
  for (const char* st : {"a", "b", "c", "d"}) EXPECT_EQ(h.StatusOf(st), "completed") << st;
  EXPECT_EQ(h.StepsWithArtifacts(), (std::set<std::string>{"a.o", "b.o", "c.o"}));

  // d read what b and c wrote, from the artifact store.
  const auto* d = h.launcher.Find("d", 1);
  ASSERT_NE(d, nullptr);
  std::string left = EnvValue(d->spec.env, "BATON_INPUT_LEFT");
  std::string right = EnvValue(d->spec.env, "BATON_INPUT_RIGHT");
  ASSERT_FALSE(left.empty());
  EXPECT_EQ(testing::ReadFileOrDie(left), "b attempt 1\n");
  EXPECT_EQ(testing::ReadFileOrDie(right), "c attempt 1\n");
  EXPECT_EQ(d->spec.argv, (V{"gen", "d"}));
  EXPECT_EQ(d->spec.cwd, h.dir.path());
}

TEST(Executor, ProcessSpecCarriesCommandSettingsAndParameters) {
  Harness h(R"(name: x
parameters: {lr: 0.5, label: two words}
defaults: {timeout: 2s, env: {SHARED: d}}
steps:
  simple: {run: "train --lr {{params.lr}} --out {{outputs.m}}", outputs: [m], env: {OWN: "{{params.label}}"}}
  piped: {run: "echo {{params.label}} | wc -c", timeout: 1m}
)");
  RunSummary s = h.Run();
  EXPECT_EQ(s.status, RunStatus::kCompleted);
  const auto* simple = h.launcher.Find("simple", 1);
  const auto* piped = h.launcher.Find("piped", 1);
  ASSERT_TRUE(simple && piped);
  // A command that needs no shell is exec'd directly, with values unquoted.
  std::string out = EnvValue(simple->spec.env, "BATON_OUTPUT_M");
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(simple->spec.argv, (V{"train", "--lr", "0.5", "--out", out}));
  EXPECT_EQ(simple->spec.timeout_us, 2'000'000);
  EXPECT_EQ(EnvValue(simple->spec.env, "SHARED"), "d");
  EXPECT_EQ(EnvValue(simple->spec.env, "OWN"), "two words");
  EXPECT_EQ(EnvValue(simple->spec.env, "BATON_PARAM_LR"), "0.5");
  EXPECT_EQ(EnvValue(simple->spec.env, "BATON_PARAM_LABEL"), "two words");
  EXPECT_EQ(EnvValue(simple->spec.env, "BATON_RUN_ID"), h.run_id);
  EXPECT_FALSE(simple->spec.log_path.empty());
  // A pipe needs the shell; the value is quoted for it.
  EXPECT_EQ(piped->spec.argv, (V{"/bin/sh", "-c", "echo 'two words' | wc -c"}));
  EXPECT_EQ(piped->spec.timeout_us, 60'000'000);
  EXPECT_EQ(EnvValue(piped->spec.env, "BATON_PARAM_LR"), "") << "only the parameters a step uses";
}

TEST(Executor, CompletionOrderDrivesWhatStartsNext) {
  Harness h(kDiamond);
  h.launcher.completion_order = {"c", "b"};
  RunSummary s = h.Run();
  EXPECT_EQ(s.status, RunStatus::kCompleted);
  EXPECT_EQ(h.observer.events, (V{"run-start", "start a#1", "end a#1 completed", "start b#1", "start c#1",
                                  "end c#1 completed", "end b#1 completed", "start d#1",
                                  "end d#1 completed", "run-end completed"}));
}

TEST(Executor, LauncherSlotsBoundParallelism) {
  Harness h(R"(name: x
steps:
  s1: {run: [gen, "1"]}
  s2: {run: [gen, "2"]}
  s3: {run: [gen, "3"]}
)", /*slots=*/1);
  RunSummary s = h.Run();
  EXPECT_EQ(s.completed, 3);
  EXPECT_EQ(h.launcher.log, (V{"start s1#1", "exit s1#1 0", "start s2#1", "exit s2#1 0", "start s3#1", "exit s3#1 0"}));
}

TEST(Executor, FailedStepSkipsDependentsButNotIndependentBranches) {
  Harness h(R"(name: x
steps:
  a: {run: [gen, a], outputs: [o]}
  b: {run: [gen, b], inputs: {x: a.o}, outputs: [o]}
  c: {run: [gen, c], inputs: {x: a.o}, outputs: [o]}
  d: {run: [gen, d], inputs: {x: b.o, y: c.o}}
  e: {run: [gen, e], outputs: [o]}
)");
  h.launcher.exit_codes["b"] = {3};
  RunSummary s = h.Run();
  EXPECT_EQ(s.status, RunStatus::kFailed);
  EXPECT_EQ(s.reason, "1 step failed");
  EXPECT_EQ(s.completed, 3);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(s.skipped, 1);

  auto b = h.Rows("b");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].status, StepStatus::kFailed);
  EXPECT_EQ(b[0].reason, "exited with code 3");
  EXPECT_EQ(b[0].exit_code, 3);
  auto d = h.Rows("d");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].status, StepStatus::kSkipped);
  EXPECT_EQ(d[0].reason, "upstream step 'b' failed");
  EXPECT_EQ(h.launcher.Find("d", 1), nullptr) << "a skipped step is never launched";
  for (const char* st : {"a", "c", "e"}) EXPECT_EQ(h.StatusOf(st), "completed") << st;

  // The failed step wrote its output, but it is not registered, and its staging copy is gone.
  EXPECT_EQ(h.StepsWithArtifacts(), (std::set<std::string>{"a.o", "c.o", "e.o"}));
  auto found = h.meta->FindRunOutput(h.run_id, "b", "o");
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
  const auto* bp = h.launcher.Find("b", 1);
  ASSERT_NE(bp, nullptr);
  std::string staged = EnvValue(bp->spec.env, "BATON_OUTPUT_O");
  ASSERT_FALSE(staged.empty());
  EXPECT_FALSE(fs::Exists(staged));

  // Observer: d's skip is reported right after b's failure.
  auto& ev = h.observer.events;
  auto fail = std::find(ev.begin(), ev.end(), "end b#1 failed");
  ASSERT_NE(fail, ev.end());
  ASSERT_NE(fail + 1, ev.end());
  EXPECT_EQ(*(fail + 1), "end d#1 skipped");
  EXPECT_EQ(ev.back(), "run-end failed");
}

TEST(Executor, MissingDeclaredOutputFailsTheStep) {
  Harness h(R"(name: x
steps:
  a: {run: [gen, a], outputs: [model]}
  b: {run: [gen, b], inputs: {m: a.model}}
)");
  h.launcher.no_outputs = {"a"};
  RunSummary s = h.Run();
  EXPECT_EQ(s.status, RunStatus::kFailed);
  auto a = h.Rows("a");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].status, StepStatus::kFailed);
  EXPECT_EQ(a[0].reason, "the step did not write its declared output 'model' ({{outputs.model}})");
  EXPECT_EQ(h.StatusOf("b"), "skipped");
  EXPECT_TRUE(h.StepsWithArtifacts().empty());
}

TEST(Executor, StartErrorFailsTheStep) {
  Harness h(R"(name: x
steps:
  a: {run: [nosuchprogram], outputs: [o]}
  b: {run: [gen, b], inputs: {x: a.o}}
  c: {run: [gen, c]}
)");
  h.launcher.start_errors["a"] = "cannot execute 'nosuchprogram': program not found";
  RunSummary s = h.Run();
  EXPECT_EQ(s.status, RunStatus::kFailed);
  auto a = h.Rows("a");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].status, StepStatus::kFailed);
  EXPECT_EQ(a[0].reason, "cannot execute 'nosuchprogram': program not found");
  EXPECT_EQ(h.StatusOf("b"), "skipped");
  EXPECT_EQ(h.StatusOf("c"), "completed");
}

TEST(Executor, UnsatisfiableRequestFailsAtOnce) {
  Harness h(R"(name: x
steps:
  train: {run: [gen, t], resources: {gpu: 1}, outputs: [m]}
  eval: {run: [gen, e], inputs: {m: train.m}}
  prep: {run: [gen, p]}
)");
  RunSummary s = h.Run();
  EXPECT_EQ(s.status, RunStatus::kFailed);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(s.skipped, 1);
  EXPECT_EQ(s.completed, 1);
  auto t = h.Rows("train");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].status, StepStatus::kFailed);
  EXPECT_EQ(t[0].reason, "cannot be scheduled: step requests 1 gpu but none is available");
  EXPECT_EQ(h.launcher.Find("train", 1), nullptr);
  EXPECT_EQ(h.StatusOf("eval"), "skipped");
}

// ---------------------------------------------------------------------------------------------
// Retries

TEST(Executor, RetriesMakeSeparateAttempts) {
  Harness h(R"(name: x
steps:
  flaky: {run: [gen, f], outputs: [o], retries: {max: 2}}
  after_flaky: {run: [gen, g], inputs: {x: flaky.o}}
)");
  h.launcher.exit_codes["flaky"] = {3, 4, 5};
  RunSummary s = h.Run();
  EXPECT_EQ(s.status, RunStatus::kFailed);
  EXPECT_EQ(s.failed, 1) << "a step failing three times is one failed step";
  EXPECT_EQ(s.skipped, 1);

  auto rows = h.Rows("flaky");
  ASSERT_EQ(rows.size(), 3u) << "retries.max=2 means up to 3 attempts";
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(rows[i].attempt, i + 1);
    EXPECT_EQ(rows[i].status, StepStatus::kFailed);
    EXPECT_EQ(rows[i].exit_code, 3 + i);
    EXPECT_EQ(rows[i].reason, "exited with code " + std::to_string(3 + i));
  }
  EXPECT_NE(rows[0].id, rows[1].id);
  EXPECT_EQ(h.StatusOf("after_flaky"), "skipped");

  // Each attempt stages its outputs separately.
  const auto* a1 = h.launcher.Find("flaky", 1);
  const auto* a2 = h.launcher.Find("flaky", 2);
  ASSERT_TRUE(a1 && a2);
  EXPECT_NE(EnvValue(a1->spec.env, "BATON_OUTPUT_O"), EnvValue(a2->spec.env, "BATON_OUTPUT_O"));
  EXPECT_EQ(h.launcher.Find("flaky", 4), nullptr);

  EXPECT_EQ(h.observer.events, (V{"run-start", "start flaky#1", "end flaky#1 failed retry", "start flaky#2",
                                  "end flaky#2 failed retry", "start flaky#3", "end flaky#3 failed",
                                  "end after_flaky#1 skipped", "run-end failed"}));
}

TEST(Executor, RetryThatSucceedsLetsDependentsRun) {
  Harness h(R"(name: x
defaults: {retries: 2}
steps:
  flaky: {run: [gen, f], outputs: [o]}
  next: {run: [gen, n], inputs: {x: flaky.o}}
)");
  h.launcher.exit_codes["flaky"] = {1, 0};
  RunSummary s = h.Run();
  EXPECT_EQ(s.status, RunStatus::kCompleted);
  EXPECT_EQ(s.completed, 2);
  EXPECT_EQ(s.failed, 0);
  auto rows = h.Rows("flaky");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].status, StepStatus::kFailed);
  EXPECT_EQ(rows[0].reason, "exited with code 1");
  EXPECT_EQ(rows[1].status, StepStatus::kCompleted);
  EXPECT_EQ(rows[1].attempt, 2);
  EXPECT_EQ(h.StatusOf("next"), "completed");
  // The successful attempt's output is the one registered.
  auto out = h.meta->FindRunOutput(h.run_id, "flaky", "o");
  ASSERT_TRUE(out.ok() && out->has_value());
  auto path = h.arts->Get((*out)->digest);
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(testing::ReadFileOrDie(*path), "flaky attempt 2\n");
}

TEST(Executor, ResumedStepContinuesAttemptNumbering) {
  Harness h(R"(name: x
steps:
  done_before: {run: [gen, d]}
  flaky: {run: [gen, f], retries: {max: 1}}
)");
  h.launcher.exit_codes["flaky"] = {0, 0, 9, 9};  // attempts 3 and 4 fail
  RunSummary s = h.Run(FailureMode::kContinue, 0, {{1, 3}});
  EXPECT_EQ(s.status, RunStatus::kFailed);
  auto rows = h.Rows("flaky");
  ASSERT_EQ(rows.size(), 2u) << "retries.max=1 counts from the resumed attempt: 3, then 4";
  EXPECT_EQ(rows[0].attempt, 3);
  EXPECT_EQ(rows[1].attempt, 4);
  EXPECT_EQ(rows[1].reason, "exited with code 9");
  EXPECT_EQ(h.Rows("done_before")[0].attempt, 1);
}

TEST(Executor, RetryDelaysGrowByTheBackoff) {
  Harness h(R"(name: x
steps:
  flaky: {run: [gen, f], retries: {max: 2, delay: 40ms, backoff: 2}}
)");
  h.launcher.exit_codes["flaky"] = {1, 1, 0};
  int64_t t0 = h.clock.MonotonicMicros();
  RunSummary s = h.Run();
  EXPECT_EQ(s.status, RunStatus::kCompleted);
  EXPECT_EQ(h.observer.retry_delays, (std::vector<int64_t>{40'000, 80'000}));
  EXPECT_EQ(h.Rows("flaky").size(), 3u);
  // Attempts take no time on the fake clock: the time between them is the delay waited.
  const auto* a1 = h.launcher.Find("flaky", 1);
  const auto* a2 = h.launcher.Find("flaky", 2);
  const auto* a3 = h.launcher.Find("flaky", 3);
  ASSERT_TRUE(a1 && a2 && a3);
  EXPECT_EQ(a1->started_us, t0);
  EXPECT_EQ(a2->started_us - a1->started_us, 40'000) << "the executor waited for the first delay";
  EXPECT_EQ(a3->started_us - a2->started_us, 80'000) << "the second delay grew by the backoff";
  EXPECT_EQ(h.clock.MonotonicMicros() - t0, 120'000) << "the run waited for the delays, no longer";
  EXPECT_EQ(s.duration_us, 120'000);
}

TEST(Executor, RetryBackoffDoesNotHoldResources) {
  // Found as a bug (the waiting step kept its cpu reserved for the whole backoff); fixed.
  Harness h(R"(name: x
steps:
  flaky: {run: [gen, f], retries: {max: 1, delay: 300ms}}
  other: {run: [gen, o]}
)", /*slots=*/8, [] {
    Capacity c;
    c.cpu = 1;
    return c;
  }());
  h.launcher.exit_codes["flaky"] = {1, 0};
  RunSummary s = h.Run();
  EXPECT_EQ(s.status, RunStatus::kCompleted);
  // `other` should use the cpu during flaky's 300ms backoff, before flaky's second attempt.
  EXPECT_EQ(h.launcher.log, (V{"start flaky#1", "exit flaky#1 1", "start other#1", "exit other#1 0",
                               "start flaky#2", "exit flaky#2 0"}));
  const auto* flaky1 = h.launcher.Find("flaky", 1);
  const auto* other = h.launcher.Find("other", 1);
  const auto* flaky2 = h.launcher.Find("flaky", 2);
  ASSERT_TRUE(flaky1 && other && flaky2);
  EXPECT_EQ(other->started_us, flaky1->started_us) << "other started as soon as flaky#1 failed";
  EXPECT_EQ(flaky2->started_us - flaky1->started_us, 300'000);
}

// ---------------------------------------------------------------------------------------------
// Failure modes, interrupts, timeouts

const char* kThreeIndependent = R"(name: x
steps:
  bad: {run: [gen, b]}
  slow: {run: [gen, s]}
  later: {run: [gen, l]}
)";

TEST(Executor, FailureModeContinueRunsTheRest) {
  Harness h(kThreeIndependent, /*slots=*/2);
  h.launcher.exit_codes["bad"] = {1};
  RunSummary s = h.Run(FailureMode::kContinue);
  EXPECT_EQ(s.status, RunStatus::kFailed);
  EXPECT_EQ(s.completed, 2);
  EXPECT_EQ(h.StatusOf("later"), "completed");
}

TEST(Executor, FailureModeStopStartsNothingNew) {
  Harness h(kThreeIndependent, /*slots=*/2);
  h.launcher.exit_codes["bad"] = {1};
  RunSummary s = h.Run(FailureMode::kStop);
  EXPECT_EQ(s.status, RunStatus::kFailed);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(s.completed, 1);
  EXPECT_EQ(s.skipped, 1);
  // bad and slow ran at once; bad failed first; slow was left to finish; later never started.
  EXPECT_EQ(h.launcher.log, (V{"start bad#1", "start slow#1", "exit bad#1 1", "exit slow#1 0"}));
  EXPECT_EQ(h.StatusOf("slow"), "completed");
  auto later = h.Rows("later");
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].status, StepStatus::kSkipped);
  EXPECT_EQ(later[0].reason, "not started: the run is stopping after step 'bad' failed (failure_mode: stop)");
}

TEST(Executor, FailureModeFailFastCancelsRunningSteps) {
  Harness h(kThreeIndependent, /*slots=*/2);
  h.launcher.exit_codes["bad"] = {1};
  h.launcher.hang = {"slow"};
  RunSummary s = h.Run(FailureMode::kFailFast);
  EXPECT_EQ(s.status, RunStatus::kFailed);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(s.stopped, 1);
  EXPECT_EQ(s.skipped, 1);
  EXPECT_EQ(s.completed, 0);
  EXPECT_EQ(h.launcher.log, (V{"start bad#1", "start slow#1", "exit bad#1 1", "cancel-all", "stopped slow#1"}));
  auto slow = h.Rows("slow");
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_EQ(slow[0].status, StepStatus::kStopped);
  // It says what ended it.
  EXPECT_EQ(slow[0].reason, "terminated: step 'bad' failed (failure_mode: fail_fast)");
  EXPECT_EQ(h.StatusOf("later"), "skipped");
  EXPECT_EQ(h.observer.events, (V{"run-start", "start bad#1", "start slow#1", "end bad#1 failed",
                                  "end later#1 skipped", "end slow#1 stopped", "run-end failed"}));
}

TEST(Executor, FailFastAlsoCancelsWhenAStepCannotBeScheduled) {
  // Found as a bug (the unsatisfiable branch halted without Launcher::CancelAll); fixed.
  Harness h(R"(name: x
steps:
  slow: {run: [gen, s]}
  train: {run: [gen, t], resources: {gpu: 1}}
)");
  h.launcher.hang = {"slow"};
  RunSummary s = h.Run(FailureMode::kFailFast);
  EXPECT_EQ(s.status, RunStatus::kFailed);
  EXPECT_EQ(h.StatusOf("train"), "failed");
  EXPECT_EQ(h.StatusOf("slow"), "stopped");
}

TEST(Executor, InterruptStopsTheRun) {
  Harness h(R"(name: x
steps:
  a: {run: [gen, a], outputs: [o]}
  b: {run: [gen, b]}
  c: {run: [gen, c], inputs: {x: a.o}}
)");
  h.launcher.interrupt_at_wait = 0;  // Ctrl-C while a and b run
  RunSummary s = h.Run();
  EXPECT_EQ(s.status, RunStatus::kStopped);
  EXPECT_EQ(s.reason, "stopped by signal SIGINT");
  EXPECT_EQ(s.stopped, 2);
  EXPECT_EQ(s.skipped, 1);
  EXPECT_EQ(s.completed, 0);
  EXPECT_EQ(h.launcher.log, (V{"start a#1", "start b#1", "interrupt", "cancel-all", "stopped a#1", "stopped b#1"}));
  EXPECT_EQ(h.StatusOf("a"), "stopped");
  EXPECT_EQ(h.StatusOf("b"), "stopped");
  auto c = h.Rows("c");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].status, StepStatus::kSkipped);
  EXPECT_EQ(c[0].reason, "not started: the run was stopped");
  EXPECT_TRUE(h.StepsWithArtifacts().empty()) << "a stopped step registers no outputs";
  EXPECT_EQ(h.observer.events.back(), "run-end stopped");
}

TEST(Executor, InterruptDuringARetryDelay) {
  Harness h(R"(name: x
steps:
  flaky: {run: [gen, f], outputs: [o], retries: {max: 3, delay: 10s}}
  next: {run: [gen, n], inputs: {x: flaky.o}}
)");
  h.launcher.exit_codes["flaky"] = {1};
  h.launcher.interrupt_at_wait = 1;  // the wait for the 10s retry delay
  int64_t t0 = h.clock.MonotonicMicros();
  RunSummary s = h.Run();
  EXPECT_LT(h.clock.MonotonicMicros() - t0, 10'000'000) << "the run did not wait out the delay";
  EXPECT_EQ(s.status, RunStatus::kStopped);
  EXPECT_EQ(s.failed, 1) << "the last attempt's failure stands";
  EXPECT_EQ(s.skipped, 1);
  EXPECT_EQ(h.Rows("flaky").size(), 1u);
  EXPECT_EQ(h.StatusOf("next"), "skipped");
}

TEST(Executor, RunTimeoutCancelsEverything) {
  Harness h(R"(name: x
steps:
  stuck: {run: [gen, s], outputs: [o]}
  next: {run: [gen, n], inputs: {x: stuck.o}}
)");
  h.launcher.hang = {"stuck"};
  int64_t t0 = h.clock.MonotonicMicros();
  RunSummary s = h.Run(FailureMode::kContinue, /*run_timeout_us=*/50'000);
  EXPECT_EQ(s.status, RunStatus::kFailed);
  EXPECT_EQ(s.reason, "the run timed out after 50ms");
  EXPECT_EQ(h.clock.MonotonicMicros() - t0, 50'000) << "the run stopped at its timeout";
  EXPECT_EQ(h.StatusOf("stuck"), "stopped");
  auto stuck = h.Rows("stuck");
  ASSERT_EQ(stuck.size(), 1u);
  EXPECT_EQ(stuck[0].reason, "terminated: the run timed out after 50ms")
      << "a step ended by the run's timeout does not say it was stopped";
  auto next = h.Rows("next");
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].reason, "not started: the run timed out after 50ms");
}

TEST(Executor, ObserverSeesEveryStepExactlyOnceToTheEnd) {
  Harness h(R"(name: x
steps:
  a: {run: [gen, a], outputs: [o], retries: 1}
  b: {run: [gen, b], inputs: {x: a.o}}
  c: {run: [gen, c]}
)", /*slots=*/1);
  h.launcher.exit_codes["a"] = {7, 0};
  h.launcher.exit_codes["c"] = {2};
  RunSummary s = h.Run();
  // a heads the longer path so it starts first; c backfills the slot during a's retry.
  EXPECT_EQ(h.observer.events, (V{"run-start", "start a#1", "end a#1 failed retry", "start c#1",
                                  "end c#1 failed", "start a#2", "end a#2 completed", "start b#1",
                                  "end b#1 completed", "run-end failed"}));
  EXPECT_EQ(s.completed, 2);
  EXPECT_EQ(s.failed, 1);
}

}  // namespace
}  // namespace baton
