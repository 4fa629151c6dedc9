// libFuzzer target for the pipeline file parser and the template parser: any input must give a
// PipelineSpec or diagnostics, never a crash, a hang or undefined behaviour. A valid spec must
// survive the snapshot round trip unchanged.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/spec.h"
#include "core/spec_parser.h"
#include "core/template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)baton::ParseTemplate(text);
  auto spec = baton::ParsePipelineText(text, "fuzz.yaml", "/");
  if (spec.ok()) {
    baton::Json j = baton::SpecToJson(*spec);
    auto back = baton::SpecFromJson(j);
    if (!back.ok() || baton::SpecToJson(*back) != j) __builtin_trap();
  }
  return 0;
}
