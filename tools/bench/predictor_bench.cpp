// Inference latency of trainrt's Predictor on a bundle (tools/bench/predictor.py runs it against
// PyTorch). Prints one JSON object.
//
//   trainrt_bench_predictor --bundle DIR --batch B [--iterations N] [--threads T] [--plain]
#include <algorithm>
#include <chrono>
#include <iostream>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "trainrt/infer/predictor.h"

int main(int argc, char** argv) {
  CLI::App app{"Predictor latency on a bundle"};
  std::string bundle;
  int64_t batch = 1, iterations = 200;
  int threads = 2;
  bool plain = false;
  app.add_option("--bundle", bundle)->required();
  app.add_option("--batch", batch);
  app.add_option("--iterations", iterations);
  app.add_option("--threads", threads);
  app.add_flag("--plain", plain, "TorchScript bundles: the module as it is, not frozen and optimized");
  CLI11_PARSE(app, argc, argv);

  torch::set_num_threads(threads);
  trainrt::infer::PredictorOptions options;
  options.optimize = !plain;
  const trainrt::infer::Predictor predictor(bundle, options);
  std::vector<int64_t> shape{batch};
  const auto& spec = predictor.bundle().spec.input_shape;
  shape.insert(shape.end(), spec.begin(), spec.end());
  torch::manual_seed(0);
  const torch::Tensor input = torch::randn(shape);
  for (int i = 0; i < 20; ++i) predictor.predict(input);  // warm-up (TorchScript profiles its first runs)
  std::vector<double> ms;
  for (int64_t i = 0; i < iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    predictor.predict(input);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  double total = 0;
  for (const double m : ms) total += m;
  std::sort(ms.begin(), ms.end());
  const double mean = total / static_cast<double>(ms.size());
  std::cout << fmt::format("{{\"batch\": {}, \"mean_ms\": {:.4f}, \"p50_ms\": {:.4f}, \"images_per_sec\": {:.1f}, "
                           "\"optimized\": {}}}\n",
                           batch, mean, ms[ms.size() / 2], 1000.0 * static_cast<double>(batch) / mean,
                           predictor.optimized() ? "true" : "false");
  return 0;
}
