#pragma once
// The local_docker flavor's StepBackend: one container per step attempt on this machine, run
// with the podman or docker command line (cold), or one long-lived container per image and run
// that takes the attempts' entrypoints as job files (warm, `reuse_containers`). Every container
// carries the label baton.run=RUN_ID, so a stop or the cleanup after a crashed baton removes all
// of a run's containers.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "flavors/common/dag_driver.h"
#include "flavors/common/step_queue.h"

namespace baton {

// One step as a container: the engine's options and what the step asks for.
struct ContainerPlan {
  std::vector<std::string> options;  // for `run`: --cpus, --memory, devices
  int64_t memory = 0;
  int gpus = 0;
  int64_t deadline_us = 0;           // 0: none; past it the container is removed
  std::string parent;                // the parent image of the step's image
};
ContainerPlan PlanContainer(const StepJob& job, const std::string& engine);
// Options every container of a run shares: labels, mounts, working directory, environment.
std::vector<std::string> CommonContainerOptions(const SubmitRequest& req, const nlohmann::json& orch,
                                                const std::string& engine);
// Why a container ended without the step entrypoint writing its result.
std::string ContainerFailureReason(int exit_code, const std::string& log_tail, int64_t memory);
// Removes every container labelled with the run, giving each `grace_s` to stop; returns how
// many there were.
int RemoveRunContainers(const std::string& engine, const std::string& run_id, int grace_s);

class ContainerBackend : public StepBackend {
 public:
  // The image of each step (by name), or why the step cannot run (`unrunnable`).
  ContainerBackend(const SubmitRequest& req, nlohmann::json config, std::string engine,
                   std::map<std::string, ContainerPlan> plans, std::map<std::string, std::string> images,
                   std::map<std::string, std::string> unrunnable);
  // Waits for every watcher thread; Finish must have been called.
  ~ContainerBackend() override;

  bool HasRoomFor(const StepJob& step) override;
  Result<std::string> Start(const AttemptRequest& a) override;
  Result<std::map<std::string, AttemptEnd>> Wait(const std::vector<std::string>& live, int64_t timeout_us) override;
  Status Cancel(const std::vector<std::string>& handles, bool stop) override;
  // Removes what is left of the run (warm containers, anything a stop raced with).
  void Finish();

 private:
  struct Attempt {
    std::string step;
    std::string result_file;
    std::string log_path;
    int64_t log_from = 0;
    int64_t memory = 0;
  };
  struct Exit {
    std::string handle;
    int exit_code = -1;
    bool killed_by_deadline = false;
  };
  struct Warm {
    std::string name;  // the container
    std::unique_ptr<StepQueue> queue;
  };

  Result<const Warm*> WarmContainer(const std::string& image);
  Status StartWarm(const std::string& handle, const std::string& image, const AttemptRequest& a, const Attempt& at);
  Status StartCold(const std::string& handle, const std::string& image, const AttemptRequest& a, const Attempt& at);
  void Exited(Exit e);
  AttemptEnd EndOf(const Exit& e, const Attempt& at) const;

  const SubmitRequest& req_;
  nlohmann::json config_;
  std::string engine_;
  std::map<std::string, ContainerPlan> plans_;
  std::map<std::string, std::string> images_, unrunnable_;
  const bool warm_;
  const int grace_s_;
  const int64_t host_memory_;

  std::map<std::string, Attempt> attempts_;  // by handle, until it ends
  std::map<std::string, Warm> warm_containers_;  // by image
  int64_t memory_in_use_ = 0;
  std::atomic<bool> stopping_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Exit> exits_;  // guarded by mu_
  std::vector<std::thread> watchers_;
};

}  // namespace baton
