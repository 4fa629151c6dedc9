// Micro-benchmarks of the engine's pure parts: validation and planning of large pipelines.

#include <benchmark/benchmark.h>

#include "core/plan.h"
#include "core/spec.h"

namespace baton {
namespace {

// A layered DAG: `width` steps per layer, each reading two outputs of the previous layer.
PipelineSpec Layered(int steps, int width) {
  PipelineSpec spec;
  spec.name = "bench";
  spec.file = "bench.yaml";
  spec.steps.reserve(static_cast<size_t>(steps));
  for (int i = 0; i < steps; ++i) {
    StepSpec s;
    s.name = "s" + std::to_string(i);
    s.shell = true;
    s.outputs = {"out"};
    std::string cmd = "cat";
    int layer = i / width;
    if (layer > 0) {
      int base = (layer - 1) * width;
      int a = base + (i % width), b = base + ((i * 7 + 3) % width);
      s.inputs.push_back({"a", "s" + std::to_string(a), "out", {}, {}, {}});
      if (b != a) s.inputs.push_back({"b", "s" + std::to_string(b), "out", {}, {}, {}});
      cmd += " {{inputs.a}}";
      if (b != a) cmd += " {{inputs.b}}";
    }
    s.run = {cmd + " > {{outputs.out}}"};
    spec.steps.push_back(std::move(s));
  }
  return spec;
}

void BM_Validate(benchmark::State& state) {
  PipelineSpec spec = Layered(static_cast<int>(state.range(0)), 50);
  for (auto _ : state) {
    auto d = ValidatePipeline(spec);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Validate)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

// Builds the plan and drains it as an executor with 2 slots would: start, finish, repeat.
void BM_PlanDrain(benchmark::State& state) {
  PipelineSpec spec = Layered(static_cast<int>(state.range(0)), 50);
  Capacity cap;
  cap.cpu = 2;
  for (auto _ : state) {
    Plan plan(spec, cap);
    std::string unsat;
    while (!plan.AllDone()) {
      int a = plan.NextToStart(&unsat);
      int b = plan.NextToStart(&unsat);
      if (a >= 0) plan.Finished(a, true);
      if (b >= 0) plan.Finished(b, true);
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_PlanDrain)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace baton

BENCHMARK_MAIN();
