#pragma once
// Containment of the processes a step starts: baton becomes a child subreaper, so that orphans
// of its steps re-parent to it instead of to init, and every launched process tree carries a
// tag in its environment that survives setsid and double forks. At a step's end whatever still
// carries the tag, or sits in the step's process group, is what the step left running.

#include <sys/types.h>

#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <string>
#include <vector>

namespace baton {

// Makes this process the subreaper of its descendants (Linux PR_SET_CHILD_SUBREAPER); false
// where the system does not allow it. Lasts for the life of the process.
bool BecomeSubreaper();

// The environment variable that tags every process of one launched command.
inline constexpr const char* kProcessTagVar = "BATON_PROCESS_TAG";
// A tag unique on this machine until reboot: this process's pid and start time, and a sequence
// number.
std::string NewProcessTag();

// A process found by a scan, with what identifies it.
struct ProcessInfo {
  pid_t pid = 0;
  int64_t start_ticks = 0;
  std::string name;  // the command name (/proc/PID/comm)
  pid_t pgid = 0;     // its process group
};

// Live (non-zombie) processes of this user, other than this one, whose environment holds the
// exact entry `env_entry` or that belong to process group `pgid` (when > 0). Only processes
// started at or after `since_ticks` (clock ticks since boot, BootTicksNow) are looked at: what
// started earlier cannot descend from what was tagged then, and its environment is not read.
std::vector<ProcessInfo> FindContained(const std::string& env_entry, pid_t pgid,
                                       int64_t since_ticks = 0);

// Whether `p` is still running (not a zombie) and is the same process that was found.
bool StillRunning(const ProcessInfo& p);
// Whether `pid` has one of `signals` pending that it neither blocks, catches nor ignores (SIGKILL:
// pending at all): the process is bound to end as soon as it is scheduled, which on a loaded
// machine can take a while. One read of /proc/PID/status.
bool DyingOf(pid_t pid, std::initializer_list<int> signals);
// Whether this process may have children it did not start (orphans it adopted as a subreaper):
// false only when the kernel lists its children and each is one it started. Whatever a step
// whose leader has ended left alive descends from such a child, so without one there is nothing
// to look for.
bool MayHaveAdoptedChildren();

// Children this process started itself and waits for by pid. Adopted orphans are every other
// child; ReapAdoptedOrphans collects those without touching a child another thread waits for.
// Spawners hold the lock from before the spawn until the pid is noted, so a child that exits at
// once is never taken for an orphan.
std::unique_lock<std::mutex> LockOwnChildren();
void NoteOwnChild(pid_t pid);    // with the lock held
void ForgetOwnChild(pid_t pid);  // once reaped

// Reaps zombie children this process did not start (orphans adopted as subreaper) so that they
// do not accumulate; returns how many.
int ReapAdoptedOrphans();
// Sends `signal` to every live child this process did not start (adopted orphans).
void SignalAdoptedOrphans(int signal);

}  // namespace baton
