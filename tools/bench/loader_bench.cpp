// trainrt's loader alone: Fashion-MNIST training images with random crop (padding 2), horizontal
// flip and normalisation, batch 128, shuffled, for a number of epochs. Prints one JSON line:
// samples per second and the process's peak resident memory. Run by tools/bench/loader.py.
//
//   trainrt_bench_loader --threads N [--epochs E] [--dir /usr/share/datasets/fashion-mnist]
//   trainrt_bench_loader --normalize    the batch normalisation alone: trainrt's one-pass loop
//                                       against the same with ATen ops
#include <sys/resource.h>

#include <chrono>
#include <iostream>

#include <CLI/CLI.hpp>
#include <torch/torch.h>
#include <fmt/format.h>

#include "trainrt/data/idx.h"
#include "trainrt/data/loader.h"
#include "trainrt/data/transforms.h"

// Normalising a batch of 128 Fashion-MNIST images, uint8 -> float (x/255 - mean) / std: the
// collator's one-pass loop against ATen (convert, then one fused multiply-add pass).
int benchmark_normalize() {
  using namespace trainrt::data;
  ImageCollator collator({1, 28, 28}, {0.2860f}, {0.3530f}, ImageAugment{});
  Batch batch = collator.allocate(128);
  batch.staging.random_(0, 256);
  const int reps = 2000;
  auto time = [&](auto&& fn) {
    fn();
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) fn();
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / reps;
  };
  const double loop_us = time([&] { collator.finish(batch, 128); });
  const float scale = 1.0f / (255.0f * 0.3530f), shift = -0.2860f / 0.3530f;
  at::Tensor out = torch::empty({128, 1, 28, 28});
  const double aten_us = time([&] { torch::add_out(out, torch::full({}, shift), batch.staging.to(torch::kFloat32), scale); });
  at::Tensor check = batch.staging.to(torch::kFloat32) * scale + shift;
  fmt::print("{{\"loop_us\": {:.2f}, \"aten_us\": {:.2f}, \"max_difference\": {:.2e}}}\n", loop_us,
             aten_us, (batch.input - check).abs().max().item<float>());
  return 0;
}

int main(int argc, char** argv) {
  CLI::App app{"Benchmark trainrt's prefetching loader"};
  int threads = 1, epochs = 2;
  std::string dir = "/usr/share/datasets/fashion-mnist";
  app.add_option("--threads", threads, "loader threads (0: in the caller's thread)");
  app.add_option("--epochs", epochs, "epochs to load");
  app.add_option("--dir", dir, "Fashion-MNIST IDX folder");
  bool normalize_only = false;
  app.add_flag("--normalize", normalize_only, "time uint8->float normalisation of a batch");
  CLI11_PARSE(app, argc, argv);
  if (normalize_only) return benchmark_normalize();

  using namespace trainrt::data;
  auto split = load_idx_split(dir, "train", 0, 10);
  auto dataset = std::make_shared<TensorDataset>(split.images, split.labels);
  auto collator = std::make_shared<ImageCollator>(std::vector<int64_t>{1, 28, 28},
                                                  std::vector<float>{0.2860f},
                                                  std::vector<float>{0.3530f}, ImageAugment{2, true});
  LoaderOptions options;
  options.batch_size = 128;
  options.threads = threads;
  options.prefetch = 4;
  options.shuffle = true;
  Loader loader(dataset, collator, options);

  int64_t samples = 0;
  double checksum = 0;  // touch each batch so nothing can be optimised away
  const auto start = std::chrono::steady_clock::now();
  for (int epoch = 0; epoch < epochs; ++epoch) {
    loader.start_epoch(epoch);
    while (auto batch = loader.next()) {
      samples += batch->rows;
      checksum += batch->input.data_ptr<float>()[0];
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  fmt::print("{{\"samples_per_sec\": {:.1f}, \"seconds\": {:.3f}, \"samples\": {}, "
             "\"peak_rss_mb\": {:.1f}, \"checksum\": {:.3f}}}\n",
             static_cast<double>(samples) / seconds, seconds, samples,
             static_cast<double>(usage.ru_maxrss) / 1024.0, checksum);
  return 0;
}
