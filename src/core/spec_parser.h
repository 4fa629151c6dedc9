#pragma once
// ManifestParser for pipeline files (format v1): YAML text -> PipelineSpec, with every problem
// reported as file:line:column. Nothing is written anywhere.

#include <string>
#include <vector>

#include "core/spec.h"

namespace baton {

// Parses and validates. On failure the status message holds one diagnostic per line.
Result<PipelineSpec> ParsePipelineFile(const std::string& path);
Result<PipelineSpec> ParsePipelineText(const std::string& text, const std::string& file,
                                       const std::string& root);

// The keys a step may carry (for help texts and templates).
const std::vector<std::string>& StepKeys();

// The closest of `candidates` to `word` when it is near enough to be a likely typo, else "".
std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace baton
