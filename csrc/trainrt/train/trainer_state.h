// defines: Trainer::State
//
// What a Trainer owns besides its config and model: the optimizer, the reducer, the loaders and
// their device feeders, the optimizer step, the run's outputs and the checkpointer. Private to
// train/trainer*.cpp, which build it (trainer_setup.cpp), checkpoint it (trainer_checkpoints.cpp)
// and run it (trainer.cpp).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trainrt/data/device_feeder.h"
#include "trainrt/data/loader.h"
#include "trainrt/dist/reducer.h"
#include "trainrt/optim/schedule.h"
#include "trainrt/config/changes.h"
#include "trainrt/core/directory_lock.h"
#include "trainrt/train/checkpointer.h"
#include "trainrt/train/membership_report.h"
#include "trainrt/train/optimizer_step.h"
#include "trainrt/train/run_outputs.h"
#include "trainrt/train/trainer.h"

namespace trainrt::train {

struct Trainer::State {
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<optim::Schedule> schedule;  // the learning rate of each step
  std::unique_ptr<dist::GradientReducer> reducer;  // data parallel only
  std::unique_ptr<data::Loader> train_loader;
  std::unique_ptr<data::Loader> eval_loader;
  std::unique_ptr<data::DeviceFeeder> train_feeder;  // the loaders' batches on the device
  std::unique_ptr<data::DeviceFeeder> eval_feeder;
  OptimizerStepOptions step_options;
  std::unique_ptr<OptimizerStep> step;
  std::unique_ptr<RunOutputs> outputs;
  std::unique_ptr<Checkpointer> checkpointer;  // rank 0
  // Rank 0 holds the run directory (and a checkpoint.dir outside it) while it is rank 0: one
  // writer per run directory.
  std::unique_ptr<DirectoryLock> run_lock;
  std::unique_ptr<DirectoryLock> checkpoint_lock;
  data::LoaderPosition start;                  // where training starts (resumed: the checkpoint's)
  data::LoaderPosition completed_position;     // the loader's position after the last whole step
  // The random generators' states then (a failed step's forward pass draws from them too): what a
  // replica hands over.
  std::string completed_rng;
  std::string completed_cuda_rng;
  // And the model's buffers then (batch norm statistics, which a failed step's forward pass
  // changed); kept only when the group recovers in memory.
  std::vector<torch::Tensor> completed_buffers;
  int64_t skipped_steps = 0;      // train.on_nonfinite "skip" counts after the last whole step
  int64_t consecutive_skips = 0;
  bool adopted_from_memory = false;  // the loop starts from a replica's state: close its epoch if ended
  bool joined_from_memory = false;   // this process joined a running group
  bool receiving_state = false;      // a handover to this process is under way (its state is mixed)
  int64_t start_step = 0;
  int64_t resumed_step = -1;
  std::vector<std::string> notes;  // printed after the run's header (what resuming found)
  // How this run's config differs from its checkpoint's (accepted): metrics.jsonl's
  // "config_change" lines, once the outputs are open.
  std::vector<config::FieldChange> config_changes;
  // A membership change to report once the outputs are open (a joining process's), as
  // metrics.jsonl's "membership" line.
  std::optional<MembershipReport> membership;
};

}  // namespace trainrt::train
