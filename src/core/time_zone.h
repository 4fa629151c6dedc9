#pragma once
// Time zones for schedules: the offset from UTC at an instant, and the instants a local wall-clock
// time stands for, from the compiled tz database (TZif files, RFC 8536) whose bytes the caller
// reads (platform code reads /usr/share/zoneinfo). Instants after a file's last transition follow
// its footer rule (a POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3"; the Mm.w.d form).
// Times are seconds since the epoch; a "local" time is the wall clock's reading counted as if it
// were UTC.

#include <cstdint>
#include <string>
#include <vector>

#include "baton/status.h"

namespace baton {

class TimeZone {
 public:
  static TimeZone Utc();
  // `name` is for messages (Europe/Berlin). InvalidArgument for bytes that are not TZif.
  static Result<TimeZone> FromTzif(const std::string& name, const std::string& data);

  const std::string& name() const { return name_; }
  // Seconds east of UTC at instant `utc`.
  int OffsetAt(int64_t utc) const;
  int64_t ToLocal(int64_t utc) const { return utc + OffsetAt(utc); }
  // The instants whose wall-clock reading is `local`, earliest first: none in a gap (clocks
  // jumped over it), two in an overlap (clocks went back over it), else one.
  std::vector<int64_t> ToUtc(int64_t local) const;

 private:
  struct Rule {  // Mm.w.d/time: day d (0 Sunday) of week w (5: last) of month m, at time
    int month = 0, week = 0, weekday = 0, time = 7200;
  };
  struct Footer {
    bool present = false;
    int std_offset = 0;  // seconds east of UTC
    bool has_dst = false;
    int dst_offset = 0;
    Rule start, end;
  };
  static bool ParseFooter(const std::string& tz, Footer* out);
  int FooterOffsetAt(int64_t utc) const;

  std::string name_ = "UTC";
  std::vector<int64_t> transitions_;  // ascending
  std::vector<int> offsets_;          // the offset from each transition on
  int initial_offset_ = 0;            // before the first transition
  Footer footer_;
};

// Civil date helpers (proleptic Gregorian).
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);
void CivilFromDays(int64_t days, int64_t* year, unsigned* month, unsigned* day);
int WeekdayFromDays(int64_t days);  // 0 Sunday

}  // namespace baton
