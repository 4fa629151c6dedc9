// End-to-end tests of the commands that let a workspace shrink: `runs delete`, `artifacts gc`
// (also while a run is in progress), and the labels people put on runs (tags, notes), with the
// real baton binary.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace baton::testing {
namespace {

using Json = nlohmann::json;

// const writes the same bytes in every run (a cache hit after the first); vary depends on x.
constexpr const char* kPipeline = R"(name: gcdemo
parameters:
  x: 1
steps:
  const:
    run: echo same > {{outputs.out}}
    outputs: [out]
  vary:
    run: (echo "x={{params.x}}"; cat {{inputs.in}}) > {{outputs.out}}
    inputs: {in: const.out}
    outputs: [out]
)";

Json Baton(const std::string& cwd, std::vector<std::string> args) {
  args.push_back("-o");
  args.push_back("json");
  return JsonOf(cwd, args);
}

std::string StartRun(const std::string& cwd, const std::string& pipeline,
                     const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"run", pipeline, "-q", "-o", "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = RunBaton(cwd, args);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  Json j = Json::parse(r.out, nullptr, false);
  return j.is_object() ? j.value("run", "") : "";
}

// The digests ("<hex>") a run's steps output.
std::set<std::string> DigestsOf(const std::string& cwd, const std::string& run) {
  std::set<std::string> out;
  for (const auto& a : Baton(cwd, {"artifacts", "list", "--run", run}))
    out.insert(a.value("digest", "").substr(7));
  return out;
}

// The objects in the workspace's local artifact store, by the files and trees under sha256/.
std::set<std::string> ObjectsOnDisk(const std::string& cwd) {
  auto r = RunShell(cwd, "ls .baton/artifacts/sha256/*/ 2>/dev/null | grep -E '^[0-9a-f]{64}$'");
  std::set<std::string> out;
  size_t start = 0;
  while (start < r.out.size()) {
    size_t end = r.out.find('\n', start);
    if (end == std::string::npos) end = r.out.size();
    if (end > start) out.insert(r.out.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::set<std::string> Removed(const Json& gc) {
  std::set<std::string> out;
  for (const auto& store : gc["stores"])
    for (const auto& o : store["removed"]) out.insert(o.value("digest", "").substr(7));
  return out;
}

// Every artifact of the run exports, and the exported bytes hash to the recorded digest.
void ExpectExportsVerified(const std::string& cwd, const std::string& run) {
  for (const auto& a : Baton(cwd, {"artifacts", "list", "--run", run})) {
    const std::string id = std::to_string(a.value("id", -1LL));
    const std::string dest = cwd + "/export-" + run + "-" + id;
    auto r = RunBaton(cwd, {"artifacts", "export", id, dest});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    auto sum = RunShell(cwd, "sha256sum '" + dest + "' | cut -d' ' -f1");
    EXPECT_EQ("sha256:" + sum.out.substr(0, 64), a.value("digest", "")) << run << " #" << id;
  }
}

TEST(CliGc, DeletingRunsThenGcShrinksTheStoreByExactlyWhatNoKeptRunUses) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  d.Write("p.yaml", kPipeline);
  const std::string r1 = StartRun(d.path(), "p.yaml", {"-p", "x=1"});
  const std::string r2 = StartRun(d.path(), "p.yaml", {"-p", "x=2"});
  const std::string r3 = StartRun(d.path(), "p.yaml", {"-p", "x=3"});
  const auto d1 = DigestsOf(d.path(), r1), d2 = DigestsOf(d.path(), r2),
             d3 = DigestsOf(d.path(), r3);
  ASSERT_EQ(d1.size(), 2u);
  const auto before = ObjectsOnDisk(d.path());
  ASSERT_EQ(before.size(), 4u);  // "same" once, and vary's three outputs

  // r2 and r3 reuse r1's const output from the cache: r1 cannot go while they stay. Named runs
  // go newest first, so r2 is deleted before r1 is refused.
  auto refused = RunBaton(d.path(), {"runs", "delete", r1, r2});
  EXPECT_NE(refused.exit_code, 0) << Describe(refused);
  EXPECT_NE(refused.err.find("run " + r1 + " produced artifacts that run " + r3), std::string::npos)
      << refused.err;
  EXPECT_NE(refused.out.find("deleted " + r2), std::string::npos) << refused.out;
  auto left = Baton(d.path(), {"runs", "list"});
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].value("id", ""), r3);
  EXPECT_EQ(left[1].value("id", ""), r1);
  EXPECT_FALSE(RunShell(d.path(), "test -e .baton/logs/" + r2).exit_code == 0)
      << "its logs went too";
  EXPECT_EQ(RunShell(d.path(), "test -e .baton/logs/" + r1).exit_code, 0);

  // What only r2 used is garbage now; a dry run names it and removes nothing.
  std::set<std::string> garbage;
  for (const auto& g : d2)
    if (!d1.count(g) && !d3.count(g)) garbage.insert(g);
  ASSERT_EQ(garbage.size(), 1u);
  Json dry = Baton(d.path(), {"artifacts", "gc", "--dry-run"});
  EXPECT_EQ(Removed(dry), garbage);
  EXPECT_EQ(ObjectsOnDisk(d.path()), before);
  Json gc = Baton(d.path(), {"artifacts", "gc"});
  EXPECT_EQ(Removed(gc), garbage);
  std::set<std::string> expected;
  for (const auto& o : before)
    if (!garbage.count(o)) expected.insert(o);
  EXPECT_EQ(ObjectsOnDisk(d.path()), expected);
  EXPECT_EQ(gc["stores"][0].value("referenced", -1), 3);
  ExpectExportsVerified(d.path(), r1);
  ExpectExportsVerified(d.path(), r3);
  EXPECT_TRUE(Removed(Baton(d.path(), {"artifacts", "gc"})).empty()) << "a second gc has nothing";

  // A filter takes the rest, newest first, and gc then empties the store.
  auto all = RunBaton(d.path(), {"runs", "delete", "--pipeline", "gcdemo"});
  EXPECT_EQ(all.exit_code, 0) << Describe(all);
  EXPECT_TRUE(Baton(d.path(), {"runs", "list"}).empty());
  Json last = Baton(d.path(), {"artifacts", "gc"});
  EXPECT_EQ(Removed(last), expected);
  EXPECT_TRUE(ObjectsOnDisk(d.path()).empty());
  // The workspace still runs: the cache entries went with the runs.
  const std::string r4 = StartRun(d.path(), "p.yaml", {"-p", "x=1"});
  ExpectExportsVerified(d.path(), r4);
}

TEST(CliGc, DeleteRefusesBadRequestsAndRunsInProgress) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  d.Write("p.yaml", kPipeline);
  const std::string r1 = StartRun(d.path(), "p.yaml");
  auto none = RunBaton(d.path(), {"runs", "delete"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("give the runs to delete, or a filter"), std::string::npos) << none.err;
  auto both = RunBaton(d.path(), {"runs", "delete", r1, "--status", "failed"});
  EXPECT_EQ(both.exit_code, 2) << Describe(both);
  auto bad = RunBaton(d.path(), {"runs", "delete", "--older-than", "soon"});
  EXPECT_EQ(bad.exit_code, 2) << Describe(bad);
  auto unknown = RunBaton(d.path(), {"runs", "delete", r1, "nosuch"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_EQ(Baton(d.path(), {"runs", "list"}).size(), 1u) << "nothing goes when one name is wrong";
  // Older than a day: nothing yet.
  auto old = RunBaton(d.path(), {"runs", "delete", "--older-than", "1d"});
  EXPECT_EQ(old.exit_code, 0) << Describe(old);
  EXPECT_NE(old.out.find("deleted 0 runs"), std::string::npos) << old.out;

  // A run in progress stays, named or selected.
  d.Write("slow.yaml", "name: slow\nsteps:\n  wait:\n    run: sleep 30\n");
  const pid_t pid =
      SpawnBaton(d.path(), {"run", "slow.yaml", "-q"}, d.path() + "/out", d.path() + "/err");
  ASSERT_GT(pid, 0);
  std::string running;
  for (int i = 0; i < 200 && running.empty(); ++i) {
    for (const auto& r : Baton(d.path(), {"runs", "list", "--status", "running"}))
      running = r.value("id", "");
    if (running.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(running.empty());
  auto named = RunBaton(d.path(), {"runs", "delete", running});
  EXPECT_NE(named.exit_code, 0);
  EXPECT_NE(named.err.find("is running; stop it first"), std::string::npos) << named.err;
  auto filtered = RunBaton(d.path(), {"runs", "delete", "--pipeline", "slow"});
  EXPECT_EQ(filtered.exit_code, 0) << Describe(filtered);
  EXPECT_NE(filtered.out.find("kept " + running), std::string::npos) << filtered.out;
  EXPECT_EQ(RunBaton(d.path(), {"runs", "stop", running}).exit_code, 0);
  WaitExit(pid);
  EXPECT_EQ(RunBaton(d.path(), {"runs", "delete", running}).exit_code, 0);
}

// b waits for a gate file, so that the run is in progress while gc runs.
constexpr const char* kGatedPipeline = R"(name: gated
parameters:
  x: 1
  gate: /nonexistent
steps:
  a:
    run: echo "a={{params.x}}" > {{outputs.out}}
    outputs: [out]
  b:
    run: for i in $(seq 600); do test -e {{params.gate}} && break; sleep 0.1; done; (cat {{inputs.in}}; echo b) > {{outputs.out}}
    inputs: {in: a.out}
    outputs: [out]
)";

TEST(CliGc, GcDuringARunRemovesOldGarbageAndNothingThatRunUses) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  d.Write("p.yaml", kGatedPipeline);
  d.Write("open", "");
  const std::string r1 =
      StartRun(d.path(), "p.yaml", {"-p", "x=1", "-p", "gate=" + d.path() + "/open"});
  const auto old_objects = DigestsOf(d.path(), r1);
  ASSERT_EQ(old_objects.size(), 2u);
  ASSERT_EQ(RunBaton(d.path(), {"runs", "delete", r1}).exit_code, 0);
  // r1's objects were stored two hours ago, long before the next run.
  ASSERT_EQ(RunShell(d.path(), "touch -h -d '2 hours ago' .baton/artifacts/sha256/*/*").exit_code,
            0);

  const std::string gate = d.path() + "/gate";
  const pid_t pid = SpawnBaton(d.path(), {"run", "p.yaml", "-q", "-p", "x=2", "-p", "gate=" + gate},
                               d.path() + "/out", d.path() + "/err");
  ASSERT_GT(pid, 0);
  // Wait until a is recorded and b runs.
  std::string r2;
  for (int i = 0; i < 400; ++i) {
    Json runs = Baton(d.path(), {"runs", "list", "--status", "running"});
    if (!runs.empty()) {
      r2 = runs[0].value("id", "");
      Json show = Baton(d.path(), {"runs", "show", r2});
      bool a_done = false, b_running = false;
      for (const auto& s : show["steps"]) {
        if (s.value("step", "") == "a" && s.value("status", "") == "completed") a_done = true;
        if (s.value("step", "") == "b" && s.value("status", "") == "running") b_running = true;
      }
      if (a_done && b_running) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(r2.empty());
  const auto in_use = DigestsOf(d.path(), r2);
  ASSERT_EQ(in_use.size(), 1u);  // a's output, which b reads

  Json gc = Baton(d.path(), {"artifacts", "gc"});
  EXPECT_EQ(gc["in_progress"], Json::array({r2}));
  EXPECT_EQ(Removed(gc), old_objects);
  for (const auto& digest : in_use) EXPECT_FALSE(Removed(gc).count(digest));

  d.Write("gate", "");
  EXPECT_EQ(WaitExit(pid), 0) << ReadFileOrDie(d.path() + "/err");
  EXPECT_EQ(Baton(d.path(), {"runs", "show", r2}).value("status", ""), "completed");
  ExpectExportsVerified(d.path(), r2);
}

TEST(CliRunLabels, TagsAndNotesAreSetListedFilteredAndShown) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  d.Write("p.yaml", kPipeline);
  const std::string r1 = StartRun(d.path(), "p.yaml", {"-p", "x=1"});
  const std::string r2 = StartRun(d.path(), "p.yaml", {"-p", "x=2"});
  ASSERT_EQ(RunBaton(d.path(), {"runs", "tag", r1, "baseline", "lr=0.1"}).exit_code, 0);
  ASSERT_EQ(RunBaton(d.path(), {"runs", "tag", r2, "candidate"}).exit_code, 0);
  auto tagged = Baton(d.path(), {"runs", "list", "--tag", "baseline"});
  ASSERT_EQ(tagged.size(), 1u);
  EXPECT_EQ(tagged[0].value("id", ""), r1);
  EXPECT_EQ(tagged[0]["tags"], Json::array({"baseline", "lr=0.1"}));
  EXPECT_TRUE(Baton(d.path(), {"runs", "list", "--tag", "baseline", "--tag", "candidate"}).empty());
  auto table = RunBaton(d.path(), {"runs", "list"});
  EXPECT_NE(table.out.find("baseline,lr=0.1"), std::string::npos) << table.out;

  auto spaced = RunBaton(d.path(), {"runs", "tag", r1, "two words"});
  EXPECT_EQ(spaced.exit_code, 2) << Describe(spaced);
  auto missing = RunBaton(d.path(), {"runs", "tag", r1, "--remove", "baselin"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("did you mean 'baseline'"), std::string::npos) << missing.err;
  ASSERT_EQ(RunBaton(d.path(), {"runs", "tag", r1, "--remove", "baseline"}).exit_code, 0);
  EXPECT_EQ(Baton(d.path(), {"runs", "show", r1})["tags"], Json::array({"lr=0.1"}));

  ASSERT_EQ(RunBaton(d.path(), {"runs", "note", r1, "kept: best accuracy so far"}).exit_code, 0);
  EXPECT_EQ(RunBaton(d.path(), {"runs", "note", r1}).out, "kept: best accuracy so far\n");
  EXPECT_EQ(Baton(d.path(), {"runs", "show", r1}).value("note", ""), "kept: best accuracy so far");
  EXPECT_NE(RunBaton(d.path(), {"runs", "show", r1}).out.find("note:         kept: best"),
            std::string::npos);
  ASSERT_EQ(RunBaton(d.path(), {"runs", "note", r1, "--clear"}).exit_code, 0);
  EXPECT_EQ(Baton(d.path(), {"runs", "show", r1}).value("note", "x"), "");
  // Tags and a note given to `baton run`.
  auto given =
      RunBaton(d.path(), {"run", "p.yaml", "-q", "--tag", "nightly", "--note", "from cron"});
  ASSERT_EQ(given.exit_code, 0) << Describe(given);
  Json shown = Baton(d.path(), {"runs", "show", "last"});
  EXPECT_EQ(shown["tags"], Json::array({"nightly"}));
  EXPECT_EQ(shown.value("note", ""), "from cron");
  auto refused = RunBaton(d.path(), {"run", "p.yaml", "--tag", "bad tag"});
  EXPECT_EQ(refused.exit_code, 2) << Describe(refused);
  EXPECT_EQ(Baton(d.path(), {"runs", "list"}).size(), 3u) << "a refused tag runs nothing";
  ASSERT_EQ(RunBaton(d.path(), {"runs", "delete", "--tag", "nightly"}).exit_code, 0);
  // Deleting by tag.
  ASSERT_EQ(RunBaton(d.path(), {"runs", "delete", "--tag", "candidate"}).exit_code, 0);
  EXPECT_EQ(Baton(d.path(), {"runs", "list"}).size(), 1u);
}

// A run started with --no-cache keeps running without the cache when resumed.
TEST(CliRunLabels, ResumeKeepsNoCache) {
  TempDir d;
  ASSERT_EQ(RunBaton(d.path(), {"init"}).exit_code, 0);
  d.Write("p.yaml", R"(name: nc
parameters:
  gate: /nonexistent
steps:
  a:
    run: echo a > {{outputs.out}}
    outputs: [out]
  b:
    run: test -e {{params.gate}} && cat {{inputs.in}} > {{outputs.out}}
    inputs: {in: a.out}
    outputs: [out]
)");
  d.Write("gate", "");
  const std::string gate = "gate=" + d.path() + "/gate";
  StartRun(d.path(), "p.yaml", {"-p", gate});  // fills the cache for a and b
  ASSERT_EQ(RunShell(d.path(), "mv gate gone").exit_code, 0);
  auto failed = RunBaton(d.path(), {"run", "p.yaml", "-q", "--no-cache", "-p", gate});
  ASSERT_EQ(failed.exit_code, 1) << Describe(failed);
  Json run = Baton(d.path(), {"runs", "show", "last"});
  EXPECT_EQ(run.value("use_cache", true), false);
  ASSERT_EQ(RunShell(d.path(), "mv gone gate").exit_code, 0);
  auto resumed = RunBaton(d.path(), {"runs", "resume", "last", "-o", "json"});
  ASSERT_EQ(resumed.exit_code, 0) << Describe(resumed);
  Json after = Baton(d.path(), {"runs", "show", "last"});
  std::string b_status;
  for (const auto& s : after["steps"])
    if (s.value("step", "") == "b") b_status = s.value("status", "");
  EXPECT_EQ(b_status, "completed") << "b ran again instead of reusing the first run's result";
  EXPECT_NE(RunBaton(d.path(), {"runs", "show", "last"}).out.find("cache:        off"),
            std::string::npos);
}

}  // namespace
}  // namespace baton::testing
