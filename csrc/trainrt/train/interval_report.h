// defines: IntervalMetrics, IntervalContext, IntervalReport
//
// The training log's interval: the steps between two log lines, summed as they run and turned into
// ONE list of named metrics at a log step. That list is what metrics.jsonl (split "train"),
// TensorBoard (tag "train/NAME") and the plain log line show, so a metric has one name everywhere
// (README, "What a run writes"). To add a metric, add it in IntervalReport::close.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "trainrt/dist/communicator.h"
#include "trainrt/obs/named_values.h"
#include "trainrt/train/optimizer_step.h"
#include "trainrt/train/results.h"

namespace trainrt::train {

class NonfinitePolicy;

using obs::NamedValues;

// One closed interval.
struct IntervalMetrics {
  NamedValues metrics;       // the run's (reduced over ranks): metrics.jsonl, train/NAME, log line
  NamedValues rank_metrics;  // this rank's own: TensorBoard rank/NAME (observe.per_rank_scalars)
  StepTimes times;
  bool has_loss = false;     // false when every step of the interval was skipped
  double loss = 0;           // the mean over the interval's steps and the ranks (or the last one)
  double samples_per_sec = 0;
};

// What the metrics of a closing interval need besides the steps' sums.
struct IntervalContext {
  int64_t step = 0;           // the interval's last step
  double lr = 0;              // its learning rate
  double grad_norm = 0;       // its gradient norm
  double last_loss = 0;       // the loss shown before, kept by an interval of only skipped steps
  int64_t tokens_per_sample = 0;  // > 0: a language model (tokens_per_sec)
  bool report_skips = false;      // train.on_nonfinite: skip (skipped_steps)
  int64_t skipped_steps = 0;
};

class IntervalReport {
 public:
  IntervalReport() { reset(); }

  void add(const StepOutcome& step);
  // Training held up by a checkpoint after a step (it counts in the interval that follows).
  void add_checkpoint_stall(double seconds) { checkpoint_s_ += seconds; }
  int64_t steps() const { return steps_; }

  // The interval's metrics; reduces over the ranks (collective: every rank closes at the same
  // step) and starts the next interval. `policy` checks the interval's loss is finite.
  IntervalMetrics close(const IntervalContext& context, const NonfinitePolicy& policy,
                        dist::Communicator* communicator);

 private:
  void reset();

  // The steps' losses summed on the device: a GPU run reads it once per interval, not every step
  // (reading waits for the GPU, which then idles while the host launches the next step).
  torch::Tensor loss_sum_;
  int64_t steps_ = 0;
  int64_t loss_steps_ = 0;  // steps whose loss is in loss_sum_ (a skipped step's is not)
  int64_t samples_ = 0;
  double data_wait_s_ = 0;
  double allreduce_ms_ = 0;
  double exposed_allreduce_ms_ = 0;
  double compute_s_ = 0;
  double optimizer_s_ = 0;
  double checkpoint_s_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace trainrt::train
