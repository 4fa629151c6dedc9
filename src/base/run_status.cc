#include "baton/run_status.h"

namespace baton {
namespace {

constexpr const char* kRunNames[] = {"pending", "running", "completed", "failed", "stopped", "interrupted"};
constexpr const char* kStepNames[] = {"running", "completed", "cached", "failed", "skipped", "stopped", "interrupted"};

template <typename E, size_t N>
bool Parse(std::string_view name, const char* const (&names)[N], E* out) {
  for (size_t i = 0; i < N; ++i)
    if (name == names[i]) {
      *out = static_cast<E>(i);
      return true;
    }
  return false;
}

}  // namespace

const char* ToString(RunStatus s) { return kRunNames[static_cast<int>(s)]; }
const char* ToString(StepStatus s) { return kStepNames[static_cast<int>(s)]; }
bool ParseRunStatus(std::string_view name, RunStatus* out) { return Parse(name, kRunNames, out); }
bool ParseStepStatus(std::string_view name, StepStatus* out) { return Parse(name, kStepNames, out); }

}  // namespace baton
