#include "store/metadata_rows.h"

namespace baton {

const std::vector<Table>& MetadataTables() {
  constexpr ColumnType I = ColumnType::kInteger;
  constexpr ColumnType T = ColumnType::kText;
  static const std::vector<Table> tables = {
      {"pipelines", {{"id", I}, {"name", T}, {"created_at", I}}, "id"},
      {"snapshots", {{"hash", T}, {"pipeline_id", I}, {"body", T}, {"created_at", I}}, "hash"},
      {"runs",
       {{"id", T},
        {"pipeline_id", I},
        {"snapshot_hash", T},
        {"status", T},
        {"reason", T},
        {"created_at", I},
        {"started_at", I},
        {"ended_at", I},
        {"stack", T},
        {"orchestrator", T},
        {"host", T},
        {"pid", I},
        {"pid_start", I},
        {"attempt", I},
        {"parameters", T},
        {"pipeline_file", T},
        {"tags", T},
        {"note", T},
        {"use_cache", I},
        {"schedule", T}},
       nullptr},
      {"step_runs",
       {{"id", I},
        {"run_id", T},
        {"step", T},
        {"attempt", I},
        {"status", T},
        {"reason", T},
        {"started_at", I},
        {"ended_at", I},
        {"exit_code", I},
        {"log_path", T},
        {"cache_key", T},
        {"cached_from", I},
        {"metadata", T},
        {"pid", I},
        {"command", T},
        {"cache_components", T}},
       "id"},
      {"artifacts",
       {{"id", I},
        {"step_run_id", I},
        {"run_id", T},
        {"pipeline", T},
        {"step", T},
        {"name", T},
        {"version", I},
        {"digest", T},
        {"size", I},
        {"kind", T},
        {"uri", T},
        {"created_at", I},
        {"materializer", T},
        {"type", T}},
       "id"},
      {"step_outputs", {{"step_run_id", I}, {"name", T}, {"artifact_id", I}}, "step_run_id, name"},
      {"step_inputs", {{"step_run_id", I}, {"name", T}, {"artifact_id", I}}, "step_run_id, name"},
      {"components",
       {{"type", T},
        {"name", T},
        {"flavor", T},
        {"config", T},
        {"created_at", I},
        {"updated_at", I}},
       "type, name"},
      {"stacks",
       {{"name", T},
        {"orchestrator", T},
        {"artifact_store", T},
        {"created_at", I},
        {"updated_at", I}},
       "name"},
      {"plugins",
       {{"type", T}, {"flavor", T}, {"path", T}, {"digest", T}, {"registered_at", I}},
       "type, flavor"},
      {"settings", {{"key", T}, {"value", T}}, "key"},
      {"users", {{"name", T}, {"kind", T}, {"role", T}, {"created_at", I}}, "name"},
      {"tokens",
       {{"id", T},
        {"user_name", T},
        {"hash", T},
        {"run_id", T},
        {"description", T},
        {"created_at", I},
        {"expires_at", I},
        {"last_used_at", I}},
       "id"},
      {"schedules",
       {{"name", T},
        {"pipeline_file", T},
        {"cron", T},
        {"time_zone", T},
        {"stack", T},
        {"run_config", T},
        {"catchup", T},
        {"overlap", T},
        {"paused", I},
        {"created_at", I},
        {"updated_at", I},
        {"last_fire", I},
        {"last_run", T}},
       "name"},
  };
  return tables;
}

bool IsNewStoreRow(const Table& table, const Row& row) {
  const std::string name = table.name;
  auto is = [&](const std::vector<Value>& want) { return row == want; };
  const int64_t zero = 0;
  if (name == "components")
    return is({std::string("orchestrator"), std::string("default"), std::string("local"),
               std::string("{}"), zero, zero}) ||
           is({std::string("artifact_store"), std::string("default"), std::string("local"),
               std::string("{}"), zero, zero});
  if (name == "stacks")
    return is({std::string("default"), std::string("default"), std::string("default"), zero, zero});
  if (name == "settings") return is({std::string("active_stack"), std::string("default")});
  return false;
}

Status CopyMetadataRows(MetadataRows& from, MetadataRows& to,
                        std::map<std::string, int64_t>* copied) {
  BATON_ASSIGN_OR_RETURN(int64_t from_version, from.RowsSchemaVersion());
  BATON_ASSIGN_OR_RETURN(int64_t to_version, to.RowsSchemaVersion());
  if (from_version != to_version)
    return FailedPrecondition("the stores have different schema versions (" +
                              std::to_string(from_version) + " and " + std::to_string(to_version) +
                              ")");
  std::map<std::string, int64_t> counts;
  auto check = [](const Table& table, const Row& row) -> Status {
    if (IsNewStoreRow(table, row)) return Status::Ok();
    return FailedPrecondition(std::string("the target store is not empty: its table ") +
                              table.name +
                              " holds records a new store does not; migrate into a new store");
  };
  Status s = to.ImportRows(check, [&](const RowSink& put) {
    return from.ExportRows([&](const Table& table, const Row& row) -> Status {
      if (row.size() != table.columns.size())
        return Internal(std::string("a row of ") + table.name + " has " +
                        std::to_string(row.size()) + " values for " +
                        std::to_string(table.columns.size()) + " columns");
      for (size_t i = 0; i < row.size(); ++i) {
        const bool integer = std::holds_alternative<int64_t>(row[i]);
        if (integer != (table.columns[i].type == ColumnType::kInteger))
          return Internal(std::string("column ") + table.name + "." + table.columns[i].name +
                          " has a value of the wrong type");
      }
      counts[table.name]++;
      return put(table, row);
    });
  });
  if (s.ok() && copied) *copied = std::move(counts);
  return s;
}

Result<std::string> JoinTags(const std::vector<std::string>& tags) {
  std::string out;
  for (const std::string& t : tags) {
    if (t.empty() || t.find_first_of(" \t\r\n\v\f") != std::string::npos)
      return InvalidArgument("tag '" + t + "': tags are non-empty and hold no whitespace");
    out += (out.empty() ? "" : " ") + t;
  }
  return out;
}

std::vector<std::string> SplitTags(const std::string& joined) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < joined.size()) {
    size_t end = joined.find(' ', start);
    if (end == std::string::npos) end = joined.size();
    if (end > start) out.push_back(joined.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Status RunInUse(const std::string& run_id, const std::vector<std::string>& users) {
  std::string names;
  for (size_t i = 0; i < users.size() && i < 5; ++i) names += (i ? ", " : "") + users[i];
  if (users.size() > 5) names += " and " + std::to_string(users.size() - 5) + " more";
  return FailedPrecondition("run " + run_id + " produced artifacts that run" +
                            (users.size() > 1 ? "s " : " ") + names +
                            " read or reuse from the cache; delete " +
                            (users.size() > 1 ? "those" : "that run") + " first");
}

}  // namespace baton
