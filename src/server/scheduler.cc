#include "server/scheduler.h"

#include <chrono>
#include <cstdio>

#include "app/orchestrated_run.h"
#include "app/schedules.h"
#include "baton/format.h"
#include "core/schedule.h"
#include "platform/fs.h"
#include "server/run_starter.h"

namespace baton::server {

Scheduler::Scheduler(StorePool* pool, RunStarter* starter, ErrorLog log, std::function<int64_t()> now_us,
                     int64_t interval_us)
    : pool_(pool), starter_(starter), log_(std::move(log)), now_us_(std::move(now_us)),
      interval_us_(interval_us), thread_([this] { Loop(); }) {}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Scheduler::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    if (starter_->enabled()) Look();
    lock.lock();
    wake_.wait_for(lock, std::chrono::microseconds(interval_us_), [this] { return stopping_; });
  }
}

bool Scheduler::Active(MetadataStore& m, const std::string& id) {
  if (id.empty()) return false;
  auto run = m.GetRun(id);
  if (run.ok()) {
    started_.erase(id);
    return run->status == RunStatus::kPending || run->status == RunStatus::kRunning;
  }
  // Started here and not recorded yet (baton is starting): active for a minute at most.
  auto it = started_.find(id);
  return it != started_.end() && MonotonicMicros() - it->second < 60'000'000;
}

bool Scheduler::KeptByBackend(MetadataStore& m, const std::string& stack) {
  if (stack.empty()) return false;  // the active stack at each firing: fired here
  auto it = kept_.find(stack);
  if (it != kept_.end() && MonotonicMicros() - it->second.second < 60'000'000) return it->second.first;
  auto keeps = BackendKeepsSchedules(m, stack);
  const bool kept = keeps.ok() && *keeps;
  kept_[stack] = {kept, MonotonicMicros()};
  return kept;
}

void Scheduler::Look() {
  std::lock_guard<std::mutex> look(look_mu_);
  auto lease = pool_->Borrow();
  if (!lease.ok()) {
    if (log_) log_("schedules: " + lease.status().ToString());
    return;
  }
  MetadataStore& m = **lease;
  auto schedules = m.ListSchedules();
  if (!schedules.ok()) {
    if (log_) log_("schedules: " + schedules.status().ToString());
    return;
  }
  const int64_t now = now_us_();
  for (const ScheduleRecord& s : *schedules) {
    if (s.paused || KeptByBackend(m, s.stack)) continue;
    auto cron = ParseCron(s.cron);
    auto tz = LoadTimeZone(s.time_zone);
    if (!cron.ok() || !tz.ok()) {
      if (log_) log_("schedule " + s.name + ": " + (cron.ok() ? tz.status() : cron.status()).message());
      continue;
    }
    auto d = DecideSchedule(s, *cron, *tz, now, Active(m, s.last_run));
    if (!d.ok()) {
      if (log_) log_("schedule " + s.name + ": " + d.status().message());
      continue;
    }
    if (d->kind == ScheduleDecision::Kind::kWait) continue;
    const int64_t expected = s.last_fire ? s.last_fire : s.created_at;
    const std::string when = FormatTimestamp(d->fire_us);
    if (d->kind == ScheduleDecision::Kind::kPass) {
      auto moved = m.AdvanceSchedule(s.name, expected, d->fire_us, "");
      if (moved.ok() && *moved && log_) log_("schedule " + s.name + ": " + when + " passed over: " + d->why);
      continue;
    }
    const std::string run_id = ScheduledRunId(s.name, d->fire_us);
    // Claimed first: of two servers, the one that moves the schedule starts the run.
    auto moved = m.AdvanceSchedule(s.name, expected, d->fire_us, run_id);
    if (!moved.ok()) {
      if (log_) log_("schedule " + s.name + ": " + moved.status().message());
      continue;
    }
    if (!*moved) continue;
    auto pid = starter_->Start(ScheduledRunArgs(s, run_id), "schedule-" + run_id);
    if (!pid.ok()) {
      if (log_) log_("schedule " + s.name + ": cannot start the run for " + when + ": " + pid.status().message());
      continue;
    }
    started_[run_id] = MonotonicMicros();
    if (log_) log_("schedule " + s.name + ": started run " + run_id + " for " + when);
  }
}

}  // namespace baton::server
