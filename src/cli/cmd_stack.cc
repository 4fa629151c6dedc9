// baton flavor, baton orchestrator / artifact-store, baton stack: the components a run uses.

#include "app/run_pipeline.h"
#include "baton/json_text.h"
#include "cli/cli.h"
#include "platform/fs.h"
#include "platform/hash.h"
#include "app/stack.h"
#include "flavors/builtin.h"

namespace baton::cli {
namespace {

std::string Kind(ComponentType t) {
  return t == ComponentType::kOrchestrator ? "orchestrator" : t == ComponentType::kArtifactStore ? "artifact store" : "container registry";
}

Json SchemaJson(const FlavorInfo& f) {
  Json keys = Json::array();
  for (const auto& k : f.schema)
    keys.push_back({{"name", k.name}, {"type", k.type}, {"required", k.required}, {"default", k.default_value},
                    {"help", k.help}, {"secret", k.secret}, {"component_only", k.component_only}});
  return keys;
}

Json FlavorJson(const FlavorInfo& f) {
  return {{"type", ComponentTypeName(f.type)}, {"name", f.name},     {"maturity", f.maturity},
          {"summary", f.summary},              {"source", f.source}, {"config", SchemaJson(f)}};
}

// ---- flavor ----

int FlavorList(const std::string& type, const std::string& output) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto flavors = LoadFlavors(*ws->meta);
  if (!flavors.ok()) return Fail(flavors.status());
  std::vector<const FlavorInfo*> list;
  if (type.empty()) {
    list = (*flavors)->registry.All();
  } else {
    ComponentType t;
    if (!ParseComponentType(type, &t)) return Fail(InvalidArgument("--type must be orchestrator, artifact-store or container-registry"));
    list = (*flavors)->registry.List(t);
  }
  if (output == "json") {
    Json out = Json::array();
    for (const auto* f : list) out.push_back(FlavorJson(*f));
    for (const auto& [name, why] : (*flavors)->broken) out.push_back({{"name", name}, {"broken", why}});
    PrintJson(out);
    return 0;
  }
  Table t({"TYPE", "FLAVOR", "MATURITY", "SOURCE", "SUMMARY"});
  for (const auto* f : list) t.Add({ComponentTypeName(f->type), f->name, f->maturity, f->source, f->summary});
  t.Print();
  for (const auto& [name, why] : (*flavors)->broken) std::printf("broken plugin %s: %s\n", name.c_str(), why.c_str());
  return 0;
}

int FlavorDescribe(const std::string& name, const std::string& type, const std::string& output) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto flavors = LoadFlavors(*ws->meta);
  if (!flavors.ok()) return Fail(flavors.status());
  ComponentType t = ComponentType::kOrchestrator;
  if (!type.empty() && !ParseComponentType(type, &t)) return Fail(InvalidArgument("--type must be orchestrator, artifact-store or container-registry"));
  const FlavorInfo* f = (*flavors)->registry.Find(t, name);
  if (f == nullptr) return Fail(NotFound("no " + Kind(t) + " flavor '" + name + "'"));
  if (output == "json") {
    PrintJson(FlavorJson(*f));
    return 0;
  }
  std::printf("%s flavor %s (%s, %s)\n%s\n\n", Kind(t).c_str(), f->name.c_str(), f->maturity.c_str(), f->source.c_str(),
              f->summary.c_str());
  Table tab({"KEY", "TYPE", "DEFAULT", "WHERE", "HELP"});
  for (const auto& k : f->schema)
    tab.Add({k.name + (k.required ? " (required)" : "") + (k.secret ? " (secret)" : ""), k.type,
             k.default_value.is_null() ? "-" : DumpJson(k.default_value), k.component_only ? "component" : "component, step, run",
             k.help});
  tab.Print();
  return 0;
}

int FlavorRegister(const std::string& path) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto abs = fs::Absolute(path);
  if (!abs.ok()) return Fail(abs.status());
  auto info = LoadPlugin(*abs);
  if (!info.ok()) return Fail(info.status());
  FlavorRegistry builtins;
  Status st = RegisterBuiltinFlavors(&builtins);
  if (!st.ok()) return Fail(st);
  if (builtins.Find(info->type, info->name) != nullptr)
    return Fail(AlreadyExists("flavor '" + info->name + "' is built into baton; a plugin cannot replace it"));
  auto digest = DigestPath(*abs);
  if (!digest.ok()) return Fail(digest.status());
  PluginRecord rec{ComponentTypeName(info->type), info->name, *abs, digest->digest, 0};
  st = ws->meta->PutPlugin(rec);
  if (!st.ok()) return Fail(st);
  std::printf("Registered %s flavor %s from %s\n", Kind(info->type).c_str(), info->name.c_str(), abs->c_str());
  return 0;
}

int FlavorUnregister(const std::string& name) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  // A flavor compiled into baton is not a plugin: there is nothing to unregister.
  FlavorRegistry builtin;
  if (RegisterBuiltinFlavors(&builtin).ok() && builtin.Find(ComponentType::kOrchestrator, name))
    return Fail(InvalidArgument("flavor '" + name +
                                "' is built into baton; only flavors registered from a plugin "
                                "(baton flavor register LIBRARY) can be unregistered"));
  auto comps = ws->meta->ListComponents("orchestrator");
  if (!comps.ok()) return Fail(comps.status());
  for (const auto& c : *comps)
    if (c.flavor == name)
      return Fail(FailedPrecondition("orchestrator '" + c.name + "' uses flavor '" + name + "'; delete it first"));
  Status st = ws->meta->DeletePlugin("orchestrator", name);
  if (!st.ok()) return Fail(st);
  std::printf("Unregistered flavor %s\n", name.c_str());
  return 0;
}

// ---- components ----

struct ComponentArgs {
  std::string name, flavor, output = "table";
  std::vector<std::string> sets, unsets;
};

Json ComponentJson(const ComponentRecord& c) {
  Json config = Json::parse(c.config.empty() ? "{}" : c.config, nullptr, false);
  return {{"type", c.type}, {"name", c.name}, {"flavor", c.flavor}, {"config", config},
          {"created_at", c.created_at}, {"updated_at", c.updated_at}};
}

int ComponentRegister(ComponentType t, const ComponentArgs& a) {
  if (!IsValidStepName(a.name)) return Fail(InvalidArgument("invalid " + Kind(t) + " name '" + a.name + "' ([A-Za-z0-9_-], at most 63)"));
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto flavors = LoadFlavors(*ws->meta);
  if (!flavors.ok()) return Fail(flavors.status());
  const FlavorInfo* f = (*flavors)->registry.Find(t, a.flavor);
  if (f == nullptr) {
    std::string list;
    for (const auto* x : (*flavors)->registry.List(t)) list += (list.empty() ? "" : ", ") + x->name;
    return Fail(InvalidArgument("no " + Kind(t) + " flavor '" + a.flavor + "' (flavors: " + list + ")"));
  }
  auto config = BuildConfig(*f, a.sets, Json::object());
  if (!config.ok()) return Fail(config.status());
  ComponentRecord c{ComponentTypeName(t), a.name, f->name, config->dump(), 0, 0};
  Status st = ws->meta->CreateComponent(c);
  if (!st.ok()) return Fail(st);
  std::printf("Registered %s %s (flavor %s)\n", Kind(t).c_str(), a.name.c_str(), f->name.c_str());
  return 0;
}

int ComponentUpdate(ComponentType t, const ComponentArgs& a) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto cur = ws->meta->GetComponent(ComponentTypeName(t), a.name);
  if (!cur.ok()) return Fail(cur.status());
  if (a.name == "default") return Fail(FailedPrecondition("the default " + Kind(t) + " cannot be changed; register a new one"));
  auto flavors = LoadFlavors(*ws->meta);
  if (!flavors.ok()) return Fail(flavors.status());
  const FlavorInfo* f = (*flavors)->registry.Find(t, cur->flavor);
  if (f == nullptr) return Fail(FailedPrecondition("flavor '" + cur->flavor + "' is not available"));
  Json base = Json::parse(cur->config, nullptr, false);
  if (!base.is_object()) base = Json::object();
  for (const auto& k : a.unsets) {
    if (!base.contains(k)) return Fail(InvalidArgument(Kind(t) + " '" + a.name + "' has no '" + k + "' set"));
    base.erase(k);
  }
  auto config = BuildConfig(*f, a.sets, base);
  if (!config.ok()) return Fail(config.status());
  cur->config = config->dump();
  Status st = ws->meta->UpdateComponent(*cur);
  if (!st.ok()) return Fail(st);
  std::printf("Updated %s %s\n", Kind(t).c_str(), a.name.c_str());
  return 0;
}

int ComponentList(ComponentType t, const std::string& output) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto list = ws->meta->ListComponents(ComponentTypeName(t));
  if (!list.ok()) return Fail(list.status());
  if (output == "json") {
    Json out = Json::array();
    for (const auto& c : *list) out.push_back(ComponentJson(c));
    PrintJson(out);
    return 0;
  }
  Table tab({"NAME", "FLAVOR", "CONFIG"});
  for (const auto& c : *list) tab.Add({c.name, c.flavor, c.config});
  tab.Print();
  return 0;
}

int ComponentDescribe(ComponentType t, const std::string& name, const std::string& output) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto c = ws->meta->GetComponent(ComponentTypeName(t), name);
  if (!c.ok()) return Fail(c.status());
  auto stacks = ws->meta->ListStacks();
  if (!stacks.ok()) return Fail(stacks.status());
  Json used = Json::array();
  for (const auto& s : *stacks)
    if ((t == ComponentType::kOrchestrator ? s.orchestrator : t == ComponentType::kArtifactStore ? s.artifact_store : "") == name)
      used.push_back(s.name);
  Json j = ComponentJson(*c);
  j["stacks"] = used;
  if (output == "json") {
    PrintJson(j);
    return 0;
  }
  std::printf("%s %s\n  flavor: %s\n  config:\n", Kind(t).c_str(), c->name.c_str(), c->flavor.c_str());
  for (auto it = j["config"].begin(); it != j["config"].end(); ++it)
    std::printf("    %s: %s\n", it.key().c_str(), DumpJson(it.value()).c_str());
  std::printf("  used by stacks: %s\n", used.empty() ? "-" : DumpJson(used).c_str());
  return 0;
}

int ComponentDelete(ComponentType t, const std::string& name) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  Status st = DeleteComponent(*ws->meta, ComponentTypeName(t), name);
  if (!st.ok()) return Fail(st);
  std::printf("Deleted %s %s\n", Kind(t).c_str(), name.c_str());
  return 0;
}

void AddComponentCommands(CLI::App& app, ComponentType t, const std::string& command) {
  auto* grp = app.add_subcommand(command, "Manage " + Kind(t) + " components (configured instances of a flavor)");
  grp->require_subcommand(1);
  {
    auto a = std::make_shared<ComponentArgs>();
    auto* c = grp->add_subcommand("register", "Register a new " + Kind(t));
    c->add_option("name", a->name, "Name")->required();
    c->add_option("-f,--flavor", a->flavor, "Flavor (see 'baton flavor list')")->required();
    c->add_option("--set", a->sets, "Config KEY=VALUE (repeatable); secrets as KEY={{env.NAME}}");
    c->callback([a, t] { SetAction([a, t] { return ComponentRegister(t, *a); }); });
  }
  {
    auto a = std::make_shared<ComponentArgs>();
    auto* c = grp->add_subcommand("update", "Change the config of a " + Kind(t));
    c->add_option("name", a->name, "Name")->required();
    c->add_option("--set", a->sets, "Config KEY=VALUE (repeatable)");
    c->add_option("--unset", a->unsets, "Remove KEY from the config (repeatable)");
    c->callback([a, t] { SetAction([a, t] { return ComponentUpdate(t, *a); }); });
  }
  {
    auto a = std::make_shared<ComponentArgs>();
    auto* c = grp->add_subcommand("list", "List " + Kind(t) + "s");
    AddOutputOption(c, &a->output);
    c->callback([a, t] { SetAction([a, t] { return ComponentList(t, a->output); }); });
  }
  {
    auto a = std::make_shared<ComponentArgs>();
    auto* c = grp->add_subcommand("describe", "Show a " + Kind(t) + " and the stacks that use it");
    c->add_option("name", a->name, "Name")->required();
    AddOutputOption(c, &a->output);
    c->callback([a, t] { SetAction([a, t] { return ComponentDescribe(t, a->name, a->output); }); });
  }
  {
    auto a = std::make_shared<ComponentArgs>();
    auto* c = grp->add_subcommand("delete", "Delete a " + Kind(t) + " (refused while a stack uses it)");
    c->add_option("name", a->name, "Name")->required();
    c->callback([a, t] { SetAction([a, t] { return ComponentDelete(t, a->name); }); });
  }
}

// ---- stacks ----

struct StackArgs {
  std::string name, orchestrator, artifact_store, output = "table";
  bool set = false;
};

int StackRegister(const StackArgs& a, bool update) {
  if (!IsValidStepName(a.name)) return Fail(InvalidArgument("invalid stack name '" + a.name + "'"));
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  StackRecord s{a.name, a.orchestrator, a.artifact_store, 0, 0};
  if (update) {
    auto cur = ws->meta->GetStack(a.name);
    if (!cur.ok()) return Fail(cur.status());
    if (s.orchestrator.empty()) s.orchestrator = cur->orchestrator;
    if (s.artifact_store.empty()) s.artifact_store = cur->artifact_store;
  } else {
    if (s.orchestrator.empty()) s.orchestrator = "default";
    if (s.artifact_store.empty()) s.artifact_store = "default";
  }
  Status st = update ? UpdateStack(*ws->meta, s) : ws->meta->CreateStack(s);
  if (!st.ok()) return Fail(st);
  std::printf("%s stack %s (orchestrator %s, artifact store %s)\n", update ? "Updated" : "Registered", a.name.c_str(),
              s.orchestrator.c_str(), s.artifact_store.c_str());
  if (a.set) {
    st = SetActiveStack(*ws->meta, a.name);
    if (!st.ok()) return Fail(st);
    std::printf("Active stack: %s\n", a.name.c_str());
  }
  return 0;
}

int StackList(const std::string& output) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto list = ws->meta->ListStacks();
  if (!list.ok()) return Fail(list.status());
  auto active = ActiveStack(*ws->meta);
  if (!active.ok()) return Fail(active.status());
  if (output == "json") {
    Json out = Json::array();
    for (const auto& s : *list)
      out.push_back({{"name", s.name}, {"orchestrator", s.orchestrator}, {"artifact_store", s.artifact_store},
                     {"active", s.name == *active}});
    PrintJson(out);
    return 0;
  }
  Table t({"ACTIVE", "STACK", "ORCHESTRATOR", "ARTIFACT STORE"});
  for (const auto& s : *list) t.Add({s.name == *active ? "*" : "", s.name, s.orchestrator, s.artifact_store});
  t.Print();
  return 0;
}

int StackDescribe(const std::string& name, const std::string& output) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto flavors = LoadFlavors(*ws->meta);
  if (!flavors.ok()) return Fail(flavors.status());
  auto active = ActiveStack(*ws->meta);
  if (!active.ok()) return Fail(active.status());
  auto s = ResolveStack(*ws->meta, **flavors, name);
  if (!s.ok()) return Fail(s.status());
  Json j = s->ToJson();
  j["active"] = s->stack.name == *active;
  if (output == "json") {
    PrintJson(j);
    return 0;
  }
  std::printf("stack %s%s\n", s->stack.name.c_str(), j["active"].get<bool>() ? " (active)" : "");
  std::printf("  orchestrator:   %s (flavor %s) %s\n", s->orchestrator.name.c_str(), s->orchestrator.flavor.c_str(),
              s->orchestrator.config.c_str());
  std::printf("  artifact store: %s (flavor %s) %s\n", s->artifact_store.name.c_str(), s->artifact_store.flavor.c_str(),
              s->artifact_store.config.c_str());
  return 0;
}

int StackSet(const std::string& name) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  Status st = SetActiveStack(*ws->meta, name);
  if (!st.ok()) return Fail(st);
  std::printf("Active stack: %s\n", name.c_str());
  return 0;
}

int StackDelete(const std::string& name) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  Status st = DeleteStack(*ws->meta, name);
  if (!st.ok()) return Fail(st);
  std::printf("Deleted stack %s\n", name.c_str());
  return 0;
}

}  // namespace

void AddStackCommands(CLI::App& app) {
  {
    auto* grp = app.add_subcommand("flavor", "The flavors components can be instances of");
    grp->require_subcommand(1);
    auto type = std::make_shared<std::string>();
    auto output = std::make_shared<std::string>("table");
    auto* list = grp->add_subcommand("list", "List flavors (built in and plugins)");
    list->add_option("--type", *type, "orchestrator | artifact-store | container-registry");
    AddOutputOption(list, output.get());
    list->callback([type, output] { SetAction([type, output] { return FlavorList(*type, *output); }); });

    auto name = std::make_shared<std::string>();
    auto dtype = std::make_shared<std::string>();
    auto doutput = std::make_shared<std::string>("table");
    auto* describe = grp->add_subcommand("describe", "Show a flavor's config keys");
    describe->add_option("name", *name, "Flavor")->required();
    describe->add_option("--type", *dtype, "orchestrator (default) | artifact-store | container-registry");
    AddOutputOption(describe, doutput.get());
    describe->callback([name, dtype, doutput] { SetAction([=] { return FlavorDescribe(*name, *dtype, *doutput); }); });

    auto lib = std::make_shared<std::string>();
    auto* reg = grp->add_subcommand("register", "Load an orchestrator flavor from a shared library (see baton/plugin.h)");
    reg->add_option("library", *lib, "Path of the .so")->required();
    reg->callback([lib] { SetAction([lib] { return FlavorRegister(*lib); }); });

    auto uname = std::make_shared<std::string>();
    auto* unreg = grp->add_subcommand("unregister", "Forget a plugin flavor (refused while a component uses it)");
    unreg->add_option("name", *uname, "Flavor")->required();
    unreg->callback([uname] { SetAction([uname] { return FlavorUnregister(*uname); }); });
  }
  AddComponentCommands(app, ComponentType::kOrchestrator, "orchestrator");
  AddComponentCommands(app, ComponentType::kArtifactStore, "artifact-store");
  AddComponentCommands(app, ComponentType::kContainerRegistry, "container-registry");
  {
    auto* grp = app.add_subcommand("stack", "Stacks: which orchestrator and artifact store a run uses");
    grp->require_subcommand(1);
    for (bool update : {false, true}) {
      auto a = std::make_shared<StackArgs>();
      auto* c = grp->add_subcommand(update ? "update" : "register", update ? "Change a stack's components" : "Register a stack");
      c->add_option("name", a->name, "Stack name")->required();
      c->add_option("--orchestrator", a->orchestrator, "Orchestrator component" + std::string(update ? "" : " (default: default)"));
      c->add_option("--artifact-store", a->artifact_store, "Artifact store component" + std::string(update ? "" : " (default: default)"));
      c->add_flag("--set", a->set, "Also make it the active stack");
      c->callback([a, update] { SetAction([a, update] { return StackRegister(*a, update); }); });
    }
    auto output = std::make_shared<std::string>("table");
    auto* list = grp->add_subcommand("list", "List stacks; * marks the active one");
    AddOutputOption(list, output.get());
    list->callback([output] { SetAction([output] { return StackList(*output); }); });

    auto dname = std::make_shared<std::string>();
    auto doutput = std::make_shared<std::string>("table");
    auto* describe = grp->add_subcommand("describe", "Show a stack (default: the active one)");
    describe->add_option("name", *dname, "Stack");
    AddOutputOption(describe, doutput.get());
    describe->callback([dname, doutput] { SetAction([=] { return StackDescribe(*dname, *doutput); }); });

    auto sname = std::make_shared<std::string>();
    auto* set = grp->add_subcommand("set", "Make a stack the active one");
    set->add_option("name", *sname, "Stack")->required();
    set->callback([sname] { SetAction([sname] { return StackSet(*sname); }); });

    auto xname = std::make_shared<std::string>();
    auto* del = grp->add_subcommand("delete", "Delete a stack (not the default or the active one)");
    del->add_option("name", *xname, "Stack")->required();
    del->callback([xname] { SetAction([xname] { return StackDelete(*xname); }); });
  }
}

}  // namespace baton::cli
