// libFuzzer target for run-config files (`baton run -c run.yaml`): any input must give a
// RunConfig or located diagnostics, never a crash, a hang or undefined behaviour; a run config
// that parses is applied to a small pipeline, which must succeed or give diagnostics.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/spec.h"
#include "core/spec_parser.h"

namespace {

const baton::PipelineSpec& Pipeline() {
  static const baton::PipelineSpec* spec = [] {
    auto r = baton::ParsePipelineText(
        "name: fz\n"
        "parameters: {lr: 0.5, epochs: 3, flag: false, label: hi}\n"
        "pools: {db: 2}\n"
        "steps:\n"
        "  load: {run: 'echo {{params.label}} > {{outputs.raw}}', outputs: [raw]}\n"
        "  train: {run: [cat, '{{inputs.raw}}'], inputs: {raw: load.raw}, params: [lr, epochs, "
        "flag]}\n",
        "fz.yaml", "/");
    if (!r.ok()) __builtin_trap();
    return new baton::PipelineSpec(std::move(*r));
  }();
  return *spec;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto rc = baton::ParseRunConfigText(text, "fuzz.yaml");
  if (!rc.ok()) {
    // Every diagnostic names the file.
    if (rc.status().message().rfind("fuzz.yaml:", 0) != 0) __builtin_trap();
    return 0;
  }
  baton::PipelineSpec spec = Pipeline();
  (void)baton::ApplyRunConfig(*rc, &spec);
  return 0;
}
