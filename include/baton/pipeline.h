#pragma once
// The C++ pipeline API: define a pipeline in C++, with steps as functions or lambdas whose typed
// inputs and outputs become artifacts through materializers, mixed with command steps, and make
// your binary a full baton CLI for it with baton::Main:
//
//   baton::Pipeline p("train");
//   p.Param("lr", 0.1);
//   auto data  = p.Step("load", [](baton::StepContext&) { return std::vector<double>{1, 2, 3}; });
//   auto model = p.Step("fit", [](baton::StepContext& ctx, const std::vector<double>& xs) {
//                  ctx.LogMetadata("n", xs.size());
//                  return Model::Fit(xs, ctx.Param<double>("lr"));
//                }, data.out());
//   int main(int argc, char** argv) { return baton::Main(p, argc, argv); }
//
// Wiring an output of one type into an input of another does not compile. Everything else
// (names, cycles, duplicate steps, templates of command steps) is checked by the same
// validation as pipeline files, when the binary starts.

#include <cstddef>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/materializer.h"
#include "baton/status.h"
#include "baton/step_context.h"

namespace baton {

class Pipeline;

// A typed output of a step, to wire into other steps.
template <typename T>
class Output {
 public:
  using value_type = T;
  Output(int step, int index) : step_(step), index_(index) {}
  int step() const { return step_; }
  int index() const { return index_; }

 private:
  int step_;
  int index_;
};

// Settings of one step, chained: .After("x").Retries(2, "1s").Timeout("10m")... The same keys as
// in pipeline files; bad values (a duration that does not parse) are reported by validation.
class StepSettings {
 public:
  StepSettings(Pipeline* p, int step) : p_(p), step_(step) {}
  StepSettings& After(const std::string& step);
  StepSettings& Retries(int max, const std::string& delay = "0s", double backoff = 2.0);
  StepSettings& Timeout(const std::string& duration);
  StepSettings& Resources(double cpu, const std::string& memory = "", int gpu = 0);
  StepSettings& Cache(bool enabled);
  StepSettings& Env(const std::string& name, const std::string& value);
  StepSettings& Image(const std::string& image);
  // The parameters an in-process step reads (default: all of them). Only these join its cache
  // key, so changing another parameter does not re-run it.
  StepSettings& Uses(const std::vector<std::string>& params);
  // Joins the cache key of an in-process step: change it when the function's code changes.
  StepSettings& Version(const std::string& version);
  // A flavor-specific setting, as under `orchestrator: {FLAVOR: {key: value}}`.
  StepSettings& Orchestrator(const std::string& flavor, const std::string& key, nlohmann::json value);
  // Names the outputs (default "out", or "out0", "out1", ... for a tuple).
  StepSettings& Named(const std::vector<std::string>& outputs);

  // A matrix axis: the step runs once per combination of its axes' values, as instances named
  // STEP[AXIS=VALUE,...] (like `matrix:` in a pipeline file). In-process steps read their values
  // with StepContext::Matrix<T>(axis), command steps with {{matrix.AXIS}}.
  template <typename T>
  StepSettings& Matrix(const std::string& axis, const std::vector<T>& values) {
    std::vector<nlohmann::json> v;
    for (const auto& x : values) v.emplace_back(x);
    return AddMatrixAxis(axis, std::move(v));
  }
  // A combination added to the matrix ({"C": 100, "penalty": "l1"}), or every combination
  // matching `partial` removed.
  StepSettings& MatrixInclude(nlohmann::json combination);
  StepSettings& MatrixExclude(nlohmann::json partial);
  // The same combinations as matrix step `step` (like `matrix: STEP`): reading that step's
  // output then reads the instance with the same values.
  StepSettings& MatrixOf(const std::string& step);
  // Runs the step only when `condition` holds (like `when:`); else it is recorded skipped.
  StepSettings& When(const class WhenCondition& condition);
  StepSettings& When(const std::string& expression);
  // Runs the step once per element of `list` (like `for_each:`), known when the run gets there.
  // In-process steps read the element with StepContext::Item<T>(), command steps with
  // {{item}}; at most `max` elements (0: the global bound), `parallel` at once (0: no bound).
  template <typename T>
  StepSettings& ForEach(const Output<std::vector<T>>& list, int64_t max = 0, int parallel = 0) {
    return SetForEach(list.step(), list.index(), "json", max, parallel);
  }
  // A file output: one element per line.
  StepSettings& ForEachLine(const Output<File>& list, int64_t max = 0, int parallel = 0) {
    return SetForEach(list.step(), list.index(), "lines", max, parallel);
  }
  int index() const { return step_; }

 protected:
  StepSettings& AddMatrixAxis(const std::string& axis, std::vector<nlohmann::json> values);
  StepSettings& SetForEach(int step, int index, const std::string& as, int64_t max, int parallel);
  Pipeline* p_;
  int step_;
};

// A value a condition compares: metadata an upstream step recorded, a small JSON output, a
// parameter or a matrix value. Compared with a literal or another value, it makes a WhenCondition;
// conditions combine with &&, || and !. Written out, it is the expression language of `when:`.
class WhenValue {
 public:
  explicit WhenValue(std::string ref) : text_("{{" + std::move(ref) + "}}") {}
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};
WhenValue Metadata(const std::string& step, const std::string& key);
WhenValue OutputValue(const std::string& step, const std::string& output, const std::string& key = "");
WhenValue ParamValue(const std::string& name);
WhenValue MatrixValue(const std::string& axis);

class WhenCondition {
 public:
  explicit WhenCondition(std::string expression) : text_(std::move(expression)) {}
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};
// A literal as the expression language writes it ('...' strings, true/false, numbers).
std::string WhenLiteral(const nlohmann::json& value);
WhenCondition Compare(const WhenValue& a, const char* op, const std::string& b);
template <typename T>
WhenCondition operator>(const WhenValue& a, const T& b) { return Compare(a, ">", WhenLiteral(b)); }
template <typename T>
WhenCondition operator>=(const WhenValue& a, const T& b) { return Compare(a, ">=", WhenLiteral(b)); }
template <typename T>
WhenCondition operator<(const WhenValue& a, const T& b) { return Compare(a, "<", WhenLiteral(b)); }
template <typename T>
WhenCondition operator<=(const WhenValue& a, const T& b) { return Compare(a, "<=", WhenLiteral(b)); }
template <typename T>
WhenCondition operator==(const WhenValue& a, const T& b) { return Compare(a, "==", WhenLiteral(b)); }
template <typename T>
WhenCondition operator!=(const WhenValue& a, const T& b) { return Compare(a, "!=", WhenLiteral(b)); }
inline WhenCondition operator>(const WhenValue& a, const WhenValue& b) { return Compare(a, ">", b.text()); }
inline WhenCondition operator<(const WhenValue& a, const WhenValue& b) { return Compare(a, "<", b.text()); }
inline WhenCondition operator==(const WhenValue& a, const WhenValue& b) { return Compare(a, "==", b.text()); }
inline WhenCondition operator&&(const WhenCondition& a, const WhenCondition& b) { return WhenCondition("(" + a.text() + ") and (" + b.text() + ")"); }
inline WhenCondition operator||(const WhenCondition& a, const WhenCondition& b) { return WhenCondition("(" + a.text() + ") or (" + b.text() + ")"); }
inline WhenCondition operator!(const WhenCondition& a) { return WhenCondition("not (" + a.text() + ")"); }

// An in-process step returning R (void: no output; std::tuple<A, B>: two outputs).
template <typename R>
class StepRef : public StepSettings {
 public:
  using StepSettings::StepSettings;
  Output<R> out() const {
    static_assert(!std::is_void_v<R>, "this step returns nothing");
    return Output<R>(step_, 0);
  }
  template <std::size_t I>
  Output<std::tuple_element_t<I, R>> out() const {
    return Output<std::tuple_element_t<I, R>>(step_, static_cast<int>(I));
  }
};

// A command step: `run` as in pipeline files, with {{inputs.x}}, {{outputs.y}}, {{params.z}}.
class CommandRef : public StepSettings {
 public:
  using StepSettings::StepSettings;
  // Feeds an output of another step to this command as {{inputs.NAME}}.
  template <typename T>
  CommandRef& Input(const std::string& name, const Output<T>& from) {
    AddInput(name, from.step(), from.index());
    return *this;
  }
  // Feeds every instance's output of matrix or for_each step `from` as one list input (like
  // `STEP[*].OUTPUT`): {{inputs.NAME}} stands for one path per instance, in order.
  template <typename T>
  CommandRef& InputAll(const std::string& name, const Output<T>& from) {
    AddInput(name, from.step(), from.index(), "*");
    return *this;
  }
  // Declares an output the command writes to {{outputs.NAME}}; read as T by the steps it feeds.
  template <typename T = File>
  Output<T> Produces(const std::string& name) {
    return Output<T>(step_, AddOutput(name));
  }

 private:
  void AddInput(const std::string& name, int step, int index, const std::string& selector = "");
  int AddOutput(const std::string& name);
};

namespace detail {

template <typename T>
struct IsTuple : std::false_type {};
template <typename... Ts>
struct IsTuple<std::tuple<Ts...>> : std::true_type {};

struct TypeDecl {
  std::string materializer, type;
};
template <typename T>
TypeDecl DeclOf() {
  using M = Materializer<std::decay_t<T>>;
  return {M::Name(), M::Type()};
}

template <typename R>
std::vector<TypeDecl> OutputDecls() {
  if constexpr (std::is_void_v<R>) {
    return {};
  } else if constexpr (IsTuple<R>::value) {
    return []<std::size_t... I>(std::index_sequence<I...>) {
      return std::vector<TypeDecl>{DeclOf<std::tuple_element_t<I, R>>()...};
    }(std::make_index_sequence<std::tuple_size_v<R>>());
  } else {
    return {DeclOf<R>()};
  }
}

template <typename R>
void SaveOutputs(const R& r, const std::vector<std::string>& paths) {
  if constexpr (IsTuple<R>::value) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (Materializer<std::decay_t<std::tuple_element_t<I, R>>>::Save(std::get<I>(r), paths.at(I)), ...);
    }(std::make_index_sequence<std::tuple_size_v<R>>());
  } else {
    Materializer<std::decay_t<R>>::Save(r, paths.at(0));
  }
}

}  // namespace detail

class Pipeline {
 public:
  explicit Pipeline(std::string name);
  ~Pipeline();
  Pipeline(Pipeline&&) noexcept;
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // A parameter, typed by its default (bool, integer, floating point or string).
  template <typename T>
  Pipeline& Param(const std::string& name, T default_value) {
    AddParam(name, nlohmann::json(default_value));
    return *this;
  }

  // An in-process step. `fn` takes a StepContext& and then one value per input, in order, each
  // of the type of the Output<T> wired to it, and returns the step's output(s).
  template <typename F, typename... In>
  auto Step(const std::string& name, F fn, const Output<In>&... inputs) {
    static_assert(std::is_invocable_v<F&, StepContext&, const In&...>,
                  "the step function must take (baton::StepContext&, const In&...) matching the types of the "
                  "outputs wired to it, in order");
    using R = std::invoke_result_t<F&, StepContext&, const In&...>;
    StepBody body = [fn](StepContext& ctx, const std::vector<std::string>& in, const std::vector<std::string>& out) mutable {
      auto args = [&]<std::size_t... I>(std::index_sequence<I...>) {
        return std::tuple<std::decay_t<In>...>(Materializer<std::decay_t<In>>::Load(in.at(I))...);
      }(std::index_sequence_for<In...>());
      if constexpr (std::is_void_v<R>) {
        std::apply([&](auto&... a) { fn(ctx, a...); }, args);
      } else {
        R r = std::apply([&](auto&... a) { return fn(ctx, a...); }, args);
        detail::SaveOutputs(r, out);
      }
    };
    std::vector<std::pair<int, int>> wired = {{inputs.step(), inputs.index()}...};
    std::vector<detail::TypeDecl> in_types = {detail::DeclOf<In>()...};
    int index = AddFunctionStep(name, std::move(wired), std::move(in_types), detail::OutputDecls<R>(), std::move(body));
    return StepRef<R>(this, index);
  }

  // A command step (a shell string, like `run:` in a pipeline file).
  CommandRef Command(const std::string& name, const std::string& run);
  // A command step given as an argv list (exec'd without a shell).
  CommandRef Command(const std::string& name, const std::vector<std::string>& argv);

  // Settings for every step (like `defaults:` in a pipeline file).
  StepSettings Defaults() { return StepSettings(this, -1); }

  // Runs the same validation as for pipeline files; the message lists every problem.
  Status Validate() const;
  const std::string& name() const;

  // Internal: the pipeline's data (spec and step functions), for baton::Main and tests.
  struct Data;
  Data& data() { return *d_; }
  const Data& data() const { return *d_; }

 private:
  void AddParam(const std::string& name, nlohmann::json value);
  int AddFunctionStep(const std::string& name, std::vector<std::pair<int, int>> inputs,
                      std::vector<detail::TypeDecl> input_types, std::vector<detail::TypeDecl> output_types,
                      StepBody body);
  std::unique_ptr<Data> d_;
};

// Makes the calling binary a baton CLI for `pipeline`: `run` (no pipeline file argument),
// `compile`, `config template`, `runs ...`, `artifacts ...`, `stack ...`, and the step entrypoint
// `step run`, which remote backends execute. Returns the exit code.
int Main(const Pipeline& pipeline, int argc, char** argv);

}  // namespace baton
