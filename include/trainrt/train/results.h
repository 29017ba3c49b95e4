// defines: EvalResult, StepTimes
//
// What training reports to the code that runs it (plain values, no tensors): an evaluation's
// result, and where an optimizer step's time went over a log interval. Part of the embedding API
// (train/trainer.h: TrainResult, callbacks).
#pragma once

#include <cstdint>

namespace trainrt::train {

struct EvalResult {
  double loss = 0;
  double accuracy = 0;    // of the predictions (rows, or a language model's tokens)
  double perplexity = 0;  // exp(loss), for language models (Task::tokens_per_sample)
  int64_t samples = 0;
};

// Means per optimizer step over a log interval (the metrics of the same names).
struct StepTimes {
  double data_wait_ms = 0;
  double step_ms = 0;
  double allreduce_ms = 0;          // first bucket launched -> last one done (data parallel)
  double exposed_allreduce_ms = 0;  // what the backward pass did not hide of it
  double compute_ms = 0;            // forward and backward passes
  double optimizer_ms = 0;          // gradient clipping and the optimizer step
  double checkpoint_ms = 0;         // training held up by checkpoints (the snapshot, or a sync write)
};

}  // namespace trainrt::train
