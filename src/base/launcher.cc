#include "baton/launcher.h"

#include <cstring>
#include <string>

#include "baton/format.h"

namespace baton {

std::string Completion::Describe(int64_t timeout_us) const {
  if (timed_out) return "timed out after " + FormatDuration(timeout_us);
  if (cancelled) return error.empty() ? "terminated: the run was stopped" : error;
  if (signal != 0 && !error.empty()) return error;  // e.g. what an out-of-memory kill was
  if (signal != 0) {
    std::string s = "killed by signal " + std::to_string(signal);
    if (const char* n = strsignal(signal)) s += std::string(" (") + n + ")";
    return s;
  }
  if (exit_code == 0) return "succeeded";
  if (!error.empty()) return error;
  if (exit_code == 127) return "exited with code 127 (command not found)";
  return "exited with code " + std::to_string(exit_code);
}

}  // namespace baton
