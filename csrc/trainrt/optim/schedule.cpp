#include "trainrt/optim/schedule.h"

#include <algorithm>
#include <cmath>

namespace trainrt::optim {

double learning_rate_at(const config::ScheduleConfig& schedule, double peak_lr, int64_t step,
                        int64_t total_steps) {
  const int64_t warmup = schedule.warmup_steps();
  if (step < warmup) return peak_lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const int64_t since = step - warmup;
  if (schedule.name() == "cosine") {
    const int64_t span = std::max<int64_t>(1, total_steps - warmup);
    const double progress = std::min(1.0, static_cast<double>(since) / static_cast<double>(span));
    const double floor = schedule.min_lr_ratio() * peak_lr;
    return floor + (peak_lr - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  if (schedule.name() == "step") {
    return peak_lr * std::pow(schedule.gamma(), static_cast<double>(since / schedule.step_size()));
  }
  return peak_lr;  // "constant"
}

}  // namespace trainrt::optim
