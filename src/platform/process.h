#pragma once
// Facts about processes on this machine (Linux /proc), used to tell a live baton process from a
// dead one and to clean up what a dead one left running.

#include <sys/types.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "baton/status.h"

namespace baton {

// The start time of `pid` in clock ticks since boot, or 0 when there is no such process.
int64_t ProcessStartTicks(pid_t pid);
// True when `pid` runs and (if start_ticks != 0) started at `start_ticks`.
bool ProcessAlive(pid_t pid, int64_t start_ticks);
// Start time of `pid` as microseconds since the epoch, or 0.
int64_t ProcessStartMicros(pid_t pid);
// The process group of `pid`, or -1.
pid_t ProcessGroup(pid_t pid);

// Appends "PID\n" lines to a journal file so that the step processes of a baton that died can
// be found and terminated later. Appends are single write() calls (atomic for short lines).
class PidJournal {
 public:
  PidJournal() = default;
  ~PidJournal();
  bool Open(const std::string& path);
  void Add(pid_t pid);

 private:
  int fd_ = -1;
};

// Kills (SIGKILL) the process groups listed in a pid journal that are still alive, are group
// leaders, and started at or after `not_before_us`. Adds the groups killed to `killed`.
void KillJournaledGroups(const std::string& path, int64_t not_before_us, std::set<pid_t>* killed);

// Clock ticks since boot now, on the clock /proc/PID/stat start times use.
int64_t BootTicksNow();

// Kills (SIGKILL) the process group of every process of this user whose environment holds the
// exact entry `env_entry` (for example "BATON_RUN_ID=r1") and that started no later than
// `started_by_ticks`. Catches step processes a killed baton started but never journaled. Never
// kills the caller's own group. Adds the groups killed to `killed`.
void KillGroupsWithEnv(const std::string& env_entry, int64_t started_by_ticks, std::set<pid_t>* killed);

}  // namespace baton

namespace baton {

// What a finished command printed and how it ended.
struct CommandResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};

// Runs argv[0] (looked up on PATH) with argv and waits for it, collecting its stdout and stderr;
// `input` is its stdin (else /dev/null). The child runs in a process group of its own (a Ctrl-C
// on the terminal reaches baton, which then stops what it runs itself) with no blocked signals
// and default dispositions, so this can be called from threads that block signals. `extra_env`
// (NAME=VALUE) is added to this process's environment. Fails only when the command cannot be
// started.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {},
                                 const std::string& input = "");

// Ends this process at once with `code`: no destructors, no atexit handlers, no flushing.
[[noreturn]] void ExitNow(int code);

// The absolute path of this process's executable (/proc/self/exe), or "baton" if unknown.
std::string SelfExecutable();
// Replaces this process with the program at `path` (argv[0] included in `argv`); returns only
// when it cannot, with why.
Status ExecProgram(const std::string& path, const std::vector<std::string>& argv);
// Sends `signal` to process `pid`; false when it cannot (no such process, not ours).
bool SignalProcess(int64_t pid, int signal);
// This process's id.
int64_t CurrentProcessId();
// How many processors are online (at least 1), and physical memory in bytes (0 if unknown).
int OnlineCpus();
int64_t PhysicalMemoryBytes();

// Waits for child `pid` to end: blocking, or (`block` false) returning at once. Returns 1 with
// *exit_code set (128+N when killed by signal N) when it ended, 0 when it still runs (only
// without `block`), -1 when it is not a child of this process.
int WaitChild(int64_t pid, bool block, int* exit_code);
// Whether an executable `program` is on PATH.
bool FindInPath(const std::string& program);
// The GPU device files of this machine (/dev/nvidiaN).
std::vector<std::string> GpuDevices();
// This machine's hostname, or "localhost".
std::string HostName();

// `s` without leading and trailing whitespace (a command's output, say).
std::string Trim(const std::string& s);

// Starts argv[0] (looked up on PATH) with stdin /dev/null and stdout and stderr appended to
// `log_path`, in a process group of its own and with no blocked signals, without waiting.
// Returns its pid, or -1 with *error set. `cwd`: the directory it starts in ("" : this one's;
// `log_path` is opened before it is entered).
pid_t SpawnToLog(const std::vector<std::string>& argv, const std::string& log_path, std::string* error,
                 const std::string& cwd = "");

}  // namespace baton
