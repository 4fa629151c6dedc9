// The official YAML test suite (402 cases, read in place from ../shared/reference) through the
// YAML layer the pipeline and run-config parsers use: every valid case must parse and every
// invalid one (a case directory holding an `error` file) must be refused.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/yaml_doc.h"

namespace baton {
namespace {

namespace stdfs = std::filesystem;

const char* const kSuite = BATON_SOURCE_DIR "/../shared/reference/yaml-test-suite";

std::string Slurp(const stdfs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(YamlConformance, EveryCaseOfTheYamlTestSuiteGetsItsVerdict) {
  if (!stdfs::is_directory(kSuite)) {
    if (std::getenv("CI") != nullptr) FAIL() << "the YAML test suite is missing: " << kSuite;
    GTEST_SKIP() << "the YAML test suite is not at " << kSuite
                 << " (it is required where CI is set)";
  }
  std::vector<stdfs::path> cases;
  for (const auto& e : stdfs::directory_iterator(kSuite))
    if (stdfs::exists(e.path() / "in.yaml")) cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());
  ASSERT_EQ(cases.size(), 402u) << "the suite in " << kSuite << " changed";

  int valid = 0, invalid = 0, wrong = 0;
  for (const auto& dir : cases) {
    const bool want_error = stdfs::exists(dir / "error");
    yaml::Stream stream;
    yaml::Error error;
    const bool ok = yaml::ParseStream(Slurp(dir / "in.yaml"), &stream, &error);
    (want_error ? invalid : valid)++;
    if (ok == !want_error) continue;
    ++wrong;
    ADD_FAILURE() << dir.filename().string() << ": "
                  << (want_error ? "invalid YAML was accepted"
                                 : "valid YAML was refused at " + std::to_string(error.line) + ":" +
                                       std::to_string(error.column) + ": " + error.message);
  }
  EXPECT_EQ(valid, 308);
  EXPECT_EQ(invalid, 94);
  EXPECT_EQ(wrong, 0);
}

}  // namespace
}  // namespace baton
