#include "trainrt/train/optimizer_step.h"

#include <chrono>
#include <cmath>

#include "trainrt/core/clock.h"
#include "trainrt/core/device.h"
#include "trainrt/core/fault_injection.h"
#include "trainrt/obs/trace.h"
#include "trainrt/optim/optimizer.h"

namespace trainrt::train {
double gradient_norm(const std::vector<torch::Tensor>& parameters) {
  double sum = 0;
  for (const auto& parameter : parameters) {
    if (parameter.grad().defined()) sum += parameter.grad().pow(2).sum().item<double>();
  }
  return std::sqrt(sum);
}

OptimizerStep::OptimizerStep(models::Model& model, const Task& task,
                             torch::optim::Optimizer& optimizer, dist::GradientReducer* reducer,
                             data::DeviceFeeder& feeder, OptimizerStepOptions options)
    : model_(model), task_(task), optimizer_(optimizer), reducer_(reducer), feeder_(feeder),
      options_(options) {}

std::optional<StepOutcome> OptimizerStep::run(double lr, bool need_grad_norm,
                                              const std::function<double()>& before_update) {
  obs::TraceSpan step_span("step");
  StepOutcome outcome;
  optim::set_learning_rate(optimizer_, lr);
  optimizer_.zero_grad();
  fault_injection::point("forward");
  for (int micro = 0; micro < options_.accumulation; ++micro) {
    if (!micro_batch(/*last=*/micro == options_.accumulation - 1, outcome)) return std::nullopt;
  }
  if (reducer_) {
    obs::TraceSpan span("gradient sync wait");
    const dist::ReduceStats stats = reducer_->finish();
    outcome.allreduce_ms = stats.communication_ms;
    outcome.exposed_allreduce_ms = stats.exposed_ms;
  }
  // Note [a step is a transaction]: the gradients of every rank are in; from here on the state
  // changes.
  if (before_update) outcome.checkpoint_s = before_update();
  update(need_grad_norm, outcome);
  return outcome;
}

bool OptimizerStep::micro_batch(bool last, StepOutcome& outcome) {
  std::optional<data::Batch> batch = feeder_.next();
  outcome.data_wait_s += feeder_.last_wait_seconds();
  if (!batch) return false;
  const auto compute_start = Clock::now();
  if (reducer_) reducer_->prepare_for_backward(/*communicate=*/last);
  torch::Tensor loss;
  {
    obs::TraceSpan span("forward");
    AutocastScope autocast(options_.device_type, options_.bfloat16);
    loss = task_.compute(model_, *batch, /*count_correct=*/false).loss;
  }
  const int accumulation = options_.accumulation;
  {
    obs::TraceSpan span("backward");
    // Each micro-batch's loss is a mean over its rows: scaled by 1/k, the accumulated gradient is
    // the mean over the k x batch samples, as one batch that large would give.
    (accumulation > 1 ? loss / accumulation : loss).backward();
  }
  torch::Tensor part = loss.detach().to(torch::kFloat64);
  if (accumulation > 1) part = part / accumulation;
  outcome.loss = outcome.loss.defined() ? outcome.loss + part : part;
  outcome.samples += batch->rows;
  outcome.compute_s += seconds_since(compute_start);
  return true;
}

void OptimizerStep::update(bool need_grad_norm, StepOutcome& outcome) {
  const auto start = Clock::now();
  obs::TraceSpan span("optimizer");
  if (options_.grad_clip_norm > 0) {
    outcome.grad_norm = torch::nn::utils::clip_grad_norm_(model_.parameters(), options_.grad_clip_norm);
  } else if (need_grad_norm || options_.skip_nonfinite) {
    outcome.grad_norm = gradient_norm(model_.parameters());
  }
  // The gradients are all-reduced by now, so every rank sees the same norm and skips alike.
  outcome.skipped = options_.skip_nonfinite && !std::isfinite(outcome.grad_norm);
  if (!outcome.skipped) optimizer_.step();
  outcome.optimizer_s = seconds_since(start);
}

}  // namespace trainrt::train
