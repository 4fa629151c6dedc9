#pragma once
// The in-process step functions of this binary (C++ pipelines register theirs through
// baton::Main), looked up by the step runner when a snapshot names a function.

#include <map>
#include <string>
#include <vector>

#include "baton/step_context.h"
#include "core/spec.h"

namespace baton {

struct StepFunction {
  StepBody body;
  // The types this binary's function reads and writes, in order: checked against the artifacts
  // it is given (which a snapshot of another build of the binary may have produced).
  std::vector<ValueType> input_types;
  std::vector<ValueType> output_types;
};

// Process-wide; set once at start-up, before any run.
void SetStepFunctions(const std::map<std::string, StepFunction>* functions);
const StepFunction* FindStepFunction(const std::string& name);

}  // namespace baton
