#pragma once
// Schedules (`baton schedule`, run by `baton server`): checking one before it is recorded, the
// time zones they name, and the `baton run` a firing starts.

#include <cstdint>
#include <string>
#include <vector>

#include "baton/flavor.h"
#include "baton/metadata_store.h"
#include "core/time_zone.h"

namespace baton {

// A time zone of the tz database by name (Europe/Berlin), read from /usr/share/zoneinfo; "UTC"
// also without it. InvalidArgument for a name that is not one.
Result<TimeZone> LoadTimeZone(const std::string& name);

// Checks what a schedule names before it is recorded: its cron expression, time zone and
// policies, and that its pipeline file (and run config) exist under `workspace_root` when
// relative. InvalidArgument saying what is wrong.
Status CheckSchedule(const ScheduleRecord& s, const std::string& workspace_root);

// The id of the run a schedule starts for the scheduled time `fire_us`: NAME-YYYYMMDD-HHMMSS (UTC).
std::string ScheduledRunId(const std::string& schedule, int64_t fire_us);
// The `baton` arguments of that run.
std::vector<std::string> ScheduledRunArgs(const ScheduleRecord& s, const std::string& run_id);

// The next time (us) the schedule fires after `after_us`, 0 when never (or when it cannot be
// read).
int64_t NextScheduledTime(const ScheduleRecord& s, int64_t after_us);

// A schedule as `baton schedule list -o json` and the server's API give it, with its next time.
Json ScheduleJson(const ScheduleRecord& s);

}  // namespace baton
