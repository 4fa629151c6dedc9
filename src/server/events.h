#pragma once
// Live events of the server (GET /api/v1/events, Server-Sent Events): a run or a step run that
// appeared or changed state. Runs record into the metadata store from anywhere (a workspace
// holding the database's URI, or this server's store API), so changes are found by looking:
// while anyone listens, one thread compares the newest runs, the runs in progress and the runs a
// listener asked for with what it saw last, at most every `interval_us`, and at once after a
// write through this server's store API. What it finds goes into one numbered log that every
// listener reads at its own pace; a listener too far behind (or one that names an event from
// before a gap in watching) is told to `reset`: to read the state again.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/api.h"

namespace baton::server {

struct Event {
  int64_t id = 0;
  std::string type;    // run | step
  std::string run_id;
  std::string data;    // JSON: the run, or the step run with "run"
};

struct EventHubOptions {
  int64_t interval_us = 500'000;
  size_t newest_runs = 25;     // the newest runs looked at on every pass (new runs appear there)
  size_t kept_events = 2000;   // the log a late listener can catch up from
};

class EventHub {
 public:
  EventHub(StorePool* pool, ErrorLog errors, EventHubOptions options = {});
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // A listener: what `Next` gives it are the events after it subscribed (or after `last_id`,
  // from a reconnecting client's Last-Event-ID, when the log still holds them), for `run_id`
  // only when that is set.
  class Subscription {
   public:
    ~Subscription();
    // Waits until `deadline_us` (MonotonicMicros) for events. An empty result is a timeout.
    // *reset is set when events were missed: the listener reads the state again.
    std::vector<Event> Next(int64_t deadline_us, bool* reset);
    int64_t cursor() const { return cursor_; }

   private:
    friend class EventHub;
    Subscription(EventHub* hub, std::string run_id, int64_t cursor) : hub_(hub), run_id_(std::move(run_id)), cursor_(cursor) {}
    EventHub* hub_;
    std::string run_id_;
    int64_t cursor_;  // the id of the next event to read
  };
  // Looks once before returning when no one was listening, so that what a client reads after
  // subscribing is the base the events change.
  std::unique_ptr<Subscription> Subscribe(const std::string& run_id, int64_t last_id);
  // A write was made: look now rather than at the next interval.
  void Wake();
  // Ends every subscription's wait (the server is stopping).
  void Shutdown();

 private:
  struct Seen {
    std::string state;
    bool in_progress = false;
  };
  void Loop();
  // One pass: compares and appends. Called with poll_mu_ held, not mu_.
  void Poll(bool emit);
  // The step runs of a run that changed since the last look (all of them, for a run not looked
  // at before).
  void LookAtSteps(MetadataStore& m, const std::string& run_id, bool emit, std::vector<Event>* found);
  void Append(std::vector<Event>* found);

  StorePool* pool_;
  ErrorLog errors_;
  const EventHubOptions options_;

  std::mutex poll_mu_;  // one pass at a time; guards the maps below
  std::map<std::string, Seen> runs_;
  std::map<std::string, std::map<int64_t, std::string>> steps_by_run_;  // run -> step run -> state

  std::mutex mu_;
  std::condition_variable changed_;  // new events, or shutdown
  std::condition_variable wake_;     // the poller's
  std::deque<Event> log_;
  int64_t next_id_ = 1;
  int64_t gap_before_ = 1;  // events before this id may have missed changes
  bool baseline_ = false;   // runs_ and steps_ reflect the store (someone was listening)
  bool woken_ = false;
  bool shutdown_ = false;
  std::map<std::string, int> watched_;  // run ids listeners asked for, with their count
  int listeners_ = 0;
  std::thread thread_;
};

}  // namespace baton::server
