#pragma once
// The compile phase of a run, shared by the command line and (later) the server: a pipeline
// with its run config and overrides applied, checked against the flavors the workspace knows,
// bound to a stack (whose secrets must resolve), ready to run, compile or build. Nothing is
// written.

#include <memory>
#include <string>
#include <vector>

#include "app/run_pipeline.h"
#include "app/stack.h"
#include "baton/metadata_store.h"
#include "core/spec.h"
#include "core/spec_parser.h"

namespace baton {

struct CompileRequest {
  PipelineSpec spec;     // the pipeline with its run config and -p overrides applied
  RunConfig run_config;  // the run config it came with (schedule, run name, stack)
  std::string stack;     // the stack to run on: "" for the run config's, else the active one
  RunOptions options;    // jobs, cache, explain, failure mode, timeout
};

// A run ready to start: `options` points at `flavors` and `stack`, so keep it whole.
struct CompiledRun {
  PipelineSpec spec;  // with `stack` recorded in spec.stack (secrets as references)
  RunOptions options;
  std::unique_ptr<Flavors> flavors;
  ResolvedStack stack;
};

// Compiles `req` against the workspace's store. Problems in the pipeline's flavor settings are
// returned in `*diagnostics` (file:line:column) with an InvalidArgument status; an unknown
// stack is NotFound; a secret that does not resolve or a schedule the orchestrator cannot
// honour are errors naming the component.
Result<std::unique_ptr<CompiledRun>> CompileRun(MetadataStore& meta, CompileRequest req,
                                                std::vector<Diagnostic>* diagnostics);

// The checks that can be made before a workspace exists (so that a bad pipeline creates none):
// flavor settings against the built-in flavors, and only the default stack.
Status CheckBeforeWorkspace(const PipelineSpec& spec, const std::string& stack, std::vector<Diagnostic>* diagnostics);

}  // namespace baton
