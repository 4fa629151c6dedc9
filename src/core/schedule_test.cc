#include "core/schedule.h"

#include <gtest/gtest.h>

namespace baton {
namespace {

constexpr int64_t kS = 1'000'000;
// 2026-12-07T00:00:00Z, a Monday.
const int64_t kT0 = DaysFromCivil(2026, 12, 7) * 86400 * kS;

ScheduleRecord Schedule(const std::string& cron, const std::string& catchup, const std::string& overlap) {
  ScheduleRecord s;
  s.name = "s";
  s.cron = cron;
  s.catchup = catchup;
  s.overlap = overlap;
  s.last_fire = kT0;
  s.last_run = "s-last";
  return s;
}

ScheduleDecision Decide(const ScheduleRecord& s, int64_t now, bool active = false) {
  auto cron = ParseCron(s.cron);
  EXPECT_TRUE(cron.ok());
  auto d = DecideSchedule(s, *cron, TimeZone::Utc(), now, active);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? *d : ScheduleDecision{};
}

using Kind = ScheduleDecision::Kind;

TEST(Schedule, NothingIsDueBeforeTheNextTime) {
  auto d = Decide(Schedule("* * * * *", "latest", "skip"), kT0 + 30 * kS);
  EXPECT_EQ(d.kind, Kind::kWait);
  EXPECT_EQ(d.next_us, kT0 + 60 * kS);
  d = Decide(Schedule("* * * * *", "latest", "skip"), kT0 + 61 * kS);
  EXPECT_EQ(d.kind, Kind::kRun);
  EXPECT_EQ(d.fire_us, kT0 + 60 * kS);
  EXPECT_EQ(d.next_us, kT0 + 120 * kS);
}

TEST(Schedule, CatchUpPicksTheOldestTheNewestOrNone) {
  const int64_t now = kT0 + (3 * 3600 + 600) * kS;  // 03:10, the 03:00 run 10 minutes late
  auto all = Decide(Schedule("@hourly", "all", "skip"), now);
  EXPECT_EQ(all.kind, Kind::kRun);
  EXPECT_EQ(all.fire_us, kT0 + 3600 * kS);
  auto latest = Decide(Schedule("@hourly", "latest", "skip"), now);
  EXPECT_EQ(latest.kind, Kind::kRun);
  EXPECT_EQ(latest.fire_us, kT0 + 3 * 3600 * kS);
  auto none = Decide(Schedule("@hourly", "none", "skip"), now);
  EXPECT_EQ(none.kind, Kind::kPass);
  EXPECT_EQ(none.fire_us, kT0 + 3 * 3600 * kS);
  // On time (within the minute), none runs it.
  auto on_time = Decide(Schedule("@hourly", "none", "skip"), kT0 + (3 * 3600 + 20) * kS);
  EXPECT_EQ(on_time.kind, Kind::kRun);
  EXPECT_EQ(on_time.fire_us, kT0 + 3 * 3600 * kS);
}

TEST(Schedule, OverlapSkipsQueuesOrAllows) {
  const int64_t now = kT0 + 61 * kS;
  auto skip = Decide(Schedule("* * * * *", "latest", "skip"), now, true);
  EXPECT_EQ(skip.kind, Kind::kPass);
  EXPECT_EQ(skip.fire_us, kT0 + 60 * kS);
  EXPECT_NE(skip.why.find("s-last"), std::string::npos) << skip.why;
  auto queue = Decide(Schedule("* * * * *", "latest", "queue"), now, true);
  EXPECT_EQ(queue.kind, Kind::kWait);
  EXPECT_EQ(queue.fire_us, kT0 + 60 * kS);
  auto allow = Decide(Schedule("* * * * *", "latest", "allow"), now, true);
  EXPECT_EQ(allow.kind, Kind::kRun);
  // Once the last run ended, the queued time runs.
  auto after = Decide(Schedule("* * * * *", "latest", "queue"), now + 45 * kS, false);
  EXPECT_EQ(after.kind, Kind::kRun);
  EXPECT_EQ(after.fire_us, kT0 + 60 * kS);
}

TEST(Schedule, PausedAndNeverFiredSchedulesAndOnesFarBehind) {
  ScheduleRecord paused = Schedule("* * * * *", "latest", "skip");
  paused.paused = true;
  auto p = Decide(paused, kT0 + 600 * kS);
  EXPECT_EQ(p.kind, Kind::kWait);
  ScheduleRecord fresh = Schedule("* * * * *", "all", "skip");
  fresh.last_fire = 0;
  fresh.created_at = kT0 + 30 * kS;
  auto f = Decide(fresh, kT0 + 61 * kS);
  EXPECT_EQ(f.kind, Kind::kRun);
  EXPECT_EQ(f.fire_us, kT0 + 60 * kS);  // not 1970
  // A minute's schedule a year behind: the newest, and the next after now.
  ScheduleRecord behind = Schedule("* * * * *", "latest", "skip");
  behind.last_fire = kT0 - int64_t{365} * 86400 * kS;
  auto b = Decide(behind, kT0 + 125 * kS);
  EXPECT_EQ(b.kind, Kind::kRun);
  EXPECT_EQ(b.fire_us, kT0 + 120 * kS);
  EXPECT_EQ(b.next_us, kT0 + 180 * kS);
  ScheduleRecord oldest = behind;
  oldest.catchup = "all";
  EXPECT_EQ(Decide(oldest, kT0 + 125 * kS).fire_us, behind.last_fire + 60 * kS);
  // A cron that never fires.
  ScheduleRecord never = Schedule("0 0 30 2 *", "latest", "skip");
  auto n = Decide(never, kT0);
  EXPECT_EQ(n.kind, Kind::kWait);
  EXPECT_EQ(n.next_us, 0);
}

TEST(Schedule, Policies) {
  for (const char* c : {"none", "latest", "all"}) EXPECT_TRUE(ValidCatchup(c));
  for (const char* o : {"skip", "queue", "allow"}) EXPECT_TRUE(ValidOverlap(o));
  EXPECT_FALSE(ValidCatchup("skip"));
  EXPECT_FALSE(ValidOverlap("all"));
}

}  // namespace
}  // namespace baton
