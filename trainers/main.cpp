// The `trainrt` command-line program.
//
//   trainrt train CONFIG [--set a.b=c]... [--run-dir DIR]
//
// Under a launcher (torchrun --no-python, srun, mpirun) each process is one data-parallel rank;
// see dist/worker_env.h for the variables read.
//
// Exit codes: 0 success, 2 bad command line or config, 1 any other failure (data, I/O, runtime).
#include <unistd.h>

#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "image_classification.h"
#include "trainrt/config/load.h"
#include "trainrt/core/error.h"
#include "trainrt/dist/connect.h"
#include "trainrt/dist/worker_env.h"
#include "trainrt/train/trainer.h"

namespace {

std::string default_run_dir(const std::string& config_path) {
  std::string stem = config_path.substr(config_path.find_last_of('/') + 1);
  stem = stem.substr(0, stem.find('.'));
  return "runs/" + (stem.empty() ? std::string("run") : stem);
}

int train_command(const std::string& config_path, const std::vector<std::string>& overrides,
                  std::string run_dir) {
  const auto config = trainrt::config::load_config(config_path, overrides);
  // Who this process is (a launcher's variables are checked before any data is read); several
  // processes on one node (torchrun, Slurm, mpirun) share its cores.
  const auto identity = trainrt::dist::worker_identity();
  if (run_dir.empty()) run_dir = default_run_dir(config_path);
  auto task = std::make_shared<trainrt::trainers::ImageClassificationTask>(config);
  trainrt::train::TrainerOptions options;
  options.run_dir = run_dir;
  options.interactive = isatty(STDOUT_FILENO) != 0;
  options.local_world_size = identity.local_world_size;
  if (identity.world_size > 1) {
    options.communicator = trainrt::dist::connect(identity, config.distributed(), /*cuda=*/false);
  }
  trainrt::train::Trainer trainer(config, task, options);
  trainer.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"trainrt: a C++ training runtime on LibTorch"};
  app.set_version_flag("--version", "trainrt 0.1.0");
  app.require_subcommand(1);

  std::string config_path, run_dir;
  std::vector<std::string> overrides;
  CLI::App* train = app.add_subcommand("train", "Train a model described by a config file");
  train->add_option("config", config_path, "Config file (.pbtxt text format, or .json)")
      ->required()
      ->check(CLI::ExistingFile);
  train->add_option("--set", overrides,
                    "Override a config field, e.g. --set data.batch_size=64 (repeatable; lists "
                    "as --set model.cnn.channels=16,32)")
      ->take_all()
      ->allow_extra_args(false);
  train->add_option("--run-dir", run_dir,
                    "Where the resolved config and metrics.jsonl go (default: runs/<config name>)");
  train->footer(
      "\nThe run directory gets config.pbtxt (the resolved config, every default explicit) and "
      "metrics.jsonl (one JSON object per line: split, step, epoch, loss, lr, samples_per_sec, "
      "data_wait_ms; accuracy on eval lines). See configs/ and the README.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  try {
    if (*train) return train_command(config_path, overrides, run_dir);
  } catch (const trainrt::Error& e) {
    std::cerr << "trainrt: error: " << e.what() << "\n";
    return e.kind() == trainrt::Error::Kind::kConfig ? 2 : 1;
  } catch (const c10::Error& e) {
    std::cerr << "trainrt: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "trainrt: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
