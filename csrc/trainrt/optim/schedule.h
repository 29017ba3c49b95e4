// defines: learning_rate_at
//
// The learning-rate schedule as a pure function of the step: linear warmup from 0 to the peak over
// `warmup_steps`, then constant, cosine decay to min_lr_ratio * peak at `total_steps`, or step
// decay by `gamma` every `step_size` steps. Being a function of the step alone, it needs no state
// of its own in a checkpoint.
#pragma once

#include <cstdint>

#include "trainrt/config/trainrt.pb.h"

namespace trainrt::optim {

// The learning rate for optimizer step `step` (0-based) of `total_steps`.
double learning_rate_at(const config::ScheduleConfig& schedule, double peak_lr, int64_t step,
                        int64_t total_steps);

}  // namespace trainrt::optim
