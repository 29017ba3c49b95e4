// Classifies Fashion-MNIST's test images with a model trained by trainrt, from its inference
// bundle (`trainrt export --checkpoint RUN_DIR --out BUNDLE`), on several threads sharing one
// Predictor.
//
//   inference_app [--load-plugins] BUNDLE [DATA_DIR] [THREADS]
//
// Prints the accuracy (equal to the trainer's own final evaluation of the same weights) and the
// throughput. A bundle of a plugin's model lists the plugin, and loading it runs its code here: the
// Predictor refuses such a bundle unless the application consents, which this one leaves to its
// user (--load-plugins, for a bundle they trust).
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>
#include <utility>
#include <vector>

#include <trainrt/trainrt.h>

// The test split as trainrt reads it for training: the registry's "idx" format (data.format), one
// uint8 [1, 28, 28] image per sample, stacked into [N, 1, 28, 28] for the Predictor.
static std::pair<torch::Tensor, torch::Tensor> load_test_split(const std::string& data_dir) {
  trainrt::config::DataConfig data;
  data.set_format("idx");
  data.set_dir(data_dir);
  data.set_num_classes(10);
  const auto open = trainrt::data::DatasetRegistry::instance().formats().get("idx", "data.format");
  const trainrt::data::CustomSplit split = open(data, /*train=*/false);
  std::vector<torch::Tensor> images;
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < split.dataset->size(); ++i) {
    trainrt::data::Example example = split.dataset->get(i);
    images.push_back(std::move(example.input));
    labels.push_back(example.target);
  }
  return {torch::stack(images), torch::tensor(labels, torch::kInt64)};
}

int main(int argc, char** argv) {
  trainrt::infer::PredictorOptions options;
  if (argc > 1 && std::string(argv[1]) == "--load-plugins") {
    options.load_plugins = true;
    --argc;
    ++argv;
  }
  if (argc < 2) {
    std::cerr << "usage: inference_app [--load-plugins] BUNDLE [DATA_DIR] [THREADS]\n";
    return 2;
  }
  const std::string bundle = argv[1];
  const std::string data_dir = argc > 2 ? argv[2] : "/usr/share/datasets/fashion-mnist";
  const int threads = argc > 3 ? std::atoi(argv[3]) : 4;
  try {
    const trainrt::infer::Predictor predictor(bundle, options);
    const auto test = load_test_split(data_dir);
    const torch::Tensor& test_images = test.first;
    const torch::Tensor& test_labels = test.second;
    const int64_t images = test_images.size(0);
    constexpr int64_t kBatch = 64;
    torch::set_num_threads(1);  // parallel across threads, one core each
    std::vector<int64_t> correct(threads, 0);
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        // Batches t, t + threads, ...: every thread calls the one Predictor.
        for (int64_t first = t * kBatch; first < images; first += threads * kBatch) {
          const int64_t last = std::min(first + kBatch, images);
          const torch::Tensor predicted = predictor.classify(test_images.slice(0, first, last));
          correct[t] += predicted.eq(test_labels.slice(0, first, last)).sum().item<int64_t>();
        }
      });
    }
    for (auto& worker : workers) worker.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    int64_t total = 0;
    for (const int64_t c : correct) total += c;
    std::cout << "bundle " << bundle << ": model '" << predictor.bundle().config.model().name() << "', step "
              << predictor.bundle().step << "\n";
    std::cout << "accuracy " << static_cast<double>(total) / static_cast<double>(images) << " (" << total << " of "
              << images << ")\n";
    std::cout << "throughput " << static_cast<int64_t>(static_cast<double>(images) / seconds) << " images/s on "
              << threads << " threads\n";
  } catch (const std::exception& e) {
    std::cerr << "inference_app: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
