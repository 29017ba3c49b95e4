// trainrt's gradient all-reduce alone, as a data-parallel rank (run under a launcher, e.g.
// torchrun --no_python): the model of a config, every gradient set, then `--iters` times the
// reducer's whole path (copy into buckets, all-reduce, average, copy back). Rank 0 prints one JSON
// line: bytes per all-reduce, milliseconds per all-reduce, and the bus bandwidth. Run by
// tools/bench/ddp.py beside a bare Gloo all-reduce of the same bytes from Python.
//
//   trainrt_bench_allreduce CONFIG [--iters 50] [--input 1,28,28 --classes 10]
#include <chrono>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include "trainrt/config/load.h"
#include "trainrt/dist/connect.h"
#include "trainrt/dist/reducer.h"
#include "trainrt/models/registry.h"

int main(int argc, char** argv) {
  CLI::App app{"Benchmark trainrt's bucketed gradient all-reduce"};
  std::string config_path;
  int iters = 50;
  std::vector<int64_t> input_shape{1, 28, 28};
  int64_t classes = 10;
  app.add_option("config", config_path, "config whose model and distributed section to use")->required();
  app.add_option("--iters", iters, "timed all-reduces (after 5 untimed)");
  app.add_option("--input", input_shape, "input sample shape")->delimiter(',');
  app.add_option("--classes", classes, "model outputs");
  CLI11_PARSE(app, argc, argv);

  try {
    const auto config = trainrt::config::load_config(config_path);
    const auto identity = trainrt::dist::worker_identity();
    torch::set_num_threads(1);
    auto communicator = trainrt::dist::connect(identity, config.distributed(), false);
    auto model = trainrt::models::ModelRegistry::instance().create(config.model(), {input_shape, classes});
    trainrt::dist::GradientReducer reducer(model->parameters(), communicator,
                                           trainrt::dist::reducer_options(config.distributed()));
    for (auto& p : model->parameters()) p.mutable_grad() = torch::randn_like(p);
    auto reduce_once = [&] {
      reducer.prepare_for_backward(true);
      return reducer.finish();
    };
    for (int i = 0; i < 5; ++i) reduce_once();
    communicator->barrier()->wait();
    const auto start = std::chrono::steady_clock::now();
    int64_t bytes = 0;
    for (int i = 0; i < iters; ++i) bytes = reduce_once().bytes;
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / iters;
    const int n = communicator->world_size();
    // Bus bandwidth as nccl-tests defines it for all-reduce: algorithm bandwidth x 2(n-1)/n.
    const double busbw = static_cast<double>(bytes) / (ms / 1000.0) * 2.0 * (n - 1) / n / 1e9;
    if (identity.rank == 0) {
      fmt::print("{{\"bytes\": {}, \"buckets\": {}, \"ms\": {:.4f}, \"busbw_gbps\": {:.4f}}}\n", bytes,
                 reducer.buckets().size(), ms, busbw);
    }
  } catch (const std::exception& e) {
    std::cerr << "trainrt_bench_allreduce: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
