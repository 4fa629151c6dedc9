
#include <cstdio>

#include "cli/cli.h"
#include "platform/fs.h"

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

void PrintJson(const Json& j) { std::printf("%s\n", j.dump(2).c_str()); }

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

}  // namespace baton::cli
