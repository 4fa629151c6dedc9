// baton runs delete|tag|note and artifacts gc: what keeps a workspace from only growing.

#include <algorithm>
#include <set>

#include "app/gc.h"
#include "cli/cli.h"
#include "platform/fs.h"

namespace baton::cli {
namespace {

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

struct DeleteArgs {
  std::vector<std::string> runs, statuses, tags;
  std::string pipeline, older_than;
  bool dry_run = false;
};

bool HasTags(const RunRecord& r, const std::vector<std::string>& tags) {
  return std::all_of(tags.begin(), tags.end(), [&](const std::string& t) {
    return std::find(r.tags.begin(), r.tags.end(), t) != r.tags.end();
  });
}

// The runs a filter selects, newest first: a run that reuses another's artifacts is newer than
// it, so deleting in this order frees the older one in the same pass.
Result<std::vector<RunRecord>> Select(Workspace& ws, const DeleteArgs& a) {
  std::vector<RunStatus> statuses;
  for (const std::string& name : a.statuses) {
    RunStatus s;
    if (!ParseRunStatus(name, &s))
      return InvalidArgument("--status " + name + ": not a run status");
    statuses.push_back(s);
  }
  int64_t before = 0;
  if (!a.older_than.empty()) {
    int64_t age = 0;
    if (!ParseDuration(a.older_than, &age))
      return InvalidArgument("--older-than " + a.older_than + ": give a duration (30m, 12h, 7d)");
    before = NowMicros() - age;
  }
  BATON_ASSIGN_OR_RETURN(auto all, ws.meta->ListRuns(a.pipeline, 0));
  std::vector<RunRecord> out;
  for (RunRecord& r : all) {
    if (before && r.created_at >= before) continue;
    if (!statuses.empty() &&
        std::find(statuses.begin(), statuses.end(), r.status) == statuses.end())
      continue;
    if (!HasTags(r, a.tags)) continue;
    out.push_back(std::move(r));
  }
  return out;
}

int Delete(const DeleteArgs& a) {
  const bool filtered =
      !a.statuses.empty() || !a.tags.empty() || !a.pipeline.empty() || !a.older_than.empty();
  if (a.runs.empty() && !filtered)
    return Fail(InvalidArgument(
        "give the runs to delete, or a filter (--older-than, --status, --pipeline, --tag)"));
  if (!a.runs.empty() && filtered)
    return Fail(InvalidArgument("give either runs or filters, not both"));
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  std::vector<RunRecord> runs;
  if (a.runs.empty()) {
    auto selected = Select(*ws, a);
    if (!selected.ok()) return Fail(selected.status());
    runs = std::move(*selected);
  } else {
    for (const std::string& id : a.runs) {  // all named runs must exist before any goes
      auto r = ws->meta->GetRun(id);
      if (!r.ok()) return Fail(r.status());
      runs.push_back(std::move(*r));
    }
    // Newest first, as a filter selects them.
    std::stable_sort(runs.begin(), runs.end(), [](const RunRecord& x, const RunRecord& y) {
      return x.created_at > y.created_at;
    });
    runs.erase(std::unique(runs.begin(), runs.end(),
                           [](const RunRecord& x, const RunRecord& y) { return x.id == y.id; }),
               runs.end());
  }
  int deleted = 0, kept = 0;
  std::set<std::string> gone;  // deleted (or, in a dry run, would be)
  const char* verb = a.dry_run ? "would delete" : "deleted";
  for (const RunRecord& r : runs) {
    Status st;
    if (r.status == RunStatus::kRunning || r.status == RunStatus::kPending) {
      st = FailedPrecondition("run " + r.id + " is " + ToString(r.status) + "; stop it first");
    } else {
      // Runs deleted before this one in the pass no longer hold it.
      auto users = ws->meta->RunUsers(r.id);
      if (!users.ok()) return Fail(users.status());
      std::vector<std::string> left;
      for (const auto& u : *users)
        if (!gone.count(u)) left.push_back(u);
      if (!left.empty())
        st = FailedPrecondition("run " + r.id + " produced artifacts that " +
                                (left.size() > 1 ? "runs " : "run ") + JoinNames(left) +
                                " read or reuse; delete " +
                                (left.size() > 1 ? "those" : "that run") + " first");
      else if (!a.dry_run)
        st = ws->meta->DeleteRun(r.id);
    }
    if (!st.ok()) {
      // A named run that cannot go is an error; a filter leaves it and says why.
      if (!filtered || st.code() != Code::kFailedPrecondition) {
        if (deleted) std::printf("%s %s\n", verb, Count(deleted, "run").c_str());
        return Fail(st);
      }
      std::printf("kept %s: %s\n", r.id.c_str(), st.message().c_str());
      ++kept;
      continue;
    }
    if (!a.dry_run) (void)fs::RemoveTree(ws->LogsDir(r.id));
    gone.insert(r.id);
    std::printf("%s %s  %s  %s\n", verb, r.id.c_str(), ToString(r.status),
                Ago(r.created_at).c_str());
    ++deleted;
  }
  std::printf("%s %s%s; %s\n", verb, Count(deleted, "run").c_str(),
              kept ? (", kept " + std::to_string(kept)).c_str() : "",
              a.dry_run || deleted == 0
                  ? "artifact contents stay until 'baton artifacts gc'"
                  : "'baton artifacts gc' frees the contents no run uses now");
  return 0;
}

struct TagArgs {
  std::string run;
  std::vector<std::string> add, remove;
};

int Tag(const TagArgs& a) {
  for (const auto& t : a.add)
    if (Status st = CheckTag(t); !st.ok()) return Fail(st);
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto run = ws->meta->GetRun(a.run);
  if (!run.ok()) return Fail(run.status());
  std::set<std::string> tags(run->tags.begin(), run->tags.end());
  for (const auto& t : a.remove) {
    if (!tags.erase(t))
      return Fail(
          NotFound("run " + run->id + " has no tag '" + t + "'" + DidYouMean(t, run->tags)));
  }
  tags.insert(a.add.begin(), a.add.end());
  std::vector<std::string> list(tags.begin(), tags.end());
  if (Status st = ws->meta->SetRunLabels(run->id, list, run->note); !st.ok()) return Fail(st);
  std::string shown;
  for (const auto& t : list) shown += (shown.empty() ? "" : " ") + t;
  std::printf("run %s tags: %s\n", run->id.c_str(), shown.empty() ? "(none)" : shown.c_str());
  return 0;
}

struct NoteArgs {
  std::string run, text;
  bool clear = false;
};

int Note(const NoteArgs& a) {
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto run = ws->meta->GetRun(a.run);
  if (!run.ok()) return Fail(run.status());
  if (!a.clear && a.text.empty()) {  // show it
    std::printf("%s\n", run->note.c_str());
    return 0;
  }
  if (Status st = ws->meta->SetRunLabels(run->id, run->tags, a.clear ? "" : a.text); !st.ok())
    return Fail(st);
  std::printf("run %s note %s\n", run->id.c_str(), a.clear ? "cleared" : "saved");
  return 0;
}

struct GcArgs {
  bool dry_run = false;
  std::string min_age = "0s", output = "table";
};

int Gc(const GcArgs& a) {
  GcOptions opts;
  opts.dry_run = a.dry_run;
  if (!ParseDuration(a.min_age, &opts.min_age))
    return Fail(InvalidArgument("--min-age " + a.min_age + ": give a duration (0s, 30m, 7d)"));
  auto ws = OpenCurrentWorkspace();
  if (!ws.ok()) return Fail(ws.status());
  auto report = CollectGarbage(*ws, opts);
  if (!report.ok()) return Fail(report.status());
  size_t errors = 0;
  for (const auto& s : report->stores) errors += s.errors.size();
  if (a.output == "json") {
    Json j = {{"dry_run", a.dry_run},
              {"cutoff", FormatTimestamp(report->cutoff)},
              {"in_progress", report->in_progress},
              {"stores", Json::array()}};
    for (const auto& s : report->stores) {
      Json removed = Json::array();
      for (const auto& [digest, bytes] : s.removed)
        removed.push_back({{"digest", "sha256:" + digest}, {"bytes", bytes}});
      j["stores"].push_back({{"uri", s.uri},
                             {"objects", s.objects},
                             {"referenced", s.referenced},
                             {"recent", s.recent},
                             {"removed", removed},
                             {"removed_bytes", s.removed_bytes},
                             {"errors", s.errors}});
    }
    PrintJson(j);
    return errors ? 1 : 0;
  }
  const char* verb = a.dry_run ? "would remove" : "removed";
  for (const auto& run : report->in_progress)
    std::printf("run %s is in progress: objects stored since %s stay\n", run.c_str(),
                FormatTimestamp(report->cutoff).c_str());
  for (const auto& s : report->stores) {
    for (const auto& [digest, bytes] : s.removed)
      std::printf("%s sha256:%s  %s\n", verb, digest.substr(0, 16).c_str(),
                  HumanSize(static_cast<int64_t>(bytes)).c_str());
    for (const auto& e : s.errors)
      std::fprintf(stderr, "baton: error: cannot remove %s\n", e.c_str());
    std::printf("%s: %s %s (%s); kept %lld in use, %lld recent\n", s.uri.c_str(), verb,
                Count(s.removed.size(), "object").c_str(),
                HumanSize(static_cast<int64_t>(s.removed_bytes)).c_str(),
                static_cast<long long>(s.referenced), static_cast<long long>(s.recent));
  }
  return errors ? 1 : 0;
}

}  // namespace

Status CheckTag(const std::string& tag) {
  const bool ok =
      !tag.empty() && tag.size() <= 64 && std::all_of(tag.begin(), tag.end(), [](unsigned char c) {
        return std::isalnum(c) ||
               std::string_view("._-:/=+").find(static_cast<char>(c)) != std::string_view::npos;
      });
  if (ok) return Status::Ok();
  return InvalidArgument("tag '" + tag +
                         "': use 1 to 64 letters, digits and . _ - : / = + (no spaces)");
}

void AddRunsDeleteCommands(CLI::App* runs) {
  auto da = std::make_shared<DeleteArgs>();
  auto* del = runs->add_subcommand(
      "delete",
      "Delete runs with their step runs, logs and artifact records (contents: artifacts gc)");
  del->add_option("runs", da->runs, "Run ids, unique prefixes, or 'last'");
  del->add_option("--older-than", da->older_than, "Runs created longer ago than this: 30d, 12h");
  del->add_option("--status", da->statuses, "Runs in this state (repeat or comma-separate)")
      ->delimiter(',');
  del->add_option("--pipeline", da->pipeline, "Runs of this pipeline");
  del->add_option("--tag", da->tags, "Runs with this tag (repeat: all of them)");
  del->add_flag("--dry-run", da->dry_run, "Say what would be deleted, delete nothing");
  del->callback([da] { SetAction([da] { return Delete(*da); }); });

  auto ta = std::make_shared<TagArgs>();
  auto* tag = runs->add_subcommand("tag", "Add tags to a run (or remove them with --remove)");
  tag->add_option("run", ta->run, "Run id, a unique prefix of it, or 'last'")->required();
  tag->add_option("tags", ta->add, "Tags to add");
  tag->add_option("--remove", ta->remove, "A tag to remove (repeatable)");
  tag->callback([ta] { SetAction([ta] { return Tag(*ta); }); });

  auto na = std::make_shared<NoteArgs>();
  auto* note = runs->add_subcommand("note", "Show, set or clear a run's note");
  note->add_option("run", na->run, "Run id, a unique prefix of it, or 'last'")->required();
  note->add_option("text", na->text, "The note (replaces the one there); none: print it");
  note->add_flag("--clear", na->clear, "Remove the note");
  note->callback([na] { SetAction([na] { return Note(*na); }); });
}

void AddArtifactsGcCommand(CLI::App* artifacts) {
  auto ga = std::make_shared<GcArgs>();
  auto* gc = artifacts->add_subcommand(
      "gc",
      "Remove artifact contents no recorded run uses, in every artifact store of the workspace");
  gc->add_flag("--dry-run", ga->dry_run, "Say what would be removed, remove nothing");
  gc->add_option("--min-age", ga->min_age,
                 "Keep objects stored less than this long ago (default 0s)");
  AddOutputOption(gc, &ga->output);
  gc->callback([ga] { SetAction([ga] { return Gc(*ga); }); });
}

}  // namespace baton::cli
