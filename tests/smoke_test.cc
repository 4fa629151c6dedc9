#include <gtest/gtest.h>

#include "test_util.h"

namespace baton::testing {

TEST(Smoke, VersionAndHelp) {
  TempDir d;
  auto r = RunBaton(d.path(), {"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("baton"), std::string::npos);
  r = RunBaton(d.path(), {"nosuchcommand"});
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace baton::testing
