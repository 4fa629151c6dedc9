// Examples of every command, shown in `--help` and in the command reference (docs/cli.md), which
// is generated from the command tree itself by the hidden `baton docs` command.

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "cli/tools.h"

namespace baton::cli {

namespace {

// Examples by command path. Commands not in the tree are not printed, so commands may be listed
// here before they exist.
const std::map<std::string, std::vector<std::string>>& Examples() {
  static const auto* examples = new std::map<std::string, std::vector<std::string>>{
      {"", {"baton run pipeline.yaml", "baton runs show last", "baton help runs list"}},
      {"init", {"baton init", "baton init ~/projects/digits"}},
      {"run",
       {"baton run pipeline.yaml", "baton run pipeline.yaml -p C=0.5 --explain",
        "baton run pipeline.yaml -c run.yaml --stack team -j 4",
        "baton run pipeline.yaml --dry-run -o json"}},
      {"compile", {"baton compile pipeline.yaml --stack team --out compiled/"}},
      {"build", {"baton build pipeline.yaml --stack boxed"}},
      {"config", {"baton config template pipeline.yaml > run.yaml"}},
      {"config template", {"baton config template pipeline.yaml > run.yaml"}},
      {"dag",
       {"baton dag pipeline.yaml", "baton dag pipeline.yaml -o dot | dot -Tsvg > dag.svg",
        "baton dag pipeline.yaml -o mermaid"}},
      {"completion",
       {"source <(baton completion bash)   # this shell; add the line to ~/.bashrc to keep it",
        "baton completion bash > ~/.local/share/bash-completion/completions/baton",
        "baton completion zsh > \"${fpath[1]}/_baton\"   # then start a new zsh",
        "baton completion fish > ~/.config/fish/completions/baton.fish"}},
      {"runs", {"baton runs list", "baton runs show last"}},
      {"runs list",
       {"baton runs list", "baton runs list --status failed --since 2d",
        "baton runs list --pipeline digits --param C=0.5 -n 5 -o json"}},
      {"runs show",
       {"baton runs show last", "baton runs show digits-20260101-120000-ab12 -o json"}},
      {"runs logs",
       {"baton runs logs last", "baton runs logs last train -f",
        "baton runs logs last train --attempt 1"}},
      {"runs stop", {"baton runs stop last", "baton runs stop last --wait 2m"}},
      {"runs resume", {"baton runs resume last", "baton runs resume last --explain -j 2"}},
      {"runs delete",
       {"baton runs delete digits-20260101-120000-ab12",
        "baton runs delete --older-than 30d --status failed --dry-run"}},
      {"runs tag", {"baton runs tag last baseline", "baton runs tag last --remove baseline"}},
      {"runs note",
       {"baton runs note last \"C=0.5 overfits\"", "baton runs note last",
        "baton runs note last --clear"}},
      {"runs compare",
       {"baton runs compare digits-20260101-120000-ab12 last",
        "baton runs compare digits-20260101-120000-ab12 last -o json"}},
      {"runs export", {"baton runs export last digits-run.tar"}},
      {"runs import", {"baton runs import digits-run.tar"}},
      {"artifacts", {"baton artifacts list --run last", "baton artifacts show 12"}},
      {"artifacts list", {"baton artifacts list --run last", "baton artifacts list -n 20 -o json"}},
      {"artifacts show", {"baton artifacts show 12", "baton artifacts show 3fa9c2"}},
      {"artifacts export", {"baton artifacts export 12 ./model.pkl"}},
      {"artifacts gc", {"baton artifacts gc --dry-run", "baton artifacts gc --min-age 1h"}},
      {"step", {"baton step run --snapshot snapshot.json --step train --run RUN_ID"}},
      {"step run",
       {"baton step run --snapshot sha256:HASH --step train --run RUN_ID",
        "baton step run --snapshot snapshot.json --step train --run RUN_ID "
        "--metadata https://baton.example.com --artifacts s3://bucket/prefix"}},
      {"flavor", {"baton flavor list", "baton flavor describe local_docker"}},
      {"flavor list", {"baton flavor list", "baton flavor list --type artifact-store"}},
      {"flavor describe",
       {"baton flavor describe local_docker", "baton flavor describe s3 --type artifact-store"}},
      {"flavor register", {"baton flavor register ./libmine.so"}},
      {"flavor unregister", {"baton flavor unregister mine"}},
      {"orchestrator", {"baton orchestrator register fast --flavor local --set jobs=8"}},
      {"orchestrator register",
       {"baton orchestrator register fast --flavor local --set jobs=8",
        "baton orchestrator register boxed --flavor local_docker --set image=python:3.12"}},
      {"orchestrator update", {"baton orchestrator update fast --set jobs=16 --unset gpus"}},
      {"orchestrator list", {"baton orchestrator list", "baton orchestrator list -o json"}},
      {"orchestrator describe", {"baton orchestrator describe fast"}},
      {"orchestrator delete", {"baton orchestrator delete fast"}},
      {"artifact-store",
       {"baton artifact-store register team --flavor s3 --set bucket=ml-artifacts"}},
      {"artifact-store register",
       {"baton artifact-store register team --flavor s3 --set bucket=ml-artifacts "
        "--set region=eu-west-1"}},
      {"artifact-store update", {"baton artifact-store update team --set prefix=digits"}},
      {"artifact-store list", {"baton artifact-store list"}},
      {"artifact-store describe", {"baton artifact-store describe team"}},
      {"artifact-store delete", {"baton artifact-store delete team"}},
      {"container-registry",
       {"baton container-registry register hub --flavor default --set "
        "uri=registry.example.com/ml"}},
      {"container-registry register",
       {"baton container-registry register hub --flavor default --set "
        "uri=registry.example.com/ml"}},
      {"container-registry update",
       {"baton container-registry update hub --set uri=registry.example.com/team"}},
      {"container-registry list", {"baton container-registry list"}},
      {"container-registry describe", {"baton container-registry describe hub"}},
      {"container-registry delete", {"baton container-registry delete hub"}},
      {"stack", {"baton stack list", "baton stack register team --orchestrator fast --set"}},
      {"stack register",
       {"baton stack register team --orchestrator fast --artifact-store team --set"}},
      {"stack update", {"baton stack update team --orchestrator boxed"}},
      {"stack list", {"baton stack list", "baton stack list -o json"}},
      {"stack describe", {"baton stack describe", "baton stack describe team"}},
      {"stack set", {"baton stack set team", "baton stack set default"}},
      {"stack delete", {"baton stack delete team"}},
      {"store", {"baton store show", "baton store set postgresql://ml@db.example.com:5432/baton"}},
      {"store set",
       {"baton store set postgresql://ml@db.example.com:5432/baton", "baton store set default"}},
      {"store show", {"baton store show", "baton store show -o json"}},
      {"store verify", {"baton store verify", "baton store verify -o json"}},
      {"server",
       {"baton server user add ada --role admin", "baton server --port 8237",
        "baton server --host 0.0.0.0 --tls-cert cert.pem --tls-key key.pem",
        "baton server token create ci --run RUN --expires 2h"}},
      {"schedule",
       {"baton schedule create pipeline.yaml --cron \"0 3 * * *\"", "baton schedule list"}},
      {"schedule create",
       {"baton schedule create pipeline.yaml --cron \"0 3 * * *\"",
        "baton schedule create train.yaml --name nightly --cron \"30 2 * * mon-fri\" --tz Europe/Berlin "
        "--catchup none --overlap queue"}},
      {"schedule list", {"baton schedule list", "baton schedule list -o json"}},
      {"schedule update", {"baton schedule update nightly --cron \"0 4 * * *\" --stack gpu"}},
      {"schedule pause", {"baton schedule pause nightly"}},
      {"schedule resume", {"baton schedule resume nightly"}},
      {"schedule delete", {"baton schedule delete nightly"}},
      {"login",
       {"baton login https://baton.example.com:8237 --token-file token.txt",
        "echo $TOKEN | baton login http://127.0.0.1:8237"}},
      {"logout", {"baton logout https://baton.example.com:8237"}},
      {"store migrate",
       {"baton store migrate sqlite:///home/me/digits/.baton/baton.db "
        "postgresql://ml@db.example.com:5432/baton"}},
  };
  return *examples;
}

// Markdown table cells: a pipe would end the cell.
std::string Cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \n");
  const size_t e = s.find_last_not_of(" \n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string FullName(const CLI::App& root, const CommandInfo& c) {
  return c.path.empty() ? root.get_name() : root.get_name() + " " + c.path;
}

// "#baton-runs-list": GitHub's anchor of a heading "baton runs list".
std::string Anchor(const std::string& heading) {
  std::string out = "#";
  for (char c : heading)
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (c == ' ')
      out += '-';
  return out;
}

// "-o, --output TEXT:{table,json}=table" as CLI11's help writes it.
std::string OptionText(const CLI::Formatter& fmt, const CLI::Option* opt) {
  std::string name = fmt.make_option_name(opt, false);
  std::string text;
  for (char c : name) text += c == ',' ? std::string(", ") : std::string(1, c);
  return text + fmt.make_option_opts(opt);
}

std::string Section(const CLI::App& root, const CommandInfo& c) {
  const CLI::Formatter fmt;
  const CLI::App* app = c.app;
  std::string s = "## " + FullName(root, c) + "\n\n";
  if (!app->get_description().empty()) s += app->get_description() + "\n\n";
  std::string usage = Trim(fmt.make_usage(app, FullName(root, c)));
  if (usage.rfind("Usage:", 0) == 0) usage = Trim(usage.substr(6));
  s += "```\n" + usage + "\n```\n\n";
  if (!c.subcommands.empty()) {
    s += "| command | description |\n|---|---|\n";
    for (size_t i = 0; i < c.subcommands.size(); ++i) {
      const std::string sub = FullName(root, c) + " " + c.subcommands[i];
      s += "| [`" + c.subcommands[i] + "`](" + Anchor(sub) + ") | " +
           Cell(c.subcommand_descriptions[i]) + " |\n";
    }
    s += "\n";
  }
  const auto positionals = app->get_options(
      [](const CLI::Option* o) { return !o->nonpositional() && !o->get_group().empty(); });
  if (!positionals.empty()) {
    s += "| argument | description |\n|---|---|\n";
    for (const CLI::Option* o : positionals)
      s += "| `" + Trim(fmt.make_option_name(o, true) + fmt.make_option_opts(o)) + "` | " +
           Cell(o->get_description()) + " |\n";
    s += "\n";
  }
  // -h, --help is on every command: the page says so once, at the top.
  const CLI::Option* help = c.path.empty() ? nullptr : app->get_help_ptr();
  const auto options = app->get_options([help](const CLI::Option* o) {
    return o->nonpositional() && !o->get_group().empty() && o != help;
  });
  if (!options.empty()) {
    s += "| option | description |\n|---|---|\n";
    for (const CLI::Option* o : options)
      s += "| `" + Cell(OptionText(fmt, o)) + "` | " + Cell(o->get_description()) + " |\n";
    s += "\n";
  }
  const std::vector<std::string> examples = ExamplesOf(c.path);
  if (!examples.empty()) {
    s += "Examples:\n\n```sh\n";
    for (const std::string& e : examples) s += e + "\n";
    s += "```\n\n";
  }
  return s;
}

}  // namespace

std::vector<std::string> ExamplesOf(const std::string& path) {
  auto it = Examples().find(path);
  return it == Examples().end() ? std::vector<std::string>{} : it->second;
}

void AddExampleFooters(CLI::App& root) {
  // Depth first over the commands themselves (the tree's data holds const pointers).
  std::vector<std::pair<CLI::App*, std::string>> todo = {{&root, ""}};
  while (!todo.empty()) {
    auto [cmd, path] = todo.back();
    todo.pop_back();
    for (CLI::App* sub : cmd->get_subcommands([](CLI::App*) { return true; }))
      todo.push_back({sub, path.empty() ? sub->get_name() : path + " " + sub->get_name()});
    const std::vector<std::string> examples = ExamplesOf(path);
    if (examples.empty()) continue;
    // CLI11 puts a blank line before the footer and a newline after it.
    std::string footer = cmd->get_footer().empty() ? "" : cmd->get_footer() + "\n\n";
    footer += "Examples:";
    for (const std::string& e : examples) footer += "\n  " + e;
    cmd->footer(footer);
  }
}

std::string CommandReference(const CLI::App& root) {
  const std::vector<CommandInfo> tree = CommandTree(root);
  std::string s = "# Command reference\n\n";
  s += "<!-- Generated by scripts/gen-cli-docs.sh from the commands themselves; do not edit. "
       "-->\n\n";
  s += "Every command takes `-h, --help`, which prints its part of this page (so does `" +
       root.get_name() + " help COMMAND`). Shell completion: [`" + root.get_name() +
       " completion`](" + Anchor(root.get_name() + " completion") + ").\n\n";
  for (const CommandInfo& c : tree) {
    const std::string name = FullName(root, c);
    const size_t depth = c.path.empty() ? 0 : 1 + std::count(c.path.begin(), c.path.end(), ' ');
    s += std::string(2 * depth, ' ') + "- [" + name + "](" + Anchor(name) + ")\n";
  }
  s += "\n";
  for (const CommandInfo& c : tree) s += Section(root, c);
  // One newline at the end of the file.
  while (s.size() > 1 && s[s.size() - 1] == '\n' && s[s.size() - 2] == '\n') s.pop_back();
  return s;
}

}  // namespace baton::cli
