// defines: Trainer::Loop
//
// The state of one Trainer::run() as it goes. Private to train/trainer*.cpp: the loop
// (trainer.cpp) and recovery from the replicas' memory (trainer_recovery.cpp) move it.
#pragma once

#include <string>

#include "trainrt/core/clock.h"
#include "trainrt/obs/progress.h"
#include "trainrt/train/interval_report.h"
#include "trainrt/train/nonfinite_policy.h"
#include "trainrt/train/optimizer_step.h"
#include "trainrt/train/trace_window.h"
#include "trainrt/train/trainer.h"

namespace trainrt::train {

// The state of one run() as it goes.
struct Trainer::Loop {
  Loop(const config::TrainConfig& config, int rank)
      : policy(config.train().on_nonfinite() == "skip", config.train().max_consecutive_skips(), rank),
        trace(config.observe()) {}
  TrainResult result;
  obs::ProgressState shown;  // what the progress display shows
  int64_t step = 0;          // optimizer steps done
  int64_t epoch = 0;
  double lr = 0;             // the last step's learning rate
  StepOutcome last;          // the last step's outcome
  IntervalReport interval;
  NonfinitePolicy policy;
  TraceWindow trace;
  bool evaluated_last_step = false;
  double epoch_eval_seconds = 0;    // evaluations inside the epoch (not counted as training time)
  std::string reported_checkpoint;  // the last committed checkpoint given to on_checkpoint
  Clock::time_point boundary;       // when the last step (and what follows it) ended
};

}  // namespace trainrt::train
