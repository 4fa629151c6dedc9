#include "flavors/common/dag_driver.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "platform/fs.h"

namespace baton {

size_t DagDriver::AddNode(const StepJob* job) {
  nodes_.emplace_back();
  Node& n = nodes_.back();
  n.job = job;
  n.first_attempt = n.attempt = std::max(1, job->attempt);
  const nlohmann::json retries = job->settings.value("retries", nlohmann::json::object());
  n.max_retries = retries.value("max", 0);
  n.delay_us = retries.value("delay_us", int64_t{0});
  n.backoff = retries.value("backoff", 1.0);
  return nodes_.size() - 1;
}

DagDriver::DagDriver(const SubmitRequest& req, StepBackend* backend, DriverOptions options)
    : req_(req), backend_(backend), opts_(options) {
  std::map<std::string, size_t> index;
  nodes_.reserve(req.steps.size());
  for (size_t i = 0; i < req.steps.size(); ++i) {
    const StepJob& job = req.steps[i];
    AddNode(&job);
    Node& n = nodes_[i];
    index[job.name] = i;
    for (const auto& up : job.upstream) {
      auto it = index.find(up);
      if (it == index.end()) continue;  // done in an earlier attempt of the run
      n.ups.push_back(it->second);
      nodes_[it->second].downs.push_back(i);
    }
  }
}

bool DagDriver::Ready(const Node& n, bool* blocked) const {
  *blocked = false;
  bool ready = true;
  for (size_t u : n.ups) {
    const State s = nodes_[u].state;
    if (s == State::kFailed || s == State::kNotRun) *blocked = true;
    // A backend that holds dependencies takes a step as soon as its upstream attempts exist.
    const bool enough = s == State::kSucceeded || (backend_->HoldsDependencies() && s == State::kStarted);
    ready = ready && enough;
  }
  return ready && !*blocked;
}

std::vector<std::string> DagDriver::After(const Node& n) const {
  std::vector<std::string> after;
  for (size_t u : n.ups)
    if (nodes_[u].state == State::kStarted) after.push_back(nodes_[u].handle);
  return after;
}

void DagDriver::ForEachReady(size_t i) {
  bool blocked = false, ready = true;
  for (size_t u : nodes_[i].ups) {
    const State s = nodes_[u].state;
    blocked = blocked || s == State::kFailed || s == State::kNotRun;
    ready = ready && s == State::kSucceeded;  // its list must exist, not just be on its way
  }
  if (blocked) {
    nodes_[i].state = State::kNotRun;
    return;
  }
  if (!ready) return;
  if (nodes_[i].expanded) {
    nodes_[i].state = State::kSucceeded;  // every instance succeeded
    return;
  }
  const std::string name = nodes_[i].job->name;
  Result<std::vector<StepJob>> jobs = req_.expand ? req_.expand(name)
                                                  : Result<std::vector<StepJob>>(FailedPrecondition(
                                                        "for_each: this backend cannot add instances"));
  if (!jobs.ok()) {
    if (req_.report_failure) req_.report_failure(name, 0, jobs.status().message());
    nodes_[i].state = State::kFailed;
    CancelDependents(i);
    return;
  }
  const std::vector<size_t> ups = nodes_[i].ups;
  std::vector<size_t> instances;
  for (auto& job : *jobs) {
    extra_jobs_.push_back(std::move(job));
    const size_t k = AddNode(&extra_jobs_.back());
    nodes_[k].ups = ups;  // all succeeded: the instance may start at once
    nodes_[k].downs = {i};
    nodes_[k].group = i;
    instances.push_back(k);
  }
  nodes_[i].ups.insert(nodes_[i].ups.end(), instances.begin(), instances.end());
  nodes_[i].expanded = true;
  if (instances.empty()) nodes_[i].state = State::kSucceeded;
}

void DagDriver::StartReady() {
  if (stopping_) return;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].state != State::kWaiting) continue;
    if (nodes_[i].job->for_each) {
      ForEachReady(i);  // may add nodes
      continue;
    }
    Node& n = nodes_[i];
    if (n.group != SIZE_MAX && nodes_[n.group].job->max_parallel > 0 &&
        nodes_[n.group].running_instances >= nodes_[n.group].job->max_parallel)
      continue;
    bool blocked = false;
    if (!Ready(n, &blocked)) {
      if (blocked) n.state = State::kNotRun;
      continue;
    }
    if (opts_.max_running > 0 && running_ >= opts_.max_running) return;
    if (!backend_->HasRoomFor(*n.job)) continue;
    StartAttempt(i);
  }
}

void DagDriver::StartAttempt(size_t i) {
  Node& n = nodes_[i];
  AttemptRequest a;
  a.step = n.job;
  a.attempt = n.attempt;
  a.adopt = n.job->adopt && n.attempt == n.first_attempt;
  a.result_file = ResultFile(req_.log_dir + "/results", n.job->name, n.attempt);
  a.argv = AttemptCommand(*n.job, n.attempt, a.result_file, n.attempt - n.first_attempt >= n.max_retries);
  if (backend_->HoldsDependencies()) a.after = After(n);
  (void)fs::RemoveFile(a.result_file);  // from an earlier submission of the run
  Result<std::string> handle = backend_->Start(a);
  if (!handle.ok()) {
    if (req_.report_failure) req_.report_failure(n.job->name, n.attempt, handle.status().message());
    n.state = State::kFailed;
    CancelDependents(i);
    return;
  }
  n.handle = *handle;
  n.state = State::kStarted;
  by_handle_[n.handle] = i;
  ++running_;
  if (n.group != SIZE_MAX) ++nodes_[n.group].running_instances;
  // Held dependents waited for the attempt this one replaces.
  if (n.attempt > n.first_attempt && backend_->HoldsDependencies()) {
    for (size_t d : n.downs) {
      if (nodes_[d].state != State::kStarted) continue;
      Status st = backend_->Redepend(nodes_[d].handle, After(nodes_[d]));
      if (!st.ok() && req_.report_failure) req_.report_failure(nodes_[d].job->name, nodes_[d].attempt, st.message());
    }
  }
}

void DagDriver::Ended(size_t i, const AttemptEnd& end) {
  Node& n = nodes_[i];
  by_handle_.erase(n.handle);
  --running_;
  if (n.group != SIZE_MAX) --nodes_[n.group].running_instances;
  switch (end.kind) {
    case AttemptEnd::Kind::kSucceeded:
      n.state = State::kSucceeded;
      return;
    case AttemptEnd::Kind::kSkipped:
      n.state = State::kNotRun;
      CancelDependents(i);
      return;
    case AttemptEnd::Kind::kCancelled:
      if (!end.reason.empty() && req_.report_stopped) req_.report_stopped(n.job->name, n.attempt, end.reason);
      n.state = State::kFailed;
      CancelDependents(i);
      return;
    case AttemptEnd::Kind::kFailed:
      break;
  }
  if (!end.reason.empty() && req_.report_failure) req_.report_failure(n.job->name, n.attempt, end.reason);
  const int retries_done = n.attempt - n.first_attempt;
  if (!stopping_ && retries_done < n.max_retries) {
    const double delay = static_cast<double>(n.delay_us) * std::pow(n.backoff, retries_done);
    n.retry_at_us = MonotonicMicros() + static_cast<int64_t>(delay);
    ++n.attempt;
    n.state = State::kRetryWait;
    return;
  }
  n.state = State::kFailed;
  CancelDependents(i);
}

void DagDriver::CancelDependents(size_t i) {
  std::vector<size_t> todo = nodes_[i].downs;
  std::vector<std::string> held;
  while (!todo.empty()) {
    size_t d = todo.back();
    todo.pop_back();
    Node& n = nodes_[d];
    if (n.state == State::kSucceeded || n.state == State::kFailed || n.state == State::kNotRun) continue;
    if (n.state == State::kStarted) {
      held.push_back(n.handle);
      by_handle_.erase(n.handle);
      --running_;
      if (n.group != SIZE_MAX) --nodes_[n.group].running_instances;
    }
    n.state = State::kNotRun;
    todo.insert(todo.end(), n.downs.begin(), n.downs.end());
  }
  if (held.empty()) return;
  if (Status st = backend_->Cancel(held, /*stop=*/false); !st.ok() && req_.report_failure)
    req_.report_failure(nodes_[i].job->name, 0, "cancelling its dependents failed: " + st.message());
}

void DagDriver::BeginStop() {
  stopping_ = true;
  for (auto& n : nodes_)
    if (n.state == State::kWaiting || n.state == State::kRetryWait) n.state = State::kNotRun;
  std::vector<std::string> live = Live();
  if (!live.empty()) (void)backend_->Cancel(live, /*stop=*/true);
}

std::vector<std::string> DagDriver::Live() const {
  std::vector<std::string> live;
  for (const auto& n : nodes_)
    if (n.state == State::kStarted) live.push_back(n.handle);
  return live;
}

Status DagDriver::Run() {
  for (;;) {
    if (stop_requested_ && !stopping_) BeginStop();
    StartReady();
    const int64_t now = MonotonicMicros();
    int64_t timeout = opts_.wait_slice_us;
    bool retry_waiting = false;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].state != State::kRetryWait) continue;
      if (nodes_[i].retry_at_us <= now && !stopping_) {
        StartAttempt(i);
        continue;
      }
      retry_waiting = true;
      timeout = std::min(timeout, std::max<int64_t>(0, nodes_[i].retry_at_us - now));
    }
    const std::vector<std::string> live = Live();
    if (live.empty()) {
      if (!retry_waiting) break;  // nothing runs, nothing will: every step has ended
      std::this_thread::sleep_for(std::chrono::microseconds(timeout));
      continue;
    }
    auto ends = backend_->Wait(live, timeout);
    if (!ends.ok()) {
      if (!stopping_) BeginStop();
      return ends.status();
    }
    for (const auto& [handle, end] : *ends) {
      auto it = by_handle_.find(handle);
      if (it != by_handle_.end()) Ended(it->second, end);
    }
  }
  for (auto& n : nodes_)
    if (n.state == State::kWaiting) n.state = State::kNotRun;
  return Status::Ok();
}

RunningDrivers::Registration RunningDrivers::Register(const std::string& run_id, DagDriver* driver) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_.erase(run_id)) driver->Stop();
  drivers_[run_id] = driver;
  return Registration(this, run_id);
}

RunningDrivers::Registration::~Registration() {
  std::lock_guard<std::mutex> lock(owner_->mu_);
  owner_->drivers_.erase(run_id_);
}

void RunningDrivers::Stop(const std::string& run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = drivers_.find(run_id);
  if (it == drivers_.end()) stopped_.insert(run_id);
  else it->second->Stop();
}

std::vector<std::string> AttemptCommand(const StepJob& step, int attempt, const std::string& result_file, bool final) {
  std::vector<std::string> argv = step.command;
  argv.insert(argv.end(), {"--attempt", std::to_string(attempt), "--result", result_file});
  if (final) argv.push_back("--final");
  return argv;
}

std::string ResultFile(const std::string& result_dir, const std::string& step, int attempt) {
  return result_dir + "/" + step + "." + std::to_string(attempt) + ".json";
}

std::optional<StepResult> ReadStepResult(const std::string& path) {
  auto text = fs::ReadFile(path);
  if (!text.ok()) return std::nullopt;
  auto r = StepResult::FromJson(*text);
  if (!r.ok()) return std::nullopt;
  return *r;
}

std::optional<AttemptEnd> EndFromResult(const std::string& path) {
  auto text = fs::ReadFile(path);
  if (!text.ok()) return std::nullopt;
  return EndFromResultText(*text);
}

std::optional<AttemptEnd> EndFromResultText(const std::string& text) {
  auto r = StepResult::FromJson(text);
  if (!r.ok()) return std::nullopt;
  if (!r->status) return AttemptEnd{AttemptEnd::Kind::kFailed, "the step entrypoint could not run the step: " + r->error};
  if (Succeeded(*r->status)) return AttemptEnd{AttemptEnd::Kind::kSucceeded, ""};
  if (*r->status == StepStatus::kStopped) return AttemptEnd{AttemptEnd::Kind::kCancelled, ""};
  if (*r->status == StepStatus::kSkipped) return AttemptEnd{AttemptEnd::Kind::kSkipped, ""};
  return AttemptEnd{AttemptEnd::Kind::kFailed, ""};
}

}  // namespace baton
