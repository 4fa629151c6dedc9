// baton store: which metadata store a workspace records into.
//   store show            the store this workspace uses, and where that choice comes from
//   store set URI|default makes URI (or the workspace's own SQLite file) the workspace's store
//   store migrate FROM TO copies a whole metadata history (every run, step run, artifact record,
//                         lineage, snapshot, component, stack, plugin and setting, ids kept) into
//                         a new store, for instance from a workspace's SQLite file to a team's
//                         PostgreSQL database, or back.
//   store verify          re-hashes every object of the workspace's artifact stores, and
//                         quarantines those whose content no longer matches their digest.

#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "app/verify.h"
#include "app/workspace.h"
#include "cli/cli.h"
#include "platform/fs.h"
#include "store/metadata_rows.h"
#include "store/registry.h"

namespace baton::cli {
namespace {

struct MigrateArgs {
  std::string from, to;
};

// The store `uri` names, as rows; `role` ("source", "target") names it in messages.
Result<std::unique_ptr<MetadataStore>> OpenForRows(const std::string& uri, const StoreUri& parsed,
                                                   const std::string& role) {
  BATON_ASSIGN_OR_RETURN(std::unique_ptr<MetadataStore> store, Stores().OpenMetadataStore(uri));
  if (dynamic_cast<MetadataRows*>(store.get()) == nullptr)
    return InvalidArgument("baton store migrate cannot copy a " + parsed.scheme +
                           ":// store (the " + role + ")");
  return store;
}

int Migrate(const MigrateArgs& a) {
  auto from_uri = StoreUri::Parse(a.from);
  if (!from_uri.ok()) return Fail(from_uri.status());
  auto to_uri = StoreUri::Parse(a.to);
  if (!to_uri.ok()) return Fail(to_uri.status());
  if (a.from == a.to) return Fail(InvalidArgument("FROM and TO are the same store"));
  // Opening a SQLite store creates it: a misspelt source would be copied as an empty history.
  if (from_uri->scheme == "sqlite" && !fs::Exists(from_uri->path))
    return Fail(NotFound("no metadata store at " + from_uri->path));
  auto from = OpenForRows(a.from, *from_uri, "source");
  if (!from.ok()) return Fail(from.status());
  auto to = OpenForRows(a.to, *to_uri, "target");
  if (!to.ok()) return Fail(to.status());
  std::map<std::string, int64_t> copied;
  Status st = CopyMetadataRows(*dynamic_cast<MetadataRows*>(from->get()),
                               *dynamic_cast<MetadataRows*>(to->get()), &copied);
  if (!st.ok()) return Fail(st);
  std::printf(
      "Copied the metadata history of %s to %s: %lld runs, %lld step runs, %lld artifacts, "
      "%lld snapshots of %lld pipelines, %lld components, %lld stacks, %lld plugins, %lld "
      "settings, %lld server users with %lld tokens\n",
      a.from.c_str(), a.to.c_str(), static_cast<long long>(copied["runs"]),
      static_cast<long long>(copied["step_runs"]), static_cast<long long>(copied["artifacts"]),
      static_cast<long long>(copied["snapshots"]), static_cast<long long>(copied["pipelines"]),
      static_cast<long long>(copied["components"]), static_cast<long long>(copied["stacks"]),
      static_cast<long long>(copied["plugins"]), static_cast<long long>(copied["settings"]),
      static_cast<long long>(copied["users"]), static_cast<long long>(copied["tokens"]));
  return 0;
}

// The .baton directory of the workspace at or above the current directory, without opening its
// metadata store (which may be the very thing being changed, or unreachable).
Result<std::string> CurrentWorkspaceDir() {
  BATON_ASSIGN_OR_RETURN(std::string root, FindWorkspace("."));
  return DirFor(root);
}

int Set(const std::string& uri) {
  auto dir = CurrentWorkspaceDir();
  if (!dir.ok()) return Fail(dir.status());
  const std::string target = uri == "default" ? "" : uri;
  if (!target.empty()) {
    auto parsed = StoreUri::Parse(target);
    if (!parsed.ok()) return Fail(parsed.status());
  }
  Status st = SetWorkspaceMetadataStore(*dir, target);
  if (!st.ok()) return Fail(st);
  auto now = WorkspaceMetadataUri(*dir);
  std::printf(
      "This workspace now records into %s\n",
      target.empty() ? ("its own SQLite file " + *dir + "/baton.db").c_str() : target.c_str());
  if (now.ok() && *now != (target.empty() ? SqliteUri(*dir + "/baton.db") : target))
    std::printf("(BATON_METADATA_URI overrides it in this shell: %s)\n", now->c_str());
  return 0;
}

int Show(const std::string& out) {
  auto dir = CurrentWorkspaceDir();
  if (!dir.ok()) return Fail(dir.status());
  auto config = ReadWorkspaceConfig(*dir);
  if (!config.ok()) return Fail(config.status());
  auto uri = WorkspaceMetadataUri(*dir);
  if (!uri.ok()) return Fail(uri.status());
  std::string source = "the workspace's own SQLite file";
  if (*uri != (config->metadata_uri.empty() ? SqliteUri(*dir + "/baton.db") : config->metadata_uri))
    source = "BATON_METADATA_URI";
  else if (!config->metadata_uri.empty())
    source = *dir + "/config.json";
  // Opening checks the store is reachable and its schema current, as a run would.
  auto opened = Stores().OpenMetadataStore(*uri);
  if (out == "json") {
    Json j = {{"uri", *uri}, {"from", source}, {"reachable", opened.ok()}};
    if (!opened.ok()) j["error"] = opened.status().message();
    PrintJson(j);
  } else {
    std::printf("metadata store: %s\nset by:         %s\nreachable:      %s\n", uri->c_str(),
                source.c_str(), opened.ok() ? "yes" : ("no: " + opened.status().message()).c_str());
  }
  return opened.ok() ? 0 : Fail(opened.status());
}

Json VerifyJson(const VerifyReport& report) {
  Json stores = Json::array();
  int64_t damaged = 0;
  for (const VerifyStoreReport& s : report.stores) {
    Json bad = Json::array();
    for (const DamagedObject& d : s.damaged)
      bad.push_back(
          {{"digest", "sha256:" + d.digest}, {"why", d.why}, {"quarantined", d.quarantined}});
    damaged += static_cast<int64_t>(s.damaged.size());
    stores.push_back({{"uri", s.uri},
                      {"objects", s.objects},
                      {"bytes", s.bytes},
                      {"damaged", bad},
                      {"errors", s.errors}});
  }
  return {{"stores", stores}, {"damaged", damaged}, {"clean", report.Clean()}};
}

void PrintVerify(const VerifyReport& report) {
  for (const VerifyStoreReport& s : report.stores) {
    std::printf("%s: %s (%s) checked, %zu damaged\n", s.uri.c_str(),
                Count(static_cast<size_t>(s.objects), "object").c_str(),
                HumanSize(static_cast<int64_t>(s.bytes)).c_str(), s.damaged.size());
    for (const DamagedObject& d : s.damaged)
      std::printf(
          "  damaged sha256:%s: %s%s\n", d.digest.c_str(), d.why.c_str(),
          d.quarantined ? "; taken out of the store (the steps that made it run again)" : "");
    for (const std::string& e : s.errors) std::printf("  not checked: %s\n", e.c_str());
  }
}

// Exit 1 when an object was damaged or could not be checked.
int Verify(const std::string& out) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto report = VerifyArtifactStores(*ws);
  if (!report.ok()) return Fail(report.status());
  if (out == "json")
    PrintJson(VerifyJson(*report));
  else
    PrintVerify(*report);
  return report->Clean() ? 0 : 1;
}

}  // namespace

void AddStoreCommands(CLI::App& app) {
  // Other `store` subcommands may have made the group already.
  CLI::App* grp = nullptr;
  for (CLI::App* sub : app.get_subcommands([](CLI::App* s) { return s->get_name() == "store"; }))
    grp = sub;
  if (grp == nullptr) {
    grp = app.add_subcommand("store",
                             "The metadata store (where runs, artifacts and lineage are recorded), "
                             "and the artifact stores' integrity");
    grp->require_subcommand(1);
  }
  auto uri = std::make_shared<std::string>();
  auto* set = grp->add_subcommand(
      "set", "Record this workspace's runs in another metadata store (a team's PostgreSQL)");
  set->add_option("uri", *uri,
                  "postgresql://USER@HOST:PORT/DB (password from PGPASSWORD or ~/.pgpass), "
                  "sqlite:///PATH, or `default` for the workspace's own SQLite file")
      ->required();
  set->callback([uri] { SetAction([uri] { return Set(*uri); }); });
  auto format = std::make_shared<std::string>("table");
  auto* show = grp->add_subcommand("show", "The metadata store this workspace records into");
  AddOutputOption(show, format.get());
  show->callback([format] { SetAction([format] { return Show(*format); }); });

  auto a = std::make_shared<MigrateArgs>();
  auto* c = grp->add_subcommand("migrate",
                                "Copy a whole metadata history (ids kept) into a new, empty store: "
                                "sqlite:// and postgresql://");
  c->add_option("from", a->from, "URI of the store to copy from")->required();
  c->add_option("to", a->to,
                "URI of the new store to copy into (refused unless it holds nothing yet)")
      ->required();
  c->callback([a] { SetAction([a] { return Migrate(*a); }); });

  auto vformat = std::make_shared<std::string>("table");
  auto* verify = grp->add_subcommand(
      "verify",
      "Re-hash every object of the workspace's artifact stores; quarantine damaged ones (exit 1)");
  AddOutputOption(verify, vformat.get());
  verify->callback([vformat] { SetAction([vformat] { return Verify(*vformat); }); });
}

}  // namespace baton::cli
