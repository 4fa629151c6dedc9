// C++ pipelines for the tests of the C++ API, one binary, the pipeline chosen by
// BATON_TEST_PIPELINE: mixed (in-process and command steps, every built-in materializer),
// failing (a step that throws), v1/v2 (the same step names with other types, to check that
// loading an artifact as the wrong type fails clearly), many (N no-op steps, for the benchmark),
// invalid (a cycle: the same validation as pipeline files).

#include <baton/pipeline.h>

#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace {

using baton::StepContext;

baton::Pipeline Mixed() {
  baton::Pipeline p("mixed");
  p.Param("scale", 2.0).Param("label", std::string("run"));
  auto numbers = p.Step("numbers", [](StepContext& ctx) {
    double s = ctx.Param<double>("scale");
    ctx.Log() << "scaling by " << s << "\n";
    return std::vector<double>{1 * s, 2 * s, 3 * s};
  });
  // A command step reads the JSON list the in-process step wrote and writes a plain number.
  auto total = p.Command("total", "tr -d '[]' < {{inputs.xs}} | tr ',' '\\n' | awk '{s+=$1} END {print s}' > {{outputs.sum}}");
  total.Input("xs", numbers.out());
  auto sum = total.Produces<double>("sum");
  auto facts = p.Step("facts", [](StepContext& ctx, const std::vector<double>& xs, const double& s) {
    ctx.LogMetadata("count", xs.size());
    ctx.LogMetadata("sum", s);
    std::map<std::string, int> counts{{"items", static_cast<int>(xs.size())}, {"sum", static_cast<int>(s)}};
    return std::make_tuple(counts, s > 10, baton::Bytes{std::string("\0\x01raw", 5)}, std::string("label=") + ctx.Param<std::string>("label"));
  }, numbers.out(), sum);
  facts.Named({"counts", "big", "raw", "text"});
  auto tree = p.Step("tree", [](StepContext& ctx, const std::map<std::string, int>& counts) {
    std::string dir = "tree-" + ctx.run_id();
    ::mkdir(dir.c_str(), 0755);
    for (const auto& [k, v] : counts) std::ofstream(dir + "/" + k) << v << "\n";
    return baton::Directory{dir};
  }, facts.out<0>());
  p.Step("check", [](StepContext& ctx, const bool& big, const baton::Bytes& raw, const std::string& text,
                     const baton::Directory& dir) {
    if (!big) throw std::runtime_error("expected a big sum");
    if (raw.data != std::string("\0\x01raw", 5)) throw std::runtime_error("bytes changed on the way");
    std::ifstream f(dir.path + "/items");
    int items = 0;
    f >> items;
    ctx.LogMetadata("items", items);
    ctx.LogMetadata("text", text);
  }, facts.out<1>(), facts.out<2>(), facts.out<3>(), tree.out());
  return p;
}

baton::Pipeline Failing() {
  baton::Pipeline p("failing");
  auto a = p.Step("a", [](StepContext&) -> int { throw std::runtime_error("bad data in row 7"); });
  p.Step("b", [](StepContext&, const int& x) { return x + 1; }, a.out());
  p.Step("c", [](StepContext&) { return std::string("independent"); });
  // Fails its first attempt only: the retry policy applies to in-process steps too.
  p.Step("flaky", [](StepContext& ctx) {
    if (ctx.attempt() == 1) throw std::runtime_error("transient");
    return ctx.attempt();
  }).Retries(1);
  return p;
}

// v1 writes a string and reads it; v2 has the same steps reading an int.
baton::Pipeline Versioned(bool v2) {
  baton::Pipeline p("versioned");
  if (!v2) {
    auto a = p.Step("a", [](StepContext&) { return std::string("hello"); });
    p.Step("b", [](StepContext&, const std::string& s) {
      if (std::getenv("FAIL_B")) throw std::runtime_error("asked to fail");
      return s.size();
    }, a.out());
  } else {
    auto a = p.Step("a", [](StepContext&) { return 42; });
    p.Step("b", [](StepContext&, const int& n) { return static_cast<unsigned long>(n); }, a.out());
  }
  return p;
}

baton::Pipeline Many(int n) {
  baton::Pipeline p("many");
  // Layers of 100 steps; each step runs after one step of the layer before.
  for (int i = 0; i < n; ++i) {
    auto s = p.Step("s" + std::to_string(i), [](StepContext&) {});
    if (i >= 100) s.After("s" + std::to_string((i / 100 - 1) * 100 + (i * 7) % 100));
  }
  return p;
}

// A sweep in C++: a typed matrix of in-process training steps, a for_each over a list one of
// them returns, every instance's output gathered by a command, and a deploy behind a condition.
baton::Pipeline Sweep(double threshold) {
  baton::Pipeline p("sweep");
  auto train = p.Step("train", [](StepContext& ctx) {
    const double c = ctx.Matrix<double>("C");
    const std::string penalty = ctx.Matrix<std::string>("penalty");
    double acc = std::round((0.8 + c / 100 + (penalty == "l2" ? 0.01 : 0.0)) * 1000) / 1000;
    ctx.LogMetadata("accuracy", acc);
    return acc;
  });
  train.Matrix("C", std::vector<double>{0.1, 1, 10}).Matrix("penalty", std::vector<std::string>{"l1", "l2"});
  train.MatrixExclude({{"C", 0.1}, {"penalty", "l2"}});
  auto shards = p.Step("shards", [](StepContext&) { return std::vector<int>{3, 1, 2}; });
  auto work = p.Step("work", [](StepContext& ctx) { return ctx.Item<int>() * 10 + static_cast<int>(ctx.ItemIndex()); });
  work.ForEach(shards.out(), /*max=*/10, /*parallel=*/2);
  auto gather = p.Command("gather", "cat {{inputs.scores}} {{inputs.works}} > {{outputs.all}}");
  gather.InputAll("scores", train.out()).InputAll("works", work.out());
  gather.Produces("all");
  p.Command("deploy", "echo deployed")
      .When(baton::Metadata("train[C=10,penalty=l2]", "accuracy") > threshold && baton::ParamValue("go") == true);
  p.Param("go", true);
  return p;
}

baton::Pipeline Invalid() {
  baton::Pipeline p("invalid");
  p.Step("a", [](StepContext&) {}).After("b");
  p.Step("b", [](StepContext&) {}).After("a");
  p.Step("c", [](StepContext&) {}).Timeout("soon");
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  const char* which = std::getenv("BATON_TEST_PIPELINE");
  std::string w = which ? which : "mixed";
  const char* n = std::getenv("BATON_TEST_STEPS");
  baton::Pipeline p = w == "failing" ? Failing()
                      : w == "v1"    ? Versioned(false)
                      : w == "v2"    ? Versioned(true)
                      : w == "many"  ? Many(n ? std::atoi(n) : 10000)
                      : w == "invalid" ? Invalid()
                      : w == "sweep"   ? Sweep(0.5)
                      : w == "sweep_high" ? Sweep(0.99)
                                       : Mixed();
  return baton::Main(p, argc, argv);
}
