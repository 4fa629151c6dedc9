#pragma once
// Flavors: the implementations a stack component can be an instance of. A FlavorRegistry holds
// one factory per (component type, flavor name), each with a config schema. Registration is
// explicit (the list in src/flavors/builtin.cc, plugins loaded by LoadPlugin), never through
// static initializers.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/orchestrator.h"
#include "baton/status.h"

namespace baton {

using Json = nlohmann::json;

enum class ComponentType { kOrchestrator, kArtifactStore, kContainerRegistry };
// "orchestrator", "artifact_store", "container_registry"
const char* ComponentTypeName(ComponentType t);
// Also "artifact-store" and "container-registry".
bool ParseComponentType(const std::string& s, ComponentType* out);

// One key of a flavor's config.
struct ConfigKey {
  std::string name;
  std::string type = "string";  // string | int | float | bool | list | duration ("10s", "500ms") | size ("100Mi")
                                // | json (an object or list, e.g. Kubernetes tolerations)
  bool required = false;
  Json default_value;           // null when none
  std::string help;
  bool secret = false;          // must be given as {{env.NAME}}; never stored in clear text
  bool component_only = false;  // set on the component only, not in per-step settings
  // Further checks of a value of the right type: "" when fine, else why not.
  std::function<std::string(const Json&)> check;
};

struct FlavorInfo {
  ComponentType type = ComponentType::kOrchestrator;
  std::string name;
  std::string maturity = "stable";
  std::string summary;
  std::vector<ConfigKey> schema;
  std::string source = "built-in";  // or the shared library it came from
  // Orchestrators only. The local flavor is baton's own executor, run in-process.
  bool in_process = false;
  // Orchestrators only: schedules on its stacks are kept and fired by the backend
  // (Orchestrator::ApplySchedule), not by a baton server.
  bool backend_schedules = false;
  std::function<Result<std::unique_ptr<Orchestrator>>(const Json& config)> make_orchestrator;
  // Artifact stores only: the store URI (baton/stores.h) a component of this flavor names, given
  // its config (defaults filled in, secrets still {{env.NAME}} references: a URI is recorded, so
  // it may name a variable but never hold a secret) and the workspace's root directory (for
  // relative paths); "" for the workspace's own store.
  std::function<Result<std::string>(const Json& config, const std::string& workspace_root)> store_uri;

  const ConfigKey* FindKey(const std::string& key) const;
  std::vector<std::string> KeyNames(bool per_step_only) const;
};

class FlavorRegistry {
 public:
  // Fails (AlreadyExists) if the type already has a flavor of that name.
  Status Register(FlavorInfo info);
  const FlavorInfo* Find(ComponentType type, const std::string& name) const;
  std::vector<const FlavorInfo*> List(ComponentType type) const;
  std::vector<const FlavorInfo*> All() const;

 private:
  std::vector<std::unique_ptr<FlavorInfo>> flavors_;
};

// Builds a component config from "key=value" assignments over `base` (for update), converting
// each value to its key's type. Unknown keys, bad values, literal secrets and missing required
// keys are InvalidArgument errors naming the flavor's valid keys.
Result<Json> BuildConfig(const FlavorInfo& flavor, const std::vector<std::string>& assignments, const Json& base);
// Checks a JSON config (or a per-step `orchestrator.FLAVOR` block when per_step) against the
// schema. Returns "" when valid, else the problem.
std::string CheckConfig(const FlavorInfo& flavor, const Json& config, bool per_step);
// The config with schema defaults filled in for absent keys.
Json WithDefaults(const FlavorInfo& flavor, const Json& config);
// Replaces {{env.NAME}} references in string values with the environment's values.
Result<Json> ResolveSecrets(const Json& config);
// Whether `s` is exactly one {{env.NAME}} reference.
bool IsEnvReference(const std::string& s);

}  // namespace baton
