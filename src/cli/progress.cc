#include "cli/progress.h"

#include <chrono>
#include <cstdio>
#include <vector>

#include "cli/cli.h"
#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/signals.h"
#include "platform/terminal.h"

namespace baton::cli {

namespace {

constexpr auto kRedrawEvery = std::chrono::milliseconds(200);

// Elapsed time for the status line: tenths of a second under a minute, so that it visibly moves.
std::string Elapsed(int64_t micros) {
  if (micros >= 60'000'000) return FormatDuration(micros);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(micros) / 1e6);
  return buf;
}

}  // namespace

ProgressDisplay::ProgressDisplay(const PipelineSpec& spec, bool quiet, bool explain)
    : spec_(spec),
      live_(CanRedraw(1) && !PosixEnv()->GetEnv("CI")),
      color_(ColorEnabled(1)),
      quiet_(quiet),
      explain_(explain) {}

ProgressDisplay::~ProgressDisplay() { Finish(); }

std::string ProgressDisplay::FitWidth(const std::string& text, int columns) {
  std::string out;
  int visible = 0;
  bool cut = false, styled = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == 0x1b && i + 1 < text.size() && text[i + 1] == '[') {
      // A control sequence takes no column: copy it whole (up to its final byte).
      size_t end = i + 2;
      while (end < text.size() && !(text[end] >= 0x40 && text[end] <= 0x7e)) ++end;
      out.append(text, i, end - i + 1);
      styled = true;
      i = end;
      continue;
    }
    const bool continuation = (c & 0xc0) == 0x80;  // of a UTF-8 character already counted
    if (!continuation && visible == columns) {
      cut = true;
      break;
    }
    out += text[i];
    if (!continuation) ++visible;
  }
  if (cut && styled) out += "\033[0m";
  return out;
}

std::string ProgressDisplay::Status(const std::string& word) const {
  return Paint(word, StatusSgr(word), color_);
}

std::string ProgressDisplay::Counter() const {
  return "[" + std::to_string(done_) + "/" + std::to_string(total_) + "] ";
}

void ProgressDisplay::OnRunStart(const Plan& plan) {
  std::lock_guard<std::mutex> l(mu_);
  total_ = plan.size();
  plan_ = &plan;
  t0_ = MonotonicMicros();
  for (size_t i = 0; i < plan.size(); ++i)
    if (plan.state(static_cast<int>(i)) == Plan::State::kSucceeded) ++done_;
  if (live_ && !timer_.joinable()) timer_ = std::thread([this] { TimerLoop(); });
}

void ProgressDisplay::OnStepsAdded(int step, int first, const std::vector<std::string>& names) {
  std::lock_guard<std::mutex> l(mu_);
  total_ += names.size();
  if (expanded_.insert(step).second) --total_;  // the for_each step is done through its instances
  for (size_t k = 0; k < names.size(); ++k) added_names_[first + static_cast<int>(k)] = names[k];
}

const std::string& ProgressDisplay::Name(int step) const {
  auto it = added_names_.find(step);
  return it != added_names_.end() ? it->second : plan_->name(step);
}

void ProgressDisplay::TimerLoop() {
  // Signals belong to the thread that takes them (the executor's); see BlockAllSignalsInThisThread.
  BlockAllSignalsInThisThread();
  std::unique_lock<std::mutex> l(mu_);
  while (!timer_stop_) {
    Redraw();
    wake_.wait_for(l, kRedrawEvery, [this] { return timer_stop_; });
  }
}

void ProgressDisplay::StopTimer() {
  {
    std::lock_guard<std::mutex> l(mu_);
    timer_stop_ = true;
  }
  wake_.notify_all();
  if (timer_.joinable()) timer_.join();
}

void ProgressDisplay::Erase() {
  if (!drawn_) return;
  std::fputs("\r\033[K", stdout);
  drawn_ = false;
}

void ProgressDisplay::Line(const std::string& text) {
  Erase();
  std::fputs(text.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::string ProgressDisplay::StatusLine() const {
  const int64_t now = MonotonicMicros();
  std::string line = Counter() + Elapsed(now - t0_);
  if (!running_.empty()) line += "  " + std::to_string(running_.size()) + " " + Status("running");
  if (failed_)
    line += (running_.empty() ? "  " : ", ") + std::to_string(failed_) + " " + Status("failed");
  std::string names;
  for (const auto& [step, what] : running_)
    names += (names.empty() ? ": " : ", ") + what.second + " " + Elapsed(now - what.first);
  return line + names;
}

void ProgressDisplay::Redraw() {
  if (!live_ || timer_stop_ || total_ == 0) return;
  // One column short of the width: writing the last column leaves some terminals about to wrap.
  const int columns = TerminalColumns(1) - 1;
  std::fputs(("\r\033[K" + FitWidth(StatusLine(), columns)).c_str(), stdout);
  std::fflush(stdout);
  drawn_ = true;
}

void ProgressDisplay::OnStepStart(int step, int attempt) {
  std::lock_guard<std::mutex> l(mu_);
  running_[step] = {MonotonicMicros(), Name(step)};
  if (!live_ && !quiet_)
    Line(Counter() + "started " + Name(step) +
         (attempt > 1 ? " (attempt " + std::to_string(attempt) + ")" : ""));
  Redraw();
}

void ProgressDisplay::OnStepEnd(int step, int attempt, const StepOutcome& o, int64_t retry_in_us) {
  std::lock_guard<std::mutex> l(mu_);
  running_.erase(step);
  const std::string name = Name(step);
  if (retry_in_us >= 0) {
    Line(Counter() + name + " attempt " + std::to_string(attempt) + " " + Status("failed") + ": " +
         o.reason + "; " + Paint("retrying", StatusSgr("retrying"), color_) + " in " +
         FormatDuration(retry_in_us));
    Redraw();
    return;
  }
  ++done_;
  const std::string word = ToString(o.status);
  if (o.status == StepStatus::kCompleted) {
    if (!quiet_ || live_)
      Line(Counter() + Status(word) + " " + name + " in " + FormatDuration(o.duration_us));
  } else if (o.status == StepStatus::kCached) {
    if (!quiet_ || live_) Line(Counter() + Status(word) + " " + name + " (" + o.reason + ")");
  } else {
    if (o.status == StepStatus::kFailed) ++failed_;
    Line(Counter() + Status(word) + " " + name + ": " + o.reason);
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

void ProgressDisplay::OnStopSignal(int signal, int count) {
  {
    std::lock_guard<std::mutex> l(mu_);
    Erase();
    std::fflush(stdout);
    const bool ctrl_c = std::string(StopSignals::Name(signal)) == "SIGINT";
    if (count == 0)  // a backend that stops its steps its own way
      std::fprintf(stderr, "baton: stopping\n");
    else if (count == 1)
      std::fprintf(stderr, "baton: stopping (%s again to kill)\n",
                   ctrl_c ? "Ctrl-C" : (std::string("send ") + StopSignals::Name(signal)).c_str());
    else if (count == 2)
      std::fprintf(stderr, "baton: killing the running steps\n");
    std::fflush(stderr);
  }
}

void ProgressDisplay::OnRunEnd(const RunSummary& s) {
  (void)s;
  Finish();
}

void ProgressDisplay::Finish() {
  StopTimer();
  std::lock_guard<std::mutex> l(mu_);
  Erase();
  std::fflush(stdout);
}

}  // namespace baton::cli
