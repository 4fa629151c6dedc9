#pragma once
// Row-level access to a metadata store, for copying a whole history from one store to another
// (`baton store migrate`): the tables of the current schema with their columns, the interface a
// store implements to export and import its rows, and the copy itself. Rows keep their ids, so
// lineage (step_inputs, step_outputs, artifacts.step_run_id) and cached_from stay valid.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "baton/status.h"

namespace baton {

enum class ColumnType { kInteger, kText };

struct Column {
  const char* name;
  ColumnType type;
};

struct Table {
  const char* name;
  std::vector<Column> columns;
  // The order rows are read in, the same on every store: a column list (text compares bytes), or
  // null for the order the rows were inserted in (runs: of two created at the same time, the
  // later lists first, so a copy inserts them in that order).
  const char* order;
};

// Every table of the metadata schema at its latest version (docs/metadata-schema.md) but
// schema_version, each with all its columns, a table before the tables that refer to it.
const std::vector<Table>& MetadataTables();

// One value of a row: an integer column's value, or a text column's.
using Value = std::variant<int64_t, std::string>;
// A row of a table: one value per column, in the order of Table::columns.
using Row = std::vector<Value>;
// Receives rows; an error stops what is producing them.
using RowSink = std::function<Status(const Table&, const Row&)>;

// Implemented by the metadata stores that `baton store migrate` can copy from and to; reached
// from a MetadataStore by dynamic_cast.
class MetadataRows {
 public:
  virtual ~MetadataRows() = default;
  // The schema version of the store (store/migrations.h).
  virtual Result<int64_t> RowsSchemaVersion() = 0;
  // Every row of every table, table by table in MetadataTables() order and, within a table, in
  // Table::order, all read from one consistent state of the store.
  virtual Status ExportRows(const RowSink& sink) = 0;
  // In one write transaction holding the store's write lock: passes every row the store holds to
  // `check` (which refuses a store it must not replace), deletes them all, inserts every row
  // `source` passes to its sink (ids as given; ids the store makes later continue after them),
  // and commits. Nothing changes when any of it fails.
  virtual Status ImportRows(const RowSink& check,
                            const std::function<Status(const RowSink&)>& source) = 0;
};

// Whether a row is one a new store holds (the `default` components and stack, and the
// `active_stack` setting naming it), unchanged.
bool IsNewStoreRow(const Table& table, const Row& row);

// Copies the whole history of `from` into `to`, which must hold nothing but what a new store
// holds (FailedPrecondition otherwise, naming a table holding more). Both stores must have the
// same schema version (FailedPrecondition otherwise). `copied` (may be null) receives the number
// of rows copied per table.
Status CopyMetadataRows(MetadataRows& from, MetadataRows& to,
                        std::map<std::string, int64_t>* copied);

// Tags as the stores keep them: one text column, the tags separated by single spaces.
// InvalidArgument for an empty tag or one holding whitespace.
Result<std::string> JoinTags(const std::vector<std::string>& tags);
std::vector<std::string> SplitTags(const std::string& joined);

// DeleteRun's refusal of a run that the runs `users` depend on.
Status RunInUse(const std::string& run_id, const std::vector<std::string>& users);

}  // namespace baton
