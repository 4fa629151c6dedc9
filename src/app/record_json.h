#pragma once
// The JSON shapes of the records, one for every reader: `-o json` of the command line and the
// server's API (docs/server.md) give the same fields.

#include <string>
#include <utility>
#include <vector>

#include "baton/flavor.h"
#include "baton/metadata_store.h"

namespace baton {

using NamedArtifacts = std::vector<std::pair<std::string, ArtifactRecord>>;

// A stored JSON text as JSON; a text that is not JSON (a damaged record) as a string, so that
// what is written out is always JSON.
Json JsonOrText(const std::string& text);
Json RunJson(const RunRecord& r);
Json ArtifactJson(const ArtifactRecord& a);
// A step run with the artifacts it read and wrote; an instance of a matrix or for_each step also
// has `group` (the step) and `instance` (what is between its brackets).
Json StepRunJson(const StepRunRecord& s, const NamedArtifacts& inputs, const NamedArtifacts& outputs);

}  // namespace baton
