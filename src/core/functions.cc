#include "core/functions.h"

namespace baton {
namespace {
const std::map<std::string, StepFunction>* g_functions = nullptr;
}  // namespace

void SetStepFunctions(const std::map<std::string, StepFunction>* functions) { g_functions = functions; }

const StepFunction* FindStepFunction(const std::string& name) {
  if (g_functions == nullptr) return nullptr;
  auto it = g_functions->find(name);
  return it == g_functions->end() ? nullptr : &it->second;
}

StepContext::StepContext(std::string run_id, std::string step, int attempt, nlohmann::json params,
                         std::string log_path, const std::atomic<bool>* stop)
    : run_id_(std::move(run_id)),
      step_(std::move(step)),
      attempt_(attempt),
      params_(std::move(params)),
      log_path_(std::move(log_path)),
      stop_(stop) {}

}  // namespace baton
