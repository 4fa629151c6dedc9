#include "core/cron.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace baton {
namespace {

// 2026-12-07T05:02:30Z and friends, in seconds.
int64_t At(int64_t y, unsigned mo, unsigned d, int h, int mi, int s = 0) {
  return DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

TimeZone Zone(const std::string& name) {
  std::ifstream in("/usr/share/zoneinfo/" + name, std::ios::binary);
  std::stringstream data;
  data << in.rdbuf();
  auto tz = TimeZone::FromTzif(name, data.str());
  EXPECT_TRUE(tz.ok()) << tz.status().ToString();
  return tz.ok() ? *tz : TimeZone::Utc();
}

int64_t Next(const std::string& expr, const TimeZone& tz, int64_t after) {
  auto spec = ParseCron(expr);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  if (!spec.ok()) return -1;
  auto t = NextFireTime(*spec, tz, after);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : -1;
}

TEST(Civil, DaysAndWeekdays) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(WeekdayFromDays(0), 4);  // a Thursday
  EXPECT_EQ(WeekdayFromDays(-1), 3);
  EXPECT_EQ(WeekdayFromDays(DaysFromCivil(2026, 12, 7)), 1);  // a Monday
  int64_t y;
  unsigned m, d;
  CivilFromDays(DaysFromCivil(2000, 2, 29), &y, &m, &d);
  EXPECT_EQ(y, 2000);
  EXPECT_EQ(m, 2u);
  EXPECT_EQ(d, 29u);
}

TEST(Cron, FieldsRangesStepsListsAndNames) {
  auto s = ParseCron("*/15 9-17 * JAN,jul mon-fri");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->minutes.count(), 4u);
  EXPECT_TRUE(s->minutes[45]);
  EXPECT_EQ(s->hours.count(), 9u);
  EXPECT_TRUE(s->months[1] && s->months[7]);
  EXPECT_EQ(s->months.count(), 2u);
  EXPECT_EQ(s->weekdays.count(), 5u);
  EXPECT_FALSE(s->weekdays[0]);
  auto sunday = ParseCron("0 0 * * 7");
  ASSERT_TRUE(sunday.ok());
  EXPECT_TRUE(sunday->weekdays[0]);
  auto stepped = ParseCron("5/20 1-10/3 * * *");
  ASSERT_TRUE(stepped.ok());
  EXPECT_EQ(stepped->minutes.count(), 3u);  // 5, 25, 45
  EXPECT_TRUE(stepped->hours[1] && stepped->hours[4] && stepped->hours[7] && stepped->hours[10]);
  EXPECT_EQ(stepped->hours.count(), 4u);
  auto daily = ParseCron("@daily");
  ASSERT_TRUE(daily.ok());
  EXPECT_TRUE(daily->minutes[0] && daily->hours[0]);
  EXPECT_EQ(daily->hours.count(), 1u);
}

TEST(Cron, ErrorsNameTheFieldAndColumn) {
  const std::pair<const char*, const char*> cases[] = {
      {"60 * * * *", "column 1: the minute is 0-59, not 60"},
      {"* * * *", "five fields"},
      {"* 5-2 * * *", "column 3: a hour range goes up"},
      {"*/0 * * * *", "column 3: a step is a positive number"},
      {"* * * foo *", "column 7: expected a month"},
      {"* * 0 * *", "column 5: the day of month is 1-31, not 0"},
      {"1,,2 * * * *", "column 3: expected a minute"},
      {"1, * * * *", "column 3: a list ends with ','"},
      {"@often", "unknown macro"},
      {"* * * * 8", "day of week is 0-7, not 8"},
  };
  for (const auto& [text, message] : cases) {
    auto s = ParseCron(text);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.status().code(), Code::kInvalidArgument);
    EXPECT_NE(s.status().message().find(message), std::string::npos) << text << ": " << s.status().message();
  }
}

TEST(Cron, NextFireTimeInUtc) {
  const TimeZone utc = TimeZone::Utc();
  EXPECT_EQ(Next("*/15 * * * *", utc, At(2026, 12, 7, 5, 2, 30)), At(2026, 12, 7, 5, 15));
  EXPECT_EQ(Next("*/15 * * * *", utc, At(2026, 12, 7, 5, 15)), At(2026, 12, 7, 5, 30));  // strictly after
  EXPECT_EQ(Next("0 9 * * mon-fri", utc, At(2026, 12, 11, 10, 0)), At(2026, 12, 14, 9, 0));  // Fri -> Mon
  EXPECT_EQ(Next("0 0 1 1 *", utc, At(2026, 12, 7, 0, 0)), At(2027, 1, 1, 0, 0));
  EXPECT_EQ(Next("0 0 29 2 *", utc, At(2026, 3, 1, 0, 0)), At(2028, 2, 29, 0, 0));
  // Both day fields restricted: either fires (the 13th, and Fridays).
  EXPECT_EQ(Next("0 0 13 * fri", utc, At(2026, 12, 7, 0, 0)), At(2026, 12, 11, 0, 0));
  EXPECT_EQ(Next("0 0 13 * fri", utc, At(2026, 12, 11, 0, 0)), At(2026, 12, 13, 0, 0));
  auto never = ParseCron("0 0 30 2 *");
  ASSERT_TRUE(never.ok());
  EXPECT_EQ(NextFireTime(*never, utc, At(2026, 1, 1, 0, 0)).status().code(), Code::kNotFound);
}

TEST(Cron, DaylightSavingChangesInBerlin) {
  const TimeZone berlin = Zone("Europe/Berlin");
  // Winter: UTC+1; summer: UTC+2.
  EXPECT_EQ(berlin.OffsetAt(At(2026, 1, 15, 12, 0)), 3600);
  EXPECT_EQ(berlin.OffsetAt(At(2026, 7, 15, 12, 0)), 7200);
  EXPECT_EQ(Next("0 9 * * *", berlin, At(2026, 12, 7, 0, 0)), At(2026, 12, 7, 8, 0));
  // 2026-03-29: clocks go from 02:00 to 03:00. 02:30 does not happen that day.
  EXPECT_TRUE(berlin.ToUtc(At(2026, 3, 29, 2, 30)).empty());
  EXPECT_EQ(Next("30 2 * * *", berlin, At(2026, 3, 28, 12, 0)), At(2026, 3, 30, 0, 30));
  // 2026-10-25: clocks go from 03:00 back to 02:00. 02:30 happens twice.
  EXPECT_EQ(berlin.ToUtc(At(2026, 10, 25, 2, 30)).size(), 2u);
  EXPECT_EQ(Next("30 2 * * *", berlin, At(2026, 10, 24, 12, 0)), At(2026, 10, 25, 0, 30));
  EXPECT_EQ(Next("30 2 * * *", berlin, At(2026, 10, 25, 0, 30)), At(2026, 10, 26, 1, 30));  // once
  EXPECT_EQ(Next("30 * * * *", berlin, At(2026, 10, 25, 0, 30)), At(2026, 10, 25, 1, 30));  // hourly: both
  // Past the file's transitions (2037), its footer rule: CET-1CEST,M3.5.0,M10.5.0/3.
  EXPECT_EQ(berlin.OffsetAt(At(2050, 1, 1, 12, 0)), 3600);
  EXPECT_EQ(berlin.OffsetAt(At(2050, 7, 1, 12, 0)), 7200);
  EXPECT_EQ(berlin.OffsetAt(At(2050, 3, 27, 0, 59)), 3600);  // last Sunday of March 2050 is the 27th
  EXPECT_EQ(berlin.OffsetAt(At(2050, 3, 27, 1, 0)), 7200);
}

TEST(Cron, OtherZonesAndBadData) {
  const TimeZone ny = Zone("America/New_York");
  EXPECT_EQ(ny.OffsetAt(At(2026, 12, 7, 12, 0)), -5 * 3600);
  EXPECT_EQ(ny.OffsetAt(At(2060, 7, 4, 12, 0)), -4 * 3600);
  EXPECT_EQ(Next("0 0 * * *", ny, At(2026, 12, 7, 12, 0)), At(2026, 12, 8, 5, 0));
  const TimeZone kolkata = Zone("Asia/Kolkata");
  EXPECT_EQ(Next("0 9 * * *", kolkata, At(2026, 12, 7, 0, 0)), At(2026, 12, 7, 3, 30));
  EXPECT_FALSE(TimeZone::FromTzif("junk", "not a tzif file at all, no no no no no no no no no").ok());
  EXPECT_FALSE(TimeZone::FromTzif("short", "TZif2").ok());
}

}  // namespace
}  // namespace baton
