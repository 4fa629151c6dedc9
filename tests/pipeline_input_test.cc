// End-to-end tests of what baton accepts as a pipeline file, a run config and a -p value: only
// regular files under the size limit, only well-formed YAML with one document and standard tags,
// and values that are wrong are located errors (exit 2), whatever their size or bytes.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace baton::testing {
namespace {

const char kWithEpochs[] =
    "name: x\n"
    "description: d\n"
    "parameters:\n"
    "  epochs: 3\n"
    "  label: hi\n"
    "steps:\n"
    "  a:\n"
    "    run: echo {{params.epochs}} {{params.label}}\n";

TEST(PipelineInput, AWrongCommandLineValueNamesTheParameterInTheFile) {
  TempDir d;
  d.Write("p.yaml", kWithEpochs);
  auto r = RunBaton(d.path(), {"run", "p.yaml", "-p", "epochs=three"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_EQ(r.err, "p.yaml:4:3: error: parameter 'epochs' is an int; -p epochs=three is not\n")
      << Describe(r);
  // Bytes that are not UTF-8 are refused the same way, never an abort.
  r = RunBaton(d.path(), {"run", "p.yaml", "-p", "label=b\xff"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_EQ(r.err, "p.yaml:5:3: error: parameter 'label': -p label=b\\xFF is not valid UTF-8\n")
      << Describe(r);
}

TEST(PipelineInput, OnlyRegularFilesAreRead) {
  TempDir d;
  // A device would be read until memory runs out, a FIFO would block forever.
  auto r = RunBaton(d.path(), {"run", "/dev/zero"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("/dev/zero is a character device, not a regular file"), std::string::npos)
      << Describe(r);
  ASSERT_EQ(RunShell(d.path(), "mkfifo p.fifo").exit_code, 0);
  r = RunBaton(d.path(), {"run", "p.fifo"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("p.fifo is a FIFO, not a regular file"), std::string::npos) << Describe(r);
  d.Write("p.yaml", kWithEpochs);
  r = RunBaton(d.path(), {"run", "p.yaml", "-c", "p.fifo"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("p.fifo is a FIFO, not a regular file"), std::string::npos) << Describe(r);
  r = RunBaton(d.path(), {"run", "."});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("is a directory, not a regular file"), std::string::npos) << Describe(r);
}

TEST(PipelineInput, AFileOverTheLimitIsNotRead) {
  TempDir d;
  d.Write("big.yaml", std::string(kWithEpochs) + "# ");
  // Sparse: a size past the limit costs no disk, and it is refused by its size before any read.
  ASSERT_EQ(RunShell(d.path(), "truncate -s 257M big.yaml").exit_code, 0);
  auto r = RunBaton(d.path(), {"run", "big.yaml"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("big.yaml is larger than 256 MiB"), std::string::npos) << Describe(r);
}

TEST(PipelineInput, MalformedFilesNeverRun) {
  TempDir d;
  // yaml-cpp read the unterminated string to the end of the file and ran it.
  d.Write("open.yaml", "name: x\nsteps:\n  a:\n    run: \"touch ran-unterminated\n");
  // yaml-cpp dropped the tag and ran the value.
  d.Write("tag.yaml", "name: x\nsteps:\n  a:\n    run: !include touch ran-tagged\n");
  // yaml-cpp ignored the second document.
  d.Write("two.yaml", "name: x\nsteps:\n  a:\n    run: touch ran-first\n---\nname: y\n");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"open.yaml",
       "open.yaml:4:11: error: invalid YAML: double-quoted scalar without closing quote"},
      {"tag.yaml", "tag.yaml:4:10: error: unknown tag '!include'"},
      {"two.yaml", "two.yaml:5:1: error: a second YAML document"}};
  for (const auto& [file, want] : cases) {
    auto r = RunBaton(d.path(), {"run", file});
    EXPECT_EQ(r.exit_code, 2) << Describe(r);
    EXPECT_EQ(r.err.rfind(want, 0), 0u) << want << "\n" << Describe(r);
  }
  for (const char* f : {"ran-unterminated", "ran-tagged", "ran-first"})
    EXPECT_FALSE(RunShell(d.path(), std::string("test -e ") + f).exit_code == 0) << f << " was run";
}

TEST(PipelineInput, AnAliasBombIsRefusedInBoundedMemory) {
  // Nine levels of ten aliases: 10^9 nodes once expanded, from a file of under 1 KiB.
  std::string y =
      "name: x\nsteps: {a: {run: 'true'}}\nx:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, "
      "lol, lol]\n";
  for (int i = 1; i < 9; ++i) {
    std::string p = "*l" + std::to_string(i - 1);
    y += "  l" + std::to_string(i) + ": &l" + std::to_string(i) + " [" + p;
    for (int k = 1; k < 10; ++k) y += ", " + p;
    y += "]\n";
  }
  // In a flavor block the value is read whole (and an invalid one was printed whole).
  y += "defaults: {orchestrator: {local: {jobs: *l8}}}\n";
  TempDir d;
  d.Write("lol.yaml", y);
#ifdef BATON_SANITIZED_BUILD
  const std::string limit = "";  // sanitizers reserve more address space than any limit allows
#else
  const std::string limit = "ulimit -v 1000000 && ";  // 1 GB of address space
#endif
  auto r = RunShell(d.path(), limit + "'" + BatonBinary() + "' run lol.yaml");
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("lol.yaml:"), std::string::npos) << r.err.substr(0, 500);
  EXPECT_NE(r.err.find("aliases in this document expand to more than 1000000 nodes"), std::string::npos)
      << r.err.substr(0, 500);
  EXPECT_LT(r.err.size(), 1000u);
}

}  // namespace
}  // namespace baton::testing
