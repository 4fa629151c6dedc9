// Loading orchestrator flavors from shared libraries (the C ABI of baton/plugin.h).


#include <cstddef>
#include <cstring>
#include <mutex>

#include "baton/json_text.h"
#include "baton/plugin.h"
#include "core/spec.h"
#include "platform/fs.h"
#include "baton/flavor.h"
#include "flavors/builtin.h"
#include "platform/dynlib.h"

namespace baton {
namespace {

// Keeps the library loaded for as long as any flavor or orchestrator made from it lives.
struct Library {
  void* handle = nullptr;
  const baton_plugin_v1* desc = nullptr;
  ~Library() {
    CloseLibrary(handle);
  }
};

class PluginOrchestrator : public Orchestrator {
 public:
  PluginOrchestrator(std::shared_ptr<Library> lib, void* self) : lib_(std::move(lib)), self_(self) {}
  ~PluginOrchestrator() override { lib_->desc->destroy(self_); }

  Status Compile(const SubmitRequest& req, const std::string& out_dir) override {
    char err[4096] = {0};
    std::string body = DumpJson(req.ToJson());
    if (lib_->desc->compile(self_, body.c_str(), out_dir.c_str(), err, sizeof err) != 0) return Failed("compile", err);
    return Status::Ok();
  }
  Status Submit(const SubmitRequest& req) override {
    char err[4096] = {0};
    std::string body = DumpJson(req.ToJson());
    if (lib_->desc->submit(self_, body.c_str(), err, sizeof err) != 0) return Failed("submit", err);
    return Status::Ok();
  }
  Status Stop(const std::string& run_id) override {
    char err[4096] = {0};
    if (lib_->desc->stop(self_, run_id.c_str(), err, sizeof err) != 0) return Failed("stop", err);
    return Status::Ok();
  }
  RunState State(const std::string& run_id) override {
    if (lib_->desc->state == nullptr) return {};
    char buf[4096] = {0};
    if (lib_->desc->state(self_, run_id.c_str(), buf, sizeof buf) != 0) return {};
    buf[sizeof buf - 1] = 0;
    Json j = Json::parse(buf, nullptr, false);
    RunStatus status;
    if (!j.is_object() || !j["status"].is_string() || !ParseRunStatus(j["status"].get<std::string>(), &status)) return {};
    return {status, j.value("reason", std::string())};
  }
  Result<std::string> Cleanup(const std::string& run_id) override {
    const baton_plugin_v1* d = lib_->desc;
    if (d->struct_size < offsetof(baton_plugin_v1, cleanup) + sizeof d->cleanup || d->cleanup == nullptr)
      return std::string();
    char note[1024] = {0}, err[4096] = {0};
    if (d->cleanup(self_, run_id.c_str(), note, sizeof note, err, sizeof err) != 0) return Failed("clean up", err);
    note[sizeof note - 1] = 0;
    return std::string(note);
  }
  bool SupportsSchedules() const override { return lib_->desc->supports_schedules != 0; }

 private:
  Status Failed(const char* what, char* err) {
    err[4095] = 0;
    return Internal(std::string("orchestrator '") + lib_->desc->flavor + "' failed to " + what + ": " +
                    (err[0] ? err : "no reason given"));
  }
  std::shared_ptr<Library> lib_;
  void* self_;
};

Result<std::vector<ConfigKey>> ParseSchema(const std::string& flavor, const char* text) {
  std::vector<ConfigKey> out;
  if (text == nullptr || !*text) return out;
  Json j = Json::parse(text, nullptr, false);
  if (!j.is_array()) return InvalidArgument("its config_schema is not a JSON array");
  for (const auto& e : j) {
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string())
      return InvalidArgument("its config_schema has an entry without a string 'name': " + DumpJson(e));
    ConfigKey k;
    k.name = e["name"];
    k.type = e.value("type", std::string("string"));
    k.required = e.value("required", false);
    k.default_value = e.value("default", Json());
    k.help = e.value("help", std::string());
    k.secret = e.value("secret", false);
    k.component_only = e.value("component_only", false);
    out.push_back(std::move(k));
  }
  return out;
}

}  // namespace

Result<FlavorInfo> LoadPlugin(const std::string& path) {
  auto bad = [&](const std::string& why) { return InvalidArgument("cannot use " + path + " as a baton plugin: " + why); };
  if (!fs::Exists(path)) return bad("no such file");
  auto lib = std::make_shared<Library>();
  // RTLD_LOCAL keeps the plugin's symbols to itself; RTLD_NOW reports missing symbols here.
  std::string error;
  lib->handle = OpenLibrary(path, &error);
  if (lib->handle == nullptr) return bad("it does not load: " + error);
  auto entry = reinterpret_cast<baton_plugin_entry_fn>(LibrarySymbol(lib->handle, "baton_plugin_entry"));
  if (entry == nullptr) return bad("it exports no 'baton_plugin_entry' function (see baton/plugin.h)");
  const baton_plugin_v1* d = entry(BATON_PLUGIN_ABI_VERSION);
  if (d == nullptr) return bad("it declines plugin ABI version " + std::to_string(BATON_PLUGIN_ABI_VERSION));
  if (d->abi_version != BATON_PLUGIN_ABI_VERSION)
    return bad("it was built for plugin ABI version " + std::to_string(d->abi_version) + "; this baton speaks version " +
               std::to_string(BATON_PLUGIN_ABI_VERSION) + ". Rebuild it against this baton's baton/plugin.h");
  // The members every version-1 plugin has; later ones are used only when struct_size covers them.
  constexpr size_t kMinimumSize = offsetof(baton_plugin_v1, supports_schedules) + sizeof(int);
  if (d->struct_size < kMinimumSize)
    return bad("its descriptor is " + std::to_string(d->struct_size) + " bytes, smaller than version " +
               std::to_string(BATON_PLUGIN_ABI_VERSION) + "'s " + std::to_string(kMinimumSize));
  if (d->type == nullptr || std::strcmp(d->type, "orchestrator") != 0)
    return bad(std::string("its type is '") + (d->type ? d->type : "(null)") + "'; only orchestrator plugins exist");
  if (d->flavor == nullptr || !IsValidStepName(d->flavor))
    return bad(std::string("its flavor name '") + (d->flavor ? d->flavor : "(null)") + "' is not valid ([A-Za-z0-9_-]{1,63})");
  if (!d->create || !d->destroy || !d->compile || !d->submit || !d->stop)
    return bad("its descriptor lacks one of create, destroy, compile, submit, stop");
  lib->desc = d;

  FlavorInfo info;
  info.type = ComponentType::kOrchestrator;
  info.name = d->flavor;
  info.maturity = d->maturity ? d->maturity : "experimental";
  info.summary = d->summary ? d->summary : "";
  info.source = path;
  auto schema = ParseSchema(info.name, d->config_schema);
  if (!schema.ok()) return bad(schema.status().message());
  info.schema = *schema;
  info.make_orchestrator = [lib](const Json& config) -> Result<std::unique_ptr<Orchestrator>> {
    char err[4096] = {0};
    std::string body = DumpJson(config);
    void* self = lib->desc->create(body.c_str(), err, sizeof err);
    if (self == nullptr) {
      err[sizeof err - 1] = 0;
      return InvalidArgument(std::string("orchestrator '") + lib->desc->flavor + "' refused its config: " +
                             (err[0] ? err : "no reason given"));
    }
    return std::unique_ptr<Orchestrator>(new PluginOrchestrator(lib, self));
  };
  return info;
}

}  // namespace baton
