// The command tree as data: what completion scripts and the command reference are made from.

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "cli/tools.h"
#include "core/spec.h"

namespace baton::cli {

namespace {

bool Hidden(const CLI::App* cmd) { return cmd->get_group().empty(); }
bool Hidden(const CLI::Option* opt) { return opt->get_group().empty(); }

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// The values of a CLI::IsMember check, which describes itself in the type name
// ("TEXT:{table,json}").
std::vector<std::string> MemberChoices(const CLI::Option* opt) {
  const std::string type = opt->get_type_name();
  const size_t open = type.find('{');
  const size_t close = type.find('}', open);
  if (open == std::string::npos || close == std::string::npos) return {};
  std::vector<std::string> out;
  std::string item;
  for (char c : type.substr(open + 1, close - open - 1)) {
    if (c == ',') {
      out.push_back(item);
      item.clear();
    } else {
      item += c;
    }
  }
  out.push_back(item);
  return out;
}

// Arguments whose values the command checks itself (not CLI11), so their choices are known here.
std::vector<std::string> KnownChoices(const std::string& name) {
  if (name == "failure-mode")
    return {FailureModeName(FailureMode::kContinue), FailureModeName(FailureMode::kStop),
            FailureModeName(FailureMode::kFailFast)};
  if (name == "type") return {"orchestrator", "artifact-store", "container-registry"};
  if (name == "color") return {"auto", "always", "never"};
  if (name == "shell")
    return std::vector<std::string>(std::begin(kCompletionShells), std::end(kCompletionShells));
  return {};
}

// What a value is, from the argument's name (and, for run ids, its description).
ValueKind KindOf(const std::string& name, const std::string& description, bool positional) {
  static const std::set<std::string> kRunNames = {"run", "runs", "run_id", "run-id"};
  if (kRunNames.count(name) || StartsWith(description, "Run id")) return ValueKind::kRunId;
  if (positional && name == "pipeline") return ValueKind::kYamlFile;  // --pipeline is a name
  if (name == "config") return ValueKind::kYamlFile;                  // a YAML run config
  static const std::set<std::string> kDirs = {"dir", "out", "logs", "queue"};
  if (kDirs.count(name)) return ValueKind::kDirectory;
  static const std::set<std::string> kFiles = {"dest", "library", "snapshot", "result", "file"};
  if (kFiles.count(name)) return ValueKind::kFile;
  return ValueKind::kText;
}

ArgInfo Describe(const CLI::Option* opt) {
  ArgInfo a;
  a.description = opt->get_description();
  const bool positional = !opt->nonpositional();
  std::string name;
  if (positional) {
    name = opt->get_name(true, false);
    a.repeat = opt->get_items_expected_max() > 1;
    a.names.push_back(name);
  } else {
    for (const std::string& s : opt->get_snames()) a.names.push_back("-" + s);
    for (const std::string& l : opt->get_lnames()) a.names.push_back("--" + l);
    name = opt->get_lnames().empty() ? opt->get_snames().front() : opt->get_lnames().front();
  }
  if (!positional && opt->get_expected_max() == 0) {  // a flag
    a.kind = ValueKind::kNone;
    return a;
  }
  a.choices = MemberChoices(opt);
  if (a.choices.empty()) a.choices = KnownChoices(name);
  a.kind = !a.choices.empty() ? ValueKind::kChoice : KindOf(name, a.description, positional);
  return a;
}

void Walk(const CLI::App* cmd, const std::string& path, std::vector<CommandInfo>* out) {
  CommandInfo info;
  info.path = path;
  info.app = cmd;
  for (const CLI::Option* opt : cmd->get_options()) {
    if (Hidden(opt)) continue;
    (opt->nonpositional() ? info.options : info.positionals).push_back(Describe(opt));
  }
  std::vector<const CLI::App*> subs;
  for (const CLI::App* sub : cmd->get_subcommands([](const CLI::App*) { return true; }))
    if (!Hidden(sub)) subs.push_back(sub);
  for (const CLI::App* sub : subs) {
    info.subcommands.push_back(sub->get_name());
    info.subcommand_descriptions.push_back(sub->get_description());
  }
  out->push_back(std::move(info));
  for (const CLI::App* sub : subs)
    Walk(sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), out);
}

}  // namespace

std::vector<CommandInfo> CommandTree(const CLI::App& root) {
  std::vector<CommandInfo> out;
  Walk(&root, "", &out);
  return out;
}

}  // namespace baton::cli
