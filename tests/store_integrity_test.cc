// End-to-end tests of the artifact store's integrity with the real baton binary: outputs that are
// hard links to the user's files, objects damaged behind the store's back (served, exported,
// stored again, verified), and bytes that are not UTF-8 in what baton records and prints.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_util.h"

namespace baton::testing {
namespace {

using Json = nlohmann::json;

std::string RunOk(const std::string& cwd, std::vector<std::string> args) {
  args.insert(args.begin(), "run");
  args.insert(args.end(), {"-q", "-o", "json"});
  auto r = RunBaton(cwd, args);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  Json j = Json::parse(r.out, nullptr, false);
  return j.is_object() ? j.value("run", "") : "";
}

// The steps of a run (runs show -o json), by name.
Json Steps(const std::string& cwd, const std::string& run) {
  const Json shown = JsonOf(cwd, {"runs", "show", run, "-o", "json"});
  Json out = Json::object();
  for (const auto& s : shown["steps"]) out[s.value("step", "")] = s;
  return out;
}

// The digest (hex) of a run's output `step.output`.
std::string DigestOf(const std::string& cwd, const std::string& run, const std::string& step,
                     const std::string& output) {
  for (const auto& a : JsonOf(cwd, {"artifacts", "list", "--run", run, "-o", "json"}))
    if (a.value("step", "") == step && a.value("name", "") == output)
      return a.value("digest", "").substr(7);
  ADD_FAILURE() << "run " << run << " has no output " << step << "." << output;
  return "";
}

std::string ObjectPath(const std::string& cwd, const std::string& digest) {
  return cwd + "/.baton/artifacts/sha256/" + digest.substr(0, 2) + "/" + digest;
}

// Changes the bytes of a stored file object (or of `file` inside a tree) behind the store's back,
// keeping its size unless `grow`.
void Damage(const std::string& cwd, const std::string& digest, const std::string& file = "",
            bool grow = false) {
  const std::string obj = ObjectPath(cwd, digest);
  const std::string target = file.empty() ? obj : obj + "/" + file;
  std::string cmd = "chmod u+w '" + obj + "' '" + target + "' && ";
  cmd += grow ? "printf 'more bytes' >> '" + target + "'"
              : "n=$(wc -c < '" + target + "') && head -c \"$n\" /dev/zero | tr '\\0' X > '" +
                    target + "'";
  auto r = RunShell(cwd, cmd);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
}

// What sha256sum says of a file.
std::string Sha256Of(const std::string& path) {
  auto r = RunProgram("/", {"/usr/bin/sha256sum", path});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return r.out.substr(0, r.out.find(' '));
}

struct stat StatOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

// ---- hard links ----

TEST(StoreIntegrity, AHardLinkedOutputNeverBecomesTheStoredObject) {
  TempDir d;
  d.Write("data.csv", "a,b\n1,2\n");
  ASSERT_EQ(::chmod((d.path() + "/data.csv").c_str(), 0644), 0);
  d.Write("p.yaml", R"(name: links
steps:
  file:
    run: ln data.csv {{outputs.raw}}
    outputs: [raw]
  tree:
    run: mkdir {{outputs.t}} && ln data.csv {{outputs.t}}/d.csv && echo own > {{outputs.t}}/own
    outputs: [t]
)");
  const std::string run = RunOk(d.path(), {"p.yaml"});
  // The user's file keeps its mode and is nobody else's inode.
  struct stat st = StatOf(d.path() + "/data.csv");
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(st.st_nlink, 1u);
  // Later edits to it do not reach the artifacts.
  d.Write("data.csv", "changed by the user\n");
  const std::string file = DigestOf(d.path(), run, "file", "raw");
  const std::string tree = DigestOf(d.path(), run, "tree", "t");
  EXPECT_EQ(Sha256Of(ObjectPath(d.path(), file)), file);
  EXPECT_EQ(ReadFileOrDie(ObjectPath(d.path(), tree) + "/d.csv"), "a,b\n1,2\n");
  for (const auto& [name, digest] : {std::pair{"file", file}, std::pair{"tree", tree}}) {
    auto r = RunBaton(d.path(),
                      {"artifacts", "export", digest.substr(0, 12), d.path() + "/out-" + name});
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
  }
  EXPECT_EQ(ReadFileOrDie(d.path() + "/out-file"), "a,b\n1,2\n");
  EXPECT_EQ(ReadFileOrDie(d.path() + "/out-tree/d.csv"), "a,b\n1,2\n");
}

// A step that hard-links its input elsewhere does not give the user a way into the store.
TEST(StoreIntegrity, AnInputLinkedOutOfTheStoreIsTakenBack) {
  TempDir d;
  d.Write("p.yaml", R"(name: out
steps:
  make:
    run: echo made > {{outputs.f}}
    outputs: [f]
  take:
    run: ln {{inputs.f}} mine.txt && echo ok > {{outputs.o}}
    inputs: {f: make.f}
    outputs: [o]
)");
  const std::string run = RunOk(d.path(), {"p.yaml"});
  const std::string f = DigestOf(d.path(), run, "make", "f");
  EXPECT_EQ(StatOf(ObjectPath(d.path(), f)).st_nlink, 1u);
  auto r = RunShell(d.path(), "chmod u+w mine.txt && echo changed > mine.txt");
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Sha256Of(ObjectPath(d.path(), f)), f);
  EXPECT_EQ(StatOf(ObjectPath(d.path(), f)).st_mode & 0222, 0u);
}

// ---- damaged objects ----

// make writes a file and a tree; use reads the file. `x` changes use's cache key only.
constexpr const char* kChain = R"(name: chain
parameters:
  x: 1
steps:
  make:
    run: echo made > {{outputs.f}} && mkdir {{outputs.t}} && echo leaf > {{outputs.t}}/leaf
    outputs: [f, t]
  use:
    run: echo "x={{params.x}}" > {{outputs.o}} && cat {{inputs.f}} >> {{outputs.o}}
    inputs: {f: make.f}
    outputs: [o]
)";

TEST(StoreIntegrity, ACacheHitOfAnotherSizeIsNotUsedAndTheStepRunsAgain) {
  TempDir d;
  d.Write("p.yaml", kChain);
  const std::string first = RunOk(d.path(), {"p.yaml"});
  const std::string f = DigestOf(d.path(), first, "make", "f");
  Damage(d.path(), f, "", /*grow=*/true);
  const std::string second = RunOk(d.path(), {"p.yaml"});
  Json steps = Steps(d.path(), second);
  EXPECT_EQ(steps["make"].value("status", ""), "completed") << steps.dump(2);
  EXPECT_NE(steps["make"].value("reason", "").find("damaged"), std::string::npos) << steps.dump(2);
  EXPECT_EQ(steps["use"].value("status", ""), "cached") << steps.dump(2);
  EXPECT_EQ(Sha256Of(ObjectPath(d.path(), f)), f);
  EXPECT_EQ(RunShell(d.path(), "ls .baton/artifacts/quarantine | grep -c " + f).out, "1\n");
}

TEST(StoreIntegrity, ADependentNeverReadsADamagedInput) {
  TempDir d;
  d.Write("p.yaml", kChain);
  const std::string first = RunOk(d.path(), {"p.yaml"});
  const std::string f = DigestOf(d.path(), first, "make", "f");
  Damage(d.path(), f);  // same size: the cache hit of make cannot tell
  auto r = RunBaton(d.path(), {"run", "p.yaml", "-q", "-p", "x=2", "-o", "json"});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  const std::string second = Json::parse(r.out, nullptr, false).value("run", "");
  Json steps = Steps(d.path(), second);
  EXPECT_EQ(steps["use"].value("status", ""), "failed") << steps.dump(2);
  EXPECT_NE(steps["use"].value("reason", "").find("damaged"), std::string::npos) << steps.dump(2);
  EXPECT_FALSE(RunShell(d.path(), "test -e " + ObjectPath(d.path(), f)).exit_code == 0);
  // The next run stores the content again and reads it.
  const std::string third = RunOk(d.path(), {"p.yaml", "-p", "x=2"});
  steps = Steps(d.path(), third);
  EXPECT_EQ(steps["make"].value("status", ""), "completed") << steps.dump(2);
  EXPECT_EQ(steps["use"].value("status", ""), "completed") << steps.dump(2);
  EXPECT_EQ(Sha256Of(ObjectPath(d.path(), f)), f);
}

// An output stored in this run is not hashed again by the step that reads it, unless the object
// changed since it was stored: a step in between that rewrites it in place is caught.
TEST(StoreIntegrity, AnObjectChangedDuringTheRunIsCaughtBeforeItIsRead) {
  TempDir d;
  d.Write("p.yaml", R"(name: p
steps:
  make:
    run: "printf 'hello\n' > {{outputs.f}}"
    outputs: [f]
  vandal:
    after: [make]
    run: "for o in .baton/artifacts/sha256/*/*; do chmod u+w $o; printf 'HELLO\n' > $o; done"
  use:
    after: [vandal]
    inputs: {f: make.f}
    run: "cat {{inputs.f}}"
)");
  auto r = RunBaton(d.path(), {"run", "p.yaml", "-q", "-o", "json"});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  Json steps = Steps(d.path(), Json::parse(r.out, nullptr, false).value("run", ""));
  EXPECT_EQ(steps["vandal"].value("status", ""), "completed") << steps.dump(2);
  EXPECT_EQ(steps["use"].value("status", ""), "failed") << steps.dump(2);
  EXPECT_NE(steps["use"].value("reason", "").find("damaged"), std::string::npos) << steps.dump(2);
}

TEST(StoreIntegrity, ExportRefusesDamagedContent) {
  TempDir d;
  d.Write("p.yaml", kChain);
  const std::string run = RunOk(d.path(), {"p.yaml"});
  const std::string f = DigestOf(d.path(), run, "make", "f");
  const std::string t = DigestOf(d.path(), run, "make", "t");
  Damage(d.path(), f);
  Damage(d.path(), t, "leaf");
  for (const std::string& digest : {f, t}) {
    const std::string dest = d.path() + "/out-" + digest.substr(0, 6);
    auto r = RunBaton(d.path(), {"artifacts", "export", digest.substr(0, 12), dest});
    EXPECT_NE(r.exit_code, 0) << Describe(r);
    EXPECT_NE(r.err.find("does not match its digest"), std::string::npos) << Describe(r);
    EXPECT_NE(RunShell(d.path(), "test -e " + dest).exit_code, 0) << dest;
    EXPECT_NE(RunShell(d.path(), "test -e " + ObjectPath(d.path(), digest)).exit_code, 0);
  }
}

TEST(StoreIntegrity, ContentProducedAgainReplacesADamagedObject) {
  TempDir d;
  d.Write("p.yaml", kChain);
  const std::string run = RunOk(d.path(), {"p.yaml"});
  const std::string f = DigestOf(d.path(), run, "make", "f");
  const std::string t = DigestOf(d.path(), run, "make", "t");
  Damage(d.path(), f);
  Damage(d.path(), t, "leaf");
  RunOk(d.path(), {"p.yaml", "--no-cache"});
  EXPECT_EQ(Sha256Of(ObjectPath(d.path(), f)), f);
  EXPECT_EQ(ReadFileOrDie(ObjectPath(d.path(), t) + "/leaf"), "leaf\n");
  auto r = RunBaton(d.path(), {"artifacts", "export", t.substr(0, 12), d.path() + "/tree"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
}

// ---- store verify ----

TEST(StoreIntegrity, StoreVerifyFindsAndQuarantinesDamagedObjects) {
  TempDir d;
  d.Write("p.yaml", kChain);
  const std::string run = RunOk(d.path(), {"p.yaml"});
  auto clean = RunBaton(d.path(), {"store", "verify"});
  EXPECT_EQ(clean.exit_code, 0) << Describe(clean);
  const std::string f = DigestOf(d.path(), run, "make", "f");
  const std::string t = DigestOf(d.path(), run, "make", "t");
  Damage(d.path(), f);
  Damage(d.path(), t, "leaf");
  auto r = RunBaton(d.path(), {"store", "verify", "-o", "json"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  Json j = Json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << Describe(r);
  ASSERT_EQ(j["stores"].size(), 1u) << j.dump(2);
  const Json& store = j["stores"][0];
  EXPECT_EQ(store.value("objects", 0), 3) << j.dump(2);
  std::vector<std::string> bad;
  for (const auto& b : store["damaged"]) bad.push_back(b.value("digest", ""));
  std::sort(bad.begin(), bad.end());
  std::vector<std::string> want = {"sha256:" + f, "sha256:" + t};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(bad, want) << j.dump(2);
  for (const std::string& digest : {f, t})
    EXPECT_NE(RunShell(d.path(), "test -e " + ObjectPath(d.path(), digest)).exit_code, 0);
  // The cache entries that named them are not used: make runs again, and all is well after.
  const std::string again = RunOk(d.path(), {"p.yaml"});
  EXPECT_EQ(Steps(d.path(), again)["make"].value("status", ""), "completed");
  auto after = RunBaton(d.path(), {"store", "verify"});
  EXPECT_EQ(after.exit_code, 0) << Describe(after);
}

// ---- bytes that are not UTF-8 ----

TEST(StoreIntegrity, BytesThatAreNotUtf8AreRecordedAndShown) {
  TempDir base;
  const std::string ws = base.path() + "/ws\xff";
  ASSERT_EQ(RunShell(base.path(), "mkdir 'ws\xff'").exit_code, 0);
  ASSERT_EQ(
      RunShell(ws,
               "cat > p.yaml <<'EOF'\n"
               "name: bytes\n"
               "parameters:\n"
               "  v: plain\n"
               "steps:\n"
               "  dir:\n"
               "    run: mkdir {{outputs.o}} && echo x > {{outputs.o}}/\"$(printf 'f\\377')\"\n"
               "    outputs: [o]\n"
               "  echo:\n"
               "    run: echo {{params.v}} > {{outputs.o}}\n"
               "    outputs: [o]\n"
               "EOF\n")
          .exit_code,
      0);
  auto run = RunBaton(ws, {"run", "p.yaml", "-q"});
  EXPECT_EQ(run.exit_code, 0) << Describe(run);
  // A value from the command line that is not UTF-8 is refused or recorded, never a crash.
  auto bad = RunBaton(ws, {"run", "p.yaml", "-q", "-p", "v=b\xff"});
  EXPECT_TRUE(bad.exit_code == 0 || bad.exit_code == 2) << Describe(bad);
  auto compiled = RunBaton(ws, {"compile", "p.yaml", "--out", "compiled"});
  EXPECT_EQ(compiled.exit_code, 0) << Describe(compiled);
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"runs", "show", "last"},
                                             {"runs", "show", "last", "-o", "json"},
                                             {"runs", "list", "-o", "json"},
                                             {"artifacts", "list", "-o", "json"},
                                             {"artifacts", "show", "1", "-o", "json"},
                                             {"artifacts", "show", "1"}}) {
    auto r = RunBaton(ws, args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << " " << args[1] << ": " << Describe(r);
    if (args.back() == "json") {
      EXPECT_FALSE(Json::parse(r.out, nullptr, false).is_discarded()) << r.out;
    }
  }
}

}  // namespace
}  // namespace baton::testing
