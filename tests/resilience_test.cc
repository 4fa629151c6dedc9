// Resilience tests of the real baton binary: SIGKILL of `baton run` at random points (store
// consistency, orphaned steps, resume), a full disk (small tmpfs or loop-mounted ext4), and many
// concurrent `baton run` processes on one workspace.
//
// Environment:
//   BATON_CRASH_ITERATIONS  number of kill/resume rounds of the crash test (default 12)
//   BATON_CRASH_SEED        seed of the PRNG choosing the kill points (default: from the clock;
//                           the seed is printed so a failure can be replayed)
//   BATON_TEST_FS=ext4      use the loop-mounted ext4 image even where tmpfs could be mounted

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

extern char** environ;

namespace baton::testing {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

Json ParseJson(const CommandResult& r) {
  Json j = Json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON:\n" << Describe(r);
  return j.is_discarded() ? Json() : j;
}

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool IsRegular(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool IsDirectory(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// ---------------------------------------------------------------------------------------------
// Processes.

// Starts the baton binary in `cwd`, in a process group of its own, with stdout and stderr sent to
// files. Returns the pid (or -1).
struct ProcInfo {
  pid_t pid = 0;
  pid_t pgrp = 0;
  char state = '?';
  std::string cmdline;
};

// Every live (non-zombie) process, from /proc.
std::vector<ProcInfo> LiveProcesses() {
  std::vector<ProcInfo> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    std::string base = std::string("/proc/") + e->d_name;
    FILE* f = std::fopen((base + "/stat").c_str(), "r");
    if (!f) continue;
    char buf[4096];
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = 0;
    const char* close = std::strrchr(buf, ')');
    if (!close) continue;
    ProcInfo p;
    p.pid = static_cast<pid_t>(std::atoi(e->d_name));
    int ppid = 0, pgrp = 0;
    if (std::sscanf(close + 2, "%c %d %d", &p.state, &ppid, &pgrp) != 3) continue;
    p.pgrp = pgrp;
    if (p.state == 'Z' || p.state == 'X') continue;
    f = std::fopen((base + "/cmdline").c_str(), "r");
    if (f) {
      std::string cmd;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) cmd.append(buf, n);
      std::fclose(f);
      for (char& c : cmd)
        if (c == 0) c = ' ';
      p.cmdline = cmd;
    }
    out.push_back(p);
  }
  ::closedir(d);
  return out;
}

// Live processes whose command line holds `marker`, or that belong to one of `groups`.
std::vector<ProcInfo> MarkedProcesses(const std::string& marker, const std::set<pid_t>& groups = {}) {
  std::vector<ProcInfo> out;
  for (auto& p : LiveProcesses())
    if (p.pid != ::getpid() && (p.cmdline.find(marker) != std::string::npos || groups.count(p.pgrp)))
      out.push_back(p);
  return out;
}

std::string Show(const std::vector<ProcInfo>& ps) {
  std::string s;
  for (const auto& p : ps)
    s += "  pid " + std::to_string(p.pid) + " pgrp " + std::to_string(p.pgrp) + " state " + p.state + ": " +
         p.cmdline + "\n";
  return s;
}

// `pgrep -f` for `marker` (a string of letters and digits); the first character is bracketed so
// that the shell running pgrep does not match itself.
std::string Pgrep(const std::string& marker) {
  auto r = RunShell("/", "pgrep -af '[" + marker.substr(0, 1) + "]" + marker.substr(1) + "' || true");
  return Trim(r.out);
}

// ---------------------------------------------------------------------------------------------
// The metadata store, opened read-only.

class Db {
 public:
  explicit Db(const std::string& path) {
    rc_ = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr);
    if (rc_ == SQLITE_OK) sqlite3_busy_timeout(db_, 10000);
  }
  ~Db() {
    if (db_) sqlite3_close_v2(db_);
  }
  bool ok() const { return rc_ == SQLITE_OK; }
  std::string error() const { return db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc_); }

  // Every row of `sql`, each column as text ("" for NULL); sets *err on failure.
  std::vector<std::vector<std::string>> Rows(const std::string& sql, std::string* err = nullptr) {
    std::vector<std::vector<std::string>> rows;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      if (err) *err = sql + ": " + sqlite3_errmsg(db_);
      return rows;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        auto* t = sqlite3_column_text(st, i);
        row.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
      }
      rows.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE && err) *err = sql + ": " + sqlite3_errmsg(db_);
    sqlite3_finalize(st);
    return rows;
  }
  std::string Scalar(const std::string& sql) {
    std::string err;
    auto rows = Rows(sql, &err);
    EXPECT_TRUE(err.empty()) << err;
    return rows.empty() || rows[0].empty() ? "" : rows[0][0];
  }

 private:
  sqlite3* db_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

std::string ObjectPath(const std::string& ws, const std::string& digest) {
  return ws + "/.baton/artifacts/sha256/" + digest.substr(0, 2) + "/" + digest;
}

// sha256sum of each file, in one call: path -> hex digest.
std::map<std::string, std::string> Sha256Sum(const std::vector<std::string>& files) {
  std::map<std::string, std::string> out;
  for (size_t b = 0; b < files.size(); b += 200) {
    std::string cmd = "sha256sum --";
    for (size_t i = b; i < files.size() && i < b + 200; ++i) cmd += " '" + files[i] + "'";
    auto r = RunShell("/", cmd);
    std::istringstream in(r.out);
    std::string digest, path;
    while (in >> digest >> path) out[path] = digest;
  }
  return out;
}

// Store consistency, with no baton running: integrity_check ok, foreign keys hold, no run or step
// run left 'running', and every artifact a completed (or cached) step run output is in the store
// with content matching its digest. Returns the number of artifacts verified.
size_t CheckStore(const std::string& ws, const std::string& when) {
  SCOPED_TRACE("store check " + when);
  Db db(ws + "/.baton/baton.db");
  EXPECT_TRUE(db.ok()) << db.error();
  if (!db.ok()) return 0;
  std::string err;
  auto integrity = db.Rows("PRAGMA integrity_check", &err);
  EXPECT_TRUE(err.empty()) << err;
  EXPECT_EQ(integrity.size(), 1u);
  if (!integrity.empty()) {
    EXPECT_EQ(integrity[0][0], "ok");
  }
  auto fk = db.Rows("PRAGMA foreign_key_check", &err);
  EXPECT_TRUE(fk.empty()) << fk.size() << " foreign key violations, first in table " << fk[0][0];
  auto running_steps = db.Rows("SELECT run_id, step, attempt FROM step_runs WHERE status = 'running'", &err);
  EXPECT_TRUE(err.empty()) << err;
  for (const auto& r : running_steps)
    ADD_FAILURE() << "step run " << r[1] << " attempt " << r[2] << " of run " << r[0] << " is still 'running'";
  auto running_runs = db.Rows("SELECT id FROM runs WHERE status = 'running'", &err);
  for (const auto& r : running_runs) ADD_FAILURE() << "run " << r[0] << " is still 'running'";

  auto arts = db.Rows(
      "SELECT DISTINCT a.digest, a.kind, a.id FROM step_outputs o JOIN step_runs s ON s.id = o.step_run_id "
      "JOIN artifacts a ON a.id = o.artifact_id WHERE s.status IN ('completed', 'cached')",
      &err);
  EXPECT_TRUE(err.empty()) << err;
  std::map<std::string, std::string> files;  // path -> expected digest
  for (const auto& a : arts) {
    const std::string& digest = a[0];
    EXPECT_EQ(digest.size(), 64u) << "artifact #" << a[2] << " has digest '" << digest << "'";
    if (digest.size() != 64) continue;
    std::string path = ObjectPath(ws, digest);
    if (a[1] == "dir") {
      EXPECT_TRUE(IsDirectory(path)) << "artifact #" << a[2] << " (dir) missing from the store: " << path;
    } else {
      EXPECT_EQ(a[1], "file") << "artifact #" << a[2];
      EXPECT_TRUE(IsRegular(path)) << "artifact #" << a[2] << " (file) missing from the store: " << path;
      if (IsRegular(path)) files[path] = digest;
    }
  }
  std::vector<std::string> paths;
  for (const auto& [p, d] : files) paths.push_back(p);
  auto sums = Sha256Sum(paths);
  for (const auto& [p, d] : files) EXPECT_EQ(sums[p], d) << "content of " << p << " does not match its digest";
  return arts.size();
}

// ---------------------------------------------------------------------------------------------
// `runs` helpers.

Json ListRuns(const std::string& ws, CommandResult* raw = nullptr) {
  auto r = RunBaton(ws, {"runs", "list", "-n", "0", "-o", "json"});
  if (raw) *raw = r;
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  Json j = ParseJson(r);
  EXPECT_TRUE(j.is_array()) << r.out;
  return j.is_array() ? j : Json::array();
}

Json ShowRun(const std::string& ws, const std::string& run) {
  auto r = RunBaton(ws, {"runs", "show", run, "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return ParseJson(r);
}

// The latest step-run entry of `step` in a `runs show -o json` document (null if none).
Json LatestStep(const Json& run, const std::string& step) {
  Json found;
  if (run.contains("steps"))
    for (const auto& s : run["steps"])
      if (s.value("step", "") == step) found = s;
  return found;
}

// Content of an artifact, canonically: a file's bytes; for a directory, every entry and every
// file's bytes, in sorted order.
std::string ArtifactContent(const std::string& path) {
  if (IsRegular(path)) return ReadFileOrDie(path);
  auto r = RunShell(path,
                    "find . | LC_ALL=C sort | while IFS= read -r f; do "
                    "if [ -f \"$f\" ]; then echo \"== file $f\"; cat \"$f\"; else echo \"== dir $f\"; fi; done");
  return r.out;
}

// ---------------------------------------------------------------------------------------------
// 1. SIGKILL of `baton run` at random points.

struct StepDef {
  std::string name;
  std::string body;                                          // shell, after the marker
  std::vector<std::pair<std::string, std::string>> inputs;  // name -> producer.output
  std::string output;                                        // one output per step
};

// A DAG of 30 steps: fan-out from `src`, directory outputs, fan-in down to two leaves, plus one
// slow independent leaf. Every command starts with ": MARKER STEP" (MARKER is the `marker`
// parameter), so the processes of one run can be found by their command lines; the marker is not
// written into any output, so the outputs of every run are the same.
std::vector<StepDef> CrashSteps() {
  std::vector<StepDef> s;
  s.push_back({"src", "echo seed-data > {{outputs.out}}", {}, "out"});
  for (int i = 1; i <= 8; ++i) {
    std::string sl = i % 3 == 0 ? "sleep 0.02; " : "";
    s.push_back({"g" + std::to_string(i), sl + "{ cat {{inputs.in}}; echo g" + std::to_string(i) + "; } > {{outputs.out}}",
                 {{"in", "src.out"}}, "out"});
  }
  for (int k = 1; k <= 4; ++k) {
    std::string ks = std::to_string(k);
    s.push_back({"d" + ks,
                 "mkdir -p {{outputs.dir}}/sub && cat {{inputs.a}} > {{outputs.dir}}/a.txt && "
                 "cat {{inputs.b}} > {{outputs.dir}}/sub/b.txt && echo d" + ks + " > {{outputs.dir}}/name",
                 {{"a", "g" + std::to_string(2 * k - 1) + ".out"}, {"b", "g" + std::to_string(2 * k) + ".out"}},
                 "dir"});
  }
  for (int i = 1; i <= 8; ++i) {
    std::string is = std::to_string(i);
    std::string sl = i % 3 == 2 ? "sleep 0.03; " : "";
    s.push_back({"h" + is,
                 sl + "{ cat {{inputs.d}}/a.txt {{inputs.d}}/sub/b.txt | sha256sum; echo h" + is + "; } > {{outputs.out}}",
                 {{"d", "d" + std::to_string((i + 1) / 2) + ".dir"}}, "out"});
  }
  for (int k = 1; k <= 4; ++k) {
    std::string sl = k == 1 ? "sleep 0.02; " : "";
    s.push_back({"j" + std::to_string(k), sl + "cat {{inputs.x}} {{inputs.y}} > {{outputs.out}}",
                 {{"x", "h" + std::to_string(2 * k - 1) + ".out"}, {"y", "h" + std::to_string(2 * k) + ".out"}}, "out"});
  }
  s.push_back({"m1", "cat {{inputs.x}} {{inputs.y}} | sha256sum > {{outputs.out}}", {{"x", "j1.out"}, {"y", "j2.out"}}, "out"});
  s.push_back({"m2", "cat {{inputs.x}} {{inputs.y}} | sha256sum > {{outputs.out}}", {{"x", "j3.out"}, {"y", "j4.out"}}, "out"});
  s.push_back({"final", "cat {{inputs.x}} {{inputs.y}} > {{outputs.out}}", {{"x", "m1.out"}, {"y", "m2.out"}}, "out"});
  s.push_back({"final_dir",
               "mkdir -p {{outputs.dir}}/nested && cat {{inputs.x}} > {{outputs.dir}}/m1 && "
               "cat {{inputs.y}} > {{outputs.dir}}/nested/m2 && cat {{inputs.d}}/a.txt > {{outputs.dir}}/d1a",
               {{"x", "m1.out"}, {"y", "m2.out"}, {"d", "d1.dir"}}, "dir"});
  s.push_back({"slow", "sleep 0.4; cat {{inputs.in}} > {{outputs.out}}", {{"in", "src.out"}}, "out"});
  return s;
}

std::string CrashPipelineYaml(const std::vector<StepDef>& steps) {
  std::string y = "name: crashy\nparameters: {marker: none}\nsteps:\n";
  for (const auto& s : steps) {
    y += "  " + s.name + ":\n";
    y += "    run: \": {{params.marker}} " + s.name + "; " + s.body + "\"\n";
    if (!s.inputs.empty()) {
      y += "    inputs: {";
      for (size_t i = 0; i < s.inputs.size(); ++i) y += (i ? ", " : "") + s.inputs[i].first + ": " + s.inputs[i].second;
      y += "}\n";
    }
    y += "    outputs: [" + s.output + "]\n";
  }
  return y;
}

// Steps whose output no other step reads.
std::vector<StepDef> Leaves(const std::vector<StepDef>& steps) {
  std::set<std::string> consumed;
  for (const auto& s : steps)
    for (const auto& [n, src] : s.inputs) consumed.insert(src.substr(0, src.find('.')));
  std::vector<StepDef> out;
  for (const auto& s : steps)
    if (!consumed.count(s.name)) out.push_back(s);
  return out;
}

// Leaf step -> canonical content of its output, for a completed run.
std::map<std::string, std::string> LeafOutputs(const std::string& ws, const std::string& run,
                                               const std::vector<StepDef>& leaves) {
  std::map<std::string, std::string> out;
  Json j = ShowRun(ws, run);
  for (const auto& leaf : leaves) {
    Json s = LatestStep(j, leaf.name);
    EXPECT_FALSE(s.is_null()) << "run " << run << " has no step " << leaf.name;
    if (s.is_null()) continue;
    std::string st = s.value("status", "");
    EXPECT_TRUE(st == "completed" || st == "cached") << leaf.name << " is " << st << ": " << s.dump();
    if (!s.contains("outputs") || !s["outputs"].contains(leaf.output)) {
      ADD_FAILURE() << leaf.name << " has no output " << leaf.output << ": " << s.dump();
      continue;
    }
    std::string digest = s["outputs"][leaf.output].value("digest", "");
    if (digest.rfind("sha256:", 0) == 0) digest = digest.substr(7);
    std::string path = ObjectPath(ws, digest);
    EXPECT_TRUE(IsRegular(path) || IsDirectory(path)) << path;
    out[leaf.name] = "digest " + digest + "\n" + ArtifactContent(path);
  }
  return out;
}

// The pid journal of a run (.baton/logs/RUN/.pids): the step processes its batons started.
std::set<pid_t> JournaledPids(const std::string& ws, const std::string& run_id) {
  std::set<pid_t> out;
  std::string path = ws + "/.baton/logs/" + run_id + "/.pids";
  if (!IsRegular(path)) return out;
  std::istringstream in(ReadFileOrDie(path));
  long pid;
  while (in >> pid) out.insert(static_cast<pid_t>(pid));
  return out;
}

int CrashIterations() {
  if (const char* e = std::getenv("BATON_CRASH_ITERATIONS"); e && *e) return std::max(0, std::atoi(e));
  return 12;
}

TEST(Resilience, SigkillDuringRunLeavesConsistentResumableStore) {
  auto t_start = Clock::now();
  TempDir d;
  TempDir io;
  const std::string ws = d.path();
  ASSERT_EQ(RunBaton(ws, {"init"}).exit_code, 0);
  auto steps = CrashSteps();
  ASSERT_EQ(steps.size(), 30u);
  auto leaves = Leaves(steps);
  ASSERT_EQ(leaves.size(), 3u);
  std::string pipeline = d.Write("crashy.yaml", CrashPipelineYaml(steps));

  uint64_t seed = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  if (const char* e = std::getenv("BATON_CRASH_SEED"); e && *e) seed = std::strtoull(e, nullptr, 10);
  std::printf("[ crash    ] seed %llu (replay with BATON_CRASH_SEED=%llu)\n", static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  char tag[16];
  std::snprintf(tag, sizeof tag, "%06llx", static_cast<unsigned long long>(seed & 0xffffff));
  const std::string marker_base = std::string("rzk") + tag;

  // Reference: two uninterrupted runs; the shorter wall time (the less disturbed by whatever else
  // the machine does) is the typical duration the kill points are drawn from.
  std::map<std::string, std::string> reference;
  double typical_s = 0;
  for (int i = 0; i < 2; ++i) {
    std::string marker = marker_base + "ref" + std::to_string(i);
    auto t0 = Clock::now();
    auto r = RunBaton(ws, {"run", pipeline, "-j", "2", "-o", "json", "-p", "marker=" + marker});
    typical_s = i == 0 ? SecondsSince(t0) : std::min(typical_s, SecondsSince(t0));
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    Json j = ParseJson(r);
    ASSERT_EQ(j.value("status", ""), "completed") << r.out;
    ASSERT_EQ(j.value("completed", 0), 30) << r.out;  // the marker makes every run's cache keys new
    auto outs = LeafOutputs(ws, j.value("run", ""), leaves);
    if (i == 0) reference = outs;
    else EXPECT_EQ(outs, reference) << "two uninterrupted runs disagree";
  }
  ASSERT_EQ(reference.size(), leaves.size());
  std::printf("[ crash    ] typical run: %.3f s\n", typical_s);
  CheckStore(ws, "after the reference runs");

  int iterations = CrashIterations();
  int interrupted = 0, finished_before_kill = 0, not_recorded = 0, orphans_seen = 0;
  std::uniform_real_distribution<double> when(0.0, typical_s);
  for (int it = 0; it < iterations; ++it) {
    const std::string marker = marker_base + "i" + std::to_string(it);
    double kill_after = when(rng);
    SCOPED_TRACE("iteration " + std::to_string(it) + ", marker " + marker + ", kill after " +
                 std::to_string(kill_after) + " s (seed " + std::to_string(seed) + ")");
    std::set<std::string> before;
    for (const auto& r : ListRuns(ws)) before.insert(r.value("id", ""));

    std::string out = io.path() + "/run.out", err = io.path() + "/run.err";
    pid_t pid = SpawnBaton(ws, {"run", pipeline, "-j", "2", "-q", "-p", "marker=" + marker}, out, err);
    ASSERT_GT(pid, 0) << "cannot start baton";
    std::this_thread::sleep_for(std::chrono::duration<double>(kill_after));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);  // the baton process only, not its step process groups
    int code = WaitExit(pid);
    if (code != 128 + SIGKILL) {
      EXPECT_EQ(code, 0) << "baton run ended on its own, unsuccessfully\n" << ReadFileOrDie(err);
    }
    // The step processes the dead baton left behind, and their process groups.
    auto orphans = MarkedProcesses(marker);
    std::set<pid_t> groups;
    for (const auto& p : orphans) groups.insert(p.pgrp);
    orphans_seen += static_cast<int>(orphans.size());

    // The next baton command notices the dead run.
    Json runs = ListRuns(ws);
    std::string run_id, status, reason;
    for (const auto& r : runs)
      if (!before.count(r.value("id", ""))) {
        EXPECT_TRUE(run_id.empty()) << "more than one new run: " << runs.dump(2);
        run_id = r.value("id", "");
        status = r.value("status", "");
        reason = r.value("reason", "");
      }
    // No step process of the killed baton is left running after it (allowing SIGKILL delivery).
    std::vector<ProcInfo> left;
    for (int k = 0; k < 20; ++k) {
      left = MarkedProcesses(marker, groups);
      if (left.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(left.empty()) << "step processes of the killed baton still run after 'runs list':\n"
                              << Show(left) << "run " << run_id << " " << status << ": " << reason;
    if (left.empty()) {
      EXPECT_EQ(Pgrep(marker), "") << "pgrep finds processes of the killed run";
    }
    for (pid_t g : groups) ::killpg(g, SIGKILL);  // do not let a failure above leak into later rounds
    for (const auto& p : MarkedProcesses(marker)) ::killpg(p.pgrp, SIGKILL);

    CheckStore(ws, "after the kill");

    if (run_id.empty()) {
      // Killed before the run was recorded: nothing to resume.
      ++not_recorded;
      continue;
    }
    if (code != 128 + SIGKILL || status == "completed") {
      EXPECT_EQ(status, "completed") << reason;
      ++finished_before_kill;
    } else {
      EXPECT_EQ(status, "interrupted") << "the killed run shows as '" << status << "' (" << reason << ")";
      ++interrupted;
      auto r = RunBaton(ws, {"runs", "resume", run_id, "-j", "2", "-o", "json"});
      EXPECT_EQ(r.exit_code, 0) << Describe(r);
      Json j = ParseJson(r);
      EXPECT_EQ(j.value("status", ""), "completed") << r.out;
      EXPECT_EQ(Pgrep(marker), "") << "processes left after the resume";
    }
    // Every step of the run has a completed (or cached) attempt; the leaves match the reference.
    Json shown = ShowRun(ws, run_id);
    EXPECT_EQ(shown.value("status", ""), "completed") << shown.dump(2);
    for (const auto& s : steps) {
      Json last = LatestStep(shown, s.name);
      std::string st = last.is_null() ? "(none)" : last.value("status", "");
      EXPECT_TRUE(st == "completed" || st == "cached") << "step " << s.name << " of run " << run_id << " is " << st;
    }
    auto leaves_now = LeafOutputs(ws, run_id, leaves);
    for (const auto& [name, content] : reference)
      EXPECT_EQ(leaves_now[name], content) << "leaf " << name << " of run " << run_id << " differs from the reference";
    CheckStore(ws, "after the resume");
    if (::testing::Test::HasFatalFailure()) return;
  }
  std::printf("[ crash    ] %d rounds: %d interrupted and resumed, %d finished before the kill, %d killed before "
              "the run was recorded; %d orphaned step processes seen; %.1f s\n",
              iterations, interrupted, finished_before_kill, not_recorded, orphans_seen,
              SecondsSince(t_start));
}

// Many steps start at once, each running for seconds, and baton is killed while it is starting
// them: after the next baton command, none of them may run on.
TEST(Resilience, NoStepProcessOutlivesAKilledBaton) {
  TempDir d;
  TempDir io;
  const std::string ws = d.path();
  ASSERT_EQ(RunBaton(ws, {"init"}).exit_code, 0);
  std::string y = "name: many\nparameters: {marker: none}\nsteps:\n";
  for (int i = 1; i <= 40; ++i)
    y += "  s" + std::to_string(i) + ":\n    run: \": {{params.marker}} s" + std::to_string(i) +
         "; sleep 5; echo done > {{outputs.out}}\"\n    outputs: [out]\n";
  std::string pipeline = d.Write("many.yaml", y);
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> ms(5, 80);
  int leaked_rounds = 0;
  std::string first_leak;
  for (int round = 0; round < 8; ++round) {
    std::string marker = "rzo" + std::to_string(::getpid()) + "r" + std::to_string(round);
    pid_t pid = SpawnBaton(ws, {"run", pipeline, "-j", "40", "-q", "-p", "marker=" + marker}, io.path() + "/out",
                           io.path() + "/err");
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms(rng)));
    ::kill(pid, SIGKILL);
    WaitExit(pid);
    std::set<pid_t> groups;
    for (const auto& p : MarkedProcesses(marker)) groups.insert(p.pgrp);
    Json runs = ListRuns(ws);
    std::vector<ProcInfo> left;
    for (int k = 0; k < 20; ++k) {
      left = MarkedProcesses(marker, groups);
      if (left.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!left.empty()) {
      ++leaked_rounds;
      if (first_leak.empty()) {
        std::string run_id = runs.empty() ? "" : runs[0].value("id", "");
        std::string journal;
        for (pid_t p : JournaledPids(ws, run_id)) journal += " " + std::to_string(p);
        first_leak = "round " + std::to_string(round) + ", run " + run_id + ":\n" + Show(left) +
                     "pid journal:" + journal + "\nrun reason: " + (runs.empty() ? "" : runs[0].value("reason", ""));
      }
    }
    for (pid_t g : groups) ::killpg(g, SIGKILL);
    for (const auto& p : MarkedProcesses(marker)) ::killpg(p.pgrp, SIGKILL);
  }
  EXPECT_EQ(leaked_rounds, 0) << "step processes outlived their killed baton in " << leaked_rounds
                              << " of 8 rounds; first:\n" << first_leak;
  CheckStore(ws, "after the kills");
}

// ---------------------------------------------------------------------------------------------
// 2. A full disk.

// A small filesystem mounted on a fresh directory: tmpfs if mount(2) is permitted, else a
// loop-mounted ext4 image. Unmounted on destruction.
class SmallFs {
 public:
  explicit SmallFs(const std::string& parent, int mib) : dir_(parent + "/fs") {
    ::mkdir(dir_.c_str(), 0755);
    std::string opts = "size=" + std::to_string(mib) + "m";
    const char* force = std::getenv("BATON_TEST_FS");
    if (force && std::string(force) == "ext4") {
      why_ = "tmpfs not tried (BATON_TEST_FS=ext4)";
    } else if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, opts.c_str()) == 0) {
      kind_ = "tmpfs";
      return;
    } else {
      why_ = std::string("mount -t tmpfs: ") + std::strerror(errno);
    }
    std::string img = parent + "/fs.img";
    auto r = RunShell(parent, "truncate -s " + std::to_string(mib) + "M '" + img + "' && mkfs.ext4 -q -F -m 0 '" + img +
                                  "' && mount -o loop '" + img + "' '" + dir_ + "'");
    if (r.exit_code == 0) {
      kind_ = "ext4 (loop)";
      return;
    }
    why_ += "; loop-mounted ext4: " + Trim(r.err.empty() ? r.out : r.err);
  }
  ~SmallFs() {
    if (kind_.empty()) return;
    if (::umount(dir_.c_str()) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return !kind_.empty(); }
  const std::string& kind() const { return kind_; }
  const std::string& why() const { return why_; }
  const std::string& dir() const { return dir_; }
  int64_t FreeBytes() const {
    struct statvfs v;
    if (::statvfs(dir_.c_str(), &v) != 0) return -1;
    return static_cast<int64_t>(v.f_bavail) * static_cast<int64_t>(v.f_frsize);
  }
  // Writes a file of zeros that leaves `leave` bytes free.
  bool Fill(const std::string& name, int64_t leave) const {
    int64_t n = FreeBytes() - leave;
    if (n <= 0) return true;
    auto r = RunShell(dir_, "head -c " + std::to_string(n) + " /dev/zero > '" + name + "'");
    return r.exit_code == 0;
  }

 private:
  std::string dir_, kind_, why_;
};

// Steps: `small` (completes first), `big` (or `fill`), and `after`, which reads the latter.
std::string DiskPipeline(const std::string& second_step) {
  return "name: diskfull\n"
         "steps:\n"
         "  small:\n"
         "    run: \"printf 'small output\\\\n' > {{outputs.out}}\"\n"
         "    outputs: [out]\n" +
         second_step +
         "  after:\n"
         "    run: \"wc -c < {{inputs.b}} > {{outputs.n}}\"\n"
         "    inputs: {b: second.out}\n"
         "    outputs: [n]\n";
}

// What every disk-full test checks once space is back: the run is no longer 'running', `small`
// is recorded with its artifact intact, the store is consistent, and `runs resume` completes.
void ExpectRecoversAfterFreeingSpace(const SmallFs& fs, const std::string& ws, const std::string& run_id,
                                     const std::string& small_digest, int64_t want_size) {
  Json runs = ListRuns(ws);
  for (const auto& r : runs)
    if (r.value("id", "") == run_id) {
      EXPECT_NE(r.value("status", ""), "running") << r.dump(2);
    }
  CheckStore(ws, "after freeing space");
  Json shown = ShowRun(ws, run_id);
  Json small = LatestStep(shown, "small");
  EXPECT_EQ(small.value("status", ""), "completed") << shown.dump(2);
  if (small.contains("outputs") && small["outputs"].contains("out")) {
    EXPECT_EQ(small["outputs"]["out"].value("digest", ""), small_digest);
  }
  auto r = RunBaton(ws, {"runs", "resume", run_id, "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(ParseJson(r).value("status", ""), "completed") << r.out;
  shown = ShowRun(ws, run_id);
  EXPECT_EQ(shown.value("status", ""), "completed") << shown.dump(2);
  Json after = LatestStep(shown, "after");
  ASSERT_TRUE(after.contains("outputs") && after["outputs"].contains("n")) << shown.dump(2);
  std::string digest = after["outputs"]["n"].value("digest", "");
  std::string path = ObjectPath(ws, digest.substr(digest.find(':') + 1));
  EXPECT_EQ(std::atoll(ReadFileOrDie(path).c_str()), want_size);
  CheckStore(ws, "after the resume");
}

// The sha256 of "small output\n", as `small` writes it.
std::string SmallDigest() {
  return "sha256:" + Trim(RunShell("/", "printf 'small output\\n' | sha256sum | cut -d' ' -f1").out);
}

TEST(Resilience, StepWritingMoreThanFreeSpaceFailsCleanly) {
  TempDir d;
  SmallFs fs(d.path(), 8);
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a small filesystem: " << fs.why();
  std::printf("[ diskfull ] %s on %s\n", fs.kind().c_str(), fs.dir().c_str());
  const std::string ws = fs.dir() + "/ws";
  ::mkdir(ws.c_str(), 0755);
  ASSERT_EQ(RunBaton(ws, {"init"}).exit_code, 0);
  std::string pipeline = ws + "/p.yaml";
  {
    FILE* f = std::fopen(pipeline.c_str(), "w");
    ASSERT_TRUE(f);
    std::fputs(DiskPipeline("  second:\n"
                            "    run: \"head -c 5M /dev/zero > {{outputs.out}}\"\n"
                            "    inputs: {s: small.out}\n"
                            "    outputs: [out]\n")
                   .c_str(),
               f);
    std::fclose(f);
  }
  ASSERT_TRUE(fs.Fill("filler", 1 << 20));
  ASSERT_LT(fs.FreeBytes(), 2 << 20);

  auto r = RunBaton(ws, {"run", pipeline, "-j", "1", "-o", "json"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  Json summary = ParseJson(r);
  EXPECT_EQ(summary.value("status", ""), "failed") << Describe(r);
  EXPECT_EQ(summary.value("completed", -1), 1) << r.out;
  EXPECT_EQ(summary.value("failed", -1), 1) << r.out;
  EXPECT_EQ(summary.value("skipped", -1), 1) << r.out;
  std::string run_id = summary.value("run", "");
  if (run_id.empty()) {
    Json runs = ListRuns(ws);
    ASSERT_FALSE(runs.empty());
    run_id = runs[0].value("id", "");
  }
  // Recorded while the disk is still full: the failure, its reason, and `small` intact.
  Json shown = ShowRun(ws, run_id);
  EXPECT_EQ(shown.value("status", ""), "failed") << shown.dump(2);
  Json second = LatestStep(shown, "second");
  EXPECT_EQ(second.value("status", ""), "failed") << shown.dump(2);
  EXPECT_EQ(second.value("exit_code", 0), 1) << second.dump(2);
  EXPECT_NE(second.value("reason", "").find("exited with code 1"), std::string::npos) << second.dump(2);
  EXPECT_EQ(LatestStep(shown, "after").value("status", ""), "skipped") << shown.dump(2);
  CheckStore(ws, "with the disk full");

  ASSERT_EQ(::unlink((fs.dir() + "/filler").c_str()), 0);
  ExpectRecoversAfterFreeingSpace(fs, ws, run_id, SmallDigest(), 5 << 20);
}

TEST(Resilience, ReadOnlyCommandsWorkOnAFullDiskAndFailuresSaySo) {
  TempDir d;
  SmallFs fs(d.path(), 8);
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a small filesystem: " << fs.why();
  const std::string ws = fs.dir() + "/ws";
  ::mkdir(ws.c_str(), 0755);
  ASSERT_EQ(RunBaton(ws, {"init"}).exit_code, 0);
  std::string pipeline = ws + "/p.yaml";
  {
    FILE* f = std::fopen(pipeline.c_str(), "w");
    ASSERT_TRUE(f);
    std::fputs("name: tiny\nsteps:\n  a:\n    run: \"echo hi > {{outputs.o}}\"\n    outputs: [o]\n", f);
    std::fclose(f);
  }
  auto r = RunBaton(ws, {"run", pipeline, "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string run_id = ParseJson(r).value("run", "");
  // Not a byte left: the store's WAL index (-shm) cannot be created.
  ASSERT_TRUE(fs.Fill("filler", 0));
  (void)RunShell(fs.dir(), "head -c 1M /dev/zero > filler2 2>/dev/null");
  ASSERT_EQ(fs.FreeBytes(), 0);

  Json runs = ListRuns(ws);
  ASSERT_EQ(runs.size(), 1u) << runs.dump(2);
  EXPECT_EQ(runs[0].value("id", ""), run_id);
  Json shown = ShowRun(ws, run_id);
  EXPECT_EQ(shown.value("status", ""), "completed") << shown.dump(2);
  // What must write fails, and says why in words.
  r = RunBaton(ws, {"run", pipeline, "--no-cache"});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.err.find("disk is full"), std::string::npos) << Describe(r);
  EXPECT_EQ(r.err.find("disk I/O error"), std::string::npos) << Describe(r);
}

TEST(Resilience, DiskFillingUpWhileStoringOutputsIsRecoverable) {
  TempDir d;
  SmallFs fs(d.path(), 8);
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a small filesystem: " << fs.why();
  std::printf("[ diskfull ] %s on %s\n", fs.kind().c_str(), fs.dir().c_str());
  const std::string ws = fs.dir() + "/ws";
  ::mkdir(ws.c_str(), 0755);
  ASSERT_EQ(RunBaton(ws, {"init"}).exit_code, 0);
  std::string pipeline = ws + "/p.yaml";
  // `second` writes its (small) output successfully, then, the first time only, something else
  // fills the disk before baton stores and records the output. Storing is a rename and the
  // store keeps its log's next blocks allocated, so `second` is recorded; `after`, which must
  // write, fails on the full disk and says so.
  {
    FILE* f = std::fopen(pipeline.c_str(), "w");
    ASSERT_TRUE(f);
    std::fputs(DiskPipeline("  second:\n"
                            "    run: \"printf 'second output\\\\n' > {{outputs.out}}; if [ -e arm ]; then rm -f arm; "
                            "head -c 64M /dev/zero > hog 2>/dev/null; fi; true\"\n"
                            "    inputs: {s: small.out}\n"
                            "    outputs: [out]\n")
                   .c_str(),
               f);
    std::fclose(f);
  }
  ASSERT_EQ(RunShell(ws, "touch arm").exit_code, 0);

  auto r = RunBaton(ws, {"run", pipeline, "-j", "1", "-o", "json"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_EQ(r.err.find("database is locked"), std::string::npos) << r.err;
  // A clear reason: on stderr, or (if it could be recorded) on the step.
  Json runs = ListRuns(ws);
  ASSERT_FALSE(runs.empty());
  std::string run_id = runs[0].value("id", "");
  Json shown = ShowRun(ws, run_id);
  std::string reasons = shown.value("reason", "") + " | " + LatestStep(shown, "second").value("reason", "") + " | " +
                        LatestStep(shown, "after").value("reason", "");
  bool clear = r.err.find("disk is full") != std::string::npos || r.err.find("No space") != std::string::npos ||
               reasons.find("disk is full") != std::string::npos || reasons.find("disk full") != std::string::npos ||
               reasons.find("disk holding its outputs is full") != std::string::npos;
  EXPECT_TRUE(clear) << "no clear disk-full reason\n" << Describe(r) << "\n" << shown.dump(2);
  // The failure and its cause are recorded on the run, which is not left running.
  EXPECT_EQ(shown.value("status", ""), "failed") << shown.dump(2);
  EXPECT_NE(LatestStep(shown, "second").value("status", ""), "running") << shown.dump(2);
  EXPECT_NE(LatestStep(shown, "after").value("status", ""), "completed") << shown.dump(2);
  EXPECT_EQ(LatestStep(shown, "small").value("status", ""), "completed") << shown.dump(2);
  std::printf("[ diskfull ] storing failed: exit %d, stderr: %s, run %s (%s)\n", r.exit_code, Trim(r.err).c_str(),
              shown.value("status", "").c_str(), shown.value("reason", "").c_str());

  ASSERT_EQ(::unlink((ws + "/hog").c_str()), 0);
  ExpectRecoversAfterFreeingSpace(fs, ws, run_id, SmallDigest(), 14);
}

// ---------------------------------------------------------------------------------------------
// 3. Many `baton run` processes at once on one workspace.

std::string ShortPipeline(const std::string& name) {
  std::string y = "name: " + name + "\nsteps:\n";
  y += "  s1:\n    run: \"echo " + name + "-one > {{outputs.out}}\"\n    outputs: [out]\n";
  y += "  s2:\n    run: \"{ cat {{inputs.in}}; echo two; } > {{outputs.out}}\"\n    inputs: {in: s1.out}\n    outputs: [out]\n";
  y += "  s3:\n    run: \"mkdir -p {{outputs.dir}} && cat {{inputs.in}} > {{outputs.dir}}/three\"\n"
       "    inputs: {in: s1.out}\n    outputs: [dir]\n";
  y += "  s4:\n    run: \"cat {{inputs.a}} {{inputs.b}}/three > {{outputs.out}}\"\n"
       "    inputs: {a: s2.out, b: s3.dir}\n    outputs: [out]\n";
  y += "  s5:\n    run: \"sleep 0.01; wc -c < {{inputs.in}} > {{outputs.out}}\"\n    inputs: {in: s4.out}\n"
       "    outputs: [out]\n";
  return y;
}

TEST(Resilience, TwentyConcurrentRunsOnOneWorkspace) {
  TempDir d;
  TempDir io;
  const std::string ws = d.path();
  ASSERT_EQ(RunBaton(ws, {"init"}).exit_code, 0);
  std::string a = d.Write("a.yaml", ShortPipeline("alpha"));
  std::string b = d.Write("b.yaml", ShortPipeline("beta"));
  constexpr int kRuns = 20;
  std::vector<pid_t> pids;
  auto t0 = Clock::now();
  for (int i = 0; i < kRuns; ++i) {
    std::string base = io.path() + "/" + std::to_string(i);
    // Half of each pipeline's runs ignore the cache, so steps really run (and store) concurrently.
    std::vector<std::string> args = {"run", i % 2 ? b : a, "-o", "json"};
    if (i % 4 >= 2) args.push_back("--no-cache");
    pid_t pid = SpawnBaton(ws, args, base + ".out", base + ".err");
    ASSERT_GT(pid, 0);
    pids.push_back(pid);
  }
  std::set<std::string> ids;
  for (int i = 0; i < kRuns; ++i) {
    int code = WaitExit(pids[i]);
    std::string base = io.path() + "/" + std::to_string(i);
    std::string out = ReadFileOrDie(base + ".out"), err = ReadFileOrDie(base + ".err");
    EXPECT_EQ(code, 0) << "run " << i << "\nstdout:\n" << out << "\nstderr:\n" << err;
    EXPECT_EQ(err.find("database is locked"), std::string::npos) << "run " << i << ": " << err;
    EXPECT_EQ(err.find("busy"), std::string::npos) << "run " << i << ": " << err;
    Json j = Json::parse(out, nullptr, false);
    if (!j.is_discarded()) {
      EXPECT_EQ(j.value("status", ""), "completed") << out;
      EXPECT_EQ(j.value("completed", 0) + j.value("cached", 0), 5) << out;
      ids.insert(j.value("run", ""));
    }
  }
  double wall = SecondsSince(t0);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kRuns)) << "run ids are not distinct";
  Json runs = ListRuns(ws);
  EXPECT_EQ(runs.size(), static_cast<size_t>(kRuns)) << runs.dump(2);
  int completed = 0;
  std::map<std::string, int> per_pipeline;
  for (const auto& r : runs) {
    completed += r.value("status", "") == "completed";
    per_pipeline[r.value("pipeline", "")]++;
    EXPECT_TRUE(ids.count(r.value("id", ""))) << r.dump();
  }
  EXPECT_EQ(completed, kRuns);
  EXPECT_EQ(per_pipeline["alpha"], kRuns / 2);
  EXPECT_EQ(per_pipeline["beta"], kRuns / 2);
  CheckStore(ws, "after the concurrent runs");
  Db db(ws + "/.baton/baton.db");
  ASSERT_TRUE(db.ok()) << db.error();
  // Every run has exactly its five steps, each completed or cached, with all its outputs.
  auto rows = db.Rows(
      "SELECT r.id, COUNT(DISTINCT s.step), SUM(s.status NOT IN ('completed', 'cached')), COUNT(*) "
      "FROM runs r LEFT JOIN step_runs s ON s.run_id = r.id GROUP BY r.id");
  EXPECT_EQ(rows.size(), static_cast<size_t>(kRuns));
  for (const auto& row : rows) {
    EXPECT_EQ(row[1], "5") << "run " << row[0] << " has " << row[1] << " distinct steps";
    EXPECT_EQ(row[2], "0") << "run " << row[0] << " has step runs neither completed nor cached";
    EXPECT_EQ(row[3], "5") << "run " << row[0] << " has " << row[3] << " step runs";
  }
  EXPECT_EQ(db.Scalar("SELECT COUNT(*) FROM step_runs s WHERE NOT EXISTS "
                      "(SELECT 1 FROM step_outputs o WHERE o.step_run_id = s.id)"),
            "0")
      << "step runs without their output";
  // Each pipeline's final output is the same in all its runs.
  auto finals = db.Rows(
      "SELECT a.pipeline, COUNT(DISTINCT a.digest) FROM step_runs s JOIN step_outputs o ON o.step_run_id = s.id "
      "JOIN artifacts a ON a.id = o.artifact_id WHERE s.step = 's5' GROUP BY a.pipeline");
  EXPECT_EQ(finals.size(), 2u);
  for (const auto& f : finals) EXPECT_EQ(f[1], "1") << "pipeline " << f[0] << " has differing final outputs";
  std::printf("[ concur   ] %d runs in %.2f s\n", kRuns, wall);
}

}  // namespace
}  // namespace baton::testing
