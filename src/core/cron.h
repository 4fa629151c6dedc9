#pragma once
// Cron expressions for schedules: five fields (minute hour day-of-month month day-of-week) with
// `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, lists `a,b`, month and weekday names
// (jan..dec, sun..sat; 0 and 7 are Sunday), and the macros @yearly (@annually), @monthly,
// @weekly, @daily (@midnight) and @hourly. When both day fields are restricted a day matching
// either fires, as in Vixie cron.
//
// Times are wall-clock times of the schedule's time zone. Across daylight-saving changes: a time
// the clocks jump over that day does not fire that day; a time they pass twice fires once (the
// first time), except for an expression whose hour field is `*`, which fires each hour that
// happens.

#include <bitset>
#include <cstdint>
#include <string>

#include "baton/status.h"
#include "core/time_zone.h"

namespace baton {

struct CronSpec {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;    // 1-31
  std::bitset<13> months;  // 1-12
  std::bitset<7> weekdays;  // 0 Sunday
  bool days_restricted = false;
  bool weekdays_restricted = false;
  bool every_hour = false;
  std::string text;
};

// InvalidArgument naming the field and the 1-based column of what is wrong.
Result<CronSpec> ParseCron(const std::string& text);

// The first instant after `after_utc` (seconds since the epoch) at which the schedule fires in
// `tz`; NotFound when none comes within 10 years (February 30th).
Result<int64_t> NextFireTime(const CronSpec& spec, const TimeZone& tz, int64_t after_utc);

}  // namespace baton
