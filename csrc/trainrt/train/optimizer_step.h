// defines: StepOutcome, OptimizerStepOptions, OptimizerStep, gradient_norm
//
// One optimizer step, the unit the trainer's loop repeats: `accumulation` micro-batches from the
// device feeder, each forward (under autocast when asked) and backward with the reducer's buckets
// filling behind it, the wait for the gradients' all-reduce, the gradient norm (clipped when the
// config asks), and the update - left out when train.on_nonfinite is "skip" and the norm is not
// finite. The step reports what happened and where its time went; it decides no policy beyond
// the skip (train/nonfinite_policy.h counts skips; train/interval_report.h reports).
//
// Note [a step is a transaction]: nothing changes the model's parameters or the optimizer's state
// before the gradients of every rank are in (reducer->finish()), and a checkpoint's live copy of
// them is waited for first (`before_update`), so a step that fails before its update leaves the
// state as after the previous step.
#pragma once

#include <functional>
#include <optional>

#include <torch/torch.h>

#include "trainrt/data/device_feeder.h"
#include "trainrt/dist/reducer.h"
#include "trainrt/train/task.h"

namespace trainrt::train {

// What one optimizer step did.
struct StepOutcome {
  torch::Tensor loss;      // this rank's mean loss of the step, 0-dim float64 on the device
  bool skipped = false;    // the update was left out (non-finite gradient norm, policy "skip")
  double grad_norm = 0;    // the gradients' L2 norm, when it was computed (else 0)
  int64_t samples = 0;     // this rank's samples
  double data_wait_s = 0;  // waiting for the loader
  double compute_s = 0;    // forward and backward passes
  double allreduce_ms = 0;          // first bucket launched -> last one done (data parallel)
  double exposed_allreduce_ms = 0;  // what the backward pass did not hide of it
  double optimizer_s = 0;           // gradient norm or clipping, and the update
  double checkpoint_s = 0;          // waiting for the last checkpoint's copy of the parameters
};

struct OptimizerStepOptions {
  int accumulation = 1;        // micro-batches per step (distributed.accumulation_steps)
  double grad_clip_norm = 0;   // optimizer.grad_clip_norm (0: no clipping)
  bool skip_nonfinite = false; // train.on_nonfinite == "skip"
  torch::DeviceType device_type = torch::kCPU;
  bool bfloat16 = false;       // runtime.precision: autocast forward and loss
};

class OptimizerStep {
 public:
  // All references must outlive this object; `reducer` is null for a single process.
  OptimizerStep(models::Model& model, const Task& task, torch::optim::Optimizer& optimizer,
                dist::GradientReducer* reducer, data::DeviceFeeder& feeder,
                OptimizerStepOptions options);

  // Runs one step at learning rate `lr`. `need_grad_norm` computes the norm even when neither
  // clipping nor the skip policy needs it (a log step reports it). `before_update` runs after the
  // gradients are in and before the update; it returns the seconds it waited. Returns nullopt when
  // the loader had no batch left (nothing was changed then).
  std::optional<StepOutcome> run(double lr, bool need_grad_norm,
                                 const std::function<double()>& before_update);

 private:
  // Forward and backward of one micro-batch (its loss added to `outcome.loss`); false when the
  // loader had none.
  bool micro_batch(bool last, StepOutcome& outcome);
  // The gradient norm (clipping to grad_clip_norm first if set) and the update; reports the skip.
  void update(bool need_grad_norm, StepOutcome& outcome);

  models::Model& model_;
  const Task& task_;
  torch::optim::Optimizer& optimizer_;
  dist::GradientReducer* reducer_;
  data::DeviceFeeder& feeder_;
  OptimizerStepOptions options_;
};

// The L2 norm of all gradients together.
double gradient_norm(const std::vector<torch::Tensor>& parameters);

}  // namespace trainrt::train
