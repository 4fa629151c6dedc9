// End-to-end tests of what baton records and how it is inspected: artifacts (content
// addressing, deduplication, directories, read-only inputs, export, lineage), logs per attempt,
// `runs list` / `runs show`, and the quickstart example. Every test drives the real baton binary.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"

namespace baton::testing {
namespace {

using Json = nlohmann::json;

Json ParseJson(const CommandResult& r) {
  Json j = Json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON:\n" << r.out << "\nstderr:\n" << r.err;
  return j.is_discarded() ? Json() : j;
}

// Runs a baton command that must succeed and print JSON.
Json BatonJson(const std::string& cwd, std::vector<std::string> args) {
  args.push_back("-o");
  args.push_back("json");
  auto r = RunBaton(cwd, args);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return ParseJson(r);
}

// `baton run PIPELINE -o json`, expecting `want_exit`; returns the run id.
std::string RunPipeline(const std::string& cwd, const std::string& pipeline, int want_exit,
                        std::vector<std::string> extra = {}, std::vector<std::string> env = {}) {
  std::vector<std::string> args = {"run", pipeline, "-o", "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = RunBaton(cwd, args, env);
  EXPECT_EQ(r.exit_code, want_exit) << Describe(r);
  return ParseJson(r).value("run", "");
}

Json StepOf(const Json& run, const std::string& step) {
  Json found;
  if (run.contains("steps"))
    for (const auto& s : run["steps"])
      if (s.value("step", "") == step) found = s;
  EXPECT_FALSE(found.is_null()) << "no step '" << step << "' in " << run.dump(2);
  return found;
}

std::string Id(const Json& artifact) { return std::to_string(artifact.value("id", -1LL)); }

// sha256sum of a file, as "sha256:<hex>".
std::string Sha256Sum(const std::string& path) {
  auto r = RunShell("/", "sha256sum '" + path + "' | cut -d' ' -f1");
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return "sha256:" + r.out.substr(0, 64);
}

// ---------------------------------------------------------------------------------------------
// 5. Artifacts.

TEST(CliInspectArtifacts, OutputsAreContentAddressedAndDeduplicated) {
  TempDir d;
  std::string p = d.Write("p.yaml", R"Y(name: arts
steps:
  one:
    run: printf 'same content\n' > {{outputs.o}}
    outputs: [o]
  two:
    run: printf 'same content\n' > {{outputs.result}}
    outputs: [result]
  other:
    run: printf 'different\n' > {{outputs.o}}
    outputs: [o]
)Y");
  std::string run_id = RunPipeline(d.path(), p, 0);
  Json run = BatonJson(d.path(), {"runs", "show", run_id});
  Json a1 = StepOf(run, "one")["outputs"]["o"];
  Json a2 = StepOf(run, "two")["outputs"]["result"];
  Json a3 = StepOf(run, "other")["outputs"]["o"];

  // The digest is the SHA-256 of the content.
  std::string want = Sha256Sum(d.Write("expected", "same content\n"));
  EXPECT_EQ(a1.value("digest", ""), want);
  EXPECT_EQ(a1.value("size", -1), 13);
  EXPECT_EQ(a1.value("kind", ""), "file");
  EXPECT_EQ(a3.value("digest", ""), Sha256Sum(d.Write("expected3", "different\n")));

  // Identical content: two artifacts (different ids, names, steps) sharing one stored object.
  EXPECT_NE(a1.value("id", 0), a2.value("id", 0));
  EXPECT_EQ(a2.value("name", ""), "result");
  EXPECT_EQ(a1.value("digest", ""), a2.value("digest", ""));
  EXPECT_EQ(a1.value("uri", ""), a2.value("uri", ""));
  Json s1 = BatonJson(d.path(), {"artifacts", "show", Id(a1)});
  Json s2 = BatonJson(d.path(), {"artifacts", "show", Id(a2)});
  ASSERT_TRUE(s1.value("present", false));
  EXPECT_EQ(s1.value("path", ""), s2.value("path", ""));
  std::string path = s1.value("path", "");
  EXPECT_EQ(Sha256Sum(path), want);
  EXPECT_EQ(ReadFileOrDie(path), "same content\n");
  // One object in the store per distinct content.
  auto count = RunShell(d.path(), "find .baton/artifacts/sha256 -type f | wc -l");
  EXPECT_EQ(std::stoi(count.out), 2) << count.out;
  // A stored object is read-only.
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0u);

  // artifacts list --run holds all three; lookup by digest prefix works too.
  Json list = BatonJson(d.path(), {"artifacts", "list", "--run", run_id});
  EXPECT_EQ(list.size(), 3u);
  Json by_digest = BatonJson(d.path(), {"artifacts", "show", a3.value("digest", "").substr(7, 12)});
  EXPECT_EQ(by_digest.value("id", 0), a3.value("id", -1));
}

TEST(CliInspectArtifacts, DirectoryOutputsAndExport) {
  TempDir d;
  std::string p = d.Write("p.yaml", R"Y(name: dirs
steps:
  make:
    run: mkdir -p {{outputs.tree}}/sub && printf alpha > {{outputs.tree}}/a.txt && printf beta > {{outputs.tree}}/sub/b.txt
    outputs: [tree]
  use:
    run: cat {{inputs.t}}/a.txt {{inputs.t}}/sub/b.txt > {{outputs.joined}}
    inputs: {t: make.tree}
    outputs: [joined]
)Y");
  std::string run_id = RunPipeline(d.path(), p, 0);
  Json run = BatonJson(d.path(), {"runs", "show", run_id});
  Json tree = StepOf(run, "make")["outputs"]["tree"];
  Json joined = StepOf(run, "use")["outputs"]["joined"];
  EXPECT_EQ(tree.value("kind", ""), "dir");
  EXPECT_EQ(joined.value("kind", ""), "file");
  EXPECT_EQ(StepOf(run, "use")["inputs"]["t"].value("id", 0), tree.value("id", -1));

  // Export copies the content out of the store.
  std::string out_dir = d.path() + "/exported-tree";
  auto r = RunBaton(d.path(), {"artifacts", "export", Id(tree), out_dir});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(ReadFileOrDie(out_dir + "/a.txt"), "alpha");
  EXPECT_EQ(ReadFileOrDie(out_dir + "/sub/b.txt"), "beta");
  std::string out_file = d.path() + "/joined.txt";
  r = RunBaton(d.path(), {"artifacts", "export", Id(joined), out_file});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(ReadFileOrDie(out_file), "alphabeta");
  EXPECT_EQ(Sha256Sum(out_file), joined.value("digest", ""));
  // The export is a copy: writable, and changing it leaves the store alone.
  ASSERT_EQ(RunShell(d.path(), "echo more >> joined.txt").exit_code, 0);
  Json shown = BatonJson(d.path(), {"artifacts", "show", Id(joined)});
  EXPECT_EQ(ReadFileOrDie(shown.value("path", "")), "alphabeta");
  // Exporting onto an existing path is refused.
  r = RunBaton(d.path(), {"artifacts", "export", Id(joined), out_file});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(ReadFileOrDie(out_file), "alphabetamore\n");
}

TEST(CliInspectArtifacts, InputsAreReadOnlyToSteps) {
  TempDir d;
  std::string p = d.Write("p.yaml", R"Y(name: readonly
steps:
  make:
    run: printf original > {{outputs.a}}
    outputs: [a]
  vandal:
    run: echo x >> {{inputs.a}}
    inputs: {a: make.a}
  later:
    run: echo never
    after: [vandal]
)Y");
  std::string run_id = RunPipeline(d.path(), p, 1);
  Json run = BatonJson(d.path(), {"runs", "show", run_id});
  Json vandal = StepOf(run, "vandal");
  EXPECT_EQ(vandal.value("status", ""), "failed");
  std::string reason = vandal.value("reason", "");
  if (::geteuid() == 0) {
    // root can write to read-only files: baton must notice the change after the step.
    EXPECT_NE(reason.find("modified its input"), std::string::npos) << vandal.dump(2);
  } else {
    EXPECT_NE(reason.find("exited with code"), std::string::npos) << vandal.dump(2);
  }
  EXPECT_EQ(StepOf(run, "later").value("status", ""), "skipped");
  EXPECT_EQ(StepOf(run, "make").value("status", ""), "completed");
}

TEST(CliInspectArtifacts, StepModifyingItsInputDoesNotCorruptTheStore) {
  TempDir d;
  std::string p = d.Write("p.yaml", R"Y(name: corrupt
steps:
  make:
    run: printf original > {{outputs.a}}
    outputs: [a]
  vandal:
    run: chmod u+w {{inputs.a}} 2>/dev/null; echo x >> {{inputs.a}}
    inputs: {a: make.a}
)Y");
  std::string run_id = RunPipeline(d.path(), p, 1);
  Json run = BatonJson(d.path(), {"runs", "show", run_id});
  EXPECT_NE(StepOf(run, "vandal").value("reason", "").find("modified its input"),
            std::string::npos);
  Json a = StepOf(run, "make")["outputs"]["a"];
  Json shown = BatonJson(d.path(), {"artifacts", "show", Id(a)});
  // Either the content is intact, or baton no longer claims to have it.
  if (shown.value("present", false)) {
    EXPECT_EQ(Sha256Sum(shown.value("path", "")), a.value("digest", ""));
    EXPECT_EQ(ReadFileOrDie(shown.value("path", "")), "original");
  }
  // The damaged content was taken out of the store, so a second run cannot reuse it from the
  // cache: the producer runs again and publishes the original bytes anew.
  EXPECT_FALSE(shown.value("present", true));
  std::string again = RunPipeline(d.path(), p, 1);
  Json run2 = BatonJson(d.path(), {"runs", "show", again});
  EXPECT_EQ(StepOf(run2, "make").value("status", ""), "completed") << run2.dump(2);
  Json a2 = StepOf(run2, "make")["outputs"]["a"];
  EXPECT_EQ(a2.value("digest", ""), a.value("digest", ""));
  EXPECT_NE(StepOf(run2, "vandal").value("reason", "").find("modified its input"),
            std::string::npos);
}

TEST(CliInspectArtifacts, LineageGoesBackToTheRootStep) {
  TempDir d;
  std::string p = d.Write("p.yaml", R"Y(name: lineage
steps:
  root:
    run: printf seed > {{outputs.raw}}
    outputs: [raw]
  middle:
    run: cat {{inputs.r}} {{inputs.r}} > {{outputs.doubled}}
    inputs: {r: root.raw}
    outputs: [doubled]
  leaf:
    run: cat {{inputs.d}} {{inputs.original}} > {{outputs.final}}
    inputs: {d: middle.doubled, original: root.raw}
    outputs: [final]
)Y");
  std::string run_id = RunPipeline(d.path(), p, 0);
  Json run = BatonJson(d.path(), {"runs", "show", run_id});
  Json raw = StepOf(run, "root")["outputs"]["raw"];
  Json doubled = StepOf(run, "middle")["outputs"]["doubled"];
  Json fin = StepOf(run, "leaf")["outputs"]["final"];

  Json shown = BatonJson(d.path(), {"artifacts", "show", Id(fin)});
  EXPECT_EQ(ReadFileOrDie(shown.value("path", "")), "seedseedseed");
  Json l = shown["lineage"];
  EXPECT_EQ(l.value("artifact", 0), fin.value("id", -1));
  EXPECT_EQ(l.value("step", ""), "leaf");
  EXPECT_EQ(l.value("run", ""), run_id);
  ASSERT_EQ(l["inputs"].size(), 2u) << l.dump(2);
  Json via_middle = l["inputs"]["d"];
  EXPECT_EQ(via_middle.value("artifact", 0), doubled.value("id", -1));
  EXPECT_EQ(via_middle.value("step", ""), "middle");
  ASSERT_EQ(via_middle["inputs"].size(), 1u) << l.dump(2);
  Json root = via_middle["inputs"]["r"];
  EXPECT_EQ(root.value("artifact", 0), raw.value("id", -1));
  EXPECT_EQ(root.value("step", ""), "root");
  EXPECT_EQ(root.value("name", ""), "raw");
  EXPECT_EQ(root.value("digest", ""), raw.value("digest", ""));
  EXPECT_TRUE(root["inputs"].empty());
  EXPECT_EQ(l["inputs"]["original"].value("artifact", 0), raw.value("id", -1));

  // And the other way: the root artifact names its consumers.
  Json rs = BatonJson(d.path(), {"artifacts", "show", Id(raw)});
  std::set<std::string> consumers;
  for (const auto& c : rs["consumers"]) consumers.insert(c.value("step", ""));
  EXPECT_EQ(consumers, (std::set<std::string>{"middle", "leaf"}));
  EXPECT_TRUE(rs["lineage"]["inputs"].empty());

  // The table form walks the same chain.
  auto table = RunBaton(d.path(), {"artifacts", "show", Id(fin)});
  ASSERT_EQ(table.exit_code, 0) << Describe(table);
  EXPECT_NE(table.out.find("root.raw"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("middle.doubled"), std::string::npos) << table.out;
}

// ---------------------------------------------------------------------------------------------
// 7. Logs, runs list, runs show.

TEST(CliInspectRuns, LogsHoldStdoutAndStderr) {
  TempDir d;
  std::string p = d.Write("p.yaml", R"Y(name: logs
steps:
  talk:
    run: echo to-stdout; echo to-stderr >&2; echo again-stdout
  quiet:
    run: "true"
)Y");
  std::string run_id = RunPipeline(d.path(), p, 0);
  auto r = RunBaton(d.path(), {"runs", "logs", run_id, "talk"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "to-stdout\nto-stderr\nagain-stdout\n");
  r = RunBaton(d.path(), {"runs", "logs", run_id, "quiet"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "");
  // All steps at once, with headers.
  r = RunBaton(d.path(), {"runs", "logs", "last"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("==> talk (attempt 1, completed) <=="), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("to-stderr"), std::string::npos) << r.out;
  // An unknown step is an error.
  r = RunBaton(d.path(), {"runs", "logs", run_id, "nosuch"});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
}

TEST(CliInspectRuns, EachAttemptHasItsOwnLog) {
  TempDir d;
  std::string marker = d.path() + "/marker";
  std::string p = d.Write("p.yaml",
                          "name: flaky\nsteps:\n"
                          "  flaky:\n"
                          "    run: if [ -e " +
                              marker + " ]; then echo second-attempt; else touch " + marker +
                              "; echo first-attempt; echo first-err >&2; exit 1; fi\n"
                              "    retries: {max: 1}\n"
                              "  next:\n    run: echo next\n    after: [flaky]\n");
  std::string run_id = RunPipeline(d.path(), p, 0);
  Json run = BatonJson(d.path(), {"runs", "show", run_id});
  EXPECT_EQ(run.value("status", ""), "completed");
  std::vector<Json> attempts;
  for (const auto& s : run["steps"])
    if (s.value("step", "") == "flaky") attempts.push_back(s);
  ASSERT_EQ(attempts.size(), 2u) << run.dump(2);
  std::map<int, Json> by_attempt;
  for (const auto& a : attempts) by_attempt[a.value("attempt", 0)] = a;
  ASSERT_EQ(by_attempt.count(1), 1u);
  ASSERT_EQ(by_attempt.count(2), 1u);
  EXPECT_EQ(by_attempt[1].value("status", ""), "failed");
  EXPECT_NE(by_attempt[1].value("reason", "").find("exited with code 1"), std::string::npos);
  EXPECT_EQ(by_attempt[2].value("status", ""), "completed");
  EXPECT_NE(by_attempt[1].value("log", ""), by_attempt[2].value("log", ""));
  EXPECT_EQ(StepOf(run, "next").value("status", ""), "completed");

  auto r = RunBaton(d.path(), {"runs", "logs", run_id, "flaky", "--attempt", "1"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "first-attempt\nfirst-err\n");
  r = RunBaton(d.path(), {"runs", "logs", run_id, "flaky", "--attempt", "2"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "second-attempt\n");
  r = RunBaton(d.path(), {"runs", "logs", run_id, "flaky"});  // the latest attempt
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "second-attempt\n");
}

TEST(CliInspectRuns, RetriesExhaustedFailsWithEveryAttemptRecorded) {
  TempDir d;
  std::string p = d.Write("p.yaml",
                          "name: hopeless\nsteps:\n"
                          "  bad:\n    run: echo attempt $BATON_ATTEMPT; exit 4\n    retries: 2\n");
  std::string run_id = RunPipeline(d.path(), p, 1);
  Json run = BatonJson(d.path(), {"runs", "show", run_id});
  std::vector<int> attempts;
  for (const auto& s : run["steps"]) {
    EXPECT_EQ(s.value("status", ""), "failed");
    EXPECT_NE(s.value("reason", "").find("exited with code 4"), std::string::npos);
    attempts.push_back(s.value("attempt", 0));
  }
  EXPECT_EQ(attempts, (std::vector<int>{1, 2, 3}));
  for (int a = 1; a <= 3; ++a) {
    auto r = RunBaton(d.path(), {"runs", "logs", run_id, "bad", "--attempt", std::to_string(a)});
    EXPECT_EQ(r.out, "attempt " + std::to_string(a) + "\n");
  }
}

TEST(CliInspectRuns, RunsListAndShowLast) {
  TempDir d;
  std::string ok = d.Write(
      "ok.yaml", "name: good-one\nparameters: {n: 1}\nsteps:\n  a:\n    run: echo {{params.n}}\n");
  std::string bad = d.Write("bad.yaml", "name: bad-one\nsteps:\n  a:\n    run: exit 9\n");
  std::string first = RunPipeline(d.path(), ok, 0, {"-p", "n=5"});
  std::string second = RunPipeline(d.path(), bad, 1);
  ASSERT_NE(first, second);

  Json list = BatonJson(d.path(), {"runs", "list"});
  ASSERT_EQ(list.size(), 2u) << list.dump(2);
  // Newest first.
  EXPECT_EQ(list[0].value("id", ""), second);
  EXPECT_EQ(list[0].value("pipeline", ""), "bad-one");
  EXPECT_EQ(list[0].value("status", ""), "failed");
  EXPECT_EQ(list[0].value("reason", ""), "1 step failed");
  EXPECT_EQ(list[1].value("id", ""), first);
  EXPECT_EQ(list[1].value("pipeline", ""), "good-one");
  EXPECT_EQ(list[1].value("status", ""), "completed");
  EXPECT_EQ(list[1]["parameters"], Json::parse(R"({"n": 5})"));
  EXPECT_EQ(list[1].value("pipeline_file", ""), ok);
  EXPECT_TRUE(list[1]["duration_s"].is_number());

  Json only = BatonJson(d.path(), {"runs", "list", "--pipeline", "good-one"});
  ASSERT_EQ(only.size(), 1u);
  EXPECT_EQ(only[0].value("id", ""), first);
  EXPECT_EQ(BatonJson(d.path(), {"runs", "list", "-n", "1"}).size(), 1u);

  Json last = BatonJson(d.path(), {"runs", "show", "last"});
  EXPECT_EQ(last.value("id", ""), second);
  EXPECT_EQ(last.value("status", ""), "failed");
  Json a = StepOf(last, "a");
  EXPECT_EQ(a.value("exit_code", -1), 9);
  EXPECT_NE(a.value("reason", "").find("exited with code 9"), std::string::npos);

  // A unique prefix finds a run; the table form names the run and its steps.
  auto r = RunBaton(d.path(), {"runs", "show", first.substr(0, first.size() - 1)});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find(first), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("completed"), std::string::npos) << r.out;
  r = RunBaton(d.path(), {"runs", "show", "no-such-run"});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  r = RunBaton(d.path(), {"runs", "list"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find(first), std::string::npos);
  EXPECT_NE(r.out.find(second), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// 9. The quickstart.

TEST(CliInspectRuns, RunsListFiltersByStatusTimeAndParameter) {
  TempDir d;
  std::string p = d.Write("p.yaml",
                          "name: filt\nparameters: {fail: 0, lr: 0.1}\nsteps:\n"
                          "  a:\n    run: test {{params.fail}} = 0\n");
  const std::string ok1 = RunPipeline(d.path(), p, 0, {"-p", "lr=0.5"});
  const std::string bad = RunPipeline(d.path(), p, 1, {"-p", "fail=1", "--no-cache"});
  const std::string ok2 = RunPipeline(d.path(), p, 0, {"--no-cache"});
  auto ids = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"runs", "list"});
    std::vector<std::string> out;
    for (const auto& r : BatonJson(d.path(), args)) out.push_back(r["id"]);
    return out;
  };
  EXPECT_EQ(ids({"--status", "failed"}), std::vector<std::string>{bad});
  EXPECT_EQ(ids({"--status", "completed"}), (std::vector<std::string>{ok2, ok1}));
  EXPECT_EQ(ids({"--status", "failed,completed", "-n", "2"}), (std::vector<std::string>{ok2, bad}));
  EXPECT_EQ(ids({"--param", "lr=0.5"}), std::vector<std::string>{ok1});
  EXPECT_EQ(ids({"--param", "fail=1", "--status", "failed"}), std::vector<std::string>{bad});
  EXPECT_EQ(ids({"--since", "1h"}).size(), 3u);
  EXPECT_TRUE(ids({"--until", "1h"}).empty());
  EXPECT_EQ(ids({"--since", "2000-01-01", "--until", "2999-01-01"}).size(), 3u);
  // Bad filters are bad input, with the names that would do.
  auto r = RunBaton(d.path(), {"runs", "list", "--status", "faild"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("did you mean failed?"), std::string::npos) << r.err;
  r = RunBaton(d.path(), {"runs", "list", "--since", "yesterday"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--since yesterday"), std::string::npos) << r.err;
  r = RunBaton(d.path(), {"runs", "list", "--param", "lr"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST(CliInspectQuickstart, DigitsPipelineCompletesWithLineage) {
  if (RunShell("/", "/usr/bin/python3 -c 'import sklearn'").exit_code != 0)
    GTEST_SKIP() << "scikit-learn is not installed for /usr/bin/python3";
  TempDir d;
  std::string pipeline = SourceDir() + "/examples/quickstart/pipeline.yaml";
  // No .pyc files in the source tree.
  std::string run_id = RunPipeline(d.path(), pipeline, 0, {}, {"PYTHONDONTWRITEBYTECODE=1"});
  ASSERT_FALSE(run_id.empty());
  Json run = BatonJson(d.path(), {"runs", "show", run_id});
  EXPECT_EQ(run.value("status", ""), "completed");
  EXPECT_EQ(run.value("pipeline", ""), "digits");
  ASSERT_EQ(run["steps"].size(), 4u) << run.dump(2);
  for (const auto& s : run["steps"]) EXPECT_EQ(s.value("status", ""), "completed") << s.dump(2);

  Json eval = StepOf(run, "evaluate");
  ASSERT_TRUE(eval["metadata"].is_object()) << eval.dump(2);
  ASSERT_TRUE(eval["metadata"]["accuracy"].is_number()) << eval.dump(2);
  EXPECT_GT(eval["metadata"]["accuracy"].get<double>(), 0.9);

  Json raw = StepOf(run, "load")["outputs"]["raw"];
  Json metrics = StepOf(run, "evaluate")["outputs"]["metrics"];
  Json shown = BatonJson(d.path(), {"artifacts", "show", Id(metrics)});
  // The metrics artifact holds the same accuracy.
  Json mj = Json::parse(ReadFileOrDie(shown.value("path", "")), nullptr, false);
  ASSERT_TRUE(mj.is_object());
  EXPECT_EQ(mj["accuracy"], eval["metadata"]["accuracy"]);

  // evaluate.metrics <- train.model <- split.train <- load.raw
  Json l = shown["lineage"];
  EXPECT_EQ(l.value("step", ""), "evaluate");
  Json model = l["inputs"]["model"];
  EXPECT_EQ(model.value("step", ""), "train");
  Json train = model["inputs"]["train"];
  EXPECT_EQ(train.value("step", ""), "split");
  Json load = train["inputs"]["raw"];
  EXPECT_EQ(load.value("step", ""), "load");
  EXPECT_EQ(load.value("name", ""), "raw");
  EXPECT_EQ(load.value("artifact", 0), raw.value("id", -1));
  EXPECT_TRUE(load["inputs"].empty());
  // ... and through the test split as well.
  EXPECT_EQ(l["inputs"]["test"]["inputs"]["raw"].value("artifact", 0), raw.value("id", -1));

  // A second run is served from the cache.
  auto again = RunBaton(d.path(), {"run", pipeline, "-o", "json"}, {"PYTHONDONTWRITEBYTECODE=1"});
  ASSERT_EQ(again.exit_code, 0) << Describe(again);
  EXPECT_EQ(ParseJson(again).value("cached", -1), 4);
}

}  // namespace
}  // namespace baton::testing
