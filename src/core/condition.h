#pragma once
// Conditions: the small expression language of a step's `when:`. An expression compares values
// that are known only when the step is about to start (what upstream steps recorded as
// metadata, the content of small JSON outputs) with literals and parameters:
//
//   {{steps.evaluate.metadata.accuracy}} > 0.95 and {{params.deploy}} == true
//
// Grammar (no shell, no functions, no arithmetic):
//   expr    := and ('or' and)*
//   and     := not ('and' not)*
//   not     := 'not' not | compare
//   compare := operand (('==' | '!=' | '<' | '<=' | '>' | '>=') operand)?
//   operand := NUMBER | 'STRING' | "STRING" | true | false | null | {{REF}} | '(' expr ')'
//   REF     := params.NAME | matrix.NAME | steps.STEP[SELECTOR]?.metadata(.KEY)*
//            | steps.STEP[SELECTOR]?.outputs.NAME(.KEY)*
//
// Parsing is pure and locates errors by offset; evaluation asks a resolver for each
// reference's value, so core stays free of I/O.

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/status.h"

namespace baton {

struct ConditionRef {
  enum Kind { kParam, kMatrix, kMetadata, kOutput } kind = kParam;
  std::string step;      // kMetadata, kOutput: the step as written (without its selector)
  std::string selector;  // "K=V,..." inside [...] after the step, or ""
  std::string name;      // the parameter, matrix axis or output; "" for metadata
  std::vector<std::string> path;  // keys into the value (metadata's first key included)
  size_t offset = 0;              // of "{{" in the expression
  std::string text;               // as written between the braces, trimmed
};

class Condition {
 public:
  // Parses `text`; on error the message says what is wrong and *error_offset where (a pipeline
  // file turns the offset into a line and column).
  static Result<Condition> Parse(const std::string& text, size_t* error_offset = nullptr);

  const std::vector<ConditionRef>& refs() const { return refs_; }
  // The steps the condition reads ("STEP" or "STEP[SELECTOR]"), each once, in order.
  std::vector<std::string> Steps() const;
  const std::string& text() const { return text_; }

  // Looks up a reference's value; an error (a missing key, an unreadable output) makes the
  // evaluation fail with that message.
  using Resolver = std::function<Result<nlohmann::json>(const ConditionRef&)>;
  // True or false; an error when a value is missing or of the wrong type for its operator.
  // `*values` receives "REF = VALUE" for each reference evaluated, for the record.
  Result<bool> Evaluate(const Resolver& resolve, std::string* values = nullptr) const;

 private:
  struct Node {
    enum Kind { kLiteral, kRef, kNot, kAnd, kOr, kCompare } kind = kLiteral;
    nlohmann::json literal;
    int ref = -1;
    std::string op;
    int a = -1, b = -1;
    size_t offset = 0;
  };
  friend class ConditionParser;
  Result<nlohmann::json> Eval(int node, const Resolver& resolve, std::vector<nlohmann::json>* cache,
                              std::string* values) const;

  std::string text_;
  std::vector<Node> nodes_;
  std::vector<ConditionRef> refs_;
  int root_ = -1;
};

}  // namespace baton
