#pragma once
// The server's scheduler: the schedules of the store (`baton schedule create`), fired by starting
// `baton run` in the server's workspace (server/run_starter.h) at their cron times, with their
// catch-up and overlap policies (core/schedule.h). A run it starts is named after the schedule
// and the scheduled time (NAME-YYYYMMDD-HHMMSS, UTC) and records the schedule's name. Each time
// is claimed in the store before its run starts (MetadataStore::AdvanceSchedule), so that two
// servers on one store fire it once.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "server/api.h"

namespace baton::server {

class RunStarter;

class Scheduler {
 public:
  // `now_us`: the clock (microseconds since the epoch); tests give their own.
  Scheduler(StorePool* pool, RunStarter* starter, ErrorLog log, std::function<int64_t()> now_us,
            int64_t interval_us = 1'000'000);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // One look at every schedule (the thread calls it every interval; tests may call it too).
  void Look();

 private:
  void Loop();
  // Whether run `id`, started by this scheduler or recorded in the store, has not ended.
  bool Active(MetadataStore& m, const std::string& id);

  StorePool* pool_;
  RunStarter* starter_;
  ErrorLog log_;
  std::function<int64_t()> now_us_;
  const int64_t interval_us_;
  std::mutex look_mu_;                      // one look at a time
  std::map<std::string, int64_t> started_;  // runs started here, with when (until recorded)
  // Whether schedules on `stack` are fired by its orchestrator's backend (a Kubernetes
  // CronJob), not here; asked again after a minute.
  bool KeptByBackend(MetadataStore& m, const std::string& stack);
  std::map<std::string, std::pair<bool, int64_t>> kept_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace baton::server
