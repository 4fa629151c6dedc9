#pragma once
// What a baton::Pipeline holds: the spec being built, the wiring of inputs (resolved to names
// when the pipeline is finalized, so outputs may be renamed after they were wired), and the
// in-process step functions.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "baton/pipeline.h"
#include "core/functions.h"
#include "core/spec.h"

namespace baton {

struct Pipeline::Data {
  PipelineSpec spec;  // inputs not yet filled in
  std::vector<std::vector<std::pair<int, int>>> wiring;          // per step: (producer, output index)
  std::vector<std::vector<detail::TypeDecl>> wired_types;        // per step: the types its function reads
  std::vector<std::map<size_t, std::string>> wired_names;        // per step: input names given explicitly
  std::vector<std::map<size_t, std::string>> wired_selectors;    // per step: "*" for every instance
  std::map<std::string, StepFunction> functions;
  std::vector<Diagnostic> problems;

  Settings& SettingsOf(int step);  // -1: defaults
  void Problem(const std::string& message);
  PipelineSpec Finalize() const;
};

}  // namespace baton
