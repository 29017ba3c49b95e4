// defines: StepPlanInput, StepPlan, plan_steps, is_log_step, is_eval_step
//
// The step arithmetic of a run, as pure functions the tests pin without a model: how many
// optimizer steps an epoch holds (an optimizer step takes `accumulation` micro-batches of
// `batch_size` on each of `world_size` ranks; an epoch's leftover micro-batches are unused), how
// many steps the whole run takes (a resumed run starts inside an epoch, at a global sample
// position), and which steps log or evaluate.
#pragma once

#include <cstdint>

namespace trainrt::train {

struct StepPlanInput {
  int64_t train_samples = 0;
  int64_t batch_size = 1;   // per rank and micro-batch
  int world_size = 1;
  int64_t accumulation = 1; // micro-batches per optimizer step
  int64_t epochs = 1;
  int64_t max_steps = 0;    // 0: no limit
  // Where training starts: a fresh run at (0, 0, 0), a resumed one at its checkpoint's.
  int64_t start_step = 0;
  int64_t start_epoch = 0;
  int64_t start_sample = 0;  // the global sample position inside start_epoch
};

struct StepPlan {
  int64_t steps_per_epoch = 0;  // a whole epoch's optimizer steps
  int64_t total_steps = 0;      // the step the run ends at (counting the resumed ones)
};

// Throws ConfigError naming the field when an epoch cannot hold one optimizer step (data.batch_size
// larger than the training set, or more micro-batches than an epoch has).
StepPlan plan_steps(const StepPlanInput& input);

// Whether the step that ends at `step` (1-based) writes a log interval: every `every` steps, and
// the last.
inline bool is_log_step(int64_t step, int64_t every, int64_t total_steps) {
  return step % every == 0 || step == total_steps;
}

// Whether an evaluation follows `step` (train.eval_every_steps; 0: only at each epoch's end).
inline bool is_eval_step(int64_t step, int64_t every) { return every > 0 && step % every == 0; }

}  // namespace trainrt::train
