#pragma once
// Matrices: a step with `matrix:` runs once per combination of its axes' values. Each
// combination is an instance, a step of its own named STEP[K=V,...] (axes in the order written),
// with its own cache key, attempts, logs and outputs; expansion happens once, right after the
// pipeline is validated, so the plan, the executors and every backend see only plain steps.

#include <string>
#include <vector>

#include "core/spec.h"

namespace baton {

// The most instances one matrix may have.
inline constexpr size_t kMaxMatrixInstances = 10000;

// The most instances one for_each step may have (its `max` may lower it).
inline constexpr int64_t kMaxForEachInstances = 100000;
// The largest list file a for_each step reads.
inline constexpr int64_t kMaxForEachListBytes = 64 << 20;

// A for_each element as commands and the environment see it: a string as it is, other scalars
// as parameters are written, lists and objects as compact JSON.
std::string ItemText(const Json& item);
// The elements of a list file's text: `as` "json" (a JSON list), "lines" (each line, without
// its newline; a last empty line is no element), or "" (a JSON list if the text is one, else
// the lines). An error says why the text is no list of that kind.
Result<std::vector<Json>> ItemsFromText(const std::string& text, const std::string& as);
// Why for_each step `t` may not have `n` instances (its max, or the global bound), or "".
std::string ForEachLimitError(const StepSpec& t, size_t n);
// The instance of for_each step `t` for element `index`: named t[index].
StepSpec ForEachInstance(const StepSpec& t, int64_t index, const Json& item);

// "C=1,penalty=l2": each value as ParamToString writes it, with '%', ',', '=', '[', ']', '/',
// control characters and spaces written %XX so that the key reads back unambiguously.
std::string InstanceKey(const Json& values);
// "train[C=1,penalty=l2]".
std::string InstanceName(const std::string& step, const Json& values);
// The step an instance name belongs to ("train" for "train[C=1]"; the name itself otherwise).
std::string GroupOf(const std::string& step_name);

// Parses a selector "K=V,..." into pairs (values unescaped). False when malformed.
bool ParseSelector(const std::string& selector, std::vector<std::pair<std::string, std::string>>* out);
// Whether an instance's values match every pair of a selector (values compared as written).
bool SelectorMatches(const std::vector<std::pair<std::string, std::string>>& sel, const Json& values);

// Replaces every matrix step by its instances and rewrites what refers to it: `train[*].out`
// inputs become list inputs of every instance's output, `train[K=V].out` one instance's, and a
// plain `train.out` (or `after: [train]`, or a condition's steps.train) read by a step of the
// same matrix pairs each instance with its own. Returns the errors, located; the spec is
// unchanged when there are any.
std::vector<Diagnostic> ExpandMatrices(PipelineSpec* spec);

}  // namespace baton
