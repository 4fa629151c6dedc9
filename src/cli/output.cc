
#include <cstdio>

#include "baton/json_text.h"
#include "cli/cli.h"
#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/terminal.h"

namespace baton::cli {

namespace {
Action& CurrentAction() {
  static Action a;
  return a;
}
}  // namespace

void SetAction(Action a) { CurrentAction() = std::move(a); }
Action TakeAction() { return std::move(CurrentAction()); }

int Fail(const Status& s) {
  std::fprintf(stderr, "baton: error: %s\n", s.message().c_str());
  return ExitCodeFor(s);
}

Result<Workspace> OpenCurrentWorkspace() {
  BATON_ASSIGN_OR_RETURN(std::string root, FindWorkspace("."));
  return OpenWorkspace(root);
}

void Table::Print(FILE* out) const {
  std::vector<size_t> width;
  for (const auto& r : rows_)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (const auto& r : rows_) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::fprintf(out, "%s\n", line.c_str());
  }
}

void AddOutputOption(CLI::App* cmd, std::string* format) {
  cmd->add_option("-o,--output", *format, "Output format: table (for people) or json (for scripts)")
      ->check(CLI::IsMember({"table", "json"}))
      ->default_val("table");
}

void PrintJson(const Json& j) { std::printf("%s\n", DumpJson(j, 2).c_str()); }

std::string HumanSize(int64_t b) {
  char buf[32];
  if (b < 1024) std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(b));
  else if (b < 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  else if (b < 1024LL * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f MiB", b / 1048576.0);
  else std::snprintf(buf, sizeof buf, "%.2f GiB", b / 1073741824.0);
  return buf;
}

std::string Count(size_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

std::string Ago(int64_t micros) {
  if (micros <= 0) return "-";
  int64_t s = (NowMicros() - micros) / 1000000;
  if (s < 60) return std::to_string(s) + "s ago";
  if (s < 3600) return std::to_string(s / 60) + "m ago";
  if (s < 86400) return std::to_string(s / 3600) + "h ago";
  return std::to_string(s / 86400) + "d ago";
}

namespace {
ColorMode g_color = ColorMode::kAuto;

bool DumbTerminal() {
  auto term = PosixEnv()->GetEnv("TERM");
  return term && *term == "dumb";
}
}  // namespace

void SetColorMode(ColorMode mode) { g_color = mode; }

bool CanRedraw(int fd) { return IsTerminal(fd) && !DumbTerminal(); }

bool ColorEnabled(int fd) {
  if (g_color != ColorMode::kAuto) return g_color == ColorMode::kAlways;
  auto no_color = PosixEnv()->GetEnv("NO_COLOR");
  return !(no_color && !no_color->empty()) && CanRedraw(fd);
}

std::string Paint(const std::string& text, const char* sgr, bool on) {
  if (!on || sgr == nullptr || *sgr == '\0') return text;
  return std::string("\033[") + sgr + "m" + text + "\033[0m";
}

const char* StatusSgr(const std::string& status) {
  if (status == "completed") return "32";
  if (status == "failed") return "31";
  if (status == "running" || status == "retrying") return "33";
  if (status == "cached") return "36";
  if (status == "skipped") return "2";
  if (status == "stopped" || status == "interrupted") return "35";
  return "";
}

int TakeColorFlag(CLI::App& app, std::vector<std::string>& args) {
  static std::string documented;
  app.add_option("--color", documented,
                 "Colour output: auto (on a terminal, unless NO_COLOR is set), always, never");
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--") break;
    std::string value;
    size_t taken = 1;
    if (args[i].rfind("--color=", 0) == 0) {
      value = args[i].substr(8);
    } else if (args[i] == "--color") {
      if (i + 1 >= args.size())
        return Fail(InvalidArgument("--color needs a value: auto, always or never"));
      value = args[i + 1];
      taken = 2;
    } else {
      continue;
    }
    if (value == "auto")
      SetColorMode(ColorMode::kAuto);
    else if (value == "always")
      SetColorMode(ColorMode::kAlways);
    else if (value == "never")
      SetColorMode(ColorMode::kNever);
    else
      return Fail(InvalidArgument("--color " + value + ": give auto, always or never"));
    args.erase(args.begin() + static_cast<std::ptrdiff_t>(i),
               args.begin() + static_cast<std::ptrdiff_t>(i + taken));
    --i;
  }
  return 0;
}

}  // namespace baton::cli
