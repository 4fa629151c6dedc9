#include "flavors/local_docker/container_backend.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "core/spec.h"
#include "flavors/common/image_builder.h"
#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/process.h"

namespace baton {
namespace {

using Json = nlohmann::json;

int64_t DurationUs(const Json& settings, const char* key, const std::string& fallback) {
  int64_t us = 0;
  std::string text = settings.value(key, fallback);
  return ParseDuration(text, &us) ? us : 0;
}

std::string Tail(const std::string& path, int64_t from) {
  auto text = fs::ReadFile(path);
  if (!text.ok()) return "";
  return static_cast<int64_t>(text->size()) > from ? text->substr(static_cast<size_t>(from)) : "";
}

// --cpus, --memory without swap, GPU devices.
std::vector<std::string> ResourceOptions(const Json& res, const std::string& engine, int64_t memory, int gpus) {
  std::vector<std::string> o;
  double cpu = res.value("cpu", 1.0);
  if (cpu > 0) {
    cpu = std::min(cpu, static_cast<double>(OnlineCpus()));
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", cpu);
    o.insert(o.end(), {"--cpus", buf});
  }
  if (memory > 0) {
    // No swap: a step over its limit is killed, as it would be on a cluster.
    o.insert(o.end(), {"--memory", std::to_string(memory) + "b", "--memory-swap", std::to_string(memory) + "b"});
  }
  if (gpus > 0) {
    if (engine == "docker") {
      o.insert(o.end(), {"--gpus", std::to_string(gpus)});
    } else {
      auto devices = GpuDevices();
      for (int i = 0; i < gpus && i < static_cast<int>(devices.size()); ++i) o.insert(o.end(), {"--device", devices[i]});
      for (const char* d : {"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"})
        if (fs::Exists(d)) o.insert(o.end(), {"--device", d});
    }
  }
  return o;
}

}  // namespace

ContainerPlan PlanContainer(const StepJob& job, const std::string& engine) {
  ContainerPlan p;
  const Json& s = job.settings;
  const Json orch = s.value("orchestrator", Json::object());
  const Json res = s.value("resources", Json::object());
  p.parent = s.value("image", std::string());
  if (p.parent.empty()) p.parent = orch.value("parent_image", std::string());
  p.memory = res.value("memory", int64_t{0});
  p.gpus = static_cast<int>(res.value("gpu", int64_t{0}));
  p.options = ResourceOptions(res, engine, p.memory, p.gpus);
  // The entrypoint enforces the step's timeout itself; the container is removed only when it
  // outlives the attempt by far (a hung entrypoint).
  const int64_t timeout = s.value("timeout_us", int64_t{0});
  if (timeout > 0) p.deadline_us = timeout + DurationUs(orch, "stop_timeout", "10s") + 30'000'000;
  return p;
}

std::vector<std::string> CommonContainerOptions(const SubmitRequest& req, const Json& orch, const std::string& engine) {
  std::vector<std::string> o = {"--label", "baton.run=" + req.run_id, "--label", "baton.pipeline=" + req.pipeline};
  const std::string network = orch.value("network", std::string("host"));
  if (!network.empty()) o.push_back("--network=" + network);
  // The stores and logs the entrypoint uses, at their own paths.
  for (const auto& p : req.shared_paths) o.insert(o.end(), {"-v", p + ":" + p});
  for (const auto& m : orch.value("mounts", Json::array())) {
    std::string path = m.get<std::string>();
    if (!path.empty()) o.insert(o.end(), {"-v", path + ":" + path});
  }
  o.insert(o.end(), {"-w", req.workdir});
  // Values of baton's own variables are not secret; named variables are read by the engine from
  // its environment, so their values appear on no command line.
  for (const auto& e : req.env) o.insert(o.end(), {"-e", e});
  o.insert(o.end(), {"-e", "BATON_CONTAINER=" + engine});
  for (const auto& n : orch.value("pass_env", Json::array())) o.insert(o.end(), {"-e", n.get<std::string>()});
  // A sanitized baton build keeps its sanitizer settings in the container.
  for (const char* n : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"})
    if (PosixEnv()->GetEnv(n)) o.insert(o.end(), {"-e", n});
  return o;
}

std::string ContainerFailureReason(int exit_code, const std::string& log_tail, int64_t memory) {
  std::string last = LastLine(log_tail);
  if (last.rfind("Error: ", 0) == 0) last = last.substr(7);
  if (exit_code == 125)
    return "the container engine could not start the step's container: " + (last.empty() ? "exit code 125" : last);
  if (exit_code == 126 || exit_code == 127)
    return "the step entrypoint could not be executed in the image (exit code " + std::to_string(exit_code) +
           (last.empty() ? ")" : "): " + last);
  if (exit_code == 137)
    return "the container was killed (SIGKILL)" +
           (memory > 0 ? "; it may have run out of memory (limit " + FormatMemory(memory) + ")" : std::string());
  return "the container ended with exit code " + std::to_string(exit_code) + " before the step entrypoint recorded the step" +
         (last.empty() ? "" : ": " + last);
}

int RemoveRunContainers(const std::string& engine, const std::string& run_id, int grace_s) {
  EngineResult ps = RunEngine({engine, "ps", "-aq", "--filter", "label=baton.run=" + run_id});
  std::vector<std::string> ids;
  size_t at = 0;
  while (at < ps.out.size()) {
    size_t nl = ps.out.find('\n', at);
    if (nl == std::string::npos) nl = ps.out.size();
    std::string id = Trim(ps.out.substr(at, nl - at));
    if (!id.empty()) ids.push_back(id);
    at = nl + 1;
  }
  if (ps.exit_code != 0 || ids.empty()) return 0;
  std::vector<std::string> rm = {engine, "rm", "-f", "-t", std::to_string(grace_s)};
  if (engine == "docker") rm = {engine, "rm", "-f"};
  rm.insert(rm.end(), ids.begin(), ids.end());
  return RunEngine(rm).exit_code == 0 ? static_cast<int>(ids.size()) : 0;
}

ContainerBackend::ContainerBackend(const SubmitRequest& req, Json config, std::string engine,
                                   std::map<std::string, ContainerPlan> plans, std::map<std::string, std::string> images,
                                   std::map<std::string, std::string> unrunnable)
    : req_(req),
      config_(std::move(config)),
      engine_(std::move(engine)),
      plans_(std::move(plans)),
      images_(std::move(images)),
      unrunnable_(std::move(unrunnable)),
      warm_(config_.value("reuse_containers", false)),
      grace_s_(static_cast<int>(DurationUs(config_, "stop_timeout", "10s") / 1'000'000)),
      host_memory_(PhysicalMemoryBytes()) {}

ContainerBackend::~ContainerBackend() {
  for (auto& t : watchers_) t.join();
}

bool ContainerBackend::HasRoomFor(const StepJob& step) {
  const int64_t memory = plans_[step.group.empty() ? step.name : step.group].memory;
  return attempts_.empty() || host_memory_ <= 0 || memory_in_use_ + memory <= host_memory_;
}

Result<std::string> ContainerBackend::Start(const AttemptRequest& a) {
  const std::string& step = a.step->name;
  // An instance of a for_each step runs as that step does.
  const std::string& as = a.step->group.empty() ? step : a.step->group;
  if (auto u = unrunnable_.find(as); u != unrunnable_.end()) return FailedPrecondition(u->second);
  const std::string handle = step + "." + std::to_string(a.attempt);
  const std::string image = images_[as];
  Attempt at{step, a.result_file, req_.log_dir + "/" + step + ".container.log", 0, plans_[as].memory};
  // Which image the step ran from, for `baton runs logs` readers and debugging.
  (void)fs::AppendFile(at.log_path, "baton: step " + step + " in " +
                                        (warm_ ? "the warm container of " : "a container of ") + "image " + image + "\n");
  at.log_from = std::max<int64_t>(0, fs::FileSize(at.log_path));
  BATON_RETURN_IF_ERROR(warm_ ? StartWarm(handle, image, a, at) : StartCold(handle, image, a, at));
  memory_in_use_ += at.memory;
  attempts_[handle] = std::move(at);
  return handle;
}

// Warm mode: one long-lived container per image, started on first use. Its main process
// (`baton step serve`) takes the attempts' entrypoints as job files from a directory in the
// run's log directory (mounted): no `exec` per step.
Result<const ContainerBackend::Warm*> ContainerBackend::WarmContainer(const std::string& image) {
  auto it = warm_containers_.find(image);
  if (it != warm_containers_.end()) return &it->second;
  const std::string n = std::to_string(warm_containers_.size() + 1);
  Warm w{"baton-" + ContainerNamePart(req_.run_id) + "-warm-" + n,
         std::make_unique<StepQueue>(req_.log_dir + "/warm-" + n)};
  BATON_RETURN_IF_ERROR(w.queue->Reset());
  std::vector<std::string> argv = {engine_, "run", "-d", "--name", w.name, "--label", "baton.warm=1"};
  auto common = CommonContainerOptions(req_, config_, engine_);
  argv.insert(argv.end(), common.begin(), common.end());
  argv.push_back(image);
  const std::string exe = req_.steps.empty() ? std::string() : req_.steps[0].command[0];
  auto entry = ImageEntrypoint({exe, "step", "serve", "--queue", w.queue->dir()});
  argv.insert(argv.end(), entry.begin(), entry.end());
  EngineResult r = RunEngine(argv);
  if (r.exit_code != 0) return Unavailable("cannot start the warm container for image " + image + ": " + EngineError(r));
  return &warm_containers_.emplace(image, std::move(w)).first->second;
}

Status ContainerBackend::StartWarm(const std::string& handle, const std::string& image, const AttemptRequest& a,
                                   const Attempt& at) {
  BATON_ASSIGN_OR_RETURN(const Warm* w, WarmContainer(image));
  BATON_RETURN_IF_ERROR(w->queue->Publish(ContainerNamePart(handle), ImageEntrypoint(a.argv), at.log_path));
  const StepQueue* queue = w->queue.get();
  const std::string container = w->name;
  watchers_.emplace_back([this, handle, queue, container] {
    const std::string id = ContainerNamePart(handle);
    int code = -1;
    for (int tick = 1; code < 0; ++tick) {
      if (auto c = queue->ExitCode(id)) {
        code = *c;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (tick % 400 == 0) {  // every 2 s: is the warm container still there?
        if (stopping_) code = 143;
        else if (Trim(RunEngine({engine_, "inspect", "--format", "{{.State.Running}}", container}).out) != "true")
          code = 137;
      }
    }
    Exited({handle, code, false});
  });
  return Status::Ok();
}

Status ContainerBackend::StartCold(const std::string& handle, const std::string& image, const AttemptRequest& a,
                                   const Attempt& at) {
  const StepJob& job = *a.step;
  const ContainerPlan& plan = plans_[job.group.empty() ? job.name : job.group];
  const std::string container = "baton-" + ContainerNamePart(req_.run_id) + "-" + ContainerNamePart(handle);
  std::vector<std::string> argv = {engine_, "run", "--rm", "--name", container, "--label", "baton.step=" + job.name};
  auto common = CommonContainerOptions(req_, job.settings.value("orchestrator", Json::object()), engine_);
  argv.insert(argv.end(), common.begin(), common.end());
  argv.insert(argv.end(), plan.options.begin(), plan.options.end());
  argv.push_back(image);
  auto entry = ImageEntrypoint(a.argv);
  argv.insert(argv.end(), entry.begin(), entry.end());
  std::string error;
  const int64_t pid = SpawnToLog(argv, at.log_path, &error);
  if (pid < 0) return Unavailable("cannot run " + engine_ + ": " + error);
  const int64_t deadline = plan.deadline_us > 0 ? MonotonicMicros() + plan.deadline_us : 0;
  watchers_.emplace_back([this, handle, pid, container, deadline] {
    int exit_code = -1;
    bool killed = false;
    while (WaitChild(pid, deadline == 0, &exit_code) == 0) {
      if (!killed && MonotonicMicros() > deadline) {
        killed = true;
        (void)RunEngine({engine_, "rm", "-f", "-t", "0", container});
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    Exited({handle, exit_code, killed});
  });
  return Status::Ok();
}

void ContainerBackend::Exited(Exit e) {
  std::lock_guard<std::mutex> lock(mu_);
  exits_.push_back(std::move(e));
  cv_.notify_one();
}

// The entrypoint's result decides, not an exit code that something after the step (a
// sanitizer's report at exit, say) may have changed; without one, the container's end says why.
AttemptEnd ContainerBackend::EndOf(const Exit& e, const Attempt& at) const {
  if (auto end = EndFromResult(at.result_file)) return *end;
  if (stopping_) return {AttemptEnd::Kind::kCancelled, ""};  // baton records the stop
  if (e.killed_by_deadline)
    return {AttemptEnd::Kind::kFailed, "timed out: the step's container outlived its time limit and was removed"};
  return {AttemptEnd::Kind::kFailed, ContainerFailureReason(e.exit_code, Tail(at.log_path, at.log_from), at.memory)};
}

Result<std::map<std::string, AttemptEnd>> ContainerBackend::Wait(const std::vector<std::string>&, int64_t timeout_us) {
  std::deque<Exit> exits;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::microseconds(timeout_us), [&] { return !exits_.empty(); });
    exits.swap(exits_);
  }
  std::map<std::string, AttemptEnd> ends;
  for (const Exit& e : exits) {
    auto it = attempts_.find(e.handle);
    if (it == attempts_.end()) continue;
    ends[e.handle] = EndOf(e, it->second);
    memory_in_use_ -= it->second.memory;
    attempts_.erase(it);
  }
  return ends;
}

Status ContainerBackend::Cancel(const std::vector<std::string>&, bool stop) {
  // Attempts are started only once their upstream steps succeeded: none is ever held.
  if (!stop) return Status::Ok();
  stopping_ = true;
  RemoveRunContainers(engine_, req_.run_id, grace_s_);
  return Status::Ok();
}

void ContainerBackend::Finish() {
  for (auto& t : watchers_) t.join();
  watchers_.clear();
  RemoveRunContainers(engine_, req_.run_id, warm_ ? 0 : grace_s_);
  for (const auto& [image, w] : warm_containers_) (void)fs::RemoveTree(w.queue->dir());
}

}  // namespace baton
