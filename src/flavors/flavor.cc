#include "baton/flavor.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "baton/json_text.h"
#include "core/spec.h"
#include "core/spec_parser.h"
#include "platform/env_posix.h"

namespace baton {

const char* ComponentTypeName(ComponentType t) {
  switch (t) {
    case ComponentType::kOrchestrator: return "orchestrator";
    case ComponentType::kArtifactStore: return "artifact_store";
    case ComponentType::kContainerRegistry: return "container_registry";
  }
  return "orchestrator";
}

bool ParseComponentType(const std::string& s, ComponentType* out) {
  if (s == "orchestrator") *out = ComponentType::kOrchestrator;
  else if (s == "artifact_store" || s == "artifact-store") *out = ComponentType::kArtifactStore;
  else if (s == "container_registry" || s == "container-registry") *out = ComponentType::kContainerRegistry;
  else return false;
  return true;
}

const ConfigKey* FlavorInfo::FindKey(const std::string& key) const {
  for (const auto& k : schema)
    if (k.name == key) return &k;
  return nullptr;
}

std::vector<std::string> FlavorInfo::KeyNames(bool per_step_only) const {
  std::vector<std::string> out;
  for (const auto& k : schema)
    if (!per_step_only || !k.component_only) out.push_back(k.name);
  return out;
}

Status FlavorRegistry::Register(FlavorInfo info) {
  if (!IsValidStepName(info.name)) return InvalidArgument("invalid flavor name '" + info.name + "'");
  if (Find(info.type, info.name) != nullptr)
    return AlreadyExists(std::string(ComponentTypeName(info.type)) + " flavor '" + info.name + "' is already registered");
  for (const auto& k : info.schema) {
    static const std::vector<std::string> kTypes = {"string", "int", "float", "bool", "list", "duration", "size", "json"};
    if (std::find(kTypes.begin(), kTypes.end(), k.type) == kTypes.end())
      return InvalidArgument("flavor '" + info.name + "': key '" + k.name + "' has unknown type '" + k.type + "'");
  }
  flavors_.push_back(std::make_unique<FlavorInfo>(std::move(info)));
  return Status::Ok();
}

const FlavorInfo* FlavorRegistry::Find(ComponentType type, const std::string& name) const {
  for (const auto& f : flavors_)
    if (f->type == type && f->name == name) return f.get();
  return nullptr;
}

std::vector<const FlavorInfo*> FlavorRegistry::List(ComponentType type) const {
  std::vector<const FlavorInfo*> out;
  for (const auto& f : flavors_)
    if (f->type == type) out.push_back(f.get());
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->name < b->name; });
  return out;
}

std::vector<const FlavorInfo*> FlavorRegistry::All() const {
  auto out = List(ComponentType::kOrchestrator);
  for (auto* f : List(ComponentType::kArtifactStore)) out.push_back(f);
  for (auto* f : List(ComponentType::kContainerRegistry)) out.push_back(f);
  return out;
}

bool IsEnvReference(const std::string& s) {
  if (s.size() < 9 || s.rfind("{{env.", 0) != 0 || s.compare(s.size() - 2, 2, "}}") != 0) return false;
  std::string name = s.substr(6, s.size() - 8);
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

namespace {

std::string ValidKeys(const FlavorInfo& f, bool per_step) {
  std::string list;
  for (const auto& k : f.KeyNames(per_step)) list += (list.empty() ? "" : ", ") + k;
  return list.empty() ? "it has no settings" : "valid keys: " + list;
}

std::string FlavorLabel(const FlavorInfo& f) {
  const char* kind = f.type == ComponentType::kOrchestrator    ? "orchestrator"
                     : f.type == ComponentType::kArtifactStore ? "artifact store"
                                                               : "container registry";
  return std::string(kind) + " flavor '" + f.name + "'";
}

// Converts the text of a --set value to the key's type.
Result<Json> ConvertValue(const FlavorInfo& f, const ConfigKey& k, const std::string& v) {
  auto bad = [&](const std::string& what) {
    return InvalidArgument(FlavorLabel(f) + ": '" + k.name + "' must be " + what + ", not '" + v + "'");
  };
  if (k.secret || IsEnvReference(v)) {
    if (!IsEnvReference(v))
      return InvalidArgument(FlavorLabel(f) + ": '" + k.name +
                             "' is a secret; give it as a reference to an environment variable, "
                             "for example " + k.name + "={{env.MY_SECRET}}, so that it is never stored");
    return Json(v);
  }
  const char* b = v.data();
  const char* e = b + v.size();
  if (k.type == "int") {
    int64_t i;
    auto [p, ec] = std::from_chars(b, e, i);
    if (ec != std::errc() || p != e) return bad("an integer");
    return Json(i);
  }
  if (k.type == "float") {
    double d;
    auto [p, ec] = std::from_chars(b, e, d);
    if (ec != std::errc() || p != e || !std::isfinite(d)) return bad("a number");
    return Json(d);
  }
  if (k.type == "duration") {
    int64_t us;
    if (!ParseDuration(v, &us)) return bad("a duration such as 10s, 500ms or 2m");
    return Json(v);
  }
  if (k.type == "size") {
    int64_t bytes;
    if (!ParseMemory(v, &bytes)) return bad("a size such as 100Mi, 512Ki or 1Gi");
    return Json(v);
  }
  if (k.type == "bool") {
    if (v == "true" || v == "1" || v == "yes") return Json(true);
    if (v == "false" || v == "0" || v == "no") return Json(false);
    return bad("true or false");
  }
  if (k.type == "json") {
    Json j = Json::parse(v, nullptr, false);
    if (j.is_discarded() || !(j.is_object() || j.is_array())) return bad("a JSON object or list, such as {\"disk\": \"ssd\"}");
    return j;
  }
  if (k.type == "list") {
    Json list = Json::array();
    size_t at = 0;
    while (at <= v.size() && !v.empty()) {
      size_t comma = v.find(',', at);
      if (comma == std::string::npos) comma = v.size();
      list.push_back(v.substr(at, comma - at));
      at = comma + 1;
    }
    return list;
  }
  return Json(v);
}

bool TypeMatches(const ConfigKey& k, const Json& v) {
  if (v.is_string() && IsEnvReference(v.get<std::string>())) return true;
  if (k.secret) return false;
  if (k.type == "int") return v.is_number_integer();
  if (k.type == "float") return v.is_number();
  if (k.type == "bool") return v.is_boolean();
  if (k.type == "duration") {
    int64_t us;
    return v.is_string() && ParseDuration(v.get<std::string>(), &us);
  }
  if (k.type == "size") {
    int64_t bytes;
    return v.is_string() && ParseMemory(v.get<std::string>(), &bytes);
  }
  if (k.type == "json") return v.is_object() || v.is_array();
  if (k.type == "list") {
    if (!v.is_array()) return false;
    for (const auto& e : v)
      if (!e.is_string()) return false;
    return true;
  }
  return v.is_string();
}

}  // namespace

std::string CheckConfig(const FlavorInfo& f, const Json& config, bool per_step) {
  if (!config.is_object()) return FlavorLabel(f) + ": the config must be a mapping";
  for (auto it = config.begin(); it != config.end(); ++it) {
    const ConfigKey* k = f.FindKey(it.key());
    if (k == nullptr || (per_step && k->component_only)) {
      std::string hint = ClosestMatch(it.key(), f.KeyNames(per_step));
      if (k != nullptr)
        return FlavorLabel(f) + ": '" + it.key() + "' can only be set on the component, not per step or run";
      return FlavorLabel(f) + " has no key '" + it.key() + "'" +
             (hint.empty() ? "" : " (did you mean '" + hint + "'?)") + "; " + ValidKeys(f, per_step);
    }
    if (k->secret && !(it.value().is_string() && IsEnvReference(it.value().get<std::string>())))
      return FlavorLabel(f) + ": '" + k->name + "' is a secret; give it as {{env.NAME}}";
    if (!TypeMatches(*k, it.value()))
      return FlavorLabel(f) + ": '" + k->name + "' must be of type " + k->type + ", not " + DumpJson(it.value());
    bool reference = it.value().is_string() && IsEnvReference(it.value().get<std::string>());
    if (k->check && !reference) {
      std::string why = k->check(it.value());
      if (!why.empty()) return FlavorLabel(f) + ": '" + k->name + "' " + why + ", not " + DumpJson(it.value());
    }
  }
  return "";
}

Result<Json> BuildConfig(const FlavorInfo& f, const std::vector<std::string>& assignments, const Json& base) {
  Json config = base.is_object() ? base : Json::object();
  for (const auto& a : assignments) {
    auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0) return InvalidArgument("'" + a + "' is not KEY=VALUE");
    std::string key = a.substr(0, eq), value = a.substr(eq + 1);
    const ConfigKey* k = f.FindKey(key);
    if (k == nullptr) {
      std::string hint = ClosestMatch(key, f.KeyNames(false));
      return InvalidArgument(FlavorLabel(f) + " has no key '" + key + "'" +
                             (hint.empty() ? "" : " (did you mean '" + hint + "'?)") + "; " + ValidKeys(f, false));
    }
    BATON_ASSIGN_OR_RETURN(Json v, ConvertValue(f, *k, value));
    config[key] = v;
  }
  std::string problem = CheckConfig(f, config, false);
  if (!problem.empty()) return InvalidArgument(problem);
  for (const auto& k : f.schema)
    if (k.required && !config.contains(k.name))
      return InvalidArgument(FlavorLabel(f) + " needs '" + k.name + "' (" + k.help + "); add --set " + k.name + "=...");
  return config;
}

Json WithDefaults(const FlavorInfo& f, const Json& config) {
  Json out = config.is_object() ? config : Json::object();
  for (const auto& k : f.schema)
    if (!out.contains(k.name) && !k.default_value.is_null()) out[k.name] = k.default_value;
  return out;
}

Result<Json> ResolveSecrets(const Json& config) {
  if (config.is_string()) {
    const std::string s = config.get<std::string>();
    if (!IsEnvReference(s)) return config;
    std::string name = s.substr(6, s.size() - 8);
    std::optional<std::string> v = PosixEnv()->GetEnv(name);
    if (!v) return InvalidArgument("the environment variable " + name + " (referenced as " + s + ") is not set");
    return Json(*v);
  }
  if (config.is_object() || config.is_array()) {
    Json out = config;
    for (auto it = out.begin(); it != out.end(); ++it) {
      BATON_ASSIGN_OR_RETURN(Json v, ResolveSecrets(it.value()));
      it.value() = v;
    }
    return out;
  }
  return config;
}

}  // namespace baton
