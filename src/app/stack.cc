#include "app/stack.h"
#include "flavors/builtin.h"

#include "core/spec_parser.h"

namespace baton {

Result<std::unique_ptr<Flavors>> LoadFlavors(MetadataStore& meta) {
  auto f = std::make_unique<Flavors>();
  BATON_RETURN_IF_ERROR(RegisterBuiltinFlavors(&f->registry));
  BATON_ASSIGN_OR_RETURN(auto plugins, meta.ListPlugins());
  for (const auto& p : plugins) {
    auto info = LoadPlugin(p.path);
    if (!info.ok()) {
      f->broken[p.type + "/" + p.flavor] = info.status().message();
      continue;
    }
    if (info->name != p.flavor) {
      f->broken[p.type + "/" + p.flavor] = p.path + " now provides flavor '" + info->name + "'; register it again";
      continue;
    }
    Status st = f->registry.Register(std::move(*info));
    if (!st.ok()) f->broken[p.type + "/" + p.flavor] = st.message();
  }
  return f;
}

Json ResolvedStack::ToJson() const {
  auto config = [](const ComponentRecord& c) {
    Json j = Json::parse(c.config.empty() ? "{}" : c.config, nullptr, false);
    return j.is_object() ? j : Json::object();
  };
  Json j = {{"name", stack.name},
            {"orchestrator", {{"name", orchestrator.name}, {"flavor", orchestrator.flavor}, {"config", config(orchestrator)}}},
            {"artifact_store",
             {{"name", artifact_store.name}, {"flavor", artifact_store.flavor}, {"config", config(artifact_store)}}}};
  if (container_registry)
    j["container_registry"] = {{"name", container_registry->name},
                               {"flavor", container_registry->flavor},
                               {"config", config(*container_registry)}};
  return j;
}

namespace {

Result<const FlavorInfo*> FlavorOf(const Flavors& flavors, ComponentType type, const ComponentRecord& c) {
  const FlavorInfo* f = flavors.registry.Find(type, c.flavor);
  if (f != nullptr) return f;
  std::string kind = type == ComponentType::kOrchestrator    ? "orchestrator"
                     : type == ComponentType::kArtifactStore ? "artifact store"
                                                             : "container registry";
  auto broken = flavors.broken.find(std::string(ComponentTypeName(type)) + "/" + c.flavor);
  if (broken != flavors.broken.end())
    return FailedPrecondition(kind + " '" + c.name + "' uses flavor '" + c.flavor + "', whose plugin does not load: " +
                              broken->second);
  return FailedPrecondition(kind + " '" + c.name + "' uses flavor '" + c.flavor + "', which this baton does not have");
}

}  // namespace

Result<ResolvedStack> ResolveStack(MetadataStore& meta, const Flavors& flavors, const std::string& name) {
  std::string stack_name = name;
  if (stack_name.empty()) {
    BATON_ASSIGN_OR_RETURN(stack_name, ActiveStack(meta));
  }
  ResolvedStack r;
  BATON_ASSIGN_OR_RETURN(r.stack, meta.GetStack(stack_name));
  BATON_ASSIGN_OR_RETURN(r.orchestrator, meta.GetComponent("orchestrator", r.stack.orchestrator));
  BATON_ASSIGN_OR_RETURN(r.artifact_store, meta.GetComponent("artifact_store", r.stack.artifact_store));
  BATON_ASSIGN_OR_RETURN(r.orchestrator_flavor, FlavorOf(flavors, ComponentType::kOrchestrator, r.orchestrator));
  BATON_ASSIGN_OR_RETURN(r.artifact_store_flavor, FlavorOf(flavors, ComponentType::kArtifactStore, r.artifact_store));
  Json orch = Json::parse(r.orchestrator.config.empty() ? "{}" : r.orchestrator.config, nullptr, false);
  if (orch.is_object() && orch.value("container_registry", Json()).is_string()) {
    const std::string name = orch["container_registry"].get<std::string>();
    auto reg = meta.GetComponent("container_registry", name);
    if (!reg.ok())
      return FailedPrecondition("orchestrator '" + r.orchestrator.name + "' names container registry '" + name +
                                "', which does not exist; register it with 'baton container-registry register " + name +
                                " --flavor default --set uri=...'");
    BATON_RETURN_IF_ERROR(FlavorOf(flavors, ComponentType::kContainerRegistry, *reg).status());
    r.container_registry = *reg;
  }
  return r;
}

namespace {

constexpr const char* kDefault = "default";

// "artifact store" for artifact_store, as messages name component types.
std::string KindName(const std::string& type) {
  return type == "artifact_store" ? "artifact store" : type == "container_registry" ? "container registry" : type;
}

// Runs `f` inside one batch of `meta`, so that checks and the writes they allow are one
// transaction; f's error wins over the batch's.
template <typename F>
Status InBatch(MetadataStore& meta, F&& f) {
  BATON_RETURN_IF_ERROR(meta.BeginBatch());
  Status st = f();
  Status ended = meta.EndBatch();
  return st.ok() ? ended : st;
}

}  // namespace

Result<std::string> ActiveStack(MetadataStore& meta) { return meta.GetSetting("active_stack", kDefault); }

Status SetActiveStack(MetadataStore& meta, const std::string& name) {
  return InBatch(meta, [&]() -> Status {
    BATON_RETURN_IF_ERROR(meta.GetStack(name).status());
    return meta.SetSetting("active_stack", name);
  });
}

Status UpdateStack(MetadataStore& meta, const StackRecord& stack) {
  if (stack.name == kDefault) return FailedPrecondition("the default stack cannot be changed; register a new stack");
  return meta.UpdateStack(stack);
}

Status DeleteStack(MetadataStore& meta, const std::string& name) {
  if (name == kDefault) return FailedPrecondition("the default stack cannot be deleted");
  return InBatch(meta, [&]() -> Status {
    BATON_ASSIGN_OR_RETURN(std::string active, ActiveStack(meta));
    if (active == name) return FailedPrecondition("stack '" + name + "' is the active stack; 'baton stack set' another first");
    return meta.DeleteStack(name);
  });
}

Status DeleteComponent(MetadataStore& meta, const std::string& type, const std::string& name) {
  if (name == kDefault) return FailedPrecondition("the default " + KindName(type) + " cannot be deleted");
  return meta.DeleteComponent(type, name);
}

std::vector<Diagnostic> CheckFlavorSettings(const PipelineSpec& spec, const FlavorRegistry& registry) {
  std::vector<Diagnostic> out;
  std::vector<std::string> names;
  for (const auto* f : registry.List(ComponentType::kOrchestrator)) names.push_back(f->name);
  auto check = [&](const Settings& s, const Location& fallback) {
    for (const auto& [flavor, block] : s.orchestrator) {
      auto at = [&](const std::string& key) {
        auto it = s.locs.find(key);
        return it != s.locs.end() ? it->second : fallback;
      };
      const FlavorInfo* f = registry.Find(ComponentType::kOrchestrator, flavor);
      if (f == nullptr) {
        std::string hint = ClosestMatch(flavor, names), list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        out.push_back({at("orchestrator." + flavor), "unknown orchestrator flavor '" + flavor + "'" +
                                                         (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                                                         "; flavors: " + list});
        continue;
      }
      for (auto it = block.begin(); it != block.end(); ++it) {
        std::string problem = CheckConfig(*f, Json{{it.key(), it.value()}}, true);
        if (!problem.empty()) out.push_back({at("orchestrator." + flavor + "." + it.key()), problem});
      }
    }
  };
  check(spec.defaults, {spec.file, 0, 0});
  for (const auto& step : spec.steps) check(step.settings, step.loc);
  return out;
}

Json StepSettingsJson(const PipelineSpec& spec, const StepSpec& step, const FlavorInfo& f,
                      const Json& component) {
  Settings eff = spec.EffectiveSettings(step);
  Resources r = eff.resources();
  RetryPolicy rp = eff.retries();
  Json j = {{"resources", {{"cpu", r.cpu}, {"memory", r.memory}, {"gpu", r.gpu}}},
            {"retries", {{"max", rp.max}, {"delay_us", rp.delay_us}, {"backoff", rp.backoff}}},
            {"timeout_us", eff.timeout_us.value_or(0)},
            {"cache", eff.cache.value_or(true)},
            {"image", eff.image.value_or("")},
            {"env", eff.env}};
  if (!r.pools.empty()) j["resources"]["pools"] = r.pools;
  Json merged = WithDefaults(f, component.is_object() ? component : Json::object());
  auto block = eff.orchestrator.find(f.name);
  if (block != eff.orchestrator.end())
    for (auto it = block->second.begin(); it != block->second.end(); ++it) merged[it.key()] = it.value();
  j["orchestrator"] = merged;
  return j;
}

}  // namespace baton
