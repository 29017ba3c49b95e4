#include "trainrt/optim/schedule.h"

#include <algorithm>
#include <cmath>

namespace trainrt::optim {
namespace {

double constant(const config::ScheduleConfig&, double peak_lr, int64_t, int64_t) { return peak_lr; }

double cosine(const config::ScheduleConfig& schedule, double peak_lr, int64_t step, int64_t steps) {
  const int64_t span = std::max<int64_t>(1, steps);
  const double progress = std::min(1.0, static_cast<double>(step) / static_cast<double>(span));
  const double floor = schedule.min_lr_ratio() * peak_lr;
  return floor + (peak_lr - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

double step_decay(const config::ScheduleConfig& schedule, double peak_lr, int64_t step, int64_t) {
  return peak_lr * std::pow(schedule.gamma(), static_cast<double>(step / schedule.step_size()));
}

}  // namespace

ScheduleRegistry& ScheduleRegistry::instance() {
  static ScheduleRegistry registry;
  return registry;
}

// The built-in schedules: `trainrt train --help` and errors list them from here.
ScheduleRegistry::ScheduleRegistry() {
  schedules_.add("constant", constant);
  schedules_.add("cosine", cosine);
  schedules_.add("step", step_decay);
}

// Looked up before any warmup step, so that an unknown name fails at once, not after the warmup.
Schedule::Schedule(config::ScheduleConfig schedule, double peak_lr)
    : schedule_(std::move(schedule)), peak_lr_(peak_lr),
      decay_(ScheduleRegistry::instance().get(schedule_.name())) {}

double Schedule::at(int64_t step, int64_t total_steps) const {
  const int64_t warmup = schedule_.warmup_steps();
  if (step < warmup) return peak_lr_ * static_cast<double>(step + 1) / static_cast<double>(warmup);
  return decay_(schedule_, peak_lr_, step - warmup, total_steps - warmup);
}

double learning_rate_at(const config::ScheduleConfig& schedule, double peak_lr, int64_t step,
                        int64_t total_steps) {
  return Schedule(schedule, peak_lr).at(step, total_steps);
}

}  // namespace trainrt::optim
