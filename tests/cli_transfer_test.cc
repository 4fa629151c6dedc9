// End-to-end tests of `baton runs compare`, `runs export` and `runs import`: a run moves from one
// workspace to another with its records, logs and artifact contents; damaged, truncated and
// foreign files import nothing; compare marks what differs. Every test drives the real binary.

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace baton::testing {
namespace {

using Json = nlohmann::json;

// Three steps: a file artifact, a directory artifact (with an executable file) whose step writes
// metrics, and a report whose step logs a line. `c` changes train's outputs and metrics.
std::string WritePipeline(const TempDir& d) {
  const std::string train = d.Write("train.sh", R"S(set -e
mkdir -p "$2"
echo "weights-for-c=$3" > "$2/weights"
wc -c < "$1" >> "$2/weights"
printf '#!/bin/sh\necho predict\n' > "$2/predict.sh"
chmod +x "$2/predict.sh"
printf '{"accuracy": %s, "loss": 0.25}' "$3" > "$BATON_METADATA"
)S");
  return d.Write("p.yaml", R"Y(name: transfer
parameters: {c: 1.0, size: 3}
steps:
  load:
    run: printf 'LOAD%sDATA\n' {{params.size}} > {{outputs.raw}}
    outputs: [raw]
  train:
    run: sh )Y" + train + R"Y( {{inputs.raw}} {{outputs.model}} {{params.c}}
    inputs: {raw: load.raw}
    outputs: [model]
  report:
    run: cat {{inputs.model}}/weights > {{outputs.summary}}; echo report-log-line
    inputs: {model: train.model}
    outputs: [summary]
)Y");
}

Json ParseOut(const CommandResult& r) {
  Json j = Json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << Describe(r);
  return j.is_discarded() ? Json() : j;
}

Json BatonJson(const std::string& cwd, std::vector<std::string> args) {
  args.insert(args.end(), {"-o", "json"});
  auto r = RunBaton(cwd, args);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return ParseOut(r);
}

std::string RunPipeline(const std::string& cwd, const std::string& pipeline,
                        std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"run", pipeline, "-o", "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = RunBaton(cwd, args);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return ParseOut(r).value("run", "");
}

Json StepOf(const Json& run, const std::string& step) {
  for (const auto& s : run.value("steps", Json::array()))
    if (s.value("step", "") == step) return s;
  ADD_FAILURE() << "no step " << step << " in " << run.dump(1);
  return Json::object();
}

std::string Sha256Sum(const std::string& path) {
  auto r = RunShell("/", "sha256sum '" + path + "' | cut -d' ' -f1");
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return "sha256:" + r.out.substr(0, 64);
}

// What a workspace records and stores, to check that a failed import changed none of it.
std::string WorkspaceState(const std::string& ws) {
  std::string state = RunBaton(ws, {"runs", "list", "-o", "json"}).out;
  state += RunBaton(ws, {"artifacts", "list", "-n", "0", "-o", "json"}).out;
  state += RunShell(ws, "find .baton/artifacts .baton/logs -print 2>/dev/null | sort").out;
  return state;
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
}

// Workspace A with two runs of the pipeline (the second with c=0.5, its load step cached), and
// an empty workspace B.
struct TwoWorkspaces {
  TempDir a, b;
  std::string pipeline, first, second;
  TwoWorkspaces() {
    pipeline = WritePipeline(a);
    first = RunPipeline(a.path(), pipeline);
    second = RunPipeline(a.path(), pipeline, {"-p", "c=0.5"});
    auto init = RunBaton(b.path(), {"init"});
    EXPECT_EQ(init.exit_code, 0) << Describe(init);
  }
  std::string Export(const std::string& run) {
    const std::string file = a.path() + "/" + run + ".tar";
    auto r = RunBaton(a.path(), {"runs", "export", run, file});
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    return file;
  }
};

TEST(CliTransfer, ExportedRunImportsWithRecordsLogsAndContents) {
  TwoWorkspaces w;
  ASSERT_EQ(RunBaton(w.a.path(), {"runs", "tag", w.second, "candidate"}).exit_code, 0);
  ASSERT_EQ(RunBaton(w.a.path(), {"runs", "note", w.second, "smaller c"}).exit_code, 0);
  const std::string file = w.Export(w.second);

  auto imported = RunBaton(w.b.path(), {"runs", "import", file});
  ASSERT_EQ(imported.exit_code, 0) << Describe(imported);
  EXPECT_NE(imported.out.find("imported run " + w.second), std::string::npos) << imported.out;

  Json in_a = BatonJson(w.a.path(), {"runs", "show", w.second});
  Json in_b = BatonJson(w.b.path(), {"runs", "show", w.second});
  EXPECT_EQ(in_b.value("id", ""), w.second);
  EXPECT_EQ(in_b.value("status", ""), "completed");
  EXPECT_EQ(in_b["parameters"], in_a["parameters"]);
  EXPECT_EQ(in_b["parameters"].value("c", 0.0), 0.5);
  EXPECT_EQ(in_b.value("snapshot", ""), in_a.value("snapshot", ""));
  EXPECT_EQ(in_b["tags"], Json::array({"candidate"}));
  EXPECT_EQ(in_b.value("note", ""), "smaller c");
  ASSERT_EQ(in_b["steps"].size(), 3u);
  for (const std::string step : {"load", "train", "report"}) {
    Json sa = StepOf(in_a, step), sb = StepOf(in_b, step);
    EXPECT_EQ(sb.value("status", ""), sa.value("status", "")) << step;
    EXPECT_EQ(sb["metadata"], sa["metadata"]) << step;
    ASSERT_EQ(sb["outputs"].size(), sa["outputs"].size()) << step;
    for (auto it = sa["outputs"].begin(); it != sa["outputs"].end(); ++it)
      EXPECT_EQ(sb["outputs"][it.key()].value("digest", "b"), it->value("digest", "a")) << step;
  }
  EXPECT_EQ(StepOf(in_b, "load").value("status", ""), "cached");
  EXPECT_EQ(StepOf(in_b, "train")["metadata"].value("accuracy", 0.0), 0.5);
  // Inputs follow the new artifact ids of workspace B.
  EXPECT_EQ(StepOf(in_b, "train")["inputs"]["raw"].value("id", -1),
            StepOf(in_b, "load")["outputs"]["raw"].value("id", -2));

  // Every imported artifact exports from B with the content it had in A.
  Json arts = BatonJson(w.b.path(), {"artifacts", "list", "--run", w.second});
  ASSERT_EQ(arts.size(), 3u);
  for (const auto& art : arts) {
    const std::string id = std::to_string(art.value("id", -1));
    const std::string dest = w.b.path() + "/out-" + id;
    auto exp = RunBaton(w.b.path(), {"artifacts", "export", id, dest});
    ASSERT_EQ(exp.exit_code, 0) << Describe(exp);
    if (art.value("kind", "") == "file") {
      EXPECT_EQ(Sha256Sum(dest), art.value("digest", "")) << art.dump();
    } else {
      Json shown_a =
          BatonJson(w.a.path(), {"artifacts", "show", art.value("digest", "").substr(7, 16)});
      const std::string dest_a = w.a.path() + "/out-" + id;
      ASSERT_EQ(RunBaton(w.a.path(),
                         {"artifacts", "export", std::to_string(shown_a.value("id", -1)), dest_a})
                    .exit_code,
                0);
      auto diff = RunShell(
          "/", "diff -r '" + dest_a + "' '" + dest + "' && test -x '" + dest + "/predict.sh'");
      EXPECT_EQ(diff.exit_code, 0) << Describe(diff);
    }
  }
  // Logs came along.
  auto logs = RunBaton(w.b.path(), {"runs", "logs", w.second, "report"});
  EXPECT_EQ(logs.exit_code, 0) << Describe(logs);
  EXPECT_NE(logs.out.find("report-log-line"), std::string::npos) << logs.out;
  // The export left only the archive beside it.
  auto leftovers = RunShell(w.a.path(), "ls -a | grep -c '\\.tmp' || true");
  EXPECT_EQ(leftovers.out, "0\n");
}

TEST(CliTransfer, ImportingTwiceFailsAndChangesNothing) {
  TwoWorkspaces w;
  const std::string file = w.Export(w.first);
  ASSERT_EQ(RunBaton(w.b.path(), {"runs", "import", file}).exit_code, 0);
  const std::string before = WorkspaceState(w.b.path());
  auto again = RunBaton(w.b.path(), {"runs", "import", file});
  EXPECT_EQ(again.exit_code, 2) << Describe(again);
  EXPECT_NE(again.err.find("run " + w.first + " is in this workspace already"), std::string::npos)
      << again.err;
  EXPECT_EQ(WorkspaceState(w.b.path()), before);
  // A run imported into the workspace it came from is refused the same way.
  auto home = RunBaton(w.a.path(), {"runs", "import", file});
  EXPECT_EQ(home.exit_code, 2) << Describe(home);
}

TEST(CliTransfer, CorruptedArchiveImportsNothing) {
  TwoWorkspaces w;
  const std::string file = w.Export(w.first);
  std::string bytes = ReadFileOrDie(file);
  const size_t at = bytes.find("LOAD3DATA");
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(bytes.find("LOAD3DATA", at + 1), std::string::npos) << "content must be unique";
  bytes[at + 4] = 'X';
  WriteBytes(file, bytes);

  const std::string before = WorkspaceState(w.b.path());
  auto r = RunBaton(w.b.path(), {"runs", "import", file});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("artifact load.raw"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("does not match its digest"), std::string::npos) << r.err;
  EXPECT_EQ(WorkspaceState(w.b.path()), before);
  EXPECT_EQ(RunShell(w.b.path(), "find .baton/artifacts -type f | wc -l").out, "0\n");
  EXPECT_EQ(RunShell(w.b.path(), "ls -d .baton/import-* 2>/dev/null | wc -l").out, "0\n");
}

TEST(CliTransfer, TruncatedOrForeignFilesAreRefused) {
  TwoWorkspaces w;
  const std::string file = w.Export(w.first);
  const std::string bytes = ReadFileOrDie(file);
  const std::string cut = w.a.path() + "/cut.tar";
  WriteBytes(cut, bytes.substr(0, bytes.size() / 2));
  const std::string text = w.a.path() + "/notes.txt";
  WriteBytes(text, std::string(2048, 'x'));
  w.a.Write("plain/hello.txt", "hello\n");
  const std::string plain = w.a.path() + "/plain.tar";
  ASSERT_EQ(RunShell(w.a.path(), "tar cf plain.tar -C plain hello.txt").exit_code, 0);

  const std::string before = WorkspaceState(w.b.path());
  for (const auto& [path, says] :
       std::vector<std::pair<std::string, std::string>>{{cut, "not a whole baton run archive"},
                                                        {text, "not a whole baton run archive"},
                                                        {plain, "holds no manifest.json"}}) {
    auto r = RunBaton(w.b.path(), {"runs", "import", path});
    EXPECT_EQ(r.exit_code, 2) << path << ": " << Describe(r);
    EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
  }
  EXPECT_EQ(WorkspaceState(w.b.path()), before);
  auto missing = RunBaton(w.b.path(), {"runs", "import", w.a.path() + "/nothing.tar"});
  EXPECT_EQ(missing.exit_code, 2) << Describe(missing);
}

TEST(CliTransfer, ExportRefusesAnExistingFileAnUnknownRunAndARunningOne) {
  TempDir d;
  const std::string pipeline = WritePipeline(d);
  const std::string run = RunPipeline(d.path(), pipeline);
  const std::string taken = d.Write("taken.tar", "mine\n");
  auto exists = RunBaton(d.path(), {"runs", "export", run, taken});
  EXPECT_EQ(exists.exit_code, 2) << Describe(exists);
  EXPECT_EQ(ReadFileOrDie(taken), "mine\n");
  auto unknown = RunBaton(d.path(), {"runs", "export", "no-such-run", d.path() + "/x.tar"});
  EXPECT_NE(unknown.exit_code, 0) << Describe(unknown);
  EXPECT_NE(unknown.err.find("baton: error:"), std::string::npos) << unknown.err;

  d.Write("slow.yaml", "name: slow\nsteps:\n  wait:\n    run: sleep 60\n");
  pid_t pid =
      SpawnBaton(d.path(), {"run", "slow.yaml"}, d.path() + "/slow.out", d.path() + "/slow.err");
  ASSERT_GT(pid, 0);
  std::string running;
  for (int i = 0; i < 600 && running.empty(); ++i) {
    Json runs = BatonJson(d.path(), {"runs", "list", "--status", "running"});
    if (runs.is_array() && !runs.empty())
      running = runs[0].value("id", "");
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(running.empty()) << "the slow run never started";
  auto r = RunBaton(d.path(), {"runs", "export", running, d.path() + "/slow.tar"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("still running"), std::string::npos) << r.err;
  EXPECT_EQ(RunShell(d.path(), "ls | grep -c slow.tar || true").out, "0\n");
  EXPECT_EQ(RunBaton(d.path(), {"runs", "stop", running}).exit_code, 0);
  WaitExit(pid);
}

// The line of a compare table whose name column is `name`, or "".
std::string Row(const std::string& table, const std::string& name) {
  std::regex re("^\\*?\\s+" + name + "\\s.*$", std::regex::multiline);
  std::smatch m;
  return std::regex_search(table, m, re) ? m.str() : "";
}

TEST(CliTransfer, CompareMarksParametersOutputsAndMetricsThatDiffer) {
  TwoWorkspaces w;
  auto table = RunBaton(w.a.path(), {"runs", "compare", w.first, w.second});
  ASSERT_EQ(table.exit_code, 0) << Describe(table);
  const std::string& t = table.out;
  EXPECT_EQ(Row(t, "c").substr(0, 1), "*") << t;
  EXPECT_NE(Row(t, "size"), "") << t;
  EXPECT_NE(Row(t, "size").substr(0, 1), "*") << t;
  EXPECT_NE(Row(t, "load"), "") << t;
  EXPECT_NE(Row(t, "load").substr(0, 1), "*") << "completed vs cached is no change\n" << t;
  EXPECT_NE(Row(t, "raw").substr(0, 1), "*") << t;
  EXPECT_EQ(Row(t, "train").substr(0, 1), "*") << t;
  EXPECT_EQ(Row(t, "model").substr(0, 1), "*") << t;
  EXPECT_EQ(Row(t, "summary").substr(0, 1), "*") << t;
  const std::string accuracy = Row(t, "train\\.accuracy");
  EXPECT_EQ(accuracy.substr(0, 1), "*") << t;
  EXPECT_NE(accuracy.find("(-0.5)"), std::string::npos) << t;
  EXPECT_NE(Row(t, "train\\.loss").substr(0, 1), "*") << t;

  Json j = BatonJson(w.a.path(), {"runs", "compare", w.first, w.second});
  ASSERT_EQ(j["runs"].size(), 2u);
  EXPECT_EQ(j["runs"][0].value("id", ""), w.first);
  EXPECT_EQ(j["parameters"]["c"], Json::array({1.0, 0.5}));
  EXPECT_EQ(j["parameters"]["size"], Json::array({3, 3}));
  EXPECT_EQ(j["metrics"]["train.accuracy"], Json::array({1.0, 0.5}));
  EXPECT_EQ(j["differences"]["parameters"], Json::array({"c"}));
  EXPECT_EQ(j["differences"]["metrics"], Json::array({"train.accuracy"}));
  Json outputs = j["differences"]["outputs"];
  EXPECT_NE(std::find(outputs.begin(), outputs.end(), "train.model"), outputs.end()) << outputs;
  EXPECT_EQ(std::find(outputs.begin(), outputs.end(), "load.raw"), outputs.end()) << outputs;
  const Json& load = j["steps"]["load"];
  ASSERT_EQ(load.size(), 2u);
  EXPECT_FALSE(load[0].value("cached", true));
  EXPECT_TRUE(load[1].value("cached", false));
  EXPECT_EQ(load[0]["outputs"]["raw"], load[1]["outputs"]["raw"]);
  EXPECT_NE(j["steps"]["train"][0]["outputs"]["model"], j["steps"]["train"][1]["outputs"]["model"]);
  EXPECT_EQ(j["steps"]["train"][1].value("status", ""), "completed");

  // Usage errors and unknown runs.
  auto one = RunBaton(w.a.path(), {"runs", "compare", w.first});
  EXPECT_EQ(one.exit_code, 2) << Describe(one);
  auto unknown = RunBaton(w.a.path(), {"runs", "compare", w.first, "no-such-run"});
  EXPECT_NE(unknown.exit_code, 0) << Describe(unknown);
  EXPECT_NE(unknown.err.find("no-such-run"), std::string::npos) << unknown.err;
}

}  // namespace
}  // namespace baton::testing
