// Unit tests for the pipeline file parser (spec_parser.h) and the spec model (spec.h):
// every diagnostic with its file:line:column, successful parses, parameters, settings, JSON.

#include "core/spec_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>

#include "core/spec.h"
#include "platform/env_posix.h"
#include "test_util.h"

namespace baton {
namespace {

Result<PipelineSpec> Parse(const std::string& text) {
  return ParsePipelineText(text, "p.yaml", "/root");
}

// The full diagnostic text of a pipeline that must not parse.
std::string Errors(const std::string& text) {
  auto r = Parse(text);
  if (r.ok()) return "<parsed without error>";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  return r.status().message();
}

// Expects `text` to fail with a diagnostic at `where` ("LINE:COL") whose message contains `what`.
#define EXPECT_DIAG(text, where, what)                                                            \
  do {                                                                                            \
    std::string _msg = Errors(text);                                                              \
    EXPECT_NE(_msg.find(std::string("p.yaml:") + (where) + ": error: "), std::string::npos)       \
        << "expected a diagnostic at " << (where) << ", got:\n"                                   \
        << _msg;                                                                                  \
    EXPECT_NE(_msg.find(what), std::string::npos) << "expected '" << (what) << "' in:\n" << _msg; \
  } while (0)

size_t CountLines(const std::string& s) {
  return s.empty() ? 0 : 1 + std::count(s.begin(), s.end(), '\n');
}

// ---------------------------------------------------------------------------------------------
// Invalid YAML

TEST(SpecParserErrors, InvalidYamlNamesLineAndColumn) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: echo: x: y\n",
      "4:14", "invalid YAML");
  EXPECT_DIAG(
      "name: x\n"
      "  bad: 1\n"
      "steps: {}\n",
      "2:6", "invalid YAML");
}

TEST(SpecParserErrors, DocumentMustBeAMapping) {
  EXPECT_DIAG("- a\n- b\n", "1:1", "a pipeline file must be a mapping with 'name' and 'steps'");
  EXPECT_DIAG("just a string\n", "1:1", "must be a mapping");
}

// ---------------------------------------------------------------------------------------------
// Unknown keys

TEST(SpecParserErrors, UnknownTopLevelKeySuggestsTheClosest) {
  std::string msg = Errors(
      "name: x\n"
      "step:\n"
      "  a: {run: 'true'}\n");
  EXPECT_NE(
      msg.find("p.yaml:2:1: error: unknown key 'step' in the pipeline (did you mean 'steps'?)"),
      std::string::npos)
      << msg;
  // With the typo, there are no steps at all, which is reported as well.
  EXPECT_NE(msg.find("p.yaml:1:1: error: the pipeline has no 'steps'"), std::string::npos) << msg;
}

TEST(SpecParserErrors, UnknownKeyFarFromAnyListsTheValidKeys) {
  std::string msg = Errors(
      "name: x\n"
      "zzzzzzzzzz: 1\n"
      "steps: {a: {run: 'true'}}\n");
  EXPECT_NE(
      msg.find("p.yaml:2:1: error: unknown key 'zzzzzzzzzz' in the pipeline (valid keys: name, "),
      std::string::npos)
      << msg;
  EXPECT_EQ(msg.find("did you mean"), std::string::npos) << msg;
}

TEST(SpecParserErrors, UnknownStepKey) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    outptus: [m]\n",
      "5:5", "unknown key 'outptus' in step 'a' (did you mean 'outputs'?)");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    input: {x: b.y}\n",
      "5:5", "(did you mean 'inputs'?)");
}

TEST(SpecParserErrors, UnknownRetriesKey) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    retries: {max: 2, dealy: 1s}\n",
      "5:23", "unknown key 'dealy' in retries (did you mean 'delay'?)");
}

TEST(SpecParserErrors, UnknownCacheSettingsDefaultsAndHooksKeys) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    cache: {enable: false}\n",
      "5:13", "unknown key 'enable' in cache (did you mean 'enabled'?)");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    settings:\n"
      "      timout: 1m\n",
      "6:7", "unknown key 'timout' in settings of step 'a' (did you mean 'timeout'?)");
  EXPECT_DIAG(
      "name: x\n"
      "defaults:\n"
      "  retires: 2\n"
      "steps: {a: {run: 'true'}}\n",
      "3:3", "unknown key 'retires' in defaults (did you mean 'retries'?)");
  EXPECT_DIAG(
      "name: x\n"
      "hooks: {on_sucess: 'echo ok'}\n"
      "steps: {a: {run: 'true'}}\n",
      "2:9", "unknown key 'on_sucess' in hooks (did you mean 'on_success'?)");
}

TEST(SpecParserErrors, SettingsBlockAcceptsOnlySettingKeys) {
  // `run` is a step key, not a setting: it may not hide under `settings:`.
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    settings: {run: 'false'}\n",
      "5:16", "unknown key 'run' in settings of step 'a'");
}

TEST(SpecParserErrors, UnknownResourceWithInvalidPoolName) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    resources: {gp-u: 1}\n",
      "5:17", "unknown resource 'gp-u'");
}

TEST(SpecParserErrors, MisspelledResourceKeyIsPointedAtWithAHint) {
  // Found as a bug (taken for an undeclared user pool, reported at the step, no hint); fixed.
  std::string msg = Errors(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    resources: {cpus: 2}\n");
  EXPECT_NE(msg.find("p.yaml:5:17: error: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown resource 'cpus' (did you mean 'cpu'?)"), std::string::npos) << msg;
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    resources: {gpu: 1, Memory: 1Gi}\n",
      "5:25", "unknown resource 'Memory' (did you mean 'memory'?)");
}

// ---------------------------------------------------------------------------------------------
// Wrong types

TEST(SpecParserErrors, RunMustBeAStringOrAList) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: {cmd: echo}\n",
      "4:10", "step 'a': 'run' must be a string or a list of strings");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: [echo, {a: b}]\n",
      "4:17", "run list entries must be a string, not a mapping");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: []\n",
      "4:10", "step 'a': 'run' list is empty");
}

TEST(SpecParserErrors, OutputsMustBeAList) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    outputs: {model: x}\n",
      "5:14", "outputs must be a list of names");
}

TEST(SpecParserErrors, TimeoutMustBeADuration) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    timeout: soon\n",
      "5:14", "timeout must be a duration such as 30s");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    retries: {delay: 1h30}\n",
      "5:22", "retries.delay must be a duration");
}

TEST(SpecParserErrors, MemoryMustBeASize) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    resources: {memory: lots}\n",
      "5:25", "resources.memory must be a size such as 512Mi");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    resources: {memory: 4gb}\n",
      "5:25", "resources.memory must be a size");
}

TEST(SpecParserErrors, CpuMustBePositive) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    resources: {cpu: 0}\n",
      "5:22", "resources.cpu must be greater than 0");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    resources: {cpu: -2}\n",
      "5:22", "resources.cpu must be greater than 0");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    resources: {cpu: two}\n",
      "5:22", "resources.cpu must be a number");
}

TEST(SpecParserErrors, GpuAndPoolsMustBeNonNegativeIntegers) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    resources: {gpu: 1.5}\n",
      "5:22", "resources.gpu must be an integer >= 0");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    resources: {gpu: -1}\n",
      "5:22", "resources.gpu must be an integer >= 0");
  EXPECT_DIAG(
      "name: x\n"
      "pools: {db: 0}\n"
      "steps: {a: {run: 'true'}}\n",
      "2:13", "pool 'db' must be an integer");
}

TEST(SpecParserErrors, RetriesMustBeValid) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    retries: {max: 2, backoff: 0.5}\n",
      "5:32", "retries.backoff must be at least 1");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    retries: {max: -1}\n",
      "5:20", "retries.max must be an integer >= 0");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    retries: many\n",
      "5:14", "retries must be an integer >= 0");
}

TEST(SpecParserErrors, OtherWrongTypes) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    cache: maybe\n",
      "5:12", "cache must be true or false");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    env: [A=1]\n",
      "5:10", "env must be a mapping, not a list");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    env: {1BAD: x}\n",
      "5:11", "invalid environment variable name '1BAD'");
  EXPECT_DIAG(
      "name: [x]\n"
      "steps: {a: {run: 'true'}}\n",
      "1:7", "name must be a string, not a list");
  EXPECT_DIAG(
      "name: x\n"
      "parameters: {lr: [1, 2]}\n"
      "steps: {a: {run: 'true'}}\n",
      "2:18", "parameter 'lr' must have a scalar default");
  EXPECT_DIAG(
      "name: x\n"
      "failure_mode: sometimes\n"
      "steps: {a: {run: 'true'}}\n",
      "2:15", "failure_mode must be continue, stop or fail_fast, not 'sometimes'");
  EXPECT_DIAG(
      "name: x\n"
      "steps: [a, b]\n",
      "2:8", "steps must be a mapping, not a list");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    inputs: [b.out]\n",
      "5:13", "inputs of step 'a' must be a mapping, not a list");
}

TEST(SpecParserErrors, NullValueIsReportedWhereItIsWritten) {
  // Found as a bug (yaml-cpp marks an empty value at the NEXT token, here 6:3); fixed.
  std::string msg = Errors(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    outputs:\n"
      "  b:\n"
      "    run: 'true'\n");
  EXPECT_NE(msg.find("p.yaml:5:5: error: 'outputs' in step 'a' has no value"), std::string::npos)
      << msg;
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n",
      "3:3", "'a' in steps has no value");
  EXPECT_DIAG(
      "name: x\n"
      "parameters: {lr: }\n"
      "steps: {a: {run: 'true'}}\n",
      "2:14", "'lr' in parameters has no value");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n",
      "2:1", "'steps' in the pipeline has no value");
}

// ---------------------------------------------------------------------------------------------
// Graph errors

TEST(SpecParserErrors, InputNamesUnknownProducerStep) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    inputs: {raw: laod.raw}\n",
      "5:19", "step 'a': input 'raw' names unknown step 'laod'");
}

TEST(SpecParserErrors, InputNamesUnknownProducerOutput) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  load:\n"
      "    run: 'true'\n"
      "    outputs: [raw, meta]\n"
      "  a:\n"
      "    run: 'true'\n"
      "    inputs: {x: load.rwa}\n",
      "8:17", "input 'x' names output 'rwa' that step 'load' does not declare (it has: raw, meta)");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  load:\n"
      "    run: 'true'\n"
      "  a:\n"
      "    run: 'true'\n"
      "    inputs: {x: load.raw}\n",
      "7:17", "(it has no outputs)");
}

TEST(SpecParserErrors, InputMustBeStepDotOutput) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    inputs: {x: load}\n",
      "5:17", "input 'x' must be written as STEP.OUTPUT, not 'load'");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    inputs: {x: load.}\n",
      "5:17", "must be written as STEP.OUTPUT");
}

TEST(SpecParserErrors, CycleIsPrinted) {
  std::string msg = Errors(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    inputs: {x: b.o}\n"
      "    outputs: [o]\n"
      "  b:\n"
      "    run: 'true'\n"
      "    inputs: {x: a.o}\n"
      "    outputs: [o]\n");
  EXPECT_NE(msg.find("p.yaml:3:3: error: dependency cycle: a -> b -> a"), std::string::npos) << msg;
  EXPECT_EQ(CountLines(msg), 1u) << msg;
}

TEST(SpecParserErrors, LongerCycleThroughAfter) {
  // a after c, c after b, b after a; the independent step z is not part of the cycle.
  std::string msg = Errors(
      "name: x\n"
      "steps:\n"
      "  z: {run: 'true'}\n"
      "  a: {run: 'true', after: [c, z]}\n"
      "  b: {run: 'true', after: a}\n"
      "  c: {run: 'true', after: [b]}\n");
  EXPECT_NE(msg.find("p.yaml:4:3: error: dependency cycle: a -> c -> b -> a"), std::string::npos)
      << msg;
  EXPECT_EQ(msg.find("z ->"), std::string::npos) << msg;
}

TEST(SpecParserErrors, SelfDependency) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    after: [a]\n",
      "3:3", "dependency cycle: a -> a");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    inputs: {prev: a.o}\n"
      "    outputs: [o]\n",
      "3:3", "dependency cycle: a -> a");
}

TEST(SpecParserErrors, DuplicateStepNames) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "  a:\n"
      "    run: 'false'\n",
      "5:3", "duplicate key 'a' in steps");
}

TEST(SpecParserErrors, DuplicateKeys) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    run: 'false'\n",
      "5:5", "duplicate key 'run' in step 'a'");
  EXPECT_DIAG(
      "name: x\n"
      "parameters: {lr: 1, lr: 2}\n"
      "steps: {a: {run: 'true'}}\n",
      "2:21", "duplicate key 'lr' in parameters");
  EXPECT_DIAG(
      "name: x\n"
      "name: y\n"
      "steps: {a: {run: 'true'}}\n",
      "2:1", "duplicate key 'name' in the pipeline");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  p: {run: 'true', outputs: [o]}\n"
      "  a:\n"
      "    run: 'true'\n"
      "    inputs: {x: p.o, x: p.o}\n",
      "6:22", "duplicate key 'x' in inputs of step 'a'");
}

TEST(SpecParserErrors, DuplicateOutputs) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    outputs: [m, n, m]\n",
      "3:3", "step 'a': duplicate output 'm'");
}

TEST(SpecParserErrors, TemplatesNamingUndeclaredThings) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: cat {{inputs.raw}}\n",
      "4:10", "step 'a': template names undeclared input 'raw'");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    outputs: [model]\n"
      "    run: [train, --out, '{{outputs.modle}}']\n",
      "5:10", "step 'a': template names undeclared output 'modle'");
  EXPECT_DIAG(
      "name: x\n"
      "parameters: {lr: 0.1}\n"
      "steps:\n"
      "  a:\n"
      "    run: train --c {{params.C}}\n",
      "5:10", "step 'a': template names undeclared parameter 'C'");
  // Env values are templates too.
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    env: {LR: '{{params.lr}}'}\n",
      "3:3", "step 'a': template names undeclared parameter 'lr'");
}

TEST(SpecParserErrors, UnknownTemplateNamespace) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: echo {{param.lr}}\n",
      "4:10", "unknown template reference '{{param.lr}}'");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: echo {{inputs}}\n",
      "4:10", "names nothing after 'inputs.'");
}

TEST(SpecParserErrors, UnterminatedTemplate) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    outputs: [o]\n"
      "    run: echo {{outputs.o > x\n",
      "5:10", "unterminated '{{' in template");
}

TEST(SpecParserErrors, InvalidNames) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  bad name:\n"
      "    run: 'true'\n",
      "3:3", "invalid step name 'bad name'");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  " +
          std::string(64, 's') +
          ":\n"
          "    run: 'true'\n",
      "3:3", "invalid step name");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    outputs: [a.b]\n",
      "3:3", "step 'a': invalid output name 'a.b'");
  EXPECT_DIAG(
      "name: x\n"
      "parameters: {1x: 1}\n"
      "steps: {a: {run: 'true'}}\n",
      "2:14", "invalid parameter name '1x'");
  EXPECT_DIAG(
      "name: x\n"
      "parameters: {test-size: 1}\n"
      "steps: {a: {run: 'true'}}\n",
      "2:14", "invalid parameter name 'test-size'");
  EXPECT_DIAG(
      "name: my pipeline\n"
      "steps: {a: {run: 'true'}}\n",
      "1:7", "invalid pipeline name 'my pipeline'");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  p: {run: 'true', outputs: [o]}\n"
      "  a:\n"
      "    run: 'true'\n"
      "    inputs: {bad name: p.o}\n",
      "6:24", "step 'a': invalid input name 'bad name'");
}

TEST(SpecParserErrors, MissingRun) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    outputs: [o]\n",
      "3:3", "step 'a' has no 'run' command");
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: ''\n",
      "4:10", "step 'a' has an empty 'run' command");
}

TEST(SpecParserErrors, MissingNameAndSteps) {
  EXPECT_DIAG("steps: {a: {run: 'true'}}\n", "1:1", "the pipeline has no 'name'");
  EXPECT_DIAG("name: x\n", "1:1", "the pipeline has no 'steps'");
  std::string both = Errors("description: nothing\n");
  EXPECT_NE(both.find("no 'name'"), std::string::npos) << both;
  EXPECT_NE(both.find("no 'steps'"), std::string::npos) << both;
}

TEST(SpecParserErrors, EveryDiagnosticHasALocation) {
  // Found as a bug (these two had no line:column); fixed.
  EXPECT_DIAG("name: x\nsteps: {}\n", "2:8", "no steps");
  EXPECT_DIAG("", "1:1", "must be a mapping");
}

TEST(SpecParserErrors, AfterNamesUnknownStep) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "  b:\n"
      "    run: 'true'\n"
      "    after: [a, nosuch]\n",
      "7:12", "step 'b': 'after' names unknown step 'nosuch'");
}

TEST(SpecParserErrors, ParamsNamesUnknownParameter) {
  EXPECT_DIAG(
      "name: x\n"
      "parameters: {lr: 0.1}\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    params: [lr, epochs]\n",
      "4:3", "step 'a': 'params' names undeclared parameter 'epochs'");
}

TEST(SpecParserErrors, ResourcesNameUndeclaredPool) {
  EXPECT_DIAG(
      "name: x\n"
      "pools: {db: 2}\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    resources: {dbb: 1}\n",
      "6:17", "resource 'dbb' is neither cpu, memory, gpu nor a pool declared under 'pools'");
  EXPECT_DIAG(
      "name: x\n"
      "defaults: {resources: {licenses: 1}}\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n",
      "2:24", "resource 'licenses' is neither cpu, memory, gpu nor a pool");
  // Pools may be declared after the steps that use them.
  EXPECT_TRUE(Parse("name: x\n"
                    "steps:\n"
                    "  a: {run: 'true', resources: {db: 1}}\n"
                    "pools: {db: 2}\n")
                  .ok());
  EXPECT_DIAG(
      "name: x\n"
      "pools: {gpu: 2}\n"
      "steps: {a: {run: 'true'}}\n",
      "2:9", "invalid pool name 'gpu'");
}

TEST(SpecParserErrors, UnsupportedVersion) {
  EXPECT_DIAG(
      "version: 3\n"
      "name: x\n"
      "steps: {a: {run: 'true'}}\n",
      "1:10", "unsupported pipeline format version 3 (this baton reads versions 1 and 2)");
  EXPECT_TRUE(Parse("version: 1\nname: x\nsteps: {a: {run: 'true'}}\n").ok());
  EXPECT_TRUE(Parse("version: 2\nname: x\nsteps: {a: {run: 'true'}}\n").ok());
}

TEST(SpecParserErrors, AllProblemsAreReportedOnePerLine) {
  std::string msg = Errors(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    timeout: soon\n"
      "    outptus: [o]\n");
  EXPECT_EQ(CountLines(msg), 2u) << msg;
  size_t first = msg.find("p.yaml:5:14: error: timeout");
  size_t second = msg.find("p.yaml:6:5: error: unknown key 'outptus'");
  ASSERT_NE(first, std::string::npos) << msg;
  ASSERT_NE(second, std::string::npos) << msg;
  EXPECT_LT(first, second);
}

TEST(SpecParserErrors, DurationAndSizeValuesThatAreNotFinite) {
  // Found as a bug (`timeout: inf` parsed as INT64_MIN microseconds); fixed.
  int64_t v = 0;
  EXPECT_FALSE(ParseDuration("inf", &v));
  EXPECT_FALSE(ParseDuration("nan", &v));
  EXPECT_FALSE(ParseDuration("1e300s", &v));
  EXPECT_FALSE(ParseMemory("inf", &v));
  EXPECT_FALSE(ParseMemory("1e300Gi", &v));
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: 'true'\n"
      "    timeout: inf\n",
      "5:14", "timeout must be a duration");
}

// ---------------------------------------------------------------------------------------------
// Every error at once

// The diagnostic lines of `msg`, in order.
std::vector<std::string> Lines(const std::string& msg) {
  std::vector<std::string> out;
  size_t b = 0;
  while (b <= msg.size()) {
    size_t e = msg.find('\n', b);
    if (e == std::string::npos) e = msg.size();
    out.push_back(msg.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

TEST(SpecParserErrors, ReadErrorsAndGraphErrorsComeTogetherSortedByPosition) {
  // Before, a type error ended the report and the graph checks waited until it was fixed.
  std::string msg = Errors(
      "name: x\n"
      "parameters: {lr: [1, 2]}\n"
      "steps:\n"
      "  load:\n"
      "    run: echo {{outputs.raw}}\n"
      "    outputs: [raw]\n"
      "    retries: abc\n"
      "  split:\n"
      "    run: echo split\n"
      "    inputs: {raw: laod.raw}\n"
      "    ouputs: [train]\n"
      "  train:\n"
      "    run: echo train\n"
      "    timeout: xyz\n"
      "    after: [report]\n"
      "  report:\n"
      "    run: echo report\n"
      "    after: [train, evaluate]\n");
  EXPECT_EQ(
      Lines(msg),
      (std::vector<std::string>{
          "p.yaml:2:18: error: parameter 'lr' must have a scalar default (string, number or bool)",
          "p.yaml:7:14: error: retries must be an integer >= 0",
          "p.yaml:10:19: error: step 'split': input 'raw' names unknown step 'laod'; did you mean "
          "'load'?",
          "p.yaml:11:5: error: unknown key 'ouputs' in step 'split' (did you mean 'outputs'?)",
          "p.yaml:12:3: error: dependency cycle: train -> report -> train",
          "p.yaml:14:14: error: timeout must be a duration such as 30s, 10m, 1h30m or 500ms",
          "p.yaml:18:12: error: step 'report': 'after' names unknown step 'evaluate'",
      }))
      << msg;
}

TEST(SpecParserErrors, CycleIsReportedBesideOtherErrors) {
  std::string msg = Errors(
      "name: x\n"
      "steps:\n"
      "  a: {run: 'true', after: [b], cache: maybe}\n"
      "  b: {run: 'true', after: [a, nowhere]}\n");
  EXPECT_EQ(Lines(msg), (std::vector<std::string>{
                            "p.yaml:3:3: error: dependency cycle: a -> b -> a",
                            "p.yaml:3:39: error: cache must be true or false",
                            "p.yaml:4:27: error: step 'b': 'after' names unknown step 'nowhere'",
                        }))
      << msg;
}

// What could not be read is reported once, not again by the graph checks that need it.
TEST(SpecParserErrors, UnreadablePartsAreNotReportedTwice) {
  struct Case {
    const char* what;
    const char* yaml;
    const char* only;  // the one expected diagnostic
  };
  const Case cases[] = {
      {"a producer without run",
       "name: x\nsteps:\n  a: {outputs: [o]}\n  b: {run: 'echo {{inputs.i}}', inputs: {i: a.o}}\n",
       "p.yaml:3:3: error: step 'a' has no 'run' command"},
      {"outputs not a list",
       "name: x\nsteps:\n  a: {run: 'echo {{outputs.o}}', outputs: {o: 1}}\n  b: {run: 'true', "
       "inputs: {i: a.o}}\n",
       "p.yaml:3:43: error: outputs must be a list of names"},
      {"a step that is not a mapping",
       "name: x\nsteps:\n  a: 5\n  b: {run: 'true', inputs: {i: a.o}, after: [a]}\n",
       "p.yaml:3:6: error: step 'a' must be a mapping, not a scalar"},
      {"a step without a value",
       "name: x\nsteps:\n  a:\n  b: {run: 'true', inputs: {i: a.o}, after: [a]}\n",
       "p.yaml:3:3: error: 'a' in steps has no value"},
      {"an unreadable input",
       "name: x\nsteps:\n  a: {run: 'echo {{inputs.i}}', inputs: {i: nodot}}\n",
       "p.yaml:3:45: error: input 'i' must be written as STEP.OUTPUT, not 'nodot'"},
      {"an empty run list", "name: x\nsteps:\n  a: {run: []}\n",
       "p.yaml:3:12: error: step 'a': 'run' list is empty"},
      {"a bad parameter default",
       "name: x\nparameters: {lr: [1]}\nsteps:\n  a: {run: 'echo {{params.lr}}', params: [lr]}\n",
       "p.yaml:2:18: error: parameter 'lr' must have a scalar default (string, number or bool)"},
      {"parameters not a mapping",
       "name: x\nparameters: [lr]\nsteps:\n  a: {run: 'echo {{params.lr}}'}\n",
       "p.yaml:2:13: error: parameters must be a mapping, not a list"},
      {"a bad pool capacity",
       "name: x\npools: {db: 0}\nsteps:\n  a: {run: 'true', resources: {db: 1}}\n",
       "p.yaml:2:13: error: pool 'db' must be an integer"},
      {"an undeclared pool", "name: x\nsteps:\n  a: {run: 'true', resources: {db: 1}}\n",
       "p.yaml:3:32: error: resource 'db' is neither cpu, memory, gpu nor a pool declared under "
       "'pools'"},
      {"steps not a mapping", "name: x\nsteps: [a, b]\n",
       "p.yaml:2:8: error: steps must be a mapping, not a list"},
      {"an invalid step name", "name: x\nsteps:\n  'a b': {run: 'true'}\n",
       "p.yaml:3:3: error: invalid step name 'a b' (use [A-Za-z0-9_-], at most 63 characters)"},
  };
  for (const auto& c : cases) EXPECT_EQ(Errors(c.yaml), c.only) << c.what;
}

TEST(SpecParserErrors, YamlSyntaxErrorIsTheOnlyError) {
  // The rest of the file cannot be read, so nothing else is said about it.
  std::string msg = Errors(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: echo\n"
      "    retries: abc\n"
      "    after: [nowhere]\n"
      "  b: [unclosed\n");
  EXPECT_EQ(CountLines(msg), 1u) << msg;
  EXPECT_EQ(msg.rfind("p.yaml:", 0), 0u) << msg;
  EXPECT_NE(msg.find(": error: invalid YAML"), std::string::npos) << msg;
}

TEST(SpecParserErrors, ManyErrorsAreCappedWithACount) {
  std::string yaml = "name: x\nsteps:\n";
  for (int i = 0; i < 60; ++i)
    yaml += "  s" + std::to_string(i) + ": {run: 'true', timeout: soon}\n";
  auto lines = Lines(Errors(yaml));
  ASSERT_EQ(lines.size(), 51u);
  EXPECT_EQ(lines[0],
            "p.yaml:3:30: error: timeout must be a duration such as 30s, 10m, 1h30m or 500ms");
  EXPECT_EQ(lines[49].rfind("p.yaml:52:", 0), 0u) << lines[49];
  EXPECT_EQ(lines[50], "p.yaml: error: and 10 more errors");
}

TEST(SpecParserErrors, AMultiLineCommandQuotedInAnErrorStaysOnOneLine) {
  std::string msg = Errors(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: |\n"
      "      echo {{inputs.words\n"
      "      echo }}\n");
  EXPECT_EQ(msg, "p.yaml:4:10: error: step 'a': template names undeclared input 'words\\necho'");
}

TEST(SpecValidate, DiagnosticsToStatusSortsAndDropsRepeats) {
  // Built one by one: GCC 12 at -O3 takes a braced list of these for uninitialized strings.
  std::vector<Diagnostic> d;
  auto add = [&d](int line, int column, const char* message) {
    Diagnostic diag;
    diag.loc.file = "f.yaml";
    diag.loc.line = line;
    diag.loc.column = column;
    diag.message = message;
    d.push_back(diag);
  };
  add(9, 1, "late");
  add(2, 7, "second");
  add(2, 3, "first");
  add(9, 1, "late");
  add(2, 7, "also second");
  Status st = DiagnosticsToStatus(d);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.message(),
            "f.yaml:2:3: error: first\n"
            "f.yaml:2:7: error: second\n"
            "f.yaml:2:7: error: also second\n"
            "f.yaml:9:1: error: late");
  EXPECT_EQ(DiagnosticsToStatus(d, 2).message(),
            "f.yaml:2:3: error: first\n"
            "f.yaml:2:7: error: second\n"
            "f.yaml: error: and 2 more errors");
  EXPECT_TRUE(DiagnosticsToStatus({}).ok());
}

// ---------------------------------------------------------------------------------------------
// Successful parses

TEST(SpecParser, ParsesTheDesignExample) {
  auto r = Parse(R"(name: digits
parameters: {test_size: 0.2, C: 1.0}
defaults: {retries: {max: 2, delay: 5s, backoff: 2}, timeout: 30m}
steps:
  load:
    run: python3 steps/load.py --out {{outputs.raw}}
    outputs: [raw]
  split:
    run: [python3, steps/split.py, --in, "{{inputs.raw}}", --test-size, "{{params.test_size}}",
          --train, "{{outputs.train}}", --test, "{{outputs.test}}"]
    inputs: {raw: load.raw}
    outputs: [train, test]
  train:
    run: python3 steps/train.py --c {{params.C}}
    inputs: {train: split.train}
    outputs: [model]
    resources: {cpu: 2, memory: 4Gi, gpu: 1}
  report:
    run: python3 steps/report.py
    after: [train]
)");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const PipelineSpec& s = *r;
  EXPECT_EQ(s.name, "digits");
  EXPECT_EQ(s.file, "p.yaml");
  EXPECT_EQ(s.root, "/root");
  ASSERT_EQ(s.steps.size(), 4u);
  EXPECT_EQ(s.steps[0].name, "load");
  EXPECT_EQ(s.steps[3].name, "report");

  const StepSpec& load = s.steps[0];
  EXPECT_TRUE(load.shell);
  EXPECT_EQ(load.run, std::vector<std::string>{"python3 steps/load.py --out {{outputs.raw}}"});
  EXPECT_EQ(load.loc.line, 5);
  EXPECT_EQ(load.loc.column, 3);
  EXPECT_EQ(load.run_loc.line, 6);
  EXPECT_EQ(load.run_loc.column, 10);

  const StepSpec* split = s.FindStep("split");
  ASSERT_NE(split, nullptr);
  EXPECT_FALSE(split->shell);
  EXPECT_EQ(split->run.size(), 10u);
  EXPECT_EQ(split->run[3], "{{inputs.raw}}");
  ASSERT_EQ(split->inputs.size(), 1u);
  EXPECT_EQ(split->inputs[0].name, "raw");
  EXPECT_EQ(split->inputs[0].step, "load");
  EXPECT_EQ(split->inputs[0].output, "raw");
  EXPECT_EQ(split->inputs[0].loc.line, 11);
  EXPECT_EQ(split->outputs, (std::vector<std::string>{"train", "test"}));

  const StepSpec* train = s.FindStep("train");
  ASSERT_NE(train, nullptr);
  ASSERT_TRUE(train->settings.has_resources());
  EXPECT_DOUBLE_EQ(train->settings.resources().cpu, 2);
  EXPECT_EQ(train->settings.resources().memory, 4LL << 30);
  EXPECT_EQ(train->settings.resources().gpu, 1);

  EXPECT_EQ(s.FindStep("report")->after, std::vector<std::string>{"train"});
  EXPECT_EQ(s.FindStep("nosuch"), nullptr);

  ASSERT_TRUE(s.defaults.retry_max.has_value());
  EXPECT_EQ(s.defaults.retries().max, 2);
  EXPECT_EQ(s.defaults.retries().delay_us, 5'000'000);
  EXPECT_DOUBLE_EQ(s.defaults.retries().backoff, 2);
  EXPECT_EQ(s.defaults.timeout_us, 30LL * 60 * 1'000'000);
  EXPECT_EQ(s.failure_mode, FailureMode::kContinue);
}

TEST(SpecParser, ParameterTypesFollowTheDefaults) {
  auto r = Parse(R"(name: x
parameters:
  epochs: 3
  neg: -4
  lr: 0.5
  C: 1.0
  big: 1e3
  flag: true
  off: False
  label: hello
  quoted_int: "3"
  quoted_float: '0.5'
  quoted_bool: "true"
steps: {a: {run: 'true'}}
)");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Json& p = r->parameters;
  EXPECT_TRUE(p["epochs"].is_number_integer());
  EXPECT_EQ(p["epochs"].get<int64_t>(), 3);
  EXPECT_TRUE(p["neg"].is_number_integer());
  EXPECT_EQ(p["neg"].get<int64_t>(), -4);
  EXPECT_TRUE(p["lr"].is_number_float());
  EXPECT_DOUBLE_EQ(p["lr"].get<double>(), 0.5);
  EXPECT_TRUE(p["C"].is_number_float()) << "1.0 is a float, not an int";
  EXPECT_TRUE(p["big"].is_number_float());
  EXPECT_DOUBLE_EQ(p["big"].get<double>(), 1000);
  EXPECT_TRUE(p["flag"].is_boolean());
  EXPECT_TRUE(p["flag"].get<bool>());
  EXPECT_TRUE(p["off"].is_boolean());
  EXPECT_FALSE(p["off"].get<bool>());
  EXPECT_EQ(p["label"], "hello");
  EXPECT_TRUE(p["quoted_int"].is_string());
  EXPECT_EQ(p["quoted_int"], "3");
  EXPECT_TRUE(p["quoted_float"].is_string());
  EXPECT_TRUE(p["quoted_bool"].is_string());
  EXPECT_EQ(p["quoted_bool"], "true");

  EXPECT_EQ(ParamToString(p["epochs"]), "3");
  EXPECT_EQ(ParamToString(p["C"]), "1.0");
  EXPECT_EQ(ParamToString(p["lr"]), "0.5");
  EXPECT_EQ(ParamToString(p["flag"]), "true");
  EXPECT_EQ(ParamToString(p["quoted_int"]), "3");
}

TEST(SpecParser, ShorthandsAndScalarsAsOneElementLists) {
  auto r = Parse(R"(name: x
failure_mode: fail_fast
pools: {db: 2}
steps:
  a:
    run: 'true'
    outputs: model
    retries: 3
    cache: false
  b:
    run: 'true'
    after: a
    resources: {db: 1, cpu: 0.5}
    cache: {files: [train.py, data.csv]}
    hooks: {on_failure: 'echo failed'}
)");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const StepSpec& a = r->steps[0];
  EXPECT_EQ(a.outputs, std::vector<std::string>{"model"});
  ASSERT_TRUE(a.settings.retry_max);
  EXPECT_EQ(a.settings.retries().max, 3);
  EXPECT_DOUBLE_EQ(a.settings.retries().backoff, 2.0);
  ASSERT_TRUE(a.settings.cache);
  EXPECT_FALSE(*a.settings.cache);
  const StepSpec& b = r->steps[1];
  EXPECT_EQ(b.after, std::vector<std::string>{"a"});
  ASSERT_TRUE(b.settings.has_resources());
  EXPECT_DOUBLE_EQ(b.settings.resources().cpu, 0.5);
  EXPECT_EQ(b.settings.resources().pools.at("db"), 1);
  EXPECT_TRUE(b.settings.cache_policy().enabled);
  EXPECT_EQ(*b.settings.cache_files, (std::vector<std::string>{"train.py", "data.csv"}));
  EXPECT_EQ(b.hooks.on_failure, "echo failed");
  EXPECT_EQ(r->failure_mode, FailureMode::kFailFast);
  EXPECT_EQ(r->pools.at("db"), 2);
}

TEST(SpecParser, SettingsMergeDefaultsUnderStep) {
  auto r = Parse(R"(name: x
defaults:
  retries: {max: 2, delay: 5s}
  timeout: 30m
  image: python:3.12
  env: {A: "1", B: "2"}
steps:
  plain:
    run: 'true'
  direct:
    run: 'true'
    timeout: 1m
    env: {B: "3", C: "4"}
  block:
    run: 'true'
    settings:
      retries: 5
      resources: {cpu: 4, memory: 512Mi}
      image: alpine
)");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const PipelineSpec& s = *r;

  Settings plain = s.EffectiveSettings(*s.FindStep("plain"));
  ASSERT_TRUE(plain.retry_max && plain.timeout_us && plain.image);
  EXPECT_EQ(plain.retries().max, 2);
  EXPECT_EQ(plain.retries().delay_us, 5'000'000);
  EXPECT_EQ(*plain.timeout_us, 30LL * 60'000'000);
  EXPECT_EQ(*plain.image, "python:3.12");
  EXPECT_FALSE(plain.has_resources());
  EXPECT_EQ(plain.env, (std::map<std::string, std::string>{{"A", "1"}, {"B", "2"}}));

  Settings direct = s.EffectiveSettings(*s.FindStep("direct"));
  EXPECT_EQ(*direct.timeout_us, 60'000'000);  // the step wins
  EXPECT_EQ(direct.retries().max, 2);         // inherited
  EXPECT_EQ(direct.env, (std::map<std::string, std::string>{{"A", "1"}, {"B", "3"}, {"C", "4"}}));
  // The step's own settings hold only what it wrote.
  EXPECT_FALSE(s.FindStep("direct")->settings.retry_max.has_value());

  const StepSpec* block_step = s.FindStep("block");
  ASSERT_TRUE(block_step->settings.retry_max);  // `settings:` fills the same fields
  Settings block = s.EffectiveSettings(*block_step);
  EXPECT_EQ(block.retries().max, 5);
  ASSERT_TRUE(block.has_resources());
  EXPECT_DOUBLE_EQ(block.resources().cpu, 4);
  EXPECT_EQ(block.resources().memory, 512LL << 20);
  EXPECT_EQ(*block.image, "alpine");
  EXPECT_EQ(*block.timeout_us, 30LL * 60'000'000);
}

TEST(SpecParser, StepParamsUnionsTemplatesEnvAndParamsList) {
  auto r = Parse(R"(name: x
parameters: {a: 1, b: 2, c: 3, d: 4, unused: 5}
defaults:
  env: {D: "{{params.d}}"}
steps:
  s:
    run: train --b {{params.b}} --b2 {{params.b}}
    env: {A: "x{{params.a}}"}
    params: [c]
  t:
    run: [train, "{{params.c}}"]
)");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->StepParams(*r->FindStep("s")), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(r->StepParams(*r->FindStep("t")), (std::vector<std::string>{"c", "d"}));
}

TEST(SpecParser, ParsePipelineFileUsesTheFileDirectoryAsRoot) {
  testing::TempDir dir;
  std::string path = dir.Write("sub/pipe.yaml", "name: x\nsteps: {a: {run: 'true'}}\n");
  auto r = ParsePipelineFile(*PosixEnv(), path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->root, dir.path() + "/sub");
  EXPECT_EQ(r->file, path);

  std::string bad = dir.Write("bad.yaml", "name: x\nsteps:\n  a: {run: 'true', outptus: [o]}\n");
  auto e = ParsePipelineFile(*PosixEnv(), bad);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find(bad + ":3:20: error: unknown key 'outptus'"),
            std::string::npos)
      << e.status().message();

  auto missing = ParsePipelineFile(*PosixEnv(), dir.path() + "/nope.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("cannot read pipeline file"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Parameter overrides

PipelineSpec WithParams() {
  auto r = Parse(
      "name: x\n"
      "parameters: {epochs: 3, lr: 0.5, flag: false, label: hi}\n"
      "steps: {a: {run: 'true'}}\n");
  EXPECT_TRUE(r.ok()) << r.status().message();
  return *r;
}

TEST(ParameterOverrides, ConvertToTheParameterType) {
  PipelineSpec s = WithParams();
  ASSERT_TRUE(ApplyParameterOverrides(&s, {"epochs=10", "lr=3", "flag=true", "label=a=b c"}).ok());
  EXPECT_TRUE(s.parameters["epochs"].is_number_integer());
  EXPECT_EQ(s.parameters["epochs"].get<int64_t>(), 10);
  EXPECT_TRUE(s.parameters["lr"].is_number_float())
      << "an int value keeps a float parameter a float";
  EXPECT_DOUBLE_EQ(s.parameters["lr"].get<double>(), 3.0);
  EXPECT_EQ(ParamToString(s.parameters["lr"]), "3.0");
  EXPECT_EQ(s.parameters["flag"], true);
  EXPECT_EQ(s.parameters["label"], "a=b c");  // only the first '=' separates

  ASSERT_TRUE(ApplyParameterOverrides(&s, {"flag=0", "label=", "lr=1e-3"}).ok());
  EXPECT_EQ(s.parameters["flag"], false);
  EXPECT_EQ(s.parameters["label"], "");
  EXPECT_DOUBLE_EQ(s.parameters["lr"].get<double>(), 0.001);
  ASSERT_TRUE(ApplyParameterOverrides(&s, {"label=42"}).ok());
  EXPECT_TRUE(s.parameters["label"].is_string()) << "a string parameter stays a string";
}

TEST(ParameterOverrides, RejectBadValues) {
  PipelineSpec s = WithParams();
  Status st = ApplyParameterOverrides(&s, {"epochs=2.5"});
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  // Named where the parameter is declared, with the value as it was given.
  EXPECT_EQ(st.message(), "p.yaml:2:14: error: parameter 'epochs' is an int; -p epochs=2.5 is not");
  st = ApplyParameterOverrides(&s, {"epochs="});
  EXPECT_FALSE(st.ok());
  st = ApplyParameterOverrides(&s, {"lr=fast"});
  EXPECT_EQ(st.message(), "p.yaml:2:25: error: parameter 'lr' is a float; -p lr=fast is not");
  st = ApplyParameterOverrides(&s, {"lr=nan"});
  EXPECT_FALSE(st.ok());
  st = ApplyParameterOverrides(&s, {"flag=yes"});
  EXPECT_EQ(st.message(), "p.yaml:2:34: error: parameter 'flag' is a bool; -p flag=yes is not");
  // A value that is not UTF-8, or too long to show, is named safely.
  st = ApplyParameterOverrides(&s, {"label=b\xff"});
  EXPECT_EQ(st.message(), "p.yaml:2:47: error: parameter 'label': -p label=b\\xFF is not valid UTF-8");
  st = ApplyParameterOverrides(&s, {"epochs=" + std::string(5000, '9')});
  EXPECT_LT(st.message().size(), 200u) << st.message();
  EXPECT_NE(st.message().find("999... is not"), std::string::npos) << st.message();
  st = ApplyParameterOverrides(&s, {"epochs"});
  EXPECT_EQ(st.message(), "parameter override 'epochs' is not NAME=VALUE");
  // Nothing was changed by the failed overrides.
  EXPECT_EQ(s.parameters["epochs"].get<int64_t>(), 3);
  EXPECT_DOUBLE_EQ(s.parameters["lr"].get<double>(), 0.5);
  EXPECT_EQ(s.parameters["flag"], false);
}

TEST(ParameterOverrides, AcceptTheBoolSpellingsThePipelineFileAccepts) {
  PipelineSpec s = WithParams();
  ASSERT_TRUE(ApplyParameterOverrides(&s, {"flag=TRUE"}).ok());
  EXPECT_EQ(s.parameters["flag"], true);
  ASSERT_TRUE(ApplyParameterOverrides(&s, {"flag=FALSE"}).ok());
  EXPECT_EQ(s.parameters["flag"], false);
}

TEST(ParameterOverrides, RejectUnknownNames) {
  PipelineSpec s = WithParams();
  Status st = ApplyParameterOverrides(&s, {"epoch=3"});
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.message(), "unknown parameter 'epoch' (parameters: epochs, flag, label, lr)");
  EXPECT_FALSE(s.parameters.contains("epoch"));

  auto none = Parse("name: x\nsteps: {a: {run: 'true'}}\n");
  ASSERT_TRUE(none.ok());
  st = ApplyParameterOverrides(&*none, {"x=1"});
  EXPECT_EQ(st.message(), "unknown parameter 'x' (the pipeline has no parameters)");
}

// ---------------------------------------------------------------------------------------------
// Durations, sizes, names

TEST(SpecValues, ParseDuration) {
  int64_t us = -1;
  EXPECT_TRUE(ParseDuration("30m", &us));
  EXPECT_EQ(us, 30LL * 60'000'000);
  EXPECT_TRUE(ParseDuration("1h30m", &us));
  EXPECT_EQ(us, 90LL * 60'000'000);
  EXPECT_TRUE(ParseDuration("500ms", &us));
  EXPECT_EQ(us, 500'000);
  EXPECT_TRUE(ParseDuration("10", &us));
  EXPECT_EQ(us, 10'000'000);
  EXPECT_TRUE(ParseDuration("1.5s", &us));
  EXPECT_EQ(us, 1'500'000);
  EXPECT_TRUE(ParseDuration("2d", &us));
  EXPECT_EQ(us, 2LL * 86400'000'000);
  EXPECT_TRUE(ParseDuration("1m30s", &us));
  EXPECT_EQ(us, 90'000'000);
  EXPECT_TRUE(ParseDuration("0s", &us));
  EXPECT_EQ(us, 0);

  us = 7;
  for (const char* bad : {"", "1h30", "-1s", "s", "10x", "1 m", "ten", "1mss", "+5s"}) {
    EXPECT_FALSE(ParseDuration(bad, &us)) << bad;
  }
  EXPECT_EQ(us, 7) << "a failed parse leaves the output alone";
}

TEST(SpecValues, ParseAndFormatMemory) {
  int64_t b = -1;
  EXPECT_TRUE(ParseMemory("512Mi", &b));
  EXPECT_EQ(b, 512LL << 20);
  EXPECT_TRUE(ParseMemory("4Gi", &b));
  EXPECT_EQ(b, 4LL << 30);
  EXPECT_TRUE(ParseMemory("1G", &b));
  EXPECT_EQ(b, 1'000'000'000);
  EXPECT_TRUE(ParseMemory("1000", &b));
  EXPECT_EQ(b, 1000);
  EXPECT_TRUE(ParseMemory("1.5Ki", &b));
  EXPECT_EQ(b, 1536);
  EXPECT_TRUE(ParseMemory("2k", &b));
  EXPECT_EQ(b, 2000);
  EXPECT_TRUE(ParseMemory("1Ti", &b));
  EXPECT_EQ(b, 1LL << 40);
  for (const char* bad : {"", "Gi", "4gb", "4 Gi", "-1Gi", "4GiB", "lots"}) {
    EXPECT_FALSE(ParseMemory(bad, &b)) << bad;
  }
  EXPECT_EQ(FormatMemory(4LL << 30), "4Gi");
  EXPECT_EQ(FormatMemory(512LL << 20), "512Mi");
  EXPECT_EQ(FormatMemory(1000), "1000");
  EXPECT_EQ(FormatMemory((1LL << 30) + (1LL << 20)), "1025Mi");
}

TEST(SpecValues, Names) {
  EXPECT_TRUE(IsValidStepName("train-v2_final"));
  EXPECT_TRUE(IsValidStepName(std::string(63, 'a')));
  EXPECT_FALSE(IsValidStepName(std::string(64, 'a')));
  EXPECT_FALSE(IsValidStepName(""));
  EXPECT_FALSE(IsValidStepName("a.b"));
  EXPECT_FALSE(IsValidStepName("a b"));
  EXPECT_TRUE(IsValidParamName("test_size"));
  EXPECT_TRUE(IsValidParamName("_x1"));
  EXPECT_TRUE(IsValidParamName("C"));
  EXPECT_FALSE(IsValidParamName("1x"));
  EXPECT_FALSE(IsValidParamName("test-size"));
  EXPECT_FALSE(IsValidParamName(""));
  EXPECT_FALSE(IsValidParamName(std::string(64, 'p')));
}

TEST(SpecValues, ClosestMatch) {
  EXPECT_EQ(ClosestMatch("outptus", StepKeys()), "outputs");
  EXPECT_EQ(ClosestMatch("reources", StepKeys()), "resources");
  EXPECT_EQ(ClosestMatch("xyzzyplugh", StepKeys()), "");
  EXPECT_EQ(ClosestMatch("run", {}), "");
}

TEST(SpecValues, FailureModeNames) {
  FailureMode m = FailureMode::kContinue;
  EXPECT_TRUE(ParseFailureMode("stop", &m));
  EXPECT_EQ(m, FailureMode::kStop);
  EXPECT_TRUE(ParseFailureMode("fail_fast", &m));
  EXPECT_EQ(m, FailureMode::kFailFast);
  EXPECT_FALSE(ParseFailureMode("fail-fast", &m));
  EXPECT_EQ(m, FailureMode::kFailFast);
  EXPECT_STREQ(FailureModeName(FailureMode::kStop), "stop");
  EXPECT_STREQ(FailureModeName(FailureMode::kContinue), "continue");
}

// ---------------------------------------------------------------------------------------------
// Canonical JSON

TEST(SpecJson, RoundTripKeepsEverything) {
  auto r = Parse(R"(name: full
parameters: {epochs: 3, lr: 1.0, flag: true, label: "7"}
defaults: {retries: {max: 2, delay: 5s, backoff: 1.5}, timeout: 30m, env: {A: "1"}}
failure_mode: stop
pools: {db: 2}
hooks: {on_success: 'echo ok'}
steps:
  load:
    run: load --out {{outputs.raw}}
    outputs: [raw]
    cache: {enabled: false, files: [load.py]}
    image: alpine
  train:
    run: [train, "{{inputs.data}}", "{{params.lr}}", "{{outputs.model}}"]
    inputs: {data: load.raw}
    outputs: [model]
    params: [epochs]
    resources: {cpu: 2.5, memory: 1Gi, gpu: 1, db: 1}
    hooks: {on_failure: 'echo bad'}
  report:
    run: report
    after: [train]
    settings: {timeout: 10s}
)");
  ASSERT_TRUE(r.ok()) << r.status().message();
  Json j = SpecToJson(*r);
  EXPECT_EQ(j["format"], 1);
  EXPECT_EQ(j["failure_mode"], "stop");
  EXPECT_EQ(j["steps"][1]["settings"]["resources"]["pools"]["db"], 1);
  EXPECT_EQ(j["steps"][1]["inputs"][0]["step"], "load");
  EXPECT_TRUE(j["parameters"]["lr"].is_number_float());

  // Through text, as a snapshot is stored.
  auto back = SpecFromJson(Json::parse(j.dump()));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(SpecToJson(*back), j);
  EXPECT_EQ(SpecToJson(*back).dump(), j.dump());

  const PipelineSpec& b = *back;
  EXPECT_EQ(b.failure_mode, FailureMode::kStop);
  EXPECT_EQ(b.pools.at("db"), 2);
  EXPECT_EQ(b.hooks.on_success, "echo ok");
  ASSERT_EQ(b.steps.size(), 3u);
  EXPECT_FALSE(b.steps[1].shell);
  EXPECT_EQ(b.steps[1].params, std::vector<std::string>{"epochs"});
  EXPECT_EQ(b.steps[1].hooks.on_failure, "echo bad");
  EXPECT_EQ(b.steps[2].after, std::vector<std::string>{"train"});
  EXPECT_EQ(*b.steps[2].settings.timeout_us, 10'000'000);
  EXPECT_EQ(*b.steps[0].settings.cache_files, std::vector<std::string>{"load.py"});
  EXPECT_FALSE(*b.steps[0].settings.cache);
  EXPECT_DOUBLE_EQ(b.defaults.retries().backoff, 1.5);
  EXPECT_EQ(b.parameters["label"], "7");
  EXPECT_TRUE(ValidatePipeline(b).empty());
}

TEST(SpecJson, RejectsOtherFormatsAndMalformedBodies) {
  auto r = Parse("name: x\nsteps: {a: {run: 'true'}}\n");
  ASSERT_TRUE(r.ok());
  Json j = SpecToJson(*r);
  Json other = j;
  other["format"] = 2;
  auto a = SpecFromJson(other);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().message(), "unsupported snapshot format");
  Json no_steps = j;
  no_steps.erase("steps");
  auto b = SpecFromJson(no_steps);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("malformed snapshot"), std::string::npos);
  Json bad_run = j;
  bad_run["steps"][0]["run"] = 5;
  EXPECT_FALSE(SpecFromJson(bad_run).ok());
}

TEST(SpecValidate, ProgrammaticSpecsAreValidatedToo) {
  // A C++-built pipeline has no file: its diagnostics say <pipeline>.
  PipelineSpec s;
  s.name = "cpp";
  StepSpec a;
  a.name = "a";
  a.run = {"true"};
  a.after = {"b"};
  StepSpec b = a;
  b.name = "b";
  b.after = {"a"};
  s.steps = {a, b};
  auto d = ValidatePipeline(s);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].message, "dependency cycle: a -> b -> a");
  EXPECT_EQ(d[0].ToString(), "<pipeline>: error: dependency cycle: a -> b -> a");

  // Undeclared pools are caught for C++ pipelines as well.
  PipelineSpec pooled;
  pooled.name = "cpp";
  StepSpec p;
  p.name = "p";
  p.run = {"true"};
  p.settings.pools["db"] = 1;
  pooled.steps = {p};
  auto pd = ValidatePipeline(pooled);
  ASSERT_EQ(pd.size(), 1u);
  EXPECT_NE(pd[0].message.find("pool 'db'"), std::string::npos) << pd[0].message;
  pooled.pools["db"] = 1;
  EXPECT_TRUE(ValidatePipeline(pooled).empty());

  PipelineSpec empty;
  auto e = ValidatePipeline(empty);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].message, "pipeline has no name");
  EXPECT_EQ(e[1].message, "pipeline has no steps");
}

TEST(SpecParser, SettingsMergeFieldByField) {
  auto r = Parse(R"(name: x
defaults:
  resources: {cpu: 2, memory: 1Gi}
  retries: {max: 3, delay: 2s}
  orchestrator:
    slurm: {partition: batch, qos: normal}
steps:
  a:
    run: "true"
    resources: {memory: 4Gi}
    retries: {backoff: 3}
    orchestrator:
      slurm: {partition: gpu}
)");
  ASSERT_TRUE(r.ok()) << r.status().message();
  Settings eff = r->EffectiveSettings(r->steps[0]);
  EXPECT_DOUBLE_EQ(eff.resources().cpu, 2);      // from defaults
  EXPECT_EQ(eff.resources().memory, 4LL << 30);  // the step's
  EXPECT_EQ(eff.retries().max, 3);
  EXPECT_EQ(eff.retries().delay_us, 2'000'000);
  EXPECT_DOUBLE_EQ(eff.retries().backoff, 3);
  EXPECT_EQ(eff.orchestrator["slurm"], (Json{{"partition", "gpu"}, {"qos", "normal"}}));
  EXPECT_EQ(eff.locs["orchestrator.slurm.partition"].line, 13);
}

TEST(SpecParser, RunConfigOverridesParametersAndSettingsWithLocations) {
  auto r = Parse(R"(name: x
parameters: {lr: 0.1, epochs: 3, tag: a}
defaults:
  timeout: 1m
steps:
  train:
    run: train {{params.lr}} {{params.epochs}}
    timeout: 5m
  eval:
    run: eval {{params.epochs}}
)");
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto rc = ParseRunConfigText(R"(parameters: {lr: 0.5}
settings:
  timeout: 10m
steps:
  eval:
    parameters: {epochs: 7}
    cache: false
run_name: "x-{{date}}-{{random}}"
schedule: "*/5 * * * 1-5"
)",
                               "run.yaml");
  ASSERT_TRUE(rc.ok()) << rc.status().message();
  PipelineSpec spec = *r;
  ASSERT_TRUE(ApplyRunConfig(*rc, &spec).ok());
  EXPECT_EQ(spec.parameters["lr"], 0.5);
  EXPECT_EQ(*spec.EffectiveSettings(*spec.FindStep("train")).timeout_us,
            600'000'000);  // run config beats the step
  EXPECT_EQ(spec.ParamValue(*spec.FindStep("eval"), "epochs"), 7);
  EXPECT_EQ(spec.ParamValue(*spec.FindStep("train"), "epochs"), 3);
  EXPECT_FALSE(*spec.EffectiveSettings(*spec.FindStep("eval")).cache);
  EXPECT_EQ(rc->schedule, "*/5 * * * 1-5");
  // The command line beats a step's run-config value.
  ASSERT_TRUE(ApplyParameterOverrides(&spec, {"epochs=9"}).ok());
  EXPECT_EQ(spec.ParamValue(*spec.FindStep("eval"), "epochs"), 9);

  auto bad =
      ParseRunConfigText("parameters: {lr: fast}\nsteps:\n  evall: {cache: false}\n", "bad.yaml");
  ASSERT_TRUE(bad.ok());
  PipelineSpec spec2 = *r;
  Status st = ApplyRunConfig(*bad, &spec2);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(
      st.message().find("bad.yaml:1:14: error: parameter 'lr' is a float; 'fast' is not a number"),
      std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find(
                "bad.yaml:3:3: error: the pipeline has no step 'evall' (did you mean 'eval'?)"),
            std::string::npos)
      << st.message();
  EXPECT_EQ(spec2.parameters["lr"], 0.1);  // nothing applied

  for (const char* text :
       {"schedule: '61 * * * *'\n", "schedule: '* * *'\n", "run_name: 'a/b'\n",
        "run_name: '{{nope}}'\n", "sttings: {}\n", "settings: {timeout: soon}\n"}) {
    auto e = ParseRunConfigText(text, "e.yaml");
    EXPECT_FALSE(e.ok()) << text;
    if (!e.ok()) {
      EXPECT_EQ(e.status().message().rfind("e.yaml:1:", 0), 0u) << e.status().message();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A conforming YAML reader, and what a pipeline file may not hold

TEST(SpecParserYaml, AnUnterminatedQuotedCommandIsInvalidYaml) {
  // yaml-cpp read this as `run: "echo hi\n"` and ran it.
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: \"echo hi\n",
      "4:11", "invalid YAML: double-quoted scalar without closing quote");
  // Another malformed file yaml-cpp accepted: text after a flow mapping.
  EXPECT_DIAG("name: x\nsteps: {a: {run: 'true'}} trailing\n", "2:27", "invalid YAML");
}

TEST(SpecParserYaml, UnknownTagsAreErrors) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a:\n"
      "    run: !include /etc/passwd\n",
      "4:10", "unknown tag '!include'");
  EXPECT_DIAG("name: x\nsteps: !!omap {a: {run: 'true'}}\n", "2:8", "unknown tag '!!omap'");
  EXPECT_DIAG("name: !!seq x\nsteps: {a: {run: 'true'}}\n", "1:7",
              "tag '!!seq' does not fit a scalar");
  EXPECT_DIAG("name: x\nparameters: {n: !!int many}\nsteps: {a: {run: 'true'}}\n", "2:17",
              "'many' is not an integer, as its tag '!!int' says");
  // The standard tags mean what they say.
  auto r = Parse(
      "name: !!str x\n"
      "parameters: {v: !!str 5, f: !!float 2, q: '7', b: !!bool true}\n"
      "steps: !!map {a: {run: !!str 'true', params: [v, f, q, b]}}\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->parameters["v"], "5");
  EXPECT_TRUE(r->parameters["f"].is_number_float());
  EXPECT_EQ(r->parameters["q"], "7");
  EXPECT_EQ(r->parameters["b"], true);
}

TEST(SpecParserYaml, ASecondDocumentIsAnError) {
  EXPECT_DIAG(
      "name: x\n"
      "steps: {a: {run: 'true'}}\n"
      "---\n"
      "name: y\n",
      "3:1", "a second YAML document");
  // One document, explicitly started and ended, is fine.
  EXPECT_TRUE(Parse("---\nname: x\nsteps: {a: {run: 'true'}}\n...\n").ok());
  auto rc = ParseRunConfigText("parameters: {a: 1}\n---\nparameters: {a: 2}\n", "rc.yaml");
  ASSERT_FALSE(rc.ok());
  EXPECT_NE(rc.status().message().find("rc.yaml:2:1: error: a second YAML document"),
            std::string::npos)
      << rc.status().message();
}

TEST(SpecParserYaml, DuplicateKeysNameBothPlaces) {
  EXPECT_DIAG(
      "name: x\n"
      "steps:\n"
      "  a: {run: 'true'}\n"
      "  a: {run: 'false'}\n",
      "4:3", "duplicate key 'a' in steps (first at 3:3)");
}

// The classic "billion laughs": nine levels of ten aliases each, 10^9 nodes once expanded.
std::string Laughs(int levels, const std::string& where) {
  std::string y = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < levels; ++i) {
    std::string p = "*l" + std::to_string(i - 1);
    y += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [" + p;
    for (int k = 1; k < 10; ++k) y += ", " + p;
    y += "]\n";
  }
  return "name: x\nsteps: {a: {run: 'true'}}\nx-anchors:\n" +
         [&] {
           std::string indented;
           size_t start = 0;
           while (start < y.size()) {
             size_t nl = y.find('\n', start);
             indented += "  " + y.substr(start, nl - start + 1);
             start = nl + 1;
           }
           return indented;
         }() +
         where + " *l" + std::to_string(levels - 1) + "\n";
}

TEST(SpecParserYaml, AliasBombsStopAtABoundWithAClearError) {
  // Expanded, this document holds 10^9 nodes: it is refused at the alias that passes the bound,
  // without expanding it.
  std::string msg = Errors(Laughs(9, "failure_mode:"));
  EXPECT_NE(msg.find("error: aliases in this document expand to more than 1000000 nodes"),
            std::string::npos)
      << msg.substr(0, 500);
  EXPECT_LT(msg.size(), 1000u);
  // A smaller one (10^4 nodes) that lands in a value which fails validation: the message does not
  // render the value.
  msg = Errors(Laughs(5, "description: x\nfailure_mode:"));
  EXPECT_NE(msg.find("failure_mode must be a string, not a list"), std::string::npos)
      << msg.substr(0, 500);
  EXPECT_LT(msg.size(), 1000u) << msg.substr(0, 500);
  // In an orchestrator block the whole value is read, still bounded.
  msg = Errors(
      "name: x\nsteps:\n  a:\n    run: 'true'\n    orchestrator:\n      local:\n        k: &k [1, "
      "2]\n"
      "    inputs: *k\n");
  EXPECT_NE(msg.find("inputs of step 'a' must be a mapping, not a list"), std::string::npos) << msg;
}

TEST(SpecParserYaml, DeepNestingIsRefusedWithTheLimit) {
  std::string deep = "name: x\nsteps: {a: {run: 'true'}}\ndescription: " + std::string(200, '[') +
                     std::string(200, ']') + "\n";
  std::string msg = Errors(deep);
  EXPECT_NE(msg.find("error: nesting deeper than 64 levels"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("bad file"), std::string::npos) << msg;
  // Aliases count with their expansion.
  std::string nested = "a: &a " + std::string(40, '[') + std::string(40, ']') +
                       "\nb: [[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]\n";
  msg =
      Errors("name: x\nsteps: {a: {run: 'true'}}\nx:\n  " +
             nested.substr(0, nested.find('\n') + 1) + "  " + nested.substr(nested.find('\n') + 1));
  EXPECT_NE(msg.find("nesting deeper than 64 levels"), std::string::npos) << msg;
}

TEST(SpecParserYaml, ValuesInMessagesAreCut) {
  std::string huge(100000, 'z');
  std::string msg = Errors("name: x\nfailure_mode: " + huge + "\nsteps: {a: {run: 'true'}}\n");
  EXPECT_NE(msg.find("failure_mode must be continue, stop or fail_fast, not 'zzzz"),
            std::string::npos)
      << msg.substr(0, 300);
  EXPECT_NE(msg.find("zzz...'"), std::string::npos) << msg.substr(0, 300);
  EXPECT_LT(msg.size(), 400u);
  msg = Errors("name: x\n" + huge + ": 1\nsteps: {a: {run: 'true'}}\n");
  EXPECT_NE(msg.find("unknown key 'zzz"), std::string::npos) << msg.substr(0, 300);
  EXPECT_LT(msg.size(), 400u);
}

TEST(SpecParserYaml, BadBytesAreLocatedErrors) {
  EXPECT_DIAG("name: x\nsteps:\n  a:\n    run: echo \xff\xfe\n", "4:15",
              "invalid UTF-8 (byte 0xFF)");
  EXPECT_DIAG(std::string("name: x\nsteps:\n  a:\n    run: \"echo \0;\"\n", 39), "4:16",
              "character U+0000 is not allowed in YAML");
  EXPECT_DIAG("name: x\nparameters: {v: \"\xc3\x28\"}\nsteps: {a: {run: 'true'}}\n", "2:18",
              "invalid UTF-8 (byte 0xC3)");
  // Characters of other scripts are fine, and columns count characters.
  auto r =
      Parse("name: x\nparameters: {v: \"h\xc3\xa9llo\"}\nsteps: {a: {run: 'echo {{params.v}}'}}\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->parameters["v"], "h\xc3\xa9llo");
}

TEST(SpecParserYaml, RunConfigsAreReadTheSameWay) {
  for (const char* text : {"parameters: {lr: \"0.5\n", "parameters: {lr: !env LR}\n",
                           "parameters: {lr: 1, lr: 2}\n"}) {
    auto e = ParseRunConfigText(text, "e.yaml");
    EXPECT_FALSE(e.ok()) << text;
    if (!e.ok()) {
      EXPECT_EQ(e.status().message().rfind("e.yaml:1:", 0), 0u) << e.status().message();
    }
  }
  EXPECT_TRUE(ParseRunConfigText("", "e.yaml").ok());
  EXPECT_TRUE(ParseRunConfigText("# nothing\n", "e.yaml").ok());
}

TEST(SpecResources, EffectiveResourcesAreTheMergedSettingsResources) {
  auto spec = ParsePipelineText(
      "name: x\n"
      "pools: {db: 4, lic: 2}\n"
      "defaults: {resources: {cpu: 2, memory: 1Gi, db: 1}}\n"
      "steps:\n"
      "  plain: {run: 'true'}\n"
      "  gpu: {run: 'true', resources: {gpu: 1, lic: 2}}\n"
      "  small: {run: 'true', resources: {cpu: 0.5, memory: 64Mi, db: 3}}\n",
      "p.yaml", "/root");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  for (const StepSpec& s : spec->steps) {
    Resources merged = spec->EffectiveSettings(s).resources();
    Resources r = spec->EffectiveResources(s);
    EXPECT_EQ(r.cpu, merged.cpu) << s.name;
    EXPECT_EQ(r.memory, merged.memory) << s.name;
    EXPECT_EQ(r.gpu, merged.gpu) << s.name;
    EXPECT_EQ(r.pools, merged.pools) << s.name;
  }
  const StepSpec* small = spec->FindStep("small");
  EXPECT_EQ(spec->EffectiveResources(*small).cpu, 0.5);
  EXPECT_EQ(spec->EffectiveResources(*small).memory, int64_t{64} << 20);
  EXPECT_EQ(spec->EffectiveResources(*small).pools.at("db"), 3);
  const StepSpec* gpu = spec->FindStep("gpu");
  EXPECT_EQ(spec->EffectiveResources(*gpu).cpu, 2);
  EXPECT_EQ(spec->EffectiveResources(*gpu).gpu, 1);
  EXPECT_EQ(spec->EffectiveResources(*gpu).pools, (std::map<std::string, int64_t>{{"db", 1}, {"lic", 2}}));
}

}  // namespace
}  // namespace baton
