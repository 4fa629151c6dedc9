#include "server/events.h"

#include <algorithm>
#include <chrono>

#include "app/record_json.h"
#include "baton/format.h"
#include "platform/fs.h"

namespace baton::server {

namespace {

bool InProgress(RunStatus s) { return s == RunStatus::kRunning || s == RunStatus::kPending; }

// What makes a run worth an event when it changes.
std::string RunState(const RunRecord& r) {
  std::string s = std::string(ToString(r.status)) + '\x1f' + std::to_string(r.ended_at) + '\x1f' +
                  std::to_string(r.attempt) + '\x1f' + r.reason + '\x1f' + r.note;
  for (const auto& t : r.tags) s += '\x1f' + t;
  return s;
}

std::string StepState(const StepRunRecord& s) {
  return std::string(ToString(s.status)) + '\x1f' + std::to_string(s.ended_at) + '\x1f' +
         std::to_string(s.exit_code) + '\x1f' + std::to_string(s.cached_from) + '\x1f' + s.reason +
         '\x1f' + std::to_string(s.metadata.size());
}

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace

EventHub::EventHub(StorePool* pool, ErrorLog errors, EventHubOptions options)
    : pool_(pool), errors_(std::move(errors)), options_(options), thread_([this] { Loop(); }) {}

EventHub::~EventHub() {
  Shutdown();
  thread_.join();
}

void EventHub::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  wake_.notify_all();
  changed_.notify_all();
}

void EventHub::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  if (listeners_ == 0) return;
  woken_ = true;
  wake_.notify_all();
}

void EventHub::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!shutdown_) {
    if (listeners_ == 0) {
      // No one hears what changes now: the next listener starts from a fresh look.
      baseline_ = false;
      wake_.wait(lock, [this] { return shutdown_ || listeners_ > 0; });
      continue;
    }
    wake_.wait_for(lock, std::chrono::microseconds(options_.interval_us),
                   [this] { return shutdown_ || woken_; });
    if (shutdown_) break;
    woken_ = false;
    if (listeners_ == 0 || !baseline_) continue;
    lock.unlock();
    {
      std::lock_guard<std::mutex> poll(poll_mu_);
      Poll(true);
    }
    lock.lock();
  }
}

void EventHub::Poll(bool emit) {
  auto lease = pool_->Borrow();
  if (!lease.ok()) {
    if (errors_) errors_("events: " + lease.status().ToString());
    return;
  }
  MetadataStore& m = **lease;
  std::vector<std::string> watched;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, n] : watched_) watched.push_back(id);
  }
  auto newest = m.ListRuns("", static_cast<int>(options_.newest_runs));
  if (!newest.ok()) {
    if (errors_) errors_("events: " + newest.status().ToString());
    return;
  }
  std::map<std::string, RunRecord> look;
  for (auto& r : *newest) look.emplace(r.id, std::move(r));
  auto add = [&](const std::string& id) {
    if (look.count(id)) return;
    if (auto r = m.GetRun(id); r.ok()) look.emplace(id, std::move(*r));
  };
  for (const auto& id : watched) add(id);
  // A run in progress is followed to its end, also once newer runs push it out of the newest.
  for (const auto& [id, seen] : runs_)
    if (seen.in_progress) add(id);

  std::vector<Event> found;
  std::map<std::string, Seen> next_runs;
  for (const auto& [id, r] : look) {
    const std::string state = RunState(r);
    auto it = runs_.find(id);
    const bool changed = it == runs_.end() || it->second.state != state;
    const bool in_progress = InProgress(r.status);
    next_runs[id] = {state, in_progress};
    // Step runs: of runs in progress, and of runs that just changed (their last steps ended).
    const bool was_in_progress = it != runs_.end() && it->second.in_progress;
    if (in_progress || changed || was_in_progress) LookAtSteps(m, id, emit, &found);
    if (!in_progress) steps_by_run_.erase(id);
    // A run's event follows its steps' from the same look: a run seen ending comes after the
    // ends of its steps.
    if (changed && emit) found.push_back({0, "run", id, Dump(RunJson(r))});
  }
  // Runs no longer looked at are forgotten (they are finished, and old).
  runs_ = std::move(next_runs);
  if (!found.empty()) Append(&found);
}

void EventHub::LookAtSteps(MetadataStore& m, const std::string& run_id, bool emit, std::vector<Event>* found) {
  auto steps = m.ListStepRuns(run_id);
  if (!steps.ok()) return;
  std::map<int64_t, std::string>& known = steps_by_run_[run_id];
  for (const StepRunRecord& s : *steps) {
    const std::string state = StepState(s);
    auto k = known.find(s.id);
    if (k != known.end() && k->second == state) continue;
    known[s.id] = state;
    if (!emit) continue;
    NamedArtifacts ins, outs;
    if (auto o = m.StepOutputs(s.id); o.ok()) outs = std::move(*o);
    if (auto i = m.StepInputs(s.id); i.ok()) ins = std::move(*i);
    Json j = StepRunJson(s, ins, outs);
    j["run"] = run_id;
    found->push_back({0, "step", run_id, Dump(j)});
  }
}

void EventHub::Append(std::vector<Event>* found) {
  std::lock_guard<std::mutex> lock(mu_);
  for (Event& e : *found) {
    e.id = next_id_++;
    log_.push_back(std::move(e));
  }
  while (log_.size() > options_.kept_events) log_.pop_front();
  changed_.notify_all();
}

std::unique_ptr<EventHub::Subscription> EventHub::Subscribe(const std::string& run_id, int64_t last_id) {
  bool need_baseline = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++listeners_;
    if (!run_id.empty()) ++watched_[run_id];
    need_baseline = !baseline_;
    wake_.notify_all();
  }
  if (need_baseline) {
    std::lock_guard<std::mutex> poll(poll_mu_);
    bool again = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      again = !baseline_;
    }
    if (again) {
      Poll(false);
      std::lock_guard<std::mutex> lock(mu_);
      baseline_ = true;
      gap_before_ = next_id_;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  int64_t cursor = next_id_;
  // A reconnecting client goes on after the last event it read, when nothing was missed since.
  if (last_id > 0 && last_id < next_id_) cursor = last_id >= gap_before_ - 1 ? last_id + 1 : 0;
  return std::unique_ptr<Subscription>(new Subscription(this, run_id, cursor));
}

EventHub::Subscription::~Subscription() {
  std::lock_guard<std::mutex> lock(hub_->mu_);
  --hub_->listeners_;
  if (!run_id_.empty() && --hub_->watched_[run_id_] == 0) hub_->watched_.erase(run_id_);
}

std::vector<Event> EventHub::Subscription::Next(int64_t deadline_us, bool* reset) {
  *reset = false;
  std::unique_lock<std::mutex> lock(hub_->mu_);
  auto ready = [&] { return hub_->shutdown_ || cursor_ < hub_->next_id_; };
  const int64_t wait = deadline_us - MonotonicMicros();
  if (!ready() && wait > 0) hub_->changed_.wait_for(lock, std::chrono::microseconds(wait), ready);
  std::vector<Event> out;
  if (cursor_ >= hub_->next_id_) return out;
  const int64_t first = hub_->log_.empty() ? hub_->next_id_ : hub_->log_.front().id;
  if (cursor_ < first || cursor_ < hub_->gap_before_) {
    *reset = true;
    cursor_ = hub_->next_id_;
    return out;
  }
  for (auto it = hub_->log_.begin() + (cursor_ - first); it != hub_->log_.end(); ++it)
    if (run_id_.empty() || it->run_id == run_id_) out.push_back(*it);
  cursor_ = hub_->next_id_;
  return out;
}

}  // namespace baton::server
