#pragma once
// The `local` orchestrator flavor. It is baton's own executor, which runs in-process (the CLI
// drives it directly, with live progress); this class gives it the same Compile as every other
// flavor: the plan of processes a run would start.

#include "baton/flavor.h"
#include "baton/orchestrator.h"

namespace baton {

// The flavor's description, config schema and factory.
FlavorInfo LocalFlavor();

class LocalOrchestrator : public Orchestrator {
 public:
  explicit LocalOrchestrator(nlohmann::json config) : config_(std::move(config)) {}
  Status Compile(const SubmitRequest& req, const std::string& out_dir) override;
  Status Submit(const SubmitRequest& req) override;
  Status Stop(const std::string& run_id) override;

 private:
  nlohmann::json config_;
};

}  // namespace baton
