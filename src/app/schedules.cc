#include "app/schedules.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "baton/format.h"
#include "core/cron.h"
#include "core/schedule.h"
#include "platform/fs.h"

namespace baton {

Result<TimeZone> LoadTimeZone(const std::string& name) {
  if (name == "UTC" || name == "Etc/UTC") return TimeZone::Utc();
  bool ok = !name.empty() && name[0] != '/' && name.size() < 128;
  for (char c : name)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' || c == '+');
  if (ok) {
    size_t start = 0;
    while (start <= name.size()) {
      size_t end = name.find('/', start);
      if (end == std::string::npos) end = name.size();
      if (end == start) ok = false;
      start = end + 1;
    }
  }
  if (!ok) return InvalidArgument("'" + name + "' is not a time zone name (such as Europe/Berlin, or UTC)");
  auto data = fs::ReadRegularFile("/usr/share/zoneinfo/" + name, 1 << 20);
  if (!data.ok())
    return InvalidArgument("unknown time zone '" + name + "' (not in /usr/share/zoneinfo; names are such as Europe/Berlin)");
  return TimeZone::FromTzif(name, *data);
}

Status CheckSchedule(const ScheduleRecord& s, const std::string& workspace_root) {
  if (s.name.empty() || s.name.size() > 64)
    return InvalidArgument("a schedule's name is 1-64 letters, digits, '.', '_' or '-'");
  for (char c : s.name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
      return InvalidArgument("a schedule's name is 1-64 letters, digits, '.', '_' or '-', not '" + s.name + "'");
  BATON_RETURN_IF_ERROR(ParseCron(s.cron).status());
  BATON_RETURN_IF_ERROR(LoadTimeZone(s.time_zone).status());
  if (!ValidCatchup(s.catchup))
    return InvalidArgument("--catchup is none, latest or all, not '" + s.catchup + "'");
  if (!ValidOverlap(s.overlap))
    return InvalidArgument("--overlap is skip, queue or allow, not '" + s.overlap + "'");
  for (const auto& [what, file] : {std::pair<const char*, std::string>{"pipeline file", s.pipeline_file},
                                   std::pair<const char*, std::string>{"run config", s.run_config}}) {
    if (file.empty()) {
      if (std::string(what) == "pipeline file") return InvalidArgument("a schedule needs a pipeline file");
      continue;
    }
    const std::string path = file[0] == '/' ? file : workspace_root + "/" + file;
    if (!fs::Exists(path)) return InvalidArgument(std::string("no ") + what + " " + path);
  }
  return Status::Ok();
}

std::string ScheduledRunId(const std::string& schedule, int64_t fire_us) {
  const int64_t secs = fire_us / 1'000'000;
  const int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  const int64_t in_day = secs - days * 86400;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld%02u%02u-%02lld%02lld%02lld", static_cast<long long>(y), m, d,
                static_cast<long long>(in_day / 3600), static_cast<long long>(in_day / 60 % 60),
                static_cast<long long>(in_day % 60));
  return schedule + "-" + buf;
}

std::vector<std::string> ScheduledRunArgs(const ScheduleRecord& s, const std::string& run_id) {
  std::vector<std::string> args = {"run", s.pipeline_file, "--quiet", "--run-name", run_id, "--schedule", s.name};
  if (!s.stack.empty()) args.insert(args.end(), {"--stack", s.stack});
  if (!s.run_config.empty()) args.insert(args.end(), {"-c", s.run_config});
  return args;
}

int64_t NextScheduledTime(const ScheduleRecord& s, int64_t after_us) {
  auto cron = ParseCron(s.cron);
  auto tz = LoadTimeZone(s.time_zone);
  if (!cron.ok() || !tz.ok()) return 0;
  auto t = NextFireTime(*cron, *tz, after_us / 1'000'000);
  return t.ok() ? *t * 1'000'000 : 0;
}

Json ScheduleJson(const ScheduleRecord& s) {
  const int64_t next = s.paused ? 0 : NextScheduledTime(s, std::max(NowMicros(), s.last_fire));
  return {{"name", s.name},
          {"pipeline_file", s.pipeline_file},
          {"cron", s.cron},
          {"time_zone", s.time_zone},
          {"stack", s.stack.empty() ? Json() : Json(s.stack)},
          {"run_config", s.run_config.empty() ? Json() : Json(s.run_config)},
          {"catchup", s.catchup},
          {"overlap", s.overlap},
          {"paused", s.paused},
          {"created_at", FormatTimestamp(s.created_at)},
          {"last_fire", s.last_fire ? Json(FormatTimestamp(s.last_fire)) : Json()},
          {"last_run", s.last_run.empty() ? Json() : Json(s.last_run)},
          {"next_fire", next ? Json(FormatTimestamp(next)) : Json()}};
}

}  // namespace baton
