#pragma once
// StepContext: what an in-process C++ step sees of its run: parameters, its log, metadata
// (metrics) it records, and whether it was asked to stop.

#include <atomic>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace baton {

class StepContext {
 public:
  StepContext(std::string run_id, std::string step, int attempt, nlohmann::json params, std::string log_path,
              const std::atomic<bool>* stop);

  const std::string& run_id() const { return run_id_; }
  const std::string& step() const { return step_; }
  int attempt() const { return attempt_; }

  // A pipeline parameter's value, as `T`. Throws std::runtime_error when there is none or it
  // does not convert.
  template <typename T>
  T Param(const std::string& name) const {
    auto it = params_.find(name);
    if (it == params_.end())
      throw std::runtime_error("step '" + step_ + "' has no parameter '" + name +
                               "' (the pipeline lacks it, or the step's Uses() does not name it)");
    try {
      return it->template get<T>();
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error("parameter '" + name + "': " + e.what());
    }
  }

  // An instance of a matrix step: the value of `axis`, as `T`. Throws std::runtime_error when
  // the step has no such axis.
  template <typename T>
  T Matrix(const std::string& axis) const {
    const nlohmann::json& m = instance_.contains("matrix") ? instance_["matrix"] : nlohmann::json::object();
    if (!m.contains(axis)) throw std::runtime_error("step '" + step_ + "' has no matrix axis '" + axis + "'");
    return m[axis].template get<T>();
  }
  // An instance of a for_each step: its element, as `T`, and its index. Throws std::runtime_error
  // for a step that is no such instance.
  template <typename T>
  T Item() const {
    if (!instance_.contains("item")) throw std::runtime_error("step '" + step_ + "' is no for_each instance");
    return instance_["item"].template get<T>();
  }
  int64_t ItemIndex() const { return instance_.value("index", int64_t{-1}); }
  // Set by baton: {"matrix": {...}} or {"item": ..., "index": N}.
  void SetInstance(nlohmann::json instance) { instance_ = std::move(instance); }

  // Records metadata (metrics such as accuracy) on the step run, shown by `runs show`.
  void LogMetadata(const std::string& key, nlohmann::json value) { metadata_[key] = std::move(value); }
  const nlohmann::json& metadata() const { return metadata_; }

  // The attempt's log (what `baton runs logs RUN STEP` shows). Created on first use.
  std::ostream& Log() {
    if (!log_.is_open() && !log_path_.empty()) log_.open(log_path_, std::ios::out | std::ios::trunc);
    return log_;
  }

  // True once the run is stopped or the step timed out: return (or throw) soon.
  bool StopRequested() const { return stop_ != nullptr && stop_->load(); }

 private:
  std::string run_id_, step_;
  int attempt_;
  nlohmann::json params_;
  nlohmann::json metadata_ = nlohmann::json::object();
  nlohmann::json instance_ = nlohmann::json::object();
  std::string log_path_;
  std::ofstream log_;
  const std::atomic<bool>* stop_;
};

// A type-erased in-process step: reads its inputs from `inputs` (paths, in declaration order)
// and writes its outputs to `outputs`. Throws to fail.
using StepBody = std::function<void(StepContext& ctx, const std::vector<std::string>& inputs,
                                    const std::vector<std::string>& outputs)>;

}  // namespace baton
