#pragma once
// Stacks as a run uses them: the flavors this workspace knows (built in and plugins), the stack a
// run selects, and the checks of flavor-specific settings against the active flavor's schema.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/spec.h"
#include "baton/flavor.h"
#include "baton/metadata_store.h"

namespace baton {

// The built-in flavors plus every plugin registered in the store. A plugin that no longer loads
// is left out and its error kept in `broken` (reported when something needs it).
struct Flavors {
  FlavorRegistry registry;
  std::map<std::string, std::string> broken;  // "type/flavor" -> why
};
Result<std::unique_ptr<Flavors>> LoadFlavors(MetadataStore& meta);

struct ResolvedStack {
  StackRecord stack;
  ComponentRecord orchestrator;
  ComponentRecord artifact_store;
  const FlavorInfo* orchestrator_flavor = nullptr;
  const FlavorInfo* artifact_store_flavor = nullptr;
  // The container registry the orchestrator's `container_registry` key names, if any.
  std::optional<ComponentRecord> container_registry;

  // What a snapshot records of the stack: names, flavors and configs (secrets as references).
  Json ToJson() const;
};
// The stack `name`, or the workspace's active stack when name is "".
Result<ResolvedStack> ResolveStack(MetadataStore& meta, const Flavors& flavors, const std::string& name);

// Changes to stacks and components under the rules of a workspace, above the store's integrity
// checks (a stack's components exist; a component a stack uses stays): the `default` stack and
// the `default` components are what a new workspace runs on and stay as they are, and the active
// stack cannot be deleted. A broken rule is FailedPrecondition; the store's errors pass through.

// The name of the active stack (the `active_stack` setting; `default` when unset).
Result<std::string> ActiveStack(MetadataStore& meta);
// Makes an existing stack the active one.
Status SetActiveStack(MetadataStore& meta, const std::string& name);
// Changes the components of a stack other than the default one.
Status UpdateStack(MetadataStore& meta, const StackRecord& stack);
// Deletes a stack that is neither the default nor the active one.
Status DeleteStack(MetadataStore& meta, const std::string& name);
// Deletes a component other than a default one (`type` as stored: orchestrator, artifact_store,
// container_registry).
Status DeleteComponent(MetadataStore& meta, const std::string& type, const std::string& name);

// Checks every `orchestrator.FLAVOR` settings block of the pipeline (after any run config)
// against the flavors' schemas: unknown flavors and keys are errors at their file:line:column.
std::vector<Diagnostic> CheckFlavorSettings(const PipelineSpec& spec, const FlavorRegistry& registry);

// The merged settings of a step for an orchestrator, as StepJob::settings: the generic keys and
// "orchestrator": flavor defaults < component config < the step's `orchestrator.FLAVOR` block.
Json StepSettingsJson(const PipelineSpec& spec, const StepSpec& step, const FlavorInfo& flavor,
                      const Json& component_config);

}  // namespace baton
