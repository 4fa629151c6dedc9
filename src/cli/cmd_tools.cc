// baton completion|dag, and the hidden `baton docs`: shell completion scripts, pipeline graphs,
// and the command reference (docs/cli.md). Added last, so that they see every other command.

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "cli/tools.h"
#include "core/spec_parser.h"
#include "platform/env_posix.h"

namespace baton::cli {

namespace {

// ---------------------------------------------------------------------------------------------
// completion

int DoCompletion(const CLI::App& root, const std::string& shell) {
  std::string script;
  if (CompletionScript(root, shell, &script)) {
    std::fputs(script.c_str(), stdout);
    return 0;
  }
  std::string shells;
  for (const char* s : kCompletionShells) shells += std::string(shells.empty() ? "" : ", ") + s;
  std::fprintf(stderr, "baton: error: no completion for shell '%s'; shells: %s\n", shell.c_str(),
               shells.c_str());
  return 2;
}

void AddCompletionCommand(CLI::App& app) {
  auto shell = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("completion",
                                 "Print the completion script of a shell (bash, zsh or fish); its "
                                 "first lines say how to install it");
  cmd->add_option("shell", *shell, "bash, zsh or fish")->required();
  cmd->callback([&app, shell] { SetAction([&app, shell] { return DoCompletion(app, *shell); }); });
}

// ---------------------------------------------------------------------------------------------
// dag

// One edge of the step graph: a data dependency (an input read from another step's output) or
// an ordering one (`after:`).
struct Edge {
  int from = 0;
  int to = 0;
  std::string artifact;  // "load.raw"; empty for `after:`
  std::string as;        // the consumer's name for the input, when it differs from the output's
};

std::vector<Edge> EdgesOf(const PipelineSpec& spec) {
  std::map<std::string, int> index;
  for (size_t i = 0; i < spec.steps.size(); ++i) index[spec.steps[i].name] = static_cast<int>(i);
  std::vector<Edge> edges;
  for (size_t i = 0; i < spec.steps.size(); ++i) {
    const StepSpec& s = spec.steps[i];
    const int to = static_cast<int>(i);
    for (const InputRef& in : s.inputs)
      if (auto it = index.find(in.step); it != index.end())
        edges.push_back(
            {it->second, to, in.step + "." + in.output, in.name == in.output ? "" : in.name});
    for (const std::string& a : s.after)
      if (auto it = index.find(a); it != index.end()) edges.push_back({it->second, to, "", ""});
  }
  return edges;
}

// Steps, each after every step it depends on; ties keep the file's order.
std::vector<int> TopologicalOrder(const PipelineSpec& spec, const std::vector<Edge>& edges) {
  const size_t n = spec.steps.size();
  std::vector<int> waiting(n, 0);
  for (const Edge& e : edges) ++waiting[e.to];
  std::vector<int> order;
  std::vector<bool> placed(n, false);
  while (order.size() < n) {
    size_t next = n;
    for (size_t i = 0; i < n && next == n; ++i)
      if (!placed[i] && waiting[i] == 0) next = i;
    if (next == n) break;  // a cycle: validation refuses these before we get here
    placed[next] = true;
    order.push_back(static_cast<int>(next));
    for (const Edge& e : edges)
      if (e.from == static_cast<int>(next)) --waiting[e.to];
  }
  return order;
}

void PrintText(const PipelineSpec& spec, const std::vector<Edge>& edges) {
  std::printf("pipeline %s: %s\n", spec.name.c_str(), Count(spec.steps.size(), "step").c_str());
  Table t({"STEP", "READS", "AFTER"});
  for (int i : TopologicalOrder(spec, edges)) {
    std::string reads, after;
    for (const Edge& e : edges) {
      if (e.to != i) continue;
      if (e.artifact.empty())
        after += (after.empty() ? "" : ", ") + spec.steps[e.from].name;
      else
        reads += (reads.empty() ? "" : ", ") + e.artifact + (e.as.empty() ? "" : " as " + e.as);
    }
    t.Add({spec.steps[i].name, reads.empty() ? "-" : reads, after.empty() ? "-" : after});
  }
  t.Print();
}

// A Graphviz quoted string.
std::string DotQuote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out + "\"";
}

void PrintDot(const PipelineSpec& spec, const std::vector<Edge>& edges) {
  std::string s = "digraph " + DotQuote(spec.name) + " {\n";
  s += "  node [shape=box, style=rounded];\n";
  for (const StepSpec& step : spec.steps) s += "  " + DotQuote(step.name) + ";\n";
  for (const Edge& e : edges) {
    s += "  " + DotQuote(spec.steps[e.from].name) + " -> " + DotQuote(spec.steps[e.to].name);
    s += e.artifact.empty() ? " [style=dashed, label=\"after\"];\n"
                            : " [label=" + DotQuote(e.artifact) + "];\n";
  }
  s += "}\n";
  std::fputs(s.c_str(), stdout);
}

// A Mermaid label in double quotes: characters outside a safe set as entity codes (#34;).
std::string MermaidLabel(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == ' ')
      out += static_cast<char>(c);
    else
      out += "#" + std::to_string(c) + ";";
  }
  return out + "\"";
}

void PrintMermaid(const PipelineSpec& spec, const std::vector<Edge>& edges) {
  // Node ids are s0, s1, ...: step names may hold characters Mermaid reads as syntax.
  std::string s = "flowchart TD\n";
  for (size_t i = 0; i < spec.steps.size(); ++i)
    s += "  s" + std::to_string(i) + "[" + MermaidLabel(spec.steps[i].name) + "]\n";
  for (const Edge& e : edges) {
    const std::string from = "s" + std::to_string(e.from), to = "s" + std::to_string(e.to);
    s += e.artifact.empty() ? "  " + from + " -.->|after| " + to + "\n"
                            : "  " + from + " -->|" + MermaidLabel(e.artifact) + "| " + to + "\n";
  }
  std::fputs(s.c_str(), stdout);
}

int DoDag(const std::string& path, const std::string& format) {
  PipelineSpec spec;
  if (!path.empty()) {
    auto parsed = ParsePipelineFile(*PosixEnv(), path);
    if (!parsed.ok()) return BadInput(parsed.status());
    spec = std::move(*parsed);
  } else if (const PipelineSpec* embedded = EmbeddedPipeline()) {
    spec = *embedded;
    std::vector<Diagnostic> problems = ValidatePipeline(spec);
    for (const Diagnostic& d : problems) std::fprintf(stderr, "%s\n", d.ToString().c_str());
    if (!problems.empty()) return 2;
  } else {
    return BadInput(InvalidArgument("a pipeline file is required"));
  }
  const std::vector<Edge> edges = EdgesOf(spec);
  if (format == "dot")
    PrintDot(spec, edges);
  else if (format == "mermaid")
    PrintMermaid(spec, edges);
  else
    PrintText(spec, edges);
  return 0;
}

void AddDagCommand(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("text");
  auto* cmd = app.add_subcommand(
      "dag", "Print a pipeline's step graph: what each step reads, and its 'after:' steps");
  cmd->add_option("pipeline", *path, "Pipeline file (YAML); a C++ pipeline binary shows its own");
  cmd->add_option("-o,--output", *format,
                  "text (for people), dot (Graphviz: dashed edges are 'after:') or mermaid")
      ->check(CLI::IsMember({"text", "dot", "mermaid"}))
      ->capture_default_str();
  cmd->callback([path, format] { SetAction([path, format] { return DoDag(*path, *format); }); });
}

// ---------------------------------------------------------------------------------------------
// docs (hidden)

void AddDocsCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("docs", "Print the command reference (docs/cli.md) in Markdown");
  cmd->group("");  // for scripts/gen-cli-docs.sh, not for users
  cmd->callback([&app] {
    SetAction([&app] {
      std::fputs(CommandReference(app).c_str(), stdout);
      return 0;
    });
  });
}

}  // namespace

void AddToolCommands(CLI::App& app) {
  AddDagCommand(app);
  AddCompletionCommand(app);
  AddDocsCommand(app);
  // The examples name `baton`; a C++ pipeline binary has other names and only some commands.
  if (EmbeddedPipeline() == nullptr) AddExampleFooters(app);
}

}  // namespace baton::cli
