#include "trainrt/train/step_plan.h"

#include <algorithm>

#include <fmt/format.h>

#include "trainrt/core/error.h"
#include "trainrt/data/sampler.h"

namespace trainrt::train {

StepPlan plan_steps(const StepPlanInput& in) {
  const int64_t batches = data::batches_per_epoch(in.train_samples, in.batch_size, in.world_size,
                                                  data::Remainder::kDrop);
  if (batches == 0) {
    throw ConfigError(fmt::format("data.batch_size: {} is larger than the {} training samples",
                                  in.batch_size, in.train_samples));
  }
  StepPlan plan;
  plan.steps_per_epoch = batches / in.accumulation;
  if (plan.steps_per_epoch == 0) {
    throw ConfigError(fmt::format(
        "distributed.accumulation_steps: {} micro-batches per step, but an epoch has only {}",
        in.accumulation, batches));
  }
  // The steps left in the (possibly resumed, partly done) first epoch, then whole epochs.
  const int64_t first_epoch_steps =
      in.start_epoch < in.epochs
          ? data::batches_per_epoch(in.train_samples, in.batch_size, in.world_size,
                                    data::Remainder::kDrop, in.start_sample) / in.accumulation
          : 0;
  int64_t total = in.start_step + first_epoch_steps +
                  plan.steps_per_epoch * std::max<int64_t>(0, in.epochs - in.start_epoch - 1);
  if (in.max_steps > 0) total = std::min(total, in.max_steps);
  plan.total_steps = std::max(total, in.start_step);
  return plan;
}

}  // namespace trainrt::train
