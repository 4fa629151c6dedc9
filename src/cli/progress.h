#pragma once
// Console progress for a run: a live status line on a terminal, plain lines otherwise.

#include <cstdio>
#include <set>
#include <string>

#include "core/executor.h"

namespace baton::cli {

class ProgressDisplay : public ExecutionObserver {
 public:
  ProgressDisplay(const PipelineSpec& spec, bool quiet, bool explain);
  void OnRunStart(const Plan& plan) override;
  void OnStepStart(int step, int attempt) override;
  void OnStepEnd(int step, int attempt, const StepOutcome& o, int64_t retry_in_us) override;
  void OnRunEnd(const RunSummary& s) override;

 private:
  void Line(const std::string& text);  // a permanent line (clears the status line first)
  void Redraw();
  void LogTail(const std::string& path);

  const PipelineSpec& spec_;
  bool tty_;
  bool quiet_;
  bool explain_;
  size_t total_ = 0;
  int done_ = 0, failed_ = 0;
  int64_t t0_ = 0;
  std::set<int> running_;
};

}  // namespace baton::cli
