#pragma once
// Console progress for a run: permanent lines for what happened (coloured on a terminal) and,
// on a terminal, a live status line redrawn on a timer; plain lines otherwise.

#include <condition_variable>
#include <cstdint>
#include <map>
#include <set>
#include <mutex>
#include <string>
#include <thread>

#include "core/executor.h"

namespace baton::cli {

// Thread-safe: the executor calls it from its thread, its timer redraws from another, and
// OnStopSignal may come from either; one mutex orders everything written to the terminal.
class ProgressDisplay : public ExecutionObserver {
 public:
  ProgressDisplay(const PipelineSpec& spec, bool quiet, bool explain);
  ~ProgressDisplay() override;
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;

  void OnRunStart(const Plan& plan) override;
  void OnStepsAdded(int step, int first, const std::vector<std::string>& names) override;
  void OnStepStart(int step, int attempt) override;
  void OnStepEnd(int step, int attempt, const StepOutcome& o, int64_t retry_in_us) override;
  void OnRunEnd(const RunSummary& s) override;
  // Stops the timer and erases the status line (idempotent): before anything else is printed
  // after a run, even one that ended in an error.
  void Finish();
  // A stop signal the run took (RunOptions::on_stop_signal): says on stderr what happens now.
  void OnStopSignal(int signal, int count);

  // `text` cut to `columns` visible characters (escape sequences kept, and closed when cut).
  static std::string FitWidth(const std::string& text, int columns);

 private:
  // The rest run with mu_ held.
  void Line(const std::string& text);  // a permanent line (erases the status line first)
  void Erase();
  void Redraw();
  std::string StatusLine() const;
  void LogTail(const std::string& path);
  std::string Counter() const;
  std::string Status(const std::string& word) const;

  void TimerLoop();
  void StopTimer();

  const PipelineSpec& spec_;
  const bool live_;   // a status line is redrawn (stdout is a terminal)
  const bool color_;  // stdout is coloured
  const bool quiet_;
  const bool explain_;

  std::mutex mu_;
  std::condition_variable wake_;
  std::thread timer_;
  bool timer_stop_ = false;  // guarded by mu_
  bool drawn_ = false;       // a status line is on screen (guarded by mu_)
  size_t total_ = 0;
  int done_ = 0, failed_ = 0;
  int64_t t0_ = 0;
  // step -> when its attempt started (monotonic) and its name (the timer thread reads no spec:
  // a for_each step's instances are added to it while the run goes on).
  std::map<int, std::pair<int64_t, std::string>> running_;
  const Plan* plan_ = nullptr;
  std::map<int, std::string> added_names_;  // instances, by step number
  std::set<int> expanded_;                   // for_each steps that have instances
  const std::string& Name(int step) const;
};

}  // namespace baton::cli
