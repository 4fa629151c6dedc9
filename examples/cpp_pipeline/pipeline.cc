// A small ML pipeline written with baton's C++ API: generate a two-class data set, standardize
// it, split it, train a logistic regression (implemented here, batch gradient descent), and
// evaluate it; accuracy and loss are logged as step metadata. A command step writes a report
// from the metrics, to show command and in-process steps mixed in one pipeline.
//
//   ./cpp_pipeline run                 # runs on the workspace's active stack
//   ./cpp_pipeline run -p lr=0.05 --explain
//   ./cpp_pipeline runs show last

#include <baton/pipeline.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace {

// A data set: rows of features and 0/1 labels.
struct Dataset {
  std::vector<std::vector<double>> x;
  std::vector<int> y;
};

// A logistic-regression model.
struct Model {
  std::vector<double> w;
  double b = 0;
  double Predict(const std::vector<double>& row) const {
    double z = b;
    for (size_t i = 0; i < w.size(); ++i) z += w[i] * row[i];
    return 1.0 / (1.0 + std::exp(-z));
  }
};

}  // namespace

// How a Dataset and a Model become artifacts: JSON documents, with their own materializer names
// and types, so that a step reading one as the other fails with a clear message.
template <>
struct baton::Materializer<Dataset> {
  static std::string Name() { return "dataset-json"; }
  static std::string Type() { return "dataset"; }
  static void Save(const Dataset& d, const std::string& path) {
    baton::detail::WriteAll(path, nlohmann::json{{"x", d.x}, {"y", d.y}}.dump());
  }
  static Dataset Load(const std::string& path) {
    auto j = nlohmann::json::parse(baton::detail::ReadAll(path));
    return Dataset{j.at("x").get<std::vector<std::vector<double>>>(), j.at("y").get<std::vector<int>>()};
  }
};

template <>
struct baton::Materializer<Model> {
  static std::string Name() { return "model-json"; }
  static std::string Type() { return "logistic-regression"; }
  static void Save(const Model& m, const std::string& path) {
    baton::detail::WriteAll(path, nlohmann::json{{"w", m.w}, {"b", m.b}}.dump());
  }
  static Model Load(const std::string& path) {
    auto j = nlohmann::json::parse(baton::detail::ReadAll(path));
    return Model{j.at("w").get<std::vector<double>>(), j.at("b").get<double>()};
  }
};

baton::Pipeline MakePipeline() {
  baton::Pipeline p("cpp_logreg");
  p.Param("n", 600).Param("seed", 7).Param("lr", 0.5).Param("epochs", 300).Param("test_fraction", 0.25);

  // Two Gaussian blobs in 4 dimensions, offset from each other.
  auto generate = p.Step("generate", [](baton::StepContext& ctx) {
    int n = ctx.Param<int>("n");
    std::mt19937 rng(ctx.Param<int>("seed"));
    std::normal_distribution<double> noise(0.0, 1.0);
    Dataset d;
    for (int i = 0; i < n; ++i) {
      int label = i % 2;
      std::vector<double> row;
      for (int k = 0; k < 4; ++k) row.push_back(noise(rng) * (1.0 + k) + (label ? 0.6 : -0.6) * (k % 2 ? 2.0 : 1.0));
      d.x.push_back(row);
      d.y.push_back(label);
    }
    ctx.Log() << "generated " << n << " rows\n";
    return d;
  });

  generate.Uses({"n", "seed"});

  auto standardize = p.Step("standardize", [](baton::StepContext& ctx, const Dataset& in) {
    Dataset out = in;
    size_t dims = in.x.at(0).size();
    for (size_t k = 0; k < dims; ++k) {
      double mean = 0, var = 0;
      for (const auto& r : in.x) mean += r[k];
      mean /= static_cast<double>(in.x.size());
      for (const auto& r : in.x) var += (r[k] - mean) * (r[k] - mean);
      double sd = std::sqrt(var / static_cast<double>(in.x.size()));
      if (sd == 0) sd = 1;
      for (auto& r : out.x) r[k] = (r[k] - mean) / sd;
      ctx.LogMetadata("mean_" + std::to_string(k), mean);
    }
    return out;
  }, generate.out());
  standardize.Uses({});

  auto split = p.Step("split", [](baton::StepContext& ctx, const Dataset& in) {
    double frac = ctx.Param<double>("test_fraction");
    std::vector<size_t> idx(in.x.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::shuffle(idx.begin(), idx.end(), std::mt19937(ctx.Param<int>("seed")));
    size_t n_test = static_cast<size_t>(frac * static_cast<double>(idx.size()));
    Dataset train, test;
    for (size_t i = 0; i < idx.size(); ++i) {
      Dataset& to = i < n_test ? test : train;
      to.x.push_back(in.x[idx[i]]);
      to.y.push_back(in.y[idx[i]]);
    }
    return std::make_tuple(train, test);
  }, standardize.out());
  split.Named({"train", "test"}).Uses({"seed", "test_fraction"});

  auto train = p.Step("train", [](baton::StepContext& ctx, const Dataset& d) {
    double lr = ctx.Param<double>("lr");
    int epochs = ctx.Param<int>("epochs");
    Model m;
    m.w.assign(d.x.at(0).size(), 0.0);
    double loss = 0;
    for (int e = 0; e < epochs && !ctx.StopRequested(); ++e) {
      std::vector<double> gw(m.w.size(), 0.0);
      double gb = 0;
      loss = 0;
      for (size_t i = 0; i < d.x.size(); ++i) {
        double p = m.Predict(d.x[i]);
        double err = p - d.y[i];
        for (size_t k = 0; k < gw.size(); ++k) gw[k] += err * d.x[i][k];
        gb += err;
        loss -= d.y[i] ? std::log(p + 1e-12) : std::log(1 - p + 1e-12);
      }
      double n = static_cast<double>(d.x.size());
      for (size_t k = 0; k < gw.size(); ++k) m.w[k] -= lr * gw[k] / n;
      m.b -= lr * gb / n;
      loss /= n;
    }
    ctx.LogMetadata("train_loss", loss);
    ctx.Log() << "final training loss " << loss << "\n";
    return m;
  }, split.out<0>());
  train.Uses({"lr", "epochs"}).Retries(1, "1s").Timeout("10m").Resources(1, "256Mi").Version("1");

  auto evaluate = p.Step("evaluate", [](baton::StepContext& ctx, const Model& m, const Dataset& test) {
    int correct = 0;
    for (size_t i = 0; i < test.x.size(); ++i) correct += (m.Predict(test.x[i]) >= 0.5) == (test.y[i] == 1);
    double accuracy = static_cast<double>(correct) / static_cast<double>(test.x.size());
    ctx.LogMetadata("accuracy", accuracy);
    ctx.LogMetadata("test_rows", test.x.size());
    return std::map<std::string, double>{{"accuracy", accuracy}};
  }, train.out(), split.out<1>());
  evaluate.Named({"metrics"}).Uses({});

  // A command step reading the metrics artifact the in-process step wrote.
  auto report = p.Command("report", "echo \"model report: $(cat {{inputs.metrics}})\" > {{outputs.report}}");
  report.Input("metrics", evaluate.out());
  report.Produces("report");
  return p;
}

int main(int argc, char** argv) {
  baton::Pipeline p = MakePipeline();
  return baton::Main(p, argc, argv);
}
