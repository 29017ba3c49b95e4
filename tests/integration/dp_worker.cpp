// A data-parallel worker for tests/integration/data_parallel_test.cpp: trains the image
// classifier through the library (as an embedding application would), as whichever rank its
// environment says, then saves its final parameters to OUT_DIR/params.rank<R>.pt.
//
//   trainrt_dp_worker CONFIG OUT_DIR [a.b=c]...
#include <iostream>

#include "trainrt/tasks/image_classification.h"
#include "trainrt/config/load.h"
#include "trainrt/dist/connect.h"
#include "trainrt/dist/worker_env.h"
#include "trainrt/train/trainer.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: trainrt_dp_worker CONFIG OUT_DIR [a.b=c]...\n";
    return 2;
  }
  try {
    const std::vector<std::string> overrides(argv + 3, argv + argc);
    const auto config = trainrt::config::load_config(argv[1], overrides);
    const auto identity = trainrt::dist::worker_identity();
    trainrt::train::TrainerOptions options;
    options.run_dir = std::string(argv[2]) + "/run";
    options.local_world_size = identity.local_world_size;
    if (identity.world_size > 1) {
      options.communicator = trainrt::dist::connect(identity, config.distributed(), false);
    }
    trainrt::train::Trainer trainer(
        config, std::make_shared<trainrt::tasks::ImageClassificationTask>(config), options);
    trainer.run();
    torch::save(trainer.model().parameters(),
                std::string(argv[2]) + "/params.rank" + std::to_string(identity.rank) + ".pt");
  } catch (const std::exception& e) {
    std::cerr << "trainrt_dp_worker: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
