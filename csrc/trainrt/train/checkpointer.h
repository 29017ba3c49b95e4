// defines: Checkpointer
//
// The trainer's checkpoint policy (config's `checkpoint` section) on rank 0: whether one is due
// after a step (every N steps, every M minutes), capturing the state at that step boundary and
// handing it to the background writer (ckpt/async_writer.h), and the write errors to report.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <string>

#include "trainrt/ckpt/async_writer.h"
#include "trainrt/config/trainrt.pb.h"
#include "trainrt/train/checkpoint_state.h"

namespace trainrt::train {

class Checkpointer {
 public:
  // Writes under `root`; `resumed_step` is the step of the checkpoint the run resumed from (-1:
  // none), which needs no rewriting.
  Checkpointer(config::CheckpointConfig config, std::string root, int64_t resumed_step);

  const config::CheckpointConfig& config() const { return config_; }
  const std::string& root() const { return root_; }

  // Whether the step or time cadence asks for a checkpoint after `step`.
  bool due(int64_t step) const;

  // Whether the state after `step` is already saved (or being saved).
  bool saved(int64_t step) const { return step == last_step_; }

  // Captures the state now and writes it: in the background if the config says async and `wait`
  // is false, else before returning. `capture` may leave parameters and optimizer state live: the
  // writer thread copies them first, and wait_for_snapshot() must be called before they next
  // change. Returns the seconds training was held up (the capture, and waiting for the previous
  // write).
  double save(int64_t step, const std::function<TrainingSnapshot()>& capture, bool wait);

  // Blocks until the last snapshot's live tensors are copied (call before the optimizer step that
  // would change them); returns the seconds it waited. Rethrows a failure to copy.
  double wait_for_snapshot();

  // Blocks until no write is in flight.
  void wait() { writer_.wait(); }

  // The error of a write that failed since the last call ("" if none).
  std::string take_error() { return writer_.take_error(); }

  // The directory of the last checkpoint committed ("" if none yet).
  std::string last_committed() { return writer_.last_committed(); }

 private:
  using Clock = std::chrono::steady_clock;

  config::CheckpointConfig config_;
  std::string root_;
  ckpt::AsyncCheckpointWriter writer_;
  int64_t last_step_;
  std::future<void> snapshot_copied_;  // of the last save, until waited for
  Clock::time_point last_time_ = Clock::now();
};

}  // namespace trainrt::train
