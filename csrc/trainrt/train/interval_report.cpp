#include "trainrt/dist/flight_recorder.h"
#include "trainrt/train/interval_report.h"

#include <chrono>

#include "trainrt/dist/rank_reduce.h"
#include "trainrt/train/nonfinite_policy.h"

namespace trainrt::train {

void IntervalReport::reset() {
  loss_sum_ = torch::Tensor();
  steps_ = loss_steps_ = samples_ = 0;
  data_wait_s_ = allreduce_ms_ = exposed_allreduce_ms_ = compute_s_ = optimizer_s_ = checkpoint_s_ = 0;
  start_ = std::chrono::steady_clock::now();
}

void IntervalReport::add(const StepOutcome& step) {
  steps_ += 1;
  samples_ += step.samples;
  data_wait_s_ += step.data_wait_s;
  allreduce_ms_ += step.allreduce_ms;
  exposed_allreduce_ms_ += step.exposed_allreduce_ms;
  compute_s_ += step.compute_s;
  optimizer_s_ += step.optimizer_s;
  checkpoint_s_ += step.checkpoint_s;
  if (step.skipped) return;
  loss_sum_ = loss_sum_.defined() ? loss_sum_ + step.loss : step.loss;
  loss_steps_ += 1;
}

IntervalMetrics IntervalReport::close(const IntervalContext& context, const NonfinitePolicy& policy,
                                      dist::Communicator* communicator) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double loss_sum = loss_steps_ > 0 ? loss_sum_.item<double>() : 0.0;
  policy.check_loss(loss_sum, context.step - steps_ + 1, context.step);
  // Loss is the mean over ranks, throughput the sum; times are this rank's (rank 0's are logged).
  std::vector<double> sums{loss_sum, static_cast<double>(samples_)};
  dist::CollectivePurpose purpose("interval metrics");
  dist::sum_over_ranks(communicator, sums);
  const int world_size = communicator ? communicator->world_size() : 1;
  const double steps = static_cast<double>(steps_);

  IntervalMetrics out;
  // Every rank skipped the same steps; an interval of only skipped steps keeps the last loss.
  out.has_loss = loss_steps_ > 0;
  out.loss = out.has_loss ? sums[0] / static_cast<double>(loss_steps_) / world_size : context.last_loss;
  out.samples_per_sec = sums[1] / seconds;
  // The step before this interval's first may have written a checkpoint; its stall is in
  // `seconds`, so it is counted here.
  out.times = StepTimes{1000.0 * data_wait_s_ / steps,  1000.0 * seconds / steps,
                        allreduce_ms_ / steps,          exposed_allreduce_ms_ / steps,
                        1000.0 * compute_s_ / steps,    1000.0 * optimizer_s_ / steps,
                        1000.0 * checkpoint_s_ / steps};
  const StepTimes& t = out.times;
  out.metrics = {{"loss", out.loss},
                 {"lr", context.lr},
                 {"samples_per_sec", out.samples_per_sec},
                 {"grad_norm", context.grad_norm}};
  if (context.tokens_per_sample > 0) {
    out.metrics.push_back(
        {"tokens_per_sec", out.samples_per_sec * static_cast<double>(context.tokens_per_sample)});
  }
  out.metrics.insert(out.metrics.end(), {{"step_ms", t.step_ms},
                                         {"data_wait_ms", t.data_wait_ms},
                                         {"compute_ms", t.compute_ms},
                                         {"optimizer_ms", t.optimizer_ms},
                                         {"checkpoint_ms", t.checkpoint_ms}});
  if (communicator) {
    out.metrics.insert(out.metrics.end(), {{"allreduce_ms", t.allreduce_ms},
                                           {"exposed_allreduce_ms", t.exposed_allreduce_ms}});
  }
  if (context.report_skips) {
    out.metrics.push_back({"skipped_steps", static_cast<double>(context.skipped_steps)});
  }
  // This rank's own view: its loss (before averaging) and its times.
  out.rank_metrics = {{"loss", loss_sum / steps},           {"step_ms", t.step_ms},
                      {"data_wait_ms", t.data_wait_ms},     {"compute_ms", t.compute_ms},
                      {"exposed_allreduce_ms", t.exposed_allreduce_ms}};
  reset();
  return out;
}

}  // namespace trainrt::train
