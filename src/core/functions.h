#pragma once
// The in-process step functions of this binary (C++ pipelines register theirs through
// baton::Main), looked up by the step runner when a snapshot names a function.

#include <map>
#include <string>

#include "baton/step_context.h"

namespace baton {

// Process-wide; set once at start-up, before any run.
void SetStepFunctions(const std::map<std::string, StepBody>* functions);
const StepBody* FindStepFunction(const std::string& name);

}  // namespace baton
