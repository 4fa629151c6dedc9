#include "toy_flavor/toy_orchestrator.h"

#include <chrono>
#include <csignal>
#include <map>
#include <mutex>
#include <thread>

#include "flavors/common/dag_driver.h"
#include "platform/fs.h"
#include "platform/process.h"

namespace baton::testing {
namespace {

std::mutex g_mu;
std::vector<std::string> g_starts;

// One child process per attempt; handles are pids.
class ProcessBackend : public StepBackend {
 public:
  ProcessBackend(const SubmitRequest& req, std::string binary) : req_(req), binary_(std::move(binary)) {}

  Result<std::string> Start(const AttemptRequest& a) override {
    std::vector<std::string> argv = a.argv;
    argv[0] = binary_;
    const std::string log = req_.log_dir + "/" + a.step->name + "." + std::to_string(a.attempt) + ".toy.log";
    std::string error;
    const int64_t pid = SpawnToLog(argv, log, &error);
    if (pid < 0) return Unavailable("toy: cannot start the entrypoint: " + error);
    {
      std::lock_guard<std::mutex> lock(g_mu);
      g_starts.push_back(a.step->name + "#" + std::to_string(a.attempt));
    }
    live_[std::to_string(pid)] = {pid, a.result_file};
    return std::to_string(pid);
  }

  Result<std::map<std::string, AttemptEnd>> Wait(const std::vector<std::string>& live, int64_t timeout_us) override {
    std::map<std::string, AttemptEnd> ends;
    const int64_t deadline = MonotonicMicros() + timeout_us;
    do {
      for (const auto& handle : live) {
        auto it = live_.find(handle);
        int code = -1;
        if (it == live_.end() || WaitChild(it->second.pid, false, &code) == 0) continue;
        ends[handle] = EndFromResult(it->second.result_file)
                           .value_or(AttemptEnd{AttemptEnd::Kind::kFailed,
                                                "toy: the entrypoint exited with code " + std::to_string(code)});
        live_.erase(it);
      }
      if (!ends.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    } while (MonotonicMicros() < deadline);
    return ends;
  }

  Status Cancel(const std::vector<std::string>& handles, bool) override {
    for (const auto& h : handles)
      if (auto it = live_.find(h); it != live_.end()) SignalProcess(it->second.pid, SIGTERM);
    return Status::Ok();
  }

 private:
  struct Child {
    int64_t pid;
    std::string result_file;
  };
  const SubmitRequest& req_;
  std::string binary_;
  std::map<std::string, Child> live_;
};

class ToyOrchestrator : public Orchestrator {
 public:
  explicit ToyOrchestrator(Json config) : config_(std::move(config)) {}

  Status Compile(const SubmitRequest& req, const std::string& out_dir) override {
    return fs::WriteFileAtomic(out_dir + "/toy-plan.json", req.ToJson().dump(2));
  }
  Status Submit(const SubmitRequest& req) override {
    ProcessBackend backend(req, config_.value("binary", std::string()));
    DagDriver driver(req, &backend, {/*max_running=*/2, /*wait_slice_us=*/50'000});
    auto registered = running_.Register(req.run_id, &driver);
    return driver.Run();
  }
  Status Stop(const std::string& run_id) override {
    running_.Stop(run_id);
    return Status::Ok();
  }

 private:
  Json config_;
  RunningDrivers running_;
};

}  // namespace

FlavorInfo ToyFlavor() {
  FlavorInfo f;
  f.type = ComponentType::kOrchestrator;
  f.name = "toy";
  f.maturity = "experimental";
  f.summary = "Runs every step attempt's entrypoint as a child process, through the common DAG driver (tests only)";
  f.schema = {{"binary", "string", true, nullptr, "the baton binary that runs the step entrypoint", false, true, nullptr}};
  f.make_orchestrator = [](const Json& config) -> Result<std::unique_ptr<Orchestrator>> {
    return std::unique_ptr<Orchestrator>(new ToyOrchestrator(config));
  };
  return f;
}

std::vector<std::string> ToyStarts() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_starts;
}

}  // namespace baton::testing
