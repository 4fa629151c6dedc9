#include "core/schedule.h"


namespace baton {

bool ValidCatchup(const std::string& t) { return t == "none" || t == "latest" || t == "all"; }
bool ValidOverlap(const std::string& t) { return t == "skip" || t == "queue" || t == "allow"; }

Result<ScheduleDecision> DecideSchedule(const ScheduleRecord& s, const CronSpec& cron, const TimeZone& tz,
                                        int64_t now_us, bool last_run_active, int64_t late_us) {
  ScheduleDecision d;
  const int64_t now = now_us / 1'000'000;
  // A schedule never fired counts from when it was made: it does not catch up on the past.
  const int64_t last = (s.last_fire ? s.last_fire : s.created_at) / 1'000'000;
  // The oldest due time, and the next time after now.
  auto first = NextFireTime(cron, tz, last);
  if (!first.ok() && first.status().code() != Code::kNotFound) return first.status();
  if (!first.ok() || *first > now) {
    d.next_us = first.ok() ? *first * 1'000'000 : 0;
    return d;
  }
  // The newest due time: found from ever earlier starts, so that a schedule far behind (a
  // minute's schedule after a month without a server) costs a few dozen steps, not thousands.
  int64_t newest = *first;
  for (int64_t window : {int64_t{3600}, int64_t{86400}, int64_t{32 * 86400}, int64_t{367 * 86400}}) {
    const int64_t from = now - window;
    if (from <= *first) break;  // the oldest due time is that recent: walk from it
    auto t = NextFireTime(cron, tz, from);
    if (t.ok() && *t <= now) {
      newest = *t;
      break;
    }
  }
  while (true) {
    auto next = NextFireTime(cron, tz, newest);
    if (!next.ok() || *next > now) {
      d.next_us = next.ok() ? *next * 1'000'000 : 0;
      break;
    }
    newest = *next;
  }
  if (s.paused) return d;
  const int64_t oldest_us = *first * 1'000'000, newest_us = newest * 1'000'000;
  if (s.catchup == "all") {
    d.fire_us = oldest_us;
  } else if (s.catchup == "none" && now_us - newest_us > late_us) {
    d.kind = ScheduleDecision::Kind::kPass;
    d.fire_us = newest_us;
    d.why = "missed (catch-up none)";
    return d;
  } else {
    d.fire_us = newest_us;
  }
  if (last_run_active) {
    if (s.overlap == "queue") {
      d.why = "queued behind the last run";
      return d;  // kWait
    }
    if (s.overlap == "skip") {
      d.kind = ScheduleDecision::Kind::kPass;
      d.why = "the last run (" + s.last_run + ") still runs (overlap skip)";
      return d;
    }
  }
  d.kind = ScheduleDecision::Kind::kRun;
  return d;
}

}  // namespace baton
