// Mistakes on the command line: unknown commands and flags with suggestions, bare command
// groups, `baton help CMD`, and CLI11's parse errors in baton's one error format.

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/cli.h"

namespace baton::cli {

namespace {

std::string Path(const CLI::App* cmd) {
  std::string out;
  for (const CLI::App* c = cmd; c != nullptr; c = c->get_parent())
    out = c->get_name() + (out.empty() ? "" : " " + out);
  return out;
}

std::vector<std::string> SubcommandNames(CLI::App* cmd) {
  std::vector<std::string> out;
  for (const CLI::App* s : cmd->get_subcommands([](CLI::App*) { return true; }))
    out.push_back(s->get_name());
  return out;
}

// What may be suggested: hidden commands (an empty group) are for scripts, not for people.
std::vector<std::string> VisibleSubcommandNames(CLI::App* cmd) {
  std::vector<std::string> out;
  auto visible = [](CLI::App* c) { return !c->get_group().empty(); };
  for (const CLI::App* s : cmd->get_subcommands(visible)) out.push_back(s->get_name());
  return out;
}

CLI::App* Subcommand(CLI::App* cmd, const std::string& name) {
  for (CLI::App* s : cmd->get_subcommands([](CLI::App*) { return true; }))
    if (s->get_name() == name) return s;
  return nullptr;
}

// The flags `cmd` takes ("--name", "-n"), with those of the commands above it.
std::vector<std::string> FlagNames(const CLI::App* cmd) {
  std::vector<std::string> out;
  for (const CLI::App* c = cmd; c != nullptr; c = c->get_parent())
    for (const CLI::Option* o : c->get_options()) {
      for (const std::string& n : o->get_lnames()) out.push_back("--" + n);
      for (const std::string& n : o->get_snames()) out.push_back("-" + n);
    }
  return out;
}

bool IsFlagOf(const CLI::App* cmd, const std::string& arg) {
  const std::string name = arg.substr(0, arg.find('='));
  const std::vector<std::string> flags = FlagNames(cmd);
  if (std::find(flags.begin(), flags.end(), name) != flags.end()) return true;
  // Short flags run together (-qj4): the first letter decides.
  return name.size() > 2 && name[1] != '-' &&
         std::find(flags.begin(), flags.end(), name.substr(0, 2)) != flags.end();
}

int UsageError(const CLI::App* cmd, const std::string& message,
               const std::vector<std::string>& suggestions, const std::string& hint) {
  std::fprintf(stderr, "baton: error: %s\n", message.c_str());
  if (!suggestions.empty()) {
    std::string list;
    for (size_t i = 0; i < suggestions.size(); ++i)
      list += (i == 0 ? "" : i + 1 == suggestions.size() ? " or " : ", ") + suggestions[i];
    std::fprintf(stderr, "  did you mean %s?\n", list.c_str());
  }
  std::fprintf(stderr, "  see '%s --help' for %s\n", Path(cmd).c_str(), hint.c_str());
  return 2;
}

// Where the command line leads: the command it names, or a usage error (exit code in *exit).
struct Walk {
  CLI::App* cmd = nullptr;  // the deepest command named
  size_t next = 1;          // argv index after it
  bool help = false;        // -h or --help among the arguments
};

}  // namespace

int PreParse(CLI::App& app, std::vector<std::string>& args, bool* handled) {
  *handled = false;
  // `baton help [CMD...]` is `baton [CMD...] --help`.
  if (args.size() >= 2 && args[1] == "help") {
    args.erase(args.begin() + 1);
    args.push_back("--help");
  }
  Walk w;
  w.cmd = &app;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") w.help = true;
    if (w.help || a.empty() || a[0] == '-') continue;
    if (SubcommandNames(w.cmd).empty()) break;  // a leaf: the rest are its arguments
    CLI::App* sub = Subcommand(w.cmd, a);
    if (sub == nullptr) {
      *handled = true;
      return UsageError(w.cmd, "unknown command '" + a + "' for '" + Path(w.cmd) + "'",
                        Suggest(a, VisibleSubcommandNames(w.cmd)), "its commands");
    }
    w.cmd = sub;
    w.next = i + 1;
  }
  // A bare group (`baton`, `baton runs`) lists its commands.
  if (!w.help && !SubcommandNames(w.cmd).empty() &&
      std::none_of(args.begin() + 1, args.end(),
                   [](const std::string& a) { return a == "--version" || a == "-v"; })) {
    *handled = true;
    // Its usage line names the whole command, as `--help` does.
    std::string text = w.cmd->help();
    const std::string usage = "Usage: " + w.cmd->get_name() + " ";
    if (w.cmd != &app && text.find(usage) != std::string::npos)
      text.replace(text.find(usage), usage.size(), "Usage: " + Path(w.cmd) + " ");
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  return 0;
}

int ReportParseError(CLI::App& app, const std::vector<std::string>& args,
                     const CLI::ParseError& e) {
  // The command the error is about: the deepest one named on the line.
  CLI::App* cmd = &app;
  size_t after = 1;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i].empty() || args[i][0] == '-') continue;
    CLI::App* sub = Subcommand(cmd, args[i]);
    if (sub == nullptr) break;
    cmd = sub;
    after = i + 1;
  }
  for (size_t i = after; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") break;
    if (a.size() > 1 && a[0] == '-' && !IsFlagOf(cmd, a))
      return UsageError(cmd, "unknown flag '" + a + "' for '" + Path(cmd) + "'",
                        Suggest(a.substr(0, a.find('=')), FlagNames(cmd)), "its flags");
  }
  std::string message = e.what();
  if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
    // Arguments past what the command takes: name the first one.
    std::vector<std::string> extra = cmd->remaining();
    message = "unexpected argument" + std::string(extra.size() == 1 ? "" : "s") + " for '" +
              Path(cmd) + "':";
    for (const std::string& x : extra) message += " '" + x + "'";
  }
  return UsageError(cmd, message, {}, "usage");
}

}  // namespace baton::cli
