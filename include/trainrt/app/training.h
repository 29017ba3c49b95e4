// defines: Training, TrainingOptions
//
// Training from an application: a config (a file, text, or a TrainConfig built in code) becomes a
// run of the trainer with the application's callbacks, exactly as `trainrt train` runs it (that
// command is this class). Plugins the config lists are loaded first; under a launcher (torchrun,
// Slurm, `trainrt launch`) the process joins its data-parallel group.
//
//   trainrt::Training training = trainrt::Training::from_file("job.pbtxt", {"train.epochs=1"});
//   training.after_evaluation([](int64_t, const trainrt::train::EvalResult& eval) {
//     return eval.accuracy > 0.85 ? trainrt::train::Action::kStop : trainrt::train::Action::kContinue;
//   });
//   trainrt::train::TrainResult result = training.run();
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/train/trainer.h"

namespace trainrt {

struct TrainingOptions {
  // metrics.jsonl, config.pbtxt, checkpoints/; "" for runs/<the config's name>.
  std::string run_dir = "runs/app";
  // "auto" (continue from the newest whole checkpoint in run_dir, if any), "never", or a path.
  std::string resume = "auto";
  // Resume a checkpoint written with a config that changes what training computes
  // (train/trainer.h TrainerOptions::accept_config_changes).
  bool accept_config_changes = false;
  // Where progress lines go; nullptr: nowhere.
  std::FILE* progress_out = stdout;
  // A state dict to start from when nothing is resumed (train/trainer.h TrainerOptions).
  std::string initial_weights;
  // Finish the step and checkpoint on SIGTERM/SIGINT. Signals belong to the process: only a
  // program that calls train::catch_stop_signals() gets them (`trainrt train` does).
  bool stop_on_signal = false;
  // Plugins to load besides the config's `plugins`; added to that list, so that the run's
  // config.pbtxt (and its checkpoints and bundles) remember what the model needs.
  std::vector<std::string> plugins;
};

class Training {
 public:
  // Reads a .pbtxt or .json config, applies `overrides` ("a.b=c", as --set) and validates it;
  // throws ConfigError naming the file, line and field.
  static Training from_file(const std::string& path, const std::vector<std::string>& overrides = {},
                            TrainingOptions options = {});
  // Config text in protobuf text format; `source` names it in errors.
  static Training from_text(const std::string& text, const std::vector<std::string>& overrides = {},
                            TrainingOptions options = {}, const std::string& source = "config text");
  // A config built in code (defaults filled in, validated).
  explicit Training(config::TrainConfig config, TrainingOptions options = {});
  ~Training();
  Training(Training&&) noexcept;
  Training& operator=(Training&&) noexcept;

  // Callbacks (train/trainer.h); set them before run().
  Training& after_step(std::function<train::Action(const train::StepInfo&)> callback);
  Training& after_evaluation(std::function<train::Action(int64_t, const train::EvalResult&)> callback);
  Training& on_checkpoint(std::function<void(const train::CommittedCheckpoint&)> callback);

  // Opens the data, builds the model and trains; returns when training ends or is stopped.
  // Throws trainrt::Error (config, data, I/O, distributed) naming what failed. Once per object.
  train::TrainResult run();
  // Stops run() after the step it is in, from any thread; before run(), run() stops at once.
  void request_stop();

  // The resolved config (every default explicit).
  const config::TrainConfig& config() const;
  // The trained model (on its training device), once run() has built it; null before.
  std::shared_ptr<models::Model> model() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace trainrt
