#include "cli/progress.h"

#include <vector>

#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/terminal.h"

namespace baton::cli {

ProgressDisplay::ProgressDisplay(const PipelineSpec& spec, bool quiet, bool explain)
    : spec_(spec),
      tty_(IsTerminal(1) && !PosixEnv()->GetEnv("CI")),
      quiet_(quiet),
      explain_(explain) {}

void ProgressDisplay::OnRunStart(const Plan& plan) {
  total_ = plan.size();
  t0_ = MonotonicMicros();
  for (size_t i = 0; i < plan.size(); ++i)
    if (plan.state(static_cast<int>(i)) == Plan::State::kSucceeded) ++done_;
}

void ProgressDisplay::Line(const std::string& text) {
  if (tty_) std::fputs("\r\033[K", stdout);
  std::fputs(text.c_str(), stdout);
  std::fputc('\n', stdout);
}

void ProgressDisplay::Redraw() {
  if (!tty_) return;
  std::string names;
  for (int i : running_) {
    if (names.size() > 50) {
      names += ", ...";
      break;
    }
    names += (names.empty() ? "" : ", ") + spec_.steps[i].name;
  }
  std::printf("\r\033[K[%d/%zu] %s  %zu running%s%s%s", done_, total_,
              FormatDuration(MonotonicMicros() - t0_).c_str(), running_.size(),
              failed_ ? (", " + std::to_string(failed_) + " failed").c_str() : "",
              names.empty() ? "" : ": ", names.c_str());
  std::fflush(stdout);
}

void ProgressDisplay::OnStepStart(int step, int attempt) {
  running_.insert(step);
  if (!tty_ && !quiet_)
    Line("[" + std::to_string(done_) + "/" + std::to_string(total_) + "] started " +
         spec_.steps[step].name +
         (attempt > 1 ? " (attempt " + std::to_string(attempt) + ")" : ""));
  Redraw();
}

void ProgressDisplay::OnStepEnd(int step, int attempt, const StepOutcome& o, int64_t retry_in_us) {
  running_.erase(step);
  const std::string& name = spec_.steps[step].name;
  if (retry_in_us >= 0) {
    Line("[" + std::to_string(done_) + "/" + std::to_string(total_) + "] " + name + " attempt " +
         std::to_string(attempt) + " failed: " + o.reason + "; retrying in " +
         FormatDuration(retry_in_us));
    Redraw();
    return;
  }
  ++done_;
  std::string prefix = "[" + std::to_string(done_) + "/" + std::to_string(total_) + "] ";
  if (o.status == StepStatus::kCompleted) {
    if (!quiet_ || tty_)
      Line(prefix + "completed " + name + " in " + FormatDuration(o.duration_us));
  } else if (o.status == StepStatus::kCached) {
    if (!quiet_ || tty_) Line(prefix + "cached " + name + " (" + o.reason + ")");
  } else {
    if (o.status == StepStatus::kFailed) ++failed_;
    Line(prefix + ToString(o.status) + " " + name + ": " + o.reason);
    if (o.status == StepStatus::kFailed) LogTail(o.log_path);
  }
  if (explain_ && !o.explain.empty()) Line("    why: " + o.explain);
  Redraw();
}

// The last lines of a failed step's log, so that the console shows why without another command.
void ProgressDisplay::LogTail(const std::string& path) {
  constexpr size_t kLines = 10;
  constexpr size_t kBytes = 8192;
  if (path.empty()) return;
  auto text = fs::ReadFile(path);
  if (!text.ok() || text->empty()) return;
  std::string t = text->size() > kBytes ? text->substr(text->size() - kBytes) : *text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  std::vector<std::string> lines;
  size_t end = t.size();
  while (lines.size() < kLines && end > 0) {
    size_t start = t.rfind('\n', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    lines.insert(lines.begin(), t.substr(start, end - start));
    end = start == 0 ? 0 : start - 1;
  }
  for (const std::string& l : lines) Line("    | " + l);
  if (end > 0) Line("    (last " + std::to_string(lines.size()) + " lines of " + path + ")");
}

void ProgressDisplay::OnRunEnd(const RunSummary& s) {
  if (tty_) std::fputs("\r\033[K", stdout);
  std::fflush(stdout);
}

}  // namespace baton::cli
