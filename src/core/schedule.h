#pragma once
// What a schedule does at a moment: the rules of catch-up and overlap, apart from any clock or
// store (the server's scheduler asks this on every look; tests give it any time they like).
//
// The times a schedule is due are its cron times after `last_fire` (the scheduled time it last
// handled) up to now. A due time more than `late_us` ago was missed (no server ran then, or it
// was busy). Of the due times, catch-up picks the one to handle now:
//   all     the oldest (each in turn, one a look)
//   latest  the newest; the ones before it are passed over
//   none    the newest if it was not missed; else every due time is passed over
// While the schedule's last run is still going, overlap decides about that time:
//   skip    pass over it (recorded as handled, no run)
//   queue   wait: it stays due until the last run ends
//   allow   run it anyway

#include <cstdint>
#include <string>

#include "baton/metadata_store.h"
#include "core/cron.h"

namespace baton {

struct ScheduleDecision {
  enum class Kind {
    kWait,  // nothing due now (or queued behind the last run): look again at `next_us` at the latest
    kRun,   // start a run for the scheduled time `fire_us`
    kPass,  // mark `fire_us` handled without a run; `why` says why
  };
  Kind kind = Kind::kWait;
  int64_t fire_us = 0;
  int64_t next_us = 0;
  std::string why;
};

// Whether `text` is a catch-up (`none`, `latest`, `all`) or an overlap (`skip`, `queue`,
// `allow`) policy.
bool ValidCatchup(const std::string& text);
bool ValidOverlap(const std::string& text);

// `last_run_active`: the schedule's last run is still pending or running.
Result<ScheduleDecision> DecideSchedule(const ScheduleRecord& s, const CronSpec& cron, const TimeZone& tz,
                                        int64_t now_us, bool last_run_active, int64_t late_us = 60'000'000);

}  // namespace baton
